//! The durable [`Store`]: one redb database file.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use std::sync::atomic::{AtomicBool, Ordering};

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableHandle};

use self::scan::{OwnedScan, scan_page};
use self::tables::{
    ALL_TABLES, BY_STATUS, FAILED, HEADERS, LEGACY_RECORDS, MACHINES, OwnedOp, STORE_INFO,
    commit_ops,
};
use super::meta_codec::decode_header;
use super::{
    Committed, Entry, Header, STORE_FORMAT, ScanPage, ScanRequest, Store, StoreError, StoreFuture,
    WriteOp,
};

mod reads;
mod scan;
mod tables;

/// The page cache [`RedbStore::open`] gives redb: 64 MiB.
pub const DEFAULT_REDB_CACHE_SIZE: usize = 64 << 20;

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
    /// Whether records of the first store format (without metadata) may be left.
    legacy: AtomicBool,
    /// Point reads waiting to be served.
    reads: reads::ReadQueue,
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
    ///
    /// redb's page cache is set to [`DEFAULT_REDB_CACHE_SIZE`] (redb's own default is 1 GiB, which
    /// a long-running process would fill with pages of machines that finished long ago);
    /// [`RedbStore::open_with_cache_size`] chooses another size.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with_cache_size(path, DEFAULT_REDB_CACHE_SIZE)
    }

    /// [`RedbStore::open`] with a page cache of `bytes`. The cache holds the b-tree pages of
    /// recently read and written machines; beyond the pages of the machines in flight, a bigger
    /// cache mostly saves reads of finished machines, which the operating system's page cache
    /// serves too.
    pub fn open_with_cache_size(path: impl AsRef<Path>, bytes: usize) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let shown = path.display().to_string();
        let (db, legacy) =
            guard_panics(&format!("opening {shown}"), || open_database(&path, bytes))?;
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                db: RwLock::new(Some(db)),
                failed: Mutex::new(None),
                legacy: AtomicBool::new(legacy),
                reads: reads::ReadQueue::default(),
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

    /// Whether records of the first store format may be left.
    fn has_legacy(&self) -> bool {
        self.legacy.load(Ordering::Acquire)
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

/// Opens or creates the database at `path`, refusing files that are not stores. Also says
/// whether records of the first store format are left.
fn open_database(path: &Path, cache_size: usize) -> Result<(Database, bool), StoreError> {
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
        Some(_) => Database::builder()
            .set_cache_size(cache_size)
            .open(path)
            .map_err(|error| {
                StoreError::damaged(format!("{shown} cannot be opened as a redb store: {error}"))
            })?,
        None => Database::builder()
            .set_cache_size(cache_size)
            .create(path)
            .map_err(backend)?,
    };
    let txn = db.begin_write().map_err(backend)?;
    let mut tables: Vec<String> = txn
        .list_tables()
        .map_err(backend)?
        .map(|table| table.name().to_owned())
        .collect();
    tables.sort();
    if let Some(foreign) = tables
        .iter()
        .find(|name| !ALL_TABLES.contains(&name.as_str()))
    {
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
    let legacy = tables.iter().any(|name| name == LEGACY_RECORDS.name())
        && !txn
            .open_table(LEGACY_RECORDS)
            .map_err(backend)?
            .is_empty()
            .map_err(backend)?;
    txn.open_table(MACHINES).map_err(backend)?;
    txn.open_table(BY_STATUS).map_err(backend)?;
    txn.open_table(FAILED).map_err(backend)?;
    txn.open_table(HEADERS).map_err(backend)?;
    txn.commit().map_err(backend)?;
    Ok((db, legacy))
}

impl Store for RedbStore {
    fn get<'a>(&'a self, key: &'a [u8]) -> StoreFuture<'a, Option<Entry>> {
        Box::pin(reads::get(&self.inner, key.to_vec()))
    }

    fn scan<'a>(&'a self, request: ScanRequest<'a>) -> StoreFuture<'a, ScanPage> {
        let scan = OwnedScan::from_request(&request);
        let legacy = self.inner.legacy.load(Ordering::Acquire);
        Box::pin(self.run("scanning records", move |db| {
            let txn = db.begin_read().map_err(backend)?;
            scan_page(&txn, &scan, legacy)
        }))
    }

    fn commit<'a>(&'a self, ops: &'a [WriteOp<'a>]) -> StoreFuture<'a, Committed> {
        let ops: Vec<OwnedOp> = ops.iter().map(OwnedOp::from_op).collect();
        let inner = Arc::clone(&self.inner);
        Box::pin(async move {
            let legacy = inner.legacy.load(Ordering::Acquire);
            let outcome = self
                .run("committing writes", move |db| {
                    commit_ops(db.begin_write().map_err(backend)?, &ops, legacy)
                })
                .await?;
            if legacy && !outcome.legacy_left {
                inner.legacy.store(false, Ordering::Release);
            }
            Ok(outcome.committed)
        })
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
    use crate::store::{Filter, Meta};

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
