//! Clear errors for a bad URL, an unreachable server and a schema from a newer version; a
//! connection dropped mid-run is re-established and no acknowledged event is lost.

#![allow(clippy::unwrap_used)]

#[path = "../../fsm-runtime/tests/group_support/mod.rs"]
mod group_support;
mod pg_support;

use std::time::Duration;

use fsm_postgres::{PgError, PgStore, PgStoreBuilder, SCHEMA_VERSION};
use fsm_runtime::Group;
use fsm_runtime::store::Store;
use group_support::*;

#[tokio::test]
async fn bad_url_is_refused_before_connecting() {
    let error = PgStore::connect("postgres://fsm@localhost:port/db", "g")
        .await
        .unwrap_err();
    assert!(matches!(error, PgError::BadUrl { .. }), "{error}");
    assert!(
        error.to_string().contains("invalid PostgreSQL URL"),
        "{error}"
    );
}

#[tokio::test]
async fn unreachable_server_names_the_address() {
    // Port 1 on localhost: nothing listens there.
    let error = PgStoreBuilder::new("postgresql://fsm@127.0.0.1:1/db", "g")
        .connect_timeout(Duration::from_secs(2))
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(error, PgError::Connect { .. }), "{error}");
    assert!(error.to_string().contains("127.0.0.1:1"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a PostgreSQL server: bash .ci/pg cargo test -p fsm-postgres -- --include-ignored"]
async fn newer_schema_is_refused() {
    let Some(url) = pg_support::url("newer_schema_is_refused") else {
        return;
    };
    // A database of its own: the schema version is per database.
    let database = pg_support::unique_group("schema")
        .to_lowercase()
        .replace('-', "_");
    pg_support::admin(&url, &format!("CREATE DATABASE {database}")).await;
    let (base, _) = url.rsplit_once('/').unwrap();
    let own_url = format!("{base}/{database}");
    PgStore::connect(&own_url, "g")
        .await
        .unwrap()
        .close()
        .await
        .unwrap();
    pg_support::admin(
        &own_url,
        &format!(
            "UPDATE fsm_schema_version SET version = {}",
            SCHEMA_VERSION + 1
        ),
    )
    .await;
    let error = PgStore::connect(&own_url, "g").await.unwrap_err();
    match &error {
        PgError::SchemaTooNew { found, supported } => {
            assert_eq!((*found, *supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
        }
        other => panic!("unexpected {other}"),
    }
    assert!(error.to_string().contains("newer than"), "{error}");
    pg_support::admin(&url, &format!("DROP DATABASE {database}")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a PostgreSQL server: bash .ci/pg cargo test -p fsm-postgres -- --include-ignored"]
async fn dropped_connections_are_retried_and_no_acknowledged_event_is_lost() {
    let test = "dropped_connections";
    let Some(url) = pg_support::url(test) else {
        return;
    };
    // Its own application name, so that only this test's connections are killed.
    let app = pg_support::unique_group("drop").replace('-', "_");
    let separator = if url.contains('?') { '&' } else { '?' };
    let store = PgStoreBuilder::new(&format!("{url}{separator}application_name={app}"), &app)
        .connect()
        .await
        .unwrap();
    let group: Group<JobFsm, Env, u64, PgStore> =
        Group::builder(store, Env::default()).open().await.unwrap();
    let machines = 8u64;
    let ticks = 150u64;
    for id in 0..machines {
        group.begin(id, Job::new(id, OnRun::Nothing)).await.unwrap();
    }
    let senders: Vec<_> = (0..machines)
        .map(|id| {
            let group = group.clone();
            tokio::spawn(async move {
                for _ in 0..ticks {
                    group.send_sync(id, JobInput::Tick(1)).await.unwrap();
                }
            })
        })
        .collect();
    let kill = format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{app}'"
    );
    let mut killed = 0;
    while !senders.iter().all(|sender| sender.is_finished()) && killed < 5 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        pg_support::admin(&url, &kill).await;
        killed += 1;
    }
    for sender in senders {
        // Every send_sync was acknowledged (unwrapped above) despite the dropped connections.
        sender.await.unwrap();
    }
    assert!(killed > 0);
    for id in 0..machines {
        assert_eq!(
            group.get(&id).await.unwrap().unwrap().count,
            ticks,
            "machine {id}"
        );
    }
    group.close().await.unwrap();
}
