//! Several group instances in separate processes over one PostgreSQL group (this test binary
//! re-executed as children): each ticks random machines of the group and reports every
//! acknowledged `send_sync` (`ACK id`) and every send refused because another instance owns
//! the machine (`REFUSED`). The parent kills, pauses and adds instances, then checks that every
//! acknowledged tick is stored exactly once (none lost: no stale owner overwrote a record;
//! none doubled) and that the machines a dead instance held were resumed and finished by the
//! others.
//!
//! The takeover times measured here are printed (`--nocapture`), not asserted: they depend on
//! the machine's load.

#![allow(clippy::unwrap_used)]

#[path = "../../fsm-runtime/tests/group_support/mod.rs"]
mod group_support;
mod pg_support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use fsm_postgres::{PgStore, PgStoreBuilder};
use fsm_runtime::Group;
use fsm_runtime::group::{Page, SendError};
use fsm_runtime::store::StoreError;
use group_support::*;

const ROLE_ENV: &str = "FSM_PG_CLUSTER_ROLE";
const GROUP_ENV: &str = "FSM_PG_CLUSTER_GROUP";
const GATE_ENV: &str = "FSM_PG_CLUSTER_GATE";
/// Ticked by every instance.
const TICKED: std::ops::Range<u64> = 0..48;
/// Started by whichever instance owns them; their entry funcs pass the gate, then finish.
const HELD: std::ops::Range<u64> = 100..140;
/// The group's shard count.
const SHARDS: u32 = 16;
/// The lease time of the children (short, so that takeovers happen within a test).
const LEASE: Duration = Duration::from_secs(2);

type PgGroup = Group<JobFsm, Env, u64, PgStore>;

/// Whether a send was refused because another instance owns the machine (or wrote it
/// meanwhile, which the group reports after reloading).
fn refused_by_ownership(error: &SendError<JobFsm, u64>) -> bool {
    match error {
        SendError::Store {
            source: StoreError::NotOwner { .. },
            ..
        } => true,
        SendError::Store {
            source: StoreError::Backend(backend),
            ..
        } => matches!(
            backend.downcast_ref::<fsm_postgres::PgError>(),
            Some(fsm_postgres::PgError::Stale { .. })
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

/// A child instance; only runs when re-executed by the parent. Joins the group, waits until
/// it holds its shards, starts the held machines it owns (their entry funcs pass the gate
/// only when `GATE` is `open`), then ticks random machines until the parent writes `STOP`.
#[test]
#[ignore = "child process of the cluster tests"]
fn cluster_child() {
    let (Ok(role), Ok(group_name), Ok(url)) = (
        std::env::var(ROLE_ENV),
        std::env::var(GROUP_ENV),
        std::env::var(pg_support::URL_VAR),
    ) else {
        return;
    };
    let gate_open = std::env::var(GATE_ENV).is_ok_and(|gate| gate == "open");
    let stop = Arc::new(AtomicBool::new(false));
    let stopping = Arc::clone(&stop);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            if line.is_ok_and(|line| line.trim() == "STOP") {
                break;
            }
        }
        // STOP, or the parent went away.
        stopping.store(true, Ordering::SeqCst);
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let store = PgStoreBuilder::new(&url, &group_name)
            .owner(role.clone())
            .address(format!("test://{role}"))
            .shards(SHARDS)
            .lease_ttl(LEASE)
            .connect()
            .await
            .unwrap();
        store.settled(Duration::from_secs(60)).await.unwrap();
        let env = Env::default();
        if gate_open {
            env.open_gate(1 << 20);
        }
        let group: PgGroup = Group::builder(store.clone(), env)
            .resume_on_open(true)
            .open()
            .await
            .unwrap();
        for id in HELD {
            match group.send_sync(id, JobInput::Start).await {
                Ok(_) => println!("STARTED {id}"),
                // Owned elsewhere, or started and finished before this instance joined.
                Err(error) if refused_by_ownership(&error) => {}
                // Started by another instance before this one took the machine's shard.
                Err(SendError::Terminated { .. } | SendError::Invalid { .. }) => {}
                Err(error) => panic!("{error}"),
            }
        }
        println!("READY");
        let mut seed = 0x9e37_79b9 ^ role.bytes().fold(7_u64, |h, b| h * 31 + u64::from(b));
        while !stop.load(Ordering::SeqCst) {
            let id = TICKED.start + xorshift(&mut seed) % (TICKED.end - TICKED.start);
            match group.send_sync(id, JobInput::Tick(1)).await {
                Ok(_) => println!("ACK {id}"),
                Err(error) if refused_by_ownership(&error) => {
                    println!("REFUSED");
                    // Another instance owns it: do not spin on the refusals.
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                Err(error) => panic!("{error}"),
            }
        }
        group.close().await.unwrap();
        println!("STOPPED");
    });
}

/// One child process and what it printed.
struct Instance {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    /// Acknowledged and refused sends.
    tally: Arc<[AtomicUsize; 2]>,
    /// Its lines other than `ACK` and `REFUSED`.
    lines: mpsc::Receiver<String>,
}

impl Instance {
    fn spawn(name: &str, group: &str, gate_open: bool, acks: mpsc::Sender<u64>) -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["cluster_child", "--exact", "--ignored", "--nocapture"])
            .args(["--test-threads", "1"])
            .env(ROLE_ENV, name)
            .env(GROUP_ENV, group)
            .env(GATE_ENV, if gate_open { "open" } else { "closed" })
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().unwrap();
        let tally: Arc<[AtomicUsize; 2]> = Arc::default();
        let counts = Arc::clone(&tally);
        let (lines_tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // libtest prints "test cluster_child ... " without a newline first.
                let line = line.rsplit("... ").next().unwrap_or_default().to_owned();
                if let Some(id) = line.strip_prefix("ACK ") {
                    // A line cut by a kill is an acknowledged tick we did not hear about, which
                    // the check's upper bound allows for.
                    if let Ok(id) = id.trim().parse() {
                        counts[0].fetch_add(1, Ordering::Relaxed);
                        let _ = acks.send(id);
                    }
                } else if line == "REFUSED" {
                    counts[1].fetch_add(1, Ordering::Relaxed);
                } else {
                    let _ = lines_tx.send(line);
                }
            }
        });
        Self {
            name: name.to_owned(),
            child,
            stdin,
            tally,
            lines,
        }
    }

    /// Waits for a line `word` (ignoring others), returning the lines seen before it.
    fn wait_for(&self, word: &str, within: Duration) -> Vec<String> {
        let deadline = Instant::now() + within;
        let mut before = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line == word => return before,
                Ok(line) => before.push(line),
                Err(_) => panic!("{} did not print {word} within {within:?}", self.name),
            }
        }
    }

    fn acks(&self) -> usize {
        self.tally[0].load(Ordering::Relaxed)
    }

    fn refused(&self) -> usize {
        self.tally[1].load(Ordering::Relaxed)
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill {signal} failed");
    }

    /// Asks the instance to close its group and waits for it to exit cleanly.
    fn stop(mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            writeln!(stdin, "STOP").unwrap();
        }
        self.wait_for("STOPPED", Duration::from_secs(60));
        assert!(self.child.wait().unwrap().success(), "{} failed", self.name);
    }
}

/// The group's shard table and records, read over a plain connection (a store would join the
/// membership and change the assignment).
struct Observer {
    client: tokio_postgres::Client,
    group: String,
}

impl Observer {
    async fn connect(url: &str, group: &str) -> Self {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        Self {
            client,
            group: group.to_owned(),
        }
    }

    /// The live lease holder of each shard (none: free or expired).
    async fn holders(&self) -> HashMap<i32, String> {
        let rows = self
            .client
            .query(
                "SELECT shard, owner FROM fsm_shards
                 WHERE group_name = $1 AND expires_at > now()",
                &[&self.group],
            )
            .await
            .unwrap();
        rows.iter().map(|row| (row.get(0), row.get(1))).collect()
    }

    /// How many of `ids` are not done.
    async fn unfinished(&self, ids: &[u64]) -> i64 {
        let keys: Vec<Vec<u8>> = ids.iter().map(|id| id.to_be_bytes().to_vec()).collect();
        self.client
            .query_one(
                "SELECT count(*) FROM fsm_records
                 WHERE group_name = $1 AND machine_id = ANY($2) AND status <> 'Done'",
                &[&self.group, &keys],
            )
            .await
            .unwrap()
            .get(0)
    }

    /// The status, shard and shard lease of each of `ids` that is not done, for a failure
    /// message.
    async fn describe(&self, ids: &[u64]) -> String {
        let keys: Vec<Vec<u8>> = ids.iter().map(|id| id.to_be_bytes().to_vec()).collect();
        let rows = self
            .client
            .query(
                "SELECT r.machine_id, r.status, r.shard, r.epoch, r.version, s.owner, s.epoch,
                        s.expires_at > now()
                 FROM fsm_records r LEFT JOIN fsm_shards s
                   ON s.group_name = r.group_name AND s.shard = r.shard
                 WHERE r.group_name = $1 AND r.machine_id = ANY($2) AND r.status <> 'Done'",
                &[&self.group, &keys],
            )
            .await
            .unwrap();
        let mut text = String::new();
        for row in &rows {
            let key: Vec<u8> = row.get(0);
            let status: String = row.get(1);
            let shard: i32 = row.get(2);
            let (epoch, version): (i64, i64) = (row.get(3), row.get(4));
            let (owner, lease, live): (Option<String>, Option<i64>, Option<bool>) =
                (row.get(5), row.get(6), row.get(7));
            text.push_str(&format!(
                "\n  {key:?}: {status}, shard {shard}, written under epoch {epoch} at version \
                 {version}; lease: {owner:?} epoch {lease:?} live {live:?}"
            ));
        }
        text
    }

    /// Waits (polling) until `done` holds, at most `within`; how long it took.
    async fn until<F, Fut>(&self, within: Duration, what: &str, mut done: F) -> Duration
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let started = Instant::now();
        while !done().await {
            assert!(started.elapsed() < within, "{what} not within {within:?}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        started.elapsed()
    }
}

/// Creates the group's machines (from a setup instance that then hands its shards over).
async fn set_up(url: &str, group_name: &str) {
    let store = PgStoreBuilder::new(url, group_name)
        .owner("setup")
        .shards(SHARDS)
        .connect()
        .await
        .unwrap();
    let group: PgGroup = Group::builder(store, Env::default()).open().await.unwrap();
    for id in TICKED {
        group.begin(id, Job::new(id, OnRun::Nothing)).await.unwrap();
    }
    for id in HELD {
        group
            .begin(id, Job::new(id, OnRun::GateThenFinish))
            .await
            .unwrap();
    }
    // Closing the group closes the store, which hands its shards over at once.
    group.close().await.unwrap();
}

/// Checks that every acknowledged tick is stored: at least the acknowledged count, and at most
/// `in_flight_slack` more (sends in flight when an instance was killed or paused).
async fn check_ticks(url: &str, group_name: &str, acks: &mpsc::Receiver<u64>, slack: u64) {
    let mut acked: HashMap<u64, u64> = HashMap::new();
    while let Ok(id) = acks.try_recv() {
        *acked.entry(id).or_default() += 1;
    }
    let store = PgStoreBuilder::new(url, group_name)
        .owner("verify")
        .connect()
        .await
        .unwrap();
    let group: PgGroup = Group::builder(store, Env::default()).open().await.unwrap();
    let listing = group.list(Page::all()).await.unwrap();
    assert!(listing.errors.is_empty(), "{:?}", listing.errors);
    let stored: HashMap<u64, Job> = listing.items.into_iter().collect();
    for id in TICKED {
        let acked = acked.get(&id).copied().unwrap_or(0);
        let count = stored[&id].count;
        assert!(
            count >= acked && count <= acked + slack,
            "machine {id}: stored count {count}, acknowledged {acked}"
        );
    }
    for id in HELD {
        // Started and finished, or never started: a start refused everywhere because the
        // machine's shard was moving leaves it new. Never stuck running.
        let status = stored[&id].status;
        assert!(
            matches!(status, Status::Done | Status::New),
            "machine {id}: {status:?}"
        );
    }
    group.close().await.unwrap();
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Waits until `count` more acknowledgements arrived, keeping them for the final check.
fn hear(acks: &mpsc::Receiver<u64>, kept: &mpsc::Sender<u64>, count: usize) {
    for _ in 0..count {
        let id = acks.recv_timeout(Duration::from_secs(60)).unwrap();
        kept.send(id).unwrap();
    }
}

#[test]
#[ignore = "needs a PostgreSQL server: bash .ci/pg cargo test -p fsm-postgres -- --include-ignored"]
fn three_instances_take_over_a_killed_one_and_a_fourth_joins() {
    let test = "three_instances_take_over_a_killed_one_and_a_fourth_joins";
    let Some(url) = pg_support::url(test) else {
        return;
    };
    let group_name = pg_support::unique_group("cluster-kill");
    let runtime = runtime();
    runtime.block_on(set_up(&url, &group_name));
    let observer = runtime.block_on(Observer::connect(&url, &group_name));

    let (ack_tx, acks) = mpsc::channel();
    let (kept_tx, kept) = mpsc::channel();
    // `a`'s gate stays closed: the held machines it starts wait in their entry func until
    // another instance resumes them.
    let a = Instance::spawn("a", &group_name, false, ack_tx.clone());
    let b = Instance::spawn("b", &group_name, true, ack_tx.clone());
    let c = Instance::spawn("c", &group_name, true, ack_tx.clone());
    let started: Vec<u64> = a
        .wait_for("READY", Duration::from_secs(90))
        .iter()
        .filter_map(|line| line.strip_prefix("STARTED ")?.parse().ok())
        .collect();
    b.wait_for("READY", Duration::from_secs(90));
    c.wait_for("READY", Duration::from_secs(90));
    hear(&acks, &kept_tx, 300);
    eprintln!("a started {} held machines", started.len());

    // Kill `a` without warning: `b` and `c` take its shards once its heartbeat has expired,
    // and resume (and so finish) the machines it held.
    let mut a = a;
    a.child.kill().unwrap(); // SIGKILL on Unix
    a.child.wait().unwrap();
    let killed = Instant::now();
    let taken = runtime.block_on(observer.until(
        Duration::from_secs(60),
        "a's shards taken over",
        || async {
            let holders = observer.holders().await;
            holders.len() == SHARDS as usize && holders.values().all(|owner| owner != "a")
        },
    ));
    let settled = runtime.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if observer.unfinished(&started).await == 0 {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        false
    });
    if !settled {
        let stuck = runtime.block_on(observer.describe(&started));
        panic!("a's held machines not finished within 60 s: {stuck}");
    }
    let finished = killed.elapsed();
    eprintln!(
        "takeover after SIGKILL (lease {LEASE:?}): every shard held by the others {taken:?} \
         after the kill, the held machines a started finished {finished:?} after it"
    );
    hear(&acks, &kept_tx, 100);

    // A fourth instance joins: shards move to it (each handed over before it is taken, so
    // never two owners) while `b` and `c` keep ticking.
    let joined = Instant::now();
    let d = Instance::spawn("d", &group_name, true, ack_tx);
    d.wait_for("READY", Duration::from_secs(90));
    let moved =
        runtime.block_on(
            observer.until(Duration::from_secs(60), "shards moved to d", || async {
                let holders = observer.holders().await;
                holders.len() == SHARDS as usize && holders.values().any(|owner| owner == "d")
            }),
        );
    eprintln!(
        "join: d holds shards {moved:?} after its start ({:?} in all)",
        joined.elapsed()
    );
    // Until the newcomer has worked on its own machines too.
    let deadline = Instant::now() + Duration::from_secs(60);
    while d.acks() == 0 {
        assert!(Instant::now() < deadline, "d acknowledged nothing");
        hear(&acks, &kept_tx, 10);
    }
    let counts: Vec<(String, usize, usize)> = [&a, &b, &c, &d]
        .iter()
        .map(|i| (i.name.clone(), i.acks(), i.refused()))
        .collect();
    eprintln!("acknowledged and refused sends per instance: {counts:?}");
    assert!(counts.iter().all(|(_, acked, _)| *acked > 0), "{counts:?}");
    assert!(
        counts.iter().any(|(_, _, refused)| *refused > 0),
        "no send was ever refused by ownership: {counts:?}"
    );
    b.stop();
    c.stop();
    d.stop();
    while let Ok(id) = acks.try_recv() {
        kept_tx.send(id).unwrap();
    }
    drop(kept_tx);
    runtime.block_on(check_ticks(&url, &group_name, &kept, 1));
}

#[test]
#[ignore = "needs a PostgreSQL server: bash .ci/pg cargo test -p fsm-postgres -- --include-ignored"]
fn a_paused_owner_is_fenced_after_its_shards_were_taken() {
    let test = "a_paused_owner_is_fenced_after_its_shards_were_taken";
    let Some(url) = pg_support::url(test) else {
        return;
    };
    let group_name = pg_support::unique_group("cluster-pause");
    let runtime = runtime();
    runtime.block_on(set_up(&url, &group_name));
    let observer = runtime.block_on(Observer::connect(&url, &group_name));

    let (ack_tx, acks) = mpsc::channel();
    let (kept_tx, kept) = mpsc::channel();
    let a = Instance::spawn("a", &group_name, true, ack_tx.clone());
    let b = Instance::spawn("b", &group_name, true, ack_tx);
    a.wait_for("READY", Duration::from_secs(90));
    b.wait_for("READY", Duration::from_secs(90));
    hear(&acks, &kept_tx, 300);

    // Pause `a` past its lease: `b` takes every shard.
    a.signal("-STOP");
    let paused = Instant::now();
    let taken = runtime.block_on(observer.until(
        Duration::from_secs(60),
        "a's shards taken by b",
        || async {
            let holders = observer.holders().await;
            holders.len() == SHARDS as usize && holders.values().all(|owner| owner == "b")
        },
    ));
    eprintln!("pause: b held every shard {taken:?} after SIGSTOP of a");
    let refused_before = a.refused();
    a.signal("-CONT");
    // `a` wakes up believing it still owns its shards: its writes are refused by the shard
    // epoch in the statement (or, once it has run a round, before they are sent) until `b`
    // hands its shards back.
    let back = runtime.block_on(observer.until(
        Duration::from_secs(60),
        "a owning shards again",
        || async { observer.holders().await.values().any(|owner| owner == "a") },
    ));
    eprintln!(
        "a holds shards again {back:?} after SIGCONT ({:?} after the pause)",
        paused.elapsed()
    );
    hear(&acks, &kept_tx, 200);
    let refused_after = a.refused() - refused_before;
    eprintln!(
        "a: {} acknowledged, {refused_after} refused after waking; b: {} acknowledged",
        a.acks(),
        b.acks()
    );
    assert!(
        refused_after > 0,
        "a's writes after waking were not refused"
    );
    a.stop();
    b.stop();
    while let Ok(id) = acks.try_recv() {
        kept_tx.send(id).unwrap();
    }
    drop(kept_tx);
    // No kill: every acknowledged tick is stored exactly once.
    runtime.block_on(check_ticks(&url, &group_name, &kept, 0));
}
