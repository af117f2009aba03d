//! Shard ownership: this instance's membership heartbeat, the shard leases it holds, and the
//! rebalancing round that hands shards over and takes them.
//!
//! One round ([`Inner::rebalance`]) runs every third of the lease time on a background task,
//! on the writer connection between commits (so a round never waits on this instance's own
//! writes, and no commit of this instance is in flight while it hands a shard over):
//!
//! 1. **Heartbeat**: this instance's row in `fsm_members` is renewed for a lease time.
//! 2. **Assignment**: from the live members (heartbeat not expired), every instance computes
//!    the same desired owner for every shard ([`crate::shards`]).
//! 3. **Hand over**: the running leases this instance holds on shards another live member
//!    should own end at once (`expires_at = -infinity`, epoch kept).
//! 4. **Keep and take**: the leases of the shards this instance should own are renewed when
//!    it holds them, and taken when they are free, released or expired (epoch + 1). A shard
//!    another instance still holds is left alone: it is handed over by that instance's next
//!    round, or taken once its lease has expired.
//!
//! A shard therefore never has two owners: a lease is taken only once the previous one ended,
//! and every write checks, in its own statement, that its shard's lease still runs at the
//! epoch the writer holds.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_postgres::Client;

use crate::error::PgError;
use crate::shards::{desired_shards, shard_of};
use crate::sql;
use crate::store::Inner;

/// How many takeovers are remembered for the group to resume (a group resumes each one within
/// moments; older ones only matter to a group that is not following).
const TAKEOVER_LOG: usize = 1024;

/// The instance holding a shard, as the last rebalancing round read it.
#[derive(Debug, Clone)]
pub(crate) struct Holder {
    pub(crate) owner: Arc<str>,
    pub(crate) address: Option<Arc<str>>,
    /// When its lease runs out (this process's clock).
    pub(crate) until: Instant,
}

/// What this instance knows of the group's shards.
#[derive(Debug)]
pub(crate) struct Ownership {
    /// The group's shard count (fixed when the group was created).
    pub(crate) shards: u32,
    /// The epoch of each shard lease this instance holds, by shard.
    held: Vec<Option<i64>>,
    /// Each shard's holder as of the last round (for the errors of refused writes).
    holders: Vec<Option<Holder>>,
    /// The live members seen by the last round.
    members: usize,
    /// How many shards this instance should own, as of the last round.
    desired: usize,
    /// The number of the last takeover.
    generation: u64,
    /// Recent takeovers: number and the shards taken.
    log: VecDeque<(u64, Vec<u32>)>,
}

impl Ownership {
    /// A group of `shards` shards, none held yet.
    pub(crate) fn new(shards: u32) -> Self {
        let count = shards as usize;
        Self {
            shards,
            held: vec![None; count],
            holders: vec![None; count],
            members: 0,
            desired: 0,
            generation: 0,
            log: VecDeque::new(),
        }
    }

    /// The shard of the machine stored under `key`.
    pub(crate) fn shard_of(&self, key: &[u8]) -> u32 {
        shard_of(key, self.shards)
    }

    /// The epoch of this instance's lease of `shard`, if it holds one.
    pub(crate) fn epoch(&self, shard: u32) -> Option<i64> {
        self.held.get(shard as usize).copied().flatten()
    }

    /// Forgets the lease of `shard` at `epoch` (a write found it ended); the next round takes
    /// it again if this instance should own it.
    pub(crate) fn lose(&mut self, shard: u32, epoch: i64) {
        if let Some(slot) = self.held.get_mut(shard as usize)
            && *slot == Some(epoch)
        {
            *slot = None;
        }
    }

    /// The holder of `shard` as last seen: owner, address and how long its lease still runs.
    pub(crate) fn holder(&self, shard: u32) -> (Option<String>, Option<String>, Duration) {
        match self.holders.get(shard as usize).cloned().flatten() {
            Some(holder) if holder.until > Instant::now() => (
                Some(holder.owner.to_string()),
                holder.address.map(|address| address.to_string()),
                holder.until.saturating_duration_since(Instant::now()),
            ),
            _ => (None, None, Duration::ZERO),
        }
    }

    /// The shards this instance holds.
    pub(crate) fn held_shards(&self) -> Vec<u32> {
        (0..self.shards)
            .filter(|&shard| self.epoch(shard).is_some())
            .collect()
    }

    /// The shards taken in takeovers `after + 1 ..= through` that this instance still holds.
    pub(crate) fn taken_between(&self, after: u64, through: u64) -> Vec<u32> {
        let mut shards: Vec<u32> = self
            .log
            .iter()
            .filter(|(number, _)| *number > after && *number <= through)
            .flat_map(|(_, shards)| shards.iter().copied())
            .filter(|&shard| self.epoch(shard).is_some())
            .collect();
        shards.sort_unstable();
        shards.dedup();
        shards
    }

    /// The view of the last round.
    pub(crate) fn report(&self) -> ShardReport {
        ShardReport {
            shards: self.shards,
            members: self.members,
            owned: self.held.iter().filter(|epoch| epoch.is_some()).count(),
            desired: self.desired,
            taken: Vec::new(),
            released: Vec::new(),
        }
    }
}

/// What this instance owns after a rebalancing round ([`PgStore::rebalance`]).
///
/// [`PgStore::rebalance`]: crate::PgStore::rebalance
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShardReport {
    /// The group's shard count.
    pub shards: u32,
    /// The live members, this instance included.
    pub members: usize,
    /// The shards this instance holds.
    pub owned: usize,
    /// The shards this instance should hold under the current membership; fewer are owned
    /// while another instance still holds some of them.
    pub desired: usize,
    /// The shards this round took (newly, or again after losing them).
    pub taken: Vec<u32>,
    /// The shards this round handed over.
    pub released: Vec<u32>,
}

impl ShardReport {
    /// Whether this instance holds exactly the shards it should.
    pub fn is_settled(&self) -> bool {
        self.owned == self.desired
    }
}

impl Inner {
    /// One rebalancing round (see the module docs) on the writer connection, between commits.
    /// `initial`: the round of `connect`, whose shards are not reported as taken over (resume
    /// on open covers them).
    pub(crate) async fn rebalance(&self, initial: bool) -> Result<ShardReport, PgError> {
        let _open = self.open().await?;
        let _one_writer = self.write_lock.lock().await;
        let report = self
            .writer
            .retrying(&self.retry, "rebalancing shards", |client, _| async move {
                self.rebalance_on(&client).await
            })
            .await?;
        self.announce_takeover(&report.taken, initial);
        Ok(report)
    }

    async fn rebalance_on(&self, client: &Client) -> Result<ShardReport, PgError> {
        let doing = "rebalancing shards";
        let db = PgError::db(doing);
        let ttl = self.ttl_secs();
        client
            .execute(
                sql::HEARTBEAT,
                &[&self.group, &self.owner, &self.address, &ttl],
            )
            .await
            .map_err(db)?;
        let mut members: Vec<String> = Vec::new();
        for row in client
            .query(sql::LIVE_MEMBERS, &[&self.group])
            .await
            .map_err(PgError::db(doing))?
        {
            members.push(row.try_get(0).map_err(PgError::db(doing))?);
        }
        if !members.contains(&self.owner) {
            // The heartbeat just wrote it; a clock step on the server could hide it.
            members.push(self.owner.clone());
            members.sort();
        }
        let table = client
            .query(sql::SHARD_TABLE, &[&self.group])
            .await
            .map_err(PgError::db(doing))?;
        let shards = self.ownership().shards;
        let desired = desired_shards(&self.owner, &members, shards);
        let mut wanted = vec![false; shards as usize];
        for &shard in &desired {
            wanted[shard as usize] = true;
        }
        let now = Instant::now();
        let mut holders: Vec<Option<Holder>> = vec![None; shards as usize];
        let mut release: Vec<i32> = Vec::new();
        for row in &table {
            let shard: i32 = row.try_get(0).map_err(PgError::db(doing))?;
            let owner: String = row.try_get(1).map_err(PgError::db(doing))?;
            let address: Option<String> = row.try_get(2).map_err(PgError::db(doing))?;
            let live: bool = row.try_get(3).map_err(PgError::db(doing))?;
            let secs: f64 = row.try_get(4).map_err(PgError::db(doing))?;
            let Some(index) = usize::try_from(shard)
                .ok()
                .filter(|&index| index < wanted.len())
            else {
                continue;
            };
            if !live {
                continue;
            }
            if owner == self.owner && !wanted[index] {
                release.push(shard);
                continue;
            }
            holders[index] = Some(Holder {
                owner: owner.into(),
                address: address.map(Into::into),
                until: now + Duration::from_secs_f64(secs.max(0.0)),
            });
        }
        if !release.is_empty() {
            client
                .execute(
                    sql::RELEASE_SHARDS,
                    &[&self.group, &self.owner, &Some(&release)],
                )
                .await
                .map_err(PgError::db(doing))?;
        }
        // Below MAX_SHARDS, so each fits an i32.
        let claim: Vec<i32> = desired.iter().map(|&shard| shard as i32).collect();
        let claimed = client
            .query(sql::CLAIM_SHARDS, &[&self.group, &self.owner, &claim, &ttl])
            .await
            .map_err(PgError::db(doing))?;
        let until = now + self.lease_ttl;
        let mut held: Vec<Option<i64>> = vec![None; shards as usize];
        for row in &claimed {
            let shard: i32 = row.try_get(0).map_err(PgError::db(doing))?;
            let epoch: i64 = row.try_get(1).map_err(PgError::db(doing))?;
            if let Some(index) = usize::try_from(shard)
                .ok()
                .filter(|&index| index < held.len())
            {
                held[index] = Some(epoch);
                holders[index] = Some(Holder {
                    owner: self.owner.as_str().into(),
                    address: self.address.as_deref().map(Into::into),
                    until,
                });
            }
        }
        let mut own = self.ownership();
        let taken: Vec<u32> = (0..shards)
            .filter(|&shard| {
                let index = shard as usize;
                held[index].is_some() && held[index] != own.held[index]
            })
            .collect();
        own.held = held;
        own.holders = holders;
        own.members = members.len();
        own.desired = desired.len();
        Ok(ShardReport {
            released: release.iter().map(|&shard| shard as u32).collect(),
            taken,
            ..own.report()
        })
    }

    /// After a round took `taken` (unless `initial`): announces the takeover, for the groups
    /// following takeovers to resume the shards' machines.
    ///
    /// What this process cached of those machines may be stale (another instance may have
    /// written them meanwhile); it needs no special care: a write from a stale copy expects an
    /// older version than the stored one and is refused as [`PgError::Stale`], after which the
    /// group reloads the machine, while a copy nobody changed meanwhile writes through.
    fn announce_takeover(&self, taken: &[u32], initial: bool) {
        if taken.is_empty() || initial {
            return;
        }
        let number = {
            let mut own = self.ownership();
            own.generation += 1;
            let number = own.generation;
            own.log.push_back((number, taken.to_vec()));
            while own.log.len() > TAKEOVER_LOG {
                own.log.pop_front();
            }
            number
        };
        tracing::info!(group = %self.group, owner = %self.owner, shards = ?taken, "took over shards");
        self.announce(number);
    }

    /// Ends this instance's shard leases and its membership at once, so the others rebalance
    /// without waiting for its heartbeat to expire; retries for `policy`.
    pub(crate) async fn hand_over(&self, policy: &crate::RetryPolicy) -> Result<(), PgError> {
        let doing = "handing shards over";
        let none: Option<Vec<i32>> = None;
        let none = &none;
        self.reader
            .retrying(policy, doing, |client, _| async move {
                client
                    .execute(sql::RELEASE_SHARDS, &[&self.group, &self.owner, none])
                    .await
                    .map_err(PgError::db(doing))?;
                client
                    .execute(sql::LEAVE, &[&self.group, &self.owner])
                    .await
                    .map_err(PgError::db(doing))
            })
            .await?;
        let mut own = self.ownership();
        let shards = own.shards;
        own.held = vec![None; shards as usize];
        Ok(())
    }
}
