//! The retrieval-provider simulation behind `cargo run --example provider_sim`.
//!
//! Many deals run at once, each through the real [`ProviderFsm`](retrieval_provider::ProviderFsm)
//! and its entry funcs under a durable [`Group`](fsm_runtime::Group) (redb, or memory).
//! Around the provider everything is simulated:
//!
//! * [`plan`]: what each deal is (free, paid, paid unseal; size; terms) and what goes wrong,
//!   drawn from a seed so a resumed run has the same deals;
//! * [`client`]: each deal's client, which opens the deal through pull validation and then
//!   only raises data-transfer events, mapped to provider inputs by
//!   [`transfer_event_input`](retrieval_provider::sources::transfer_event_input);
//! * [`env`](mod@env): the provider's environment and chain node, sharing each deal's
//!   data-transfer channel with its client and posting what the provider tells data transfer
//!   back to it;
//! * [`run`](mod@run): the group, the workers, the notification dispatcher and the final check
//!   of every stored deal against its plan ([`Summary`]);
//! * [`manifest`]: the plan written to the data directory, read back by `--resume`;
//! * [`cli`]: flags and `main`.

pub mod cli;
pub mod client;
pub mod config;
pub mod env;
pub mod error;
pub mod manifest;
pub mod plan;
mod progress;
pub mod run;
pub mod summary;

pub use config::{Config, FaultMix, Mode, PlanSpec, StoreKind};
pub use error::SimError;
pub use run::run;
pub use summary::Summary;
