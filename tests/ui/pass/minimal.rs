// The smallest machine: one event, one transition, no action, no finality, no entry funcs.
use fsm_runtime::{Machine, Outcome, fsm};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Status {
    Off,
    On,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Event {
    Press,
}

#[derive(Debug, Clone)]
struct Lamp {
    status: Status,
}

fsm! {
    machine LampFsm {
        state: Lamp,
        status: Status,
        event: Event,
        input: LampInput,
        entry: LampEntry,
    }
    events {
        Event(Event::Press).From(Status::Off).To(Status::On),
    }
}

fn main() {
    let mut lamp = Lamp {
        status: Status::Off,
    };
    let outcome = LampFsm::transition(&mut lamp, LampInput::Press);
    assert!(matches!(outcome, Outcome::Moved { to: Status::On, .. }));
    assert_eq!(lamp.status, Status::On);
}
