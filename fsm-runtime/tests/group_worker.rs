//! The machine worker: nothing fails silently (every failure of a machine is a failure record),
//! panics in the record's codec or `Clone` halt only that machine, queues are bounded, `stop`
//! has a deadline, and final machines leave memory.

#![allow(clippy::unwrap_used, missing_docs)]

#[macro_use]
mod group_support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use fsm_runtime::codec::{Codec, CodecError, DagCbor};
use fsm_runtime::group::{Change, Page, SendError};
use fsm_runtime::store::{FailureKind, MemoryStore};
use fsm_runtime::{ActionResult, Context, EntryErrorPolicy, EntryResult, Group, fsm};
use group_support::*;
use serde::{Deserialize, Serialize};

/// Waits for the failure notification of machine `id`, skipping other notifications.
async fn next_failure(
    subscription: &mut fsm_runtime::group::Subscription<JobFsm, u64>,
    id: u64,
) -> (FailureKind, Status, bool) {
    loop {
        let note = subscription.recv().await.unwrap();
        if let (
            true,
            Change::Failed {
                kind,
                status,
                halted,
                ..
            },
        ) = (note.id == id, &note.change)
        {
            return (*kind, *status, *halted);
        }
    }
}

async fn triggered_failures_are_failure_records(backend: Backend) {
    let env = Env::default();
    let group = backend.job_group(&env).await;
    let mut subscription = group.subscribe();
    let cases = [
        (1, OnRun::TriggerInvalid, FailureKind::InvalidTriggeredInput),
        (2, OnRun::TriggerBoom, FailureKind::TriggeredActionError),
        (3, OnRun::TriggerExplode, FailureKind::TriggeredActionPanic),
    ];
    for (id, on_run, _) in cases {
        group.begin(id, Job::new(id, on_run)).await.unwrap();
        group.send_sync(id, JobInput::Start).await.unwrap();
    }
    for (id, _, kind) in cases {
        assert_eq!(
            next_failure(&mut subscription, id).await,
            (kind, Status::Running, false),
            "machine {id}"
        );
    }
    let mut failures = group.failures(Page::all()).await.unwrap().items;
    failures.sort_by_key(|failure| failure.id);
    let found: Vec<_> = failures.iter().map(|f| (f.id, f.kind, f.status)).collect();
    assert_eq!(
        found,
        cases
            .iter()
            .map(|(id, _, kind)| (*id, *kind, Status::Running))
            .collect::<Vec<_>>()
    );
    assert!(
        failures[0].error.contains("invalid transition"),
        "{failures:?}"
    );
    // Under `KeepGoing` the machines keep serving; a later event clears the record.
    group.send_sync(1, JobInput::Pause).await.unwrap();
    let left = group.failures(Page::all()).await.unwrap().items;
    assert_eq!(left.iter().map(|f| f.id).collect::<Vec<_>>(), vec![2, 3]);
    group.close().await.unwrap();
}

async fn terminal_failure_of_a_triggered_input_halts_and_refuses_the_rest(backend: Backend) {
    let env = Env::default();
    let group: JobGroup = Group::builder(backend.store.clone(), env.clone())
        .entry_error_policy(EntryErrorPolicy::Terminal)
        .open()
        .await
        .unwrap();
    let mut subscription = group.subscribe();
    group
        .begin(1, Job::new(1, OnRun::TriggerInvalidThenNote))
        .await
        .unwrap();
    group.send_sync(1, JobInput::Start).await.unwrap();
    assert_eq!(
        next_failure(&mut subscription, 1).await,
        (FailureKind::InvalidTriggeredInput, Status::Running, true)
    );
    let error = group.send_sync(1, JobInput::Pause).await.unwrap_err();
    assert!(matches!(error, SendError::Halted { .. }), "{error}");
    group.stop().await;
    // The note triggered behind the invalid input was refused, not applied.
    let job = group.get(&1).await.unwrap().unwrap();
    assert!(job.log.is_empty(), "{job:?}");
    let failures = group.failures(Page::all()).await.unwrap().items;
    assert!(failures[0].halted);
    group.close().await.unwrap();
}

async fn stop_with_a_deadline_cancels_an_endless_entry_func(backend: Backend) {
    let env = Env::default();
    let group = backend.job_group(&env).await;
    group
        .begin(1, Job::new(1, OnRun::TriggerForever))
        .await
        .unwrap();
    group.begin(2, Job::new(2, OnRun::Nothing)).await.unwrap();
    group.send_sync(1, JobInput::Start).await.unwrap();
    group.send_sync(2, JobInput::Start).await.unwrap();
    group.stop_within(Duration::from_millis(200)).await;
    assert!(group.is_stopped());
    let failures = group.failures(Page::all()).await.unwrap().items;
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(
        (failures[0].id, failures[0].kind, failures[0].halted),
        (1, FailureKind::EntryFuncCancelled, false)
    );
    let runs_before = env.runs_of(1).len();
    // Resume runs the cancelled entry func again.
    let reopened = backend.job_group(&env).await;
    let report = reopened.resume().await.unwrap();
    assert!(report.resumed >= 1, "{report:?}");
    reopened.stop_within(Duration::from_millis(100)).await;
    assert!(env.runs_of(1).len() > runs_before);
    reopened.close().await.unwrap();
}

async fn final_machines_leave_memory(backend: Backend) {
    let env = Env::default();
    let group = backend.job_group(&env).await;
    for id in 0..100 {
        group.begin(id, Job::new(id, OnRun::Nothing)).await.unwrap();
        group.send_sync(id, JobInput::Start).await.unwrap();
    }
    assert_eq!(group.resident_machines(), 100);
    for id in 0..100 {
        group.send_sync(id, JobInput::Finish).await.unwrap();
    }
    // The last notification of each is out once its send_sync returned; its task then leaves.
    for _ in 0..1000 {
        if group.resident_machines() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(group.resident_machines(), 0);
    // Still readable, still refusing inputs, and not loaded back into memory.
    assert_eq!(group.get(&7).await.unwrap().unwrap().status, Status::Done);
    let error = group.send_sync(7, JobInput::Tick(1)).await.unwrap_err();
    assert!(
        matches!(error, SendError::Terminated { id: 7, .. }),
        "{error}"
    );
    assert!(group.has(&7).await.unwrap());
    assert_eq!(group.resident_machines(), 0);
    group.close().await.unwrap();
}

async fn a_fast_producer_is_held_to_the_queue_bound(backend: Backend) {
    let env = Env::default();
    let group: JobGroup = Group::builder(backend.store.clone(), env.clone())
        .queue_bound(4)
        .open()
        .await
        .unwrap();
    // The entry func of `Running` waits at the gate, so the machine is stuck while the
    // producer sends.
    group.begin(1, Job::new(1, OnRun::Gate)).await.unwrap();
    group.send_sync(1, JobInput::Start).await.unwrap();
    let mut accepted = 0;
    let refused = loop {
        match group.try_send(1, JobInput::Tick(1)).await {
            Ok(()) => accepted += 1,
            Err(error) => break error,
        }
        assert!(accepted <= 4, "the bound was not enforced");
    };
    assert_eq!(accepted, 4);
    assert!(
        matches!(refused, SendError::Full { id: 1, .. }),
        "{refused}"
    );
    assert!(matches!(refused.into_input(), Some(JobInput::Tick(1))));
    // A producer far faster than the machine: its sends wait for room and are all applied,
    // in order.
    let producer = {
        let group = group.clone();
        tokio::spawn(async move {
            for _ in 0..2000 {
                group.send(1, JobInput::Tick(1)).await.unwrap();
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !producer.is_finished(),
        "the producer did not wait for room"
    );
    env.open_gate(1);
    producer.await.unwrap();
    let applied = group.send_sync(1, JobInput::Tick(0)).await.unwrap();
    assert_eq!(applied.to, Status::Running);
    assert_eq!(group.get(&1).await.unwrap().unwrap().count, 2004);
    group.close().await.unwrap();
}

async fn stop_wakes_senders_waiting_for_room(backend: Backend) {
    let env = Env::default();
    let group: JobGroup = Group::builder(backend.store.clone(), env.clone())
        .queue_bound(1)
        .open()
        .await
        .unwrap();
    group.begin(1, Job::new(1, OnRun::Gate)).await.unwrap();
    group.send_sync(1, JobInput::Start).await.unwrap();
    group.send(1, JobInput::Tick(1)).await.unwrap();
    let blocked = {
        let group = group.clone();
        tokio::spawn(async move { group.send(1, JobInput::Tick(2)).await })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!blocked.is_finished());
    let stopping = {
        let group = group.clone();
        tokio::spawn(async move { group.stop().await })
    };
    let error = blocked.await.unwrap().unwrap_err();
    assert!(matches!(error, SendError::Stopped { id: 1, .. }), "{error}");
    env.open_gate(1);
    stopping.await.unwrap();
    group.close().await.unwrap();
}

on_both_stores!(
    triggered_failures_are_failure_records,
    terminal_failure_of_a_triggered_input_halts_and_refuses_the_rest,
    stop_with_a_deadline_cancels_an_endless_entry_func,
    final_machines_leave_memory,
    a_fast_producer_is_held_to_the_queue_bound,
    stop_wakes_senders_waiting_for_room,
);

// ---- Two machines whose entry funcs send to each other, with the smallest bound. ----

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Court {
    Playing,
    Over,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stroke {
    Hit,
    End,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ball {
    status: Court,
    hits: u32,
}

fn hit(ball: &mut Ball) -> ActionResult {
    ball.hits += 1;
    Ok(())
}

fsm! {
    /// A player: every hit it receives makes it hit the other player's ball three times.
    pub machine Player {
        state: Ball,
        status: Court,
        event: Stroke,
        input: PlayerInput,
        entry: PlayerEntry,
    }
    events {
        Event(Stroke::Hit).From(Court::Playing).ToNoChange().Action(hit as fn(&mut Ball)),
        Event(Stroke::End).FromAny().To(Court::Over),
    }
    finality_states { Court::Over }
    entry_funcs {
        Court::Playing => play,
    }
}

type Players = Group<Player, Club, u64, MemoryStore>;

/// The players' environment: the group itself, to send to the other player.
#[derive(Clone, Default)]
pub struct Club {
    group: Arc<OnceLock<Players>>,
    sent: Arc<AtomicU32>,
}

const HITS: u32 = 200;

impl PlayerEntry for Club {
    async fn play(&self, _ctx: &mut Context<Player>, ball: &Ball) -> EntryResult {
        if ball.hits >= HITS {
            return Ok(());
        }
        let Some(group) = self.group.get() else {
            return Err("no group".into());
        };
        let other = u64::from(ball.hits.is_multiple_of(2));
        for _ in 0..3 {
            // The peer may have ended already; that is not this player's failure.
            if group.send(other, PlayerInput::Hit).await.is_ok() {
                self.sent.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_machines_feeding_each_other_never_deadlock() {
    let court = Club::default();
    let group: Players = Group::builder(MemoryStore::new(), court.clone())
        .queue_bound(1)
        .open()
        .await
        .unwrap();
    assert!(court.group.set(group.clone()).is_ok());
    for id in 0..2 {
        let ball = Ball {
            status: Court::Playing,
            hits: 0,
        };
        group.begin(id, ball).await.unwrap();
    }
    group.send(0, PlayerInput::Hit).await.unwrap();
    group.send(1, PlayerInput::Hit).await.unwrap();
    // A deadlock would hang here; the generous bound only turns a hang into a failure.
    let played = tokio::time::timeout(Duration::from_secs(120), async {
        loop {
            let a = group.get(&0).await.unwrap().unwrap().hits;
            let b = group.get(&1).await.unwrap().unwrap().hits;
            if a >= HITS && b >= HITS {
                return (a, b);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the two machines deadlocked");
    assert!(played.0 >= HITS && played.1 >= HITS);
    group.stop().await;
    assert!(court.sent.load(Ordering::Relaxed) >= 2 * HITS);
}

// ---- A record whose `Clone` or codec panics. ----

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Glass {
    Whole,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Knock {
    Tap,
}

/// `poison` 1 makes `Clone` panic, 2 makes the codec panic.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fragile {
    status: Glass,
    poison: u8,
    taps: u32,
}

impl Clone for Fragile {
    fn clone(&self) -> Self {
        assert!(self.poison != 1, "Clone of a poisoned record");
        Self {
            status: self.status,
            poison: self.poison,
            taps: self.taps,
        }
    }
}

fn tap(glass: &mut Fragile, poison: u8) -> ActionResult {
    glass.poison = poison;
    glass.taps += 1;
    Ok(())
}

fsm! {
    /// A machine whose record can be made to panic in `Clone` or in the codec.
    pub machine FragileFsm {
        state: Fragile,
        status: Glass,
        event: Knock,
        input: FragileInput,
        entry: FragileEntry,
    }
    events {
        Event(Knock::Tap).FromAny().ToJustRecord().Action(tap as fn(&mut Fragile, u8)),
    }
}

struct NoEntry;
impl FragileEntry for NoEntry {}

/// DAG-CBOR, except that it panics on a record poisoned with 2.
struct PanickyCodec;

impl Codec<Fragile> for PanickyCodec {
    fn name(&self) -> &str {
        "panicky-dag-cbor"
    }

    fn encode(&self, value: &Fragile, out: &mut Vec<u8>) -> Result<(), CodecError> {
        assert!(value.poison != 2, "encode of a poisoned record");
        DagCbor.encode(value, out)
    }

    fn decode(&self, bytes: &[u8]) -> Result<Fragile, CodecError> {
        DagCbor.decode(bytes)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_clone_or_codec_halts_only_that_machine() {
    for poison in [1_u8, 2] {
        let group =
            Group::<FragileFsm, NoEntry, u64, MemoryStore>::builder(MemoryStore::new(), NoEntry)
                .codec(PanickyCodec)
                .open()
                .await
                .unwrap();
        // Subscribed, so the worker clones each applied record for its notification.
        let mut subscription = group.subscribe();
        for id in 0..3 {
            let glass = Fragile {
                status: Glass::Whole,
                poison: 0,
                taps: 0,
            };
            group.begin(id, glass).await.unwrap();
            group.send_sync(id, FragileInput::Tap(0)).await.unwrap();
        }
        let error = group
            .send_sync(1, FragileInput::Tap(poison))
            .await
            .unwrap_err();
        assert!(
            matches!(error, SendError::EnginePanic { id: 1, .. }),
            "{error}"
        );
        assert!(error.to_string().contains("poisoned"), "{error}");
        // Halted, its record as last saved; the others keep going.
        let error = group.send_sync(1, FragileInput::Tap(0)).await.unwrap_err();
        assert!(matches!(error, SendError::Halted { id: 1, .. }), "{error}");
        for id in [0, 2] {
            group.send_sync(id, FragileInput::Tap(0)).await.unwrap();
        }
        let failures = group.failures(Page::all()).await.unwrap().items;
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert_eq!(
            (failures[0].id, failures[0].kind, failures[0].halted),
            (1, FailureKind::EnginePanic, true)
        );
        let failed = loop {
            let note = subscription.recv().await;
            if let Ok(note) = note
                && let Change::Failed { kind, .. } = note.change
            {
                break kind;
            }
        };
        assert_eq!(failed, FailureKind::EnginePanic);
        group.stop().await;
        assert!(group.is_stopped());
        let saved = group.get(&1).await.unwrap().unwrap();
        assert_eq!((saved.poison, saved.taps), (0, 1), "poison {poison}");
    }
}
