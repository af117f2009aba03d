// A machine with neither `finality_states` nor `entry_funcs`: the entry trait is empty and no
// status is final.
use fsm_runtime::{Machine, fsm};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Status {
    Red,
    Green,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Event {
    Go,
    Stop,
}

#[derive(Debug, Clone)]
struct Light {
    status: Status,
}

fsm! {
    machine LightFsm {
        state: Light,
        status: Status,
        event: Event,
        input: LightInput,
        entry: LightEntry,
    }
    events {
        Event(Event::Go).From(Status::Red).To(Status::Green),
        Event(Event::Stop).From(Status::Green).To(Status::Red),
    }
}

struct Env;

impl LightEntry for Env {}

fn main() {
    let _ = Env;
    assert!(!LightFsm::is_final(Status::Red));
    assert_eq!(LightFsm::entry_func(Status::Green), None);
    let mut light = Light {
        status: Status::Red,
    };
    let _ = LightFsm::transition(&mut light, LightInput::Go);
    let _ = LightFsm::transition(&mut light, LightInput::Stop);
    assert_eq!(light.status, Status::Red);
}
