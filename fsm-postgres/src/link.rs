//! One connection to the server that reconnects when it breaks, and the retry loop every
//! operation runs in.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use tokio::sync::Mutex;
use tokio_postgres::{Client, Config, NoTls, Statement};

use crate::error::PgError;

/// How long and how often an operation is retried after a transient error
/// ([`PgError::is_transient`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Give up after this long (default 30 s).
    pub window: Duration,
    /// The first pause between attempts; it doubles up to `max_backoff` (default 50 ms).
    pub first_backoff: Duration,
    /// The longest pause between attempts (default 1 s).
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(30),
            first_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(1),
        }
    }
}

/// A connection that is (re)established on demand. Queries from many tasks share the client
/// (the driver pipelines them); a caller that runs a transaction serializes on its own lock.
pub(crate) struct Link {
    config: Config,
    client: Mutex<Option<Arc<Client>>>,
    /// Statements prepared on one client (the `Weak` names it, and keeps its address from
    /// being reused while the cache refers to it).
    statements: std::sync::Mutex<Prepared>,
}

/// The statements prepared on one client.
type Prepared = (Weak<Client>, HashMap<&'static str, Statement>);

impl Link {
    pub(crate) fn new(config: Config) -> Self {
        Self {
            config,
            client: Mutex::new(None),
            statements: std::sync::Mutex::new((Weak::new(), HashMap::new())),
        }
    }

    /// `sql` prepared on `client`, prepared once per connection and then reused (a
    /// round trip and a parse saved on every call).
    pub(crate) async fn prepared(
        &self,
        client: &Arc<Client>,
        sql: &'static str,
    ) -> Result<Statement, tokio_postgres::Error> {
        let same = |cache: &Prepared| std::ptr::eq(Weak::as_ptr(&cache.0), Arc::as_ptr(client));
        {
            let cache = self.cache();
            if same(&cache)
                && let Some(statement) = cache.1.get(sql)
            {
                return Ok(statement.clone());
            }
        }
        let statement = client.prepare(sql).await?;
        let mut cache = self.cache();
        if !same(&cache) {
            *cache = (Arc::downgrade(client), HashMap::new());
        }
        cache.1.insert(sql, statement.clone());
        Ok(statement)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Prepared> {
        // Every critical section leaves the cache consistent.
        self.statements
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Connects now (used on open, so that a bad address fails at once).
    pub(crate) async fn connect_now(&self) -> Result<Arc<Client>, PgError> {
        self.client().await
    }

    /// Runs one statement once, without retrying: for the best-effort release of a dropped
    /// store.
    pub(crate) async fn execute_once(
        &self,
        statement: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
        doing: &'static str,
    ) -> Result<u64, PgError> {
        let client = self.client().await?;
        client
            .execute(statement, params)
            .await
            .map_err(PgError::db(doing))
    }

    /// The live client, connecting first when there is none or the last one broke.
    pub(crate) async fn client(&self) -> Result<Arc<Client>, PgError> {
        let mut slot = self.client.lock().await;
        if let Some(client) = slot.as_ref().filter(|client| !client.is_closed()) {
            return Ok(Arc::clone(client));
        }
        *slot = None;
        let (client, connection) =
            self.config
                .connect(NoTls)
                .await
                .map_err(|source| PgError::Connect {
                    target: target(&self.config),
                    source,
                })?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::warn!(%error, "PostgreSQL connection ended");
            }
        });
        let client = Arc::new(client);
        *slot = Some(Arc::clone(&client));
        Ok(client)
    }

    /// Drops the current client so that the next call reconnects.
    pub(crate) async fn reset(&self) {
        *self.client.lock().await = None;
    }

    /// Runs `op` with a live client, retrying transient failures on a fresh connection with
    /// backoff for the policy's window. `op` gets the attempt number (0 first).
    pub(crate) async fn retrying<T, F, Fut>(
        &self,
        policy: &RetryPolicy,
        doing: &'static str,
        mut op: F,
    ) -> Result<T, PgError>
    where
        F: FnMut(Arc<Client>, u32) -> Fut,
        Fut: Future<Output = Result<T, PgError>>,
    {
        let started = Instant::now();
        let mut backoff = policy.first_backoff;
        let mut attempt = 0u32;
        loop {
            let result = match self.client().await {
                Ok(client) => op(client, attempt).await,
                Err(error) => Err(error),
            };
            let error = match result {
                Ok(value) => return Ok(value),
                Err(error) if error.is_transient() => error,
                Err(error) => return Err(error),
            };
            attempt += 1;
            if started.elapsed() >= policy.window {
                return Err(PgError::Unavailable {
                    doing,
                    attempts: attempt,
                    waited: started.elapsed(),
                    last: Box::new(error),
                });
            }
            if error.needs_reconnect() {
                tracing::warn!(%error, attempt, doing, "PostgreSQL operation failed; reconnecting");
                self.reset().await;
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(policy.max_backoff);
            } else {
                // A serialization failure or deadlock on a healthy connection: the transaction
                // was rolled back; run it again after a short pause that differs between
                // instances, so that two of them do not collide again.
                tracing::debug!(%error, attempt, doing, "PostgreSQL transaction lost a race; retrying");
                let jitter = u64::from(std::process::id() % 7 + attempt.min(20));
                tokio::time::sleep(Duration::from_millis(jitter)).await;
            }
        }
    }
}

/// `host:port` of the first configured host, for errors.
pub(crate) fn target(config: &Config) -> String {
    let port = config.get_ports().first().copied().unwrap_or(5432);
    match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => format!("{host}:{port}"),
        Some(tokio_postgres::config::Host::Unix(path)) => format!("{}:{port}", path.display()),
        None => format!("localhost:{port}"),
    }
}
