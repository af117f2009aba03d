//! An in-memory [`Store`], sharded so that concurrent machines do not contend on one lock.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::hash::BuildHasher;
use std::ops::Bound;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use super::{
    Committed, Entry, Filter, Header, Meta, ScanPage, ScanRequest, Store, StoreError, StoreFuture,
    WriteOp,
};

const SHARDS: usize = 32;

type Key = Arc<[u8]>;
type Hasher = foldhash::fast::RandomState;
type HashSet<T> = hashbrown::HashSet<T, Hasher>;

/// One machine: its record and metadata.
#[derive(Debug)]
struct Item {
    record: Vec<u8>,
    meta: Meta,
}

/// One lock's worth of machines, with the indexes of the machines it holds.
///
/// hashbrown's map (the one inside std's) because it hands out the stored key with a mutable
/// value (`get_key_value_mut`): the indexes share that key, so a status change costs no second
/// lookup.
#[derive(Debug, Default)]
struct Shard {
    items: hashbrown::HashMap<Key, Item, Hasher>,
    /// The keys of this shard's machines by status: a short list (a machine has a few dozen
    /// statuses at most), searched by the status names' addresses first.
    by_status: Vec<(Cow<'static, str>, HashSet<Key>)>,
    /// The keys of this shard's machines with a failure record.
    failed: HashSet<Key>,
}

impl Shard {
    /// The set of keys in `status`, created when missing. Takes the `Cow` itself (not a
    /// `&str`) so that a new entry keeps a borrowed `'static` name, whose address the next
    /// lookups compare first.
    #[allow(clippy::ptr_arg)]
    fn status_set(&mut self, status: &Cow<'static, str>) -> &mut HashSet<Key> {
        let position = self.by_status.iter().position(|(name, _)| {
            // Names from a machine's table are the same `&'static str` every time.
            std::ptr::eq(name.as_ptr(), status.as_ptr()) && name.len() == status.len()
                || name == status
        });
        let position = position.unwrap_or_else(|| {
            self.by_status.push((status.clone(), HashSet::default()));
            self.by_status.len() - 1
        });
        &mut self.by_status[position].1
    }

    fn unindex(&mut self, key: &Key, meta: &Meta) {
        self.status_set(&meta.status).remove(key);
        if meta.failure.is_some() {
            self.failed.remove(key);
        }
    }

    fn index(&mut self, key: &Key, meta: &Meta) {
        self.status_set(&meta.status).insert(Arc::clone(key));
        if meta.failure.is_some() {
            self.failed.insert(Arc::clone(key));
        }
    }

    /// Replaces the record (when given) and the metadata of the existing machine at `key`,
    /// updating the indexes only where they change. Returns `false` when there is no such
    /// machine.
    fn update(&mut self, key: &[u8], record: Option<&[u8]>, meta: &Meta) -> bool {
        let Some((stored_key, item)) = self.items.get_key_value_mut(key) else {
            return false;
        };
        if let Some(record) = record {
            item.record.clear();
            item.record.extend_from_slice(record);
        }
        let reindex = item.meta.status != meta.status
            || item.meta.failure.is_some() != meta.failure.is_some();
        if !reindex {
            item.meta.clone_from(meta);
            return true;
        }
        let stored_key = Arc::clone(stored_key);
        let old = std::mem::replace(&mut item.meta, meta.clone());
        self.unindex(&stored_key, &old);
        self.index(&stored_key, meta);
        true
    }

    fn status_keys(&self, status: &str) -> Option<&HashSet<Key>> {
        self.by_status
            .iter()
            .find(|(name, _)| name == status)
            .map(|(_, keys)| keys)
    }
}

/// A [`Store`] in memory: for tests and for groups that need no durability.
///
/// Record updates reuse the buffer of the previous value for the same key, so a steady stream of
/// updates to existing machines allocates nothing for the record. Writes go inline (no group
/// commit).
///
/// Indexes: a status index and a failure index per shard (updated only when a machine's status
/// or failure changes), and one ordered set of all keys (updated when a machine is created or
/// removed), which serves paged listings. A page of a status or failure query sorts the matching
/// keys, so it costs the number of matches; this store is meant for tests and small groups.
#[derive(Debug)]
pub struct MemoryStore {
    shards: Box<[Mutex<Shard>]>,
    hasher: Hasher,
    /// Every key, in order.
    keys: RwLock<BTreeSet<Key>>,
    headers: Mutex<HashMap<Vec<u8>, Header>>,
    closed: AtomicBool,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: Hasher::default(),
            keys: RwLock::default(),
            headers: Mutex::default(),
            closed: AtomicBool::new(false),
        }
    }

    fn shard_index(&self, key: &[u8]) -> usize {
        // The modulo keeps the index in bounds; truncating the hash is intended.
        (self.hasher.hash_one(key) as usize) % self.shards.len()
    }

    fn lock(&self, index: usize) -> MutexGuard<'_, Shard> {
        // A poisoned lock only means another thread panicked while holding it; every critical
        // section below leaves the maps consistent, so their data is still valid.
        self.shards[index]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn check_open(&self) -> Result<(), StoreError> {
        if self.closed.load(Ordering::Acquire) {
            Err(StoreError::Closed)
        } else {
            Ok(())
        }
    }

    fn get_now(&self, key: &[u8]) -> Result<Option<Entry>, StoreError> {
        self.check_open()?;
        let shard = self.lock(self.shard_index(key));
        Ok(shard.items.get(key).map(|item| Entry {
            key: key.to_vec(),
            record: Some(item.record.clone()),
            meta: Ok(item.meta.clone()),
        }))
    }

    /// The keys of the page `request` asks for, in order.
    fn page_keys(&self, request: &ScanRequest<'_>) -> (Vec<Key>, bool) {
        let in_range = |key: &[u8]| {
            key.starts_with(request.prefix) && request.after.is_none_or(|after| key > after)
        };
        let limit = request.limit.max(1);
        let mut keys: Vec<Key> = match request.filter {
            Filter::Status(_) | Filter::Failed => {
                let mut matches = Vec::new();
                for index in 0..self.shards.len() {
                    let shard = self.lock(index);
                    let set = match request.filter {
                        Filter::Status(status) => shard.status_keys(status),
                        _ => Some(&shard.failed),
                    };
                    matches.extend(set.into_iter().flatten().filter(|k| in_range(k)).cloned());
                }
                matches.sort_unstable();
                matches
            }
            Filter::All | Filter::Active => {
                let keys = self
                    .keys
                    .read()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                let start = match request.after {
                    Some(after) if after >= request.prefix => Bound::Excluded(after),
                    _ => Bound::Included(request.prefix),
                };
                let mut page = Vec::new();
                for key in keys.range::<[u8], _>((start, Bound::Unbounded)) {
                    if !key.starts_with(request.prefix) {
                        break;
                    }
                    if request.filter == Filter::Active {
                        let shard = self.lock(self.shard_index(key));
                        let active = shard.items.get(key).is_some_and(|item| !item.meta.is_final);
                        if !active {
                            continue;
                        }
                    }
                    page.push(Arc::clone(key));
                    if page.len() > limit {
                        break;
                    }
                }
                page
            }
        };
        let more = keys.len() > limit;
        keys.truncate(limit);
        (keys, more)
    }

    fn scan_now(&self, request: &ScanRequest<'_>) -> Result<ScanPage, StoreError> {
        self.check_open()?;
        let (keys, more) = self.page_keys(request);
        let mut entries = Vec::with_capacity(keys.len());
        for key in &keys {
            let shard = self.lock(self.shard_index(key));
            // A machine removed since its key was read is simply not in the page.
            if let Some(item) = shard.items.get(key) {
                entries.push(Entry {
                    key: key.to_vec(),
                    record: request.with_records.then(|| item.record.clone()),
                    meta: Ok(item.meta.clone()),
                });
            }
        }
        let next = if more {
            keys.last().map(|key| key.to_vec())
        } else {
            None
        };
        Ok(ScanPage { entries, next })
    }

    fn commit_now(&self, ops: &[WriteOp<'_>]) -> Result<Committed, StoreError> {
        self.check_open()?;
        if let [op] = ops
            && !matches!(op, WriteOp::PutHeader { .. })
        {
            // One machine's write, the inline store's usual commit: one shard, no lists.
            let mut shard = self.lock(self.shard_index(op.key()));
            return Ok(match self.apply(&mut shard, op) {
                Ok(()) => Committed::all(),
                Err(error) => Committed::each(vec![Err(error)]),
            });
        }
        // Lock every shard the batch touches, in index order (no deadlock), so the batch is
        // atomic for readers.
        let mut touched: Vec<usize> = ops
            .iter()
            .filter(|op| !matches!(op, WriteOp::PutHeader { .. }))
            .map(|op| self.shard_index(op.key()))
            .collect();
        touched.sort_unstable();
        touched.dedup();
        let mut guards: Vec<_> = touched.iter().map(|&index| self.lock(index)).collect();
        let mut results: Option<Vec<Result<(), StoreError>>> = None;
        for (position, op) in ops.iter().enumerate() {
            let outcome = match *op {
                WriteOp::PutHeader { prefix, header } => {
                    self.headers
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .insert(prefix.to_vec(), header.clone());
                    Ok(())
                }
                _ => {
                    let index = self.shard_index(op.key());
                    // `touched` holds the shard index of every such op, so the search succeeds.
                    match touched.binary_search(&index) {
                        Ok(slot) => self.apply(&mut guards[slot], op),
                        Err(_) => Err(StoreError::damaged("shard of a write was not locked")),
                    }
                }
            };
            if let Err(error) = outcome {
                results.get_or_insert_with(|| vec![Ok(()); ops.len()])[position] = Err(error);
            }
        }
        Ok(results.map_or_else(Committed::all, Committed::each))
    }

    fn apply(&self, shard: &mut Shard, op: &WriteOp<'_>) -> Result<(), StoreError> {
        match *op {
            WriteOp::Put { key, record, meta } => {
                if !shard.update(key, Some(record), meta) {
                    let key: Key = key.into();
                    shard.index(&key, meta);
                    self.keys
                        .write()
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .insert(Arc::clone(&key));
                    let item = Item {
                        record: record.to_vec(),
                        meta: meta.clone(),
                    };
                    shard.items.insert(key, item);
                }
                Ok(())
            }
            WriteOp::PutMeta { key, meta } => {
                if shard.update(key, None, meta) {
                    Ok(())
                } else {
                    Err(StoreError::damaged("no record to attach metadata to"))
                }
            }
            WriteOp::Delete { key } => {
                if let Some((key, item)) = shard.items.remove_entry(key) {
                    shard.unindex(&key, &item.meta);
                    self.keys
                        .write()
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .remove(&key);
                }
                Ok(())
            }
            WriteOp::PutHeader { .. } => Ok(()),
        }
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl Store for MemoryStore {
    fn get<'a>(&'a self, key: &'a [u8]) -> StoreFuture<'a, Option<Entry>> {
        Box::pin(std::future::ready(self.get_now(key)))
    }

    fn scan<'a>(&'a self, request: ScanRequest<'a>) -> StoreFuture<'a, ScanPage> {
        Box::pin(std::future::ready(self.scan_now(&request)))
    }

    fn commit<'a>(&'a self, ops: &'a [WriteOp<'a>]) -> StoreFuture<'a, Committed> {
        Box::pin(std::future::ready(self.commit_now(ops)))
    }

    fn header<'a>(&'a self, prefix: &'a [u8]) -> StoreFuture<'a, Option<Header>> {
        let header = self.check_open().map(|()| {
            self.headers
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .get(prefix)
                .cloned()
        });
        Box::pin(std::future::ready(header))
    }

    fn close(&self) -> StoreFuture<'_, ()> {
        self.closed.store(true, Ordering::Release);
        Box::pin(std::future::ready(Ok(())))
    }

    fn prefers_group_commit(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Failure, FailureKind};

    fn meta(status: &'static str) -> Meta {
        Meta::new(status, false)
    }

    fn put<'a>(key: &'a [u8], record: &'a [u8], meta: &'a Meta) -> WriteOp<'a> {
        WriteOp::Put { key, record, meta }
    }

    fn request<'a>(prefix: &'a [u8], filter: Filter<'static>) -> ScanRequest<'a> {
        ScanRequest {
            prefix,
            filter,
            after: None,
            limit: 100,
            with_records: true,
        }
    }

    #[tokio::test]
    async fn put_get_delete_scan() {
        let store = MemoryStore::new();
        let (a, b) = (meta("A"), meta("B"));
        store.commit(&[put(b"a/1", b"one", &a)]).await.unwrap();
        store.commit(&[put(b"a/2", b"two", &b)]).await.unwrap();
        store.commit(&[put(b"b/1", b"other", &a)]).await.unwrap();
        store.commit(&[put(b"a/1", b"uno", &b)]).await.unwrap();
        let got = store.get(b"a/1").await.unwrap().unwrap();
        assert_eq!(got.record.as_deref(), Some(&b"uno"[..]));
        assert_eq!(got.meta.unwrap().status, "B");
        let page = store.scan(request(b"a/", Filter::All)).await.unwrap();
        let keys: Vec<_> = page.entries.iter().map(|e| e.key.clone()).collect();
        assert_eq!(keys, vec![b"a/1".to_vec(), b"a/2".to_vec()]);
        let in_b = store.scan(request(b"", Filter::Status("B"))).await.unwrap();
        assert_eq!(in_b.entries.len(), 2);
        let in_a = store.scan(request(b"", Filter::Status("A"))).await.unwrap();
        assert_eq!(in_a.entries.len(), 1, "a/1 left status A");
        store
            .commit(&[WriteOp::Delete { key: b"a/1" }])
            .await
            .unwrap();
        assert_eq!(store.get(b"a/1").await.unwrap(), None);
        let in_b = store.scan(request(b"", Filter::Status("B"))).await.unwrap();
        assert_eq!(in_b.entries.len(), 1);
    }

    #[tokio::test]
    async fn pages_continue_after_the_cursor() {
        let store = MemoryStore::new();
        let m = meta("S");
        for i in 0u8..10 {
            store.commit(&[put(&[b'k', i], b"r", &m)]).await.unwrap();
        }
        for filter in [Filter::All, Filter::Status("S"), Filter::Active] {
            let mut seen = Vec::new();
            let mut after: Option<Vec<u8>> = None;
            loop {
                let page = store
                    .scan(ScanRequest {
                        prefix: b"k",
                        filter,
                        after: after.as_deref(),
                        limit: 3,
                        with_records: false,
                    })
                    .await
                    .unwrap();
                assert!(page.entries.len() <= 3);
                seen.extend(page.entries.into_iter().map(|e| e.key[1]));
                match page.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
            assert_eq!(seen, (0..10).collect::<Vec<_>>(), "{filter:?}");
        }
    }

    #[tokio::test]
    async fn failures_are_indexed_and_meta_only_writes_need_a_record() {
        let store = MemoryStore::new();
        let healthy = meta("S");
        let mut failed = meta("S");
        failed.failure = Some(Box::new(Failure {
            kind: FailureKind::EntryFuncError,
            status: "S".into(),
            error: "no".into(),
            at_ms: 1,
            halted: false,
        }));
        store.commit(&[put(b"m", b"r", &healthy)]).await.unwrap();
        let committed = store
            .commit(&[
                WriteOp::PutMeta {
                    key: b"m",
                    meta: &failed,
                },
                WriteOp::PutMeta {
                    key: b"absent",
                    meta: &failed,
                },
            ])
            .await
            .unwrap();
        assert!(committed.result(0).is_ok());
        assert!(committed.result(1).is_err());
        let page = store.scan(request(b"", Filter::Failed)).await.unwrap();
        assert_eq!(page.entries.len(), 1);
        assert_eq!(page.entries[0].record.as_deref(), Some(&b"r"[..]));
    }

    #[tokio::test]
    async fn closed_store_refuses_every_call() {
        let store = MemoryStore::new();
        store.close().await.unwrap();
        assert!(matches!(store.get(b"k").await, Err(StoreError::Closed)));
        assert!(matches!(
            store.scan(request(b"", Filter::All)).await,
            Err(StoreError::Closed)
        ));
    }
}
