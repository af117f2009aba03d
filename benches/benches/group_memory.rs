//! P2: throughput of the in-memory group, every machine taking its 20-event lifecycle by
//! `send_sync`, at 1, 1,000, 10,000 and 100,000 machines, and the latency of one event on one
//! machine driven sequentially. Runs on a multi-thread tokio runtime with 2 workers.
//!
//! One criterion iteration is one full run on a fresh group (begin untimed, sends timed), and
//! throughput is reported in events (`Throughput::Elements`). Every case runs with the group's
//! default codec (DAG-CBOR); the `_fixed_codec` cases repeat some with a hand-written codec to
//! show how much of the time is the codec's. `FSM_BENCH_QUICK=1` is a smoke run: short samples
//! and no 100,000-machine case.

use std::time::Duration;

use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use fsm_benches::deal::{FixedCodec, LIFECYCLE_EVENTS};
use fsm_benches::drive::{self, Drivers, Run};
use fsm_benches::quick_mode;
use fsm_runtime::codec::DagCbor;
use tokio::runtime::Runtime;

/// The codec of a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RecordCodec {
    /// The group's default, DAG-CBOR through serde.
    DagCbor,
    /// [`FixedCodec`].
    Fixed,
}

/// The 2-worker runtime every run uses.
fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("the tokio runtime starts")
}

/// One full run, driven from a task on the runtime (not from the blocking thread).
fn run(rt: &Runtime, machines: u64, drivers: Drivers, codec: RecordCodec) -> Run {
    let joined = rt.block_on(async move {
        match codec {
            RecordCodec::DagCbor => tokio::spawn(drive::memory_run(machines, drivers, DagCbor)),
            RecordCodec::Fixed => tokio::spawn(drive::memory_run(machines, drivers, FixedCodec)),
        }
        .await
    });
    joined
        .expect("the run task completes")
        .expect("every lifecycle event is applied")
}

/// `iters` sequential lifecycles on fresh machines; the summed send time.
fn sequential(rt: &Runtime, iters: u64, codec: RecordCodec) -> Duration {
    let joined = rt.block_on(async move {
        match codec {
            RecordCodec::DagCbor => tokio::spawn(drive::sequential_runs(iters, DagCbor)),
            RecordCodec::Fixed => tokio::spawn(drive::sequential_runs(iters, FixedCodec)),
        }
        .await
    });
    joined
        .expect("the run task completes")
        .expect("every lifecycle event is applied")
}

fn p2_throughput(c: &mut Criterion) {
    let rt = runtime();
    let quick = quick_mode();
    let mut group = c.benchmark_group("p2_group_memory");
    group.sampling_mode(SamplingMode::Flat).sample_size(10);
    use {Drivers::*, RecordCodec::*};
    let cases = [
        (1, PerMachine, DagCbor),
        (1_000, PerMachine, DagCbor),
        (10_000, PerMachine, DagCbor),
        (100_000, PerMachine, DagCbor),
        (10_000, Pool(64), DagCbor),
        (1_000, PerMachine, Fixed),
        (10_000, PerMachine, Fixed),
    ];
    // The smoke run skips the 100,000-machine case (ten runs of it take most of a minute).
    let cases = cases
        .into_iter()
        .filter(|&(machines, ..)| !quick || machines <= 10_000);
    for (machines, drivers, codec) in cases {
        let drivers_name = match drivers {
            PerMachine => "task_per_machine".to_owned(),
            Pool(tasks) => format!("pool_{tasks}_tasks"),
        };
        let name = match codec {
            DagCbor => drivers_name,
            Fixed => format!("{drivers_name}_fixed_codec"),
        };
        // Big runs take seconds each: one run per sample.
        let (warm_up, measure) = match (quick, machines) {
            (true, _) => (Duration::from_millis(100), Duration::from_millis(100)),
            (false, 100_000..) => (Duration::from_secs(1), Duration::from_secs(5)),
            (false, _) => (Duration::from_secs(1), Duration::from_secs(3)),
        };
        group.warm_up_time(warm_up).measurement_time(measure);
        group.throughput(Throughput::Elements(machines * LIFECYCLE_EVENTS as u64));
        group.bench_with_input(
            BenchmarkId::new(name, machines),
            &machines,
            |b, &machines| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| run(&rt, machines, drivers, codec).elapsed)
                        .sum()
                });
            },
        );
    }
    group.finish();
}

fn p2_single_machine(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("p2_single_machine");
    if quick_mode() {
        group
            .sample_size(10)
            .warm_up_time(Duration::from_millis(100))
            .measurement_time(Duration::from_millis(200));
    }
    // One iteration: one fresh machine's 20 events, sent one after another from one task.
    group.throughput(Throughput::Elements(LIFECYCLE_EVENTS as u64));
    for (name, codec) in [
        ("lifecycle_sequential", RecordCodec::DagCbor),
        ("lifecycle_sequential_fixed_codec", RecordCodec::Fixed),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| sequential(&rt, iters, codec))
        });
    }
    group.finish();
}

criterion_group!(benches, p2_throughput, p2_single_machine);
criterion_main!(benches);
