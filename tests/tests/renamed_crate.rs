//! The `crate:` header field: `fsm-tests-renamed` depends on the runtime as `fsm` only and
//! declares its machine with `crate: ::fsm`. Its machine is a machine of this crate's
//! `fsm_runtime` (one crate under two names), so it runs here like any other, and so does its
//! group constructor.

use fsm_runtime::store::MemoryStore;
use fsm_runtime::{Machine, Outcome};
use fsm_tests_renamed::{Lamp, LampFsm, LampInput, Light, Quiet};

#[test]
fn a_machine_declared_against_a_renamed_runtime_is_a_machine_of_the_runtime() {
    let mut lamp = Lamp {
        status: Light::Off,
        flickers: 0,
    };
    assert!(matches!(
        LampFsm::transition(&mut lamp, LampInput::Toggle),
        Outcome::Moved {
            from: Light::Off,
            to: Light::On,
            ..
        }
    ));
    assert_eq!(LampFsm::entry_func(Light::On), Some("lit"));
    assert!(LampFsm::is_final(Light::Broken));
}

#[test]
fn its_group_constructor_names_the_runtime_s_builder() {
    // `Lamp` has no serde impls, so this group cannot be opened with the default codec; the
    // builder's type is what this checks.
    let builder = LampFsm::group(MemoryStore::new(), Quiet);
    let _: fsm_runtime::GroupBuilder<LampFsm, Quiet, u64, MemoryStore> = builder;
}
