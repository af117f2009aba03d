//! Running the simulation: the store and data directory, the deal group, the notification
//! dispatcher, the client workers, and the summary.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use fsm_runtime::codec::Codec;
use fsm_runtime::group::{Change, Page, RecvError, Subscription};
use fsm_runtime::store::{Filter, MemoryStore, RedbStore, ScanRequest, Store, WriteOp};
use fsm_runtime::{Group, GroupBuilder, Machine, MachineId};
use retrieval_provider::{
    ProviderDealState, ProviderDealStateCodec, ProviderFsm, ProviderHandlers,
};

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
    let Stored {
        deals: stored,
        damaged,
    } = read_stored(store.as_ref(), spec.deals).await?;
    // A deal whose record cannot be read is reported, and not driven: its client would only
    // collide with the record that is there.
    let damaged_ids: HashSet<u64> = damaged.iter().map(|(id, _)| *id).collect();

    let links: Vec<Link> = (0..spec.deals)
        .map(|index| {
            let plan = DealPlan::generate(spec.seed, index, &spec.mix);
            let deal = stored.get(&deal_id(index).0);
            Link::new(plan, deal)
        })
        .collect();
    let links = Arc::new(Links::new(links));
    let already_final = stored
        .values()
        .filter(|deal| ProviderFsm::is_final(deal.status))
        .count() as u64;
    let work: Vec<u64> = (0..spec.deals)
        .filter(|index| {
            let id = deal_id(*index).0;
            !damaged_ids.contains(&id)
                && stored
                    .get(&id)
                    .is_none_or(|deal| !ProviderFsm::is_final(deal.status))
        })
        .collect();

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

    let finished = Arc::new(AtomicU64::new(already_final));
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

    let stored = Arc::new(stored);
    let work = Arc::new(work);
    let next = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..config.concurrency.max(1))
        .map(|_| {
            let (group, links, stored, work, next) = (
                group.clone(),
                Arc::clone(&links),
                Arc::clone(&stored),
                Arc::clone(&work),
                Arc::clone(&next),
            );
            let stall = config.stall_timeout;
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut failures: Vec<ClientError> = Vec::new();
                while let Some(&index) = work.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let Some(link) = links.get(index) else {
                        continue;
                    };
                    let Some(client) = Client::new(&group, link, stall) else {
                        continue;
                    };
                    let (result, measured) = client.drive(stored.get(&deal_id(index).0)).await;
                    latencies.extend(measured);
                    failures.extend(result.err());
                }
                (latencies, failures)
            })
        })
        .collect();

    let mut latencies = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    for worker in workers {
        match worker.await {
            Ok((measured, failed)) => {
                latencies.extend(measured);
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
    summary.already_final = already_final;
    summary.driven = work.len() as u64;
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
    summary.latency = Latency::of(&mut latencies);
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
            let store = fsm_postgres::PgStore::connect(url, POSTGRES_GROUP).await?;
            if matches!(mode, Mode::Fresh(_)) {
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

/// The group name of the simulation's records in a PostgreSQL database.
const POSTGRES_GROUP: &str = "provider-sim";

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

/// What the store held when the run started.
struct Stored {
    /// The deals that could be read, by id.
    deals: HashMap<u64, ProviderDealState>,
    /// The deals whose record cannot be read, with why.
    damaged: Vec<(u64, String)>,
}

/// The deals already in the store, by id, read page by page. Every id must belong to the plan;
/// a record that cannot be decoded is reported by id, not fatal.
async fn read_stored(store: &dyn Store, deals: u64) -> Result<Stored, SimError> {
    let mut stored = Stored {
        deals: HashMap::new(),
        damaged: Vec::new(),
    };
    let mut after: Option<Vec<u8>> = None;
    loop {
        let request = ScanRequest {
            prefix: &[],
            filter: Filter::All,
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
            index_of(retrieval_provider::DealId(id), deals)
                .ok_or(SimError::ForeignDeal { id, deals })?;
            let Some(record) = entry.record else {
                continue;
            };
            match ProviderDealStateCodec.decode(&record) {
                Ok(deal) => {
                    stored.deals.insert(id, deal);
                }
                Err(error) => stored.damaged.push((id, error.to_string())),
            }
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(stored),
        }
    }
}
