//! P4: resident bytes per idle machine at 1,000,000 machines in an in-memory group, beyond the
//! encoded record. Not a criterion benchmark: it measures once and prints.
//!
//! `cargo bench -p fsm-benches --bench p4_memory` measures 1,000,000 machines
//! (`FSM_BENCH_QUICK=1` or `--quick`: 100,000); run without `--bench` (as `cargo test --benches`
//! does) it measures 1,000 as a smoke test. A criterion-style name filter that does not match
//! `p4_memory` skips it.

use fsm_benches::footprint::{self, Footprint};
use fsm_benches::quick_mode;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let filtered_out = args
        .iter()
        .filter(|arg| !arg.starts_with('-'))
        .any(|filter| !"p4_memory".contains(filter.as_str()));
    if filtered_out {
        return;
    }
    let benching = args.iter().any(|arg| arg == "--bench");
    let quick = quick_mode() || args.iter().any(|arg| arg == "--quick");
    let machines = match (benching, quick) {
        (false, _) => 1_000,
        (true, true) => 100_000,
        (true, false) => 1_000_000,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("the tokio runtime starts");
    let footprint = rt
        .block_on(async move { tokio::spawn(footprint::measure(machines)).await })
        .expect("the measuring task completes")
        .unwrap_or_else(|error| panic!("p4_memory: {error}"));
    print(&footprint);
}

fn print(f: &Footprint) {
    println!(
        "p4_memory: {} idle machines in an in-memory group",
        f.machines
    );
    println!(
        "  encoded record {:.1} B, store key {:.1} B, decoded record (size_of) {} B",
        f.record_bytes, f.key_bytes, f.state_size
    );
    println!(
        "  after begin:           {:>7.1} B resident per machine, {:>7.1} B beyond the encoded record",
        f.begun_per_machine,
        f.begun_beyond_record()
    );
    println!(
        "  after one event each:  {:>7.1} B resident per machine, {:>7.1} B beyond the encoded record",
        f.after_event_per_machine,
        f.after_event_beyond_record()
    );
}
