//! The state group's semantics, one named test each, run on both stores.

#![allow(clippy::unwrap_used)]

#[macro_use]
mod group_support;

use std::time::Duration;

use fsm_runtime::group::Page;
use fsm_runtime::group::{AppliedKind, Change, SendError};
use fsm_runtime::{EntryErrorPolicy, Group};
use group_support::*;

/// Calls `$run!` with the name of every test of this suite. A store crate includes this file
/// with `#[macro_use] #[path = ".../group_semantics.rs"] mod ...;` and runs the suite on its store with
/// this macro and the `suite` functions (see `fsm-postgres/tests/group_suite.rs`).
macro_rules! semantics_tests {
    ($run:ident) => {
        $run!(
            per_machine_order,
            lookup_precedence,
            action_sees_source_status,
            action_failure_leaves_record_unchanged,
            action_panic_leaves_record_unchanged,
            consume_all_batches_into_one_entry_func,
            default_mode_runs_one_entry_func_per_event,
            finality_terminates_and_record_stays_readable,
            entry_func_gets_saved_snapshot,
            triggered_events_run_after_entry_func_fifo,
            entry_func_errors_are_recorded_and_do_not_freeze,
            entry_func_panics_are_caught,
            terminal_policy_halts_machine,
            resume_on_open_reruns_entry_funcs,
            saved_before_reply_and_notification,
            stop_finishes_queued_work,
            introspection_by_status_and_idle,
        );
    };
}

semantics_tests!(on_both_stores);

async fn per_machine_order(backend: Backend) {
    let env = Env::default();
    let group = backend.job_group(&env).await;
    let machines = 16u64;
    let notes = 40usize;
    for id in 0..machines {
        group.begin(id, Job::new(id, OnRun::Nothing)).await.unwrap();
        group.send_sync(id, JobInput::Start).await.unwrap();
    }
    let mut senders = Vec::new();
    for id in 0..machines {
        let group = group.clone();
        senders.push(tokio::spawn(async move {
            for i in 0..notes {
                group.send(id, JobInput::Note(i.to_string())).await.unwrap();
            }
            group
                .send_sync(id, JobInput::Note("end".into()))
                .await
                .unwrap();
        }));
    }
    for sender in senders {
        sender.await.unwrap();
    }
    let mut expected: Vec<String> = (0..notes).map(|i| i.to_string()).collect();
    expected.push("end".into());
    for id in 0..machines {
        assert_eq!(
            group.get(&id).await.unwrap().unwrap().log,
            expected,
            "machine {id}"
        );
    }
}

async fn lookup_precedence(backend: Backend) {
    let env = Env::default();
    let group = backend.job_group(&env).await;
    group.begin(1, Job::new(1, OnRun::Nothing)).await.unwrap();
    // Tick is FromAny().ToJustRecord() with an explicit From(Waiting).To(Running).
    let recorded = group.send_sync(1, JobInput::Tick(1)).await.unwrap();
    assert_eq!(
        (recorded.kind, recorded.to),
        (AppliedKind::Recorded, Status::New)
    );
    group.send_sync(1, JobInput::Start).await.unwrap();
    group.send_sync(1, JobInput::Pause).await.unwrap();
    let moved = group.send_sync(1, JobInput::Tick(1)).await.unwrap();
    assert_eq!(
        (moved.kind, moved.from, moved.to),
        (AppliedKind::Moved, Status::Waiting, Status::Running)
    );
    // No transition at all: rejected with the status and the input handed back.
    let before = group.get(&1).await.unwrap().unwrap();
    group.send_sync(1, JobInput::Pause).await.unwrap();
    let error = group.send_sync(1, JobInput::Pause).await.unwrap_err();
    assert!(matches!(
        error,
        SendError::Invalid {
            id: 1,
            status: Status::Waiting,
            ..
        }
    ));
    assert!(error.to_string().contains("Pause"), "{error}");
    assert!(matches!(error.into_input(), Some(JobInput::Pause)));
    let after = group.get(&1).await.unwrap().unwrap();
    assert_eq!(after.status, Status::Waiting);
    assert_eq!(after.count, before.count);
}

async fn action_sees_source_status(backend: Backend) {
    let env = Env::default();
    let group = backend.job_group(&env).await;
    group.begin(1, Job::new(1, OnRun::Nothing)).await.unwrap();
    group.send_sync(1, JobInput::Start).await.unwrap();
    group.send_sync(1, JobInput::Pause).await.unwrap();
    group.send_sync(1, JobInput::Tick(2)).await.unwrap();
    let job = group.get(&1).await.unwrap().unwrap();
    assert_eq!(job.seen, vec![Status::New, Status::Waiting]);
    assert_eq!(job.status, Status::Running);
}

async fn action_failure_leaves_record_unchanged(backend: Backend) {
    let env = Env::default();
    let group = backend.job_group(&env).await;
    group.begin(1, Job::new(1, OnRun::Nothing)).await.unwrap();
    group.send_sync(1, JobInput::Start).await.unwrap();
    let before = group.get(&1).await.unwrap().unwrap();
    let error = group.send_sync(1, JobInput::Boom).await.unwrap_err();
    match &error {
        SendError::ActionFailed {
            id, event, status, ..
        } => assert_eq!((*id, *event, *status), (1, Ev::Boom, Status::Running)),
        other => panic!("unexpected {other}"),
    }
    assert!(error.to_string().contains("boom"));
    assert_eq!(group.get(&1).await.unwrap().unwrap(), before);
    // The machine keeps serving.
    group.send_sync(1, JobInput::Tick(1)).await.unwrap();
    assert_eq!(group.get(&1).await.unwrap().unwrap().count, 1);
}

async fn action_panic_leaves_record_unchanged(backend: Backend) {
    let env = Env::default();
    let group = backend.job_group(&env).await;
    group.begin(1, Job::new(1, OnRun::Nothing)).await.unwrap();
    group.begin(2, Job::new(2, OnRun::Nothing)).await.unwrap();
    let before = group.get(&1).await.unwrap().unwrap();
    let error = group.send_sync(1, JobInput::Explode).await.unwrap_err();
    match &error {
        SendError::ActionPanicked { id, message, .. } => {
            assert_eq!(*id, 1);
            assert!(message.contains("exploded"), "{message}");
        }
        other => panic!("unexpected {other}"),
    }
    assert_eq!(group.get(&1).await.unwrap().unwrap(), before);
    group.send_sync(1, JobInput::Start).await.unwrap();
    group.send_sync(2, JobInput::Start).await.unwrap();
    assert_eq!(
        group.get(&2).await.unwrap().unwrap().status,
        Status::Running
    );
    assert_eq!(group.counters().events_rejected, 1);
}

async fn consume_all_batches_into_one_entry_func(backend: Backend) {
    let env = Env::default();
    let group = backend.batch_group(&env).await;
    group.begin(1, Job::new(1, OnRun::Gate)).await.unwrap();
    group.send_sync(1, BatchInput::Start).await.unwrap();
    // The entry func for Running now waits at the gate, so the next inputs queue up and are
    // applied as one batch. `join!` polls in order, so they are queued in this order.
    let (tick, start, boom, tick2, note, ()) = tokio::join!(
        group.send_sync(1, BatchInput::Tick(1)),
        group.send_sync(1, BatchInput::Start),
        group.send_sync(1, BatchInput::Boom),
        group.send_sync(1, BatchInput::Tick(2)),
        group.send_sync(1, BatchInput::Note("x".into())),
        async { env.open_gate(2) },
    );
    assert_eq!(tick.unwrap().kind, AppliedKind::Recorded);
    assert!(matches!(start, Err(SendError::Invalid { .. })));
    assert!(matches!(boom, Err(SendError::ActionFailed { .. })));
    assert_eq!(tick2.unwrap().kind, AppliedKind::Recorded);
    assert_eq!(note.unwrap().kind, AppliedKind::Stayed);
    group.stop().await;
    let runs = env.runs_of(1);
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!(runs[0].snapshot.count, 0);
    // One entry func for the batch, on the state after all of it (failures skipped).
    assert_eq!(runs[1].snapshot.count, 3);
    assert_eq!(runs[1].snapshot.log, vec!["x".to_string()]);
}

async fn default_mode_runs_one_entry_func_per_event(backend: Backend) {
    let env = Env::default();
    let group = backend.job_group(&env).await;
    group.begin(1, Job::new(1, OnRun::Gate)).await.unwrap();
    group.send_sync(1, JobInput::Start).await.unwrap();
    let (a, b, ()) = tokio::join!(
        group.send_sync(1, JobInput::Note("a".into())),
        group.send_sync(1, JobInput::Note("b".into())),
        async { env.open_gate(3) },
    );
    a.unwrap();
    b.unwrap();
    group.stop().await;
    let logs: Vec<Vec<String>> = env.runs_of(1).into_iter().map(|r| r.snapshot.log).collect();
    assert_eq!(
        logs,
        vec![vec![], vec!["a".to_string()], vec!["a".into(), "b".into()]]
    );
}

async fn finality_terminates_and_record_stays_readable(backend: Backend) {
    let env = Env::default();
    let group = backend.job_group(&env).await;
    group.begin(1, Job::new(1, OnRun::Gate)).await.unwrap();
    group.send_sync(1, JobInput::Start).await.unwrap();
    let (finish, queued, ()) = tokio::join!(
        group.send_sync(1, JobInput::Finish),
        group.send_sync(1, JobInput::Note("queued behind the final event".into())),
        async { env.open_gate(1) },
    );
    assert_eq!(finish.unwrap().to, Status::Done);
    let queued = queued.unwrap_err();
    assert!(matches!(
        queued,
        SendError::Terminated {
            id: 1,
            status: Status::Done,
            ..
        }
    ));
    assert!(queued.to_string().contains("terminated"), "{queued}");
    let later = group.send(1, JobInput::Tick(1)).await.unwrap_err();
    assert!(matches!(later.into_input(), Some(JobInput::Tick(1))));
    let job = group.get(&1).await.unwrap().unwrap();
    assert_eq!((job.status, job.log.len()), (Status::Done, 0));
    // No entry func runs for a final status.
    group.stop().await;
    assert_eq!(env.runs_of(1).len(), 1);
    // After a restart the machine is still terminated.
    let group = backend.job_group(&env).await;
    let error = group.send_sync(1, JobInput::Tick(1)).await.unwrap_err();
    assert!(matches!(error, SendError::Terminated { .. }));
}

async fn entry_func_gets_saved_snapshot(backend: Backend) {
    let env = Env::default();
    let group = backend.job_group(&env).await;
    group.begin(1, Job::new(1, OnRun::Nothing)).await.unwrap();
    group.send_sync(1, JobInput::Start).await.unwrap();
    group.send_sync(1, JobInput::Tick(5)).await.unwrap();
    group.send_sync(1, JobInput::Pause).await.unwrap();
    group.stop().await;
    let runs = env.runs_of(1);
    let seen: Vec<(&str, Status, u64)> = runs
        .iter()
        .map(|r| (r.func, r.snapshot.status, r.snapshot.count))
        .collect();
    assert_eq!(
        seen,
        vec![("run", Status::Running, 0), ("wait", Status::Waiting, 5)]
    );
}

async fn triggered_events_run_after_entry_func_fifo(backend: Backend) {
    let env = Env::default();
    let group = backend.job_group(&env).await;
    group
        .begin(1, Job::new(1, OnRun::GateThenTrigger))
        .await
        .unwrap();
    group.send_sync(1, JobInput::Start).await.unwrap();
    // The entry func waits at the gate; this note is queued before it triggers its own.
    let (queued, ()) = tokio::join!(group.send_sync(1, JobInput::Note("queued".into())), async {
        env.open_gate(1)
    },);
    queued.unwrap();
    group.stop().await;
    let job = group.get(&1).await.unwrap().unwrap();
    assert_eq!(job.log, vec!["queued".to_string(), "triggered".to_string()]);
    // An entry func that triggers Finish ends its machine.
    let group = backend.job_group(&env).await;
    group
        .begin(2, Job::new(2, OnRun::TriggerFinish))
        .await
        .unwrap();
    group.send_sync(2, JobInput::Start).await.unwrap();
    group.stop().await;
    assert_eq!(group.get(&2).await.unwrap().unwrap().status, Status::Done);
}

async fn entry_func_errors_are_recorded_and_do_not_freeze(backend: Backend) {
    let env = Env::default();
    let group = backend.job_group(&env).await;
    let mut subscription = group.subscribe();
    group.begin(1, Job::new(1, OnRun::Fail)).await.unwrap();
    group.begin(2, Job::new(2, OnRun::Nothing)).await.unwrap();
    group.send_sync(1, JobInput::Start).await.unwrap();
    let (status, error) = next_entry_failure(&mut subscription, 1).await;
    assert_eq!(status, Status::Running);
    assert!(error.contains("run failed for job 1"), "{error}");
    let failures = group.failures(Page::all()).await.unwrap().items;
    assert_eq!(failures.len(), 1);
    assert_eq!((failures[0].id, failures[0].status), (1, Status::Running));
    assert!(failures[0].error.contains("run failed"));
    assert_eq!(group.counters().entry_errors, 1);
    // Not frozen: the machine and its neighbours keep going.
    group.send_sync(1, JobInput::Pause).await.unwrap();
    group.send_sync(2, JobInput::Start).await.unwrap();
    group.stop().await;
    assert_eq!(
        group.get(&1).await.unwrap().unwrap().status,
        Status::Waiting
    );
    // A successful entry func clears the recorded failure.
    assert!(group.failures(Page::all()).await.unwrap().items.is_empty());
}

async fn entry_func_panics_are_caught(backend: Backend) {
    let env = Env::default();
    let group = backend.job_group(&env).await;
    let mut subscription = group.subscribe();
    group.begin(1, Job::new(1, OnRun::Panic)).await.unwrap();
    group.send_sync(1, JobInput::Start).await.unwrap();
    let (_, error) = next_entry_failure(&mut subscription, 1).await;
    assert!(error.contains("panicked"), "{error}");
    assert!(error.contains("run panicked for job 1"), "{error}");
    group.send_sync(1, JobInput::Finish).await.unwrap();
    assert_eq!(group.get(&1).await.unwrap().unwrap().status, Status::Done);
}

async fn terminal_policy_halts_machine(backend: Backend) {
    let env = Env::default();
    let group: JobGroup = Group::builder(backend.store.clone(), env.clone())
        .entry_error_policy(EntryErrorPolicy::Terminal)
        .open()
        .await
        .unwrap();
    let mut subscription = group.subscribe();
    group.begin(1, Job::new(1, OnRun::Fail)).await.unwrap();
    group.begin(2, Job::new(2, OnRun::Nothing)).await.unwrap();
    group.send_sync(1, JobInput::Start).await.unwrap();
    next_entry_failure(&mut subscription, 1).await;
    group.stop().await;
    let group: JobGroup = Group::builder(backend.store.clone(), env.clone())
        .entry_error_policy(EntryErrorPolicy::Terminal)
        .open()
        .await
        .unwrap();
    // The halt is part of the failure record in the store: it holds after a restart.
    let failures = group.failures(Page::all()).await.unwrap().items;
    assert_eq!(failures.len(), 1);
    assert!(failures[0].halted, "{failures:?}");
    assert_eq!(failures[0].status, Status::Running);
    let error = group.send_sync(1, JobInput::Pause).await.unwrap_err();
    assert!(matches!(error, SendError::Halted { id: 1, .. }), "{error}");
    group.send_sync(2, JobInput::Start).await.unwrap();

    let env = Env::default();
    let backend = Backend::memory();
    let group: JobGroup = Group::builder(backend.store.clone(), env.clone())
        .entry_error_policy(EntryErrorPolicy::Terminal)
        .open()
        .await
        .unwrap();
    let mut subscription = group.subscribe();
    group.begin(1, Job::new(1, OnRun::Fail)).await.unwrap();
    group.begin(2, Job::new(2, OnRun::Nothing)).await.unwrap();
    group.send_sync(1, JobInput::Start).await.unwrap();
    next_entry_failure(&mut subscription, 1).await;
    let error = group.send_sync(1, JobInput::Pause).await.unwrap_err();
    match &error {
        SendError::Halted {
            id, status, error, ..
        } => {
            assert_eq!((*id, *status), (1, Status::Running));
            assert!(error.contains("run failed"));
        }
        other => panic!("unexpected {other}"),
    }
    assert!(matches!(error.into_input(), Some(JobInput::Pause)));
    group.send_sync(2, JobInput::Start).await.unwrap();
}

async fn resume_on_open_reruns_entry_funcs(backend: Backend) {
    let env = Env::default();
    let group = backend.job_group(&env).await;
    for id in 0..4 {
        group.begin(id, Job::new(id, OnRun::Nothing)).await.unwrap();
    }
    group.send_sync(1, JobInput::Start).await.unwrap();
    group.send_sync(2, JobInput::Start).await.unwrap();
    group.send_sync(2, JobInput::Pause).await.unwrap();
    group.send_sync(3, JobInput::Abort).await.unwrap();
    group.stop().await;
    drop(group);

    // Without resume nothing runs (Go's behaviour).
    let quiet = Env::default();
    let group = backend.job_group(&quiet).await;
    group.stop().await;
    assert!(quiet.runs().is_empty());

    let resumed = Env::default();
    let group: JobGroup = Group::builder(backend.store.clone(), resumed.clone())
        .resume_on_open(true)
        .open()
        .await
        .unwrap();
    group.stop().await;
    let mut runs: Vec<(u64, &str)> = resumed.runs().iter().map(|r| (r.id, r.func)).collect();
    runs.sort();
    // 0 is New (no entry func), 3 is final.
    assert_eq!(runs, vec![(1, "run"), (2, "wait")]);
}

async fn saved_before_reply_and_notification(backend: Backend) {
    let env = Env::default();
    let group = backend.job_group(&env).await;
    let mut subscription = group.subscribe();
    group.begin(1, Job::new(1, OnRun::Nothing)).await.unwrap();
    let applied = group.send_sync(1, JobInput::Start).await.unwrap();
    assert_eq!(group.get(&1).await.unwrap().unwrap().status, applied.to);
    let note = subscription.recv().await.unwrap();
    assert_eq!(note.id, 1);
    match note.change {
        Change::Applied { applied: a, state } => {
            assert_eq!(a, applied);
            assert_eq!(*state, group.get(&1).await.unwrap().unwrap());
        }
        other => panic!("unexpected {other:?}"),
    }
    // Reopening the store shows the same record.
    group.stop().await;
    let reopened = backend.job_group(&env).await;
    assert_eq!(
        reopened.get(&1).await.unwrap().unwrap().status,
        Status::Running
    );
}

async fn stop_finishes_queued_work(backend: Backend) {
    let env = Env::default();
    let group = backend.job_group(&env).await;
    for id in 0..8 {
        group.begin(id, Job::new(id, OnRun::Nothing)).await.unwrap();
        group.send(id, JobInput::Start).await.unwrap();
        for n in 0..25 {
            group.send(id, JobInput::Tick(n)).await.unwrap();
        }
    }
    group.stop().await;
    assert!(group.is_stopped());
    for id in 0..8 {
        assert_eq!(
            group.get(&id).await.unwrap().unwrap().count,
            (0..25).sum::<u64>()
        );
    }
    let error = group.send(0, JobInput::Tick(1)).await.unwrap_err();
    assert!(matches!(error, SendError::Stopped { id: 0, .. }));
    assert!(error.to_string().contains("stopped"));
    let begin = group
        .begin(99, Job::new(99, OnRun::Nothing))
        .await
        .unwrap_err();
    assert!(begin.to_string().contains("stopped"));
    assert_eq!(group.counters().events_applied, 8 * 26);
}

async fn introspection_by_status_and_idle(backend: Backend) {
    let env = Env::default();
    let group = backend.job_group(&env).await;
    for id in 0..6 {
        group.begin(id, Job::new(id, OnRun::Nothing)).await.unwrap();
    }
    for id in 0..3 {
        group.send_sync(id, JobInput::Start).await.unwrap();
    }
    group.send_sync(0, JobInput::Finish).await.unwrap();
    let mut running = group
        .by_status(Status::Running, Page::all())
        .await
        .unwrap()
        .items;
    running.sort();
    assert_eq!(running, vec![1, 2]);
    let mut new = group
        .by_status(Status::New, Page::all())
        .await
        .unwrap()
        .items;
    new.sort();
    assert_eq!(new, vec![3, 4, 5]);
    group.stop().await;
    let mut idle = group
        .idle_longer_than(Duration::ZERO, Page::all())
        .await
        .unwrap()
        .items;
    idle.sort();
    assert_eq!(idle, vec![1, 2, 3, 4, 5]);
    assert!(
        group
            .idle_longer_than(Duration::from_secs(3600), Page::all())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let listing = group.list(Page::all()).await.unwrap();
    assert_eq!(listing.items.len(), 6);
    assert!(listing.errors.is_empty());
    assert!(group.has(&5).await.unwrap());
    assert!(!group.has(&6).await.unwrap());
}
