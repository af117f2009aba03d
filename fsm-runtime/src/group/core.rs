//! The state shared by a group's handle and its machine tasks: sharded slots, the store, the
//! committer, the lifecycle.

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{Notify, broadcast, oneshot};

use super::EntryErrorPolicy;
use super::commit::Committer;
use super::error::SendError;
use super::notify::{AppliedOf, Notification};
use super::stats::AtomicCounters;
use super::status_names::StatusNames;
use crate::codec::{Codec, CodecError};
use crate::id::MachineId;
use crate::machine::Machine;
use crate::store::{Failure, Meta, Store, StoreError, WriteOp, now_ms};

/// The reply channel of a `send_sync`.
pub(super) type Reply<M, I> = oneshot::Sender<Result<AppliedOf<M>, SendError<M, I>>>;

/// Where a queued input came from, which decides how its failure is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Source {
    /// A `send`/`send_sync` caller. `bounded`: it counts against the machine's queue bound
    /// (false for inputs sent from inside an entry func, which never wait). A failure goes
    /// back to the caller (`send_sync`) and is counted on the machine.
    Sender { bounded: bool },
    /// An entry func of the machine itself ([`Context::trigger`](crate::Context::trigger)):
    /// never bounded; a failure is the machine's failure record.
    Triggered,
}

/// One input waiting in a machine's queue.
pub(super) struct Queued<M: Machine, I: MachineId> {
    pub(super) input: M::Input,
    pub(super) reply: Option<Reply<M, I>>,
    pub(super) source: Source,
}

impl<M: Machine, I: MachineId> Queued<M, I> {
    /// Whether this input counts against the queue bound.
    pub(super) fn is_bounded(&self) -> bool {
        self.source == Source::Sender { bounded: true }
    }
}

/// Why a machine accepts no more events.
#[derive(Clone)]
pub(super) enum Ended<S> {
    /// It reached a final status.
    Final(S),
    /// An entry func failed under [`EntryErrorPolicy::Terminal`].
    Halted(S, Arc<str>),
}

/// A machine known to this process. An idle machine is just this: no task, no channel.
pub(super) struct Slot<M: Machine, I: MachineId> {
    /// The decoded record, equal to the stored one. `None` while a task holds it, or when it
    /// must be reloaded from the store.
    pub(super) state: Option<M::State>,
    /// Inputs waiting to be applied, in arrival order. Empty queues do not allocate.
    pub(super) queue: VecDeque<Queued<M, I>>,
    /// Whether a task is draining this machine (or a `begin` is creating it).
    pub(super) busy: bool,
    /// Set once the machine accepts no more events.
    pub(super) ended: Option<Ended<M::Status>>,
    /// When the machine was created or last applied an event (milliseconds since the Unix
    /// epoch), as its stored metadata says.
    pub(super) last_active_ms: u64,
    /// How many queued inputs count against the queue bound.
    pub(super) bounded: usize,
    /// How many inputs of callers this machine rejected since it was loaded.
    pub(super) rejected: u64,
}

impl<M: Machine, I: MachineId> Slot<M, I> {
    pub(super) fn new(state: Option<M::State>) -> Self {
        let ended = state
            .as_ref()
            .map(M::status)
            .filter(|status| M::is_final(*status))
            .map(Ended::Final);
        Self {
            state,
            queue: VecDeque::new(),
            busy: false,
            ended,
            last_active_ms: now_ms(),
            bounded: 0,
            rejected: 0,
        }
    }

    /// Queues `queued`, counting it against the bound when it is bounded.
    pub(super) fn push(&mut self, queued: Queued<M, I>) {
        self.bounded += usize::from(queued.is_bounded());
        self.queue.push_back(queued);
    }

    /// Takes the next queued input, uncounting it.
    pub(super) fn pop(&mut self) -> Option<Queued<M, I>> {
        let queued = self.queue.pop_front()?;
        self.bounded -= usize::from(queued.is_bounded());
        Some(queued)
    }

    /// A slot for a record loaded from the store with its metadata: a halt recorded there
    /// still holds.
    pub(super) fn loaded(state: M::State, meta: Option<&Meta>, names: &StatusNames<M>) -> Self {
        let mut slot = Self::new(Some(state));
        if let Some(meta) = meta {
            slot.last_active_ms = meta.last_active_ms;
            if slot.ended.is_none() {
                slot.ended = halted(meta, names);
            }
        }
        slot
    }
}

/// The halt a machine's metadata records, if any.
pub(super) fn halted<M: Machine>(meta: &Meta, names: &StatusNames<M>) -> Option<Ended<M::Status>> {
    let failure = meta.failure.as_ref().filter(|failure| failure.halted)?;
    let status = names.status(&failure.status)?;
    Some(Ended::Halted(status, Arc::clone(&failure.error)))
}

/// The hasher of the shard index and the shard maps: foldhash, seeded per instance. An id is
/// hashed twice per operation (shard, then map), each a few instructions for integer ids.
pub(super) type IdHasher = foldhash::fast::RandomState;

/// One shard of the machine index. Its hasher is seeded independently of the shard selector's,
/// so the ids of one shard (which share `hash % shards`) still spread over the map's buckets.
pub(super) type Shard<M, I> = HashMap<I, Slot<M, I>, IdHasher>;

/// Everything a group's handle and its tasks share.
pub(super) struct Shared<M: Machine, H, I: MachineId, S, C> {
    pub(super) shards: Box<[Mutex<Shard<M, I>>]>,
    /// One per shard: wakes senders waiting for room in a queue of that shard.
    pub(super) room: Box<[Notify]>,
    /// The most bounded inputs one machine's queue holds.
    pub(super) queue_bound: usize,
    /// Set when `stop`'s deadline passed: entry funcs are cancelled and tasks exit.
    pub(super) cancelled: AtomicBool,
    /// Wakes entry funcs that are running when `cancelled` is set.
    pub(super) cancel: Notify,
    pub(super) hasher: IdHasher,
    pub(super) store: Arc<S>,
    /// [`Store::is_shared`], read once at open.
    pub(super) store_is_shared: bool,
    pub(super) codec: C,
    /// How statuses are named in the store's metadata.
    pub(super) names: StatusNames<M>,
    pub(super) handler: H,
    pub(super) policy: EntryErrorPolicy,
    pub(super) prefix: Vec<u8>,
    pub(super) notifications: broadcast::Sender<Notification<M, I>>,
    /// Live [`Subscription`](super::Subscription)s.
    pub(super) subscribers: Arc<AtomicUsize>,
    pub(super) counters: Arc<AtomicCounters>,
    pub(super) committer: Option<Committer>,
    pub(super) stopping: AtomicBool,
    pub(super) stopped: AtomicBool,
    /// Set by [`Group::close`](super::Group::close): reads fail with `Closed`.
    pub(super) closed: AtomicBool,
    /// Machine tasks (and `begin`s) in flight.
    pub(super) active: AtomicUsize,
    pub(super) idle: Notify,
    /// The largest encoded record so far: [`Shared::record_len_hint`].
    pub(super) record_len_hint: AtomicUsize,
    /// The task resuming machines taken over from another process (shared stores, with resume
    /// on open); aborted when the group stops.
    pub(super) takeover_task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl<M, H, I, S, C> Shared<M, H, I, S, C>
where
    M: Machine,
    H: Send + Sync + 'static,
    I: MachineId,
    S: Store,
    C: Codec<M::State>,
{
    /// The shard of `id`. Callers that lock it more than once per operation keep the reference
    /// instead of hashing again.
    pub(super) fn shard_of(&self, id: &I) -> &Mutex<Shard<M, I>> {
        &self.shards[self.shard_index(id)]
    }

    /// The index of `id`'s shard (in `shards` and `room`).
    pub(super) fn shard_index(&self, id: &I) -> usize {
        // The modulo keeps the index in bounds; truncating the hash is intended.
        (self.hasher.hash_one(id) as usize) % self.shards.len()
    }

    /// Wakes the senders waiting for room in every queue (stop, cancel).
    pub(super) fn wake_all_senders(&self) {
        for room in self.room.iter() {
            room.notify_waiters();
        }
    }

    /// Whether `stop`'s deadline passed.
    pub(super) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    pub(super) fn lock<'a>(&self, shard: &'a Mutex<Shard<M, I>>) -> MutexGuard<'a, Shard<M, I>> {
        // Nothing panics while a shard lock is held (user code never runs under it), but if it
        // ever did, the map itself is still consistent.
        shard
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(super) fn key(&self, id: &I) -> Vec<u8> {
        let mut key = Vec::with_capacity(self.prefix.len() + 16);
        key.extend_from_slice(&self.prefix);
        id.write_key(&mut key);
        key
    }

    /// Reads and decodes the stored record of `id`, with its metadata when that is usable
    /// (a record whose metadata is missing or damaged still loads; listings report the damage).
    /// `working`: the record becomes the machine's working copy ([`Store::adopted`]), as
    /// opposed to a read that only looks.
    pub(super) async fn load(
        &self,
        id: &I,
        working: bool,
    ) -> Result<Option<(M::State, Option<Meta>)>, LoadError> {
        let key = self.key(id);
        let Some(entry) = self.store.get(&key).await.map_err(LoadError::Store)? else {
            return Ok(None);
        };
        let Some(record) = entry.record else {
            // Metadata without a record: there is no machine to load.
            return Ok(None);
        };
        let state = self.codec.decode(&record).map_err(LoadError::Corrupt)?;
        if working {
            self.store.adopted(&key);
        }
        Ok(Some((state, entry.meta.ok())))
    }

    /// The metadata of a machine whose record is `state`.
    pub(super) fn meta_for(
        &self,
        state: &M::State,
        last_active_ms: u64,
        failure: Option<Box<Failure>>,
    ) -> Meta {
        let status = M::status(state);
        Meta {
            status: self.names.name(status),
            is_final: M::is_final(status),
            last_active_ms,
            failure,
            record_version: 0,
        }
    }

    /// Writes a record and its metadata: through the committer when the store prefers group
    /// commit (which takes `value`, leaving it empty), inline otherwise (leaving `value` to be
    /// reused).
    pub(super) async fn save(
        &self,
        key: &[u8],
        value: &mut Vec<u8>,
        meta: Meta,
    ) -> Result<(), StoreError> {
        match &self.committer {
            Some(committer) => {
                committer
                    .write(key.to_vec(), Some(std::mem::take(value)), meta)
                    .await
            }
            None => {
                let op = WriteOp::Put {
                    key,
                    record: value,
                    meta: &meta,
                };
                let result = self.store.commit(std::slice::from_ref(&op)).await;
                AtomicCounters::bump(&self.counters.commits);
                result.and_then(|committed| committed.result(0))
            }
        }
    }

    /// Writes only the metadata of an existing machine (a failure record).
    pub(super) async fn save_meta(&self, key: &[u8], meta: Meta) -> Result<(), StoreError> {
        match &self.committer {
            Some(committer) => committer.write(key.to_vec(), None, meta).await,
            None => {
                let op = WriteOp::PutMeta { key, meta: &meta };
                let result = self.store.commit(std::slice::from_ref(&op)).await;
                AtomicCounters::bump(&self.counters.commits);
                result.and_then(|committed| committed.result(0))
            }
        }
    }

    /// The capacity to reserve before encoding a record: the largest record encoded so far, so
    /// an encode grows its buffer at most rarely instead of doubling from 8 bytes.
    pub(super) fn record_len_hint(&self) -> usize {
        self.record_len_hint.load(Ordering::Relaxed)
    }

    /// Raises the [`record_len_hint`](Self::record_len_hint) to `len`. Written only when it
    /// grows, so tasks on different cores do not keep invalidating each other's cache line.
    pub(super) fn note_record_len(&self, len: usize) {
        if len > self.record_len_hint.load(Ordering::Relaxed) {
            self.record_len_hint.fetch_max(len, Ordering::Relaxed);
        }
    }

    /// Whether anyone subscribed (one atomic load; the broadcast channel's own count locks).
    pub(super) fn has_subscribers(&self) -> bool {
        self.subscribers.load(Ordering::Relaxed) > 0
    }

    /// Counts a task (or `begin`) as in flight.
    pub(super) fn enter(&self) {
        self.active.fetch_add(1, Ordering::SeqCst);
    }

    /// Counts a task (or `begin`) as done, waking `stop` when it was the last.
    pub(super) fn leave(&self) {
        if self.active.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.idle.notify_waiters();
        }
    }

    /// The slot of the takeover task (see [`Shared::takeover_task`]).
    pub(super) fn takeover_task(
        &self,
    ) -> std::sync::MutexGuard<'_, Option<tokio::task::JoinHandle<()>>> {
        // The slot holds an `Option` only ever replaced whole: a poisoned lock's data is valid.
        self.takeover_task
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(super) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }
}

/// Why a record could not be loaded.
pub(super) enum LoadError {
    Store(StoreError),
    Corrupt(CodecError),
}
