//! The durable, async state group: many machines of one [`Machine`] type, keyed by id, persisted
//! in a [`Store`], run on tokio.
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
//!   applied to the machine's state, encoded with the group's [`Codec`] and saved together with
//!   the machine's engine metadata (status, last activity; see [`crate::store`]); only then are
//!   `send_sync` callers answered, subscribers notified and entry funcs started. If the save
//!   fails, the round is rolled back to the saved record and every applied sender gets
//!   [`SendError::Store`]: nothing is half-applied.
//! * **Group commit.** With a store that
//!   [prefers group commit](crate::store::Store::prefers_group_commit) (redb, PostgreSQL), a
//!   committer task collects the pending writes of all machines and commits them in one
//!   [`Store::commit`], then acknowledges each. The in-memory store is written inline.
//! * **Entry funcs** run on the machine's task, after the save, with a borrow of the saved
//!   state (no copy). Inputs they trigger through [`Context`](crate::Context) join the back of
//!   the queue when the func returns (FIFO behind inputs that arrived meanwhile).
//! * **Nothing fails silently.** Every failure of a machine becomes its failure record
//!   ([`FailureKind`]: an entry func's error, panic or cancellation; an input the machine
//!   triggered that is invalid in its status or whose action fails or panics; a panic of the
//!   engine in the record's codec or `Clone`), written to the store before subscribers hear of
//!   it ([`Change::Failed`]) and listed by [`Group::failures`]. The [`EntryErrorPolicy`]
//!   decides whether it halts the machine: under `Terminal` the rest of its batch and queue is
//!   refused with [`SendError::Halted`]; under `KeepGoing` the batch goes on. A failure
//!   record stays until the machine applies a later event. Inputs of callers that fail go back
//!   to their `send_sync` and are counted on the machine ([`Group::rejected_inputs`]) and in
//!   [`Counters::events_rejected`]; they are not the machine's failure.
//! * **A worker cannot wedge.** The machine task is a loop over explicit phases; it hands the
//!   slot back in one place, and a guard restores the slot and the group's in-flight count if
//!   it unwinds. A panic in the record's codec or `Clone` halts only that machine (its
//!   in-memory state may be inconsistent, so it is dropped; the record stays as last saved).
//! * **Bounded queues.** Each machine queues at most [`GroupBuilder::queue_bound`] inputs of
//!   callers: `send` and `send_sync` wait for room, [`Group::try_send`] returns
//!   [`SendError::Full`]. Inputs a machine triggers for itself, and sends made from inside any
//!   entry func, never wait (two machines feeding each other could otherwise deadlock).
//! * **Bounded memory.** A machine that reaches a final status leaves memory once its last
//!   notification is out; reads of it go to the store, and a later input is refused from the
//!   stored record without loading it back ([`Group::resident_machines`]).
//! * **Finality** ends a machine: inputs queued behind the final event and sent later get
//!   [`SendError::Terminated`] with the input handed back; the record stays readable.
//!
//! # Decisions
//!
//! * **No implicit creation.** Sending to an id that does not exist is
//!   [`SendError::UnknownId`]; Go instead creates and persists a zero record. Machines are
//!   created only by [`Group::begin`], which fails with [`BeginError::AlreadyExists`] when the
//!   id exists in memory or in the store.
//! * **No group-wide send lock** (see above). Sends from one task to one machine are applied in
//!   send order; concurrent senders to one machine are ordered by their shard-lock acquisition.
//! * **Reads come from the store, asynchronously.** [`Group::get`], [`Group::list`] and the
//!   queries read what was saved (never a half-applied batch); none blocks a tokio worker
//!   thread. Listings and queries are paged ([`Page`]): memory stays bounded however many
//!   machines there are.
//! * **Queries use the metadata, not the records.** [`Group::by_status`] reads the store's
//!   status index (a page costs the machines it returns); [`Group::failures`] reads the failure
//!   index; [`Group::idle_longer_than`] reads the metadata of the non-final machines (no record
//!   is decoded) and compares their stored last-activity time, so the answer is the same after
//!   a restart. Times are wall-clock milliseconds: a clock that jumps moves them too.
//! * **Damage is reported, never hidden.** A key that is not an id, a record that does not
//!   decode or damaged metadata is one entry of [`Listing::errors`] (or of
//!   [`ResumeReport::errors`]); the other machines of the page are still returned.
//! * **Failure records and halts live in the store**, beside the record (whose bytes stay
//!   exactly what the codec wrote, so other implementations can still read them). They survive
//!   a restart: a halted machine stays halted, and is not resumed. A machine's failure record
//!   is cleared when it applies a later event.
//! * **Each group has a header** in its store (format, group name, codec name), one per key
//!   prefix. A prefix holding another group's records, records written with another codec or
//!   by a newer version is refused at open; records without a header (a store written by an
//!   older version) are opened only through [`GroupBuilder::upgrade_unversioned`].
//! * **Stop and close.** [`Group::stop`] rejects new `begin`/`send` calls with a "stopped"
//!   error, lets every machine task finish its queue and entry funcs (including inputs they
//!   trigger), commits the last writes and waits for the committer to exit. Reads keep
//!   working. [`Group::close`] stops, then releases the store (a redb file can be opened again
//!   as soon as it returns); reads then fail with [`StoreError::Closed`]. Senders waiting for
//!   room are woken with [`SendError::Stopped`]. An entry func that triggers events forever
//!   keeps `stop` waiting; [`Group::stop_within`] cancels running entry funcs after a deadline
//!   and records each as a failure (not a halt: resume runs the func again).
//! * **Re-entrancy.** An entry func may call [`Group::send`] on any machine. Calling
//!   [`Group::send_sync`] on its own machine deadlocks (the machine is busy until the func
//!   returns), as in Go; use [`Context::trigger`](crate::Context::trigger).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::oneshot;

mod builder;
mod commit;
mod core;
mod error;
mod notify;
mod stats;
mod status_names;
mod worker;

pub use builder::{DEFAULT_QUEUE_BOUND, GroupBuilder, OpenError};
pub use error::{BeginError, ReadError, SendError};
pub use notify::{Applied, AppliedKind, AppliedOf, Change, Notification, RecvError, Subscription};
pub use stats::Counters;

use self::core::{LoadError, Queued, Reply, Shared, Slot, Source};
use crate::codec::{Codec, DagCbor};
use crate::id::MachineId;
use crate::machine::{Machine, RunEntry};
use crate::store::{
    Entry, FailureKind, Filter, MemoryStore, MetaError, ScanRequest, Store, StoreError, now_ms,
};

/// What happens to a machine whose entry func returns an error or panics. Either way the
/// failure is recorded on the machine (in the store, so it survives a restart), counted and
/// sent to subscribers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum EntryErrorPolicy {
    /// The machine keeps accepting events (the default).
    #[default]
    KeepGoing,
    /// The machine is halted: later inputs get [`SendError::Halted`]. The halt is part of the
    /// failure record in the store, so it holds after a restart.
    Terminal,
}

/// A machine's failure record: [`Group::failures`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineFailure<S, I> {
    /// The machine.
    pub id: I,
    /// The status it failed in.
    pub status: S,
    /// What failed.
    pub kind: FailureKind,
    /// The error text (or panic message).
    pub error: Arc<str>,
    /// When it failed.
    pub at: SystemTime,
    /// Whether the failure halted the machine.
    pub halted: bool,
}

/// Which page of a listing or query to read: at most `limit` items, after a cursor.
///
/// Start with [`Page::first`] and continue with [`Listing::next`] until it is `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    after: Option<Vec<u8>>,
    limit: usize,
}

impl Page {
    /// The first page, of at most `limit` items (at least one).
    pub fn first(limit: usize) -> Self {
        Self {
            after: None,
            limit: limit.max(1),
        }
    }

    /// Everything in one page. Holds every item in memory at once: for tests and small
    /// groups; page through large ones with [`Page::first`].
    pub fn all() -> Self {
        Self::first(usize::MAX)
    }

    /// The most items this page holds.
    pub fn limit(&self) -> usize {
        self.limit
    }
}

/// One page of a listing or query: the items that could be read, the errors of those that
/// could not (each names its machine, or its key when the key is not an id), and the next
/// page.
pub struct Listing<T, I: MachineId> {
    /// The items, in key order.
    pub items: Vec<T>,
    /// One entry per damaged key, record or metadata in this page, so that one bad entry
    /// never hides the others.
    pub errors: Vec<ReadError<I>>,
    /// The next page, or `None` when this was the last.
    pub next: Option<Page>,
}

impl<T: fmt::Debug, I: MachineId> fmt::Debug for Listing<T, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listing")
            .field("items", &self.items)
            .field("errors", &self.errors)
            .field("next", &self.next)
            .finish()
    }
}

/// What [`Group::resume`] did.
#[derive(Debug)]
pub struct ResumeReport<I: MachineId> {
    /// How many machines' entry funcs were started.
    pub resumed: usize,
    /// The records that could not be resumed because they cannot be read (each names its
    /// machine or key). The others were resumed.
    pub errors: Vec<ReadError<I>>,
}

impl<I: MachineId> Default for ResumeReport<I> {
    fn default() -> Self {
        Self {
            resumed: 0,
            errors: Vec::new(),
        }
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
                    // A panicking `Clone` leaves the slot empty: the machine's task loads the
                    // record from the store instead.
                    let cached =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| state.clone()))
                            .ok();
                    let (queue, bounded) = (std::mem::take(&mut slot.queue), slot.bounded);
                    *slot = Slot::new(cached);
                    slot.queue = queue;
                    slot.bounded = bounded;
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
        match shared.store.get(&key).await {
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
        let meta = shared.meta_for(&initial, now_ms(), None);
        match shared.save(&key, &mut bytes, meta).await {
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
    ///
    /// When the machine's queue holds as many inputs from callers as its bound
    /// ([`GroupBuilder::queue_bound`]), this waits for room; [`Group::stop`] wakes it with
    /// [`SendError::Stopped`]. Sends from inside an entry func never wait (see
    /// [`GroupBuilder::queue_bound`]).
    pub async fn send(&self, id: I, input: M::Input) -> Result<(), SendError<M, I>> {
        self.enqueue(id, input, None, true).await
    }

    /// Like [`Group::send`], but returns [`SendError::Full`] with the input instead of waiting
    /// when the machine's queue is at its bound. (It may still wait for the store, to load a
    /// machine that is not in memory.)
    pub async fn try_send(&self, id: I, input: M::Input) -> Result<(), SendError<M, I>> {
        self.enqueue(id, input, None, false).await
    }

    /// Queues `input` on machine `id` and waits until it is applied and durably saved (or
    /// rejected). Waits for room in the queue like [`Group::send`]. Allocates one oneshot
    /// channel per call, and clones the id.
    pub async fn send_sync(&self, id: I, input: M::Input) -> Result<AppliedOf<M>, SendError<M, I>> {
        let (reply, answer) = oneshot::channel();
        let event = M::event(&input);
        let key = id.clone();
        self.enqueue(id, input, Some(reply), true).await?;
        answer.await.unwrap_or_else(|_| {
            // The task never drops a reply unanswered; this only happens when the runtime
            // shuts down under it.
            Err(SendError::Store {
                id: key,
                event: Some(event),
                source: StoreError::Closed,
                input: None,
            })
        })
    }

    async fn enqueue(
        &self,
        id: I,
        input: M::Input,
        reply: Option<Reply<M, I>>,
        wait: bool,
    ) -> Result<(), SendError<M, I>> {
        let shared = &*self.shared;
        if shared.store_is_shared {
            // Before the input is consumed, so that a refusal hands it back for forwarding.
            if let Err(source) = shared.store.check_owner(&shared.key(&id)) {
                return Err(SendError::Store {
                    id,
                    event: None,
                    source,
                    input: Some(input),
                });
            }
        }
        let shard = shared.shard_index(&id);
        let source = Source::Sender {
            bounded: !worker::in_entry_func(),
        };
        let mut pending = (input, reply);
        let mut loaded = None;
        // Set after the first `Full`: from then on each pass registers for a wake-up before it
        // looks at the queue, so room made in between is never missed.
        let mut waiting = false;
        loop {
            let room = shared.room[shard].notified();
            tokio::pin!(room);
            if waiting {
                room.as_mut().enable();
            }
            let (input, reply) = pending;
            let queued = Queued {
                input,
                reply,
                source,
            };
            let not_in_memory;
            (pending, not_in_memory) = match self.queue_if_loaded(shard, &id, queued, loaded.take())
            {
                Ok(None) => return Ok(()),
                Ok(Some(not_loaded)) => (not_loaded, true),
                Err(Rejected::Full(queued)) => {
                    if !wait {
                        return Err(SendError::Full {
                            id,
                            input: queued.input,
                        });
                    }
                    if waiting {
                        room.await;
                    }
                    waiting = true;
                    ((queued.input, queued.reply), false)
                }
                Err(rejected) => return Err(rejected.into_error(id)),
            };
            if not_in_memory {
                // Not in memory: load it without the lock, then insert it and queue on the
                // next pass (unless a racing send or begin put a slot there meanwhile).
                let input = pending.0;
                loaded = Some(match shared.load(&id, true).await {
                    Ok(Some(loaded)) => loaded,
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
                pending.0 = input;
            }
        }
    }

    /// Under the shard lock: queues the input on the machine's slot (inserting `loaded` as the
    /// slot first when there is none) and starts its task if it is idle. Hands the input back
    /// when the machine is not in memory and nothing was loaded; an error is completed with the
    /// id by the caller. A final machine loaded from the store is not kept in memory.
    #[allow(clippy::type_complexity)]
    fn queue_if_loaded(
        &self,
        shard: usize,
        id: &I,
        queued: Queued<M, I>,
        loaded: Option<(M::State, Option<crate::store::Meta>)>,
    ) -> Result<Option<(M::Input, Option<Reply<M, I>>)>, Rejected<M, I>> {
        let shared = &*self.shared;
        let mut guard = shared.lock(&shared.shards[shard]);
        // Checked under the shard lock: `stop` passes every shard lock after setting the
        // flag, so a send either sees it or is counted in `active` before `stop` waits.
        if shared.is_stopping() {
            return Err(Rejected::Stopped(queued.input));
        }
        if !guard.contains_key(id) {
            match loaded {
                Some((state, meta)) => {
                    let slot = Slot::loaded(state, meta.as_ref(), &shared.names);
                    if let Some(ended @ core::Ended::Final(_)) = &slot.ended {
                        return Err(Rejected::Ended(ended.clone(), queued.input));
                    }
                    guard.insert(id.clone(), slot);
                }
                None => return Ok(Some((queued.input, queued.reply))),
            }
        }
        let Some(slot) = guard.get_mut(id) else {
            return Ok(Some((queued.input, queued.reply)));
        };
        if let Some(ended) = &slot.ended {
            return Err(Rejected::Ended(ended.clone(), queued.input));
        }
        if queued.is_bounded() && slot.bounded >= shared.queue_bound {
            return Err(Rejected::Full(queued));
        }
        slot.push(queued);
        if !slot.busy {
            slot.busy = true;
            shared.enter();
            drop(guard);
            worker::spawn(Arc::clone(&self.shared), id.clone(), false);
        }
        Ok(None)
    }

    /// The saved record of machine `id`, if it exists. One store read.
    pub async fn get(&self, id: &I) -> Result<Option<M::State>, ReadError<I>> {
        match self.shared.load(id, false).await {
            Ok(loaded) => Ok(loaded.map(|(state, _)| state)),
            Err(LoadError::Store(source)) => Err(ReadError::Store(source)),
            Err(LoadError::Corrupt(source)) => Err(ReadError::Corrupt {
                id: id.clone(),
                source,
            }),
        }
    }

    /// Whether machine `id` exists (in memory or in the store).
    pub async fn has(&self, id: &I) -> Result<bool, ReadError<I>> {
        let shared = &*self.shared;
        if shared.closed.load(Ordering::SeqCst) {
            return Err(ReadError::Store(StoreError::Closed));
        }
        let in_memory = shared
            .lock(shared.shard_of(id))
            .get(id)
            .is_some_and(|slot| slot.state.is_some() || slot.ended.is_some() || slot.busy);
        if in_memory {
            return Ok(true);
        }
        let entry = shared.store.get(&shared.key(id)).await?;
        Ok(entry.is_some_and(|entry| entry.record.is_some()))
    }

    /// One page of the saved records under the group's key prefix, in key order. Records that
    /// fail to decode, keys that are not ids and damaged metadata are reported one by one in
    /// [`Listing::errors`]; they never hide the others. Continue with [`Listing::next`].
    pub async fn list(&self, page: Page) -> Result<Listing<(I, M::State), I>, ReadError<I>> {
        let shared = &*self.shared;
        self.query(page, Filter::All, true, |id, entry, errors| {
            let record = entry.record.as_deref()?;
            match shared.codec.decode(record) {
                Ok(state) => Some((id, state)),
                Err(source) => {
                    errors.push(ReadError::Corrupt { id, source });
                    None
                }
            }
        })
        .await
    }

    /// One page of the ids of the machines whose saved status is `status`, from the store's
    /// status index: a page costs the machines it returns, not every machine.
    pub async fn by_status(
        &self,
        status: M::Status,
        page: Page,
    ) -> Result<Listing<I, I>, ReadError<I>> {
        let name = self.shared.names.name(status);
        self.query(page, Filter::Status(&name), false, |id, _, _| Some(id))
            .await
    }

    /// One page of the machines with a failure record (an entry func that failed, and whether
    /// that halted the machine). Failure records are kept in the store: they survive a
    /// restart, and a machine's record is cleared when it applies a later event.
    pub async fn failures(
        &self,
        page: Page,
    ) -> Result<Listing<MachineFailure<M::Status, I>, I>, ReadError<I>> {
        let names = &self.shared.names;
        self.query(page, Filter::Failed, false, |id, entry, errors| {
            let failure = entry.meta.as_ref().ok()?.failure.as_ref()?;
            let Some(status) = names.status(&failure.status) else {
                errors.push(ReadError::Meta {
                    id,
                    source: MetaError::Damaged(format!(
                        "failure recorded in unknown status {:?}",
                        failure.status
                    )),
                });
                return None;
            };
            Some(MachineFailure {
                id,
                status,
                kind: failure.kind,
                error: Arc::clone(&failure.error),
                at: UNIX_EPOCH + Duration::from_millis(failure.at_ms),
                halted: failure.halted,
            })
        })
        .await
    }

    /// One page of the machines in a non-final status that have not applied an event for
    /// longer than `idle` (by their stored last-activity time, so the answer survives a
    /// restart) and are not busy in this group. The filter on time runs after the store's page
    /// is read, so a page may hold fewer ids than its limit; continue while
    /// [`Listing::next`] is `Some`.
    pub async fn idle_longer_than(
        &self,
        idle: Duration,
        page: Page,
    ) -> Result<Listing<I, I>, ReadError<I>> {
        let shared = &*self.shared;
        let idle_ms = u64::try_from(idle.as_millis()).unwrap_or(u64::MAX);
        let cutoff = now_ms().saturating_sub(idle_ms);
        self.query(page, Filter::Active, false, |id, entry, _| {
            let meta = entry.meta.as_ref().ok()?;
            if meta.last_active_ms > cutoff || idle_ms == u64::MAX {
                return None;
            }
            let busy = shared
                .lock(shared.shard_of(&id))
                .get(&id)
                .is_some_and(|slot| slot.busy);
            (!busy).then_some(id)
        })
        .await
    }

    /// Reads one page of the store and turns each entry into an item with `item` (which may
    /// report an error of its own), collecting bad keys and damaged metadata as errors.
    async fn query<T>(
        &self,
        page: Page,
        filter: Filter<'_>,
        with_records: bool,
        mut item: impl FnMut(I, &Entry, &mut Vec<ReadError<I>>) -> Option<T>,
    ) -> Result<Listing<T, I>, ReadError<I>> {
        let shared = &*self.shared;
        let request = ScanRequest {
            prefix: &shared.prefix,
            filter,
            after: page.after.as_deref(),
            limit: page.limit,
            with_records,
        };
        let scanned = shared.store.scan(request).await?;
        let mut listing = Listing {
            items: Vec::with_capacity(scanned.entries.len()),
            errors: Vec::new(),
            next: scanned.next.map(|after| Page {
                after: Some(after),
                limit: page.limit,
            }),
        };
        for entry in &scanned.entries {
            let Some(suffix) = entry.key.strip_prefix(shared.prefix.as_slice()) else {
                continue;
            };
            let id = match I::from_key(suffix) {
                Ok(id) => id,
                Err(error) => {
                    listing.errors.push(ReadError::BadKey(error));
                    continue;
                }
            };
            if let Err(source) = &entry.meta {
                listing.errors.push(ReadError::Meta {
                    id: id.clone(),
                    source: source.clone(),
                });
                if filter != Filter::All {
                    continue;
                }
            }
            if let Some(value) = item(id, entry, &mut listing.errors) {
                listing.items.push(value);
            }
        }
        Ok(listing)
    }

    /// Re-runs the entry func of every non-final, non-halted machine that is not busy in this
    /// group, as resume on open does, and reports how many were started and which records
    /// could not be read. With a store shared by several processes only the machines this
    /// process owns or can take over (their owner's lease expired) are resumed: call it
    /// periodically to take over the machines of a dead process. A stopping group resumes
    /// nothing.
    pub async fn resume(&self) -> Result<ResumeReport<I>, ReadError<I>> {
        if self.shared.is_stopping() {
            return Ok(ResumeReport::default());
        }
        builder::resume(&self.shared).await
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
    /// exits (this waits for it). Reads keep working; the store stays open until
    /// [`Group::close`]. Idempotent.
    pub async fn stop(&self) {
        self.stop_inner(None).await;
    }

    /// Stops the group like [`Group::stop`], but waits at most `deadline` for machines to
    /// finish their queued inputs and entry funcs. After it, the entry funcs still running are
    /// cancelled and recorded as failures ([`FailureKind::EntryFuncCancelled`]; the machine is
    /// not halted, so resume runs the func again), the inputs still queued are refused with
    /// [`SendError::Stopped`], and the last writes are committed. An entry func that triggers
    /// events forever cannot hang shutdown this way.
    pub async fn stop_within(&self, deadline: Duration) {
        self.stop_inner(Some(deadline)).await;
    }

    async fn stop_inner(&self, deadline: Option<Duration>) {
        let shared = &*self.shared;
        shared.stopping.store(true, Ordering::SeqCst);
        if let Some(task) = shared.takeover_task().take() {
            task.abort();
        }
        // Barrier: any send that saw `stopping == false` under a shard lock has finished its
        // critical section (and counted its task) once we have passed every lock.
        for shard in shared.shards.iter() {
            drop(shared.lock(shard));
        }
        // Senders waiting for room look again and see the group stopping.
        shared.wake_all_senders();
        let drained = match deadline {
            None => {
                self.all_tasks_done().await;
                true
            }
            Some(deadline) => tokio::time::timeout(deadline, self.all_tasks_done())
                .await
                .is_ok(),
        };
        if !drained {
            shared.cancelled.store(true, Ordering::SeqCst);
            shared.cancel.notify_waiters();
            self.all_tasks_done().await;
        }
        if let Some(committer) = &shared.committer {
            committer.shutdown().await;
        }
        shared.stopped.store(true, Ordering::SeqCst);
    }

    /// Resolves once no machine task (or `begin`) is in flight.
    async fn all_tasks_done(&self) {
        let shared = &*self.shared;
        loop {
            let idle = shared.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if shared.active.load(Ordering::SeqCst) == 0 {
                return;
            }
            idle.await;
        }
    }

    /// How many machines this group holds in memory now: the ones with queued work or a
    /// running task, and the idle non-final ones it has loaded. A machine that reaches a final
    /// status leaves memory once its last notification is out, so this follows the machines in
    /// flight, not every machine ever created.
    pub fn resident_machines(&self) -> usize {
        let shared = &*self.shared;
        shared
            .shards
            .iter()
            .map(|shard| shared.lock(shard).len())
            .sum()
    }

    /// How many inputs of callers machine `id` rejected (invalid, action failed, terminated,
    /// halted) since it was last loaded into memory: counted on the machine's in-memory slot,
    /// so a machine that left memory (a final machine leaves at once) reads 0. Each such
    /// error also went back to its `send_sync` caller and into [`Counters::events_rejected`].
    pub fn rejected_inputs(&self, id: &I) -> u64 {
        let shared = &*self.shared;
        shared
            .lock(shared.shard_of(id))
            .get(id)
            .map_or(0, |slot| slot.rejected)
    }

    /// Stops the group (as [`Group::stop`], if it is not stopped yet), waits for the committer
    /// to exit, then closes the store ([`Store::close`]) and returns once the store is released:
    /// a redb file can be opened again at once. Reads through any remaining handle of this
    /// group then fail with [`StoreError::Closed`]. Idempotent.
    ///
    /// Closing releases the store itself, so other groups sharing the same store see it closed
    /// too; to end one group of several, [`Group::stop`] it instead.
    pub async fn close(&self) -> Result<(), StoreError> {
        self.stop().await;
        self.shared.closed.store(true, Ordering::SeqCst);
        self.shared.store.close().await
    }
}

/// Why a send was refused under the shard lock, before the id is attached.
enum Rejected<M: Machine, I: MachineId> {
    Stopped(M::Input),
    Ended(core::Ended<M::Status>, M::Input),
    /// The queue is at its bound; the input (and its reply) are handed back to wait or fail.
    Full(Queued<M, I>),
}

impl<M: Machine, I: MachineId> Rejected<M, I> {
    fn into_error(self, id: I) -> SendError<M, I> {
        match self {
            Self::Stopped(input) => SendError::Stopped { id, input },
            Self::Ended(ended, input) => worker::ended_error(&ended, id, input),
            Self::Full(queued) => SendError::Full {
                id,
                input: queued.input,
            },
        }
    }
}
