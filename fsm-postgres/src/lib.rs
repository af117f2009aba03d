//! A PostgreSQL [`Store`](fsm_runtime::store::Store) for `fsm-runtime` state groups, shared by
//! several processes.
//!
//! [`PgStore`] keeps a group's records as `bytea` keyed by (group name, machine id), with the
//! engine metadata (status, final or not, last activity, failure record) in columns beside
//! them, indexed for status and failure queries. It gives the guarantees of the redb store (an
//! acknowledged `send_sync` is committed; many machines' writes share one statement through
//! group commit), is natively async (no call blocks a thread) and lets several processes share
//! the group, each owning part of it:
//!
//! * every machine is in one of the group's [`shards`] (a fixed count per group); instances
//!   register with a heartbeat and own shards through leases carrying an epoch, assigned by
//!   hashing over the live members, so no coordinator is needed;
//! * a send to a machine whose shard another instance owns fails before its input is consumed
//!   with [`StoreError::NotOwner`](fsm_runtime::store::StoreError::NotOwner), naming the
//!   owner and the address it advertised, so that the application can forward it;
//! * every write is fenced by its shard's epoch in the same statement (and by the record's
//!   version), so a paused or partitioned former owner can never overwrite a newer record;
//! * a dead instance's shards are taken once its heartbeat expired, and a group opened with
//!   resume on open resumes their machines; [`Group::close`](fsm_runtime::Group::close) (or
//!   [`Store::close`]) hands this instance's shards over at once.
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
//! The schema (`fsm_schema_version`, `fsm_records`, `fsm_headers`, `fsm_groups`,
//! `fsm_members`, `fsm_shards`) is created and migrated on open; a database written by a newer
//! version is refused with [`PgError::SchemaTooNew`]. The crate's README describes the design,
//! what it promises and what it does not.
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
