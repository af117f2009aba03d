//! Point reads, coalesced: concurrent [`Store::get`](crate::store::Store::get) calls queue
//! up, and one blocking task serves every queued read in one read transaction, then the reads
//! that arrived meanwhile, until none is left. Under load a read costs a queue push instead of
//! a thread hand-off each (the group-commit pattern, applied to reads).

use std::mem;
use std::sync::{Arc, Mutex};

use redb::ReadableDatabase;
use tokio::sync::oneshot;

use super::scan::read_entry;
use super::{Inner, backend};
use crate::store::{Entry, StoreError};

type Reply = oneshot::Sender<Result<Option<Entry>, StoreError>>;

/// The reads waiting for the blocking task.
#[derive(Debug, Default)]
pub(super) struct ReadQueue {
    state: Mutex<Queued>,
}

#[derive(Debug, Default)]
struct Queued {
    reads: Vec<(Vec<u8>, Reply)>,
    /// Whether a blocking task is serving the queue (and will see new reads).
    serving: bool,
}

impl ReadQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queued> {
        // Every critical section below leaves the queue consistent.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Reads the entry at `key` through the queue of `inner`.
pub(super) async fn get(inner: &Arc<Inner>, key: Vec<u8>) -> Result<Option<Entry>, StoreError> {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        // No runtime: nothing to keep free, read here.
        let legacy = inner.has_legacy();
        return inner.guarded("reading a record", |db| {
            let txn = db.begin_read().map_err(backend)?;
            read_entry(&txn, &key, legacy)
        });
    };
    let (reply, answer) = oneshot::channel();
    let start = {
        let mut queued = inner.reads.lock();
        queued.reads.push((key, reply));
        !mem::replace(&mut queued.serving, true)
    };
    if start {
        let serving = Arc::clone(inner);
        // The task ends by itself once the queue is empty; its handle is not needed.
        drop(runtime.spawn_blocking(move || serve(&serving)));
    }
    answer.await.unwrap_or_else(|_| {
        Err(StoreError::Failed(
            "the read was dropped by a failed store".into(),
        ))
    })
}

/// Serves queued reads in batches until the queue is empty.
fn serve(inner: &Inner) {
    loop {
        let batch = {
            let mut queued = inner.reads.lock();
            if queued.reads.is_empty() {
                queued.serving = false;
                return;
            }
            mem::take(&mut queued.reads)
        };
        let legacy = inner.has_legacy();
        let mut batch = batch.into_iter().peekable();
        let served = inner.guarded("reading records", |db| {
            let txn = db.begin_read().map_err(backend)?;
            while let Some((key, _)) = batch.peek() {
                let entry = read_entry(&txn, key, legacy);
                if let Some((_, reply)) = batch.next() {
                    // A reader that stopped waiting does not care.
                    let _ = reply.send(entry);
                }
            }
            Ok(())
        });
        if let Err(error) = served {
            for (_, reply) in batch {
                let _ = reply.send(Err(error.clone()));
            }
        }
    }
}
