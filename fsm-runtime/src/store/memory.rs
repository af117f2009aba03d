//! An in-memory [`Store`], sharded so that concurrent machines do not contend on one lock.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Mutex, MutexGuard};

use super::{Store, StoreError, WriteOp};

const SHARDS: usize = 32;

type Shard = HashMap<Box<[u8]>, Vec<u8>>;

/// A [`Store`] in memory: for tests and for groups that need no durability.
///
/// Writes reuse the buffer of the previous value for the same key, so a steady stream of
/// updates to existing machines allocates nothing. Writes go inline (no group commit).
#[derive(Debug)]
pub struct MemoryStore {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: RandomState::new(),
        }
    }

    fn shard_index(&self, key: &[u8]) -> usize {
        // The modulo keeps the index in bounds; truncating the hash is intended.
        (self.hasher.hash_one(key) as usize) % self.shards.len()
    }

    fn lock(&self, index: usize) -> MutexGuard<'_, Shard> {
        // A poisoned shard only means another thread panicked while holding it; every write
        // below leaves the map consistent, so its data is still valid.
        self.shards[index]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn apply(map: &mut Shard, op: &WriteOp<'_>) {
        match *op {
            WriteOp::Put { key, value } => match map.get_mut(key) {
                Some(existing) => {
                    existing.clear();
                    existing.extend_from_slice(value);
                }
                None => {
                    map.insert(key.into(), value.to_vec());
                }
            },
            WriteOp::Delete { key } => {
                map.remove(key);
            }
        }
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl Store for MemoryStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.lock(self.shard_index(key)).get(key).cloned())
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        let mut shard = self.lock(self.shard_index(key));
        Self::apply(&mut shard, &WriteOp::Put { key, value });
        Ok(())
    }

    fn scan(&self, prefix: &[u8], visit: &mut dyn FnMut(&[u8], &[u8])) -> Result<(), StoreError> {
        for index in 0..self.shards.len() {
            let shard = self.lock(index);
            for (key, value) in shard.iter().filter(|(key, _)| key.starts_with(prefix)) {
                visit(key, value);
            }
        }
        Ok(())
    }

    fn write_batch(&self, ops: &[WriteOp<'_>]) -> Result<(), StoreError> {
        // Lock every shard the batch touches, in index order (no deadlock), so the batch is
        // atomic for readers.
        let mut touched: Vec<usize> = ops
            .iter()
            .map(|op| match op {
                WriteOp::Put { key, .. } | WriteOp::Delete { key } => self.shard_index(key),
            })
            .collect();
        touched.sort_unstable();
        touched.dedup();
        let mut guards: Vec<_> = touched.iter().map(|&index| self.lock(index)).collect();
        for op in ops {
            let key = match op {
                WriteOp::Put { key, .. } | WriteOp::Delete { key } => key,
            };
            let index = self.shard_index(key);
            // `touched` holds every shard index of `ops`, so the search succeeds.
            if let Ok(position) = touched.binary_search(&index) {
                Self::apply(&mut guards[position], op);
            }
        }
        Ok(())
    }

    fn prefers_group_commit(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_get_delete_scan() {
        let store = MemoryStore::new();
        store.put(b"a/1", b"one").unwrap();
        store.put(b"a/2", b"two").unwrap();
        store.put(b"b/1", b"other").unwrap();
        store.put(b"a/1", b"uno").unwrap();
        assert_eq!(store.get(b"a/1").unwrap().as_deref(), Some(&b"uno"[..]));
        let mut seen = Vec::new();
        store
            .scan(b"a/", &mut |k, v| seen.push((k.to_vec(), v.to_vec())))
            .unwrap();
        seen.sort();
        assert_eq!(
            seen,
            vec![
                (b"a/1".to_vec(), b"uno".to_vec()),
                (b"a/2".to_vec(), b"two".to_vec())
            ]
        );
        store.delete(b"a/1").unwrap();
        assert_eq!(store.get(b"a/1").unwrap(), None);
    }

    #[test]
    fn batch_applies_in_order() {
        let store = MemoryStore::new();
        store
            .write_batch(&[
                WriteOp::Put {
                    key: b"k",
                    value: b"1",
                },
                WriteOp::Put {
                    key: b"j",
                    value: b"2",
                },
                WriteOp::Delete { key: b"k" },
            ])
            .unwrap();
        assert_eq!(store.get(b"k").unwrap(), None);
        assert_eq!(store.get(b"j").unwrap().as_deref(), Some(&b"2"[..]));
    }
}
