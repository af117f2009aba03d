//! Concurrency stress: 100k machines driven by many tasks all reach their expected final
//! status. Sized to take a few seconds in a debug build; no timing assertions.

#![allow(clippy::unwrap_used)]

mod group_support;

use fsm_runtime::group::Page;
use group_support::*;

const MACHINES: u64 = 100_000;
const TASKS: u64 = 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_thousand_machines_reach_their_final_status() {
    let env = Env::default();
    let backend = Backend::memory();
    let group = backend.job_group(&env).await;
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let group = group.clone();
        tasks.push(tokio::spawn(async move {
            for id in (task..MACHINES).step_by(TASKS as usize) {
                group.begin(id, Job::new(id, OnRun::Nothing)).await.unwrap();
                group.send(id, JobInput::Start).await.unwrap();
                group.send(id, JobInput::Tick(3)).await.unwrap();
                // Even ids finish, odd ids abort: two different final statuses.
                let last = if id % 2 == 0 {
                    JobInput::Finish
                } else {
                    JobInput::Abort
                };
                group.send(id, last).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    group.stop().await;

    let listing = group.list(Page::all()).await.unwrap();
    assert!(listing.errors.is_empty());
    assert_eq!(listing.items.len() as u64, MACHINES);
    for (id, job) in &listing.items {
        let expected = if id % 2 == 0 {
            Status::Done
        } else {
            Status::Failed
        };
        assert_eq!((job.status, job.count), (expected, 3), "machine {id}");
    }
    let counters = group.counters();
    assert_eq!(counters.events_applied, MACHINES * 3);
    assert_eq!(counters.events_rejected, 0);
    // One entry func per machine: Running's, after Start.
    assert_eq!(env.runs().len() as u64, MACHINES);
}
