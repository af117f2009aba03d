//! Group commit: one thread collects the pending record writes of many machines and writes
//! them in one [`Store::write_batch_each`] (one transaction), then acknowledges each writer
//! with the result of its own write.

use std::sync::Arc;
use std::thread;

use tokio::sync::{mpsc, oneshot};

use super::stats::AtomicCounters;
use crate::store::{Store, StoreError, WriteOp};

/// One record write waiting for the next commit.
pub(super) struct CommitRequest {
    pub(super) key: Vec<u8>,
    pub(super) value: Vec<u8>,
    pub(super) ack: oneshot::Sender<Result<(), StoreError>>,
}

enum Message {
    Write(CommitRequest),
    Shutdown(oneshot::Sender<()>),
}

/// The sending side of the committer thread.
pub(super) struct Committer {
    tx: mpsc::UnboundedSender<Message>,
}

impl Committer {
    /// Starts the committer thread over `store`. A batch holds at most `max_batch` writes.
    pub(super) fn start<S: Store>(
        store: Arc<S>,
        counters: Arc<AtomicCounters>,
        max_batch: usize,
    ) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        thread::Builder::new()
            .name("fsm-committer".into())
            .spawn(move || run(&*store, &counters, rx, max_batch.max(1)))?;
        Ok(Self { tx })
    }

    /// Queues a write and waits until it is committed.
    pub(super) async fn write(&self, key: Vec<u8>, value: Vec<u8>) -> Result<(), StoreError> {
        let (ack, done) = oneshot::channel();
        self.tx
            .send(Message::Write(CommitRequest { key, value, ack }))
            .map_err(|_| StoreError::Closed)?;
        done.await.unwrap_or(Err(StoreError::Closed))
    }

    /// Commits everything queued so far and stops the thread.
    pub(super) async fn shutdown(&self) {
        let (ack, done) = oneshot::channel();
        if self.tx.send(Message::Shutdown(ack)).is_ok() {
            // An error means the thread is already gone, which is what we want.
            let _ = done.await;
        }
    }
}

fn run<S: Store + ?Sized>(
    store: &S,
    counters: &AtomicCounters,
    mut rx: mpsc::UnboundedReceiver<Message>,
    max_batch: usize,
) {
    let mut batch: Vec<CommitRequest> = Vec::new();
    let mut shutdown = None;
    while shutdown.is_none() {
        match rx.blocking_recv() {
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
                .map(|r| WriteOp::Put {
                    key: &r.key,
                    value: &r.value,
                })
                .collect();
            store.write_batch_each(&ops)
        };
        AtomicCounters::bump(&counters.commits);
        tracing::trace!(writes = batch.len(), ok = result.is_ok(), "group commit");
        for (index, request) in batch.drain(..).enumerate() {
            let outcome = match &result {
                Ok(each) => each.get(index).cloned().unwrap_or_else(|| {
                    Err(StoreError::backend(std::io::Error::other(
                        "the store returned no result for this write",
                    )))
                }),
                Err(error) => Err(error.clone()),
            };
            // A writer that stopped waiting is not an error of the commit.
            let _ = request.ack.send(outcome);
        }
    }
    if let Some(ack) = shutdown {
        let _ = ack.send(());
    }
}
