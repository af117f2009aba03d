//! Helpers of the PostgreSQL tests: the server URL from `FSM_PG_URL` (tests skip with a notice
//! without it) and stores on fresh, uniquely named groups.

#![allow(dead_code, clippy::unwrap_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fsm_postgres::{PgStore, PgStoreBuilder};

/// The environment variable naming the test database (`bash .ci/pg` sets it).
pub const URL_VAR: &str = "FSM_PG_URL";

/// The test database URL, or `None` after printing why the calling test is skipped.
pub fn url(test: &str) -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!(
                "skipping {test}: {URL_VAR} is not set (run `bash .ci/pg cargo test -p fsm-postgres -- --include-ignored`)"
            );
            None
        }
    }
}

/// A group name no other test (or earlier run) uses.
pub fn unique_group(test: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{test}-{}-{nanos:x}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A builder for a fresh group of test `test`, or `None` (skipped) without a database.
pub fn builder(test: &str) -> Option<(String, PgStoreBuilder)> {
    let url = url(test)?;
    let group = unique_group(test);
    let builder = PgStoreBuilder::new(&url, &group);
    Some((url, builder))
}

/// A store on a fresh group of test `test`, or `None` (skipped) without a database.
pub async fn store(test: &str) -> Option<PgStore> {
    let (_, builder) = builder(test)?;
    Some(builder.connect().await.unwrap())
}

/// A short lease for tests that wait for one to expire.
pub const SHORT_LEASE: Duration = Duration::from_millis(1500);

/// Runs `sql` on its own connection (for tests that break things on purpose).
pub async fn admin(url: &str, sql: &str) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let task = tokio::spawn(connection);
    client.batch_execute(sql).await.unwrap();
    drop(client);
    let _ = task.await;
}
