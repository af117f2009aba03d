//! The task that drains one machine's queue. It exists only while the machine has work.
//!
//! The task is a loop over explicit [`Phase`]s: run the scheduled entry func, take the next
//! batch from the queue, apply it, save it (then reply and notify). Every way out of the loop
//! goes through [`Leave`], decided under the shard lock, so the slot is handed back in one
//! place; and a [`SlotGuard`] restores the slot and the group's counters if the task unwinds
//! from a panic of the engine itself, so a machine can never stay busy with no task.
//!
//! Panics in user code are caught where they happen: in entry funcs and actions (as before),
//! and in the record's codec and `Clone`, which halt the machine (its in-memory state may be
//! inconsistent, so it is dropped and the record stays as last saved).

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;

use super::EntryErrorPolicy;
use super::core::{Ended, LoadError, Queued, Reply, Shared, Slot, Source, halted};
use super::error::SendError;
use super::notify::{Applied, AppliedKind, AppliedOf, Change, Notification};
use super::stats::AtomicCounters;
use crate::codec::{Codec, CodecError};
use crate::context::Context;
use crate::id::MachineId;
use crate::machine::{Machine, Outcome, RunEntry};
use crate::store::{Failure, FailureKind, Store, StoreError, now_ms};

/// How many times a task whose queue ran dry yields to the scheduler before it parks the
/// machine. A sender that answers each reply with its next event (a `send_sync` loop) then finds
/// the task still running instead of spawning a new one; bounded, so that an idle machine still
/// owns no task a moment later.
const LINGER_YIELDS: u32 = 1;

tokio::task_local! {
    /// Set while an entry func runs: its sends never wait for room in a queue.
    static IN_ENTRY_FUNC: ();
}

/// Whether the caller runs inside an entry func. Sends from there are not held to the queue
/// bound: an entry func that waited for room in another machine's queue while that machine's
/// entry func waited for room in its queue would deadlock both.
pub(super) fn in_entry_func() -> bool {
    IN_ENTRY_FUNC.try_with(|()| ()).is_ok()
}

/// Starts the task of machine `id`. The caller has marked the slot busy and called
/// [`Shared::enter`]; the task calls [`Shared::leave`] when it exits.
pub(super) fn spawn<M, H, I, S, C>(shared: Arc<Shared<M, H, I, S, C>>, id: I, run_entry_first: bool)
where
    M: RunEntry<H>,
    H: Send + Sync + 'static,
    I: MachineId,
    S: Store,
    C: Codec<M::State>,
{
    tokio::spawn(drive(shared, id, run_entry_first));
}

/// What the task does next.
enum Phase<M: Machine, I: MachineId> {
    /// Run the entry func scheduled by the last round (or by resume).
    RunEntry,
    /// Take the next batch from the queue, linger, or leave.
    Take,
    /// Apply the batch taken.
    Apply,
    /// Save what the batch applied, then reply and notify.
    Save,
    /// The saved record could not be read back after a failed save: unload the machine.
    Unload(SendErrorFactory<M, I>),
}

/// Builds the error each queued input of an unloaded machine gets.
type SendErrorFactory<M, I> = Box<dyn Fn(I, <M as Machine>::Input) -> SendError<M, I> + Send>;

/// Why the task hands the machine back, decided under the shard lock.
#[derive(Clone, Copy)]
enum Leave {
    /// Nothing left to do: the machine is idle, its state back in the slot.
    Park,
    /// The machine reached a final status: it leaves memory (reads go to the store).
    Evict,
    /// The machine is halted: it stays in memory to refuse inputs.
    Halt,
    /// `stop`'s deadline passed: the machine is idle, queued inputs were refused.
    Cancelled,
}

/// An applied input waiting for its round to be saved.
type Unsaved<M, I> = (Option<Reply<M, I>>, AppliedOf<M>);

/// Everything a task keeps across its rounds (buffers are reused round after round).
struct Task<M: Machine, H, I: MachineId, S, C> {
    shared: Arc<Shared<M, H, I, S, C>>,
    id: I,
    shard: usize,
    last_active_ms: u64,
    ctx: Context<M>,
    batch: Vec<Queued<M, I>>,
    done: Vec<Unsaved<M, I>>,
    notes: Vec<Notification<M, I>>,
    /// The store key, built on the first save.
    key: Option<Vec<u8>>,
    /// The encode buffer (an inline store leaves it with us; the committer takes it).
    bytes: Vec<u8>,
    lingers_left: u32,
    /// Whether an input applied this round scheduled the entry func.
    scheduled: bool,
    /// The final status an input of this round reached.
    final_status: Option<M::Status>,
    /// A failure of this round (a triggered input), saved with the round.
    failure: Option<Box<Failure>>,
    /// Whether the machine halts at the end of this round, and why.
    halting: bool,
    halt_error: Option<Arc<str>>,
    /// Whether the in-memory state may be inconsistent (the engine panicked): it is dropped.
    suspect: bool,
    /// Inputs of callers rejected since the last time the slot was updated.
    rejected: u64,
    /// Whether the cancellation at `stop`'s deadline is recorded on the machine.
    cancel_recorded: bool,
}

/// Restores the slot and the group's in-flight count if the task unwinds (a panic of the
/// engine itself; user code's panics are caught before they get here). Disarmed on every
/// normal exit.
struct SlotGuard<M: Machine, H, I: MachineId, S, C>
where
    S: Store,
    C: Codec<M::State>,
    H: Send + Sync + 'static,
{
    shared: Arc<Shared<M, H, I, S, C>>,
    id: I,
    shard: usize,
    /// The machine's status as far as the task knows (for the halt it records).
    status: Option<M::Status>,
    armed: bool,
}

impl<M, H, I, S, C> Drop for SlotGuard<M, H, I, S, C>
where
    M: Machine,
    H: Send + Sync + 'static,
    I: MachineId,
    S: Store,
    C: Codec<M::State>,
{
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let error: Arc<str> =
            "the engine panicked while handling this machine (see the log)".into();
        tracing::error!(machine = M::NAME, id = %self.id.display(), "machine task unwound; halting the machine");
        let shared = &*self.shared;
        let mut shard = shared.lock(&shared.shards[self.shard]);
        let mut queued = Vec::new();
        let mut remove = false;
        if let Some(slot) = shard.get_mut(&self.id) {
            slot.busy = false;
            // The state may be half-updated: reads and a reopen go to the store.
            slot.state = None;
            queued.extend(slot.queue.drain(..));
            slot.bounded = 0;
            match self.status {
                Some(status) => slot.ended = Some(Ended::Halted(status, Arc::clone(&error))),
                // Not even loaded: forget the slot, the next access loads the record again.
                None => remove = true,
            }
        }
        if remove {
            shard.remove(&self.id);
        }
        drop(shard);
        for item in queued {
            refuse_after_panic(shared, &self.id, item.reply, None, &error, Some(item.input));
        }
        shared.room[self.shard].notify_waiters();
        shared.leave();
    }
}

/// Reports a rejected input to its sender, or logs it when nobody waits for the answer.
fn reject<M: Machine, H, I: MachineId, S, C>(
    shared: &Shared<M, H, I, S, C>,
    reply: Option<Reply<M, I>>,
    error: SendError<M, I>,
) {
    AtomicCounters::bump(&shared.counters.rejected);
    match reply {
        // A sender that stopped waiting does not care.
        Some(reply) => drop(reply.send(Err(error))),
        None => tracing::warn!(machine = M::NAME, %error, "input rejected"),
    }
}

/// Refuses an input (or answers the sender of an applied one) after the engine panicked on its
/// machine.
fn refuse_after_panic<M: Machine, H, I: MachineId, S, C>(
    shared: &Shared<M, H, I, S, C>,
    id: &I,
    reply: Option<Reply<M, I>>,
    event: Option<M::Event>,
    message: &str,
    input: Option<M::Input>,
) {
    let error = SendError::EnginePanic {
        id: id.clone(),
        event,
        message: message.to_owned(),
        input,
    };
    reject(shared, reply, error);
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

/// The error an input gets once its machine has ended (queued, or sent afterwards).
pub(super) fn ended_error<M: Machine, I: MachineId>(
    ended: &Ended<M::Status>,
    id: I,
    input: M::Input,
) -> SendError<M, I> {
    match ended {
        Ended::Final(status) => SendError::Terminated {
            id,
            status: *status,
            input,
        },
        Ended::Halted(status, error) => SendError::Halted {
            id,
            status: *status,
            error: Arc::clone(error),
            input,
        },
    }
}

/// Resolves once `stop`'s deadline has passed.
async fn cancelled<M: Machine, H, I: MachineId, S, C>(shared: &Shared<M, H, I, S, C>) {
    loop {
        let notified = shared.cancel.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if shared.cancelled.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        notified.await;
    }
}

async fn drive<M, H, I, S, C>(shared: Arc<Shared<M, H, I, S, C>>, id: I, run_entry_first: bool)
where
    M: RunEntry<H>,
    H: Send + Sync + 'static,
    I: MachineId,
    S: Store,
    C: Codec<M::State>,
{
    let shard = shared.shard_index(&id);
    let mut guard = SlotGuard {
        shared: Arc::clone(&shared),
        id: id.clone(),
        shard,
        status: None,
        armed: true,
    };
    let Some((mut state, last_active_ms)) = take_state(&shared, shard, &id).await else {
        guard.armed = false;
        shared.leave();
        return;
    };
    let mut task = Task {
        shared,
        id,
        shard,
        last_active_ms,
        ctx: Context::new(),
        batch: Vec::new(),
        done: Vec::new(),
        notes: Vec::new(),
        key: None,
        bytes: Vec::new(),
        lingers_left: LINGER_YIELDS,
        scheduled: false,
        final_status: None,
        failure: None,
        halting: false,
        halt_error: None,
        suspect: false,
        rejected: 0,
        cancel_recorded: false,
    };
    let mut phase = if run_entry_first {
        Phase::RunEntry
    } else {
        Phase::Take
    };
    let shared = Arc::clone(&task.shared);
    loop {
        guard.status = Some(M::status(&state));
        phase = match phase {
            Phase::RunEntry => task.run_entry(&state).await,
            Phase::Apply => task.apply(&mut state),
            Phase::Save => match task.save(&state).await {
                Ok(next) => next,
                Err(()) => match task.rollback().await {
                    Ok(saved) => {
                        state = saved;
                        Phase::Take
                    }
                    Err(unload) => unload,
                },
            },
            Phase::Take => {
                if shared.is_cancelled() {
                    let queued = shared
                        .lock(&shared.shards[task.shard])
                        .get(&task.id)
                        .map_or(0, |slot| slot.queue.len());
                    task.record_cancelled(M::status(&state), queued).await;
                }
                let linger = {
                    let mut shard = shared.lock(&shared.shards[task.shard]);
                    let Some(slot) = shard.get_mut(&task.id) else {
                        // A busy slot is only removed by its own task; nothing to hand back.
                        guard.armed = false;
                        drop(shard);
                        shared.leave();
                        return;
                    };
                    match task.take(slot) {
                        None => task.batch.is_empty(),
                        Some(leave) => {
                            task.hand_back(slot, leave, state);
                            if matches!(leave, Leave::Evict) {
                                shard.remove(&task.id);
                            }
                            drop(shard);
                            shared.room[task.shard].notify_waiters();
                            guard.armed = false;
                            shared.leave();
                            return;
                        }
                    }
                };
                if linger {
                    // Let the senders just answered run first: one that answers its reply
                    // with the next event finds this task still holding the machine.
                    tokio::task::yield_now().await;
                    Phase::Take
                } else {
                    Phase::Apply
                }
            }
            Phase::Unload(error) => {
                let removed = shared.lock(&shared.shards[task.shard]).remove(&task.id);
                for queued in removed.into_iter().flat_map(|slot| slot.queue) {
                    reject(&shared, queued.reply, error(task.id.clone(), queued.input));
                }
                shared.room[task.shard].notify_waiters();
                guard.armed = false;
                shared.leave();
                return;
            }
        };
    }
}

impl<M, H, I, S, C> Task<M, H, I, S, C>
where
    M: RunEntry<H>,
    H: Send + Sync + 'static,
    I: MachineId,
    S: Store,
    C: Codec<M::State>,
{
    /// Runs the scheduled entry func on the saved snapshot. Inputs it triggers join the back
    /// of the queue (unless the machine halts). A failure is recorded in the store before
    /// anyone hears of it.
    async fn run_entry(&mut self, state: &M::State) -> Phase<M, I> {
        let shared = Arc::clone(&self.shared);
        let status = M::status(state);
        let entry = IN_ENTRY_FUNC.scope(
            (),
            AssertUnwindSafe(M::run_entry(&shared.handler, &mut self.ctx, state)).catch_unwind(),
        );
        let outcome = tokio::select! {
            biased;
            outcome = entry => Some(outcome),
            () = cancelled(&shared) => None,
        };
        let failure = match outcome {
            Some(Ok(Ok(()))) => None,
            Some(Ok(Err(error))) => Some((FailureKind::EntryFuncError, error.to_string())),
            Some(Err(payload)) => Some((
                FailureKind::EntryFuncPanic,
                format!("entry func panicked: {}", panic_message(&*payload)),
            )),
            None => Some((
                FailureKind::EntryFuncCancelled,
                "entry func cancelled: the group's stop deadline passed".to_owned(),
            )),
        };
        let halts = match &failure {
            Some((FailureKind::EntryFuncCancelled, _)) | None => false,
            Some(_) => shared.policy == EntryErrorPolicy::Terminal,
        };
        if let Some((kind, text)) = failure {
            self.cancel_recorded |= kind == FailureKind::EntryFuncCancelled;
            let text: Arc<str> = text.into();
            AtomicCounters::bump(&shared.counters.entry_errors);
            tracing::warn!(machine = M::NAME, id = %self.id.display(), ?status, error = %text, "entry func failed");
            self.record_failure(state, kind, status, &text, halts).await;
            let mut shard = shared.lock(&shared.shards[self.shard]);
            if halts && let Some(slot) = shard.get_mut(&self.id) {
                slot.ended = Some(Ended::Halted(status, Arc::clone(&text)));
            }
            drop(shard);
            self.notify_failure(kind, status, text, halts);
        }
        let mut shard = shared.lock(&shared.shards[self.shard]);
        match shard.get_mut(&self.id) {
            Some(slot) if slot.ended.is_none() => {
                for input in self.ctx.drain_triggered() {
                    slot.push(Queued {
                        input,
                        reply: None,
                        source: Source::Triggered,
                    });
                }
            }
            _ => self.ctx.drain_triggered().for_each(drop),
        }
        Phase::Take
    }

    /// Under the shard lock: takes the next batch into `self.batch` (returns `None`), finds
    /// nothing yet (returns `None` with an empty batch: linger), or decides to leave.
    fn take(&mut self, slot: &mut Slot<M, I>) -> Option<Leave> {
        let shared = &*self.shared;
        slot.rejected += std::mem::take(&mut self.rejected);
        let leave = if let Some(ended) = &slot.ended {
            Some(match ended {
                Ended::Final(_) => Leave::Evict,
                Ended::Halted(..) => Leave::Halt,
            })
        } else if shared.is_cancelled() {
            Some(Leave::Cancelled)
        } else if slot.queue.is_empty() {
            if self.lingers_left == 0 || shared.is_stopping() {
                Some(Leave::Park)
            } else {
                self.lingers_left -= 1;
                return None;
            }
        } else {
            None
        };
        if let Some(leave) = leave {
            let ended = slot.ended.clone();
            for queued in slot.queue.drain(..) {
                let error = match &ended {
                    Some(ended) => ended_error(ended, self.id.clone(), queued.input),
                    None => SendError::Stopped {
                        id: self.id.clone(),
                        input: queued.input,
                    },
                };
                reject(shared, queued.reply, error);
            }
            slot.bounded = 0;
            return Some(leave);
        }
        self.lingers_left = LINGER_YIELDS;
        let was_full = slot.bounded >= shared.queue_bound;
        if M::CONSUME_ALL_EVENTS_BEFORE_ENTRY_FUNCS {
            while let Some(queued) = slot.pop() {
                self.batch.push(queued);
            }
        } else {
            self.batch.extend(slot.pop());
        }
        if was_full && slot.bounded < shared.queue_bound {
            shared.room[self.shard].notify_waiters();
        }
        None
    }

    /// Under the shard lock: hands the machine back to its slot.
    fn hand_back(&mut self, slot: &mut Slot<M, I>, leave: Leave, state: M::State) {
        slot.busy = false;
        slot.last_active_ms = self.last_active_ms;
        // An idle machine keeps no queue buffer.
        slot.queue = Default::default();
        slot.state = match leave {
            Leave::Evict => None,
            Leave::Halt if self.suspect => None,
            Leave::Park | Leave::Halt | Leave::Cancelled => Some(state),
        };
    }

    /// Applies the batch to the state. Inputs of callers that fail go back to them; inputs
    /// the machine triggered that fail become its failure record.
    fn apply(&mut self, state: &mut M::State) -> Phase<M, I> {
        let shared = Arc::clone(&self.shared);
        self.scheduled = false;
        let subscribed = shared.has_subscribers();
        // Drained in place, so the batch buffer serves every round of the task.
        let mut buffer = std::mem::take(&mut self.batch);
        let mut batch = buffer.drain(..);
        while let Some(Queued {
            input,
            reply,
            source,
        }) = batch.next()
        {
            let from = M::status(state);
            if let Some(status) = self.final_status {
                let error = SendError::Terminated {
                    id: self.id.clone(),
                    status,
                    input,
                };
                self.refuse(reply, source, error);
                continue;
            }
            if self.halting {
                let error = SendError::Halted {
                    id: self.id.clone(),
                    status: from,
                    error: self
                        .halt_error
                        .clone()
                        .unwrap_or_else(|| "halted after a failure".into()),
                    input,
                };
                self.refuse(reply, source, error);
                continue;
            }
            let event = M::event(&input);
            let span = tracing::debug_span!(
                "fsm_event",
                machine = M::NAME,
                id = %self.id.display(),
                event = ?event,
                from = ?from,
                to = tracing::field::Empty,
            );
            let _entered = span.enter();
            let outcome =
                std::panic::catch_unwind(AssertUnwindSafe(|| M::transition(state, input)));
            let (to, kind) = match outcome {
                Ok(Outcome::Moved { to, .. }) => (to, AppliedKind::Moved),
                Ok(Outcome::Stayed { status, .. }) => (status, AppliedKind::Stayed),
                Ok(Outcome::Recorded { status, .. }) => (status, AppliedKind::Recorded),
                Ok(Outcome::Invalid { status, input }) => {
                    let id = self.id.clone();
                    let error = SendError::Invalid { id, status, input };
                    self.fail(
                        reply,
                        source,
                        FailureKind::InvalidTriggeredInput,
                        status,
                        error,
                    );
                    continue;
                }
                Ok(Outcome::ActionFailed {
                    event,
                    status,
                    error,
                }) => {
                    let id = self.id.clone();
                    let error = SendError::ActionFailed {
                        id,
                        event,
                        status,
                        error,
                    };
                    self.fail(
                        reply,
                        source,
                        FailureKind::TriggeredActionError,
                        status,
                        error,
                    );
                    continue;
                }
                Ok(Outcome::AlreadyFinal { status, input }) => {
                    let id = self.id.clone();
                    let error = SendError::Terminated { id, status, input };
                    self.refuse(reply, source, error);
                    continue;
                }
                Err(payload) => {
                    let error = SendError::ActionPanicked {
                        id: self.id.clone(),
                        event,
                        status: from,
                        message: panic_message(&*payload),
                    };
                    self.fail(
                        reply,
                        source,
                        FailureKind::TriggeredActionPanic,
                        from,
                        error,
                    );
                    continue;
                }
            };
            span.record("to", tracing::field::debug(&to));
            // A later applied event clears the machine's failure record.
            self.failure = None;
            self.scheduled |= kind != AppliedKind::Recorded;
            if M::is_final(to) {
                self.final_status = Some(to);
            }
            let applied = Applied {
                event,
                from,
                to,
                kind,
            };
            if subscribed {
                let cloned = std::panic::catch_unwind(AssertUnwindSafe(|| state.clone()));
                match cloned {
                    Ok(snapshot) => self.notes.push(Notification {
                        id: self.id.clone(),
                        change: Change::Applied {
                            applied,
                            state: Arc::new(snapshot),
                        },
                    }),
                    Err(payload) => {
                        self.done.push((reply, applied));
                        let message =
                            format!("record Clone panicked: {}", panic_message(&*payload));
                        return self.engine_panic(state, message, batch);
                    }
                }
            }
            self.done.push((reply, applied));
        }
        drop(batch);
        self.batch = buffer;
        Phase::Save
    }

    /// Rejects an input of a caller (counted on the machine) or, for a triggered input,
    /// records the failure.
    fn fail(
        &mut self,
        reply: Option<Reply<M, I>>,
        source: Source,
        kind: FailureKind,
        status: M::Status,
        error: SendError<M, I>,
    ) {
        if source != Source::Triggered {
            self.refuse(reply, source, error);
            return;
        }
        AtomicCounters::bump(&self.shared.counters.rejected);
        let text = error.to_string();
        tracing::warn!(machine = M::NAME, %text, "triggered input failed");
        let halted = self.shared.policy == EntryErrorPolicy::Terminal;
        let text: Arc<str> = text.into();
        if halted {
            self.halting = true;
            self.halt_error = Some(Arc::clone(&text));
        }
        self.failure = Some(Box::new(Failure {
            kind,
            status: self.shared.names.name(status),
            error: text,
            at_ms: now_ms(),
            halted,
        }));
    }

    /// Rejects an input that was not applied.
    fn refuse(&mut self, reply: Option<Reply<M, I>>, source: Source, error: SendError<M, I>) {
        if source != Source::Triggered {
            self.rejected += 1;
        }
        reject(&self.shared, reply, error);
    }

    /// The engine panicked in the record's codec or `Clone` during this round: the round's
    /// senders get the error, the rest of the batch is refused, and the machine halts.
    fn engine_panic(
        &mut self,
        state: &M::State,
        message: String,
        rest: impl Iterator<Item = Queued<M, I>>,
    ) -> Phase<M, I> {
        tracing::error!(machine = M::NAME, id = %self.id.display(), %message, "engine panic; halting the machine");
        let shared = &*self.shared;
        for (reply, applied) in self.done.drain(..) {
            refuse_after_panic(shared, &self.id, reply, Some(applied.event), &message, None);
        }
        for queued in rest {
            let input = Some(queued.input);
            refuse_after_panic(shared, &self.id, queued.reply, None, &message, input);
        }
        self.notes.clear();
        let status = M::status(state);
        let message: Arc<str> = message.into();
        self.failure = Some(Box::new(Failure {
            kind: FailureKind::EnginePanic,
            status: self.shared.names.name(status),
            error: Arc::clone(&message),
            at_ms: now_ms(),
            halted: true,
        }));
        self.halting = true;
        self.halt_error = Some(message);
        self.suspect = true;
        self.final_status = None;
        self.scheduled = false;
        Phase::Save
    }

    /// Saves the round once (record and metadata, or only the metadata when nothing applied
    /// but a failure was recorded), then replies, notifies, and decides what comes next.
    /// `Err` means the store refused the save and the state must be rolled back.
    async fn save(&mut self, state: &M::State) -> Result<Phase<M, I>, ()> {
        let shared = Arc::clone(&self.shared);
        let status = M::status(state);
        if self.suspect {
            // The state may be inconsistent: keep the record as last saved, record the halt.
            if let Some(failure) = self.failure.take() {
                self.save_failure(status, failure).await;
            }
            return Ok(self.end_round(status));
        }
        if self.done.is_empty() {
            if let Some(failure) = self.failure.take() {
                self.save_failure(status, failure).await;
            }
            return Ok(self.end_round(status));
        }
        let now = now_ms();
        self.bytes.clear();
        self.bytes.reserve(shared.record_len_hint());
        let encoded = std::panic::catch_unwind(AssertUnwindSafe(|| {
            shared.codec.encode(state, &mut self.bytes)
        }));
        let encoded = match encoded {
            Ok(encoded) => encoded,
            Err(payload) => {
                let message = format!("record codec panicked: {}", panic_message(&*payload));
                let phase = self.engine_panic(state, message, std::iter::empty());
                debug_assert!(matches!(phase, Phase::Save));
                if let Some(failure) = self.failure.take() {
                    self.save_failure(status, failure).await;
                }
                return Ok(self.end_round(status));
            }
        };
        let saved = match encoded {
            Ok(()) => {
                shared.note_record_len(self.bytes.len());
                let key = self.key.get_or_insert_with(|| shared.key(&self.id));
                let failure = self.failure.take();
                let meta = shared.meta_for(state, now, failure.clone());
                match shared.save(key, &mut self.bytes, meta).await {
                    Ok(()) => Ok(failure),
                    Err(error) => Err(SaveError::Store(error)),
                }
            }
            Err(error) => Err(SaveError::Encode(error)),
        };
        match saved {
            Ok(failure) => {
                self.last_active_ms = now;
                for (reply, applied) in self.done.drain(..) {
                    AtomicCounters::bump(&shared.counters.applied);
                    if let Some(reply) = reply {
                        // A sender that stopped waiting does not care.
                        let _ = reply.send(Ok(applied));
                    }
                }
                for note in self.notes.drain(..) {
                    let _ = shared.notifications.send(note);
                }
                if let Some(failure) = failure {
                    self.failure_saved(status, &failure);
                }
                Ok(self.end_round(status))
            }
            Err(error) => {
                self.notes.clear();
                for (reply, applied) in self.done.drain(..) {
                    let error = match &error {
                        SaveError::Store(source) => SendError::Store {
                            id: self.id.clone(),
                            event: Some(applied.event),
                            source: source.clone(),
                            input: None,
                        },
                        SaveError::Encode(source) => SendError::Encode {
                            id: self.id.clone(),
                            event: applied.event,
                            source: source.clone(),
                        },
                    };
                    reject(&shared, reply, error);
                }
                self.scheduled = false;
                self.final_status = None;
                self.halting = false;
                Err(())
            }
        }
    }

    /// After a round: marks the machine ended (final or halted) or schedules its entry func.
    fn end_round(&mut self, status: M::Status) -> Phase<M, I> {
        let ended = if let Some(final_status) = self.final_status.take() {
            Some(Ended::Final(final_status))
        } else if self.halting {
            let error = self
                .halt_error
                .take()
                .unwrap_or_else(|| "halted after a failure".into());
            Some(Ended::Halted(status, error))
        } else {
            None
        };
        self.halting = false;
        if let Some(ended) = ended {
            let shared = Arc::clone(&self.shared);
            let mut shard = shared.lock(&shared.shards[self.shard]);
            if let Some(slot) = shard.get_mut(&self.id) {
                slot.ended = Some(ended);
            }
            return Phase::Take;
        }
        if self.scheduled && M::entry_func(status).is_some() {
            self.scheduled = false;
            Phase::RunEntry
        } else {
            Phase::Take
        }
    }

    /// When `stop`'s deadline passed with `queued` inputs still waiting (they are refused with
    /// `Stopped` next), and no running entry func was cancelled (which is recorded already),
    /// says so on the machine: its work was cut short, and resume picks it up again.
    async fn record_cancelled(&mut self, status: M::Status, queued: usize) {
        if self.cancel_recorded || queued == 0 {
            return;
        }
        self.cancel_recorded = true;
        let failure = Box::new(Failure {
            kind: FailureKind::EntryFuncCancelled,
            status: self.shared.names.name(status),
            error: format!("stopped at the group's stop deadline; {queued} queued inputs refused")
                .into(),
            at_ms: now_ms(),
            halted: false,
        });
        self.save_failure(status, failure).await;
    }

    /// Writes a failure record alone (the record is unchanged), then tells subscribers.
    async fn save_failure(&mut self, status: M::Status, failure: Box<Failure>) {
        let shared = Arc::clone(&self.shared);
        let key = self.key.get_or_insert_with(|| shared.key(&self.id));
        let meta = crate::store::Meta {
            status: shared.names.name(status),
            is_final: M::is_final(status),
            last_active_ms: self.last_active_ms,
            failure: Some(failure.clone()),
            record_version: 0,
        };
        if let Err(error) = shared.save_meta(key, meta).await {
            tracing::error!(machine = M::NAME, id = %self.id.display(), %error, "cannot record a failure in the store");
        }
        self.failure_saved(status, &failure);
    }

    /// Tells subscribers of a failure once it is in the store.
    fn failure_saved(&self, status: M::Status, failure: &Failure) {
        self.notify_failure(
            failure.kind,
            status,
            Arc::clone(&failure.error),
            failure.halted,
        );
    }

    fn notify_failure(&self, kind: FailureKind, status: M::Status, error: Arc<str>, halted: bool) {
        let shared = &*self.shared;
        if shared.has_subscribers() {
            // A subscriber that just went away is fine.
            let _ = shared.notifications.send(Notification {
                id: self.id.clone(),
                change: Change::Failed {
                    kind,
                    status,
                    error,
                    halted,
                },
            });
        }
    }

    /// Records an entry func's failure on the machine (in the store).
    async fn record_failure(
        &mut self,
        state: &M::State,
        kind: FailureKind,
        status: M::Status,
        text: &Arc<str>,
        halted: bool,
    ) {
        let shared = Arc::clone(&self.shared);
        let record = Failure {
            kind,
            status: shared.names.name(status),
            error: Arc::clone(text),
            at_ms: now_ms(),
            halted,
        };
        let meta = shared.meta_for(state, self.last_active_ms, Some(Box::new(record)));
        let key = self.key.get_or_insert_with(|| shared.key(&self.id));
        if let Err(error) = shared.save_meta(key, meta).await {
            tracing::error!(machine = M::NAME, id = %self.id.display(), %error, "cannot record an entry func failure in the store");
        }
    }

    /// Reloads the saved record after a failed save. When even that fails, the machine is
    /// unloaded: the returned phase rejects its queued inputs and removes the slot (the next
    /// access loads the record again).
    async fn rollback(&mut self) -> Result<M::State, Phase<M, I>> {
        let error = match self.shared.load(&self.id, true).await {
            Ok(Some((state, _))) => return Ok(state),
            Ok(None) => StoreError::damaged("the record vanished from the store"),
            Err(LoadError::Store(error)) => error,
            Err(LoadError::Corrupt(error)) => StoreError::damaged(error.to_string()),
        };
        tracing::error!(machine = M::NAME, id = %self.id.display(), %error, "cannot reload record after a failed save; unloading the machine");
        Err(Phase::Unload(Box::new(move |id, input| SendError::Store {
            id,
            event: None,
            source: error.clone(),
            input: Some(input),
        })))
    }
}

/// Why saving a round failed.
enum SaveError {
    Encode(CodecError),
    Store(StoreError),
}

/// Takes the machine's state (and when it was last active) out of its slot, loading it from
/// the store when the slot holds none. On failure every queued input is rejected, the slot is
/// removed (the next access retries the load) and `None` is returned.
async fn take_state<M, H, I, S, C>(
    shared: &Shared<M, H, I, S, C>,
    shard: usize,
    id: &I,
) -> Option<(M::State, u64)>
where
    M: RunEntry<H>,
    H: Send + Sync + 'static,
    I: MachineId,
    S: Store,
    C: Codec<M::State>,
{
    let lock = &shared.shards[shard];
    {
        let mut shard = shared.lock(lock);
        let slot = shard.get_mut(id)?;
        if let Some(state) = slot.state.take() {
            return Some((state, slot.last_active_ms));
        }
    }
    let loaded = shared.load(id, true).await;
    let mut guard = shared.lock(lock);
    match loaded {
        Ok(Some((state, meta))) => {
            let mut last_active_ms = now_ms();
            if let Some(slot) = guard.get_mut(id) {
                let status = M::status(&state);
                if M::is_final(status) {
                    slot.ended = Some(Ended::Final(status));
                } else if let Some(ended) =
                    meta.as_ref().and_then(|meta| halted(meta, &shared.names))
                {
                    slot.ended = Some(ended);
                }
                if let Some(meta) = &meta {
                    last_active_ms = meta.last_active_ms;
                }
                slot.last_active_ms = last_active_ms;
            }
            Some((state, last_active_ms))
        }
        failed => {
            let slot = guard.remove(id)?;
            drop(guard);
            for queued in slot.queue {
                let id = id.clone();
                let input = queued.input;
                let error = match &failed {
                    Ok(_) => SendError::UnknownId { id, input },
                    Err(LoadError::Corrupt(source)) => SendError::Corrupt {
                        id,
                        source: source.clone(),
                        input: Some(input),
                    },
                    Err(LoadError::Store(source)) => SendError::Store {
                        id,
                        event: None,
                        source: source.clone(),
                        input: Some(input),
                    },
                };
                reject(shared, queued.reply, error);
            }
            shared.room[shard].notify_waiters();
            None
        }
    }
}
