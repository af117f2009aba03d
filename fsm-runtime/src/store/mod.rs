//! Where machine records live: a small byte-oriented [`Store`] trait and two implementations,
//! [`MemoryStore`] and the durable [`RedbStore`].
//!
//! The trait is deliberately small (get, put, delete, prefix scan, atomic batch) so that a
//! server database or a distributed engine can implement it later. Stores see only bytes: the
//! group encodes records with its [`Codec`](crate::codec::Codec) and ids with
//! [`MachineId`](crate::MachineId).

use std::sync::Arc;

mod memory;
mod redb;

pub use self::memory::MemoryStore;
pub use self::redb::RedbStore;

/// One write of an atomic batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOp<'a> {
    /// Sets `key` to `value`.
    Put {
        /// The key.
        key: &'a [u8],
        /// The new value.
        value: &'a [u8],
    },
    /// Removes `key` (a no-op when absent).
    Delete {
        /// The key.
        key: &'a [u8],
    },
}

/// A key-value store of records.
///
/// Implementations must make [`Store::write_batch`] atomic (all writes or none) and, for a
/// durable store, durable when it returns `Ok`.
pub trait Store: Send + Sync + 'static {
    /// The value stored at `key`.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// Sets `key` to `value`.
    fn put(&self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.write_batch(&[WriteOp::Put { key, value }])
    }

    /// Removes `key`.
    fn delete(&self, key: &[u8]) -> Result<(), StoreError> {
        self.write_batch(&[WriteOp::Delete { key }])
    }

    /// Calls `visit` with every entry whose key starts with `prefix` (every entry for an empty
    /// prefix). The order is the store's own.
    fn scan(&self, prefix: &[u8], visit: &mut dyn FnMut(&[u8], &[u8])) -> Result<(), StoreError>;

    /// Applies `ops` atomically, in order.
    fn write_batch(&self, ops: &[WriteOp<'_>]) -> Result<(), StoreError>;

    /// Applies `ops` like [`Store::write_batch`], except that the store may reject single
    /// writes (for example a record owned by another process sharing the store) without failing
    /// the others. `Err` fails every write; otherwise there is one result per op, in order.
    /// The group's committer calls this. The default is [`Store::write_batch`]: all or nothing.
    fn write_batch_each(
        &self,
        ops: &[WriteOp<'_>],
    ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        self.write_batch(ops).map(|()| vec![Ok(()); ops.len()])
    }

    /// Calls `visit` with the records under `prefix` whose entry funcs this process may resume
    /// (resume on open, [`Group::resume`](crate::Group::resume)). The default is [`Store::scan`]:
    /// every record. A store shared by several processes visits only the records this process
    /// owns or can take over, and takes them.
    fn scan_resumable(
        &self,
        prefix: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]),
    ) -> Result<(), StoreError> {
        self.scan(prefix, visit)
    }

    /// Whether the group should group writes from many machines into one
    /// [`Store::write_batch`] on a committer thread (true for stores whose commit is expensive,
    /// such as an fsync). When false, each machine writes inline with [`Store::put`].
    fn prefers_group_commit(&self) -> bool {
        true
    }
}

impl<S: Store + ?Sized> Store for Arc<S> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        (**self).get(key)
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        (**self).put(key, value)
    }

    fn delete(&self, key: &[u8]) -> Result<(), StoreError> {
        (**self).delete(key)
    }

    fn scan(&self, prefix: &[u8], visit: &mut dyn FnMut(&[u8], &[u8])) -> Result<(), StoreError> {
        (**self).scan(prefix, visit)
    }

    fn write_batch(&self, ops: &[WriteOp<'_>]) -> Result<(), StoreError> {
        (**self).write_batch(ops)
    }

    fn write_batch_each(
        &self,
        ops: &[WriteOp<'_>],
    ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        (**self).write_batch_each(ops)
    }

    fn scan_resumable(
        &self,
        prefix: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]),
    ) -> Result<(), StoreError> {
        (**self).scan_resumable(prefix, visit)
    }

    fn prefers_group_commit(&self) -> bool {
        (**self).prefers_group_commit()
    }
}

/// A store operation failed.
///
/// Cloneable because one failed group commit is reported to every machine in it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The backend reported an error.
    #[error("store backend error: {0}")]
    Backend(Arc<dyn std::error::Error + Send + Sync + 'static>),
    /// The store (or the group's committer) has shut down.
    #[error("store is closed")]
    Closed,
}

impl StoreError {
    /// Wraps a backend error.
    pub fn backend(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Backend(Arc::new(error))
    }
}
