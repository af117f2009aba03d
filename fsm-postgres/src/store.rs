//! [`PgStore`]: the [`Store`] trait over PostgreSQL, with per-machine leases and fencing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use fsm_runtime::store::{
    Committed, Entry, Filter, Header, Meta, ScanPage, ScanRequest, Store, StoreError, StoreFuture,
    WriteOp,
};
use tokio::sync::{RwLock, RwLockReadGuard};
use tokio::task::JoinHandle;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row};

use crate::error::{MachineKey, PgError};
use crate::link::{Link, RetryPolicy};
use crate::meta::{self, MetaArrays, MetaColumns};
use crate::sql::{self, Condition, META_COLUMNS, Range};

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

/// What one write of a commit changes.
#[derive(Debug, Clone)]
enum Change<'a> {
    /// The record and its metadata.
    Put {
        record: &'a [u8],
        meta: MetaColumns<'a>,
    },
    /// Only the metadata (`original`, compared when a retried commit may have been applied).
    PutMeta {
        meta: MetaColumns<'a>,
        original: &'a Meta,
    },
    /// Removes the record.
    Delete,
    /// A group header (no lease, no fencing).
    Header { header: &'a Header, format: i32 },
}

/// One write of a commit, checked and ready to run.
#[derive(Debug, Clone)]
struct Planned<'a> {
    key: &'a [u8],
    change: Change<'a>,
    expect: Expect,
}

impl Planned<'_> {
    fn is_machine_write(&self) -> bool {
        !matches!(self.change, Change::Header { .. })
    }
}

/// One write's outcome inside a commit: the record's new version, or this write's refusal.
type Outcome = Result<i64, PgError>;

/// The outcomes of a commit's writes, in the order of the writes.
type Outcomes = Vec<Outcome>;

/// One row of a set-based record write ([`sql::PUT_BATCH`]).
#[derive(Debug, Clone, Copy)]
struct PutRow<'a> {
    key: &'a [u8],
    record: &'a [u8],
    meta: &'a MetaColumns<'a>,
    /// The version the record must be at (0: absent).
    expected: i64,
}

impl<'a> PutRow<'a> {
    /// The rows of `writes`, sorted by key, when every write is a record write of a machine
    /// this process has read and no machine is written twice; otherwise `None`.
    fn batch(writes: &'a [Planned<'a>]) -> Option<Vec<Self>> {
        let mut rows = writes
            .iter()
            .map(|write| match (&write.change, write.expect) {
                (Change::Put { record, meta }, Expect::Version(expected)) => Some(PutRow {
                    key: write.key,
                    record,
                    meta,
                    expected,
                }),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()?;
        rows.sort_unstable_by_key(|row| row.key);
        let distinct = rows.windows(2).all(|pair| pair[0].key != pair[1].key);
        distinct.then_some(rows)
    }
}

/// A scan's key range and filter as statement parameters.
pub(crate) struct ScanPlan<'r> {
    pub(crate) range: Range,
    lower: Option<&'r [u8]>,
    upper: Option<Vec<u8>>,
    status: Option<&'r str>,
    /// The page size, at least 1 and below `i64::MAX`.
    limit: usize,
    /// The page size as a statement parameter.
    page: i64,
    /// The page size + 1: the extra row says whether there is a next page.
    pub(crate) fetch: i64,
}

impl<'r> ScanPlan<'r> {
    pub(crate) fn new(request: &ScanRequest<'r>) -> Self {
        let prefix = request.prefix;
        let (lower, after_cursor) = match request.after {
            // Every key with the prefix is after a cursor below the prefix.
            Some(after) if after >= prefix => (Some(after), true),
            _ if !prefix.is_empty() => (Some(prefix), false),
            _ => (None, false),
        };
        let upper = successor(prefix);
        let (condition, status) = match request.filter {
            Filter::All => (Condition::All, None),
            Filter::Status(status) => (Condition::Status, Some(status)),
            Filter::Failed => (Condition::Failed, None),
            Filter::Active => (Condition::Active, None),
        };
        let most = usize::try_from(i64::MAX - 1).unwrap_or(usize::MAX);
        let limit = request.limit.clamp(1, most);
        let page = i64::try_from(limit).unwrap_or(i64::MAX - 1);
        Self {
            range: Range {
                after_cursor,
                lower: lower.is_some(),
                upper: upper.is_some(),
                condition,
            },
            lower,
            upper,
            status,
            limit,
            page,
            fetch: page + 1,
        }
    }

    /// The group, then the range's parameters, in the order [`Range`] numbers them.
    pub(crate) fn params<'p>(&'p self, group: &'p String) -> Vec<&'p (dyn ToSql + Sync)> {
        let mut params: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(8);
        params.push(group);
        if let Some(lower) = &self.lower {
            params.push(lower);
        }
        if let Some(upper) = &self.upper {
            params.push(upper);
        }
        if let Some(status) = &self.status {
            params.push(status);
        }
        params
    }
}

/// The smallest key after every key that starts with `prefix`, or `None` when there is none
/// (an empty prefix, or one of only `0xff` bytes: then every key from the prefix on has it).
fn successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let last = prefix.iter().rposition(|&byte| byte != 0xff)?;
    let mut upper = prefix[..=last].to_vec();
    upper[last] += 1;
    Some(upper)
}

/// The state shared by the store's handles and its background task.
pub(crate) struct Inner {
    pub(crate) group: String,
    pub(crate) owner: String,
    pub(crate) lease_ttl: Duration,
    pub(crate) retry: RetryPolicy,
    /// Reads and lease renewals (pipelined, no transactions).
    pub(crate) reader: Arc<Link>,
    /// Write transactions, one at a time (`write_lock`).
    pub(crate) writer: Link,
    write_lock: tokio::sync::Mutex<()>,
    seen: Mutex<HashMap<Vec<u8>, Seen>>,
    /// `true` once closed. Every operation holds the read lock while it runs; `close` takes
    /// the write lock, so it waits for them, and every later operation sees the flag.
    gate: RwLock<bool>,
    /// The lease renewal task, if running.
    renewer: Mutex<Option<JoinHandle<()>>>,
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
            reader: Arc::new(Link::new(config.clone())),
            writer: Link::new(config),
            write_lock: tokio::sync::Mutex::new(()),
            seen: Mutex::default(),
            gate: RwLock::new(false),
            renewer: Mutex::new(None),
        }
    }

    fn seen(&self) -> MutexGuard<'_, HashMap<Vec<u8>, Seen>> {
        // Every critical section below leaves the map consistent, so a poisoned lock's data is
        // still valid.
        self.seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn renewer(&self) -> MutexGuard<'_, Option<JoinHandle<()>>> {
        self.renewer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts renewing this owner's leases every third of the lease time, until the store is
    /// closed or dropped.
    pub(crate) fn start_renewer(self: &Arc<Self>) {
        let renewing = Arc::downgrade(self);
        let every = self.lease_ttl / 3;
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(inner) = renewing.upgrade() else {
                    return;
                };
                match inner.renew().await {
                    Ok(_) => {}
                    Err(PgError::Closed) => return,
                    Err(error) => {
                        tracing::warn!(%error, group = %inner.group, "lease renewal failed");
                    }
                }
            }
        });
        *self.renewer() = Some(task);
    }

    /// Waits until no `close` is under way; fails when the store is closed. Hold the guard
    /// while the operation runs.
    async fn open(&self) -> Result<RwLockReadGuard<'_, bool>, PgError> {
        let gate = self.gate.read().await;
        if *gate {
            Err(PgError::Closed)
        } else {
            Ok(gate)
        }
    }

    /// Records that a read returned `version` of `key`; with `insert` false, only a record
    /// this process already knows is updated (a read that returned no copy to cache).
    ///
    /// A read older than the version this instance knows raced with one of its own writes (the
    /// read was answered before that write committed) and says nothing new, so it is ignored;
    /// treating it as a foreign write would refuse this instance's next write of the machine.
    fn observe(seen: &mut HashMap<Vec<u8>, Seen>, key: &[u8], version: i64, insert: bool) {
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
            None if insert => {
                seen.insert(key.to_vec(), Seen::Known { version, tainted });
            }
            None => {}
        }
    }

    fn ttl_secs(&self) -> f64 {
        self.lease_ttl.as_secs_f64()
    }

    /// Extends this owner's running leases; returns how many.
    pub(crate) async fn renew(&self) -> Result<u64, PgError> {
        let _open = self.open().await?;
        let ttl = self.ttl_secs();
        // On the writer, between commits: renewals never wait on this instance's own writes.
        let _one_writer = self.write_lock.lock().await;
        self.writer
            .retrying(&self.retry, "renewing leases", |client, _| async move {
                client
                    .execute(sql::RENEW_LEASES, &[&self.group, &self.owner, &ttl])
                    .await
                    .map_err(PgError::db("renewing leases"))
            })
            .await
    }

    /// Ends every lease of this owner now, retrying for `policy`.
    async fn release_with(&self, policy: &RetryPolicy) -> Result<u64, PgError> {
        self.reader
            .retrying(policy, "releasing leases", |client, _| async move {
                client
                    .execute(sql::RELEASE_LEASES, &[&self.group, &self.owner])
                    .await
                    .map_err(PgError::db("releasing leases"))
            })
            .await
    }

    async fn release(&self) -> Result<u64, PgError> {
        let _open = self.open().await?;
        self.release_with(&self.retry).await
    }

    async fn owner_of(&self, key: &[u8]) -> Result<Option<(String, Duration)>, PgError> {
        let _open = self.open().await?;
        let row = self
            .reader
            .retrying(&self.retry, "reading a lease", |client, _| async move {
                client
                    .query_opt(sql::LEASE_OWNER, &[&self.group, &key])
                    .await
                    .map_err(PgError::db("reading a lease"))
            })
            .await?;
        row.map(|row| {
            let owner: String = row.try_get(0).map_err(PgError::db("reading a lease"))?;
            let secs: f64 = row.try_get(1).map_err(PgError::db("reading a lease"))?;
            Ok((owner, Duration::from_secs_f64(secs.max(0.0))))
        })
        .transpose()
    }

    async fn foreign_leases_expire_in(&self) -> Result<Option<Duration>, PgError> {
        let _open = self.open().await?;
        let doing = "reading leases";
        let row = self
            .reader
            .retrying(&self.retry, doing, |client, _| async move {
                client
                    .query_one(sql::FOREIGN_LEASES_EXPIRE_IN, &[&self.group, &self.owner])
                    .await
                    .map_err(PgError::db(doing))
            })
            .await?;
        let secs: Option<f64> = row.try_get(0).map_err(PgError::db(doing))?;
        Ok(secs.map(|secs| Duration::from_secs_f64(secs.max(0.0))))
    }

    async fn get(&self, key: &[u8]) -> Result<Option<Entry>, PgError> {
        let _open = self.open().await?;
        let doing = "reading a record";
        let row = self
            .reader
            .retrying(&self.retry, doing, |client, _| async move {
                client
                    .query_opt(sql::GET, &[&self.group, &key])
                    .await
                    .map_err(PgError::db(doing))
            })
            .await?;
        let Some(row) = row else {
            Self::observe(&mut self.seen(), key, 0, true);
            return Ok(None);
        };
        let record: Vec<u8> = row.try_get(0).map_err(PgError::db(doing))?;
        let version: i64 = row.try_get(1).map_err(PgError::db(doing))?;
        Self::observe(&mut self.seen(), key, version, true);
        Ok(Some(Entry {
            key: key.to_vec(),
            record: Some(record),
            meta: meta::from_row(&row, 2),
        }))
    }

    /// One page of records.
    async fn scan(&self, request: &ScanRequest<'_>) -> Result<ScanPage, PgError> {
        let _open = self.open().await?;
        let doing = "scanning records";
        let plan = ScanPlan::new(request);
        let statement = sql::scan(&plan.range, request.with_records);
        let mut params = plan.params(&self.group);
        params.push(&plan.fetch);
        let (statement, params) = (&statement, &params);
        let mut rows = self
            .reader
            .retrying(&self.retry, doing, |client, _| async move {
                client
                    .query(statement.as_str(), params)
                    .await
                    .map_err(PgError::db(doing))
            })
            .await?;
        let more = rows.len() > plan.limit;
        rows.truncate(plan.limit);
        let mut entries = Vec::with_capacity(rows.len());
        for row in &rows {
            let key: Vec<u8> = row.try_get(0).map_err(PgError::db(doing))?;
            let version: i64 = row.try_get(1).map_err(PgError::db(doing))?;
            let record: Option<Vec<u8>> = row.try_get(2).map_err(PgError::db(doing))?;
            entries.push((version, entry(key, record, row, 3)));
        }
        {
            let mut seen = self.seen();
            for (version, entry) in &entries {
                Self::observe(&mut seen, &entry.key, *version, request.with_records);
            }
        }
        let entries: Vec<Entry> = entries.into_iter().map(|(_, entry)| entry).collect();
        let next = if more {
            entries.last().map(|entry| entry.key.clone())
        } else {
            None
        };
        Ok(ScanPage { entries, next })
    }

    /// One page of the non-final records this owner holds or can take, taking their leases.
    async fn claim(&self, request: &ScanRequest<'_>) -> Result<ScanPage, PgError> {
        let _open = self.open().await?;
        let doing = "claiming records to resume";
        let plan = ScanPlan::new(request);
        let statement = sql::claim(&plan.range, request.with_records);
        let ttl = self.ttl_secs();
        let mut params = plan.params(&self.group);
        params.push(&plan.fetch);
        params.push(&plan.page);
        params.push(&self.owner);
        params.push(&ttl);
        let (statement, params) = (&statement, &params);
        let rows = self
            .reader
            .retrying(&self.retry, doing, |client, _| async move {
                client
                    .query(statement.as_str(), params)
                    .await
                    .map_err(PgError::db(doing))
            })
            .await?;
        let mut claimed = Vec::with_capacity(rows.len());
        let mut last: Option<Vec<u8>> = None;
        let mut candidates = 0_i64;
        for row in &rows {
            let key: Vec<u8> = row.try_get(0).map_err(PgError::db(doing))?;
            let taken: bool = row.try_get(1).map_err(PgError::db(doing))?;
            let version: Option<i64> = row.try_get(2).map_err(PgError::db(doing))?;
            candidates = row.try_get(4 + META_COLUMNS).map_err(PgError::db(doing))?;
            if let (true, Some(version)) = (taken, version) {
                let record: Option<Vec<u8>> = row.try_get(3).map_err(PgError::db(doing))?;
                claimed.push((version, entry(key.clone(), record, row, 4)));
            }
            last = Some(key);
        }
        {
            let mut seen = self.seen();
            for (version, entry) in &claimed {
                Self::observe(&mut seen, &entry.key, *version, true);
            }
        }
        Ok(ScanPage {
            entries: claimed.into_iter().map(|(_, entry)| entry).collect(),
            next: last.filter(|_| candidates > plan.page),
        })
    }

    async fn header(&self, prefix: &[u8]) -> Result<Option<Header>, StoreError> {
        let _open = self.open().await.map_err(backend)?;
        let doing = "reading a group header";
        let row = self
            .reader
            .retrying(&self.retry, doing, |client, _| async move {
                client
                    .query_opt(sql::GET_HEADER, &[&self.group, &prefix])
                    .await
                    .map_err(PgError::db(doing))
            })
            .await
            .map_err(backend)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let read = |row: &Row| -> Result<(i32, String, String), tokio_postgres::Error> {
            Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?))
        };
        let (format, group, codec) =
            read(&row).map_err(|error| StoreError::damaged(format!("group header: {error}")))?;
        let format = u32::try_from(format).map_err(|_| {
            StoreError::damaged(format!("group header: format {format} is negative"))
        })?;
        Ok(Some(Header {
            format,
            group,
            codec,
        }))
    }

    /// Applies `ops` in one transaction: each write succeeds or is refused on its own (not the
    /// owner, stale record, no record for metadata), while a database error fails them all.
    async fn commit(&self, ops: &[WriteOp<'_>]) -> Result<Committed, StoreError> {
        let _open = self.open().await.map_err(backend)?;
        let mut results: Vec<Result<(), StoreError>> = vec![Ok(()); ops.len()];
        let mut planned = Vec::with_capacity(ops.len());
        let mut positions = Vec::with_capacity(ops.len());
        {
            let mut seen = self.seen();
            for (position, op) in ops.iter().enumerate() {
                match self.plan(&mut seen, op) {
                    Ok(write) => {
                        planned.push(write);
                        positions.push(position);
                    }
                    Err(refused) => results[position] = Err(backend(refused)),
                }
            }
        }
        if !planned.is_empty() {
            let written = self.write(&planned).await;
            let mut seen = self.seen();
            match written {
                Ok(each) => {
                    for ((write, position), outcome) in planned.iter().zip(positions).zip(each) {
                        let machine = write.is_machine_write();
                        match outcome {
                            Ok(version) => {
                                if machine {
                                    let tainted = false;
                                    seen.insert(
                                        write.key.to_vec(),
                                        Seen::Known { version, tainted },
                                    );
                                }
                            }
                            Err(error) => {
                                if machine {
                                    seen.insert(write.key.to_vec(), Seen::Refused);
                                }
                                results[position] = Err(backend(error));
                            }
                        }
                    }
                }
                Err(error) => {
                    // The transaction was rolled back (or, when the connection broke during
                    // COMMIT and retrying gave up, its outcome is unknown): what this process
                    // knew of each record stays. Had it been applied, the record's version
                    // check refuses the next write of the machine, which then reloads it.
                    return Err(backend(error));
                }
            }
        }
        if results.iter().all(Result::is_ok) {
            Ok(Committed::all())
        } else {
            Ok(Committed::each(results))
        }
    }

    /// Checks one write before it is sent: refused at once when this process's copy of the
    /// machine may be stale or a value does not fit its column.
    fn plan<'a>(
        &self,
        seen: &mut HashMap<Vec<u8>, Seen>,
        op: &WriteOp<'a>,
    ) -> Result<Planned<'a>, PgError> {
        let out_of_range = |key: &[u8], range: meta::OutOfRange| PgError::OutOfRange {
            group: self.group.clone(),
            key: MachineKey(key.to_vec()),
            what: range.what,
            value: range.value,
        };
        let (key, change) = match *op {
            WriteOp::PutHeader { prefix, header } => {
                let format = i32::try_from(header.format).map_err(|_| {
                    out_of_range(
                        prefix,
                        meta::OutOfRange {
                            what: "header format",
                            value: u64::from(header.format),
                        },
                    )
                })?;
                return Ok(Planned {
                    key: prefix,
                    change: Change::Header { header, format },
                    expect: Expect::Unknown,
                });
            }
            WriteOp::Put { key, record, meta } => {
                let meta = MetaColumns::new(meta).map_err(|range| out_of_range(key, range))?;
                (key, Change::Put { record, meta })
            }
            WriteOp::PutMeta { key, meta } => {
                let columns = MetaColumns::new(meta).map_err(|range| out_of_range(key, range))?;
                let change = Change::PutMeta {
                    meta: columns,
                    original: meta,
                };
                (key, change)
            }
            WriteOp::Delete { key } => (key, Change::Delete),
        };
        let expect = match seen.get_mut(key) {
            Some(entry @ (Seen::Refused | Seen::Known { tainted: true, .. })) => {
                // Refused without asking the server: the group reloads the record.
                *entry = Seen::Refused;
                return Err(PgError::Stale {
                    group: self.group.clone(),
                    machine: MachineKey(key.to_vec()),
                });
            }
            Some(Seen::Known { version, .. }) => Expect::Version(*version),
            None => Expect::Unknown,
        };
        Ok(Planned {
            key,
            change,
            expect,
        })
    }

    /// Runs `writes` atomically on the writer connection, retrying transient failures
    /// (broken connections, and serialization failures and deadlocks, which roll the whole
    /// transaction back); returns each write's new version or refusal.
    ///
    /// The common case, record writes of distinct machines this instance has read, is one
    /// set-based statement ([`sql::PUT_BATCH`]): one round trip for the whole batch. Anything
    /// else (metadata-only writes, deletes, headers, a machine written twice, a machine never
    /// read) runs as a transaction of one statement per write.
    async fn write(&self, writes: &[Planned<'_>]) -> Result<Outcomes, PgError> {
        let _one_writer = self.write_lock.lock().await;
        let batch = PutRow::batch(writes);
        let batch = batch.as_deref();
        self.writer
            .retrying(
                &self.retry,
                "committing writes",
                |client, attempt| async move {
                    if let Some(rows) = batch {
                        return self.put_batch(&client, writes, rows, attempt).await;
                    }
                    let result = self.write_transaction(&client, writes, attempt).await;
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

    /// The writes of `rows` (all of `writes`, sorted by key) in one statement.
    async fn put_batch(
        &self,
        client: &Arc<Client>,
        writes: &[Planned<'_>],
        rows: &[PutRow<'_>],
        attempt: u32,
    ) -> Result<Outcomes, PgError> {
        let doing = "committing writes";
        let mut keys = Vec::with_capacity(rows.len());
        let mut values = Vec::with_capacity(rows.len());
        let mut expected = Vec::with_capacity(rows.len());
        let mut metas = MetaArrays::with_capacity(rows.len());
        for row in rows {
            keys.push(row.key);
            values.push(row.record);
            expected.push(row.expected);
            metas.push(row.meta);
        }
        let ttl = self.ttl_secs();
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&self.group, &keys, &values, &expected];
        params.extend_from_slice(&metas.params());
        params.push(&self.owner);
        params.push(&ttl);
        let statement = self
            .writer
            .prepared(client, sql::PUT_BATCH)
            .await
            .map_err(PgError::db(doing))?;
        let answered = client
            .query(&statement, &params)
            .await
            .map_err(PgError::db(doing))?;
        let mut outcome: HashMap<Vec<u8>, (Option<i64>, Option<i64>)> =
            HashMap::with_capacity(answered.len());
        for row in &answered {
            let key: Vec<u8> = row.try_get(0).map_err(PgError::db(doing))?;
            let epoch: Option<i64> = row.try_get(1).map_err(PgError::db(doing))?;
            let version: Option<i64> = row.try_get(2).map_err(PgError::db(doing))?;
            outcome.insert(key, (epoch, version));
        }
        let mut each = Vec::with_capacity(writes.len());
        for write in writes {
            let result = match outcome.get(write.key).copied() {
                Some((_, Some(version))) => Ok(version),
                Some((Some(epoch), None)) => {
                    let expected = match write.expect {
                        Expect::Version(version) => version,
                        Expect::Unknown => 0,
                    };
                    self.already_written(client, write, expected, epoch, attempt)
                        .await?
                }
                Some((None, None)) => self.not_owner(client, write.key).await?,
                None => Err(PgError::Stale {
                    group: self.group.clone(),
                    machine: MachineKey(write.key.to_vec()),
                }),
            };
            each.push(result);
        }
        Ok(each)
    }

    /// The refusal of a write to a machine whose lease another instance holds, naming it.
    async fn not_owner(&self, client: &Client, key: &[u8]) -> Result<Outcome, PgError> {
        let doing = "committing writes";
        let holder = client
            .query_opt(sql::LEASE_OWNER, &[&self.group, &key])
            .await
            .map_err(PgError::db(doing))?;
        let (owner, secs): (String, f64) = match holder {
            Some(row) => (
                row.try_get(0).map_err(PgError::db(doing))?,
                row.try_get(1).map_err(PgError::db(doing))?,
            ),
            None => (String::new(), 0.0),
        };
        Ok(Err(PgError::NotOwner {
            group: self.group.clone(),
            machine: MachineKey(key.to_vec()),
            owner,
            expires_in: Duration::from_secs_f64(secs.max(0.0)),
        }))
    }

    /// The general case: one transaction that first takes the leases of every machine
    /// written (one statement, rows locked in key order), then runs the writes one by one in
    /// key order (a machine written twice: in the order given, each write expecting what the
    /// one before wrote). Statements run one after the other, so the first error is the one
    /// that aborted the transaction.
    async fn write_transaction(
        &self,
        client: &Client,
        writes: &[Planned<'_>],
        attempt: u32,
    ) -> Result<Outcomes, PgError> {
        let doing = "committing writes";
        client
            .batch_execute("BEGIN")
            .await
            .map_err(PgError::db(doing))?;
        let mut machines: Vec<&[u8]> = writes
            .iter()
            .filter(|write| write.is_machine_write())
            .map(|write| write.key)
            .collect();
        machines.sort_unstable();
        machines.dedup();
        let mut epochs: HashMap<Vec<u8>, i64> = HashMap::with_capacity(machines.len());
        if !machines.is_empty() {
            let ttl = self.ttl_secs();
            let leases = client
                .query(
                    sql::TAKE_LEASES,
                    &[&self.group, &machines, &self.owner, &ttl],
                )
                .await
                .map_err(PgError::db(doing))?;
            for row in &leases {
                let key: Vec<u8> = row.try_get(0).map_err(PgError::db(doing))?;
                let epoch: i64 = row.try_get(1).map_err(PgError::db(doing))?;
                epochs.insert(key, epoch);
            }
        }
        // Headers first (their own table), then machines in key order; a stable sort keeps
        // the writes of one machine in the order given.
        let mut order: Vec<usize> = (0..writes.len()).collect();
        order.sort_by_key(|&index| (writes[index].is_machine_write(), writes[index].key));
        let mut written: HashMap<&[u8], i64> = HashMap::new();
        let mut each: Vec<Option<Outcome>> = (0..writes.len()).map(|_| None).collect();
        for index in order {
            let write = &writes[index];
            let outcome = if let Change::Header { header, format } = &write.change {
                client
                    .execute(
                        sql::PUT_HEADER,
                        &[
                            &self.group,
                            &write.key,
                            format,
                            &header.group,
                            &header.codec,
                        ],
                    )
                    .await
                    .map_err(PgError::db(doing))?;
                Ok(0)
            } else {
                match epochs.get(write.key).copied() {
                    None => self.not_owner(client, write.key).await?,
                    Some(epoch) => {
                        let expect = written
                            .get(write.key)
                            .map_or(write.expect, |&version| Expect::Version(version));
                        let outcome = self
                            .write_one(client, write, expect, epoch, attempt)
                            .await?;
                        if let Ok(version) = &outcome {
                            written.insert(write.key, *version);
                        }
                        outcome
                    }
                }
            };
            each[index] = Some(outcome);
        }
        client
            .batch_execute("COMMIT")
            .await
            .map_err(PgError::db(doing))?;
        // Every write got its outcome in the loop above; a missing one would be refused.
        Ok(each
            .into_iter()
            .zip(writes)
            .map(|(outcome, write)| {
                outcome.unwrap_or_else(|| {
                    Err(PgError::Stale {
                        group: self.group.clone(),
                        machine: MachineKey(write.key.to_vec()),
                    })
                })
            })
            .collect())
    }

    fn stale(&self, key: &[u8]) -> Result<Outcome, PgError> {
        Ok(Err(PgError::Stale {
            group: self.group.clone(),
            machine: MachineKey(key.to_vec()),
        }))
    }

    /// One machine write inside the transaction, under lease `epoch`. The outer error is a
    /// database error; the inner one is this write's own refusal. Success: the record's new
    /// version (0: deleted).
    async fn write_one(
        &self,
        client: &Client,
        write: &Planned<'_>,
        expect: Expect,
        epoch: i64,
        attempt: u32,
    ) -> Result<Outcome, PgError> {
        let doing = "committing writes";
        let key = write.key;
        match (&write.change, expect) {
            (Change::Put { record, meta }, Expect::Version(0)) => {
                let mut params: Vec<&(dyn ToSql + Sync)> = vec![&self.group, &key, record, &epoch];
                params.extend_from_slice(&meta.params());
                let inserted = client
                    .execute(sql::INSERT, &params)
                    .await
                    .map_err(PgError::db(doing))?;
                if inserted == 1 {
                    return Ok(Ok(1));
                }
                self.already_written(client, write, 0, epoch, attempt).await
            }
            (Change::Put { record, meta }, Expect::Version(version)) => {
                let mut params: Vec<&(dyn ToSql + Sync)> =
                    vec![&self.group, &key, record, &epoch, &version];
                params.extend_from_slice(&meta.params());
                let updated = client
                    .execute(sql::UPDATE, &params)
                    .await
                    .map_err(PgError::db(doing))?;
                if updated == 1 {
                    return Ok(Ok(version + 1));
                }
                self.already_written(client, write, version, epoch, attempt)
                    .await
            }
            (Change::Put { record, meta }, Expect::Unknown) => {
                let mut params: Vec<&(dyn ToSql + Sync)> = vec![&self.group, &key, record, &epoch];
                params.extend_from_slice(&meta.params());
                let row = client
                    .query_opt(sql::UPSERT, &params)
                    .await
                    .map_err(PgError::db(doing))?;
                match row {
                    Some(row) => Ok(Ok(row.try_get(0).map_err(PgError::db(doing))?)),
                    None => self.stale(key),
                }
            }
            (Change::PutMeta { meta, .. }, expect) => {
                let version = match expect {
                    Expect::Version(version) => Some(version),
                    Expect::Unknown => None,
                };
                let mut params: Vec<&(dyn ToSql + Sync)> =
                    vec![&self.group, &key, &epoch, &version];
                params.extend_from_slice(&meta.params());
                let row = client
                    .query_opt(sql::PUT_META, &params)
                    .await
                    .map_err(PgError::db(doing))?;
                if let Some(row) = row {
                    return Ok(Ok(row.try_get(0).map_err(PgError::db(doing))?));
                }
                self.already_written(client, write, version.unwrap_or(0), epoch, attempt)
                    .await
            }
            (Change::Delete, expect) => {
                let version = match expect {
                    Expect::Version(version) if version > 0 => Some(version),
                    _ => None,
                };
                client
                    .execute(sql::DELETE, &[&self.group, &key, &epoch, &version])
                    .await
                    .map_err(PgError::db(doing))?;
                let left = client
                    .query_opt(sql::EXISTS, &[&self.group, &key])
                    .await
                    .map_err(PgError::db(doing))?;
                match left {
                    None => Ok(Ok(0)),
                    Some(_) => self.stale(key),
                }
            }
            (Change::Header { .. }, _) => Ok(Ok(0)),
        }
    }

    /// After a conditional write found another version (or, for metadata, no row to update):
    /// on a retry, the previous attempt may have committed before its connection broke, which
    /// shows as exactly our write one version on. A metadata write without a record is refused
    /// as such; anything else is a stale write.
    async fn already_written(
        &self,
        client: &Client,
        write: &Planned<'_>,
        expected: i64,
        epoch: i64,
        attempt: u32,
    ) -> Result<Result<i64, PgError>, PgError> {
        let doing = "committing writes";
        match &write.change {
            Change::PutMeta { original, .. } => {
                let row = client
                    .query_opt(sql::GET_META, &[&self.group, &write.key])
                    .await
                    .map_err(PgError::db(doing))?;
                let Some(row) = row else {
                    return Ok(Err(PgError::NoRecord {
                        group: self.group.clone(),
                        machine: MachineKey(write.key.to_vec()),
                    }));
                };
                if attempt > 0 {
                    let version: i64 = row.try_get(0).map_err(PgError::db(doing))?;
                    let written_under: i64 = row.try_get(1).map_err(PgError::db(doing))?;
                    let same = meta::from_row(&row, 2).is_ok_and(|meta| meta == **original);
                    if version == expected + 1 && written_under == epoch && same {
                        return Ok(Ok(version));
                    }
                }
            }
            Change::Put { record, .. } if attempt > 0 => {
                let row = client
                    .query_opt(sql::GET, &[&self.group, &write.key])
                    .await
                    .map_err(PgError::db(doing))?;
                if let Some(row) = row {
                    let value: Vec<u8> = row.try_get(0).map_err(PgError::db(doing))?;
                    let version: i64 = row.try_get(1).map_err(PgError::db(doing))?;
                    if version == expected + 1 && value.as_slice() == *record {
                        return Ok(Ok(version));
                    }
                }
            }
            _ => {}
        }
        self.stale(write.key)
    }

    /// Stops the renewer, waits for the operations under way, releases this owner's leases,
    /// marks the store closed and drops its connections. Idempotent.
    async fn close(&self) -> Result<(), PgError> {
        let renewer = self.renewer().take();
        if let Some(renewer) = renewer {
            renewer.abort();
            // The task ends at its next await; its outcome (cancelled) says nothing new.
            let _ = renewer.await;
        }
        let mut closed = self.gate.write().await;
        if *closed {
            return Ok(());
        }
        *closed = true;
        // Past the lease time releasing is pointless: the leases have run out anyway.
        let policy = RetryPolicy {
            window: self.retry.window.min(self.lease_ttl),
            ..self.retry
        };
        let released = self.release_with(&policy).await;
        self.reader.reset().await;
        self.writer.reset().await;
        released.map(drop)
    }
}

/// One scanned entry: `key`, the record (when read) and the metadata in the columns of `row`
/// from `first` on.
fn entry(key: Vec<u8>, record: Option<Vec<u8>>, row: &Row, first: usize) -> Entry {
    Entry {
        key,
        record,
        meta: meta::from_row(row, first),
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let renewer = self
            .renewer
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(renewer) = renewer {
            renewer.abort();
        }
        if *self.gate.get_mut() {
            // Closed: the leases were released then.
            return;
        }
        // Best effort, without blocking: release the leases on a task of the current runtime,
        // if there is one. Otherwise (or if it fails) other instances take over once the
        // leases run out.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let reader = Arc::clone(&self.reader);
        let group = std::mem::take(&mut self.group);
        let owner = std::mem::take(&mut self.owner);
        runtime.spawn(async move {
            let params: [&(dyn ToSql + Sync); 2] = [&group, &owner];
            let released = reader
                .execute_once(sql::RELEASE_LEASES, &params, "releasing leases")
                .await;
            if let Err(error) = released {
                tracing::debug!(%error, %group, "cannot release leases of a dropped store");
            }
        });
    }
}

/// A [`Store`] over PostgreSQL that several processes can share.
///
/// * **Records**: `fsm_records(group_name, machine_id, value bytea, version, epoch, ...)`; the
///   group's store key is the `machine_id`. Schema created and migrated on open
///   ([`SCHEMA_VERSION`](crate::SCHEMA_VERSION)).
/// * **Metadata**: the engine metadata ([`Meta`]) lives in columns of the same row (`status`,
///   `is_final`, `last_active_ms`, `failure_*`, `record_version`), written in the same
///   statement as the record. A status index serves [`Filter::Status`] and a partial index
///   [`Filter::Failed`]; rows written before those columns existed report
///   [`MetaError::Missing`](fsm_runtime::store::MetaError::Missing). Group headers live in
///   `fsm_headers`.
/// * **Durability**: [`Store::commit`] is one transaction; the group acknowledges a
///   `send_sync` after its `COMMIT` returned. It prefers group commit, so one transaction
///   carries the writes of many machines.
/// * **Ownership**: writing a machine's record or metadata takes (or keeps) its lease in
///   `fsm_leases(group_name, machine_id, owner, epoch, expires_at)`, in the same transaction.
///   A live lease of another instance refuses the write with [`PgError::NotOwner`] naming the
///   owner; an expired one is taken with the next epoch. A background task renews this
///   instance's leases every third of the lease time.
/// * **Fencing**: a write goes through only if the record's version is the one this instance
///   last read or wrote and it was not written under a newer epoch, so a paused or partitioned
///   former owner can never overwrite a newer record ([`PgError::Stale`]; the group reloads).
/// * **Resuming**: [`Store::scan_resumable`] returns only non-final machines this instance
///   holds or can take (free or expired leases), and takes their leases.
/// * **Failures**: broken connections are re-established and the operation retried for
///   the [`RetryPolicy`] window; a commit whose outcome was lost is recognised on retry.
/// * **Closing**: [`Store::close`] stops lease renewal, releases this instance's leases at
///   once and drops the connections; every later call through any clone fails with
///   [`StoreError::Closed`]. Dropping the last clone without closing only attempts the release
///   on a background task (when a tokio runtime is running); close the store to release its
///   machines reliably.
///
/// Natively async: no call blocks the calling thread. Cheap to clone (a handle).
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
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
    pub async fn connect(url: &str, group: &str) -> Result<Self, PgError> {
        crate::PgStoreBuilder::new(url, group).connect().await
    }

    /// Wraps connected state; used by the builder.
    pub(crate) fn from_inner(inner: Arc<Inner>) -> Self {
        Self { inner }
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
    pub async fn owner_of(&self, key: &[u8]) -> Result<Option<(String, Duration)>, PgError> {
        self.inner.owner_of(key).await
    }

    /// How long until every lease another instance holds in this group has run out, or `None`
    /// when none runs now. A process taking over from a killed instance waits this long
    /// before resuming, so that resume finds all of the dead instance's machines free (after a
    /// clean stop, which releases the leases, it is `None` at once).
    pub async fn foreign_leases_expire_in(&self) -> Result<Option<Duration>, PgError> {
        self.inner.foreign_leases_expire_in().await
    }

    /// Extends every running lease of this instance now (the background task does this every
    /// third of the lease time) and returns how many.
    pub async fn renew_leases(&self) -> Result<u64, PgError> {
        self.inner.renew().await
    }

    /// Ends every lease of this instance now, so other instances can take its machines at once
    /// ([`Store::close`] does this too). Writes after this take the leases again.
    pub async fn release_leases(&self) -> Result<u64, PgError> {
        self.inner.release().await
    }
}

/// A [`PgError`] as the [`StoreError`] the trait returns.
fn backend(error: PgError) -> StoreError {
    match error {
        PgError::Closed => StoreError::Closed,
        other => StoreError::backend(other),
    }
}

impl Store for PgStore {
    fn get<'a>(&'a self, key: &'a [u8]) -> StoreFuture<'a, Option<Entry>> {
        Box::pin(async move { self.inner.get(key).await.map_err(backend) })
    }

    fn scan<'a>(&'a self, request: ScanRequest<'a>) -> StoreFuture<'a, ScanPage> {
        Box::pin(async move { self.inner.scan(&request).await.map_err(backend) })
    }

    fn scan_resumable<'a>(&'a self, request: ScanRequest<'a>) -> StoreFuture<'a, ScanPage> {
        Box::pin(async move { self.inner.claim(&request).await.map_err(backend) })
    }

    fn commit<'a>(&'a self, ops: &'a [WriteOp<'a>]) -> StoreFuture<'a, Committed> {
        Box::pin(self.inner.commit(ops))
    }

    fn header<'a>(&'a self, prefix: &'a [u8]) -> StoreFuture<'a, Option<Header>> {
        Box::pin(self.inner.header(prefix))
    }

    fn close(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move { self.inner.close().await.map_err(backend) })
    }

    fn prefers_group_commit(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::{Inner, Seen, successor};

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
        Inner::observe(&mut seen, b"m", 4, true);
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
        Inner::observe(&mut seen, b"m", 7, true);
        assert_eq!(known(&seen), Some((7, true)));
        // The same version read again stays tainted until a write succeeds.
        Inner::observe(&mut seen, b"m", 7, true);
        assert_eq!(known(&seen), Some((7, true)));
    }

    #[test]
    fn reads_without_a_copy_only_update_known_records() {
        let mut seen = HashMap::new();
        Inner::observe(&mut seen, b"m", 3, false);
        assert_eq!(known(&seen), None);
        Inner::observe(&mut seen, b"m", 3, true);
        Inner::observe(&mut seen, b"m", 4, false);
        assert_eq!(known(&seen), Some((4, true)));
    }

    #[test]
    fn successor_bounds_every_key_with_the_prefix() {
        assert_eq!(successor(b""), None);
        assert_eq!(successor(&[0xff, 0xff]), None);
        assert_eq!(successor(&[1, 2]), Some(vec![1, 3]));
        assert_eq!(successor(&[1, 0xff]), Some(vec![2]));
    }
}
