//! A PostgreSQL [`Store`](fsm_runtime::store::Store) for `fsm-runtime` state groups, shared by
//! several processes.
//!
//! [`PgStore`] keeps a group's records as `bytea` keyed by (group name, machine id), with the
//! engine metadata (status, final or not, last activity, failure record) in columns beside
//! them, indexed for status and failure queries. It gives the guarantees of the redb store (an
//! acknowledged `send_sync` is committed; many machines' writes share one transaction through
//! group commit), is natively async (no call blocks a thread) and lets several processes open
//! the same group:
//!
//! * each machine is owned by one instance at a time through a lease row with an expiry that
//!   the owner renews in the background;
//! * an instance writing a machine another live instance owns gets [`PgError::NotOwner`]
//!   naming the owner; once the lease expired, the write takes it (next epoch);
//! * every write is fenced: it must find the record at the version this instance last saw and
//!   not written under a newer lease epoch, so a paused or partitioned former owner can never
//!   overwrite a newer record ([`PgError::Stale`]);
//! * [`Group::resume`](fsm_runtime::Group::resume) (or resume on open) takes over the machines
//!   whose owner's lease expired and re-runs their entry funcs;
//! * [`Group::close`](fsm_runtime::Group::close) (or [`Store::close`]) releases this
//!   instance's leases at once, so others can take its machines without waiting.
//!
//! ```no_run
//! # async fn run() -> Result<(), fsm_postgres::PgError> {
//! let store = fsm_postgres::PgStore::connect("postgresql://fsm@127.0.0.1/fsm", "deals").await?;
//! // Then, as with any store:
//! // let group = Group::builder(store, env).resume_on_open(true).open().await?;
//! // ...
//! // group.close().await?;
//! # Ok(()) }
//! ```
//!
//! The schema (`fsm_schema_version`, `fsm_records`, `fsm_leases`, `fsm_headers`) is created and
//! migrated on open; a database written by a newer version is refused with
//! [`PgError::SchemaTooNew`].
//!
//! [`Store::close`]: fsm_runtime::store::Store::close

mod builder;
mod error;
mod link;
mod meta;
mod ownership;
mod schema;
pub mod shards;
mod sql;
mod store;

#[cfg(test)]
mod pg_tests;

pub use builder::PgStoreBuilder;
pub use error::{MachineKey, PgError};
pub use link::RetryPolicy;
pub use ownership::ShardReport;
pub use schema::SCHEMA_VERSION;
pub use store::{PgStore, ShardOwner};
