//! [`PgStore`]: the [`Store`] trait over PostgreSQL, with shard ownership and fencing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use fsm_runtime::store::{
    Committed, Entry, Filter, Header, Meta, ScanPage, ScanRequest, Store, StoreError, StoreFuture,
    WriteOp,
};
use tokio::sync::{RwLock, RwLockReadGuard, watch};
use tokio::task::JoinHandle;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row};

use crate::error::{MachineKey, PgError};
use crate::link::{Link, RetryPolicy};
use crate::meta::{self, MetaArrays, MetaColumns};
use crate::ownership::{Ownership, ShardReport};
use crate::sql::{self, Condition, Range};

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
    /// The machine's shard and the epoch of this instance's lease of it (headers: 0, 0).
    shard: u32,
    epoch: i64,
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
    shard: u32,
    epoch: i64,
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
                    shard: write.shard,
                    epoch: write.epoch,
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
    /// The shards the scan is restricted to, if it is.
    shards: Option<Vec<i32>>,
    /// The page size, at least 1 and below `i64::MAX`.
    limit: usize,
    /// The page size + 1: the extra row says whether there is a next page.
    pub(crate) fetch: i64,
}

impl<'r> ScanPlan<'r> {
    /// The plan of `request`, restricted to `shards` when given.
    pub(crate) fn new(request: &ScanRequest<'r>, shards: Option<&[u32]>) -> Self {
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
                in_shards: shards.is_some(),
            },
            lower,
            upper,
            status,
            // Below MAX_SHARDS, so each fits an i32.
            shards: shards.map(|shards| shards.iter().map(|&shard| shard as i32).collect()),
            limit,
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
        if let Some(shards) = &self.shards {
            params.push(shards);
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
    /// The address this instance advertises to others (in `fsm_members`).
    pub(crate) address: Option<String>,
    pub(crate) lease_ttl: Duration,
    pub(crate) retry: RetryPolicy,
    /// Reads (pipelined, no transactions).
    pub(crate) reader: Arc<Link>,
    /// Write transactions and rebalancing rounds, one at a time (`write_lock`).
    pub(crate) writer: Link,
    pub(crate) write_lock: tokio::sync::Mutex<()>,
    seen: Mutex<HashMap<Vec<u8>, Seen>>,
    /// The shards and their leases.
    ownership: Mutex<Ownership>,
    /// The number of the last takeover, for groups following them.
    takeovers: watch::Sender<u64>,
    /// `true` once closed. Every operation holds the read lock while it runs; `close` takes
    /// the write lock, so it waits for them, and every later operation sees the flag.
    gate: RwLock<bool>,
    /// The heartbeat (rebalancing) task, if running.
    renewer: Mutex<Option<JoinHandle<()>>>,
}

impl Inner {
    pub(crate) fn new(
        group: String,
        owner: String,
        address: Option<String>,
        lease_ttl: Duration,
        retry: RetryPolicy,
        config: tokio_postgres::Config,
    ) -> Self {
        Self {
            group,
            owner,
            address,
            lease_ttl,
            retry,
            reader: Arc::new(Link::new(config.clone())),
            writer: Link::new(config),
            write_lock: tokio::sync::Mutex::new(()),
            seen: Mutex::default(),
            ownership: Mutex::new(Ownership::new(1)),
            takeovers: watch::Sender::new(0),
            gate: RwLock::new(false),
            renewer: Mutex::new(None),
        }
    }

    /// Sets the group's shard count, read or fixed when the group was opened.
    pub(crate) fn set_shards(&self, shards: u32) {
        *self.ownership() = Ownership::new(shards);
    }

    pub(crate) fn ownership(&self) -> MutexGuard<'_, Ownership> {
        // Every critical section leaves the ownership consistent (fields are replaced whole),
        // so a poisoned lock's data is still valid.
        self.ownership
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A receiver of takeover numbers, at the current one.
    pub(crate) fn subscribe_takeovers(&self) -> watch::Receiver<u64> {
        self.takeovers.subscribe()
    }

    /// Tells the groups following takeovers that takeover `number` happened.
    pub(crate) fn announce(&self, number: u64) {
        self.takeovers.send_replace(number);
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

    /// Starts the heartbeat: a rebalancing round every third of the lease time, until the
    /// store is closed or dropped.
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
                match inner.rebalance(false).await {
                    Ok(_) => {}
                    Err(PgError::Closed) => return,
                    Err(error) => {
                        tracing::warn!(%error, group = %inner.group, "shard heartbeat failed");
                    }
                }
            }
        });
        *self.renewer() = Some(task);
    }

    /// Waits until no `close` is under way; fails when the store is closed. Hold the guard
    /// while the operation runs.
    pub(crate) async fn open(&self) -> Result<RwLockReadGuard<'_, bool>, PgError> {
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
        if let Some(Seen::Known { version: known, .. }) = seen.get(key)
            && version < *known
        {
            return;
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

    /// The caller's copy of `key` is the version read last: writes from it are not stale.
    fn adopted(&self, key: &[u8]) {
        if let Some(Seen::Known { tainted, .. }) = self.seen().get_mut(key) {
            *tainted = false;
        }
    }

    pub(crate) fn ttl_secs(&self) -> f64 {
        self.lease_ttl.as_secs_f64()
    }

    /// The holder of the shard of the machine stored at `key`, read from the database.
    async fn owner_of(&self, key: &[u8]) -> Result<ShardOwner, PgError> {
        let _open = self.open().await?;
        let doing = "reading a shard lease";
        let shard = self.ownership().shard_of(key);
        self.reader
            .retrying(&self.retry, doing, |client, _| async move {
                self.read_shard_owner(&client, shard, doing).await
            })
            .await
    }

    /// The lease of `shard` as the database holds it now (`owner` `None`: no running lease).
    async fn read_shard_owner(
        &self,
        client: &Client,
        shard: u32,
        doing: &'static str,
    ) -> Result<ShardOwner, PgError> {
        // Below MAX_SHARDS, so it fits an i32.
        let param = shard as i32;
        let row = client
            .query_opt(sql::SHARD_OWNER, &[&self.group, &param])
            .await
            .map_err(PgError::db(doing))?;
        let mut owner = ShardOwner {
            shard,
            owner: None,
            address: None,
            expires_in: Duration::ZERO,
            epoch: 0,
        };
        if let Some(row) = row {
            let live: bool = row.try_get(2).map_err(PgError::db(doing))?;
            let secs: f64 = row.try_get(3).map_err(PgError::db(doing))?;
            owner.epoch = row.try_get(4).map_err(PgError::db(doing))?;
            if live {
                owner.owner = Some(row.try_get(0).map_err(PgError::db(doing))?);
                owner.address = row.try_get(1).map_err(PgError::db(doing))?;
                owner.expires_in = Duration::from_secs_f64(secs.max(0.0));
            }
        }
        Ok(owner)
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
        self.scan_in(request, None).await
    }

    /// One page of records, only of `shards` when given.
    async fn scan_in(
        &self,
        request: &ScanRequest<'_>,
        shards: Option<&[u32]>,
    ) -> Result<ScanPage, PgError> {
        let _open = self.open().await?;
        let doing = "scanning records";
        if shards.is_some_and(<[u32]>::is_empty) {
            return Ok(ScanPage::default());
        }
        let plan = ScanPlan::new(request, shards);
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

    /// One page of the records of the shards this instance holds (what it may resume).
    async fn scan_owned(&self, request: &ScanRequest<'_>) -> Result<ScanPage, PgError> {
        let shards = self.ownership().held_shards();
        self.scan_in(request, Some(&shards)).await
    }

    /// One page of the active records of the shards taken in takeovers `after + 1 ..=
    /// through` that this instance still holds.
    async fn scan_taken_over(
        &self,
        request: &ScanRequest<'_>,
        after: u64,
        through: u64,
    ) -> Result<ScanPage, PgError> {
        let shards = self.ownership().taken_between(after, through);
        let request = ScanRequest {
            filter: Filter::Active,
            ..*request
        };
        self.scan_in(&request, Some(&shards)).await
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
                    shard: 0,
                    epoch: 0,
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
        let (shard, epoch) = {
            let own = self.ownership();
            let shard = own.shard_of(key);
            match own.epoch(shard) {
                Some(epoch) => (shard, epoch),
                // Refused without asking the server: the shard is not ours.
                None => return Err(self.not_owner(key, shard, &own)),
            }
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
            shard,
            epoch,
        })
    }

    /// The refusal of a write of `key` (in `shard`) that this instance does not own, naming
    /// the holder as last seen.
    fn not_owner(&self, key: &[u8], shard: u32, own: &Ownership) -> PgError {
        let (owner, address, expires_in) = own.holder(shard);
        PgError::NotOwner {
            group: self.group.clone(),
            machine: MachineKey(key.to_vec()),
            shard,
            owner,
            address,
            expires_in,
        }
    }

    /// The refusal of `write`, whose shard lease the server found ended or moved: forgets the
    /// lease and names the current holder, read from the database.
    async fn fenced(&self, client: &Client, write: &Planned<'_>) -> Result<Outcome, PgError> {
        self.ownership().lose(write.shard, write.epoch);
        let holder = self
            .read_shard_owner(client, write.shard, "committing writes")
            .await?;
        Ok(Err(PgError::NotOwner {
            group: self.group.clone(),
            machine: MachineKey(write.key.to_vec()),
            shard: write.shard,
            owner: holder.owner,
            address: holder.address,
            expires_in: holder.expires_in,
        }))
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
        let mut shards: Vec<i32> = Vec::with_capacity(rows.len());
        let mut epochs = Vec::with_capacity(rows.len());
        for row in rows {
            keys.push(row.key);
            values.push(row.record);
            expected.push(row.expected);
            metas.push(row.meta);
            // Below MAX_SHARDS, so it fits an i32.
            shards.push(row.shard as i32);
            epochs.push(row.epoch);
        }
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&self.group, &keys, &values, &expected];
        params.extend_from_slice(&metas.params());
        params.push(&shards);
        params.push(&epochs);
        params.push(&self.owner);
        let statement = self
            .writer
            .prepared(client, sql::PUT_BATCH)
            .await
            .map_err(PgError::db(doing))?;
        let answered = client
            .query(&statement, &params)
            .await
            .map_err(PgError::db(doing))?;
        let mut versions: HashMap<Vec<u8>, i64> = HashMap::with_capacity(answered.len());
        let mut leases: HashMap<u32, i64> = HashMap::new();
        for row in &answered {
            let key: Option<Vec<u8>> = row.try_get(0).map_err(PgError::db(doing))?;
            let number: i64 = row.try_get(1).map_err(PgError::db(doing))?;
            let shard: Option<i32> = row.try_get(2).map_err(PgError::db(doing))?;
            match (key, shard) {
                (Some(key), _) => {
                    versions.insert(key, number);
                }
                // Below MAX_SHARDS: the statement returns the shards it was given.
                (None, Some(shard)) => {
                    leases.insert(shard as u32, number);
                }
                (None, None) => {}
            }
        }
        let mut each = Vec::with_capacity(writes.len());
        for write in writes {
            let result = match versions.get(write.key) {
                Some(&version) => Ok(version),
                None if leases.get(&write.shard) == Some(&write.epoch) => {
                    let expected = match write.expect {
                        Expect::Version(version) => version,
                        Expect::Unknown => 0,
                    };
                    self.already_written(client, write, expected, write.epoch, attempt)
                        .await?
                }
                None => self.fenced(client, write).await?,
            };
            each.push(result);
        }
        Ok(each)
    }

    /// The general case: one transaction that first checks and locks (`FOR SHARE`, in shard
    /// order) the shard leases of every machine written, then runs the writes one by one in
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
        // Below MAX_SHARDS, so each fits an i32.
        let mut shards: Vec<i32> = writes
            .iter()
            .filter(|write| write.is_machine_write())
            .map(|write| write.shard as i32)
            .collect();
        shards.sort_unstable();
        shards.dedup();
        let mut epochs: HashMap<u32, i64> = HashMap::with_capacity(shards.len());
        if !shards.is_empty() {
            let leases = client
                .query(sql::HELD_SHARDS, &[&self.group, &shards, &self.owner])
                .await
                .map_err(PgError::db(doing))?;
            for row in &leases {
                let shard: i32 = row.try_get(0).map_err(PgError::db(doing))?;
                let epoch: i64 = row.try_get(1).map_err(PgError::db(doing))?;
                epochs.insert(shard as u32, epoch);
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
                match epochs.get(&write.shard).copied() {
                    Some(epoch) if epoch == write.epoch => {
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
                    _ => self.fenced(client, write).await?,
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
        // Below MAX_SHARDS, so it fits an i32.
        let shard = write.shard as i32;
        match (&write.change, expect) {
            (Change::Put { record, meta }, Expect::Version(0)) => {
                let mut params: Vec<&(dyn ToSql + Sync)> = vec![&self.group, &key, record, &epoch];
                params.extend_from_slice(&meta.params());
                params.push(&shard);
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
                params.push(&shard);
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

    /// Stops the heartbeat, waits for the operations under way, hands this instance's shards
    /// over (ends their leases and its membership), marks the store closed and drops its
    /// connections. Idempotent.
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
        let released = self.hand_over(&policy).await;
        self.reader.reset().await;
        self.writer.reset().await;
        released
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
            // Closed: the shards were handed over then.
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
            let all: Option<Vec<i32>> = None;
            let release: [&(dyn ToSql + Sync); 3] = [&group, &owner, &all];
            let leave: [&(dyn ToSql + Sync); 2] = [&group, &owner];
            let mut handed = reader
                .execute_once(sql::RELEASE_SHARDS, &release, "handing shards over")
                .await;
            if handed.is_ok() {
                handed = reader
                    .execute_once(sql::LEAVE, &leave, "handing shards over")
                    .await;
            }
            if let Err(error) = handed {
                tracing::debug!(%error, %group, "cannot hand over the shards of a dropped store");
            }
        });
    }
}

/// Who holds the shard of a machine ([`PgStore::owner_of`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShardOwner {
    /// The machine's shard.
    pub shard: u32,
    /// The instance whose lease of the shard runs, if one does.
    pub owner: Option<String>,
    /// The address that instance advertised, if any.
    pub address: Option<String>,
    /// How long its lease still runs (zero without an owner).
    pub expires_in: Duration,
    /// The shard's lease epoch (0: never leased).
    pub epoch: i64,
}

/// A [`Store`] over PostgreSQL that several processes can share.
///
/// * **Records**: `fsm_records(group_name, machine_id, value bytea, version, epoch, shard,
///   ...)`; the group's store key is the `machine_id`. Schema created and migrated on open
///   ([`SCHEMA_VERSION`](crate::SCHEMA_VERSION)).
/// * **Metadata**: the engine metadata ([`Meta`]) lives in columns of the same row (`status`,
///   `is_final`, `last_active_ms`, `failure_*`, `record_version`), written in the same
///   statement as the record. A status index serves [`Filter::Status`] and a partial index
///   [`Filter::Failed`]; rows written before those columns existed report
///   [`MetaError::Missing`](fsm_runtime::store::MetaError::Missing). Group headers live in
///   `fsm_headers`.
/// * **Durability**: [`Store::commit`] is one statement or one transaction; the group
///   acknowledges a `send_sync` after it committed. It prefers group commit, so one commit
///   carries the writes of many machines.
/// * **Ownership by shard**: every machine is in one of the group's shards (fixed count; see
///   [`crate::shards`]). Instances register in `fsm_members` with a heartbeat and hold shard
///   leases with an epoch in `fsm_shards`; a background round every third of the lease time
///   renews them, hands over the shards another live member should own and takes the free
///   ones this instance should own. Writing a machine of a shard this instance does not hold
///   is refused with [`PgError::NotOwner`] naming the holder (the group reports
///   [`StoreError::NotOwner`]).
/// * **Fencing**: every write names its shard's epoch and goes through only while this
///   instance's lease of the shard runs at that epoch, only if the record is at the version
///   this instance last read or wrote, and only if it was not written under a newer epoch; a
///   paused or partitioned former owner can never overwrite a newer record.
/// * **Takeover**: shards taken after connecting are announced ([`Store::takeovers`]); a group
///   opened with resume on open resumes their non-final machines.
/// * **Failures**: broken connections are re-established and the operation retried for
///   the [`RetryPolicy`] window; a commit whose outcome was lost is recognised on retry.
/// * **Closing**: [`Store::close`] stops the heartbeat, hands the shards over at once and
///   drops the connections; every later call through any clone fails with
///   [`StoreError::Closed`]. Dropping the last clone without closing only attempts the
///   hand-over on a background task (when a tokio runtime is running); close the store to
///   hand its shards over reliably.
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
            .field("shards", &self.inner.ownership().shards)
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

    /// This instance's name in the membership and shard tables.
    pub fn owner(&self) -> &str {
        &self.inner.owner
    }

    /// How long a heartbeat and a shard lease run without renewal.
    pub fn lease_ttl(&self) -> Duration {
        self.inner.lease_ttl
    }

    /// The group's shard count.
    pub fn shard_count(&self) -> u32 {
        self.inner.ownership().shards
    }

    /// The shard of the machine stored under `key` (the group's key prefix and the encoded
    /// id, as the group writes it).
    pub fn shard_of(&self, key: &[u8]) -> u32 {
        self.inner.ownership().shard_of(key)
    }

    /// Whether this instance holds the lease of `key`'s shard, as of its last round or write
    /// (no round trip): a send to the machine here will not be refused as
    /// [`PgError::NotOwner`] unless the lease ended since.
    pub fn owns(&self, key: &[u8]) -> bool {
        let own = self.inner.ownership();
        own.epoch(own.shard_of(key)).is_some()
    }

    /// The shards this instance holds.
    pub fn owned_shards(&self) -> Vec<u32> {
        self.inner.ownership().held_shards()
    }

    /// Who holds the shard of the machine stored at `key`, read from the database.
    pub async fn owner_of(&self, key: &[u8]) -> Result<ShardOwner, PgError> {
        self.inner.owner_of(key).await
    }

    /// Runs one rebalancing round now (the background heartbeat runs one every third of the
    /// lease time): renews this instance's membership and leases, hands over the shards
    /// another live member should own, takes the free ones it should own.
    pub async fn rebalance(&self) -> Result<ShardReport, PgError> {
        self.inner.rebalance(false).await
    }

    /// Rebalances until this instance holds every shard it should under the current
    /// membership, or `timeout` has passed ([`PgError::NotSettled`]). A process taking over
    /// from an instance that was killed waits here until that instance's heartbeat and leases
    /// have expired (after a clean stop, which hands the shards over, at once); an instance
    /// joining waits until the others have handed its shards over.
    pub async fn settled(&self, timeout: Duration) -> Result<ShardReport, PgError> {
        let started = tokio::time::Instant::now();
        let poll = (self.inner.lease_ttl / 20)
            .clamp(Duration::from_millis(20), Duration::from_millis(250));
        loop {
            let report = self.rebalance().await?;
            if report.is_settled() {
                return Ok(report);
            }
            let waited = started.elapsed();
            if waited >= timeout {
                return Err(PgError::NotSettled {
                    group: self.inner.group.clone(),
                    missing: report.desired.saturating_sub(report.owned),
                    waited,
                });
            }
            tokio::time::sleep(poll.min(timeout - waited)).await;
        }
    }

    /// Hands every shard of this instance over now and leaves the membership, so the others
    /// take its shards at their next round ([`Store::close`] does this too). The next round of
    /// this instance (its heartbeat) joins again.
    pub async fn hand_over(&self) -> Result<(), PgError> {
        let _open = self.inner.open().await?;
        let _one_writer = self.inner.write_lock.lock().await;
        self.inner.hand_over(&self.inner.retry).await
    }
}

/// A [`PgError`] as the [`StoreError`] the trait returns.
fn backend(error: PgError) -> StoreError {
    match error {
        PgError::Closed => StoreError::Closed,
        PgError::NotOwner {
            ref owner,
            ref address,
            ..
        } => StoreError::NotOwner {
            owner: owner.clone(),
            address: address.clone(),
            source: Arc::new(error),
        },
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
        Box::pin(async move { self.inner.scan_owned(&request).await.map_err(backend) })
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

    fn is_shared(&self) -> bool {
        true
    }

    fn adopted(&self, key: &[u8]) {
        self.inner.adopted(key);
    }

    fn check_owner(&self, key: &[u8]) -> Result<(), StoreError> {
        let own = self.inner.ownership();
        let shard = own.shard_of(key);
        if own.epoch(shard).is_some() {
            return Ok(());
        }
        Err(backend(self.inner.not_owner(key, shard, &own)))
    }

    fn takeovers(&self) -> Option<watch::Receiver<u64>> {
        Some(self.inner.subscribe_takeovers())
    }

    fn scan_taken_over<'a>(
        &'a self,
        request: ScanRequest<'a>,
        after: u64,
        through: u64,
    ) -> StoreFuture<'a, ScanPage> {
        Box::pin(async move {
            self.inner
                .scan_taken_over(&request, after, through)
                .await
                .map_err(backend)
        })
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
