//! The retrieval-provider simulation: `cargo run --release --example provider_sim -- --help`.
//!
//! A thin entry point; the simulation is `fsm_examples::sim`.

use std::process::ExitCode;

fn main() -> ExitCode {
    fsm_examples::sim::cli::main()
}
