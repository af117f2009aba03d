//! [`PgStoreBuilder`]: the choices made when a store is opened.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio_postgres::Config;

use crate::error::PgError;
use crate::link::RetryPolicy;
use crate::schema;
use crate::store::{Inner, PgStore};

/// Opens a [`PgStore`]: database URL, group name, instance name and address, shard count, lease
/// time, retries.
///
/// ```no_run
/// # async fn run() -> Result<(), fsm_postgres::PgError> {
/// let store = fsm_postgres::PgStoreBuilder::new("postgresql://fsm@127.0.0.1/fsm", "deals")
///     .lease_ttl(std::time::Duration::from_secs(10))
///     .connect()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PgStoreBuilder {
    url: String,
    group: String,
    owner: Option<String>,
    address: Option<String>,
    shards: Option<u32>,
    lease_ttl: Duration,
    retry: RetryPolicy,
    heartbeat: bool,
    connect_timeout: Duration,
}

impl PgStoreBuilder {
    /// A builder for group `group` of the database at `url` (a `postgresql://` URL or a
    /// `key=value` connection string). Defaults: a unique instance name, no address, the
    /// group's stored shard count (64 for a new group), 10 s heartbeat and shard leases
    /// renewed in the background, the default [`RetryPolicy`], 5 s connect timeout.
    pub fn new(url: &str, group: &str) -> Self {
        Self {
            url: url.to_owned(),
            group: group.to_owned(),
            owner: None,
            address: None,
            shards: None,
            lease_ttl: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            heartbeat: true,
            connect_timeout: Duration::from_secs(5),
        }
    }

    /// This instance's name in the membership and shard tables and in [`PgError::NotOwner`]
    /// errors (default: `host-pid-nanos`). Instances sharing a group must use different names;
    /// the name decides which shards the instance should own, so a restarted instance that
    /// keeps its name gets the same shards back.
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self
    }

    /// An address other instances can reach this one at (for example `http://10.0.0.5:8080`),
    /// advertised in the membership table and reported in [`PgError::NotOwner`] so that an
    /// application can forward an event to the owner of its machine.
    pub fn address(mut self, address: impl Into<String>) -> Self {
        self.address = Some(address.into());
        self
    }

    /// The group's shard count (1 to 65,536). Fixed when the group is created: opening an
    /// existing group with another count fails with [`PgError::ShardCountMismatch`]. Unset
    /// (the default), an existing group's count is used and a new group gets
    /// [`DEFAULT_SHARDS`](crate::shards::DEFAULT_SHARDS). More shards spread a group over more
    /// instances more evenly; each costs one lease row.
    pub fn shards(mut self, shards: u32) -> Self {
        self.shards = Some(shards);
        self
    }

    /// How long a heartbeat and a shard lease run without renewal (default 10 s, at least
    /// 100 ms): how long a dead instance's shards wait before another instance takes them.
    /// Renewal runs every third of it.
    pub fn lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl.max(Duration::from_millis(100));
        self
    }

    /// How transient failures are retried.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Whether a background task runs a rebalancing round (heartbeat, lease renewal, hand
    /// over, take) every third of the lease time (default true). Without it, the instance's
    /// membership and leases run out unless [`PgStore::rebalance`] is called: the behaviour of
    /// a paused or partitioned instance.
    pub fn heartbeat(mut self, heartbeat: bool) -> Self {
        self.heartbeat = heartbeat;
        self
    }

    /// How long connecting may take before it fails (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Connects, creates or migrates the schema, creates the group (or checks its shard
    /// count), joins the membership, takes the shards this instance should own that are free,
    /// and starts the heartbeat (a task on the current tokio runtime, so call it inside one).
    /// Shards another live instance still holds come later, when it hands them over (see
    /// [`PgStore::settled`]). Fails at once on a bad URL, an unreachable server, a schema newer
    /// than this library's, a shard count that differs from the group's, or a schema migration
    /// that older instances still running block.
    pub async fn connect(self) -> Result<PgStore, PgError> {
        let mut config: Config = self.url.parse().map_err(|source| PgError::BadUrl {
            url: redact(&self.url),
            source,
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(self.connect_timeout);
        }
        if config.get_application_name().is_none() {
            config.application_name("fsm-postgres");
        }
        let owner = self.owner.unwrap_or_else(default_owner);
        let inner = Arc::new(Inner::new(
            self.group,
            owner,
            self.address,
            self.lease_ttl,
            self.retry,
            config,
        ));
        let writer = inner.writer.connect_now().await?;
        schema::migrate(&writer).await?;
        let shards = schema::open_group(&writer, &inner.group, self.shards).await?;
        inner.set_shards(shards);
        inner.reader.connect_now().await?;
        inner.rebalance(true).await?;
        if self.heartbeat {
            inner.start_renewer();
        }
        Ok(PgStore::from_inner(inner))
    }
}

/// `host-pid-nanos`: unique per process start on one host.
fn default_owner() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "host".to_owned());
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.subsec_nanos());
    format!("{host}-{}-{nanos:08x}", std::process::id())
}

/// The URL without its password, for errors.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &credentials[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgresql://fsm:secret@db:5432/x"),
            "postgresql://fsm:***@db:5432/x"
        );
        assert_eq!(redact("postgresql://fsm@db/x"), "postgresql://fsm@db/x");
        assert_eq!(redact("host=db user=fsm"), "host=db user=fsm");
    }

    #[tokio::test]
    async fn bad_url_is_a_clear_error() {
        let error = PgStoreBuilder::new("postgresql://fsm:pw@db:notaport/x", "g")
            .connect()
            .await
            .unwrap_err();
        assert!(matches!(error, PgError::BadUrl { .. }), "{error}");
        let text = error.to_string();
        assert!(text.contains("invalid PostgreSQL URL"), "{text}");
        assert!(!text.contains("pw"), "{text}");
    }
}
