//! P3: the durable group on redb (a fresh database in a temporary directory per run), every
//! acknowledged event fsynced through group commit, 10,000 machines driven concurrently (one
//! task each) through their 20-event lifecycles by `send_sync`.
//!
//! Criterion reports events/s; commits/s and events per commit come from the group's counters
//! and are printed after the benchmark. `FSM_BENCH_QUICK=1` is a smoke run: 1,000 machines,
//! short samples.

use std::cell::RefCell;
use std::time::Duration;

use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use fsm_benches::deal::{LIFECYCLE_EVENTS, NoEntryFuncs};
use fsm_benches::drive::{self, DealGroup, DriveError, Drivers, Run};
use fsm_benches::quick_mode;
use fsm_runtime::Group;
use fsm_runtime::store::RedbStore;
use tokio::runtime::Runtime;

/// Concurrent machines of a measured run.
const MACHINES: u64 = 10_000;
/// Concurrent machines of a smoke run (`FSM_BENCH_QUICK=1`).
const QUICK_MACHINES: u64 = 1_000;

/// One run on a fresh database: begin (untimed, concurrently so begins share commits), drive
/// (timed), stop. `max_batch` overrides the group's most writes per commit.
async fn redb_run(machines: u64, max_batch: Option<usize>) -> Result<Run, DriveError> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = RedbStore::open(dir.path().join("p3.redb")).expect("redb opens");
    let mut builder = Group::builder(store, NoEntryFuncs);
    if let Some(writes) = max_batch {
        builder = builder.max_commit_batch(writes);
    }
    let group: DealGroup<RedbStore> = builder.open().await?;
    drive::begin_all_concurrently(&group, machines, 256).await?;
    let run = drive::drive_all(&group, machines, Drivers::PerMachine).await?;
    group.stop().await;
    Ok(run)
}

fn p3_redb(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("the tokio runtime starts");
    let quick = quick_mode();
    let machines = if quick { QUICK_MACHINES } else { MACHINES };
    let mut group = c.benchmark_group("p3_group_redb");
    group.sampling_mode(SamplingMode::Flat).sample_size(10);
    if quick {
        group
            .warm_up_time(Duration::from_millis(100))
            .measurement_time(Duration::from_millis(100));
    } else {
        group
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(5));
    }
    group.throughput(Throughput::Elements(machines * LIFECYCLE_EVENTS as u64));
    // The group's default batch cap (4096 writes), and one that lets a commit take every
    // machine's pending write.
    for (name, max_batch) in [
        ("task_per_machine", None),
        ("task_per_machine_batch_16384", Some(16_384)),
    ] {
        let runs = RefCell::new(Vec::new());
        let id = BenchmarkId::new(name, machines);
        group.bench_with_input(id, &machines, |b, &machines| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let run = run_on(&rt, machines, max_batch);
                    total += run.elapsed;
                    runs.borrow_mut().push(run);
                }
                total
            });
        });
        report(name, &runs.borrow());
    }
    group.finish();
}

fn run_on(rt: &Runtime, machines: u64, max_batch: Option<usize>) -> Run {
    rt.block_on(async move { tokio::spawn(redb_run(machines, max_batch)).await })
        .expect("the run task completes")
        .expect("every lifecycle event is applied")
}

/// Prints the counters-based figures over every run of case `name` (warm-up included).
fn report(name: &str, runs: &[Run]) {
    let seconds: f64 = runs.iter().map(|run| run.elapsed.as_secs_f64()).sum();
    let events: u64 = runs.iter().map(|run| run.events).sum();
    let commits: u64 = runs.iter().map(|run| run.commits).sum();
    if runs.is_empty() || seconds == 0.0 || commits == 0 {
        return;
    }
    println!(
        "p3_group_redb/{}: counters over {} runs: {:.0} events/s, {:.0} commits/s, {:.1} events per commit",
        name,
        runs.len(),
        events as f64 / seconds,
        commits as f64 / seconds,
        events as f64 / commits as f64,
    );
}

criterion_group!(benches, p3_redb);
criterion_main!(benches);
