//! The retrieval-provider simulation as a binary, identical to the `provider_sim` example
//! (integration tests can start a binary by path, but not an example).

use std::process::ExitCode;

fn main() -> ExitCode {
    fsm_examples::sim::cli::main()
}
