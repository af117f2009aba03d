//! The tables of a redb store and the write path: one transaction per commit, every table
//! opened once per transaction.
//!
//! | table | key | value |
//! |---|---|---|
//! | `fsm_machines` | machine key | metadata, then the record bytes (`meta_codec::encode_entry`) |
//! | `fsm_by_status` | status length (u16, big-endian), status, machine key | nothing |
//! | `fsm_failed` | machine key | nothing |
//! | `fsm_headers` | group key prefix | the group's header |
//! | `fsm_store` | `"format"` | the store format |
//! | `fsm_records` | machine key | a record of the first format, without metadata |
//!
//! Record and metadata share one value, so a write is one b-tree insert (plus two index
//! updates when the status changes). `fsm_records` holds the records of a store written by the
//! first format; a group's upgrade moves each into `fsm_machines` when it writes its metadata.

use redb::{ReadableTable, ReadableTableMetadata, TableDefinition, WriteTransaction};

use super::backend;
use crate::store::meta_codec::{encode_entry, encode_header, peek_meta, split_entry};
use crate::store::{Committed, Header, Meta, StoreError, WriteOp};

/// Each machine's metadata and record.
pub(super) const MACHINES: TableDefinition<'static, &[u8], &[u8]> =
    TableDefinition::new("fsm_machines");
/// The status index.
pub(super) const BY_STATUS: TableDefinition<'static, &[u8], ()> =
    TableDefinition::new("fsm_by_status");
/// The keys of the machines with a failure record.
pub(super) const FAILED: TableDefinition<'static, &[u8], ()> = TableDefinition::new("fsm_failed");
/// One header per group, by key prefix.
pub(super) const HEADERS: TableDefinition<'static, &[u8], &[u8]> =
    TableDefinition::new("fsm_headers");
/// Facts about the file itself.
pub(super) const STORE_INFO: TableDefinition<'static, &str, u32> =
    TableDefinition::new("fsm_store");
/// Records of the first store format (no metadata), until a group upgrade moves them.
pub(super) const LEGACY_RECORDS: TableDefinition<'static, &[u8], &[u8]> =
    TableDefinition::new("fsm_records");

/// The names of every table a store may hold.
pub(super) const ALL_TABLES: [&str; 6] = [
    "fsm_machines",
    "fsm_by_status",
    "fsm_failed",
    "fsm_headers",
    "fsm_store",
    "fsm_records",
];

/// Appends the status-index key of machine `key` in status `status` to `out`.
pub(super) fn status_key(status: &[u8], key: &[u8], out: &mut Vec<u8>) {
    // Status names are at most u16::MAX bytes (the metadata layout bounds them).
    let len = u16::try_from(status.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&status[..usize::from(len)]);
    out.extend_from_slice(key);
}

/// A write of a commit, owned so that it can move to a blocking thread.
pub(super) enum OwnedOp {
    Put(Vec<u8>, Vec<u8>, Meta),
    PutMeta(Vec<u8>, Meta),
    Delete(Vec<u8>),
    PutHeader(Vec<u8>, Header),
}

impl OwnedOp {
    pub(super) fn from_op(op: &WriteOp<'_>) -> Self {
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

/// What a commit did: the per-write results, and whether records of the first format are left.
pub(super) struct CommitOutcome {
    pub(super) committed: Committed,
    pub(super) legacy_left: bool,
}

/// Applies `ops` in one write transaction. `legacy`: whether `fsm_records` may hold records.
pub(super) fn commit_ops(
    txn: WriteTransaction,
    ops: &[OwnedOp],
    legacy: bool,
) -> Result<CommitOutcome, StoreError> {
    let (refused, legacy_left) = {
        let mut tables = WriteTables::open(&txn, legacy)?;
        let mut refused: Option<Vec<Result<(), StoreError>>> = None;
        for (position, op) in ops.iter().enumerate() {
            if let Err(error) = tables.apply(op)? {
                refused.get_or_insert_with(|| vec![Ok(()); ops.len()])[position] = Err(error);
            }
        }
        let legacy_left = match &tables.legacy {
            Some(table) => !table.is_empty().map_err(backend)?,
            None => false,
        };
        (refused, legacy_left)
    };
    // Dropping an uncommitted transaction on the error paths above aborts it: all or nothing.
    txn.commit().map_err(backend)?;
    Ok(CommitOutcome {
        committed: refused.map_or_else(Committed::all, Committed::each),
        legacy_left,
    })
}

/// The tables of one write transaction, each opened once per commit.
struct WriteTables<'txn> {
    machines: redb::Table<'txn, &'static [u8], &'static [u8]>,
    by_status: redb::Table<'txn, &'static [u8], ()>,
    failed: redb::Table<'txn, &'static [u8], ()>,
    headers: redb::Table<'txn, &'static [u8], &'static [u8]>,
    /// Open only while records of the first format may be left.
    legacy: Option<redb::Table<'txn, &'static [u8], &'static [u8]>>,
    /// Scratch buffers: the value being written, index keys, the status being replaced.
    value: Vec<u8>,
    index_key: Vec<u8>,
    old_status: Vec<u8>,
}

impl<'txn> WriteTables<'txn> {
    fn open(txn: &'txn WriteTransaction, legacy: bool) -> Result<Self, StoreError> {
        Ok(Self {
            machines: txn.open_table(MACHINES).map_err(backend)?,
            by_status: txn.open_table(BY_STATUS).map_err(backend)?,
            failed: txn.open_table(FAILED).map_err(backend)?,
            headers: txn.open_table(HEADERS).map_err(backend)?,
            legacy: if legacy {
                Some(txn.open_table(LEGACY_RECORDS).map_err(backend)?)
            } else {
                None
            },
            value: Vec::new(),
            index_key: Vec::new(),
            old_status: Vec::new(),
        })
    }

    /// Applies one write. The outer error fails the commit; the inner one refuses this write
    /// alone.
    fn apply(&mut self, op: &OwnedOp) -> Result<Result<(), StoreError>, StoreError> {
        match op {
            OwnedOp::Put(key, record, meta) => {
                encode_entry(meta, record, &mut self.value);
                self.write(key, meta)?;
                if let Some(legacy) = &mut self.legacy {
                    legacy.remove(key.as_slice()).map_err(backend)?;
                }
            }
            OwnedOp::PutMeta(key, meta) => {
                let record = self.current_record(key)?;
                let Some(record) = record else {
                    return Ok(Err(StoreError::damaged("no record to attach metadata to")));
                };
                encode_entry(meta, &record, &mut self.value);
                self.write(key, meta)?;
                if let Some(legacy) = &mut self.legacy {
                    legacy.remove(key.as_slice()).map_err(backend)?;
                }
            }
            OwnedOp::Delete(key) => {
                let old = self.machines.remove(key.as_slice()).map_err(backend)?;
                let indexed = old.as_ref().and_then(|old| indexed(old.value()));
                let had_status = match indexed {
                    Some((status, _)) => {
                        self.old_status.clear();
                        self.old_status.extend_from_slice(status);
                        true
                    }
                    None => false,
                };
                drop(old);
                if had_status {
                    self.index_key.clear();
                    status_key(&self.old_status, key, &mut self.index_key);
                    self.by_status
                        .remove(self.index_key.as_slice())
                        .map_err(backend)?;
                }
                self.failed.remove(key.as_slice()).map_err(backend)?;
                if let Some(legacy) = &mut self.legacy {
                    legacy.remove(key.as_slice()).map_err(backend)?;
                }
            }
            OwnedOp::PutHeader(prefix, header) => {
                self.value.clear();
                encode_header(header, &mut self.value);
                self.headers
                    .insert(prefix.as_slice(), self.value.as_slice())
                    .map_err(backend)?;
            }
        }
        Ok(Ok(()))
    }

    /// The record bytes stored at `key` now (in either format).
    fn current_record(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(value) = self.machines.get(key).map_err(backend)? {
            return Ok(split_entry(value.value())
                .ok()
                .map(|(_, record)| record.to_vec()));
        }
        match &self.legacy {
            Some(legacy) => Ok(legacy
                .get(key)
                .map_err(backend)?
                .map(|record| record.value().to_vec())),
            None => Ok(None),
        }
    }

    /// Inserts the value in `self.value` at `key` and moves its index entries, touching the
    /// indexes only when the status or the presence of a failure changes.
    fn write(&mut self, key: &[u8], meta: &Meta) -> Result<(), StoreError> {
        let status = meta.status.as_bytes();
        let has_failure = meta.failure.is_some();
        let old = self
            .machines
            .insert(key, self.value.as_slice())
            .map_err(backend)?;
        // (had an indexed status, same status, same failure flag)
        let (had_status, same_status, same_failure) =
            match old.as_ref().and_then(|old| indexed(old.value())) {
                Some((old_status, old_failed)) => {
                    let same = old_status == status;
                    if !same {
                        self.old_status.clear();
                        self.old_status.extend_from_slice(old_status);
                    }
                    (true, same, old_failed == has_failure)
                }
                None => (false, false, false),
            };
        drop(old);
        if !same_status {
            if had_status {
                self.index_key.clear();
                status_key(&self.old_status, key, &mut self.index_key);
                self.by_status
                    .remove(self.index_key.as_slice())
                    .map_err(backend)?;
            }
            self.index_key.clear();
            status_key(status, key, &mut self.index_key);
            self.by_status
                .insert(self.index_key.as_slice(), ())
                .map_err(backend)?;
        }
        // A new machine without a failure has no failure entry to remove.
        if !same_failure && (has_failure || had_status) {
            if has_failure {
                self.failed.insert(key, ()).map_err(backend)?;
            } else {
                self.failed.remove(key).map_err(backend)?;
            }
        }
        Ok(())
    }
}

/// The index fields of a stored value; `None` when its metadata is damaged (its index entries
/// cannot be found then, and readers skip them as stale).
fn indexed(value: &[u8]) -> Option<(&[u8], bool)> {
    let (meta, _) = split_entry(value).ok()?;
    peek_meta(meta)
}
