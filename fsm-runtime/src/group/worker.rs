//! The task that drains one machine's queue. It exists only while the machine has work: it
//! applies queued inputs (one per round, or all of them in consume-all mode), saves the record,
//! replies and notifies, runs the scheduled entry func, and exits when the queue is empty (after
//! yielding `LINGER_YIELDS` times to give a waiting sender the chance to queue its next input).

use std::any::Any;
use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

use futures::FutureExt;

use super::EntryErrorPolicy;
use super::core::{Ended, LoadError, Queued, Reply, Shard, Shared, halted};
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

/// Reports a rejected input to its sender (or, for a triggered input, to the log).
fn reject<M: RunEntry<H>, H, I: MachineId, S, C>(
    shared: &Shared<M, H, I, S, C>,
    reply: Option<Reply<M, I>>,
    error: SendError<M, I>,
) {
    AtomicCounters::bump(&shared.counters.rejected);
    match reply {
        // A sender that stopped waiting does not care.
        Some(reply) => drop(reply.send(Err(error))),
        None => tracing::warn!(machine = M::NAME, %error, "triggered event rejected"),
    }
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

/// An applied input waiting for its round to be saved.
type Unsaved<M, I> = (Option<Reply<M, I>>, AppliedOf<M>);

/// Why saving a round failed.
enum SaveError {
    Encode(CodecError),
    Store(StoreError),
}

async fn drive<M, H, I, S, C>(shared: Arc<Shared<M, H, I, S, C>>, id: I, mut run_entry: bool)
where
    M: RunEntry<H>,
    H: Send + Sync + 'static,
    I: MachineId,
    S: Store,
    C: Codec<M::State>,
{
    // Hashed once: every lock of this task's slot goes to this shard.
    let shard_lock = shared.shard_of(&id);
    let Some((mut state, mut last_active_ms)) = take_state(&shared, shard_lock, &id).await else {
        shared.leave();
        return;
    };
    let mut ctx = Context::<M>::new();
    // Buffers kept for the task's whole life: one task drains many rounds.
    let mut batch: Vec<Queued<M, I>> = Vec::new();
    let mut done: Vec<Unsaved<M, I>> = Vec::new();
    let mut notes: Vec<Notification<M, I>> = Vec::new();
    // The store key, built on the first save, and the encode buffer (an inline store leaves it
    // with us; the committer takes it, and the next encode reserves the last record's size).
    let mut key: Option<Vec<u8>> = None;
    let mut bytes: Vec<u8> = Vec::new();
    let mut lingers_left = LINGER_YIELDS;

    loop {
        // 1. The entry func scheduled by the previous round (or by resume-on-open), on the
        //    saved snapshot. Events it triggers join the back of the queue below.
        let mut entry_failure = None;
        if run_entry {
            let status = M::status(&state);
            let result = AssertUnwindSafe(M::run_entry(&shared.handler, &mut ctx, &state))
                .catch_unwind()
                .await;
            let failure = match result {
                Ok(Ok(())) => None,
                Ok(Err(error)) => Some((FailureKind::EntryFuncError, error.to_string())),
                Err(payload) => Some((
                    FailureKind::EntryFuncPanic,
                    format!("entry func panicked: {}", panic_message(&*payload)),
                )),
            };
            if let Some((kind, text)) = failure {
                let text: Arc<str> = text.into();
                AtomicCounters::bump(&shared.counters.entry_errors);
                tracing::warn!(machine = M::NAME, id = %id.display(), ?status, error = %text, "entry func failed");
                // Recorded in the store before anyone hears of it, so that a subscriber that
                // reacts by querying the failures finds it, and a restart keeps it.
                let record = Failure {
                    kind,
                    status: shared.names.name(status),
                    error: Arc::clone(&text),
                    at_ms: now_ms(),
                    halted: shared.policy == EntryErrorPolicy::Terminal,
                };
                let meta = shared.meta_for(&state, last_active_ms, Some(Box::new(record)));
                let key = key.get_or_insert_with(|| shared.key(&id));
                if let Err(error) = shared.save_meta(key, meta).await {
                    tracing::error!(machine = M::NAME, id = %id.display(), %error, "cannot record an entry func failure in the store");
                }
                entry_failure = Some((status, text));
            }
        }

        // 2. Under the shard lock: record the entry result, queue triggered inputs, take the
        //    next batch, or linger or park the machine when there is none.
        let linger = {
            let mut shard = shared.lock(shard_lock);
            let Some(slot) = shard.get_mut(&id) else {
                // Unreachable: a busy slot is only removed by its own task. Exit cleanly.
                drop(shard);
                shared.leave();
                return;
            };
            if let Some((status, text)) = entry_failure.take() {
                if shared.policy == EntryErrorPolicy::Terminal {
                    slot.ended = Some(Ended::Halted(status, Arc::clone(&text)));
                }
                if shared.has_subscribers() {
                    // A subscriber that just went away is fine.
                    let _ = shared.notifications.send(Notification {
                        id: id.clone(),
                        change: Change::EntryFailed {
                            status,
                            error: text,
                        },
                    });
                }
            }
            if slot.ended.is_none() {
                slot.queue.extend(
                    ctx.drain_triggered()
                        .map(|input| Queued { input, reply: None }),
                );
            } else {
                ctx.drain_triggered().for_each(drop);
            }
            if let Some(ended) = slot.ended.clone() {
                for queued in slot.queue.drain(..) {
                    let error = ended_error(&ended, id.clone(), queued.input);
                    reject(&shared, queued.reply, error);
                }
            }
            if slot.queue.is_empty() {
                if lingers_left == 0 || slot.ended.is_some() || shared.is_stopping() {
                    slot.state = Some(state);
                    slot.busy = false;
                    slot.last_active_ms = last_active_ms;
                    // An idle machine keeps no queue buffer.
                    slot.queue = VecDeque::new();
                    drop(shard);
                    shared.leave();
                    return;
                }
                lingers_left -= 1;
                true
            } else {
                lingers_left = LINGER_YIELDS;
                if M::CONSUME_ALL_EVENTS_BEFORE_ENTRY_FUNCS {
                    batch.extend(slot.queue.drain(..));
                } else {
                    batch.extend(slot.queue.pop_front());
                }
                false
            }
        };
        if linger {
            // Let the senders just answered run first: one that answers its reply with the
            // next event finds this task still holding the machine. The entry func (if any)
            // has run, so the next pass only looks at the queue again.
            run_entry = false;
            tokio::task::yield_now().await;
            continue;
        }

        // 3. Apply the batch to the state.
        let mut scheduled = false;
        let mut final_status = None;
        let subscribed = shared.has_subscribers();
        for Queued { input, reply } in batch.drain(..) {
            if let Some(status) = final_status {
                let error = SendError::Terminated {
                    id: id.clone(),
                    status,
                    input,
                };
                reject(&shared, reply, error);
                continue;
            }
            let event = M::event(&input);
            let from = M::status(&state);
            let span = tracing::debug_span!(
                "fsm_event",
                machine = M::NAME,
                id = %id.display(),
                event = ?event,
                from = ?from,
                to = tracing::field::Empty,
            );
            let _entered = span.enter();
            let outcome =
                std::panic::catch_unwind(AssertUnwindSafe(|| M::transition(&mut state, input)));
            let (to, kind) = match outcome {
                Ok(Outcome::Moved { to, .. }) => (to, AppliedKind::Moved),
                Ok(Outcome::Stayed { status, .. }) => (status, AppliedKind::Stayed),
                Ok(Outcome::Recorded { status, .. }) => (status, AppliedKind::Recorded),
                Ok(Outcome::Invalid { status, input }) => {
                    let id = id.clone();
                    reject(&shared, reply, SendError::Invalid { id, status, input });
                    continue;
                }
                Ok(Outcome::ActionFailed {
                    event,
                    status,
                    error,
                }) => {
                    let id = id.clone();
                    let error = SendError::ActionFailed {
                        id,
                        event,
                        status,
                        error,
                    };
                    reject(&shared, reply, error);
                    continue;
                }
                Ok(Outcome::AlreadyFinal { status, input }) => {
                    let id = id.clone();
                    reject(&shared, reply, SendError::Terminated { id, status, input });
                    continue;
                }
                Err(payload) => {
                    let error = SendError::ActionPanicked {
                        id: id.clone(),
                        event,
                        status: from,
                        message: panic_message(&*payload),
                    };
                    reject(&shared, reply, error);
                    continue;
                }
            };
            span.record("to", tracing::field::debug(&to));
            scheduled |= kind != AppliedKind::Recorded;
            if M::is_final(to) {
                final_status = Some(to);
            }
            let applied = Applied {
                event,
                from,
                to,
                kind,
            };
            if subscribed {
                notes.push(Notification {
                    id: id.clone(),
                    change: Change::Applied {
                        applied,
                        state: Arc::new(state.clone()),
                    },
                });
            }
            done.push((reply, applied));
        }

        // 4. Save once for the batch, then (and only then) reply and notify.
        if !done.is_empty() {
            bytes.clear();
            bytes.reserve(shared.record_len_hint());
            let now = now_ms();
            let saved = match shared.codec.encode(&state, &mut bytes) {
                Ok(()) => {
                    shared.note_record_len(bytes.len());
                    let key = key.get_or_insert_with(|| shared.key(&id));
                    let meta = shared.meta_for(&state, now, None);
                    shared
                        .save(key, &mut bytes, meta)
                        .await
                        .map_err(SaveError::Store)
                }
                Err(error) => Err(SaveError::Encode(error)),
            };
            match saved {
                Ok(()) => {
                    last_active_ms = now;
                    for (reply, applied) in done.drain(..) {
                        AtomicCounters::bump(&shared.counters.applied);
                        if let Some(reply) = reply {
                            // A sender that stopped waiting does not care.
                            let _ = reply.send(Ok(applied));
                        }
                    }
                    for note in notes.drain(..) {
                        let _ = shared.notifications.send(note);
                    }
                }
                Err(error) => {
                    notes.clear();
                    for (reply, applied) in done.drain(..) {
                        let error = match &error {
                            SaveError::Store(source) => SendError::Store {
                                id: id.clone(),
                                event: Some(applied.event),
                                source: source.clone(),
                                input: None,
                            },
                            SaveError::Encode(source) => SendError::Encode {
                                id: id.clone(),
                                event: applied.event,
                                source: source.clone(),
                            },
                        };
                        reject(&shared, reply, error);
                    }
                    // Roll back to the saved record: nothing of this round happened.
                    match rollback(&shared, shard_lock, &id).await {
                        Some(saved_state) => state = saved_state,
                        None => return,
                    }
                    scheduled = false;
                    final_status = None;
                }
            }
        }

        // 5. Finality ends the machine; otherwise schedule the entry func.
        if let Some(status) = final_status {
            let mut shard = shared.lock(shard_lock);
            if let Some(slot) = shard.get_mut(&id) {
                let ended = Ended::Final(status);
                for queued in slot.queue.drain(..) {
                    let error = ended_error(&ended, id.clone(), queued.input);
                    reject(&shared, queued.reply, error);
                }
                slot.ended = Some(ended);
                slot.state = Some(state);
                slot.busy = false;
                slot.last_active_ms = last_active_ms;
                slot.queue = VecDeque::new();
            }
            drop(shard);
            shared.leave();
            return;
        }
        run_entry = scheduled && M::entry_func(M::status(&state)).is_some();
    }
}

/// Takes the machine's state (and when it was last active) out of its slot, loading it from
/// the store when the slot holds none. On failure every queued input is rejected, the slot is
/// removed (the next access retries the load) and `None` is returned.
async fn take_state<M, H, I, S, C>(
    shared: &Shared<M, H, I, S, C>,
    shard_lock: &Mutex<Shard<M, I>>,
    id: &I,
) -> Option<(M::State, u64)>
where
    M: RunEntry<H>,
    H: Send + Sync + 'static,
    I: MachineId,
    S: Store,
    C: Codec<M::State>,
{
    {
        let mut shard = shared.lock(shard_lock);
        let slot = shard.get_mut(id)?;
        if let Some(state) = slot.state.take() {
            return Some((state, slot.last_active_ms));
        }
    }
    let loaded = shared.load(id).await;
    let mut shard = shared.lock(shard_lock);
    match loaded {
        Ok(Some((state, meta))) => {
            let mut last_active_ms = now_ms();
            if let Some(slot) = shard.get_mut(id) {
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
            let slot = shard.remove(id)?;
            drop(shard);
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
            None
        }
    }
}

/// Reloads the saved record after a failed save. When even that fails, the machine is
/// unloaded: queued inputs are rejected, the slot removed, the task accounted as done, and
/// `None` returned (the next access loads the record again).
async fn rollback<M, H, I, S, C>(
    shared: &Shared<M, H, I, S, C>,
    shard_lock: &Mutex<Shard<M, I>>,
    id: &I,
) -> Option<M::State>
where
    M: RunEntry<H>,
    H: Send + Sync + 'static,
    I: MachineId,
    S: Store,
    C: Codec<M::State>,
{
    let error = match shared.load(id).await {
        Ok(Some((state, _))) => return Some(state),
        Ok(None) => StoreError::backend(std::io::Error::other("record vanished from the store")),
        Err(LoadError::Store(error)) => error,
        Err(LoadError::Corrupt(error)) => StoreError::backend(error),
    };
    tracing::error!(machine = M::NAME, id = %id.display(), %error, "cannot reload record after a failed save; unloading the machine");
    let slot = shared.lock(shard_lock).remove(id);
    for queued in slot.into_iter().flat_map(|slot| slot.queue) {
        let error = SendError::Store {
            id: id.clone(),
            event: None,
            source: error.clone(),
            input: Some(queued.input),
        };
        reject(shared, queued.reply, error);
    }
    shared.leave();
    None
}
