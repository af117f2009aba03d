//! [`GroupBuilder`]: the choices made when a group is opened.

use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize};

use tokio::sync::{Notify, broadcast};

use super::commit::Committer;
use super::core::{Shared, Slot};
use super::error::ReadError;
use super::stats::AtomicCounters;
use super::status_names::StatusNames;
use super::{EntryErrorPolicy, Group, ResumeReport, worker};
use crate::codec::{Codec, DagCbor};
use crate::id::MachineId;
use crate::machine::{Machine, RunEntry};
use crate::store::{
    Filter, Header, MetaError, STORE_FORMAT, ScanRequest, Store, StoreError, WriteOp, now_ms,
};

/// How many records resume and the upgrade read per store page.
const PAGE: usize = 1024;

/// Builds a [`Group`]: store, handler, codec, entry-error policy, resume-on-open and sizing.
///
/// ```ignore
/// let group = GroupBuilder::<MyFsm, MyEnv, u64, _>::new(RedbStore::open(path)?, env)
///     .entry_error_policy(EntryErrorPolicy::KeepGoing)
///     .resume_on_open(true)
///     .open()
///     .await?;
/// ```
pub struct GroupBuilder<M, H, I, S, C = DagCbor> {
    store: S,
    handler: H,
    codec: C,
    policy: EntryErrorPolicy,
    resume: bool,
    upgrade: bool,
    name: Option<String>,
    prefix: Vec<u8>,
    shards: usize,
    notification_capacity: usize,
    max_commit_batch: usize,
    queue_bound: usize,
    _types: PhantomData<fn() -> (M, I)>,
}

/// The default of [`GroupBuilder::queue_bound`].
pub const DEFAULT_QUEUE_BOUND: usize = 1024;

/// Why [`GroupBuilder::open`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// Reading or writing the store failed.
    #[error("cannot open group: {0}")]
    Store(#[from] StoreError),
    /// The store holds records under the group's prefix but no group header: it was written
    /// by an older version of this library.
    #[error(
        "group {group:?}: the store holds records under key prefix {prefix:02x?} but no group \
         header, so it was written by an older version; open it once with \
         GroupBuilder::upgrade_unversioned(true) to build the engine metadata from the records"
    )]
    Unversioned {
        /// The group being opened.
        group: String,
        /// Its key prefix.
        prefix: Vec<u8>,
    },
    /// The records under the prefix belong to another group.
    #[error("key prefix {prefix:02x?} holds group {found:?}, not {expected:?}")]
    WrongGroup {
        /// The key prefix.
        prefix: Vec<u8>,
        /// The group being opened.
        expected: String,
        /// The group the header names.
        found: String,
    },
    /// The records were written with another codec.
    #[error(
        "group {group:?} was written with codec {found:?}, but is opened with codec {expected:?}"
    )]
    WrongCodec {
        /// The group.
        group: String,
        /// The codec the group is opened with.
        expected: String,
        /// The codec the header names.
        found: String,
    },
    /// The group was written by a newer version of this library.
    #[error(
        "group {group:?} has store format {found}; this version reads format {supported} and older"
    )]
    FormatTooNew {
        /// The group.
        group: String,
        /// The format in the header.
        found: u32,
        /// The newest format this version reads.
        supported: u32,
    },
    /// `open` was called outside a tokio runtime.
    #[error("a group must be opened inside a tokio runtime")]
    NoRuntime,
}

impl<M, H, I, S> GroupBuilder<M, H, I, S, DagCbor> {
    /// A builder over `store` with entry-func environment `handler`, the [`DagCbor`] codec,
    /// [`EntryErrorPolicy::KeepGoing`] and no resume on open.
    pub fn new(store: S, handler: H) -> Self {
        Self {
            store,
            handler,
            codec: DagCbor,
            policy: EntryErrorPolicy::default(),
            resume: false,
            upgrade: false,
            name: None,
            prefix: Vec::new(),
            shards: 64,
            notification_capacity: 1024,
            max_commit_batch: 4096,
            queue_bound: DEFAULT_QUEUE_BOUND,
            _types: PhantomData,
        }
    }
}

impl<M, H, I, S, C> GroupBuilder<M, H, I, S, C> {
    /// Uses `codec` to encode records.
    pub fn codec<C2>(self, codec: C2) -> GroupBuilder<M, H, I, S, C2> {
        GroupBuilder {
            store: self.store,
            handler: self.handler,
            codec,
            policy: self.policy,
            resume: self.resume,
            upgrade: self.upgrade,
            name: self.name,
            prefix: self.prefix,
            shards: self.shards,
            notification_capacity: self.notification_capacity,
            max_commit_batch: self.max_commit_batch,
            queue_bound: self.queue_bound,
            _types: PhantomData,
        }
    }

    /// What happens to a machine whose entry func fails (default: keep going).
    pub fn entry_error_policy(mut self, policy: EntryErrorPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Whether opening re-runs the entry func of every non-final machine (default: false, like
    /// Go, which never resumes).
    pub fn resume_on_open(mut self, resume: bool) -> Self {
        self.resume = resume;
        self
    }

    /// The group's name, kept in its store header (default: the machine's name). Opening a
    /// key prefix that holds another group's records fails with [`OpenError::WrongGroup`].
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Whether opening a store written by an older version of this library (records without
    /// engine metadata and no group header) upgrades it: every record is read once, its
    /// metadata (status, final or not) is built from it and written beside it, and the header
    /// is written last, so an interrupted upgrade is finished by opening again. The last-activity
    /// time of an upgraded machine is the time of the upgrade; records that cannot be decoded
    /// are left without metadata and reported by listings. Without this option such a store is
    /// refused with [`OpenError::Unversioned`] (default: false).
    pub fn upgrade_unversioned(mut self, upgrade: bool) -> Self {
        self.upgrade = upgrade;
        self
    }

    /// Prefixes every store key, so that several groups can share one store (default: none;
    /// the group then owns the whole store for `list`).
    pub fn key_prefix(mut self, prefix: impl Into<Vec<u8>>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The number of lock shards of the in-memory machine index (default 64).
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = shards.max(1);
        self
    }

    /// How many notifications a subscriber may fall behind before it lags (default 1024).
    pub fn notification_capacity(mut self, capacity: usize) -> Self {
        self.notification_capacity = capacity.max(1);
        self
    }

    /// The most inputs from callers one machine's queue holds (default
    /// [`DEFAULT_QUEUE_BOUND`], at least 1). At the bound, [`Group::send`] and
    /// [`Group::send_sync`] wait for room and [`Group::try_send`] returns
    /// [`SendError::Full`](super::SendError::Full). Inputs the machine's own entry funcs trigger
    /// do not count and never wait; neither do sends made from inside any entry func, because
    /// an entry func waiting for room in a machine whose entry func waits for room in its own
    /// machine would deadlock both. The queue therefore may exceed the bound by those inputs.
    pub fn queue_bound(mut self, inputs: usize) -> Self {
        self.queue_bound = inputs.max(1);
        self
    }

    /// The most record writes one group commit holds (default 4096).
    pub fn max_commit_batch(mut self, writes: usize) -> Self {
        self.max_commit_batch = writes.max(1);
        self
    }
}

impl<M, H, I, S, C> GroupBuilder<M, H, I, S, C>
where
    M: RunEntry<H>,
    H: Send + Sync + 'static,
    I: MachineId,
    S: Store,
    C: Codec<M::State>,
{
    /// Opens the group. Must be called inside a tokio runtime.
    ///
    /// Reads the group's header: a fresh prefix gets one; a header of another group, codec or
    /// newer format is refused; records without a header are refused unless
    /// [`upgrade_unversioned`](Self::upgrade_unversioned) is set. With resume on open, then
    /// starts the entry func of every non-final, non-halted machine that has one; records that
    /// cannot be read are logged and skipped (they report their error when used, and
    /// [`Group::resume`] returns them).
    pub async fn open(self) -> Result<Group<M, H, I, S, C>, OpenError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(OpenError::NoRuntime);
        }
        let name = self.name.unwrap_or_else(|| M::NAME.to_owned());
        let store = Arc::new(self.store);
        let names = StatusNames::<M>::new();
        check_header::<M, C>(
            &*store,
            &self.prefix,
            &name,
            &self.codec,
            self.upgrade,
            &names,
        )
        .await?;
        let counters = Arc::new(AtomicCounters::default());
        let committer = store.prefers_group_commit().then(|| {
            Committer::start(
                Arc::clone(&store),
                Arc::clone(&counters),
                self.max_commit_batch,
            )
        });
        let (notifications, _) = broadcast::channel(self.notification_capacity);
        let shared = Arc::new(Shared {
            shards: (0..self.shards).map(|_| Mutex::default()).collect(),
            room: (0..self.shards).map(|_| Notify::new()).collect(),
            queue_bound: self.queue_bound,
            cancelled: AtomicBool::new(false),
            cancel: Notify::new(),
            hasher: Default::default(),
            store_is_shared: store.is_shared(),
            store,
            codec: self.codec,
            names,
            handler: self.handler,
            policy: self.policy,
            prefix: self.prefix,
            notifications,
            subscribers: Arc::default(),
            counters,
            committer,
            stopping: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            active: AtomicUsize::new(0),
            idle: Notify::new(),
            record_len_hint: AtomicUsize::new(0),
            takeover_task: std::sync::Mutex::new(None),
        });
        if self.resume {
            // Subscribed before resuming: a takeover while resume on open runs is followed
            // (its machines resumed twice at worst, never missed).
            let takeovers = shared.store.takeovers();
            let report = resume(&shared).await.map_err(|error| match error {
                ReadError::Store(error) => OpenError::Store(error),
                other => OpenError::Store(StoreError::damaged(other.to_string())),
            })?;
            for error in &report.errors {
                tracing::warn!(machine = M::NAME, %error, "resume on open: skipping a record");
            }
            if let Some(takeovers) = takeovers {
                let task = follow_takeovers(&shared, takeovers);
                *shared.takeover_task() = Some(task);
            }
        }
        Ok(Group { shared })
    }
}

/// Checks (or writes, or builds by upgrading) the header of the group under `prefix`.
async fn check_header<M, C>(
    store: &impl Store,
    prefix: &[u8],
    name: &str,
    codec: &C,
    upgrade: bool,
    names: &StatusNames<M>,
) -> Result<(), OpenError>
where
    M: Machine,
    C: Codec<M::State>,
{
    let wanted = Header {
        format: STORE_FORMAT,
        group: name.to_owned(),
        codec: codec.name().to_owned(),
    };
    if let Some(found) = store.header(prefix).await? {
        if found.format > STORE_FORMAT {
            return Err(OpenError::FormatTooNew {
                group: name.to_owned(),
                found: found.format,
                supported: STORE_FORMAT,
            });
        }
        if found.group != wanted.group {
            return Err(OpenError::WrongGroup {
                prefix: prefix.to_vec(),
                expected: wanted.group,
                found: found.group,
            });
        }
        if found.codec != wanted.codec {
            return Err(OpenError::WrongCodec {
                group: wanted.group,
                expected: wanted.codec,
                found: found.codec,
            });
        }
        return Ok(());
    }
    let first = ScanRequest {
        prefix,
        filter: Filter::All,
        after: None,
        limit: 1,
        with_records: true,
    };
    let has_records = !store.scan(first).await?.entries.is_empty();
    if has_records {
        if !upgrade {
            return Err(OpenError::Unversioned {
                group: wanted.group,
                prefix: prefix.to_vec(),
            });
        }
        upgrade_records(store, prefix, codec, names).await?;
    }
    let op = WriteOp::PutHeader {
        prefix,
        header: &wanted,
    };
    store.commit(std::slice::from_ref(&op)).await?.result(0)?;
    Ok(())
}

/// Builds the metadata of every record under `prefix` that has none, page by page.
async fn upgrade_records<M, C>(
    store: &impl Store,
    prefix: &[u8],
    codec: &C,
    names: &StatusNames<M>,
) -> Result<(), StoreError>
where
    M: Machine,
    C: Codec<M::State>,
{
    let mut after: Option<Vec<u8>> = None;
    let (mut upgraded, mut damaged) = (0_usize, 0_usize);
    loop {
        let request = ScanRequest {
            prefix,
            filter: Filter::All,
            after: after.as_deref(),
            limit: PAGE,
            with_records: true,
        };
        let page = store.scan(request).await?;
        let mut metas = Vec::new();
        for entry in &page.entries {
            if !matches!(entry.meta, Err(MetaError::Missing)) {
                continue;
            }
            let Some(record) = &entry.record else {
                continue;
            };
            match codec.decode(record) {
                Ok(state) => {
                    let status = M::status(&state);
                    let mut meta = crate::store::Meta::new(names.name(status), M::is_final(status));
                    meta.last_active_ms = now_ms();
                    metas.push((entry.key.as_slice(), meta));
                }
                Err(error) => {
                    damaged += 1;
                    tracing::warn!(machine = M::NAME, key = ?entry.key, %error, "upgrade: record cannot be decoded; left without metadata");
                }
            }
        }
        let ops: Vec<WriteOp<'_>> = metas
            .iter()
            .map(|(key, meta)| WriteOp::PutMeta { key, meta })
            .collect();
        if !ops.is_empty() {
            let committed = store.commit(&ops).await?;
            for index in 0..ops.len() {
                committed.result(index)?;
            }
            upgraded += ops.len();
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    tracing::info!(
        machine = M::NAME,
        upgraded,
        damaged,
        "upgraded a store written by an older version"
    );
    Ok(())
}

/// Runs the entry func of every non-final, non-halted machine the store hands out for resuming
/// ([`Store::scan_resumable`]) that is not busy in this group, page by page, and reports how
/// many and which records could not be read. The record read replaces an idle machine's
/// cached one.
pub(super) async fn resume<M, H, I, S, C>(
    shared: &Arc<Shared<M, H, I, S, C>>,
) -> Result<ResumeReport<I>, ReadError<I>>
where
    M: RunEntry<H>,
    H: Send + Sync + 'static,
    I: MachineId,
    S: Store,
    C: Codec<M::State>,
{
    let report = resume_from(shared, Resumable::All).await?;
    tracing::debug!(
        machine = M::NAME,
        resumed = report.resumed,
        "resumed machines"
    );
    Ok(report)
}

/// Which machines [`resume_from`] asks the store for.
#[derive(Debug, Clone, Copy)]
enum Resumable {
    /// [`Store::scan_resumable`]: every machine this process may resume.
    All,
    /// [`Store::scan_taken_over`]: the machines of the takeovers `after + 1 ..= through`.
    TakenOver { after: u64, through: u64 },
}

/// Resumes, page by page, the machines `which` names (see [`resume`]); stops early, with what
/// it resumed so far, when the group is stopping.
async fn resume_from<M, H, I, S, C>(
    shared: &Arc<Shared<M, H, I, S, C>>,
    which: Resumable,
) -> Result<ResumeReport<I>, StoreError>
where
    M: RunEntry<H>,
    H: Send + Sync + 'static,
    I: MachineId,
    S: Store,
    C: Codec<M::State>,
{
    let mut report = ResumeReport::default();
    let mut after: Option<Vec<u8>> = None;
    loop {
        let request = ScanRequest {
            prefix: &shared.prefix,
            filter: Filter::Active,
            after: after.as_deref(),
            limit: PAGE,
            with_records: true,
        };
        let page = match which {
            Resumable::All => shared.store.scan_resumable(request).await?,
            Resumable::TakenOver {
                after: taken_after,
                through,
            } => {
                shared
                    .store
                    .scan_taken_over(request, taken_after, through)
                    .await?
            }
        };
        if !resume_entries(shared, page.entries, &mut report) {
            return Ok(report);
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(report),
        }
    }
}

/// Resumes the machines of `entries` (see [`resume`]), adding to `report`; `false` when the
/// group is stopping and resuming should end.
fn resume_entries<M, H, I, S, C>(
    shared: &Arc<Shared<M, H, I, S, C>>,
    entries: Vec<crate::store::Entry>,
    report: &mut ResumeReport<I>,
) -> bool
where
    M: RunEntry<H>,
    H: Send + Sync + 'static,
    I: MachineId,
    S: Store,
    C: Codec<M::State>,
{
    for entry in entries {
        let id = match I::from_key(&entry.key[shared.prefix.len().min(entry.key.len())..]) {
            Ok(id) => id,
            Err(error) => {
                report.errors.push(ReadError::BadKey(error));
                continue;
            }
        };
        let meta = match entry.meta {
            Ok(meta) => Some(meta),
            // Without metadata the record itself still says whether to resume.
            Err(source) => {
                report.errors.push(ReadError::Meta {
                    id: id.clone(),
                    source,
                });
                None
            }
        };
        if meta.as_ref().is_some_and(crate::store::Meta::is_halted) {
            continue;
        }
        let Some(record) = entry.record else {
            continue;
        };
        let state = match shared.codec.decode(&record) {
            Ok(state) => state,
            Err(source) => {
                report.errors.push(ReadError::Corrupt { id, source });
                continue;
            }
        };
        let status = M::status(&state);
        if M::is_final(status) || M::entry_func(status).is_none() {
            continue;
        }
        let mut shard = shared.lock(shared.shard_of(&id));
        // Checked under the shard lock, like a send: `stop` either sees this task or we see it.
        if shared.is_stopping() {
            return false;
        }
        if shard.get(&id).is_some_and(|slot| slot.busy) {
            // Running here already: its own task keeps it going.
            continue;
        }
        let mut slot = Slot::loaded(state, meta.as_ref(), &shared.names);
        slot.busy = true;
        shard.insert(id.clone(), slot);
        // The scanned record is the machine's working copy now.
        shared.store.adopted(&entry.key);
        shared.enter();
        drop(shard);
        worker::spawn(Arc::clone(shared), id, true);
        report.resumed += 1;
    }
    true
}

/// For a store shared by several processes: resumes, as resume on open would, the machines
/// this process takes over from another one ([`Store::takeovers`]), until the group stops or
/// the store closes. Holds the group weakly, so a dropped group ends it.
fn follow_takeovers<M, H, I, S, C>(
    shared: &Arc<Shared<M, H, I, S, C>>,
    mut takeovers: tokio::sync::watch::Receiver<u64>,
) -> tokio::task::JoinHandle<()>
where
    M: RunEntry<H>,
    H: Send + Sync + 'static,
    I: MachineId,
    S: Store,
    C: Codec<M::State>,
{
    let group = Arc::downgrade(shared);
    // The takeover number when the receiver was made: later ones are followed.
    let mut seen = *takeovers.borrow();
    tokio::spawn(async move {
        // Ends when the store drops its side (closed).
        while takeovers.changed().await.is_ok() {
            let through = *takeovers.borrow_and_update();
            let Some(shared) = group.upgrade() else {
                return;
            };
            if shared.is_stopping() {
                return;
            }
            let which = Resumable::TakenOver {
                after: seen,
                through,
            };
            let report = match resume_from(&shared, which).await {
                Ok(report) => report,
                Err(error) => {
                    // The machines stay in this process's hands; `Group::resume` picks them up.
                    tracing::warn!(machine = M::NAME, %error, "resuming taken-over machines failed");
                    ResumeReport::default()
                }
            };
            if shared.is_stopping() {
                return;
            }
            for error in &report.errors {
                tracing::warn!(machine = M::NAME, %error, "takeover: skipping a record");
            }
            tracing::info!(
                machine = M::NAME,
                resumed = report.resumed,
                "resumed machines taken over from another instance"
            );
            seen = through;
        }
    })
}
