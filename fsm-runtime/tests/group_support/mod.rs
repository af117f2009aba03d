//! Test machines, an entry-func environment and store helpers shared by the group tests.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use fsm_runtime::group::{Change, Subscription};
use fsm_runtime::store::{
    Committed, Entry, Header, MemoryStore, RedbStore, ScanPage, ScanRequest, Store, StoreError,
    StoreFuture, WriteOp,
};
use fsm_runtime::{ActionResult, Context, EntryResult, Group, fsm};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

/// Runs each named suite test (an `async fn(Backend)` of the including file) on the memory and
/// redb stores, and exposes it as `suite::name(store)` for store crates.
#[allow(unused_macros)]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::memory()).await
                }
            )*
        }
        mod redb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::redb()).await
                }
            )*
        }
        /// Every test as a function of a store, for store crates that run this suite on their
        /// own store (through the file's `*_tests!` macro).
        #[allow(dead_code)]
        pub(crate) mod suite {
            $(
                pub(crate) async fn $name(store: super::DynStore) {
                    super::$name(super::Backend::from_store(store)).await
                }
            )*
        }
    };
}

/// The status of the test job machines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Status {
    New,
    Running,
    Waiting,
    Done,
    Failed,
}

/// The event codes of the test job machines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ev {
    Start,
    Tick,
    Pause,
    Note,
    Boom,
    Explode,
    Finish,
    Abort,
}

/// What the `run` entry func does, chosen per machine in its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum OnRun {
    /// Records the snapshot and returns.
    #[default]
    Nothing,
    /// Triggers `Finish`.
    TriggerFinish,
    /// Returns an error.
    Fail,
    /// Panics.
    Panic,
    /// Waits for a permit of the environment's gate.
    Gate,
    /// While the log is empty: waits for the gate, then triggers `Note("triggered")`.
    GateThenTrigger,
    /// Triggers `Start`, which is not valid in `Running`.
    TriggerInvalid,
    /// Triggers `Start` (invalid in `Running`), then `Note("after")`.
    TriggerInvalidThenNote,
    /// Triggers `Boom`, whose action fails.
    TriggerBoom,
    /// Triggers `Explode`, whose action panics.
    TriggerExplode,
    /// Triggers `Note("again")` every time: `Note` re-runs the entry func, forever.
    TriggerForever,
    /// Waits for a permit of the environment's gate, then triggers `Finish`.
    GateThenFinish,
}

/// The record of the test job machines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub id: u64,
    pub status: Status,
    pub count: u64,
    pub log: Vec<String>,
    /// The status each action saw when it ran.
    pub seen: Vec<Status>,
    pub on_run: OnRun,
}

impl Job {
    /// A new job with entry behaviour `on_run`.
    pub fn new(id: u64, on_run: OnRun) -> Self {
        Self {
            id,
            status: Status::New,
            count: 0,
            log: Vec::new(),
            seen: Vec::new(),
            on_run,
        }
    }
}

/// The shared action of `Tick`.
fn count_tick(job: &mut Job, n: u64) -> ActionResult {
    job.seen.push(job.status);
    job.count += n;
    Ok(())
}

fn explode(job: &mut Job) -> ActionResult {
    job.count += 1000;
    if job.count > 0 {
        panic!("exploded in {:?}", job.status);
    }
    Ok(())
}

fsm! {
    /// The default-mode test machine.
    pub machine JobFsm {
        state: Job,
        status: Status,
        event: Ev,
        input: JobInput,
        entry: JobEntry,
    }
    events {
        Event(Ev::Start)
            .From(Status::New).To(Status::Running)
            .Action(|job: &mut Job| { job.seen.push(job.status); Ok(()) }),
        Event(Ev::Tick)
            .From(Status::Waiting).To(Status::Running)
            .FromAny().ToJustRecord()
            .Action(count_tick as fn(&mut Job, u64)),
        Event(Ev::Pause).From(Status::Running).To(Status::Waiting),
        Event(Ev::Note)
            .FromMany(Status::Running, Status::Waiting).ToNoChange()
            .Action(|job: &mut Job, text: String| { job.log.push(text); Ok(()) }),
        Event(Ev::Boom)
            .FromAny().ToJustRecord()
            .Action(|job: &mut Job| { job.count += 1000; Err("boom".into()) }),
        Event(Ev::Explode).FromAny().ToJustRecord().Action(explode as fn(&mut Job)),
        Event(Ev::Finish).FromMany(Status::Running, Status::Waiting).To(Status::Done),
        Event(Ev::Abort).FromAny().To(Status::Failed),
    }
    finality_states { Status::Done, Status::Failed }
    entry_funcs {
        Status::Running => run,
        Status::Waiting => wait,
    }
}

fsm! {
    /// The consume-all test machine (the retrieval provider's mode).
    pub machine BatchFsm {
        state: Job,
        status: Status,
        event: Ev,
        input: BatchInput,
        entry: BatchEntry,
        consume_all_events_before_entry_funcs: true,
    }
    events {
        Event(Ev::Start)
            .From(Status::New).To(Status::Running)
            .Action(|job: &mut Job| { job.seen.push(job.status); Ok(()) }),
        Event(Ev::Tick).FromAny().ToJustRecord().Action(count_tick as fn(&mut Job, u64)),
        Event(Ev::Note)
            .From(Status::Running).ToNoChange()
            .Action(|job: &mut Job, text: String| { job.log.push(text); Ok(()) }),
        Event(Ev::Boom)
            .FromAny().ToJustRecord()
            .Action(|job: &mut Job| { job.count += 1000; Err("boom".into()) }),
        Event(Ev::Finish).From(Status::Running).To(Status::Done),
    }
    finality_states { Status::Done }
    entry_funcs {
        Status::Running => run_batch,
    }
}

/// One entry func run, as the func saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryRun {
    pub id: u64,
    pub func: &'static str,
    pub snapshot: Job,
}

/// The entry-func environment: records every run; a gate entry funcs can wait on.
#[derive(Clone, Default)]
pub struct Env {
    inner: Arc<EnvInner>,
}

struct EnvInner {
    runs: Mutex<Vec<EntryRun>>,
    gate: Semaphore,
}

impl Default for EnvInner {
    fn default() -> Self {
        Self {
            runs: Mutex::default(),
            gate: Semaphore::new(0),
        }
    }
}

impl Env {
    /// Every entry run so far.
    pub fn runs(&self) -> Vec<EntryRun> {
        self.inner.runs.lock().unwrap().clone()
    }

    /// The entry runs of machine `id`.
    pub fn runs_of(&self, id: u64) -> Vec<EntryRun> {
        self.runs().into_iter().filter(|run| run.id == id).collect()
    }

    /// Lets `n` gated entry funcs through.
    pub fn open_gate(&self, n: usize) {
        self.inner.gate.add_permits(n);
    }

    fn record(&self, func: &'static str, job: &Job) {
        self.inner.runs.lock().unwrap().push(EntryRun {
            id: job.id,
            func,
            snapshot: job.clone(),
        });
    }

    async fn pass_gate(&self) {
        self.inner.gate.acquire().await.unwrap().forget();
    }
}

impl JobEntry for Env {
    async fn run(&self, ctx: &mut Context<JobFsm>, job: &Job) -> EntryResult {
        self.record("run", job);
        match job.on_run {
            OnRun::Nothing => {}
            OnRun::TriggerFinish => ctx.trigger(JobInput::Finish),
            OnRun::Fail => return Err(format!("run failed for job {}", job.id).into()),
            OnRun::Panic => panic!("run panicked for job {}", job.id),
            OnRun::Gate => self.pass_gate().await,
            OnRun::GateThenFinish => {
                self.pass_gate().await;
                ctx.trigger(JobInput::Finish);
            }
            OnRun::GateThenTrigger => {
                if job.log.is_empty() {
                    self.pass_gate().await;
                    ctx.trigger(JobInput::Note("triggered".into()));
                }
            }
            OnRun::TriggerInvalid => ctx.trigger(JobInput::Start),
            OnRun::TriggerInvalidThenNote => {
                if job.log.is_empty() {
                    ctx.trigger(JobInput::Start);
                    ctx.trigger(JobInput::Note("after".into()));
                }
            }
            OnRun::TriggerBoom => {
                if job.count == 0 {
                    ctx.trigger(JobInput::Boom);
                }
            }
            OnRun::TriggerExplode => {
                if job.count == 0 {
                    ctx.trigger(JobInput::Explode);
                }
            }
            OnRun::TriggerForever => {
                ctx.trigger(JobInput::Note("again".into()));
                // Yield, as real entry funcs doing I/O do: a cancellation can get in.
                tokio::task::yield_now().await;
            }
        }
        Ok(())
    }

    async fn wait(&self, _ctx: &mut Context<JobFsm>, job: &Job) -> EntryResult {
        self.record("wait", job);
        Ok(())
    }
}

impl BatchEntry for Env {
    async fn run_batch(&self, ctx: &mut Context<BatchFsm>, job: &Job) -> EntryResult {
        self.record("run_batch", job);
        match job.on_run {
            OnRun::TriggerFinish => ctx.trigger(BatchInput::Finish),
            OnRun::Gate => self.pass_gate().await,
            _ => {}
        }
        Ok(())
    }
}

/// The store every test group uses: either backend behind one type.
pub type DynStore = Arc<dyn Store>;

/// A default-mode test group.
pub type JobGroup = Group<JobFsm, Env, u64, DynStore>;

/// A consume-all test group.
pub type BatchGroup = Group<BatchFsm, Env, u64, DynStore>;

/// A store backend for one test; keeps its temporary directory alive.
pub struct Backend {
    pub store: DynStore,
    pub path: Option<PathBuf>,
    _dir: Option<tempfile::TempDir>,
}

impl Backend {
    /// An in-memory store.
    pub fn memory() -> Self {
        Self {
            store: Arc::new(MemoryStore::new()),
            path: None,
            _dir: None,
        }
    }

    /// A backend over `store`: how a store crate runs the group suites on its own store (it
    /// includes the suite files with `#[path]` and calls their `suite` functions; see
    /// `fsm-postgres/tests/group_suite.rs`).
    pub fn from_store(store: DynStore) -> Self {
        Self {
            store,
            path: None,
            _dir: None,
        }
    }

    /// A redb store in a fresh temporary directory.
    pub fn redb() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("group.redb");
        Self {
            store: Arc::new(RedbStore::open(&path).unwrap()),
            path: Some(path),
            _dir: Some(dir),
        }
    }

    /// A default-mode group on this store.
    pub async fn job_group(&self, env: &Env) -> JobGroup {
        Group::builder(Arc::clone(&self.store), env.clone())
            .open()
            .await
            .unwrap()
    }

    /// A consume-all group on this store.
    pub async fn batch_group(&self, env: &Env) -> BatchGroup {
        Group::builder(Arc::clone(&self.store), env.clone())
            .open()
            .await
            .unwrap()
    }
}

/// The store key of a `u64` machine id in a group without key prefix.
pub fn key(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

/// Replaces the stored record of machine `id` (in a group without key prefix) with `bytes`,
/// keeping its metadata: how the fault tests damage a record.
pub async fn overwrite_record(store: &DynStore, id: u64, bytes: &[u8]) {
    let key = key(id);
    let entry = store.get(&key).await.unwrap().expect("the record exists");
    let meta = entry.meta.unwrap();
    let op = WriteOp::Put {
        key: &key,
        record: bytes,
        meta: &meta,
    };
    store.commit(&[op]).await.unwrap().result(0).unwrap();
}

/// Waits for the next entry-failure notification of machine `id`, skipping others.
pub async fn next_entry_failure(
    subscription: &mut Subscription<JobFsm, u64>,
    id: u64,
) -> (Status, String) {
    loop {
        let note = subscription.recv().await.unwrap();
        if let (true, Change::Failed { status, error, .. }) = (note.id == id, &note.change) {
            return (*status, error.to_string());
        }
    }
}

/// A store wrapper whose writes fail while `fail_writes` is set.
pub struct FaultyStore {
    pub inner: DynStore,
    pub fail_writes: std::sync::atomic::AtomicBool,
}

impl FaultyStore {
    fn check(&self) -> Result<(), StoreError> {
        if self.fail_writes.load(std::sync::atomic::Ordering::SeqCst) {
            Err(StoreError::backend(std::io::Error::other(
                "injected write failure",
            )))
        } else {
            Ok(())
        }
    }
}

impl Store for FaultyStore {
    fn get<'a>(&'a self, key: &'a [u8]) -> StoreFuture<'a, Option<Entry>> {
        self.inner.get(key)
    }

    fn scan<'a>(&'a self, request: ScanRequest<'a>) -> StoreFuture<'a, ScanPage> {
        self.inner.scan(request)
    }

    fn commit<'a>(&'a self, ops: &'a [WriteOp<'a>]) -> StoreFuture<'a, Committed> {
        match self.check() {
            Ok(()) => self.inner.commit(ops),
            Err(error) => Box::pin(std::future::ready(Err(error))),
        }
    }

    fn header<'a>(&'a self, prefix: &'a [u8]) -> StoreFuture<'a, Option<Header>> {
        self.inner.header(prefix)
    }

    fn close(&self) -> StoreFuture<'_, ()> {
        self.inner.close()
    }

    fn prefers_group_commit(&self) -> bool {
        self.inner.prefers_group_commit()
    }
}
