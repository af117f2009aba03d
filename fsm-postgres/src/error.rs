//! The store's typed errors. Each one names the group and, where there is one, the machine.

use std::fmt;
use std::time::Duration;

/// A machine's store key, shown as hex in errors (`0x0000000000000007`).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct MachineKey(pub Vec<u8>);

impl fmt::Display for MachineKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("0x")?;
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

impl fmt::Debug for MachineKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Why a PostgreSQL store operation failed.
///
/// Group errors carry it as [`StoreError::Backend`](fsm_runtime::store::StoreError::Backend);
/// get it back with `error.downcast_ref::<PgError>()`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PgError {
    /// The database URL does not parse.
    #[error("invalid PostgreSQL URL {url:?}: {source}")]
    BadUrl {
        /// The URL, with any password removed.
        url: String,
        /// The parser's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// No connection could be made.
    #[error("cannot connect to PostgreSQL at {target}: {source}")]
    Connect {
        /// Host and port (or socket) tried.
        target: String,
        /// The driver's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// The database holds a schema written by a newer version of this library.
    #[error(
        "the database schema is version {found}, newer than the version {supported} this \
         fsm-postgres supports; upgrade fsm-postgres (a downgrade cannot read it safely)"
    )]
    SchemaTooNew {
        /// The version in the database.
        found: i32,
        /// The newest version this library knows.
        supported: i32,
    },
    /// The machine's shard is owned by another instance (or, with `owner` `None`, by no live
    /// instance right now: its owner's lease ran out and no one has taken it yet). Send the
    /// event to the owner (at `address`, when it advertised one) or retry once the shard has
    /// moved here. The group reports it as [`StoreError::NotOwner`].
    ///
    /// [`StoreError::NotOwner`]: fsm_runtime::store::StoreError::NotOwner
    #[error(
        "group {group}: machine {machine} is in shard {shard}, {}; send the event there or retry \
         once the shard has moved",
        owned_by(.owner.as_deref(), .address.as_deref(), *.expires_in)
    )]
    NotOwner {
        /// The group.
        group: String,
        /// The machine's key.
        machine: MachineKey,
        /// The machine's shard.
        shard: u32,
        /// The instance owning the shard, if one does.
        owner: Option<String>,
        /// The address the owner advertised ([`PgStoreBuilder::address`]), if any.
        ///
        /// [`PgStoreBuilder::address`]: crate::PgStoreBuilder::address
        address: Option<String>,
        /// How long the owner's lease still runs (zero without an owner).
        expires_in: Duration,
    },
    /// The stored record changed since this process read it (another process wrote it while
    /// this one did not own the machine): the write is refused so that it cannot overwrite the
    /// newer record. The group reloads the record; the event can be sent again.
    #[error(
        "group {group}: machine {machine}: the stored record changed since this instance read \
         it (written by another instance); the write was refused, send the event again"
    )]
    Stale {
        /// The group.
        group: String,
        /// The machine's key.
        machine: MachineKey,
    },
    /// A metadata-only write found no record to attach the metadata to.
    #[error("group {group}: machine {machine}: no record to attach the metadata to")]
    NoRecord {
        /// The group.
        group: String,
        /// The machine's key.
        machine: MachineKey,
    },
    /// A value to write does not fit its column.
    #[error("group {group}: key {key}: the {what} {value} does not fit its column")]
    OutOfRange {
        /// The group.
        group: String,
        /// The machine's key (or the header's prefix).
        key: MachineKey,
        /// Which value.
        what: &'static str,
        /// The value.
        value: u64,
    },
    /// A statement failed. The text shows the server's SQLSTATE and message when the server
    /// sent one ([`PgError::sqlstate`]).
    #[error("PostgreSQL error while {doing}: {}", describe(.source))]
    Db {
        /// What the store was doing.
        doing: &'static str,
        /// The driver's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// The server stayed unreachable for the whole retry window.
    #[error("PostgreSQL unreachable for {waited:?} ({attempts} attempts) while {doing}: {last}")]
    Unavailable {
        /// What the store was doing.
        doing: &'static str,
        /// How many attempts were made.
        attempts: u32,
        /// How long it retried.
        waited: Duration,
        /// The last attempt's error.
        #[source]
        last: Box<PgError>,
    },
    /// The schema needs the shard migration, but instances of an older fsm-postgres still hold
    /// running per-machine leases: migrating under them would break them. Stop them (a clean
    /// stop releases their leases; a killed one's run out after their lease time), then open
    /// again.
    #[error(
        "the database schema must be migrated to shard ownership, but instances of an older \
         fsm-postgres still run ({}); stop them (or wait until their leases run out) and open \
         again",
        .owners.join(", ")
    )]
    MigrationBlocked {
        /// The instances holding running leases.
        owners: Vec<String>,
    },
    /// A shard count outside `1..=65536` was asked for (or stored).
    #[error("a group has 1 to 65536 shards; {requested} is not possible")]
    BadShardCount {
        /// The count asked for.
        requested: u32,
    },
    /// The group exists with another shard count than the one asked for. The count is fixed
    /// when a group is created: the shard of every stored record depends on it.
    #[error(
        "group {group} has {stored} shards, not {requested}: the shard count is fixed when a \
         group is created (leave `PgStoreBuilder::shards` unset to use the stored count)"
    )]
    ShardCountMismatch {
        /// The group.
        group: String,
        /// The group's count.
        stored: u32,
        /// The count asked for.
        requested: u32,
    },
    /// [`PgStore::settled`](crate::PgStore::settled) gave up: some shards this instance
    /// should own were still held by others when the time ran out.
    #[error(
        "group {group}: {missing} of the shards this instance should own are still held by \
         other instances after {waited:?}"
    )]
    NotSettled {
        /// The group.
        group: String,
        /// How many shards were missing.
        missing: usize,
        /// How long it waited.
        waited: Duration,
    },
    /// The store has shut down.
    #[error("the PostgreSQL store is closed")]
    Closed,
}

impl PgError {
    /// Whether retrying on a fresh connection may succeed: the connection broke, the server is
    /// restarting, or a transaction lost a serialization or deadlock race.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Connect { .. } => true,
            Self::Db { source, .. } => is_transient_db(source),
            _ => false,
        }
    }

    /// The SQLSTATE the server reported (`40P01`, `23505`, ...), if this is a statement error
    /// the server answered.
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            Self::Db { source, .. } => source.code().map(|code| code.code()),
            Self::Unavailable { last, .. } => last.sqlstate(),
            _ => None,
        }
    }

    /// Whether the connection must be replaced before retrying (it broke, or the server is
    /// going away), as opposed to a transaction that lost a race on a healthy connection.
    pub(crate) fn needs_reconnect(&self) -> bool {
        match self {
            Self::Connect { .. } => true,
            Self::Db { source, .. } => !matches!(
                source.code().map(|code| code.code()),
                Some("40001" | "40P01" | "25P02")
            ),
            _ => false,
        }
    }

    pub(crate) fn db(doing: &'static str) -> impl FnOnce(tokio_postgres::Error) -> Self {
        move |source| Self::Db { doing, source }
    }
}

/// "owned by instance X (at A, lease runs N more)" or "owned by no live instance".
fn owned_by(owner: Option<&str>, address: Option<&str>, expires_in: Duration) -> String {
    match (owner, address) {
        (Some(owner), Some(address)) => {
            format!("owned by instance {owner:?} at {address} (lease runs {expires_in:?} more)")
        }
        (Some(owner), None) => {
            format!("owned by instance {owner:?} (lease runs {expires_in:?} more)")
        }
        (None, _) => "owned by no live instance right now".to_owned(),
    }
}

fn is_transient_db(error: &tokio_postgres::Error) -> bool {
    if error.is_closed() {
        return true;
    }
    match error.code() {
        // Class 08: connection exception; 57P01-57P03: admin shutdown, crash shutdown, cannot
        // connect now; 40001/40P01: serialization failure, deadlock.
        Some(code) => {
            let code = code.code();
            // 25P02 (in failed transaction): a statement pipelined after the one that failed;
            // the first failure may have been a serialization failure or a deadlock that
            // surfaced on another statement, so the whole transaction is retried.
            code.starts_with("08")
                || matches!(
                    code,
                    "57P01" | "57P02" | "57P03" | "40001" | "40P01" | "25P02"
                )
        }
        // No SQLSTATE: an I/O error on the socket.
        None => std::error::Error::source(error)
            .is_some_and(|source| source.downcast_ref::<std::io::Error>().is_some()),
    }
}

/// The driver's error with the server's severity, SQLSTATE, message, detail and hint, when the
/// server sent them (the driver's own text for a statement error is only "db error").
fn describe(error: &tokio_postgres::Error) -> String {
    let Some(db) = error.as_db_error() else {
        return match std::error::Error::source(error) {
            Some(cause) => format!("{error}: {cause}"),
            None => error.to_string(),
        };
    };
    let mut text = format!("{} {}: {}", db.severity(), db.code().code(), db.message());
    if let Some(detail) = db.detail() {
        text.push_str(" (detail: ");
        text.push_str(detail);
        text.push(')');
    }
    if let Some(hint) = db.hint() {
        text.push_str(" (hint: ");
        text.push_str(hint);
        text.push(')');
    }
    text
}
