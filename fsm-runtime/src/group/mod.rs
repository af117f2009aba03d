//! The durable, async state group: many machines of one [`Machine`] type, keyed by id, persisted
//! in a [`Store`], run on tokio (design §3–4).
//!
//! # Model
//!
//! * **Idle machines cost memory only.** The group keeps a sharded index (`N` shards of
//!   `Mutex<HashMap<Id, Slot>>`). A slot holds the decoded record, an (unallocated when empty)
//!   queue and a few flags. A tokio task is spawned only when a machine receives work and exits
//!   when its queue is drained (after yielding once, so that a sender answering a reply with its
//!   next event reuses it); idle machines own no task, stack, channel or queue buffer.
//! * **No group-wide lock.** A send locks one shard for a queue push. Go holds one group mutex
//!   across every `Send`, so a slow machine stalls all of them; here nothing does.
//! * **Save before reply.** Each round (one event, or a whole batch in consume-all mode) is
//!   applied to the machine's state, encoded with the group's [`Codec`] and saved; only then
//!   are `send_sync` callers answered, subscribers notified and entry funcs started. If the
//!   save fails, the round is rolled back to the saved record and every applied sender gets
//!   [`SendError::Store`]: nothing is half-applied.
//! * **Group commit.** With a store that
//!   [prefers group commit](crate::store::Store::prefers_group_commit) (redb), a committer
//!   thread collects the pending writes of all machines and commits them in one transaction,
//!   then acknowledges each. The in-memory store is written inline.
//! * **Entry funcs** run on the machine's task, after the save, with a borrow of the saved
//!   state (no copy). Inputs they trigger through [`Context`](crate::Context) join the back of
//!   the queue when the func returns (FIFO behind inputs that arrived meanwhile). Errors and
//!   panics (in entry funcs and actions) are caught, counted, recorded on the machine
//!   ([`Group::entry_failures`]) and sent to subscribers; the [`EntryErrorPolicy`] decides
//!   whether the machine keeps accepting events. Inputs triggered by a failed entry func are
//!   still applied under `KeepGoing` and dropped under `Terminal`.
//! * **Finality** ends a machine: inputs queued behind the final event and sent later get
//!   [`SendError::Terminated`] with the input handed back; the record stays readable.
//!
//! # Decisions the design leaves open
//!
//! * **No implicit creation.** Sending to an id that does not exist is
//!   [`SendError::UnknownId`]; Go instead creates and persists a zero record. Machines are
//!   created only by [`Group::begin`], which fails with [`BeginError::AlreadyExists`] when the
//!   id exists in memory or in the store.
//! * **No group-wide send lock** (see above). Sends from one task to one machine are applied in
//!   send order; concurrent senders to one machine are ordered by their shard-lock acquisition.
//! * **Reads come from the store.** [`Group::get`], [`Group::list`] and the introspection
//!   queries decode stored records, so they see exactly what was saved (never a half-applied
//!   batch). They are synchronous store reads.
//! * **Entry-func errors and halts live in memory.** They are not part of the record (whose
//!   bytes other implementations may read), so a restart forgets them; resume on open re-runs
//!   the entry func instead.
//! * **Stop** rejects new `begin`/`send` calls with a "stopped" error, lets every machine task
//!   finish its queue and entry funcs (including inputs they trigger), then commits and closes
//!   the committer. Reads keep working. An entry func that triggers events forever keeps
//!   `stop` waiting.
//! * **Re-entrancy.** An entry func may call [`Group::send`] on any machine. Calling
//!   [`Group::send_sync`] on its own machine deadlocks (the machine is busy until the func
//!   returns), as in Go; use [`Context::trigger`](crate::Context::trigger).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::oneshot;

mod builder;
mod commit;
mod core;
mod error;
mod notify;
mod stats;
mod worker;

pub use builder::{GroupBuilder, OpenError};
pub use error::{BeginError, ReadError, SendError};
pub use notify::{Applied, AppliedKind, AppliedOf, Change, Notification, RecvError, Subscription};
pub use stats::Counters;

use self::core::{LoadError, Queued, Reply, Shared, Slot};
use crate::codec::{Codec, DagCbor};
use crate::id::MachineId;
use crate::machine::{Machine, RunEntry};
use crate::store::{MemoryStore, Store};

/// What happens to a machine whose entry func returns an error or panics. Either way the error
/// is recorded on the machine, counted and sent to subscribers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum EntryErrorPolicy {
    /// The machine keeps accepting events (the default).
    #[default]
    KeepGoing,
    /// The machine is halted: later inputs get [`SendError::Halted`]. The halt is kept in
    /// memory only; the record is unchanged.
    Terminal,
}

/// A machine whose last entry func failed: [`Group::entry_failures`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryFailure<S, I> {
    /// The machine.
    pub id: I,
    /// The status whose entry func failed.
    pub status: S,
    /// The error text (or panic message).
    pub error: Arc<str>,
}

/// Every stored record of a group: [`Group::list`].
pub struct Listing<M: Machine, I: MachineId> {
    /// The records that decoded, in the store's order.
    pub records: Vec<(I, M::State)>,
    /// The records that did not (each error names its id), so one bad record does not hide the
    /// others.
    pub errors: Vec<ReadError<I>>,
}

impl<M: Machine, I: MachineId> fmt::Debug for Listing<M, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listing")
            .field("records", &self.records)
            .field("errors", &self.errors)
            .finish()
    }
}

/// A group of machines of type `M`, keyed by `I`, whose entry funcs run with environment `H`,
/// stored in `S` with codec `C`. Cheap to clone (a handle).
pub struct Group<M: Machine, H, I: MachineId, S = MemoryStore, C = DagCbor> {
    shared: Arc<Shared<M, H, I, S, C>>,
}

impl<M: Machine, H, I: MachineId, S, C> Clone for Group<M, H, I, S, C> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<M: Machine, H, I: MachineId, S, C> fmt::Debug for Group<M, H, I, S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Group")
            .field("machine", &M::NAME)
            .field("active", &self.shared.active.load(Ordering::Relaxed))
            .field("stopping", &self.shared.stopping.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<M: Machine, H, I: MachineId, S> Group<M, H, I, S, DagCbor> {
    /// A [`GroupBuilder`] over `store` with entry-func environment `handler`.
    pub fn builder(store: S, handler: H) -> GroupBuilder<M, H, I, S> {
        GroupBuilder::new(store, handler)
    }
}

impl<M, H, I, S, C> Group<M, H, I, S, C>
where
    M: RunEntry<H>,
    H: Send + Sync + 'static,
    I: MachineId,
    S: Store,
    C: Codec<M::State>,
{
    /// Creates machine `id` with record `initial` and saves it. Runs no entry func.
    pub async fn begin(&self, id: I, initial: M::State) -> Result<(), BeginError<M, I>> {
        let shared = &*self.shared;
        let shard_lock = shared.shard_of(&id);
        {
            let mut shard = shared.lock(shard_lock);
            if shared.is_stopping() {
                return Err(BeginError::Stopped { id, state: initial });
            }
            if shard.contains_key(&id) {
                return Err(BeginError::AlreadyExists { id, state: initial });
            }
            // A busy placeholder: sends that race with this begin queue up behind it.
            let mut placeholder = Slot::new(None);
            placeholder.busy = true;
            shard.insert(id.clone(), placeholder);
            shared.enter();
        }
        let created = self.create(&id, initial).await;
        let mut shard = shared.lock(shard_lock);
        let queued = match shard.get_mut(&id) {
            Some(slot) => {
                if let Ok(state) = &created {
                    *slot = Slot {
                        queue: std::mem::take(&mut slot.queue),
                        ..Slot::new(Some(state.clone()))
                    };
                }
                !slot.queue.is_empty()
            }
            None => false,
        };
        if queued {
            // Keep the in-flight count for the task, which loads the record if begin failed.
            if let Some(slot) = shard.get_mut(&id) {
                slot.busy = true;
            }
            drop(shard);
            worker::spawn(Arc::clone(&self.shared), id, false);
        } else {
            match &created {
                Ok(_) => {
                    if let Some(slot) = shard.get_mut(&id) {
                        slot.busy = false;
                    }
                }
                Err(_) => {
                    shard.remove(&id);
                }
            }
            drop(shard);
            shared.leave();
        }
        created.map(drop)
    }

    async fn create(&self, id: &I, initial: M::State) -> Result<M::State, BeginError<M, I>> {
        let shared = &*self.shared;
        let key = shared.key(id);
        match shared.store.get(&key) {
            Ok(None) => {}
            Ok(Some(_)) => {
                let id = id.clone();
                return Err(BeginError::AlreadyExists { id, state: initial });
            }
            Err(source) => {
                let id = id.clone();
                return Err(BeginError::Store {
                    id,
                    source,
                    state: initial,
                });
            }
        }
        let mut bytes = Vec::new();
        if let Err(source) = shared.codec.encode(&initial, &mut bytes) {
            let id = id.clone();
            return Err(BeginError::Encode {
                id,
                source,
                state: initial,
            });
        }
        match shared.save(&key, &mut bytes).await {
            Ok(()) => Ok(initial),
            Err(source) => Err(BeginError::Store {
                id: id.clone(),
                source,
                state: initial,
            }),
        }
    }

    /// Queues `input` on machine `id` and returns once it is queued. Errors about the machine
    /// itself (unknown, terminated, halted, corrupt, stopped group) come back here with the
    /// input; errors of the transition are counted and logged, not returned (use
    /// [`Group::send_sync`] for them).
    pub async fn send(&self, id: I, input: M::Input) -> Result<(), SendError<M, I>> {
        self.enqueue(id, input, None)
    }

    /// Queues `input` on machine `id` and waits until it is applied and durably saved (or
    /// rejected). Allocates one oneshot channel per call, and clones the id.
    pub async fn send_sync(&self, id: I, input: M::Input) -> Result<AppliedOf<M>, SendError<M, I>> {
        let (reply, answer) = oneshot::channel();
        let event = M::event(&input);
        let key = id.clone();
        self.enqueue(id, input, Some(reply))?;
        answer.await.unwrap_or_else(|_| {
            // The task never drops a reply unanswered; this only happens when the runtime
            // shuts down under it.
            Err(SendError::Store {
                id: key,
                event: Some(event),
                source: crate::store::StoreError::Closed,
                input: None,
            })
        })
    }

    fn enqueue(
        &self,
        id: I,
        input: M::Input,
        reply: Option<Reply<M, I>>,
    ) -> Result<(), SendError<M, I>> {
        let shared = &*self.shared;
        let shard = shared.shard_of(&id);
        let mut loaded = None;
        loop {
            let mut guard = shared.lock(shard);
            // Checked under the shard lock: `stop` passes every shard lock after setting the
            // flag, so a send either sees it or is counted in `active` before `stop` waits.
            if shared.is_stopping() {
                return Err(SendError::Stopped { id, input });
            }
            if let Some(slot) = guard.get_mut(&id) {
                if let Some(ended) = &slot.ended {
                    return Err(worker::ended_error(ended, id, input));
                }
                slot.queue.push_back(Queued { input, reply });
                if !slot.busy {
                    slot.busy = true;
                    shared.enter();
                    drop(guard);
                    worker::spawn(Arc::clone(&self.shared), id, false);
                }
                return Ok(());
            }
            // Not in memory: load it without the lock, then insert it and queue on the next
            // pass (unless a racing send or begin put a slot there meanwhile).
            if let Some(state) = loaded.take() {
                guard.insert(id.clone(), Slot::new(Some(state)));
                continue;
            }
            drop(guard);
            loaded = Some(match shared.load(&id) {
                Ok(Some(state)) => state,
                Ok(None) => return Err(SendError::UnknownId { id, input }),
                Err(LoadError::Corrupt(source)) => {
                    return Err(SendError::Corrupt {
                        id,
                        source,
                        input: Some(input),
                    });
                }
                Err(LoadError::Store(source)) => {
                    return Err(SendError::Store {
                        id,
                        event: None,
                        source,
                        input: Some(input),
                    });
                }
            });
        }
    }

    /// The saved record of machine `id`, if it exists.
    pub fn get(&self, id: &I) -> Result<Option<M::State>, ReadError<I>> {
        self.shared.load(id).map_err(|error| match error {
            LoadError::Store(source) => ReadError::Store(source),
            LoadError::Corrupt(source) => ReadError::Corrupt {
                id: id.clone(),
                source,
            },
        })
    }

    /// Whether machine `id` exists (in memory or in the store).
    pub fn has(&self, id: &I) -> Result<bool, ReadError<I>> {
        let shared = &*self.shared;
        let in_memory = shared
            .lock(shared.shard_of(id))
            .get(id)
            .is_some_and(|slot| slot.state.is_some() || slot.ended.is_some() || slot.busy);
        if in_memory {
            return Ok(true);
        }
        Ok(shared.store.get(&shared.key(id))?.is_some())
    }

    /// Every saved record under the group's key prefix, with the ones that failed to decode
    /// reported separately.
    pub fn list(&self) -> Result<Listing<M, I>, ReadError<I>> {
        let mut listing = Listing {
            records: Vec::new(),
            errors: Vec::new(),
        };
        self.scan(|id, decoded| match decoded {
            Ok(state) => listing.records.push((id, state)),
            Err(error) => listing.errors.push(error),
        })?;
        Ok(listing)
    }

    /// The ids of the machines whose saved status is `status` (records that fail to decode are
    /// skipped; [`Group::list`] reports them).
    pub fn by_status(&self, status: M::Status) -> Result<Vec<I>, ReadError<I>> {
        let mut ids = Vec::new();
        self.scan(|id, decoded| {
            if decoded.is_ok_and(|state| M::status(&state) == status) {
                ids.push(id);
            }
        })?;
        Ok(ids)
    }

    /// The machines whose last entry func failed, with the error, in no particular order.
    /// (Kept in memory: a restart forgets them.)
    pub fn entry_failures(&self) -> Vec<EntryFailure<M::Status, I>> {
        let shared = &*self.shared;
        let mut failures = Vec::new();
        for shard in shared.shards.iter() {
            let shard = shared.lock(shard);
            failures.extend(shard.iter().filter_map(|(id, slot)| {
                slot.entry_error
                    .as_ref()
                    .map(|(status, error)| EntryFailure {
                        id: id.clone(),
                        status: *status,
                        error: Arc::clone(error),
                    })
            }));
        }
        failures
    }

    /// The machines in a non-final status that have had no work for longer than `idle` (a
    /// machine not touched since the group opened counts as idle since the open).
    pub fn idle_longer_than(&self, idle: Duration) -> Result<Vec<I>, ReadError<I>> {
        let mut candidates = Vec::new();
        self.scan(|id, decoded| {
            if decoded.is_ok_and(|state| !M::is_final(M::status(&state))) {
                candidates.push(id);
            }
        })?;
        let shared = &*self.shared;
        candidates.retain(|id| {
            let since = match shared.lock(shared.shard_of(id)).get(id) {
                Some(slot) if slot.busy => return false,
                Some(slot) => slot.last_active,
                None => shared.opened_at,
            };
            since.elapsed() > idle
        });
        Ok(candidates)
    }

    fn scan(
        &self,
        mut visit: impl FnMut(I, Result<M::State, ReadError<I>>),
    ) -> Result<(), ReadError<I>> {
        let shared = &*self.shared;
        let mut bad_key = None;
        shared
            .store
            .scan(
                &shared.prefix,
                &mut |key, value| match I::from_key(&key[shared.prefix.len()..]) {
                    Ok(id) => {
                        let decoded =
                            shared
                                .codec
                                .decode(value)
                                .map_err(|source| ReadError::Corrupt {
                                    id: id.clone(),
                                    source,
                                });
                        visit(id, decoded);
                    }
                    Err(error) => bad_key = Some(error),
                },
            )?;
        match bad_key {
            Some(error) => Err(ReadError::BadKey(error)),
            None => Ok(()),
        }
    }

    /// Re-runs the entry func of every non-final machine that is not busy in this group, as
    /// resume on open does, and returns how many were started. With a store shared by several
    /// processes only the machines this process owns or can take over (their owner's lease
    /// expired) are resumed: call it periodically to take over the machines of a dead process.
    /// A stopping group resumes nothing.
    pub fn resume(&self) -> Result<usize, crate::store::StoreError> {
        if self.shared.is_stopping() {
            return Ok(0);
        }
        builder::resume(&self.shared)
    }

    /// A stream of notifications (applied events with the saved state, entry-func failures).
    /// A slow subscriber never blocks machines: it lags and is told so.
    pub fn subscribe(&self) -> Subscription<M, I> {
        self.shared.subscribers.fetch_add(1, Ordering::SeqCst);
        Subscription {
            rx: self.shared.notifications.subscribe(),
            subscribers: Arc::clone(&self.shared.subscribers),
        }
    }

    /// The group's counters.
    pub fn counters(&self) -> Counters {
        self.shared.counters.snapshot()
    }

    /// Whether [`Group::stop`] has completed.
    pub fn is_stopped(&self) -> bool {
        self.shared.stopped.load(Ordering::SeqCst)
    }

    /// Stops the group: new `begin`/`send` calls get a "stopped" error, every machine finishes
    /// its queued inputs and entry funcs, the last writes are committed, and the committer
    /// exits. Reads keep working. Idempotent.
    pub async fn stop(&self) {
        let shared = &*self.shared;
        shared.stopping.store(true, Ordering::SeqCst);
        // Barrier: any send that saw `stopping == false` under a shard lock has finished its
        // critical section (and counted its task) once we have passed every lock.
        for shard in shared.shards.iter() {
            drop(shared.lock(shard));
        }
        loop {
            let idle = shared.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if shared.active.load(Ordering::SeqCst) == 0 {
                break;
            }
            idle.await;
        }
        if let Some(committer) = &shared.committer {
            committer.shutdown().await;
        }
        shared.stopped.store(true, Ordering::SeqCst);
    }
}
