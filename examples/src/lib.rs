//! Support code shared by the example programs.
//!
//! [`sim`] is the retrieval-provider simulation run by `cargo run --example provider_sim` (and
//! by the `provider-sim` binary the tests start).

pub mod sim;
