#!/usr/bin/env bash
# Runs the whole benchmark suite one bench target at a time, printing the date and the load
# average before each (other work on a 2-core machine skews the numbers; see BENCHMARKS.md).
# Extra arguments go to every bench: `benches/run-suite.sh --quick` for criterion's quick mode.
# FSM_BENCH_QUICK=1 selects the smoke sizes. CARGO_TARGET_DIR is honoured as usual.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench -p fsm-benches --no-run
for bench in transition macro_cost group_memory group_redb p4_memory; do
    echo "== ${bench}: $(date -u +%Y-%m-%dT%H:%M:%SZ), load average $(cut -d' ' -f1-3 /proc/loadavg)"
    cargo bench -p fsm-benches --bench "${bench}" -- "$@"
done
echo "== done: $(date -u +%Y-%m-%dT%H:%M:%SZ), load average $(cut -d' ' -f1-3 /proc/loadavg)"
