//! P4: the resident memory an idle machine costs, read from `VmRSS` in `/proc/self/status`
//! before and after creating the machines.

use std::sync::Arc;

use fsm_runtime::Machine;
use fsm_runtime::store::{Filter, MemoryStore, ScanRequest, Store, StoreError};

use crate::deal::{DealFsm, DealInput};
use crate::drive::{self, DriveError};

/// Why the footprint could not be measured.
#[derive(Debug, thiserror::Error)]
pub enum FootprintError {
    /// `/proc/self/status` could not be read (not Linux?).
    #[error("cannot read /proc/self/status: {0}")]
    Proc(#[from] std::io::Error),
    /// `/proc/self/status` has no parsable `VmRSS:` line.
    #[error("no VmRSS line in /proc/self/status")]
    NoRss,
    /// Creating or driving the machines failed.
    #[error(transparent)]
    Drive(#[from] DriveError),
    /// Scanning the store for the record sizes failed.
    #[error("cannot scan the store: {0}")]
    Store(#[from] StoreError),
}

/// The resident set size of this process, in bytes.
pub fn resident_bytes() -> Result<u64, FootprintError> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    parse_vm_rss(&status).ok_or(FootprintError::NoRss)
}

/// The `VmRSS:` figure of a `/proc/<pid>/status` text, in bytes.
fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let mut fields = line["VmRSS:".len()..].split_whitespace();
    let value: u64 = fields.next()?.parse().ok()?;
    match fields.next() {
        Some("kB") => Some(value * 1024),
        _ => None,
    }
}

/// What [`measure`] found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Footprint {
    /// Machines created.
    pub machines: u64,
    /// Resident bytes per machine after `begin`, never sent to.
    pub begun_per_machine: f64,
    /// Resident bytes per machine after each machine applied one more event and went idle
    /// again (its task exited).
    pub after_event_per_machine: f64,
    /// Mean encoded record size (the value the store holds), in bytes.
    pub record_bytes: f64,
    /// Mean store key size, in bytes.
    pub key_bytes: f64,
    /// `size_of` of the decoded record the group keeps in its slot.
    pub state_size: usize,
}

impl Footprint {
    /// Resident bytes per idle (begun) machine beyond its encoded record: the P4 figure.
    pub fn begun_beyond_record(&self) -> f64 {
        self.begun_per_machine - self.record_bytes
    }

    /// The same after one event per machine.
    pub fn after_event_beyond_record(&self) -> f64 {
        self.after_event_per_machine - self.record_bytes
    }
}

/// Creates `machines` deals in an in-memory group (begin, then idle) and measures the resident
/// memory they take; then sends each one event (`Open`, which keeps the record's size) and
/// measures again. Must be called inside a tokio runtime.
pub async fn measure(machines: u64) -> Result<Footprint, FootprintError> {
    let store = Arc::new(MemoryStore::new());
    let group = drive::open(Arc::clone(&store)).await?;
    let baseline = resident_bytes()?;
    drive::begin_all(&group, machines).await?;
    let begun = resident_bytes()?;
    for id in 0..machines {
        group
            .send_sync(id, DealInput::Open)
            .await
            .map_err(|source| DriveError::Send {
                step: 0,
                source: Box::new(source),
            })?;
    }
    let after_event = resident_bytes()?;

    let (mut records, mut keys, mut count) = (0u64, 0u64, 0u64);
    let mut after: Option<Vec<u8>> = None;
    loop {
        let request = ScanRequest {
            prefix: &[],
            filter: Filter::All,
            after: after.as_deref(),
            limit: 4096,
            with_records: true,
        };
        let page = store.scan(request).await?;
        for entry in &page.entries {
            keys += entry.key.len() as u64;
            records += entry.record.as_ref().map_or(0, Vec::len) as u64;
            count += 1;
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    group.stop().await;
    let per = |bytes: u64| bytes as f64 / machines.max(1) as f64;
    Ok(Footprint {
        machines,
        begun_per_machine: per(begun.saturating_sub(baseline)),
        after_event_per_machine: per(after_event.saturating_sub(baseline)),
        record_bytes: records as f64 / count.max(1) as f64,
        key_bytes: keys as f64 / count.max(1) as f64,
        state_size: size_of::<<DealFsm as Machine>::State>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_vm_rss_in_kibibytes() {
        let status = "Name:\tx\nVmPeak:\t  10 kB\nVmRSS:\t    1234 kB\nThreads:\t1\n";
        assert_eq!(parse_vm_rss(status), Some(1234 * 1024));
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
        assert_eq!(parse_vm_rss("VmRSS:\t12 MB\n"), None);
    }

    #[test]
    fn this_process_has_a_resident_set() {
        assert!(resident_bytes().unwrap() > 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn measures_records_of_every_machine() {
        let footprint = measure(100).await.unwrap();
        assert_eq!(footprint.machines, 100);
        // u64 ids are 8 big-endian bytes; a record holds at least its six fields.
        assert_eq!(footprint.key_bytes, 8.0);
        assert!(footprint.record_bytes > 6.0);
    }
}
