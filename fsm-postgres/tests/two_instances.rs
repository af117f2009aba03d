//! Two group instances in separate processes over one PostgreSQL group (this test binary
//! re-executed as children `a` and `b`): both tick the same machines and report every
//! acknowledged `send_sync`; `a` also holds machines whose entry funcs are in flight. The parent
//! SIGKILLs `a`; `b` takes over `a`'s machines once their leases expire ([`Group::resume`]
//! re-runs their entry funcs) and finishes them. The parent then checks that every
//! acknowledged tick is stored (none lost, so no stale owner overwrote a record) and that every
//! machine of `a` finished.

#![allow(clippy::unwrap_used)]

#[path = "../../fsm-runtime/tests/group_support/mod.rs"]
mod group_support;
mod pg_support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use fsm_postgres::{PgError, PgStoreBuilder};
use fsm_runtime::Group;
use fsm_runtime::group::{Page, SendError};
use fsm_runtime::store::StoreError;
use group_support::*;

const ROLE_ENV: &str = "FSM_PG_CHILD_ROLE";
const GROUP_ENV: &str = "FSM_PG_CHILD_GROUP";
/// Ticked by both instances.
const TICKED: std::ops::Range<u64> = 0..24;
/// Started by `a`, whose entry funcs wait at a gate that never opens in `a`.
const HELD: std::ops::Range<u64> = 100..108;

type PgGroup = Group<JobFsm, Env, u64, fsm_postgres::PgStore>;

/// Whether a send failed because another instance owns the machine or wrote it meanwhile.
fn refused_by_ownership(error: &SendError<JobFsm, u64>) -> bool {
    match error {
        SendError::Store {
            source: StoreError::Backend(backend),
            ..
        } => matches!(
            backend.downcast_ref::<PgError>(),
            Some(PgError::NotOwner { .. } | PgError::Stale { .. })
        ),
        _ => false,
    }
}

fn xorshift(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

/// A child instance; only runs when re-executed by the parent.
#[test]
#[ignore = "child process of two_instances_share_a_group_and_survive_sigkill"]
fn two_instances_child() {
    let (Ok(role), Ok(group_name), Ok(url)) = (
        std::env::var(ROLE_ENV),
        std::env::var(GROUP_ENV),
        std::env::var(pg_support::URL_VAR),
    ) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let store = PgStoreBuilder::new(&url, &group_name)
            .owner(format!("instance-{role}"))
            .lease_ttl(pg_support::SHORT_LEASE)
            .connect()
            .await
            .unwrap();
        let env = Env::default();
        if role == "b" {
            env.open_gate(1 << 20);
        }
        let group: PgGroup = Group::builder(store, env.clone()).open().await.unwrap();
        if role == "a" {
            for id in HELD {
                group.send_sync(id, JobInput::Start).await.unwrap();
            }
        }
        println!("READY");
        let mut seed = if role == "a" {
            0x9e37_79b9
        } else {
            0x7f4a_7c15
        };
        let mut finished = false;
        let mut round = 0u64;
        loop {
            round += 1;
            let id = TICKED.start + xorshift(&mut seed) % (TICKED.end - TICKED.start);
            match group.send_sync(id, JobInput::Tick(1)).await {
                Ok(_) => println!("ACK {id}"),
                Err(error) if refused_by_ownership(&error) => println!("REFUSED"),
                Err(error) => panic!("{error}"),
            }
            if role == "b" && round % 50 == 0 {
                // Take over the machines of a dead instance, re-running their entry funcs.
                let report = group.resume().await.unwrap();
                assert!(report.errors.is_empty(), "{:?}", report.errors);
                let resumed: Vec<u64> = HELD.filter(|id| !env.runs_of(*id).is_empty()).collect();
                if !finished && resumed.len() == HELD.count() {
                    for id in HELD {
                        println!("RESUMED {id}");
                        group.send_sync(id, JobInput::Finish).await.unwrap();
                    }
                    finished = true;
                    println!("FINISHED");
                }
            }
            if finished && round % 50 == 25 {
                group.close().await.unwrap();
                println!("STOPPED");
                return;
            }
        }
    });
}

/// The reader thread of one child: counts its acknowledged ticks per machine and forwards
/// the other lines.
fn watch(
    child: &mut Child,
    acks: mpsc::Sender<u64>,
    lines: mpsc::Sender<String>,
) -> Arc<[AtomicUsize; 2]> {
    let stdout = child.stdout.take().unwrap();
    // Acknowledged and refused sends of this child.
    let tally: Arc<[AtomicUsize; 2]> = Arc::default();
    let counts = Arc::clone(&tally);
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(id) = line.strip_prefix("ACK ") {
                // A line cut by the kill is an acknowledged tick we did not hear about, which
                // the upper bound below allows for.
                if let Ok(id) = id.trim().parse() {
                    counts[0].fetch_add(1, Ordering::Relaxed);
                    let _ = acks.send(id);
                }
            } else if line.ends_with("REFUSED") {
                counts[1].fetch_add(1, Ordering::Relaxed);
            } else {
                // libtest prints "test two_instances_child ... " without a newline first.
                let word = line.rsplit(' ').next().unwrap_or_default().to_owned();
                let _ = lines.send(word);
            }
        }
    });
    tally
}

fn spawn_child(role: &str, group: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["two_instances_child", "--exact", "--ignored", "--nocapture"])
        .args(["--test-threads", "1"])
        .env(ROLE_ENV, role)
        .env(GROUP_ENV, group)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn wait_for(lines: &mpsc::Receiver<String>, word: &str, within: Duration) {
    let deadline = std::time::Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line == word => return,
            Ok(_) => {}
            Err(_) => panic!("child did not print {word} within {within:?}"),
        }
    }
}

#[test]
fn two_instances_share_a_group_and_survive_sigkill() {
    let Some(url) = pg_support::url("two_instances_share_a_group_and_survive_sigkill") else {
        return;
    };
    let group_name = pg_support::unique_group("two-instances");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = PgStoreBuilder::new(&url, &group_name)
            .owner("setup")
            .connect()
            .await
            .unwrap();
        let group: PgGroup = Group::builder(store, Env::default()).open().await.unwrap();
        for id in TICKED {
            group.begin(id, Job::new(id, OnRun::Nothing)).await.unwrap();
        }
        for id in HELD {
            group.begin(id, Job::new(id, OnRun::Gate)).await.unwrap();
        }
        // Closing the group closes the store, which releases its leases at once.
        group.close().await.unwrap();
    });

    let (ack_tx, ack_rx) = mpsc::channel();
    let (a_tx, a_lines) = mpsc::channel();
    let (b_tx, b_lines) = mpsc::channel();
    let mut a = spawn_child("a", &group_name);
    let a_tally = watch(&mut a, ack_tx.clone(), a_tx);
    wait_for(&a_lines, "READY", Duration::from_secs(60));
    let mut b = spawn_child("b", &group_name);
    let b_tally = watch(&mut b, ack_tx, b_tx);
    wait_for(&b_lines, "READY", Duration::from_secs(60));
    // Let both contend for a while, then kill `a` without warning.
    let mut acked: HashMap<u64, u64> = HashMap::new();
    let mut heard = 0;
    while heard < 200 {
        let id = ack_rx.recv_timeout(Duration::from_secs(60)).unwrap();
        *acked.entry(id).or_default() += 1;
        heard += 1;
    }
    a.kill().unwrap(); // SIGKILL on Unix
    a.wait().unwrap();
    wait_for(&b_lines, "FINISHED", Duration::from_secs(60));
    wait_for(&b_lines, "STOPPED", Duration::from_secs(60));
    assert!(b.wait().unwrap().success(), "instance b failed");
    while let Ok(id) = ack_rx.try_recv() {
        *acked.entry(id).or_default() += 1;
    }
    // Both instances worked on the shared machines, and ownership refused some sends.
    let [a_acks, a_refused] = [&a_tally[0], &a_tally[1]].map(|n| n.load(Ordering::Relaxed));
    let [b_acks, b_refused] = [&b_tally[0], &b_tally[1]].map(|n| n.load(Ordering::Relaxed));
    eprintln!("a: {a_acks} acked, {a_refused} refused; b: {b_acks} acked, {b_refused} refused");
    assert!(a_acks > 0 && b_acks > 0);
    assert!(
        a_refused + b_refused > 0,
        "no send was ever refused by a lease"
    );

    runtime.block_on(async {
        let store = PgStoreBuilder::new(&url, &group_name)
            .owner("verify")
            .connect()
            .await
            .unwrap();
        let group: PgGroup = Group::builder(store, Env::default()).open().await.unwrap();
        let listing = group.list(Page::all()).await.unwrap();
        assert!(listing.errors.is_empty(), "{:?}", listing.errors);
        assert!(listing.next.is_none());
        let stored: HashMap<u64, Job> = listing.items.into_iter().collect();
        for id in TICKED {
            let acked = acked.get(&id).copied().unwrap_or(0);
            let count = stored[&id].count;
            // Every acknowledged tick is stored; at most `a`'s one send in flight at the kill
            // is there unacknowledged.
            assert!(
                count >= acked && count <= acked + 1,
                "machine {id}: stored count {count}, acknowledged {acked}"
            );
        }
        for id in HELD {
            assert_eq!(stored[&id].status, Status::Done, "machine {id}");
        }
        group.close().await.unwrap();
    });
}
