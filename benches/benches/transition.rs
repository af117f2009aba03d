//! P1: one transition of the generated machine against a hand-written `match` over the same
//! table, with rust-fsm's macro-generated machine as a peer reference. One iteration is two
//! transitions. The generated and hand-written functions are called through the same
//! non-inlined loop function by pointer; rust-fsm's `consume` is inlined into its loop.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use fsm_benches::door::{Door, DoorFsm, DoorInput, DoorStatus, generated, hand_written};
use fsm_runtime::Outcome;

/// The peer: the same table in rust-fsm. `Break` is part of the table but never sent (the
/// benchmark cycles on `Key` so that the machine never ends).
#[allow(dead_code)]
mod peer {
    rust_fsm::state_machine! {
        #[derive(Debug)]
        pub door(Closed)

        Open(Key) => Closed,
        Closed(Key) => Open,
        Open(Break) => Broken,
        Closed(Break) => Broken,
    }
}

use peer::door;

/// A transition function under test.
type Transition = fn(&mut Door, DoorInput) -> Outcome<DoorFsm>;

/// Two transitions (Closed -> Open -> Closed, so the machine never ends) through `transition`.
/// Both contestants run through this one function, so they differ only in the callee: the
/// ratio is not skewed by where the compiler places two copies of the benchmark loop.
#[inline(never)]
fn two_keys(transition: Transition, state: &mut Door) {
    black_box(transition(
        black_box(&mut *state),
        black_box(DoorInput::Key),
    ));
    black_box(transition(
        black_box(&mut *state),
        black_box(DoorInput::Key),
    ));
}

fn p1_transition(c: &mut Criterion) {
    let mut group = c.benchmark_group("p1_transition");
    let contestants: [(&str, Transition); 2] = [
        ("fsm_generated", generated),
        ("hand_written_match", hand_written),
    ];
    for (name, transition) in contestants {
        group.bench_function(name, |b| {
            let mut state = Door {
                status: DoorStatus::Closed,
            };
            b.iter(|| two_keys(black_box(transition), &mut state));
        });
    }
    group.bench_function("rust_fsm_peer", |b| {
        let mut machine = door::StateMachine::new();
        b.iter(|| {
            black_box(machine.consume(black_box(&door::Input::Key)).ok());
            black_box(machine.consume(black_box(&door::Input::Key)).ok());
        });
    });
    group.finish();
}

criterion_group!(benches, p1_transition);
criterion_main!(benches);
