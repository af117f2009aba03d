//! The durable [`Store`]: one redb database file.

use std::path::Path;

use redb::{Database, ReadableDatabase, TableDefinition};

use super::{Store, StoreError, WriteOp};

const RECORDS: TableDefinition<'static, &[u8], &[u8]> = TableDefinition::new("fsm_records");

/// A [`Store`] in a redb file: crash-safe, and every [`Store::write_batch`] is one transaction
/// committed with redb's default `Durability::Immediate` (fsync before it returns).
///
/// The group funnels the writes of many machines into one batch (group commit), so the fsync
/// cost is shared.
#[derive(Debug)]
pub struct RedbStore {
    db: Database,
}

impl RedbStore {
    /// Opens the database at `path`, creating it (and its table) if needed.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let db = Database::create(path).map_err(StoreError::backend)?;
        let txn = db.begin_write().map_err(StoreError::backend)?;
        txn.open_table(RECORDS).map_err(StoreError::backend)?;
        txn.commit().map_err(StoreError::backend)?;
        Ok(Self { db })
    }
}

impl Store for RedbStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read().map_err(StoreError::backend)?;
        let table = txn.open_table(RECORDS).map_err(StoreError::backend)?;
        let value = table.get(key).map_err(StoreError::backend)?;
        Ok(value.map(|guard| guard.value().to_vec()))
    }

    fn scan(&self, prefix: &[u8], visit: &mut dyn FnMut(&[u8], &[u8])) -> Result<(), StoreError> {
        let txn = self.db.begin_read().map_err(StoreError::backend)?;
        let table = txn.open_table(RECORDS).map_err(StoreError::backend)?;
        for entry in table.range(prefix..).map_err(StoreError::backend)? {
            let (key, value) = entry.map_err(StoreError::backend)?;
            if !key.value().starts_with(prefix) {
                break;
            }
            visit(key.value(), value.value());
        }
        Ok(())
    }

    fn write_batch(&self, ops: &[WriteOp<'_>]) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(StoreError::backend)?;
        {
            let mut table = txn.open_table(RECORDS).map_err(StoreError::backend)?;
            for op in ops {
                match *op {
                    WriteOp::Put { key, value } => {
                        table.insert(key, value).map_err(StoreError::backend)?;
                    }
                    WriteOp::Delete { key } => {
                        table.remove(key).map_err(StoreError::backend)?;
                    }
                }
            }
        }
        // Dropping an uncommitted transaction on the error paths above aborts it: all or nothing.
        txn.commit().map_err(StoreError::backend)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.redb");
        {
            let store = RedbStore::open(&path).unwrap();
            store
                .write_batch(&[
                    WriteOp::Put {
                        key: b"m/1",
                        value: b"a",
                    },
                    WriteOp::Put {
                        key: b"m/2",
                        value: b"b",
                    },
                    WriteOp::Put {
                        key: b"n/1",
                        value: b"c",
                    },
                ])
                .unwrap();
            store.delete(b"m/2").unwrap();
        }
        let store = RedbStore::open(&path).unwrap();
        assert_eq!(store.get(b"m/1").unwrap().as_deref(), Some(&b"a"[..]));
        assert_eq!(store.get(b"m/2").unwrap(), None);
        let mut keys = Vec::new();
        store
            .scan(b"m/", &mut |k, _| keys.push(k.to_vec()))
            .unwrap();
        assert_eq!(keys, vec![b"m/1".to_vec()]);
    }
}
