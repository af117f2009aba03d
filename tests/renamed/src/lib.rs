//! A crate that depends on the runtime under another name: its manifest has
//! `fsm = { package = "fsm-runtime", .. }` and nothing called `fsm_runtime`, so an expansion that
//! named `::fsm_runtime` anywhere would not compile here. The machine below says where the
//! runtime is with the `crate:` header field.
//!
//! The same table without `crate:` does not compile:
//!
//! ```compile_fail
//! #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
//! pub enum Light { Off, On }
//! #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
//! pub enum Switch { Toggle }
//! #[derive(Debug, Clone)]
//! pub struct Lamp { status: Light }
//!
//! fsm::fsm! {
//!     pub machine LampFsm {
//!         state: Lamp, status: Light, event: Switch, input: LampInput, entry: LampEntry,
//!     }
//!     events { Event(Switch::Toggle).From(Light::Off).To(Light::On) }
//! }
//! ```
//!
//! and with it, it does:
//!
//! ```
//! #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
//! pub enum Light { Off, On }
//! #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
//! pub enum Switch { Toggle }
//! #[derive(Debug, Clone)]
//! pub struct Lamp { status: Light }
//!
//! fsm::fsm! {
//!     pub machine LampFsm {
//!         crate: ::fsm,
//!         state: Lamp, status: Light, event: Switch, input: LampInput, entry: LampEntry,
//!     }
//!     events { Event(Switch::Toggle).From(Light::Off).To(Light::On) }
//! }
//! ```

use fsm::{Context, EntryResult};

/// Statuses of the light.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Light {
    /// Off.
    Off,
    /// On.
    On,
    /// Final: the bulb is gone.
    Broken,
}

/// Event codes of the light.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Switch {
    /// Off to on, on to off.
    Toggle,
    /// Count a flicker.
    Flicker,
    /// Break the bulb, from anywhere.
    Smash,
}

/// The light's record.
#[derive(Debug, Clone)]
pub struct Lamp {
    /// Its status.
    pub status: Light,
    /// How often it flickered.
    pub flickers: u32,
}

fsm::fsm! {
    /// A light, declared against the runtime under the name `fsm`.
    pub machine LampFsm {
        crate: ::fsm,
        state: Lamp,
        status: Light,
        event: Switch,
        input: LampInput,
        entry: LampEntry,
    }

    events {
        Event(Switch::Toggle)
            .From(Light::Off).To(Light::On)
            .From(Light::On).To(Light::Off),
        Event(Switch::Flicker)
            .From(Light::On).ToJustRecord()
            .Action(|lamp: &mut Lamp, times: u32| {
                lamp.flickers += times;
                Ok(())
            }),
        Event(Switch::Smash).FromAny().To(Light::Broken),
    }

    finality_states { Light::Broken }

    entry_funcs {
        Light::On => lit,
    }
}

/// An entry-func environment that does nothing.
#[derive(Debug, Default)]
pub struct Quiet;

impl LampEntry for Quiet {
    async fn lit(&self, _ctx: &mut Context<LampFsm>, _lamp: &Lamp) -> EntryResult {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use fsm::{Machine, Outcome};

    use super::{Lamp, LampFsm, LampInput, Light};

    #[test]
    fn the_machine_runs_against_the_renamed_runtime() {
        let mut lamp = Lamp {
            status: Light::Off,
            flickers: 0,
        };
        assert!(matches!(
            LampFsm::transition(&mut lamp, LampInput::Toggle),
            Outcome::Moved { to: Light::On, .. }
        ));
        assert!(LampFsm::transition(&mut lamp, LampInput::Flicker(3)).is_applied());
        assert_eq!(lamp.flickers, 3);
        assert!(matches!(
            LampFsm::transition(&mut lamp, LampInput::Smash),
            Outcome::Moved {
                to: Light::Broken,
                ..
            }
        ));
        assert_eq!(LampFsm::table().machine, "LampFsm");
    }
}
