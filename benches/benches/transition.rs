//! P1: one transition of the generated machine against a hand-written `match` over the same
//! table, with rust-fsm's macro-generated machine as a peer reference.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use fsm_benches::door::{Door, DoorInput, DoorStatus, generated, hand_written};

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

fn p1_transition(c: &mut Criterion) {
    let mut group = c.benchmark_group("p1_transition");
    // Each iteration is two transitions (Closed -> Open -> Closed), so the machine never ends.
    group.bench_function("fsm_generated", |b| {
        let mut state = Door {
            status: DoorStatus::Closed,
        };
        b.iter(|| {
            black_box(generated(black_box(&mut state), black_box(DoorInput::Key)));
            black_box(generated(black_box(&mut state), black_box(DoorInput::Key)));
        });
    });
    group.bench_function("hand_written_match", |b| {
        let mut state = Door {
            status: DoorStatus::Closed,
        };
        b.iter(|| {
            black_box(hand_written(
                black_box(&mut state),
                black_box(DoorInput::Key),
            ));
            black_box(hand_written(
                black_box(&mut state),
                black_box(DoorInput::Key),
            ));
        });
    });
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
