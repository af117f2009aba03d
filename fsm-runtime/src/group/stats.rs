//! Counters a user can read: [`Group::counters`](super::Group::counters).

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of a group's counters since it was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Events applied and saved.
    pub events_applied: u64,
    /// Events rejected (invalid, action failed or panicked, terminated, halted, or their save
    /// failed).
    pub events_rejected: u64,
    /// Entry funcs that returned an error or panicked.
    pub entry_errors: u64,
    /// Store commits (one per group commit, or one per inline write).
    pub commits: u64,
}

#[derive(Debug, Default)]
pub(super) struct AtomicCounters {
    pub(super) applied: AtomicU64,
    pub(super) rejected: AtomicU64,
    pub(super) entry_errors: AtomicU64,
    pub(super) commits: AtomicU64,
}

impl AtomicCounters {
    pub(super) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn snapshot(&self) -> Counters {
        Counters {
            events_applied: self.applied.load(Ordering::Relaxed),
            events_rejected: self.rejected.load(Ordering::Relaxed),
            entry_errors: self.entry_errors.load(Ordering::Relaxed),
            commits: self.commits.load(Ordering::Relaxed),
        }
    }
}
