//! Fixtures and drivers of the benchmark suite (see `BENCHMARKS.md` at the repository root).
//!
//! * [`door`]: P1's small machine, generated and hand-written.
//! * [`deal`]: the cut-down provider table and 20-event lifecycle of the group benchmarks.
//! * [`drive`]: opening, beginning and driving groups of deals (P2, P3).
//! * [`footprint`]: resident memory per idle machine (P4).
//! * [`quick_mode`]: whether `FSM_BENCH_QUICK` asks for the CI smoke sizes.

pub mod deal;
pub mod door;
pub mod drive;
pub mod footprint;

/// Whether the environment variable `FSM_BENCH_QUICK` is set to anything but `0` or empty: the
/// benches then take fewer, shorter samples (a CI smoke run, not a measurement).
pub fn quick_mode() -> bool {
    std::env::var_os("FSM_BENCH_QUICK").is_some_and(|value| !value.is_empty() && value != "0")
}
