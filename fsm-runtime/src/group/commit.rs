//! Group commit: one task collects the pending writes of many machines and writes them in one
//! [`Store::commit`] (one transaction), then acknowledges each writer with the result of its
//! own write. While a commit is under way the next writes queue up, so the batch grows with the
//! load and the cost of a commit (an fsync, a round trip) is shared.

use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::stats::AtomicCounters;
use crate::store::{Meta, Store, StoreError, WriteOp};

/// One write waiting for the next commit: a record with its metadata, or (without a record)
/// the metadata alone.
pub(super) struct CommitRequest {
    pub(super) key: Vec<u8>,
    pub(super) record: Option<Vec<u8>>,
    pub(super) meta: Meta,
    pub(super) ack: oneshot::Sender<Result<(), StoreError>>,
}

enum Message {
    Write(CommitRequest),
    Shutdown(oneshot::Sender<()>),
}

/// The sending side of the committer task.
pub(super) struct Committer {
    tx: mpsc::UnboundedSender<Message>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Committer {
    /// Starts the committer task over `store` on the current tokio runtime. A batch holds at
    /// most `max_batch` writes.
    pub(super) fn start<S: Store>(
        store: Arc<S>,
        counters: Arc<AtomicCounters>,
        max_batch: usize,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(store, counters, rx, max_batch.max(1)));
        Self {
            tx,
            task: Mutex::new(Some(task)),
        }
    }

    /// Queues a write and waits until it is committed.
    pub(super) async fn write(
        &self,
        key: Vec<u8>,
        record: Option<Vec<u8>>,
        meta: Meta,
    ) -> Result<(), StoreError> {
        let (ack, done) = oneshot::channel();
        let request = CommitRequest {
            key,
            record,
            meta,
            ack,
        };
        self.tx
            .send(Message::Write(request))
            .map_err(|_| StoreError::Closed)?;
        done.await.unwrap_or(Err(StoreError::Closed))
    }

    /// Commits everything queued so far, stops the task and waits until it has exited (and
    /// dropped its handle on the store).
    pub(super) async fn shutdown(&self) {
        let (ack, done) = oneshot::channel();
        if self.tx.send(Message::Shutdown(ack)).is_ok() {
            // An error means the task is already gone, which is what we want.
            let _ = done.await;
        }
        let task = self
            .task
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(task) = task {
            // The task only ends by returning; a join error would mean it panicked, and then
            // its writers were already told (their acks were dropped).
            let _ = task.await;
        }
    }
}

async fn run<S: Store>(
    store: Arc<S>,
    counters: Arc<AtomicCounters>,
    mut rx: mpsc::UnboundedReceiver<Message>,
    max_batch: usize,
) {
    let mut batch: Vec<CommitRequest> = Vec::new();
    let mut shutdown = None;
    while shutdown.is_none() {
        match rx.recv().await {
            Some(Message::Write(request)) => batch.push(request),
            Some(Message::Shutdown(ack)) => shutdown = Some(ack),
            None => break,
        }
        while batch.len() < max_batch && shutdown.is_none() {
            match rx.try_recv() {
                Ok(Message::Write(request)) => batch.push(request),
                Ok(Message::Shutdown(ack)) => shutdown = Some(ack),
                Err(_) => break,
            }
        }
        if batch.is_empty() {
            continue;
        }
        let result = {
            let ops: Vec<WriteOp<'_>> = batch
                .iter()
                .map(|request| match &request.record {
                    Some(record) => WriteOp::Put {
                        key: &request.key,
                        record,
                        meta: &request.meta,
                    },
                    None => WriteOp::PutMeta {
                        key: &request.key,
                        meta: &request.meta,
                    },
                })
                .collect();
            store.commit(&ops).await
        };
        AtomicCounters::bump(&counters.commits);
        tracing::trace!(writes = batch.len(), ok = result.is_ok(), "group commit");
        for (index, request) in batch.drain(..).enumerate() {
            let outcome = match &result {
                Ok(committed) => committed.result(index),
                Err(error) => Err(error.clone()),
            };
            // A writer that stopped waiting is not an error of the commit.
            let _ = request.ack.send(outcome);
        }
    }
    drop(store);
    if let Some(ack) = shutdown {
        let _ = ack.send(());
    }
}
