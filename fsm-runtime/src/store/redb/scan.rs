//! The read path of a redb store: single reads and paged scans, each in one read transaction.

use redb::ReadTransaction;

use super::backend;
use super::tables::{BY_STATUS, FAILED, LEGACY_RECORDS, MACHINES, status_key};
use crate::store::meta_codec::{decode_meta, split_entry};
use crate::store::{Entry, Filter, MetaError, ScanPage, ScanRequest, StoreError};

/// A [`ScanRequest`] owned, to move to a blocking thread.
pub(super) struct OwnedScan {
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
    pub(super) fn from_request(request: &ScanRequest<'_>) -> Self {
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

    /// The first key a page may hold: the cursor (excluded later), or the prefix.
    fn start(&self) -> &[u8] {
        match &self.after {
            Some(after) if after.as_slice() >= self.prefix.as_slice() => after,
            _ => &self.prefix,
        }
    }

    fn is_past_cursor(&self, key: &[u8]) -> bool {
        self.after.as_deref().is_none_or(|after| key > after)
    }

    /// One more than the page holds, to learn whether another page follows.
    fn wanted(&self) -> usize {
        self.limit.saturating_add(1)
    }
}

/// The entry at `key`: `None` when no machine is stored there.
pub(super) fn read_entry(
    txn: &ReadTransaction,
    key: &[u8],
    legacy: bool,
) -> Result<Option<Entry>, StoreError> {
    let machines = txn.open_table(MACHINES).map_err(backend)?;
    if let Some(value) = machines.get(key).map_err(backend)? {
        return Ok(Some(entry(key, value.value(), true)));
    }
    if legacy {
        let records = txn.open_table(LEGACY_RECORDS).map_err(backend)?;
        if let Some(record) = records.get(key).map_err(backend)? {
            return Ok(Some(Entry {
                key: key.to_vec(),
                record: Some(record.value().to_vec()),
                meta: Err(MetaError::Missing),
            }));
        }
    }
    Ok(None)
}

/// An entry from a machine's stored value.
fn entry(key: &[u8], value: &[u8], with_record: bool) -> Entry {
    match split_entry(value) {
        Ok((meta, record)) => Entry {
            key: key.to_vec(),
            record: with_record.then(|| record.to_vec()),
            meta: decode_meta(meta),
        },
        Err(error) => Entry {
            key: key.to_vec(),
            record: None,
            meta: Err(error),
        },
    }
}

/// Reads one page.
pub(super) fn scan_page(
    txn: &ReadTransaction,
    scan: &OwnedScan,
    legacy: bool,
) -> Result<ScanPage, StoreError> {
    let mut entries = match &scan.filter {
        OwnedFilter::Status(status) => by_index(txn, scan, Some(status))?,
        OwnedFilter::Failed => by_index(txn, scan, None)?,
        OwnedFilter::All | OwnedFilter::Active => {
            let mut entries = machines_in_range(txn, scan)?;
            if legacy {
                // Records of the first format have no metadata: every listing reports them
                // (as `Missing`), merged in key order.
                entries.extend(legacy_in_range(txn, scan)?);
                entries.sort_by(|a, b| a.key.cmp(&b.key));
                entries.truncate(scan.wanted());
            }
            entries
        }
    };
    let next = if entries.len() > scan.limit {
        entries.truncate(scan.limit);
        entries.last().map(|entry| entry.key.clone())
    } else {
        None
    };
    Ok(ScanPage { entries, next })
}

/// Up to `scan.wanted()` machines of the range in key order, skipping final ones for
/// [`Filter::Active`] (damaged metadata is reported, never skipped).
fn machines_in_range(txn: &ReadTransaction, scan: &OwnedScan) -> Result<Vec<Entry>, StoreError> {
    let machines = txn.open_table(MACHINES).map_err(backend)?;
    let active_only = matches!(scan.filter, OwnedFilter::Active);
    let mut entries = Vec::new();
    for item in machines.range(scan.start()..).map_err(backend)? {
        let (key, value) = item.map_err(backend)?;
        let key = key.value();
        if !key.starts_with(&scan.prefix) {
            break;
        }
        if !scan.is_past_cursor(key) {
            continue;
        }
        let entry = entry(key, value.value(), scan.with_records);
        if active_only && entry.meta.as_ref().is_ok_and(|meta| meta.is_final) {
            continue;
        }
        entries.push(entry);
        if entries.len() == scan.wanted() {
            break;
        }
    }
    Ok(entries)
}

/// Up to `scan.wanted()` records of the first format in the range.
fn legacy_in_range(txn: &ReadTransaction, scan: &OwnedScan) -> Result<Vec<Entry>, StoreError> {
    let records = txn.open_table(LEGACY_RECORDS).map_err(backend)?;
    let mut entries = Vec::new();
    for item in records.range(scan.start()..).map_err(backend)? {
        let (key, record) = item.map_err(backend)?;
        let key = key.value();
        if !key.starts_with(&scan.prefix) {
            break;
        }
        if !scan.is_past_cursor(key) {
            continue;
        }
        entries.push(Entry {
            key: key.to_vec(),
            record: scan.with_records.then(|| record.value().to_vec()),
            meta: Err(MetaError::Missing),
        });
        if entries.len() == scan.wanted() {
            break;
        }
    }
    Ok(entries)
}

/// Up to `scan.wanted()` machines from the status index (`Some(status)`) or the failure index
/// (`None`), each read back from `fsm_machines`. An index entry whose machine no longer
/// matches is stale (its metadata was damaged when it changed) and skipped.
fn by_index(
    txn: &ReadTransaction,
    scan: &OwnedScan,
    status: Option<&str>,
) -> Result<Vec<Entry>, StoreError> {
    let machines = txn.open_table(MACHINES).map_err(backend)?;
    // Index keys are the machine key behind a fixed head: the status (or nothing).
    let mut head = Vec::new();
    if let Some(status) = status {
        status_key(status.as_bytes(), &[], &mut head);
    }
    let mut from = head.clone();
    from.extend_from_slice(scan.start());
    let mut entries = Vec::new();
    let mut visit = |index_key: &[u8]| -> Result<bool, StoreError> {
        let Some(key) = index_key.strip_prefix(head.as_slice()) else {
            return Ok(false);
        };
        if !key.starts_with(&scan.prefix) {
            return Ok(false);
        }
        if !scan.is_past_cursor(key) {
            return Ok(true);
        }
        let Some(value) = machines.get(key).map_err(backend)? else {
            return Ok(true);
        };
        let entry = entry(key, value.value(), scan.with_records);
        let matches = match (&entry.meta, status) {
            (Ok(meta), Some(status)) => meta.status == status,
            (Ok(meta), None) => meta.failure.is_some(),
            (Err(_), _) => false,
        };
        if matches {
            entries.push(entry);
        }
        Ok(entries.len() < scan.wanted())
    };
    if status.is_some() {
        let index = txn.open_table(BY_STATUS).map_err(backend)?;
        for item in index.range(from.as_slice()..).map_err(backend)? {
            let (index_key, _) = item.map_err(backend)?;
            if !visit(index_key.value())? {
                break;
            }
        }
    } else {
        let index = txn.open_table(FAILED).map_err(backend)?;
        for item in index.range(from.as_slice()..).map_err(backend)? {
            let (index_key, _) = item.map_err(backend)?;
            if !visit(index_key.value())? {
                break;
            }
        }
    }
    Ok(entries)
}
