//! [`PgStore`]: the [`Store`] trait over PostgreSQL, with per-machine leases and fencing.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use fsm_runtime::store::{Store, StoreError, WriteOp};
use tokio::runtime::{Handle, Runtime};
use tokio_postgres::Client;
use tokio_postgres::types::ToSql;

use crate::error::{MachineKey, PgError};
use crate::link::{Link, RetryPolicy};
use crate::sql;

/// What this process last saw of one record: the basis its cached copy is built on.
#[derive(Debug, Clone, Copy)]
enum Seen {
    /// Read or written at this version (0: absent). `tainted`: a later read found another
    /// version than the one before, so a copy cached from the earlier read may be stale; the
    /// next write is refused.
    Known { version: i64, tainted: bool },
    /// A write was refused (or failed): the caller's copy may be stale, so writes are refused
    /// until the record is read again (the group reloads after every failed write).
    Refused,
}

/// What a write expects to find.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// The version this process last read or wrote (0: absent).
    Version(i64),
    /// Nothing known: the process never read the record.
    Unknown,
}

#[derive(Debug, Clone)]
struct OwnedOp {
    key: Vec<u8>,
    /// `None` deletes.
    value: Option<Vec<u8>>,
    expect: Expect,
}

/// The state shared by the store's handle and its background tasks.
pub(crate) struct Inner {
    pub(crate) group: String,
    pub(crate) owner: String,
    pub(crate) lease_ttl: Duration,
    pub(crate) retry: RetryPolicy,
    /// Reads and lease renewals (pipelined, no transactions).
    pub(crate) reader: Link,
    /// Write transactions, one at a time (`write_lock`).
    pub(crate) writer: Link,
    pub(crate) write_lock: tokio::sync::Mutex<()>,
    seen: Mutex<HashMap<Vec<u8>, Seen>>,
}

impl Inner {
    pub(crate) fn new(
        group: String,
        owner: String,
        lease_ttl: Duration,
        retry: RetryPolicy,
        config: tokio_postgres::Config,
    ) -> Self {
        Self {
            group,
            owner,
            lease_ttl,
            retry,
            reader: Link::new(config.clone()),
            writer: Link::new(config),
            write_lock: tokio::sync::Mutex::new(()),
            seen: Mutex::default(),
        }
    }

    fn seen(&self) -> MutexGuard<'_, HashMap<Vec<u8>, Seen>> {
        // Every critical section below leaves the map consistent, so a poisoned lock's data is
        // still valid.
        self.seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records that a read returned `version` of `key`.
    ///
    /// A read older than the version this instance knows raced with one of its own writes (the
    /// read was answered before that write committed) and says nothing new, so it is ignored;
    /// treating it as a foreign write would refuse this instance's next write of the machine.
    fn observe(seen: &mut HashMap<Vec<u8>, Seen>, key: &[u8], version: i64) {
        if let Some(Seen::Known { version: known, .. }) = seen.get(key) {
            if version < *known {
                return;
            }
        }
        let tainted = match seen.get(key) {
            Some(Seen::Known {
                version: before,
                tainted,
            }) => *tainted || *before != version,
            Some(Seen::Refused) | None => false,
        };
        match seen.get_mut(key) {
            Some(entry) => *entry = Seen::Known { version, tainted },
            None => {
                seen.insert(key.to_vec(), Seen::Known { version, tainted });
            }
        }
    }

    fn ttl_secs(&self) -> f64 {
        self.lease_ttl.as_secs_f64()
    }

    /// Extends this owner's running leases; returns how many.
    pub(crate) async fn renew(&self) -> Result<u64, PgError> {
        let ttl = self.ttl_secs();
        self.reader
            .retrying(&self.retry, "renewing leases", |client, _| async move {
                client
                    .execute(sql::RENEW_LEASES, &[&self.group, &self.owner, &ttl])
                    .await
                    .map_err(PgError::db("renewing leases"))
            })
            .await
    }

    /// Ends every lease of this owner now.
    pub(crate) async fn release(&self) -> Result<u64, PgError> {
        self.reader
            .retrying(&self.retry, "releasing leases", |client, _| async move {
                client
                    .execute(sql::RELEASE_LEASES, &[&self.group, &self.owner])
                    .await
                    .map_err(PgError::db("releasing leases"))
            })
            .await
    }

    async fn owner_of(&self, key: &[u8]) -> Result<Option<(String, Duration)>, PgError> {
        let rows = self
            .reader
            .retrying(&self.retry, "reading a lease", |client, _| async move {
                client
                    .query_opt(sql::LEASE_OWNER, &[&self.group, &key])
                    .await
                    .map_err(PgError::db("reading a lease"))
            })
            .await?;
        Ok(rows.map(|row| {
            let secs: f64 = row.get(1);
            (row.get(0), Duration::from_secs_f64(secs.max(0.0)))
        }))
    }

    async fn get(&self, key: Vec<u8>) -> Result<Option<Vec<u8>>, PgError> {
        let key = &key;
        let row = self
            .reader
            .retrying(&self.retry, "reading a record", |client, _| async move {
                client
                    .query_opt(sql::GET, &[&self.group, key])
                    .await
                    .map_err(PgError::db("reading a record"))
            })
            .await?;
        let (value, version) = match row {
            Some(row) => (Some(row.get::<_, Vec<u8>>(0)), row.get(1)),
            None => (None, 0),
        };
        Self::observe(&mut self.seen(), key, version);
        Ok(value)
    }

    /// Every record under `prefix`; with `claim`, only those whose lease this owner holds or
    /// takes now.
    async fn scan(&self, prefix: Vec<u8>, claim: bool) -> Result<Vec<(Vec<u8>, Vec<u8>)>, PgError> {
        let prefix = &prefix;
        let length = i32::try_from(prefix.len()).unwrap_or(i32::MAX);
        let ttl = self.ttl_secs();
        let doing = if claim {
            "claiming records to resume"
        } else {
            "scanning records"
        };
        let rows = self
            .reader
            .retrying(&self.retry, doing, |client, _| async move {
                let result = if claim {
                    let params: [&(dyn ToSql + Sync); 5] =
                        [&self.group, prefix, &length, &self.owner, &ttl];
                    client.query(sql::CLAIM, &params).await
                } else {
                    client
                        .query(sql::SCAN, &[&self.group, prefix, &length])
                        .await
                };
                result.map_err(PgError::db(doing))
            })
            .await?;
        let mut seen = self.seen();
        Ok(rows
            .into_iter()
            .map(|row| {
                let key: Vec<u8> = row.get(0);
                Self::observe(&mut seen, &key, row.get(2));
                (key, row.get(1))
            })
            .collect())
    }

    /// Applies `ops` in one transaction; each op succeeds or fails on its own (not the owner,
    /// stale record), while a database error fails them all.
    async fn write(
        &self,
        ops: Vec<OwnedOp>,
        atomic: bool,
    ) -> Result<Vec<Result<i64, PgError>>, PgError> {
        let _one_writer = self.write_lock.lock().await;
        let ops = &ops;
        self.writer
            .retrying(
                &self.retry,
                "committing writes",
                |client, attempt| async move {
                    let result = self.write_transaction(&client, ops, attempt, atomic).await;
                    if result.is_err() && !client.is_closed() {
                        // Leave the connection usable; if even this fails the next attempt
                        // reconnects.
                        let _ = client.batch_execute("ROLLBACK").await;
                    }
                    result
                },
            )
            .await
    }

    async fn write_transaction(
        &self,
        client: &Client,
        ops: &[OwnedOp],
        attempt: u32,
        atomic: bool,
    ) -> Result<Vec<Result<i64, PgError>>, PgError> {
        let doing = "committing writes";
        client
            .batch_execute("BEGIN")
            .await
            .map_err(PgError::db(doing))?;
        let mut keys: Vec<&[u8]> = ops.iter().map(|op| op.key.as_slice()).collect();
        keys.sort_unstable();
        keys.dedup();
        let results = if keys.len() == ops.len() {
            // Distinct keys: pipeline every op on the connection.
            futures::future::join_all(ops.iter().map(|op| self.write_one(client, op, attempt)))
                .await
        } else {
            let mut results = Vec::with_capacity(ops.len());
            for op in ops {
                results.push(self.write_one(client, op, attempt).await);
            }
            results
        };
        let mut each = Vec::with_capacity(results.len());
        for result in results {
            match result {
                // All or nothing: the caller rolls the transaction back.
                Ok(Err(refused)) if atomic => return Err(refused),
                Ok(outcome) => each.push(outcome),
                // A database error aborted the transaction: every op fails (or is retried).
                Err(error) => return Err(error),
            }
        }
        client
            .batch_execute("COMMIT")
            .await
            .map_err(PgError::db(doing))?;
        Ok(each)
    }

    /// One op inside the transaction. The outer error is a database error; the inner one is
    /// this op's own refusal.
    async fn write_one(
        &self,
        client: &Client,
        op: &OwnedOp,
        attempt: u32,
    ) -> Result<Result<i64, PgError>, PgError> {
        let doing = "committing writes";
        let key = &op.key;
        let ttl = self.ttl_secs();
        let lease = client
            .query_opt(sql::TAKE_LEASE, &[&self.group, key, &self.owner, &ttl])
            .await
            .map_err(PgError::db(doing))?;
        let Some(lease) = lease else {
            let holder = client
                .query_opt(sql::LEASE_OWNER, &[&self.group, key])
                .await
                .map_err(PgError::db(doing))?;
            let (owner, secs): (String, f64) =
                holder.map_or((String::new(), 0.0), |row| (row.get(0), row.get(1)));
            return Ok(Err(PgError::NotOwner {
                group: self.group.clone(),
                machine: MachineKey(key.clone()),
                owner,
                expires_in: Duration::from_secs_f64(secs.max(0.0)),
            }));
        };
        let epoch: i64 = lease.get(0);
        let stale = || {
            Ok(Err(PgError::Stale {
                group: self.group.clone(),
                machine: MachineKey(key.clone()),
            }))
        };
        match (&op.value, op.expect) {
            (Some(value), Expect::Version(0)) => {
                let inserted = client
                    .execute(sql::INSERT, &[&self.group, key, value, &epoch])
                    .await
                    .map_err(PgError::db(doing))?;
                if inserted == 1 {
                    return Ok(Ok(1));
                }
                self.already_written(client, op, 0, attempt).await
            }
            (Some(value), Expect::Version(version)) => {
                let updated = client
                    .execute(sql::UPDATE, &[&self.group, key, value, &epoch, &version])
                    .await
                    .map_err(PgError::db(doing))?;
                if updated == 1 {
                    return Ok(Ok(version + 1));
                }
                self.already_written(client, op, version, attempt).await
            }
            (Some(value), Expect::Unknown) => {
                let row = client
                    .query_opt(sql::UPSERT, &[&self.group, key, value, &epoch])
                    .await
                    .map_err(PgError::db(doing))?;
                match row {
                    Some(row) => Ok(Ok(row.get(0))),
                    None => stale(),
                }
            }
            (None, expect) => {
                let version = match expect {
                    Expect::Version(version) if version > 0 => Some(version),
                    _ => None,
                };
                client
                    .execute(sql::DELETE, &[&self.group, key, &epoch, &version])
                    .await
                    .map_err(PgError::db(doing))?;
                let left = client
                    .query_opt(sql::GET, &[&self.group, key])
                    .await
                    .map_err(PgError::db(doing))?;
                match left {
                    None => Ok(Ok(0)),
                    Some(_) => stale(),
                }
            }
        }
    }

    /// After a conditional write found another version: on a retry, the previous attempt may
    /// have committed before its connection broke, which shows as exactly our value one version
    /// on. Anything else is a stale write.
    async fn already_written(
        &self,
        client: &Client,
        op: &OwnedOp,
        expected: i64,
        attempt: u32,
    ) -> Result<Result<i64, PgError>, PgError> {
        if attempt > 0 {
            let row = client
                .query_opt(sql::GET, &[&self.group, &op.key])
                .await
                .map_err(PgError::db("committing writes"))?;
            if let Some(row) = row {
                let (value, version): (Vec<u8>, i64) = (row.get(0), row.get(1));
                if version == expected + 1 && op.value.as_deref() == Some(value.as_slice()) {
                    return Ok(Ok(version));
                }
            }
        }
        Ok(Err(PgError::Stale {
            group: self.group.clone(),
            machine: MachineKey(op.key.clone()),
        }))
    }
}

/// A [`Store`] over PostgreSQL that several processes can share.
///
/// * **Records**: `fsm_records(group_name, machine_id, value bytea, version, epoch)`; the
///   group's store key is the `machine_id`. Schema created and migrated on open
///   ([`SCHEMA_VERSION`](crate::SCHEMA_VERSION)).
/// * **Durability**: [`Store::write_batch_each`] is one transaction; the group acknowledges
///   a `send_sync` after its `COMMIT` returned. It prefers group commit, so one transaction
///   carries the writes of many machines.
/// * **Ownership**: writing a machine's record takes (or keeps) its lease in
///   `fsm_leases(group_name, machine_id, owner, epoch, expires_at)`, in the same transaction.
///   A live lease of another instance refuses the write with [`PgError::NotOwner`] naming the
///   owner; an expired one is taken with the next epoch. A background task renews this
///   instance's leases every third of the lease time.
/// * **Fencing**: a record is written only if its version is the one this instance last read
///   or wrote and it was not written under a newer epoch, so a paused or partitioned former
///   owner can never overwrite a newer record ([`PgError::Stale`]; the group reloads).
/// * **Failures**: broken connections are re-established and the operation retried for
///   the [`RetryPolicy`] window; a commit whose outcome was lost is recognised on retry.
///
/// The store runs its own small tokio runtime (one worker), so its blocking [`Store`] methods
/// may be called from any thread, including tokio workers.
pub struct PgStore {
    inner: Arc<Inner>,
    handle: Handle,
    runtime: Option<Runtime>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("group", &self.inner.group)
            .field("owner", &self.inner.owner)
            .field("lease_ttl", &self.inner.lease_ttl)
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects to `url` (`postgresql://user@host:port/db`) for group `group` with the default
    /// settings of [`PgStoreBuilder`](crate::PgStoreBuilder).
    pub fn connect(url: &str, group: &str) -> Result<Self, PgError> {
        crate::PgStoreBuilder::new(url, group).connect()
    }

    /// Wraps connected state; used by the builder.
    pub(crate) fn from_parts(inner: Arc<Inner>, runtime: Runtime) -> Self {
        Self {
            inner,
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
        }
    }

    /// The group this store holds records of.
    pub fn group(&self) -> &str {
        &self.inner.group
    }

    /// This instance's name in lease rows.
    pub fn owner(&self) -> &str {
        &self.inner.owner
    }

    /// How long a lease runs without renewal.
    pub fn lease_ttl(&self) -> Duration {
        self.inner.lease_ttl
    }

    /// The instance holding the lease of the machine stored at `key`, with the time its lease
    /// still runs (zero: expired), or `None` when no instance ever held it.
    pub fn owner_of(&self, key: &[u8]) -> Result<Option<(String, Duration)>, PgError> {
        let inner = Arc::clone(&self.inner);
        let key = key.to_vec();
        self.block(async move { inner.owner_of(&key).await })
    }

    /// Extends every running lease of this instance now (the background task does this every
    /// third of the lease time) and returns how many.
    pub fn renew_leases(&self) -> Result<u64, PgError> {
        let inner = Arc::clone(&self.inner);
        self.block(async move { inner.renew().await })
    }

    /// Ends every lease of this instance now, so other instances can take its machines at once
    /// (done on drop too). Writes after this take the leases again.
    pub fn release_leases(&self) -> Result<u64, PgError> {
        let inner = Arc::clone(&self.inner);
        self.block(async move { inner.release().await })
    }

    /// Runs `future` on the store's runtime and waits for it from this (any) thread.
    pub(crate) fn block<T, F>(&self, future: F) -> Result<T, PgError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, PgError>> + Send + 'static,
    {
        run_on(&self.handle, future)
    }
}

/// Runs `future` on `handle` and waits for it from this (any) thread.
pub(crate) fn run_on<T, F>(handle: &Handle, future: F) -> Result<T, PgError>
where
    T: Send + 'static,
    F: Future<Output = Result<T, PgError>> + Send + 'static,
{
    let (done, result) = std::sync::mpsc::sync_channel(1);
    handle.spawn(async move {
        // The caller waits on the other end; it only goes away if its thread is unwinding.
        let _ = done.send(future.await);
    });
    // A runtime that shut down drops the task, and with it the sender.
    result.recv().unwrap_or(Err(PgError::Closed))
}

impl Drop for PgStore {
    fn drop(&mut self) {
        let inner = Arc::clone(&self.inner);
        let (done, released) = std::sync::mpsc::sync_channel(1);
        self.handle.spawn(async move {
            let _ = done.send(inner.release().await);
        });
        // Best effort, bounded: other instances take over after the lease time anyway.
        if let Ok(Err(error)) = released.recv_timeout(Duration::from_secs(2)) {
            tracing::warn!(%error, group = %self.inner.group, "cannot release leases on drop");
        }
        if let Some(runtime) = self.runtime.take() {
            // Does not block, so dropping the store inside async code is fine.
            runtime.shutdown_background();
        }
    }
}

fn backend(error: PgError) -> StoreError {
    match error {
        PgError::Closed => StoreError::Closed,
        other => StoreError::backend(other),
    }
}

impl Store for PgStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let inner = Arc::clone(&self.inner);
        let key = key.to_vec();
        self.block(async move { inner.get(key).await })
            .map_err(backend)
    }

    fn scan(&self, prefix: &[u8], visit: &mut dyn FnMut(&[u8], &[u8])) -> Result<(), StoreError> {
        self.scan_records(prefix, false, visit)
    }

    fn scan_resumable(
        &self,
        prefix: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]),
    ) -> Result<(), StoreError> {
        self.scan_records(prefix, true, visit)
    }

    fn write_batch(&self, ops: &[WriteOp<'_>]) -> Result<(), StoreError> {
        // Atomic: any refused op rolls the transaction back and is the error.
        self.write_ops(ops, true).map(drop)
    }

    fn write_batch_each(
        &self,
        ops: &[WriteOp<'_>],
    ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        self.write_ops(ops, false)
    }

    fn prefers_group_commit(&self) -> bool {
        true
    }
}

impl PgStore {
    /// Visits the records under `prefix`: all of them, or with `claim` only those whose lease
    /// this instance holds or can take (taking them).
    fn scan_records(
        &self,
        prefix: &[u8],
        claim: bool,
        visit: &mut dyn FnMut(&[u8], &[u8]),
    ) -> Result<(), StoreError> {
        let inner = Arc::clone(&self.inner);
        let prefix = prefix.to_vec();
        let records = self
            .block(async move { inner.scan(prefix, claim).await })
            .map_err(backend)?;
        records.iter().for_each(|(key, value)| visit(key, value));
        Ok(())
    }

    /// Writes `ops` in one transaction. `atomic`: any refused op fails them all (nothing is
    /// committed); otherwise each op succeeds or is refused on its own.
    fn write_ops(
        &self,
        ops: &[WriteOp<'_>],
        atomic: bool,
    ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        let mut results: Vec<Option<Result<(), StoreError>>> = vec![None; ops.len()];
        let mut owned = Vec::with_capacity(ops.len());
        let mut positions = Vec::with_capacity(ops.len());
        {
            let mut seen = self.inner.seen();
            for (position, op) in ops.iter().enumerate() {
                let (key, value) = match *op {
                    WriteOp::Put { key, value } => (key, Some(value.to_vec())),
                    WriteOp::Delete { key } => (key, None),
                };
                let expect = match seen.get_mut(key) {
                    Some(entry @ (Seen::Refused | Seen::Known { tainted: true, .. })) => {
                        // Refused without asking the server: the group reloads the record.
                        *entry = Seen::Refused;
                        let error = PgError::Stale {
                            group: self.inner.group.clone(),
                            machine: MachineKey(key.to_vec()),
                        };
                        if atomic {
                            return Err(backend(error));
                        }
                        results[position] = Some(Err(backend(error)));
                        continue;
                    }
                    Some(Seen::Known { version, .. }) => Expect::Version(*version),
                    None => Expect::Unknown,
                };
                owned.push(OwnedOp {
                    key: key.to_vec(),
                    value,
                    expect,
                });
                positions.push(position);
            }
        }
        if !owned.is_empty() {
            let inner = Arc::clone(&self.inner);
            let keys: Vec<Vec<u8>> = owned.iter().map(|op| op.key.clone()).collect();
            let written = self.block(async move { inner.write(owned, atomic).await });
            let mut seen = self.inner.seen();
            match written {
                Ok(each) => {
                    for ((key, position), outcome) in keys.into_iter().zip(positions).zip(each) {
                        results[position] = Some(match outcome {
                            Ok(version) => {
                                let tainted = false;
                                seen.insert(key, Seen::Known { version, tainted });
                                Ok(())
                            }
                            Err(error) => {
                                seen.insert(key, Seen::Refused);
                                Err(backend(error))
                            }
                        });
                    }
                }
                Err(error) => {
                    for key in keys {
                        seen.insert(key, Seen::Refused);
                    }
                    return Err(backend(error));
                }
            }
        }
        Ok(results
            .into_iter()
            .map(|result| {
                result.unwrap_or_else(|| {
                    Err(StoreError::backend(std::io::Error::other(
                        "write was not attempted",
                    )))
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::{Inner, Seen};

    fn known(seen: &HashMap<Vec<u8>, Seen>) -> Option<(i64, bool)> {
        match seen.get(b"m".as_slice()) {
            Some(Seen::Known { version, tainted }) => Some((*version, *tainted)),
            _ => None,
        }
    }

    #[test]
    fn a_read_that_raced_our_own_newer_write_is_ignored() {
        let mut seen = HashMap::new();
        seen.insert(
            b"m".to_vec(),
            Seen::Known {
                version: 5,
                tainted: false,
            },
        );
        // A read answered before our write of version 5 committed.
        Inner::observe(&mut seen, b"m", 4);
        assert_eq!(
            known(&seen),
            Some((5, false)),
            "the next write must not be refused"
        );
    }

    #[test]
    fn a_read_of_a_newer_foreign_version_taints_the_cached_copy() {
        let mut seen = HashMap::new();
        seen.insert(
            b"m".to_vec(),
            Seen::Known {
                version: 5,
                tainted: false,
            },
        );
        Inner::observe(&mut seen, b"m", 7);
        assert_eq!(known(&seen), Some((7, true)));
        // The same version read again stays tainted until a write succeeds.
        Inner::observe(&mut seen, b"m", 7);
        assert_eq!(known(&seen), Some((7, true)));
    }
}
