//! P1's fixture: the small "door" machine declared with `fsm!`, and the same table written by
//! hand as a plain `match`.
//!
//! Both produce the same [`Outcome`] for the same input, so the P1 ratio measures only what the
//! macro's expansion costs over the `match` a person would write.

use fsm_runtime::{Outcome, fsm};

/// Door statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DoorStatus {
    /// Open.
    Open,
    /// Closed.
    Closed,
    /// Broken (final).
    Broken,
}

/// Door event codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DoorEvent {
    /// Turn the key.
    Key,
    /// Break the door.
    Break,
}

/// The door's record.
#[derive(Debug, Clone)]
pub struct Door {
    /// The status.
    pub status: DoorStatus,
}

fsm! {
    /// The benchmark door: the rust-fsm README machine, written as a go-statemachine table.
    pub machine DoorFsm {
        state: Door,
        status: DoorStatus,
        event: DoorEvent,
        input: DoorInput,
        entry: DoorEntryFuncs,
    }
    events {
        Event(DoorEvent::Key)
            .From(DoorStatus::Open).To(DoorStatus::Closed)
            .From(DoorStatus::Closed).To(DoorStatus::Open),
        Event(DoorEvent::Break)
            .FromMany(DoorStatus::Open, DoorStatus::Closed).To(DoorStatus::Broken),
    }
    finality_states { DoorStatus::Broken }
}

/// The same table as [`DoorFsm`], written by hand: the P1 baseline.
#[inline(never)]
pub fn hand_written(state: &mut Door, input: DoorInput) -> Outcome<DoorFsm> {
    let from = state.status;
    if from == DoorStatus::Broken {
        return Outcome::AlreadyFinal {
            status: from,
            input,
        };
    }
    let (event, to) = match (input, from) {
        (DoorInput::Key, DoorStatus::Open) => (DoorEvent::Key, DoorStatus::Closed),
        (DoorInput::Key, DoorStatus::Closed) => (DoorEvent::Key, DoorStatus::Open),
        (DoorInput::Break, DoorStatus::Open | DoorStatus::Closed) => {
            (DoorEvent::Break, DoorStatus::Broken)
        }
        (input, status) => return Outcome::Invalid { status, input },
    };
    state.status = to;
    Outcome::Moved { event, from, to }
}

/// The generated transition behind a non-inlined call, so both sides pay one call.
#[inline(never)]
pub fn generated(state: &mut Door, input: DoorInput) -> Outcome<DoorFsm> {
    <DoorFsm as fsm_runtime::Machine>::transition(state, input)
}
