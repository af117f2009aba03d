//! Fault tests of the state group: panicking handlers, store write errors, corrupted records,
//! unknown ids and duplicate `begin`s, on both stores.

#![allow(clippy::unwrap_used)]

#[macro_use]
mod group_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use fsm_runtime::Group;
use fsm_runtime::group::Page;
use fsm_runtime::group::{BeginError, ReadError, SendError};
use group_support::*;

/// Calls `$run!` with the name of every test of this suite. A store crate includes this file
/// with `#[macro_use] #[path = ".../group_faults.rs"] mod ...;` and runs the suite on its store with
/// this macro and the `suite` functions (see `fsm-postgres/tests/group_suite.rs`).
macro_rules! faults_tests {
    ($run:ident) => {
        $run!(
            handler_panicking_in_one_percent_of_machines,
            store_write_error_is_reported_and_nothing_half_applied,
            corrupted_record_names_its_id_and_the_rest_keep_serving,
            send_to_unknown_id,
            begin_of_existing_id,
        );
    };
}

faults_tests!(on_both_stores);

async fn handler_panicking_in_one_percent_of_machines(backend: Backend) {
    let env = Env::default();
    let group = backend.job_group(&env).await;
    let machines = 400u64;
    for id in 0..machines {
        let on_run = if id % 100 == 7 {
            OnRun::Panic
        } else {
            OnRun::TriggerFinish
        };
        group.begin(id, Job::new(id, on_run)).await.unwrap();
    }
    for id in 0..machines {
        group.send(id, JobInput::Start).await.unwrap();
    }
    group.stop().await;
    let mut panicked: Vec<u64> = group
        .failures(Page::all())
        .await
        .unwrap()
        .items
        .iter()
        .map(|f| f.id)
        .collect();
    panicked.sort();
    assert_eq!(panicked, vec![7, 107, 207, 307]);
    for id in 0..machines {
        let expected = if id % 100 == 7 {
            Status::Running
        } else {
            Status::Done
        };
        assert_eq!(
            group.get(&id).await.unwrap().unwrap().status,
            expected,
            "{id}"
        );
    }
    assert_eq!(group.counters().entry_errors, 4);
}

async fn store_write_error_is_reported_and_nothing_half_applied(backend: Backend) {
    let faulty = Arc::new(FaultyStore {
        inner: backend.store.clone(),
        fail_writes: AtomicBool::new(false),
    });
    let env = Env::default();
    let group: Group<JobFsm, Env, u64, Arc<FaultyStore>> =
        Group::builder(faulty.clone(), env.clone())
            .open()
            .await
            .unwrap();
    group.begin(1, Job::new(1, OnRun::Nothing)).await.unwrap();
    group.send_sync(1, JobInput::Start).await.unwrap();
    let before = group.get(&1).await.unwrap().unwrap();

    faulty.fail_writes.store(true, Ordering::SeqCst);
    let error = group
        .send_sync(1, JobInput::Note("lost".into()))
        .await
        .unwrap_err();
    match &error {
        SendError::Store { id, event, .. } => assert_eq!((*id, *event), (1, Some(Ev::Note))),
        other => panic!("unexpected {other}"),
    }
    assert!(
        error.to_string().contains("injected write failure"),
        "{error}"
    );
    let begin = group
        .begin(2, Job::new(2, OnRun::Nothing))
        .await
        .unwrap_err();
    assert!(matches!(begin, BeginError::Store { id: 2, .. }));
    faulty.fail_writes.store(false, Ordering::SeqCst);

    // Nothing of the failed event was kept: not in the store, not in memory, and its entry
    // func did not run.
    assert_eq!(group.get(&1).await.unwrap().unwrap(), before);
    assert!(!group.has(&2).await.unwrap());
    group
        .send_sync(1, JobInput::Note("kept".into()))
        .await
        .unwrap();
    group.stop().await;
    assert_eq!(
        group.get(&1).await.unwrap().unwrap().log,
        vec!["kept".to_string()]
    );
    // Entry funcs ran for Start and for the kept note, never for the lost one.
    let logs: Vec<Vec<String>> = env.runs_of(1).into_iter().map(|r| r.snapshot.log).collect();
    assert_eq!(logs, vec![vec![], vec!["kept".to_string()]]);
    assert_eq!(group.counters().events_rejected, 1);
}

async fn corrupted_record_names_its_id_and_the_rest_keep_serving(backend: Backend) {
    let env = Env::default();
    let group = backend.job_group(&env).await;
    for id in 1..=3 {
        group.begin(id, Job::new(id, OnRun::Nothing)).await.unwrap();
    }
    group.stop().await;
    overwrite_record(&backend.store, 2, &[0xff, 0x13, 0x37]).await;

    let group = backend.job_group(&env).await;
    let error = group.send_sync(2, JobInput::Start).await.unwrap_err();
    assert!(matches!(error, SendError::Corrupt { id: 2, .. }));
    assert!(error.to_string().contains("machine 2"), "{error}");
    assert!(matches!(error.into_input(), Some(JobInput::Start)));
    let read = group.get(&2).await.unwrap_err();
    assert!(matches!(read, ReadError::Corrupt { id: 2, .. }));
    let listing = group.list(Page::all()).await.unwrap();
    assert_eq!(listing.items.len(), 2);
    assert_eq!(listing.errors.len(), 1);
    assert!(listing.errors[0].to_string().contains("machine 2"));
    for id in [1, 3] {
        group.send_sync(id, JobInput::Start).await.unwrap();
    }
    let resumed: JobGroup = Group::builder(backend.store.clone(), env.clone())
        .resume_on_open(true)
        .open()
        .await
        .unwrap();
    resumed.stop().await;
}

async fn send_to_unknown_id(backend: Backend) {
    let env = Env::default();
    let group = backend.job_group(&env).await;
    let error = group.send_sync(42, JobInput::Start).await.unwrap_err();
    assert!(matches!(error, SendError::UnknownId { id: 42, .. }));
    assert!(error.to_string().contains("42"));
    assert!(matches!(error.into_input(), Some(JobInput::Start)));
    let error = group.send(42, JobInput::Tick(3)).await.unwrap_err();
    assert!(matches!(error.into_input(), Some(JobInput::Tick(3))));
    // Nothing was created implicitly.
    assert!(!group.has(&42).await.unwrap());
    assert!(group.get(&42).await.unwrap().is_none());
}

async fn begin_of_existing_id(backend: Backend) {
    let env = Env::default();
    let group = backend.job_group(&env).await;
    group.begin(1, Job::new(1, OnRun::Nothing)).await.unwrap();
    group.send_sync(1, JobInput::Start).await.unwrap();
    let mut again = Job::new(1, OnRun::Fail);
    again.count = 99;
    match group.begin(1, again.clone()).await.unwrap_err() {
        BeginError::AlreadyExists { id, state } => assert_eq!((id, state), (1, again.clone())),
        other => panic!("unexpected {other}"),
    }
    group.stop().await;
    // After a restart the id is only in the store.
    let group = backend.job_group(&env).await;
    let error = group.begin(1, again).await.unwrap_err();
    assert!(
        error.to_string().contains("machine 1: already exists"),
        "{error}"
    );
    let job = group.get(&1).await.unwrap().unwrap();
    assert_eq!((job.status, job.count), (Status::Running, 0));
    // Racing begins of one new id: exactly one wins.
    let (a, b) = tokio::join!(
        group.begin(5, Job::new(5, OnRun::Nothing)),
        group.begin(5, Job::new(5, OnRun::Nothing)),
    );
    assert_eq!(a.is_ok() as u8 + b.is_ok() as u8, 1);
}
