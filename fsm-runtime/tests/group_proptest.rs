//! Property test: random interleavings of inputs to many machines, applied through a group,
//! agree with a simple sequential reference model; rejected inputs never change a record.

#![allow(clippy::unwrap_used)]

mod group_support;

use fsm_runtime::group::{AppliedKind, SendError};
use group_support::*;
use proptest::prelude::*;

/// An input without payload allocation concerns, turned into a [`JobInput`] per send.
#[derive(Debug, Clone)]
enum Op {
    Start,
    Tick(u64),
    Pause,
    Note(u8),
    Boom,
    Finish,
    Abort,
}

impl Op {
    fn input(&self) -> JobInput {
        match self {
            Op::Start => JobInput::Start,
            Op::Tick(n) => JobInput::Tick(*n),
            Op::Pause => JobInput::Pause,
            Op::Note(n) => JobInput::Note(n.to_string()),
            Op::Boom => JobInput::Boom,
            Op::Finish => JobInput::Finish,
            Op::Abort => JobInput::Abort,
        }
    }
}

/// What the reference model says a send does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Applied(AppliedKind, Status),
    Invalid,
    ActionFailed,
    Terminated,
}

/// The reference model: the job table written out as a plain `match`.
fn reference(job: &mut Job, op: &Op) -> Expect {
    use Status::*;
    let s = job.status;
    if matches!(s, Done | Failed) {
        return Expect::Terminated;
    }
    match (op, s) {
        (Op::Start, New) => {
            job.seen.push(s);
            job.status = Running;
            Expect::Applied(AppliedKind::Moved, Running)
        }
        (Op::Tick(n), _) => {
            job.seen.push(s);
            job.count += n;
            if s == Waiting {
                job.status = Running;
                Expect::Applied(AppliedKind::Moved, Running)
            } else {
                Expect::Applied(AppliedKind::Recorded, s)
            }
        }
        (Op::Pause, Running) => {
            job.status = Waiting;
            Expect::Applied(AppliedKind::Moved, Waiting)
        }
        (Op::Note(n), Running | Waiting) => {
            job.log.push(n.to_string());
            Expect::Applied(AppliedKind::Stayed, s)
        }
        (Op::Boom, _) => Expect::ActionFailed,
        (Op::Finish, Running | Waiting) => {
            job.status = Done;
            Expect::Applied(AppliedKind::Moved, Done)
        }
        (Op::Abort, _) => {
            job.status = Failed;
            Expect::Applied(AppliedKind::Moved, Failed)
        }
        _ => Expect::Invalid,
    }
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::Start),
        (0u64..5).prop_map(Op::Tick),
        Just(Op::Pause),
        any::<u8>().prop_map(Op::Note),
        Just(Op::Boom),
        Just(Op::Finish),
        Just(Op::Abort),
    ]
}

const MACHINES: u64 = 6;

fn run_case(ops: Vec<(u64, Op, bool)>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    runtime.block_on(async move {
        let env = Env::default();
        let backend = Backend::memory();
        let group = backend.job_group(&env).await;
        for id in 0..MACHINES {
            group.begin(id, Job::new(id, OnRun::Nothing)).await.unwrap();
        }
        // One task per machine sends that machine's inputs in order; machines interleave.
        let mut tasks = Vec::new();
        for id in 0..MACHINES {
            let mine: Vec<(Op, bool)> = ops
                .iter()
                .filter(|(m, _, _)| *m == id)
                .map(|(_, op, sync)| (op.clone(), *sync))
                .collect();
            let group = group.clone();
            tasks.push(tokio::spawn(async move {
                let mut model = Job::new(id, OnRun::Nothing);
                for (op, sync) in mine {
                    let before = model.clone();
                    let expect = reference(&mut model, &op);
                    if !sync {
                        match group.send(id, op.input()).await {
                            Ok(()) => {}
                            // Only a machine already known to be final refuses at the door.
                            Err(SendError::Terminated { .. }) => {
                                assert_eq!(expect, Expect::Terminated)
                            }
                            Err(other) => panic!("unexpected {other}"),
                        }
                        continue;
                    }
                    let got = group.send_sync(id, op.input()).await;
                    match (expect, got) {
                        (Expect::Applied(kind, to), Ok(applied)) => {
                            assert_eq!((applied.kind, applied.to), (kind, to));
                            assert_eq!(applied.from, before.status);
                        }
                        (Expect::Invalid, Err(SendError::Invalid { status, .. })) => {
                            assert_eq!(status, before.status)
                        }
                        (Expect::ActionFailed, Err(SendError::ActionFailed { .. }))
                        | (Expect::Terminated, Err(SendError::Terminated { .. })) => {}
                        (expect, got) => panic!("{op:?} on {before:?}: {expect:?} vs {got:?}"),
                    }
                    if !matches!(expect, Expect::Applied(..)) {
                        // A rejected input never changes the record.
                        assert_eq!(group.get(&id).await.unwrap().unwrap(), before);
                    }
                }
                model
            }));
        }
        let mut models = Vec::new();
        for task in tasks {
            models.push(task.await.unwrap());
        }
        group.stop().await;
        for model in models {
            assert_eq!(group.get(&model.id).await.unwrap().unwrap(), model);
        }
    });
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 1000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn group_matches_sequential_reference_model(
        ops in proptest::collection::vec((0..MACHINES, op(), any::<bool>()), 0..48)
    ) {
        run_case(ops);
    }
}
