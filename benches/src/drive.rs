//! Drivers shared by the group benchmarks: open a group of [`DealFsm`] machines, begin them,
//! and push every machine through its 20-event [`lifecycle`] with `send_sync`, timing only the
//! sends.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use fsm_runtime::Group;
use fsm_runtime::codec::{Codec, DagCbor};
use fsm_runtime::group::{BeginError, Counters, OpenError, SendError};
use fsm_runtime::store::{MemoryStore, Store};
use tokio::task::JoinSet;

use crate::deal::{Deal, DealFsm, LIFECYCLE_EVENTS, NoEntryFuncs, lifecycle};

/// A group of benchmark deals keyed by `u64`, stored in `S`.
pub type DealGroup<S = MemoryStore, C = DagCbor> = Group<DealFsm, NoEntryFuncs, u64, S, C>;

/// Why a benchmark run failed. Every variant is a bug in the runtime or the benchmark, never an
/// expected outcome: a lifecycle only sends valid events.
#[derive(Debug, thiserror::Error)]
pub enum DriveError {
    /// The group did not open.
    #[error("cannot open the group: {0}")]
    Open(#[from] OpenError),
    /// A machine could not be begun.
    #[error("cannot begin a machine: {0}")]
    Begin(#[from] Box<BeginError<DealFsm, u64>>),
    /// An event of a lifecycle was not applied.
    #[error("lifecycle step {step} not applied: {source}")]
    Send {
        /// The lifecycle step (0-based).
        step: usize,
        /// The group's error (names the machine).
        source: Box<SendError<DealFsm, u64>>,
    },
    /// A driving task panicked or was cancelled.
    #[error("a driving task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    /// The group's counters disagree with the events sent.
    #[error("expected {expected} applied events, the group counted {counted}")]
    Count {
        /// Events the run sent.
        expected: u64,
        /// Events the group says it applied.
        counted: u64,
    },
}

/// How the machines of a run are driven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drivers {
    /// One task per machine, all started at once (Go: one goroutine per machine).
    PerMachine,
    /// This many tasks, each driving its share of the machines one after another (Go: a worker
    /// pool).
    Pool(usize),
}

/// What one timed run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    /// Wall time from the first send to the last reply.
    pub elapsed: Duration,
    /// Events applied during the run (from the group's counters).
    pub events: u64,
    /// Store commits during the run (from the group's counters).
    pub commits: u64,
}

/// Opens a group of deals over `store` with the default codec (DAG-CBOR). Must be called
/// inside a tokio runtime.
pub async fn open<S: Store>(store: S) -> Result<DealGroup<S>, DriveError> {
    open_with(store, DagCbor).await
}

/// Opens a group of deals over `store` with `codec`. Must be called inside a tokio runtime.
pub async fn open_with<S: Store, C: Codec<Deal>>(
    store: S,
    codec: C,
) -> Result<DealGroup<S, C>, DriveError> {
    Ok(Group::builder(store, NoEntryFuncs)
        .codec(codec)
        .open()
        .await?)
}

/// Begins machines `0..machines`, untimed.
pub async fn begin_all<S: Store, C: Codec<Deal>>(
    group: &DealGroup<S, C>,
    machines: u64,
) -> Result<(), DriveError> {
    for id in 0..machines {
        group.begin(id, Deal::new(id)).await.map_err(Box::new)?;
    }
    Ok(())
}

/// Begins machines `0..machines` from `tasks` concurrent tasks, untimed. With a group-commit
/// store (redb) sequential begins would each wait for their own commit; concurrent ones share
/// commits.
pub async fn begin_all_concurrently<S: Store, C: Codec<Deal>>(
    group: &DealGroup<S, C>,
    machines: u64,
    tasks: usize,
) -> Result<(), DriveError> {
    let next = Arc::new(AtomicU64::new(0));
    let mut set = JoinSet::new();
    for _ in 0..tasks.max(1) {
        let group = group.clone();
        let next = Arc::clone(&next);
        set.spawn(async move {
            loop {
                let id = next.fetch_add(1, Ordering::Relaxed);
                if id >= machines {
                    return Ok::<_, DriveError>(());
                }
                group.begin(id, Deal::new(id)).await.map_err(Box::new)?;
            }
        });
    }
    while let Some(joined) = set.join_next().await {
        joined??;
    }
    Ok(())
}

/// Drives machine `id` through its whole lifecycle, one `send_sync` after another.
pub async fn drive_one<S: Store, C: Codec<Deal>>(
    group: &DealGroup<S, C>,
    id: u64,
) -> Result<(), DriveError> {
    for step in 0..LIFECYCLE_EVENTS {
        group
            .send_sync(id, lifecycle(id, step))
            .await
            .map_err(|source| DriveError::Send {
                step,
                source: Box::new(source),
            })?;
    }
    Ok(())
}

/// Drives every machine `0..machines` (already begun) through its lifecycle with `drivers`,
/// and returns the timed run. Checks that the group applied every event.
pub async fn drive_all<S: Store, C: Codec<Deal>>(
    group: &DealGroup<S, C>,
    machines: u64,
    drivers: Drivers,
) -> Result<Run, DriveError> {
    let before = group.counters();
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    match drivers {
        Drivers::PerMachine => {
            for id in 0..machines {
                let group = group.clone();
                tasks.spawn(async move { drive_one(&group, id).await });
            }
        }
        Drivers::Pool(workers) => {
            let workers = workers.max(1) as u64;
            let next = Arc::new(AtomicU64::new(0));
            for _ in 0..workers {
                let group = group.clone();
                let next = Arc::clone(&next);
                tasks.spawn(async move {
                    loop {
                        let id = next.fetch_add(1, Ordering::Relaxed);
                        if id >= machines {
                            return Ok(());
                        }
                        drive_one(&group, id).await?;
                    }
                });
            }
        }
    }
    while let Some(joined) = tasks.join_next().await {
        joined??;
    }
    let elapsed = started.elapsed();
    let after = group.counters();
    let run = delta(before, after, elapsed);
    let expected = machines * LIFECYCLE_EVENTS as u64;
    if run.events != expected {
        return Err(DriveError::Count {
            expected,
            counted: run.events,
        });
    }
    Ok(run)
}

fn delta(before: Counters, after: Counters, elapsed: Duration) -> Run {
    Run {
        elapsed,
        events: after.events_applied - before.events_applied,
        commits: after.commits - before.commits,
    }
}

/// One full run on a fresh in-memory group with `codec`: opens it, begins `machines`
/// (untimed), drives them all (timed) and stops the group (untimed).
pub async fn memory_run<C: Codec<Deal>>(
    machines: u64,
    drivers: Drivers,
    codec: C,
) -> Result<Run, DriveError> {
    let group = open_with(MemoryStore::new(), codec).await?;
    begin_all(&group, machines).await?;
    let run = drive_all(&group, machines, drivers).await?;
    group.stop().await;
    Ok(run)
}

/// Single-machine latency: begins `machines` fresh machines one at a time on an in-memory
/// group with `codec` and drives each through its lifecycle from one task, timing only the
/// sends. Returns the summed send time.
pub async fn sequential_runs<C: Codec<Deal>>(
    machines: u64,
    codec: C,
) -> Result<Duration, DriveError> {
    let group = open_with(MemoryStore::new(), codec).await?;
    let mut total = Duration::ZERO;
    for id in 0..machines {
        group.begin(id, Deal::new(id)).await.map_err(Box::new)?;
        let started = Instant::now();
        drive_one(&group, id).await?;
        total += started.elapsed();
    }
    group.stop().await;
    Ok(total)
}

#[cfg(test)]
mod tests {
    use fsm_runtime::group::Page;
    use fsm_runtime::store::RedbStore;

    use super::*;
    use crate::deal::{DealStatus, FixedCodec};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_driver_completes_every_machine() {
        for drivers in [Drivers::PerMachine, Drivers::Pool(3)] {
            let group = open(MemoryStore::new()).await.unwrap();
            begin_all(&group, 10).await.unwrap();
            let run = drive_all(&group, 10, drivers).await.unwrap();
            assert_eq!(run.events, 10 * LIFECYCLE_EVENTS as u64);
            // The in-memory store writes inline: one commit per applied event.
            assert_eq!(run.commits, run.events);
            group.stop().await;
            let completed = group
                .by_status(DealStatus::Completed, Page::all())
                .await
                .unwrap()
                .items;
            assert_eq!(completed.len(), 10, "{drivers:?}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn runs_with_either_codec_apply_every_event() {
        let run = memory_run(20, Drivers::PerMachine, DagCbor).await.unwrap();
        assert_eq!(run.events, 20 * LIFECYCLE_EVENTS as u64);
        let run = memory_run(20, Drivers::Pool(4), FixedCodec).await.unwrap();
        assert_eq!(run.events, 20 * LIFECYCLE_EVENTS as u64);
        assert!(sequential_runs(3, FixedCodec).await.unwrap() > Duration::ZERO);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redb_run_saves_every_machine_and_shares_commits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deals.redb");
        let group = open(RedbStore::open(&path).unwrap()).await.unwrap();
        begin_all_concurrently(&group, 50, 8).await.unwrap();
        let run = drive_all(&group, 50, Drivers::PerMachine).await.unwrap();
        assert_eq!(run.events, 50 * LIFECYCLE_EVENTS as u64);
        assert!(run.commits >= 1 && run.commits <= run.events);
        group.stop().await;
        // Reads come from the store: every deal's saved record is complete.
        let completed = group
            .by_status(DealStatus::Completed, Page::all())
            .await
            .unwrap()
            .items;
        assert_eq!(completed.len(), 50);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sending_to_a_finished_machine_is_reported_with_its_step() {
        let group = open(MemoryStore::new()).await.unwrap();
        begin_all(&group, 1).await.unwrap();
        drive_one(&group, 0).await.unwrap();
        let error = drive_one(&group, 0).await.unwrap_err();
        assert!(
            matches!(
                &error,
                DriveError::Send { step: 0, source } if matches!(**source, SendError::Terminated { id: 0, .. })
            ),
            "{error}"
        );
    }
}
