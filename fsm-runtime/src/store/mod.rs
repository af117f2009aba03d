//! Where machine records live: the async, batch-first [`Store`] trait and two implementations,
//! [`MemoryStore`] and the durable [`RedbStore`].
//!
//! # What a store keeps
//!
//! Under each key a store keeps two things, always written together in one atomic commit:
//!
//! * the **record**: the bytes the group's [`Codec`](crate::codec::Codec) wrote, untouched (so a
//!   record written by another implementation, such as Go's cbor-gen bytes, stays readable by
//!   it);
//! * the engine's **metadata** ([`Meta`]): the machine's status, whether that status is final,
//!   when it last applied an event, its failure record (and whether the failure halted it) and
//!   the record's version. They are structured fields, not bytes, so a SQL store can keep them
//!   in columns and index them.
//!
//! Beside them, one [`Header`] per key prefix (one per group: several groups may share a store)
//! names the store format, the group and the codec, so that a group never opens records it did
//! not write, and a store that lost its header is noticed instead of being taken for an empty one.
//!
//! # Queries
//!
//! [`Store::scan`] answers one page of a [`ScanRequest`]: every machine under a prefix, or only
//! those in one status ([`Filter::Status`], served by a status index: it costs the number of
//! matches, not of machines), only those with a failure record, or only those in a non-final
//! status. Pages are bounded by a `limit` and continue after a cursor (the last key returned),
//! so a listing of millions of machines never holds them all in memory.
//!
//! # Damage
//!
//! A store reports damage as data, never as a panic, and never lets one damaged entry hide the
//! others: a scan returns each entry with its own [`Result`] ([`Entry::meta`]), so a caller can
//! list the damaged ones by key and go on with the rest. A store whose backend fails in a way it
//! cannot recover from (a panic inside an embedded engine) answers every later call with
//! [`StoreError::Failed`] until it is reopened.
//!
//! # Async
//!
//! Every method returns a boxed future ([`StoreFuture`]), so `Arc<dyn Store>` works. A store
//! must not block the calling tokio worker thread: an embedded engine with a blocking API runs its
//! work on `spawn_blocking` threads ([`RedbStore`]); a server database is async by nature.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod memory;
mod meta_codec;
mod redb;

pub use self::memory::MemoryStore;
pub use self::redb::{DEFAULT_REDB_CACHE_SIZE, RedbStore};

/// What every [`Store`] method returns: a boxed, `Send` future, so that the trait stays
/// dyn-compatible.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// The store format this version of the runtime writes into every [`Header`].
pub const STORE_FORMAT: u32 = 2;

/// The header of one group in a store (one per key prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The store format ([`STORE_FORMAT`] when written by this version).
    pub format: u32,
    /// The group's name ([`GroupBuilder::name`](crate::GroupBuilder::name)).
    pub group: String,
    /// The name of the codec the group's records are written with
    /// ([`Codec::name`](crate::codec::Codec::name)).
    pub codec: String,
}

/// Why a machine failed, in its [`Failure`] record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureKind {
    /// An entry func returned an error.
    EntryFuncError,
    /// An entry func panicked.
    EntryFuncPanic,
    /// An entry func was cancelled by [`Group::stop_within`](crate::Group::stop_within) after
    /// its deadline; resume runs it again.
    EntryFuncCancelled,
    /// An input an entry func triggered is not valid in the machine's status (it may only have
    /// lost a race, for example with a cancellation: operators decide what is harmless).
    InvalidTriggeredInput,
    /// The action of an input an entry func triggered returned an error.
    TriggeredActionError,
    /// The action of an input an entry func triggered panicked.
    TriggeredActionPanic,
    /// The engine itself panicked while handling the machine (in the record codec, in the
    /// record's `Clone`, or in the engine): the machine is halted, its record as last saved.
    EnginePanic,
}

impl FailureKind {
    /// Every kind, in declaration order.
    pub const ALL: [Self; 7] = [
        Self::EntryFuncError,
        Self::EntryFuncPanic,
        Self::EntryFuncCancelled,
        Self::InvalidTriggeredInput,
        Self::TriggeredActionError,
        Self::TriggeredActionPanic,
        Self::EnginePanic,
    ];

    /// A stable name, kept in stores (for example in a SQL column).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EntryFuncError => "entry_func_error",
            Self::EntryFuncPanic => "entry_func_panic",
            Self::EntryFuncCancelled => "entry_func_cancelled",
            Self::InvalidTriggeredInput => "invalid_triggered_input",
            Self::TriggeredActionError => "triggered_action_error",
            Self::TriggeredActionPanic => "triggered_action_panic",
            Self::EnginePanic => "engine_panic",
        }
    }

    /// The kind named `name` by [`FailureKind::as_str`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }
}

/// A failure recorded on a machine, kept in its [`Meta`] so that it survives a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What failed.
    pub kind: FailureKind,
    /// The status the machine was in, by name ([`Meta::status`]).
    pub status: Cow<'static, str>,
    /// The error text (or panic message).
    pub error: Arc<str>,
    /// When it failed, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// Whether the failure halted the machine (the group's entry-error policy was
    /// [`Terminal`](crate::EntryErrorPolicy::Terminal)): a halted machine accepts no events,
    /// also after a restart.
    pub halted: bool,
}

/// The engine's metadata about one machine, kept beside its record and written in the same
/// commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// The machine's status, by name (its `Debug` text). The status index is keyed by it.
    pub status: Cow<'static, str>,
    /// Whether [`Meta::status`] is a final status.
    pub is_final: bool,
    /// When the machine was created or last applied an event, in milliseconds since the Unix
    /// epoch.
    pub last_active_ms: u64,
    /// The machine's failure record, if its last entry func failed (boxed: failures are rare,
    /// and the metadata of a healthy machine stays small).
    pub failure: Option<Box<Failure>>,
    /// The version of the record's layout (0 unless the machine declares versions).
    pub record_version: u32,
}

impl Meta {
    /// Metadata for a machine in `status`, active now, with no failure, at record version 0.
    pub fn new(status: impl Into<Cow<'static, str>>, is_final: bool) -> Self {
        Self {
            status: status.into(),
            is_final,
            last_active_ms: now_ms(),
            failure: None,
            record_version: 0,
        }
    }

    /// Whether a failure halted the machine.
    pub fn is_halted(&self) -> bool {
        self.failure.as_ref().is_some_and(|failure| failure.halted)
    }
}

/// Milliseconds since the Unix epoch, now (0 for a clock set before 1970).
pub fn now_ms() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

/// One write of an atomic commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOp<'a> {
    /// Sets the record and the metadata at `key`.
    Put {
        /// The key (the group's prefix, then the machine id).
        key: &'a [u8],
        /// The record bytes.
        record: &'a [u8],
        /// The metadata.
        meta: &'a Meta,
    },
    /// Replaces only the metadata at `key` (a failure recorded, a halt lifted); the record
    /// stays. Refused (as a per-write error) when no record exists at `key`.
    PutMeta {
        /// The key.
        key: &'a [u8],
        /// The new metadata.
        meta: &'a Meta,
    },
    /// Removes the record and the metadata at `key` (a no-op when absent).
    Delete {
        /// The key.
        key: &'a [u8],
    },
    /// Sets the header of the group stored under `prefix`.
    PutHeader {
        /// The group's key prefix.
        prefix: &'a [u8],
        /// The header.
        header: &'a Header,
    },
}

impl WriteOp<'_> {
    /// The key (or, for a header, the prefix) this write is about.
    pub fn key(&self) -> &[u8] {
        match self {
            Self::Put { key, .. } | Self::PutMeta { key, .. } | Self::Delete { key } => key,
            Self::PutHeader { prefix, .. } => prefix,
        }
    }
}

/// The outcome of a [`Store::commit`]: every write succeeded, or one result per write.
#[derive(Debug, Clone, Default)]
pub struct Committed {
    /// `None`: every write succeeded (the common case allocates nothing).
    each: Option<Vec<Result<(), StoreError>>>,
}

impl Committed {
    /// Every write succeeded.
    pub fn all() -> Self {
        Self { each: None }
    }

    /// One result per write, in the order of the writes.
    pub fn each(results: Vec<Result<(), StoreError>>) -> Self {
        Self {
            each: Some(results),
        }
    }

    /// The result of write `index`. A store that returned fewer results than writes fails the
    /// missing ones.
    pub fn result(&self, index: usize) -> Result<(), StoreError> {
        match &self.each {
            None => Ok(()),
            Some(results) => results.get(index).cloned().unwrap_or_else(|| {
                Err(StoreError::damaged(
                    "the store returned no result for this write",
                ))
            }),
        }
    }

    /// Whether every write succeeded.
    pub fn is_all_ok(&self) -> bool {
        self.each
            .as_ref()
            .is_none_or(|results| results.iter().all(Result::is_ok))
    }
}

/// Which machines a [`ScanRequest`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter<'a> {
    /// Every machine.
    All,
    /// The machines whose [`Meta::status`] is this one (served by the status index).
    Status(&'a str),
    /// The machines with a failure record.
    Failed,
    /// The machines in a non-final status.
    Active,
}

/// One page of a scan: the entries under `prefix` that pass `filter`, in key order, starting
/// after the key `after`, at most `limit` of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanRequest<'a> {
    /// The group's key prefix (empty: every key).
    pub prefix: &'a [u8],
    /// Which machines to return.
    pub filter: Filter<'a>,
    /// Start after this key (a cursor: the last key of the previous page).
    pub after: Option<&'a [u8]>,
    /// At most this many entries (at least one is returned when any is left).
    pub limit: usize,
    /// Whether to return the record bytes as well, or only keys and metadata.
    pub with_records: bool,
}

/// Why an entry's metadata is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MetaError {
    /// The record has no metadata (a store written by an older version, before an upgrade).
    #[error("the record has no engine metadata")]
    Missing,
    /// The metadata bytes cannot be decoded.
    #[error("the engine metadata is damaged: {0}")]
    Damaged(String),
}

/// One machine as a scan or a read returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The full key (prefix and id).
    pub key: Vec<u8>,
    /// The record bytes (`None` when the request did not ask for them, or when the entry is an
    /// index entry whose record is missing, which [`Entry::meta`] then reports).
    pub record: Option<Vec<u8>>,
    /// The metadata, or why it is not usable.
    pub meta: Result<Meta, MetaError>,
}

/// One page of a [`Store::scan`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanPage {
    /// The entries, in key order.
    pub entries: Vec<Entry>,
    /// The cursor of the next page (`ScanRequest::after`), or `None` when this was the last.
    pub next: Option<Vec<u8>>,
}

/// A store of machine records and their metadata.
///
/// Implementations must make [`Store::commit`] atomic (all writes or none, except writes the
/// store refuses one by one, see [`Committed`]) and, for a durable store, durable when it
/// returns. Reads see only committed data.
pub trait Store: Send + Sync + 'static {
    /// The record and metadata at `key`.
    fn get<'a>(&'a self, key: &'a [u8]) -> StoreFuture<'a, Option<Entry>>;

    /// One page of a scan.
    fn scan<'a>(&'a self, request: ScanRequest<'a>) -> StoreFuture<'a, ScanPage>;

    /// One page of the machines whose entry funcs this process may resume: resume on open and
    /// [`Group::resume`](crate::Group::resume) call this with [`Filter::Active`] and records. The
    /// default is [`Store::scan`]. A store shared by several processes returns only the machines
    /// this process owns or can take over, and takes them.
    fn scan_resumable<'a>(&'a self, request: ScanRequest<'a>) -> StoreFuture<'a, ScanPage> {
        self.scan(request)
    }

    /// Applies `ops` in one atomic commit, in order.
    fn commit<'a>(&'a self, ops: &'a [WriteOp<'a>]) -> StoreFuture<'a, Committed>;

    /// The header of the group stored under `prefix`, if one was written.
    fn header<'a>(&'a self, prefix: &'a [u8]) -> StoreFuture<'a, Option<Header>>;

    /// Releases the store (files, locks, connections) once every operation under way has
    /// finished. Every later call, through any handle, fails with [`StoreError::Closed`].
    /// Idempotent.
    fn close(&self) -> StoreFuture<'_, ()>;

    /// Whether the group should collect the writes of many machines into one
    /// [`Store::commit`] (true for stores whose commit is expensive, such as an fsync or a round
    /// trip to a server). When false, each machine commits its own writes.
    fn prefers_group_commit(&self) -> bool {
        true
    }

    /// Whether several processes share this store, each owning part of the machines: then the
    /// group asks [`Store::check_owner`] before it takes an input, and follows
    /// [`Store::takeovers`]. `false` by default.
    fn is_shared(&self) -> bool {
        false
    }

    /// For a shared store ([`Store::is_shared`]): refuses at once, without a round trip, a
    /// write of `key` this process knows it may not make ([`StoreError::NotOwner`]), so that
    /// the group hands a send's input back untouched, ready to be forwarded to the owner. The
    /// commit still decides: ownership can move between this check and the commit. The
    /// default allows every key.
    fn check_owner(&self, key: &[u8]) -> Result<(), StoreError> {
        let _ = key;
        Ok(())
    }

    /// Tells the store that the record it returned last for `key` (by [`Store::get`] or a
    /// scan) is now the caller's working copy of the machine, which its next write builds on.
    /// The group calls it when it loads a machine to run it or resumes one, not for reads
    /// that only look. A shared store that refuses writes from copies that may be stale
    /// (another process wrote the record since this process's copy was made) counts such a
    /// copy as fresh again. The default does nothing.
    fn adopted(&self, key: &[u8]) {
        let _ = key;
    }

    /// For a store shared by several processes: a counter the store raises each time this
    /// process takes over machines another process ran (a dead or leaving process's share), so
    /// that the group resumes them ([`Store::scan_taken_over`]). `None` (the default): the
    /// store is not shared, nothing is ever taken over.
    fn takeovers(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }

    /// One page of the non-final machines this process took over in the takeovers numbered
    /// `after + 1 ..= through` (see [`Store::takeovers`]) and still holds, with records; the
    /// group resumes them as resume on open would. The default (a store that is not shared)
    /// has none.
    fn scan_taken_over<'a>(
        &'a self,
        request: ScanRequest<'a>,
        after: u64,
        through: u64,
    ) -> StoreFuture<'a, ScanPage> {
        let _ = (request, after, through);
        Box::pin(std::future::ready(Ok(ScanPage::default())))
    }
}

impl<S: Store + ?Sized> Store for Arc<S> {
    fn get<'a>(&'a self, key: &'a [u8]) -> StoreFuture<'a, Option<Entry>> {
        (**self).get(key)
    }

    fn scan<'a>(&'a self, request: ScanRequest<'a>) -> StoreFuture<'a, ScanPage> {
        (**self).scan(request)
    }

    fn scan_resumable<'a>(&'a self, request: ScanRequest<'a>) -> StoreFuture<'a, ScanPage> {
        (**self).scan_resumable(request)
    }

    fn commit<'a>(&'a self, ops: &'a [WriteOp<'a>]) -> StoreFuture<'a, Committed> {
        (**self).commit(ops)
    }

    fn header<'a>(&'a self, prefix: &'a [u8]) -> StoreFuture<'a, Option<Header>> {
        (**self).header(prefix)
    }

    fn close(&self) -> StoreFuture<'_, ()> {
        (**self).close()
    }

    fn prefers_group_commit(&self) -> bool {
        (**self).prefers_group_commit()
    }

    fn is_shared(&self) -> bool {
        (**self).is_shared()
    }

    fn adopted(&self, key: &[u8]) {
        (**self).adopted(key);
    }

    fn check_owner(&self, key: &[u8]) -> Result<(), StoreError> {
        (**self).check_owner(key)
    }

    fn takeovers(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        (**self).takeovers()
    }

    fn scan_taken_over<'a>(
        &'a self,
        request: ScanRequest<'a>,
        after: u64,
        through: u64,
    ) -> StoreFuture<'a, ScanPage> {
        (**self).scan_taken_over(request, after, through)
    }
}

/// A store operation failed.
///
/// Cloneable because one failed group commit is reported to every machine in it.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend reported an error.
    #[error("store backend error: {0}")]
    Backend(Arc<dyn std::error::Error + Send + Sync + 'static>),
    /// The stored bytes are damaged or not a store of this kind; the text says what was found.
    #[error("store is damaged: {0}")]
    Damaged(Arc<str>),
    /// The store failed in a way it cannot recover from (for example a panic inside the
    /// embedded engine); every call fails like this until the store is reopened.
    #[error("store has failed and must be reopened: {0}")]
    Failed(Arc<str>),
    /// The store was closed ([`Store::close`]).
    #[error("store is closed")]
    Closed,
    /// The machine belongs to another process sharing the store: the write was not made.
    /// Send the input to `owner` (at `address`, when it advertised one), or retry once
    /// ownership has moved here. `owner` is `None` while no process owns the machine (its
    /// owner's lease ran out and no one has taken it yet): retry shortly.
    #[error("{source}")]
    NotOwner {
        /// The owning process, as the store names it.
        owner: Option<String>,
        /// The address the owner advertised, if any.
        address: Option<String>,
        /// The backend's error, with the details.
        source: Arc<dyn std::error::Error + Send + Sync + 'static>,
    },
}

impl StoreError {
    /// Wraps a backend error.
    pub fn backend(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Backend(Arc::new(error))
    }

    /// Damage described by `what`.
    pub fn damaged(what: impl Into<Arc<str>>) -> Self {
        Self::Damaged(what.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_kind_names_round_trip() {
        for kind in FailureKind::ALL {
            assert_eq!(FailureKind::from_name(kind.as_str()), Some(kind));
        }
        assert_eq!(FailureKind::from_name("nope"), None);
    }

    #[test]
    fn committed_reports_missing_results_as_errors() {
        assert!(Committed::all().result(7).is_ok());
        let each = Committed::each(vec![Ok(())]);
        assert!(each.result(0).is_ok());
        assert!(matches!(each.result(1), Err(StoreError::Damaged(_))));
    }
}
