//! The durable [`Store`]: one redb database file.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use redb::{
    Database, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition, TableHandle,
    WriteTransaction,
};

use super::meta_codec::{decode_header, decode_meta, encode_header, encode_meta};
use super::{
    Committed, Entry, Filter, Header, Meta, MetaError, STORE_FORMAT, ScanPage, ScanRequest, Store,
    StoreError, StoreFuture, WriteOp,
};

/// The machine records, by key (the group's prefix, then the id). Unchanged since the first
/// store format, so a file written by an older version keeps its records where they were.
const RECORDS: TableDefinition<'static, &[u8], &[u8]> = TableDefinition::new("fsm_records");
/// The engine metadata of each record, by the same key.
const META: TableDefinition<'static, &[u8], &[u8]> = TableDefinition::new("fsm_meta");
/// The status index: (status, key).
const BY_STATUS: TableDefinition<'static, (&str, &[u8]), ()> =
    TableDefinition::new("fsm_by_status");
/// The keys of the machines with a failure record.
const FAILED: TableDefinition<'static, &[u8], ()> = TableDefinition::new("fsm_failed");
/// One header per group, by key prefix.
const HEADERS: TableDefinition<'static, &[u8], &[u8]> = TableDefinition::new("fsm_headers");
/// Facts about the file itself: `"format"` is the store format that created or upgraded it.
const STORE_INFO: TableDefinition<'static, &str, u32> = TableDefinition::new("fsm_store");

/// A [`Store`] in a redb file: crash-safe, and every [`Store::commit`] is one transaction
/// committed with redb's default `Durability::Immediate` (fsync before it returns).
///
/// * **Never blocks async code.** redb's API is synchronous; every call runs on a tokio
///   `spawn_blocking` thread (inline when no tokio runtime is running).
/// * **Group commit.** The group funnels the writes of many machines into one commit, so the
///   fsync is shared.
/// * **Indexes.** Beside the records it keeps their metadata, a status index and a failure
///   index, all in the same transaction as the records.
/// * **Damage.** Opening refuses an empty file (a truncated store is not a new one) and a redb
///   file holding other tables (not a store). A panic inside redb (which it raises on some
///   damaged pages) is caught: the call fails with [`StoreError::Failed`], and so does every
///   later call until the file is reopened.
/// * **Close.** [`Store::close`] waits for the calls under way, then releases the file, so it
///   can be opened again at once.
#[derive(Debug, Clone)]
pub struct RedbStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    /// `None` once closed. Calls hold the read lock while they use the database; `close` takes
    /// the write lock, so it waits for them.
    db: RwLock<Option<Database>>,
    /// Why the store failed, once it has.
    failed: Mutex<Option<Arc<str>>>,
}

impl RedbStore {
    /// Opens the store at `path`, creating it when no file exists there.
    ///
    /// Fails with [`StoreError::Damaged`] when the file is empty (a truncated store), is not a
    /// redb database, or is a redb database with tables of some other program. An existing
    /// store written by an older version opens; its groups then ask for an upgrade when they
    /// are opened ([`GroupBuilder::upgrade_unversioned`](crate::GroupBuilder::upgrade_unversioned)).
    ///
    /// This blocks while the file is opened (and, after a crash, repaired); call it from a
    /// blocking context or through `spawn_blocking` when the file may be large.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let shown = path.display().to_string();
        let db = guard_panics(&format!("opening {shown}"), || open_database(&path))?;
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                db: RwLock::new(Some(db)),
                failed: Mutex::new(None),
            }),
        })
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `work` on the database on a blocking thread, guarded against panics.
    async fn run<T, F>(&self, what: &'static str, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        let call = move || inner.guarded(what, work);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => runtime.spawn_blocking(call).await.unwrap_or_else(|error| {
                Err(StoreError::Failed(
                    format!("redb call while {what} did not finish: {error}").into(),
                ))
            }),
            Err(_) => call(),
        }
    }
}

impl Inner {
    fn guarded<T>(
        &self,
        what: &str,
        work: impl FnOnce(&Database) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if let Some(reason) = self.failure() {
            return Err(StoreError::Failed(reason));
        }
        // A poisoned lock only means a call panicked while holding it, which `guard_panics`
        // already turned into a failure of the store.
        let db = self
            .db
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(db) = db.as_ref() else {
            return Err(StoreError::Closed);
        };
        guard_panics(what, || work(db)).inspect_err(|error| {
            if let StoreError::Failed(reason) = error {
                *self.failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::clone(reason));
            }
        })
    }

    fn failure(&self) -> Option<Arc<str>> {
        self.failed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

/// Runs `work`, turning a panic into [`StoreError::Failed`].
fn guard_panics<T>(
    what: &str,
    work: impl FnOnce() -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    std::panic::catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|payload| {
        let reason = format!("redb panicked while {what}: {}", panic_text(&*payload));
        tracing::error!(%reason, "redb store failed");
        Err(StoreError::Failed(reason.into()))
    })
}

fn panic_text(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}

fn backend(error: impl Into<redb::Error>) -> StoreError {
    StoreError::backend(error.into())
}

/// Opens or creates the database at `path`, refusing files that are not stores.
fn open_database(path: &Path) -> Result<Database, StoreError> {
    let shown = path.display();
    let existing = match std::fs::metadata(path) {
        Ok(metadata) => Some(metadata.len()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        Err(error) => return Err(StoreError::backend(error)),
    };
    let db = match existing {
        Some(0) => {
            return Err(StoreError::damaged(format!(
                "{shown} is an empty file, not a store (a truncated store is not a new one); \
                 move it away to start a new store"
            )));
        }
        Some(_) => Database::open(path).map_err(|error| {
            StoreError::damaged(format!("{shown} cannot be opened as a redb store: {error}"))
        })?,
        None => Database::create(path).map_err(backend)?,
    };
    let txn = db.begin_write().map_err(backend)?;
    let mut tables: Vec<String> = txn
        .list_tables()
        .map_err(backend)?
        .map(|table| table.name().to_owned())
        .collect();
    tables.sort();
    let ours = [
        RECORDS.name(),
        META.name(),
        BY_STATUS.name(),
        FAILED.name(),
        HEADERS.name(),
        STORE_INFO.name(),
    ];
    if let Some(foreign) = tables.iter().find(|name| !ours.contains(&name.as_str())) {
        return Err(StoreError::damaged(format!(
            "{shown} is a redb database of another program (it has a table {foreign:?}), not a store"
        )));
    }
    {
        let mut info = txn.open_table(STORE_INFO).map_err(backend)?;
        let format = info
            .get("format")
            .map_err(backend)?
            .map(|value| value.value());
        if let Some(format) = format.filter(|&format| format > STORE_FORMAT) {
            return Err(StoreError::damaged(format!(
                "{shown} has store format {format}; this version reads format {STORE_FORMAT} and older"
            )));
        }
        info.insert("format", STORE_FORMAT).map_err(backend)?;
    }
    txn.open_table(RECORDS).map_err(backend)?;
    txn.open_table(META).map_err(backend)?;
    txn.open_table(BY_STATUS).map_err(backend)?;
    txn.open_table(FAILED).map_err(backend)?;
    txn.open_table(HEADERS).map_err(backend)?;
    txn.commit().map_err(backend)?;
    Ok(db)
}

/// A write of a commit, owned so that it can move to a blocking thread.
enum OwnedOp {
    Put(Vec<u8>, Vec<u8>, Meta),
    PutMeta(Vec<u8>, Meta),
    Delete(Vec<u8>),
    PutHeader(Vec<u8>, Header),
}

impl OwnedOp {
    fn from_op(op: &WriteOp<'_>) -> Self {
        match *op {
            WriteOp::Put { key, record, meta } => {
                Self::Put(key.to_vec(), record.to_vec(), meta.clone())
            }
            WriteOp::PutMeta { key, meta } => Self::PutMeta(key.to_vec(), meta.clone()),
            WriteOp::Delete { key } => Self::Delete(key.to_vec()),
            WriteOp::PutHeader { prefix, header } => {
                Self::PutHeader(prefix.to_vec(), header.clone())
            }
        }
    }
}

fn commit_ops(db: &Database, ops: &[OwnedOp]) -> Result<Committed, StoreError> {
    let txn = db.begin_write().map_err(backend)?;
    let refused = {
        let mut tables = WriteTables::open(&txn)?;
        let mut refused: Option<Vec<Result<(), StoreError>>> = None;
        for (position, op) in ops.iter().enumerate() {
            if let Err(error) = tables.apply(op)? {
                refused.get_or_insert_with(|| vec![Ok(()); ops.len()])[position] = Err(error);
            }
        }
        refused
    };
    // Dropping an uncommitted transaction on the error paths above aborts it: all or nothing.
    txn.commit().map_err(backend)?;
    Ok(refused.map_or_else(Committed::all, Committed::each))
}

/// The tables of one write transaction, each opened once per commit.
struct WriteTables<'txn> {
    records: redb::Table<'txn, &'static [u8], &'static [u8]>,
    meta: redb::Table<'txn, &'static [u8], &'static [u8]>,
    by_status: redb::Table<'txn, (&'static str, &'static [u8]), ()>,
    failed: redb::Table<'txn, &'static [u8], ()>,
    headers: redb::Table<'txn, &'static [u8], &'static [u8]>,
    /// A scratch buffer for encoded metadata and headers.
    bytes: Vec<u8>,
}

impl<'txn> WriteTables<'txn> {
    fn open(txn: &'txn WriteTransaction) -> Result<Self, StoreError> {
        Ok(Self {
            records: txn.open_table(RECORDS).map_err(backend)?,
            meta: txn.open_table(META).map_err(backend)?,
            by_status: txn.open_table(BY_STATUS).map_err(backend)?,
            failed: txn.open_table(FAILED).map_err(backend)?,
            headers: txn.open_table(HEADERS).map_err(backend)?,
            bytes: Vec::new(),
        })
    }

    /// Applies one write. The outer error fails the commit; the inner one refuses this write
    /// alone.
    fn apply(&mut self, op: &OwnedOp) -> Result<Result<(), StoreError>, StoreError> {
        match op {
            OwnedOp::Put(key, record, meta) => {
                self.records
                    .insert(key.as_slice(), record.as_slice())
                    .map_err(backend)?;
                self.put_meta(key, meta)?;
            }
            OwnedOp::PutMeta(key, meta) => {
                if self.records.get(key.as_slice()).map_err(backend)?.is_none() {
                    return Ok(Err(StoreError::damaged("no record to attach metadata to")));
                }
                self.put_meta(key, meta)?;
            }
            OwnedOp::Delete(key) => {
                self.records.remove(key.as_slice()).map_err(backend)?;
                // Undecodable metadata is removed as well; its index entries cannot be found,
                // and readers skip them as stale.
                let old = self.meta.remove(key.as_slice()).map_err(backend)?;
                let old = old.and_then(|bytes| decode_meta(bytes.value()).ok());
                if let Some(old) = old {
                    self.by_status
                        .remove((old.status.as_ref(), key.as_slice()))
                        .map_err(backend)?;
                }
                self.failed.remove(key.as_slice()).map_err(backend)?;
            }
            OwnedOp::PutHeader(prefix, header) => {
                self.bytes.clear();
                encode_header(header, &mut self.bytes);
                self.headers
                    .insert(prefix.as_slice(), self.bytes.as_slice())
                    .map_err(backend)?;
            }
        }
        Ok(Ok(()))
    }

    /// Writes `meta` at `key` and moves its index entries, touching the indexes only when the
    /// status or the presence of a failure changes.
    fn put_meta(&mut self, key: &[u8], meta: &Meta) -> Result<(), StoreError> {
        self.bytes.clear();
        encode_meta(meta, &mut self.bytes);
        let old = self
            .meta
            .insert(key, self.bytes.as_slice())
            .map_err(backend)?
            .and_then(|old| decode_meta(old.value()).ok());
        let same_status = old.as_ref().is_some_and(|old| old.status == meta.status);
        let same_failure = old
            .as_ref()
            .is_some_and(|old| old.failure.is_some() == meta.failure.is_some());
        if !same_status {
            if let Some(old) = &old {
                self.by_status
                    .remove((old.status.as_ref(), key))
                    .map_err(backend)?;
            }
            self.by_status
                .insert((meta.status.as_ref(), key), ())
                .map_err(backend)?;
        }
        if !same_failure {
            if meta.failure.is_some() {
                self.failed.insert(key, ()).map_err(backend)?;
            } else {
                self.failed.remove(key).map_err(backend)?;
            }
        }
        Ok(())
    }
}

/// A [`ScanRequest`] owned, to move to a blocking thread.
struct OwnedScan {
    prefix: Vec<u8>,
    filter: OwnedFilter,
    after: Option<Vec<u8>>,
    limit: usize,
    with_records: bool,
}

enum OwnedFilter {
    All,
    Status(String),
    Failed,
    Active,
}

impl OwnedScan {
    fn from_request(request: &ScanRequest<'_>) -> Self {
        Self {
            prefix: request.prefix.to_vec(),
            filter: match request.filter {
                Filter::All => OwnedFilter::All,
                Filter::Status(status) => OwnedFilter::Status(status.to_owned()),
                Filter::Failed => OwnedFilter::Failed,
                Filter::Active => OwnedFilter::Active,
            },
            after: request.after.map(<[u8]>::to_vec),
            limit: request.limit.max(1),
            with_records: request.with_records,
        }
    }

    /// The first key a page may hold: just after the cursor, or the prefix.
    fn start(&self) -> &[u8] {
        match &self.after {
            Some(after) if after.as_slice() >= self.prefix.as_slice() => after,
            _ => &self.prefix,
        }
    }

    fn is_past_cursor(&self, key: &[u8]) -> bool {
        self.after.as_deref().is_none_or(|after| key > after)
    }
}

/// Reads one page. Keys come from the table or index that serves the filter; each entry's
/// metadata (and record) is then read by key.
fn scan_page(db: &Database, scan: &OwnedScan) -> Result<ScanPage, StoreError> {
    let txn = db.begin_read().map_err(backend)?;
    let mut keys: Vec<Vec<u8>> = Vec::with_capacity(scan.limit.min(4096) + 1);
    let wanted = scan.limit.saturating_add(1);
    match &scan.filter {
        OwnedFilter::Status(status) => {
            let index = txn.open_table(BY_STATUS).map_err(backend)?;
            let from = (status.as_str(), scan.start());
            for entry in index.range(from..).map_err(backend)? {
                let (key, _) = entry.map_err(backend)?;
                let (entry_status, key) = key.value();
                if entry_status != status || !key.starts_with(&scan.prefix) {
                    break;
                }
                if scan.is_past_cursor(key) {
                    keys.push(key.to_vec());
                    if keys.len() == wanted {
                        break;
                    }
                }
            }
        }
        OwnedFilter::Failed => {
            let index = txn.open_table(FAILED).map_err(backend)?;
            collect_keys(&index, scan, &mut keys, |_| true)?;
        }
        OwnedFilter::All if scan.with_records => {
            let records = txn.open_table(RECORDS).map_err(backend)?;
            collect_keys(&records, scan, &mut keys, |_| true)?;
        }
        OwnedFilter::All | OwnedFilter::Active => {
            // Metadata alone decides: read it instead of the (larger) records.
            let meta = txn.open_table(META).map_err(backend)?;
            let active_only = matches!(scan.filter, OwnedFilter::Active);
            collect_keys(&meta, scan, &mut keys, |bytes| match decode_meta(bytes) {
                Ok(meta) => !active_only || !meta.is_final,
                // Damaged metadata is reported, never skipped.
                Err(_) => true,
            })?;
        }
    }
    let more = keys.len() > scan.limit;
    keys.truncate(scan.limit);
    let mut entries = Vec::with_capacity(keys.len());
    for key in keys {
        if let Some(entry) = read_entry(&txn, key, scan.with_records)? {
            let stale = match (&scan.filter, &entry.meta) {
                (OwnedFilter::Status(status), Ok(meta)) => meta.status != status.as_str(),
                (OwnedFilter::Failed, Ok(meta)) => meta.failure.is_none(),
                _ => false,
            };
            if !stale {
                entries.push(entry);
            }
        }
    }
    let next = if more {
        entries.last().map(|entry| entry.key.clone())
    } else {
        None
    };
    Ok(ScanPage { entries, next })
}

/// Collects up to `scan.limit + 1` keys of `table` in the scan's range whose values pass
/// `keep`.
fn collect_keys<V: redb::Value + 'static>(
    table: &impl ReadableTable<&'static [u8], V>,
    scan: &OwnedScan,
    keys: &mut Vec<Vec<u8>>,
    mut keep: impl FnMut(V::SelfType<'_>) -> bool,
) -> Result<(), StoreError> {
    let wanted = scan.limit.saturating_add(1);
    for entry in table.range(scan.start()..).map_err(backend)? {
        let (key, value) = entry.map_err(backend)?;
        let key = key.value();
        if !key.starts_with(&scan.prefix) {
            break;
        }
        if scan.is_past_cursor(key) && keep(value.value()) {
            keys.push(key.to_vec());
            if keys.len() == wanted {
                break;
            }
        }
    }
    Ok(())
}

/// The entry at `key` in a read transaction: `None` when neither a record nor metadata exists.
fn read_entry(
    txn: &ReadTransaction,
    key: Vec<u8>,
    with_record: bool,
) -> Result<Option<Entry>, StoreError> {
    let records = txn.open_table(RECORDS).map_err(backend)?;
    let meta_table = txn.open_table(META).map_err(backend)?;
    let record = records
        .get(key.as_slice())
        .map_err(backend)?
        .map(|value| value.value().to_vec());
    let meta = meta_table
        .get(key.as_slice())
        .map_err(backend)?
        .map(|value| decode_meta(value.value()));
    let meta = match (&record, meta) {
        (None, None) => return Ok(None),
        (Some(_), None) => Err(MetaError::Missing),
        (None, Some(_)) => Err(MetaError::Damaged("metadata without a record".to_owned())),
        (Some(_), Some(meta)) => meta,
    };
    let record = if with_record { record } else { None };
    Ok(Some(Entry { key, record, meta }))
}

impl Store for RedbStore {
    fn get<'a>(&'a self, key: &'a [u8]) -> StoreFuture<'a, Option<Entry>> {
        let key = key.to_vec();
        Box::pin(self.run("reading a record", move |db| {
            let txn = db.begin_read().map_err(backend)?;
            read_entry(&txn, key, true)
        }))
    }

    fn scan<'a>(&'a self, request: ScanRequest<'a>) -> StoreFuture<'a, ScanPage> {
        let scan = OwnedScan::from_request(&request);
        Box::pin(self.run("scanning records", move |db| scan_page(db, &scan)))
    }

    fn commit<'a>(&'a self, ops: &'a [WriteOp<'a>]) -> StoreFuture<'a, Committed> {
        let ops: Vec<OwnedOp> = ops.iter().map(OwnedOp::from_op).collect();
        Box::pin(self.run("committing writes", move |db| commit_ops(db, &ops)))
    }

    fn header<'a>(&'a self, prefix: &'a [u8]) -> StoreFuture<'a, Option<Header>> {
        let prefix = prefix.to_vec();
        Box::pin(self.run("reading a group header", move |db| {
            let txn = db.begin_read().map_err(backend)?;
            let headers = txn.open_table(HEADERS).map_err(backend)?;
            let Some(bytes) = headers.get(prefix.as_slice()).map_err(backend)? else {
                return Ok(None);
            };
            decode_header(bytes.value())
                .map(Some)
                .map_err(|error| StoreError::damaged(format!("group header: {error}")))
        }))
    }

    fn close(&self) -> StoreFuture<'_, ()> {
        let inner = Arc::clone(&self.inner);
        let close = move || {
            // Waits for the calls under way (they hold the read lock), then drops the database,
            // which releases the file.
            let mut db = inner
                .db
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let db = db.take();
            drop(db);
            Ok(())
        };
        Box::pin(async move {
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => runtime.spawn_blocking(close).await.unwrap_or(Ok(())),
                Err(_) => close(),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(status: &'static str) -> Meta {
        Meta::new(status, false)
    }

    #[tokio::test]
    async fn survives_reopen_with_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.redb");
        {
            let store = RedbStore::open(&path).unwrap();
            let (a, b) = (meta("A"), meta("B"));
            let ops = [
                WriteOp::Put {
                    key: b"m/1",
                    record: b"a",
                    meta: &a,
                },
                WriteOp::Put {
                    key: b"m/2",
                    record: b"b",
                    meta: &a,
                },
                WriteOp::Put {
                    key: b"n/1",
                    record: b"c",
                    meta: &b,
                },
            ];
            store.commit(&ops).await.unwrap();
            store
                .commit(&[WriteOp::Delete { key: b"m/2" }])
                .await
                .unwrap();
            store
                .commit(&[WriteOp::Put {
                    key: b"m/1",
                    record: b"a2",
                    meta: &b,
                }])
                .await
                .unwrap();
            store.close().await.unwrap();
        }
        let store = RedbStore::open(&path).unwrap();
        let got = store.get(b"m/1").await.unwrap().unwrap();
        assert_eq!(got.record.as_deref(), Some(&b"a2"[..]));
        assert_eq!(store.get(b"m/2").await.unwrap(), None);
        let request = |filter| ScanRequest {
            prefix: b"",
            filter,
            after: None,
            limit: 10,
            with_records: false,
        };
        let in_a = store.scan(request(Filter::Status("A"))).await.unwrap();
        assert!(in_a.entries.is_empty(), "{in_a:?}");
        let in_b = store.scan(request(Filter::Status("B"))).await.unwrap();
        let keys: Vec<_> = in_b.entries.iter().map(|e| e.key.clone()).collect();
        assert_eq!(keys, vec![b"m/1".to_vec(), b"n/1".to_vec()]);
    }

    #[tokio::test]
    async fn a_panic_inside_a_call_fails_the_store_until_it_is_reopened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.redb");
        let store = RedbStore::open(&path).unwrap();
        let panicked = store
            .run("testing the guard", |_| -> Result<(), StoreError> {
                panic!("simulated damage")
            })
            .await;
        match panicked {
            Err(StoreError::Failed(reason)) => {
                assert!(reason.contains("simulated damage"), "{reason}");
            }
            other => panic!("expected a failed store, got {other:?}"),
        }
        assert!(matches!(store.get(b"k").await, Err(StoreError::Failed(_))));
        store.close().await.unwrap();
        let reopened = RedbStore::open(&path).unwrap();
        assert_eq!(reopened.get(b"k").await.unwrap(), None);
    }

    #[tokio::test]
    async fn closed_store_refuses_calls_and_releases_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.redb");
        let store = RedbStore::open(&path).unwrap();
        let clone = store.clone();
        store.close().await.unwrap();
        assert!(matches!(clone.get(b"k").await, Err(StoreError::Closed)));
        // The file is free again.
        RedbStore::open(&path).unwrap();
    }
}
