//! Running the simulation: the store and data directory, the deal group, the notification
//! dispatcher, the client workers, and the summary.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use fsm_runtime::codec::Codec;
use fsm_runtime::group::{Change, Page, RecvError, Subscription};
use fsm_runtime::store::{Filter, MemoryStore, RedbStore, ScanRequest, Store, WriteOp};
use fsm_runtime::{Group, GroupBuilder, Machine, MachineId};
use hdrhistogram::Histogram;
use retrieval_provider::{ProviderDealStateCodec, ProviderFsm, ProviderHandlers};

use super::client::{Client, ClientError};
use super::config::{Config, Mode, PlanSpec, StoreKind};
use super::env::{Link, Links, Signal, SimEnv};
use super::error::SimError;
use super::manifest::{self, MANIFEST_FILE, STORE_FILE};
use super::plan::{DealPlan, deal_id, index_of};
use super::progress::Progress;
use super::summary::{Latency, Summary};

/// The deal group the simulation runs: the real provider machine and entry funcs over the
/// simulated environment, keyed by deal id, stored with Go's record bytes.
pub type SimGroup =
    Group<ProviderFsm, ProviderHandlers<SimEnv>, u64, Arc<dyn Store>, ProviderDealStateCodec>;

/// Runs the simulation `config` describes and summarises it.
pub async fn run(config: &Config) -> Result<Summary, SimError> {
    let started = Instant::now();
    let (spec, store, store_path) = open_store(config).await?;
    let resumed = matches!(config.mode, Mode::Resume);
    let links = Arc::new(Links::new(spec.deals));
    if resumed {
        // The provider resumes the entry funcs of unfinished deals as it opens: their links
        // must exist first. Finished deals get none.
        link_unfinished_deals(store.as_ref(), &links, &spec).await?;
    }

    let capacity = usize::try_from(spec.deals.saturating_mul(4))
        .unwrap_or(usize::MAX)
        .clamp(1024, 1 << 18);
    let group: SimGroup = GroupBuilder::new(
        Arc::clone(&store),
        ProviderHandlers::new(SimEnv::new(Arc::clone(&links))),
    )
    .codec(ProviderDealStateCodec)
    .resume_on_open(resumed)
    .notification_capacity(capacity)
    .open()
    .await?;

    let finished = Arc::new(AtomicU64::new(0));
    let dispatcher = tokio::spawn(dispatch(
        group.subscribe(),
        Arc::clone(&links),
        Arc::clone(&finished),
    ));
    let progress = Progress::start(
        config.progress,
        spec.deals,
        Arc::clone(&finished),
        group.clone(),
    );

    let counts = Arc::new(WorkCounts::default());
    // One histogram for every worker: its size is set by the range of latencies (about 190 KB
    // for 1 µs to 1 hour at 3 significant figures), so one per worker would cost that many times.
    let latencies = Arc::new(Mutex::new(new_histogram()));
    let workers: Vec<_> = (0..config.concurrency.max(1))
        .map(|_| {
            let worker = Worker {
                group: group.clone(),
                links: Arc::clone(&links),
                counts: Arc::clone(&counts),
                latencies: Arc::clone(&latencies),
                finished: Arc::clone(&finished),
                spec,
                resumed,
                stall: config.stall_timeout,
            };
            tokio::spawn(worker.run())
        })
        .collect();

    let mut failures: Vec<String> = Vec::new();
    for worker in workers {
        match worker.await {
            Ok(failed) => {
                failures.extend(failed.iter().map(ClientError::to_string));
            }
            // A worker only ends abnormally if the runtime shuts down under it.
            Err(error) => failures.push(format!("client worker failed: {error}")),
        }
    }
    // Let the provider finish what the clients set off (cleanups, cancellations).
    group.stop().await;
    dispatcher.abort();
    let elapsed = started.elapsed();
    let counters = group.counters();
    let mut summary = Summary::new(spec, config.store, store_path.clone());
    summary.resumed = resumed;
    summary.already_final = counts.already_final.load(Ordering::Relaxed);
    summary.driven = counts.driven.load(Ordering::Relaxed);
    // The final check reads the store page by page.
    let mut finals = 0;
    let mut page = Some(Page::first(READ_PAGE));
    while let Some(this) = page.take() {
        let listing = group
            .list(this)
            .await
            .map_err(|error| SimError::Read(error.to_string()))?;
        for (id, deal) in &listing.items {
            let Some(index) = index_of(retrieval_provider::DealId(*id), spec.deals) else {
                return Err(SimError::ForeignDeal {
                    id: *id,
                    deals: spec.deals,
                });
            };
            finals += u64::from(ProviderFsm::is_final(deal.status));
            summary.record(&DealPlan::generate(spec.seed, index, &spec.mix), deal);
        }
        summary
            .corrupt
            .extend(listing.errors.iter().map(ToString::to_string));
        page = listing.next;
    }
    progress.finish(finals);
    group
        .close()
        .await
        .map_err(|error| SimError::Read(format!("cannot close the store: {error}")))?;
    summary.client_failures = failures;
    summary.counters = counters;
    summary.elapsed = elapsed;
    summary.latency = Latency::of(&lock(&latencies));
    summary.store_bytes = store_path
        .as_deref()
        .and_then(|path| fs::metadata(path).ok())
        .map(|meta| meta.len());
    Ok(summary)
}

/// Forwards the group's notifications to the clients' mailboxes and counts deals reaching a
/// final status. A lag loses notifications; the clients' periodic store re-reads cover it.
async fn dispatch(
    mut subscription: Subscription<ProviderFsm, u64>,
    links: Arc<Links>,
    finished: Arc<AtomicU64>,
) {
    loop {
        match subscription.recv().await {
            Ok(notification) => {
                let Change::Applied { applied, .. } = notification.change else {
                    continue;
                };
                if ProviderFsm::is_final(applied.to) {
                    finished.fetch_add(1, Ordering::Relaxed);
                }
                if let Ok(link) = links.by_deal(retrieval_provider::DealId(notification.id)) {
                    link.post(Signal::Changed(applied.to));
                }
            }
            Err(RecvError::Lagged(_)) => continue,
            Err(RecvError::Closed) => return,
        }
    }
}

/// How long a PostgreSQL run waits for the shards of an earlier instance (a few lease times).
const SETTLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// How many records the simulation reads from the store at a time.
const READ_PAGE: usize = 1024;

/// A run's plan, its store, and the store's file (for a durable run).
type Opened = (PlanSpec, Arc<dyn Store>, Option<PathBuf>);

/// The plan and the store of the run, preparing the data directory for a durable one.
async fn open_store(config: &Config) -> Result<Opened, SimError> {
    match (config.store, config.mode) {
        (StoreKind::Memory, Mode::Fresh(spec)) => {
            spec.mix.validate()?;
            Ok((spec, Arc::new(MemoryStore::default()), None))
        }
        (StoreKind::Memory, Mode::Resume) => Err(SimError::NothingToResume {
            dir: config.data_dir.clone(),
        }),
        (StoreKind::Postgres, mode) => {
            let url = config
                .database_url
                .as_deref()
                .ok_or(SimError::MissingDatabaseUrl)?;
            let spec = plan_in_data_dir(config, mode)?;
            // After `plan_in_data_dir`, so that the directory exists and resolves.
            let group = config.postgres_group();
            let store = fsm_postgres::PgStore::connect(url, &group).await?;
            // The run drives every deal of the group, so it waits until it owns every shard:
            // after an instance that was killed, as soon as its heartbeat and leases have run
            // out (a cleanly stopped one handed its shards over: no wait).
            store.settled(SETTLE_TIMEOUT).await?;
            if let Mode::Fresh(_) = mode {
                clear_group(&store).await?;
            }
            Ok((spec, Arc::new(store), None))
        }
        (StoreKind::Redb, mode) => {
            let spec = plan_in_data_dir(config, mode)?;
            let dir = &config.data_dir;
            let path = manifest::store_path(dir);
            // Opening reads (and after a crash repairs) the file: off the async threads.
            let opening = path.clone();
            let store = tokio::task::spawn_blocking(move || RedbStore::open(opening))
                .await
                .map_err(|error| SimError::Read(format!("opening the store failed: {error}")))?
                .map_err(|source| SimError::Store {
                    path: path.clone(),
                    source,
                })?;
            Ok((spec, Arc::new(store), Some(path)))
        }
    }
}

/// The run's plan: a fresh run validates it and writes it to the data directory (replacing an
/// earlier run there); a resumed run reads it back.
fn plan_in_data_dir(config: &Config, mode: Mode) -> Result<PlanSpec, SimError> {
    let dir = &config.data_dir;
    match mode {
        Mode::Fresh(spec) => {
            spec.mix.validate()?;
            prepare_fresh(dir)?;
            manifest::write(dir, &spec)?;
            Ok(spec)
        }
        Mode::Resume => manifest::read(dir),
    }
}

/// Removes an earlier run's records from the PostgreSQL group, as a fresh redb run starts from
/// a new file.
async fn clear_group(store: &fsm_postgres::PgStore) -> Result<(), SimError> {
    loop {
        let request = ScanRequest {
            prefix: &[],
            filter: Filter::All,
            after: None,
            limit: READ_PAGE,
            with_records: true,
        };
        let page = store.scan(request).await.map_err(SimError::Clear)?;
        if page.entries.is_empty() {
            return Ok(());
        }
        let ops: Vec<WriteOp<'_>> = page
            .entries
            .iter()
            .map(|entry| WriteOp::Delete { key: &entry.key })
            .collect();
        let committed = store.commit(&ops).await.map_err(SimError::Clear)?;
        for index in 0..ops.len() {
            committed.result(index).map_err(SimError::Clear)?;
        }
    }
}

/// Creates the data directory, or empties one that holds an earlier run. Refuses a directory
/// holding anything else.
fn prepare_fresh(dir: &Path) -> Result<(), SimError> {
    let io_error = |source| SimError::DataDir {
        path: dir.to_owned(),
        source,
    };
    fs::create_dir_all(dir).map_err(io_error)?;
    let temp = format!("{MANIFEST_FILE}.tmp");
    let mut ours = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_error)? {
        let entry = entry.map_err(io_error)?;
        let name = entry.file_name();
        if name == MANIFEST_FILE || name == STORE_FILE || name == temp.as_str() {
            ours.push(entry.path());
        } else {
            return Err(SimError::ForeignDataDir {
                dir: dir.to_owned(),
            });
        }
    }
    for path in ours {
        fs::remove_file(&path).map_err(|source| SimError::DataDir { path, source })?;
    }
    Ok(())
}

/// What the workers counted, for the summary.
#[derive(Debug, Default)]
struct WorkCounts {
    /// Deals found final in the store (resumed runs).
    already_final: AtomicU64,
    /// Deals whose client ran.
    driven: AtomicU64,
    /// The next deal index to drive.
    next: AtomicU64,
}

/// Locks `mutex`; a poisoned lock only means a worker panicked while recording, and the
/// histogram is still consistent.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A fresh histogram of `send_sync` latencies in microseconds (3 significant digits, growing
/// as needed: its size depends on the range of values, never on their number).
fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3)
        .expect("1 µs to 1 hour at 3 significant figures are valid bounds")
}

/// One client worker: takes the next deal index, drives its client, and forgets the deal.
struct Worker {
    group: SimGroup,
    links: Arc<Links>,
    counts: Arc<WorkCounts>,
    latencies: Arc<Mutex<Histogram<u64>>>,
    finished: Arc<AtomicU64>,
    spec: PlanSpec,
    resumed: bool,
    stall: std::time::Duration,
}

impl Worker {
    async fn run(self) -> Vec<ClientError> {
        let mut failures: Vec<ClientError> = Vec::new();
        loop {
            let index = self.counts_next();
            if index >= self.spec.deals {
                break;
            }
            let (link, stored) = match self.links.get(index) {
                // An unfinished deal found in the store before the group opened.
                Some(link) => {
                    let stored = link.take_resumed_from();
                    (link, stored)
                }
                None => {
                    let stored = if self.resumed {
                        match self.group.get(&deal_id(index).0).await {
                            Ok(stored) => stored,
                            // A record that cannot be read is reported by the final check.
                            Err(_) => continue,
                        }
                    } else {
                        None
                    };
                    if stored
                        .as_ref()
                        .is_some_and(|deal| ProviderFsm::is_final(deal.status))
                    {
                        self.counts.already_final.fetch_add(1, Ordering::Relaxed);
                        self.finished.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    let plan = DealPlan::generate(self.spec.seed, index, &self.spec.mix);
                    let link = self.links.insert(index, Link::new(plan, stored.as_ref()));
                    (link, stored)
                }
            };
            if let Some(client) = Client::new(&self.group, &link, self.stall) {
                self.counts.driven.fetch_add(1, Ordering::Relaxed);
                let (result, measured) = client.drive(stored.as_ref()).await;
                let mut latencies = lock(&self.latencies);
                for micros in measured {
                    latencies.saturating_record(micros.max(1));
                }
                drop(latencies);
                failures.extend(result.err());
            }
            // The provider may still be finishing the deal (its Completing, Failing or
            // Cancelling entry funcs use the link): forget the link once the deal is final.
            tokio::spawn(forget_when_final(
                self.group.clone(),
                Arc::clone(&self.links),
                index,
                self.stall,
            ));
        }
        failures
    }

    fn counts_next(&self) -> u64 {
        self.counts.next.fetch_add(1, Ordering::Relaxed)
    }
}

/// Removes the link of deal index `index` once the deal is stored in a final status (or after
/// `stall`, when it never gets there: the final check reports that deal).
async fn forget_when_final(
    group: SimGroup,
    links: Arc<Links>,
    index: u64,
    stall: std::time::Duration,
) {
    let id = deal_id(index).0;
    let deadline = Instant::now() + stall;
    let mut pause = std::time::Duration::from_millis(1);
    loop {
        let finished = match group.get(&id).await {
            Ok(Some(deal)) => ProviderFsm::is_final(deal.status),
            Ok(None) | Err(_) => true,
        };
        if finished || Instant::now() >= deadline {
            links.remove(index);
            return;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(std::time::Duration::from_millis(50));
    }
}

/// Adds the links of the unfinished deals in the store, read page by page. Every id must
/// belong to the plan; a record that cannot be decoded gets no link (the final check reports
/// it by id).
async fn link_unfinished_deals(
    store: &dyn Store,
    links: &Links,
    spec: &PlanSpec,
) -> Result<(), SimError> {
    let mut after: Option<Vec<u8>> = None;
    loop {
        let request = ScanRequest {
            prefix: &[],
            filter: Filter::Active,
            after: after.as_deref(),
            limit: READ_PAGE,
            with_records: true,
        };
        let page = store
            .scan(request)
            .await
            .map_err(|e| SimError::Read(e.to_string()))?;
        for entry in page.entries {
            let id = u64::from_key(&entry.key).map_err(|e| SimError::Read(e.to_string()))?;
            let deals = spec.deals;
            let index = index_of(retrieval_provider::DealId(id), deals)
                .ok_or(SimError::ForeignDeal { id, deals })?;
            let Some(record) = entry.record else {
                continue;
            };
            if let Ok(deal) = ProviderDealStateCodec.decode(&record)
                && !ProviderFsm::is_final(deal.status)
            {
                let plan = DealPlan::generate(spec.seed, index, &spec.mix);
                links.insert(index, Link::new(plan, Some(&deal)));
            }
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(()),
        }
    }
}
