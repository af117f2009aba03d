//! [`GroupBuilder`]: the choices made when a group is opened.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::{Notify, broadcast};

use super::commit::Committer;
use super::core::{Shared, Slot};
use super::stats::AtomicCounters;
use super::{EntryErrorPolicy, Group, worker};
use crate::codec::{Codec, DagCbor};
use crate::id::MachineId;
use crate::machine::RunEntry;
use crate::store::{Store, StoreError};

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
    prefix: Vec<u8>,
    shards: usize,
    notification_capacity: usize,
    max_commit_batch: usize,
    _types: PhantomData<fn() -> (M, I)>,
}

/// Why [`GroupBuilder::open`] failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Scanning the store for resume-on-open failed.
    #[error("cannot scan the store: {0}")]
    Store(#[from] StoreError),
    /// The committer thread could not be started.
    #[error("cannot start the committer thread: {0}")]
    Thread(#[from] std::io::Error),
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
            prefix: Vec::new(),
            shards: 64,
            notification_capacity: 1024,
            max_commit_batch: 4096,
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
            prefix: self.prefix,
            shards: self.shards,
            notification_capacity: self.notification_capacity,
            max_commit_batch: self.max_commit_batch,
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
    /// Opens the group. Must be called inside a tokio runtime. With resume on open, starts the
    /// entry func of every non-final machine that has one (corrupt records are logged and
    /// skipped; they report their error when used).
    pub async fn open(self) -> Result<Group<M, H, I, S, C>, OpenError> {
        let store = Arc::new(self.store);
        let counters = Arc::new(AtomicCounters::default());
        let committer = if store.prefers_group_commit() {
            Some(Committer::start(
                Arc::clone(&store),
                Arc::clone(&counters),
                self.max_commit_batch,
            )?)
        } else {
            None
        };
        let (notifications, _) = broadcast::channel(self.notification_capacity);
        let shared = Arc::new(Shared {
            shards: (0..self.shards).map(|_| Mutex::default()).collect(),
            hasher: Default::default(),
            store,
            codec: self.codec,
            handler: self.handler,
            policy: self.policy,
            prefix: self.prefix,
            notifications,
            subscribers: Arc::default(),
            counters,
            committer,
            stopping: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            active: AtomicUsize::new(0),
            idle: Notify::new(),
            opened_at: Instant::now(),
            record_len_hint: AtomicUsize::new(0),
        });
        if self.resume {
            resume(&shared)?;
        }
        Ok(Group { shared })
    }
}

/// Runs the entry func of every non-final machine the store hands out for resuming
/// ([`Store::scan_resumable`]) that is not busy in this group, and returns how many. The record
/// read replaces an idle machine's cached one.
pub(super) fn resume<M, H, I, S, C>(
    shared: &Arc<Shared<M, H, I, S, C>>,
) -> Result<usize, StoreError>
where
    M: RunEntry<H>,
    H: Send + Sync + 'static,
    I: MachineId,
    S: Store,
    C: Codec<M::State>,
{
    let mut machines = Vec::new();
    shared.store.scan_resumable(&shared.prefix, &mut |key, value| {
        let id = match I::from_key(&key[shared.prefix.len()..]) {
            Ok(id) => id,
            Err(error) => {
                tracing::warn!(machine = M::NAME, %error, "resume: skipping key");
                return;
            }
        };
        match shared.codec.decode(value) {
            Ok(state) => {
                let status = M::status(&state);
                if !M::is_final(status) && M::entry_func(status).is_some() {
                    machines.push((id, state));
                }
            }
            Err(error) => {
                tracing::warn!(machine = M::NAME, id = %id.display(), %error, "resume: skipping corrupt record");
            }
        }
    })?;
    tracing::debug!(
        machine = M::NAME,
        count = machines.len(),
        "resuming machines"
    );
    let mut resumed = 0;
    for (id, state) in machines {
        let mut shard = shared.lock(shared.shard_of(&id));
        // Checked under the shard lock, like a send: `stop` either sees this task or we see it.
        if shared.is_stopping() {
            break;
        }
        if shard.get(&id).is_some_and(|slot| slot.busy) {
            // Running here already: its own task keeps it going.
            continue;
        }
        let mut slot = Slot::new(Some(state));
        slot.busy = true;
        shard.insert(id.clone(), slot);
        shared.enter();
        drop(shard);
        worker::spawn(Arc::clone(shared), id, true);
        resumed += 1;
    }
    Ok(resumed)
}
