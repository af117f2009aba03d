// An action closure with an explicit `-> Result<(), MyError>` return type: the error converts
// into the runtime's action error.
use fsm_runtime::{Machine, Outcome, fsm};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Status {
    Empty,
    Full,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Event {
    Fill,
}

#[derive(Debug, Clone)]
struct Tank {
    status: Status,
    litres: u32,
}

#[derive(Debug)]
struct TooMuch(u32);

impl std::fmt::Display for TooMuch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} litres do not fit", self.0)
    }
}

impl std::error::Error for TooMuch {}

fsm! {
    machine TankFsm {
        state: Tank,
        status: Status,
        event: Event,
        input: TankInput,
        entry: TankEntry,
    }
    events {
        Event(Event::Fill)
            .From(Status::Empty).To(Status::Full)
            .Action(|tank: &mut Tank, litres: u32| -> Result<(), TooMuch> {
                if litres > 100 {
                    return Err(TooMuch(litres));
                }
                tank.litres = litres;
                Ok(())
            }),
    }
}

fn main() {
    let mut tank = Tank {
        status: Status::Empty,
        litres: 0,
    };
    let outcome = TankFsm::transition(&mut tank, TankInput::Fill(500));
    assert!(matches!(outcome, Outcome::ActionFailed { .. }));
    assert_eq!(tank.status, Status::Empty);
    let outcome = TankFsm::transition(&mut tank, TankInput::Fill(50));
    assert!(matches!(
        outcome,
        Outcome::Moved {
            to: Status::Full,
            ..
        }
    ));
    assert_eq!(tank.litres, 50);
}
