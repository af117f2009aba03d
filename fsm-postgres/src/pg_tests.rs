//! Store-level tests against a PostgreSQL server: metadata columns, index use, paging, an
//! upgrade from the schema before the metadata columns, and close. They need `FSM_PG_URL`
//! (`bash .ci/pg cargo test -p fsm-postgres --lib`); without it they print a notice and pass.

#![allow(clippy::unwrap_used)]

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fsm_runtime::store::{
    Failure, FailureKind, Filter, Header, Meta, MetaError, STORE_FORMAT, ScanPage, ScanRequest,
    Store, StoreError, WriteOp,
};
use tokio_postgres::{Client, NoTls};

use crate::error::PgError;
use crate::schema::MIGRATIONS;
use crate::sql;
use crate::store::ScanPlan;
use crate::{PgStore, PgStoreBuilder};

fn url(test: &str) -> Option<String> {
    match std::env::var("FSM_PG_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!("skipping {test}: FSM_PG_URL is not set (run it through `bash .ci/pg`)");
            None
        }
    }
}

fn unique(test: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{test}_{}_{nanos:x}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

async fn admin(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

/// A database of its own (for tests that set up an older schema): its URL and name.
async fn own_database(url: &str, test: &str) -> (String, String) {
    let database = unique(test).to_lowercase();
    admin(url)
        .await
        .batch_execute(&format!("CREATE DATABASE {database}"))
        .await
        .unwrap();
    let (base, _) = url.rsplit_once('/').unwrap();
    (format!("{base}/{database}"), database)
}

/// Drops a database of [`own_database`].
async fn drop_database(url: &str, database: &str) {
    admin(url)
        .await
        .batch_execute(&format!("DROP DATABASE {database} WITH (FORCE)"))
        .await
        .unwrap();
}

/// A store on a fresh group, or `None` without a database.
async fn store(test: &str) -> Option<(String, PgStore)> {
    let url = url(test)?;
    let store = PgStoreBuilder::new(&url, &unique(test))
        .connect()
        .await
        .unwrap();
    Some((url, store))
}

fn failure(halted: bool) -> Failure {
    Failure {
        kind: FailureKind::EntryFuncPanic,
        status: Cow::Borrowed("Running"),
        error: "boom: it's \"quoted\"".into(),
        at_ms: 1_700_000_000_123,
        halted,
    }
}

fn meta(status: &'static str, is_final: bool) -> Meta {
    let mut meta = Meta::new(status, is_final);
    meta.last_active_ms = 1_700_000_000_000;
    meta
}

fn request<'a>(prefix: &'a [u8], filter: Filter<'static>, with_records: bool) -> ScanRequest<'a> {
    ScanRequest {
        prefix,
        filter,
        after: None,
        limit: usize::MAX,
        with_records,
    }
}

fn keys(page: &ScanPage) -> Vec<Vec<u8>> {
    page.entries.iter().map(|entry| entry.key.clone()).collect()
}

fn pg_error(error: &StoreError) -> &PgError {
    match error {
        StoreError::Backend(backend) => backend.downcast_ref::<PgError>().unwrap(),
        other => panic!("not a PostgreSQL error: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a PostgreSQL server: bash .ci/pg cargo test -p fsm-postgres -- --include-ignored"]
async fn metadata_round_trips_through_commit_get_and_scan() {
    let Some((url, store)) = store("meta_round_trip").await else {
        return;
    };
    let mut running = meta("Running", false);
    running.record_version = 3;
    let mut failed = meta("Running", false);
    failed.failure = Some(Box::new(failure(true)));
    let done = meta("Done", true);
    let header = Header {
        format: STORE_FORMAT,
        group: "jobs".to_owned(),
        codec: "dag-cbor".to_owned(),
    };
    let committed = store
        .commit(&[
            WriteOp::Put {
                key: b"m/1",
                record: b"one",
                meta: &running,
            },
            WriteOp::Put {
                key: b"m/2",
                record: b"two",
                meta: &failed,
            },
            WriteOp::Put {
                key: b"m/3",
                record: b"three",
                meta: &done,
            },
            WriteOp::PutHeader {
                prefix: b"m/",
                header: &header,
            },
        ])
        .await
        .unwrap();
    assert!(committed.is_all_ok());
    assert_eq!(store.header(b"m/").await.unwrap(), Some(header));
    assert_eq!(store.header(b"n/").await.unwrap(), None);

    let got = store.get(b"m/2").await.unwrap().unwrap();
    assert_eq!(got.record.as_deref(), Some(&b"two"[..]));
    assert_eq!(got.meta, Ok(failed.clone()));
    assert_eq!(store.get(b"m/1").await.unwrap().unwrap().meta, Ok(running));
    assert_eq!(store.get(b"m/9").await.unwrap(), None);

    let all = store
        .scan(request(b"m/", Filter::All, false))
        .await
        .unwrap();
    assert_eq!(
        keys(&all),
        [b"m/1".to_vec(), b"m/2".to_vec(), b"m/3".to_vec()]
    );
    assert!(all.entries.iter().all(|entry| entry.record.is_none()));
    assert_eq!(all.next, None);
    let with = store.scan(request(b"m/", Filter::All, true)).await.unwrap();
    assert_eq!(with.entries[2].record.as_deref(), Some(&b"three"[..]));
    assert_eq!(with.entries[2].meta, Ok(done.clone()));
    let running_only = store.scan(request(b"m/", Filter::Status("Running"), false));
    assert_eq!(
        keys(&running_only.await.unwrap()),
        [b"m/1".to_vec(), b"m/2".to_vec()]
    );
    let failures = store
        .scan(request(b"m/", Filter::Failed, true))
        .await
        .unwrap();
    assert_eq!(keys(&failures), [b"m/2".to_vec()]);
    assert_eq!(failures.entries[0].meta, Ok(failed.clone()));
    let active = store
        .scan(request(b"m/", Filter::Active, false))
        .await
        .unwrap();
    assert_eq!(keys(&active), [b"m/1".to_vec(), b"m/2".to_vec()]);

    // A metadata-only write replaces the metadata and keeps the record; one without a record
    // is refused on its own.
    let mut lifted = failed.clone();
    lifted.failure = None;
    lifted.status = Cow::Borrowed("Waiting");
    let committed = store
        .commit(&[
            WriteOp::PutMeta {
                key: b"m/2",
                meta: &lifted,
            },
            WriteOp::PutMeta {
                key: b"m/absent",
                meta: &lifted,
            },
        ])
        .await
        .unwrap();
    assert!(committed.result(0).is_ok());
    let refused = committed.result(1).unwrap_err();
    assert!(
        matches!(pg_error(&refused), PgError::NoRecord { .. }),
        "{refused}"
    );
    let got = store.get(b"m/2").await.unwrap().unwrap();
    assert_eq!(got.record.as_deref(), Some(&b"two"[..]));
    assert_eq!(got.meta, Ok(lifted));
    let failures = store
        .scan(request(b"m/", Filter::Failed, false))
        .await
        .unwrap();
    assert!(failures.entries.is_empty());
    let waiting = store.scan(request(b"m/", Filter::Status("Waiting"), false));
    assert_eq!(keys(&waiting.await.unwrap()), [b"m/2".to_vec()]);

    // A failure kind this version does not know reads back as damaged metadata.
    let client = admin(&url).await;
    client
        .execute(
            "UPDATE fsm_records SET failure_kind = 'from_the_future', failure_status = 'x',
                 failure_error = 'x', failure_at_ms = 1, failure_halted = false
             WHERE group_name = $1 AND machine_id = $2",
            &[&store.group(), &b"m/1".as_slice()],
        )
        .await
        .unwrap();
    let damaged = store.get(b"m/1").await.unwrap().unwrap();
    assert!(
        matches!(&damaged.meta, Err(MetaError::Damaged(text)) if text.contains("from_the_future")),
        "{:?}",
        damaged.meta
    );

    store
        .commit(&[WriteOp::Delete { key: b"m/3" }])
        .await
        .unwrap();
    assert_eq!(store.get(b"m/3").await.unwrap(), None);
    store.close().await.unwrap();
}

/// Writes `count` machines `prefix` + index (big endian) in status `S{index % statuses}`, the
/// ones at multiples of `failed_every` with a failure.
async fn fill(store: &PgStore, prefix: &[u8], count: u32, statuses: u32, failed_every: u32) {
    let metas: Vec<Meta> = (0..count)
        .map(|index| {
            let status = format!("S{}", index % statuses);
            let mut meta = Meta::new(status, false);
            if index % failed_every == 0 {
                meta.failure = Some(Box::new(failure(false)));
            }
            meta
        })
        .collect();
    let keys: Vec<Vec<u8>> = (0..count)
        .map(|index| [prefix, &index.to_be_bytes()].concat())
        .collect();
    for (keys, metas) in keys.chunks(1000).zip(metas.chunks(1000)) {
        let ops: Vec<WriteOp<'_>> = keys
            .iter()
            .zip(metas)
            .map(|(key, meta)| WriteOp::Put {
                key,
                record: b"r",
                meta,
            })
            .collect();
        assert!(store.commit(&ops).await.unwrap().is_all_ok());
    }
}

/// The plan PostgreSQL chooses for the store's own scan statement.
async fn plan_of(client: &Client, group: &String, request: &ScanRequest<'_>) -> String {
    let plan = ScanPlan::new(request, None);
    let statement = format!("EXPLAIN {}", sql::scan(&plan.range, request.with_records));
    let mut params = plan.params(group);
    params.push(&plan.fetch);
    let rows = client.query(statement.as_str(), &params).await.unwrap();
    rows.iter()
        .map(|row| row.get::<_, String>(0))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a PostgreSQL server: bash .ci/pg cargo test -p fsm-postgres -- --include-ignored"]
async fn status_and_failure_queries_use_their_indexes() {
    let Some((url, store)) = store("status_index").await else {
        return;
    };
    let (count, statuses, failed_every) = (5000, 50, 500);
    fill(&store, b"k", count, statuses, failed_every).await;
    let client = admin(&url).await;
    client.batch_execute("ANALYZE fsm_records").await.unwrap();
    let group = store.group().to_owned();

    let by_status = ScanRequest {
        prefix: b"k",
        filter: Filter::Status("S7"),
        after: None,
        limit: 1000,
        with_records: false,
    };
    let plan = plan_of(&client, &group, &by_status).await;
    assert!(plan.contains("fsm_records_by_status"), "{plan}");
    let page = store.scan(by_status).await.unwrap();
    assert_eq!(page.entries.len(), (count / statuses) as usize);
    for entry in &page.entries {
        let index = u32::from_be_bytes(entry.key[1..].try_into().unwrap());
        assert_eq!(index % statuses, 7);
        assert_eq!(entry.meta.as_ref().unwrap().status, "S7");
    }

    let failed = ScanRequest {
        filter: Filter::Failed,
        ..by_status
    };
    let plan = plan_of(&client, &group, &failed).await;
    assert!(plan.contains("fsm_records_failed"), "{plan}");
    let page = store.scan(failed).await.unwrap();
    assert_eq!(page.entries.len(), (count / failed_every) as usize);
    store.close().await.unwrap();
}

/// Every key of a paged scan, checking that no page is larger than `limit`.
async fn paged(
    store: &PgStore,
    prefix: &[u8],
    filter: Filter<'_>,
    limit: usize,
    resumable: bool,
) -> Vec<Vec<u8>> {
    let mut seen = Vec::new();
    let mut after: Option<Vec<u8>> = None;
    loop {
        let request = ScanRequest {
            prefix,
            filter,
            after: after.as_deref(),
            limit,
            with_records: true,
        };
        let page = if resumable {
            store.scan_resumable(request).await.unwrap()
        } else {
            store.scan(request).await.unwrap()
        };
        assert!(page.entries.len() <= limit);
        for entry in &page.entries {
            assert!(entry.key.starts_with(prefix));
            assert_eq!(entry.record.as_deref(), Some(&b"r"[..]));
        }
        seen.extend(keys(&page));
        match page.next {
            Some(next) => after = Some(next),
            None => return seen,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a PostgreSQL server: bash .ci/pg cargo test -p fsm-postgres -- --include-ignored"]
async fn pages_return_every_row_once() {
    let Some((_, store)) = store("paging").await else {
        return;
    };
    // Neighbours before and after the prefix must never show up.
    fill(&store, b"a", 5, 1, 100).await;
    fill(&store, b"b", 23, 3, 4).await;
    fill(&store, b"c", 5, 1, 100).await;
    fill(&store, &[0xff, 0xff], 7, 1, 100).await;
    let all: Vec<Vec<u8>> = (0u32..23)
        .map(|index| [&b"b"[..], &index.to_be_bytes()].concat())
        .collect();
    let in_s1: Vec<Vec<u8>> = (0u32..23)
        .filter(|index| index % 3 == 1)
        .map(|index| [&b"b"[..], &index.to_be_bytes()].concat())
        .collect();
    let failed: Vec<Vec<u8>> = (0u32..23)
        .filter(|index| index % 4 == 0)
        .map(|index| [&b"b"[..], &index.to_be_bytes()].concat())
        .collect();
    for limit in [1, 4, 22, 23, 24, usize::MAX] {
        assert_eq!(paged(&store, b"b", Filter::All, limit, false).await, all);
        assert_eq!(paged(&store, b"b", Filter::Active, limit, false).await, all);
        let status = paged(&store, b"b", Filter::Status("S1"), limit, false).await;
        assert_eq!(status, in_s1);
        assert_eq!(
            paged(&store, b"b", Filter::Failed, limit, false).await,
            failed
        );
        // This store holds every lease already, so resuming returns every active machine.
        assert_eq!(paged(&store, b"b", Filter::Active, limit, true).await, all);
    }
    assert_eq!(
        paged(&store, &[0xff, 0xff], Filter::All, 2, false)
            .await
            .len(),
        7
    );
    assert_eq!(
        paged(&store, b"", Filter::All, 10, false).await.len(),
        5 + 23 + 5 + 7
    );
    // A cursor below the prefix starts at the prefix; one past it ends the scan.
    let from_below = ScanRequest {
        prefix: b"b",
        filter: Filter::All,
        after: Some(b"a\xff"),
        limit: 100,
        with_records: false,
    };
    assert_eq!(store.scan(from_below).await.unwrap().entries.len(), 23);
    let past = ScanRequest {
        after: Some(b"b\xff"),
        ..from_below
    };
    assert!(store.scan(past).await.unwrap().entries.is_empty());
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a PostgreSQL server: bash .ci/pg cargo test -p fsm-postgres -- --include-ignored"]
async fn resumable_scans_return_the_non_final_machines_of_owned_shards_only() {
    let Some(url) = url("resumable") else {
        return;
    };
    let group = unique("resumable");
    let open = |owner: &'static str| {
        PgStoreBuilder::new(&url, &group)
            .owner(owner)
            .heartbeat(false)
            .connect()
    };
    let a = open("a").await.unwrap();
    assert_eq!(a.owned_shards().len(), a.shard_count() as usize);
    let (active, done) = (meta("Running", false), meta("Done", true));
    let ops = [
        WriteOp::Put {
            key: b"1",
            record: b"r",
            meta: &active,
        },
        WriteOp::Put {
            key: b"2",
            record: b"r",
            meta: &done,
        },
        WriteOp::Put {
            key: b"3",
            record: b"r",
            meta: &active,
        },
    ];
    assert!(a.commit(&ops).await.unwrap().is_all_ok());
    // a holds every shard and its leases run: b joins but holds nothing yet, so it resumes
    // nothing, and its writes are refused naming a.
    let b = open("b").await.unwrap();
    assert!(b.owned_shards().is_empty());
    for limit in [1, 10] {
        assert!(paged(&b, b"", Filter::Active, limit, true).await.is_empty());
    }
    b.get(b"1").await.unwrap();
    let refused = b.commit(&ops[..1]).await.unwrap();
    match refused.result(0) {
        Err(StoreError::NotOwner { owner, .. }) => assert_eq!(owner.as_deref(), Some("a")),
        other => panic!("expected NotOwner, got {other:?}"),
    }
    // Once a closed (handing its shards over), b takes every shard and resumes the non-final
    // machines only.
    a.close().await.unwrap();
    let report = b.rebalance().await.unwrap();
    assert!(report.is_settled(), "{report:?}");
    assert_eq!(report.members, 1);
    assert_eq!(
        paged(&b, b"", Filter::Active, 1, true).await,
        [b"1".to_vec(), b"3".to_vec()]
    );
    let owner = b.owner_of(b"1").await.unwrap();
    assert_eq!(owner.owner.as_deref(), Some("b"));
    assert_eq!(
        owner.epoch, 2,
        "a held it at epoch 1; b took it at the next"
    );
    b.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a PostgreSQL server: bash .ci/pg cargo test -p fsm-postgres -- --include-ignored"]
async fn rows_written_before_the_metadata_columns_report_missing_metadata() {
    let Some(url) = url("pre_metadata_schema") else {
        return;
    };
    // A database of its own, at schema version 1 (before the metadata columns), with rows.
    let (own_url, database) = own_database(&url, "premeta").await;
    {
        let old = admin(&own_url).await;
        old.batch_execute(MIGRATIONS[0]).await.unwrap();
        old.batch_execute(
            "CREATE TABLE fsm_schema_version (
                 singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
                 version integer NOT NULL
             );
             INSERT INTO fsm_schema_version (version) VALUES (1);
             INSERT INTO fsm_records (group_name, machine_id, value, version, epoch)
             VALUES ('g', 'old/1', 'one', 1, 1), ('g', 'old/2', 'two', 1, 1);",
        )
        .await
        .unwrap();
    }
    let store = PgStore::connect(&own_url, "g").await.unwrap();
    let got = store.get(b"old/1").await.unwrap().unwrap();
    assert_eq!(got.record.as_deref(), Some(&b"one"[..]));
    assert_eq!(got.meta, Err(MetaError::Missing));
    let all = store
        .scan(request(b"old/", Filter::All, true))
        .await
        .unwrap();
    assert_eq!(all.entries.len(), 2);
    assert!(
        all.entries
            .iter()
            .all(|e| e.meta == Err(MetaError::Missing))
    );
    // Without metadata a machine may still need resuming: active scans report it.
    let active = store
        .scan(request(b"old/", Filter::Active, false))
        .await
        .unwrap();
    assert_eq!(active.entries.len(), 2);
    let running = store.scan(request(b"old/", Filter::Status("Running"), false));
    assert!(running.await.unwrap().entries.is_empty());
    // The upgrade writes the metadata alone; the record stays.
    let upgraded = meta("Running", false);
    let committed = store
        .commit(&[WriteOp::PutMeta {
            key: b"old/1",
            meta: &upgraded,
        }])
        .await
        .unwrap();
    assert!(committed.is_all_ok());
    let got = store.get(b"old/1").await.unwrap().unwrap();
    assert_eq!(got.record.as_deref(), Some(&b"one"[..]));
    assert_eq!(got.meta, Ok(upgraded));
    store.close().await.unwrap();
    drop_database(&url, &database).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a PostgreSQL server: bash .ci/pg cargo test -p fsm-postgres -- --include-ignored"]
async fn a_closed_store_refuses_every_call_and_has_handed_its_shards_over() {
    let Some(url) = url("closed") else {
        return;
    };
    let group = unique("closed");
    let store = PgStoreBuilder::new(&url, &group)
        .owner("a")
        .connect()
        .await
        .unwrap();
    let clone = store.clone();
    let m = meta("Running", false);
    let put = [WriteOp::Put {
        key: b"k",
        record: b"r",
        meta: &m,
    }];
    assert!(store.commit(&put).await.unwrap().is_all_ok());
    store.close().await.unwrap();
    store.close().await.unwrap();

    let closed = |result: Result<(), StoreError>| {
        assert!(matches!(result, Err(StoreError::Closed)), "{result:?}");
    };
    closed(clone.get(b"k").await.map(drop));
    closed(clone.scan(request(b"", Filter::All, true)).await.map(drop));
    closed(
        clone
            .scan_resumable(request(b"", Filter::Active, true))
            .await
            .map(drop),
    );
    closed(clone.commit(&put).await.map(drop));
    closed(clone.header(b"").await.map(drop));
    assert!(matches!(clone.owner_of(b"k").await, Err(PgError::Closed)));
    assert!(matches!(clone.rebalance().await, Err(PgError::Closed)));
    assert!(matches!(clone.hand_over().await, Err(PgError::Closed)));

    // The shards were handed over on close: another instance owns them and writes at once.
    let other = PgStoreBuilder::new(&url, &group)
        .owner("b")
        .connect()
        .await
        .unwrap();
    assert_eq!(
        other.owner_of(b"k").await.unwrap().owner.as_deref(),
        Some("b")
    );
    other.get(b"k").await.unwrap();
    assert!(other.commit(&put).await.unwrap().is_all_ok());
    other.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a PostgreSQL server: bash .ci/pg cargo test -p fsm-postgres -- --include-ignored"]
async fn dropping_a_store_hands_its_shards_over_in_the_background() {
    let Some(url) = url("dropped") else {
        return;
    };
    let group = unique("dropped");
    let open = |owner: &'static str| {
        PgStoreBuilder::new(&url, &group)
            .owner(owner)
            .heartbeat(false)
            .connect()
    };
    let store = open("a").await.unwrap();
    let m = meta("Running", false);
    let put = [WriteOp::Put {
        key: b"k",
        record: b"r",
        meta: &m,
    }];
    assert!(store.commit(&put).await.unwrap().is_all_ok());
    drop(store);
    // Without the hand-over, a's leases would run for 10 s more.
    let observer = open("b").await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let report = observer.rebalance().await.unwrap();
        if report.is_settled() && report.members == 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "shards not handed over"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        observer.owner_of(b"k").await.unwrap().owner.as_deref(),
        Some("b")
    );
    observer.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a PostgreSQL server: bash .ci/pg cargo test -p fsm-postgres -- --include-ignored"]
async fn the_shard_migration_waits_for_older_instances_and_shards_old_records() {
    let Some(url) = url("shard_migration") else {
        return;
    };
    // A database of its own at schema version 2 (per-machine leases), with records of group
    // `g` and a running lease of an older instance.
    let (own_url, database) = own_database(&url, "leases").await;
    let old = admin(&own_url).await;
    old.batch_execute(MIGRATIONS[0]).await.unwrap();
    old.batch_execute(MIGRATIONS[1]).await.unwrap();
    old.batch_execute(
        "CREATE TABLE fsm_schema_version (
             singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
             version integer NOT NULL
         );
         INSERT INTO fsm_schema_version (version) VALUES (2);
         INSERT INTO fsm_records (group_name, machine_id, value, version, epoch, status, is_final)
         VALUES ('g', 'm/1', 'one', 3, 7, 'Running', false),
                ('g', 'm/2', 'two', 1, 2, 'Done', true);
         INSERT INTO fsm_leases (group_name, machine_id, owner, epoch, expires_at)
         VALUES ('g', 'm/1', 'old-node', 7, now() + interval '1 hour');",
    )
    .await
    .unwrap();
    let refused = PgStore::connect(&own_url, "g").await.unwrap_err();
    match &refused {
        PgError::MigrationBlocked { owners } => assert_eq!(owners, &["old-node".to_owned()]),
        other => panic!("expected MigrationBlocked, got {other}"),
    }
    assert!(refused.to_string().contains("old-node"), "{refused}");
    // Nothing changed: still version 2.
    let version: i32 = old
        .query_one("SELECT version FROM fsm_schema_version", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(version, 2);

    // The older instance stopped (its lease ended): the migration runs, and opening the group
    // gives every record its shard and resets its epoch below the first shard lease.
    old.batch_execute("UPDATE fsm_leases SET expires_at = '-infinity'")
        .await
        .unwrap();
    let store = PgStoreBuilder::new(&own_url, "g")
        .shards(8)
        .connect()
        .await
        .unwrap();
    let rows = old
        .query(
            "SELECT machine_id, shard, epoch FROM fsm_records ORDER BY machine_id",
            &[],
        )
        .await
        .unwrap();
    for row in &rows {
        let key: Vec<u8> = row.get(0);
        let shard: i32 = row.get(1);
        let epoch: i64 = row.get(2);
        assert_eq!(shard as u32, crate::shards::shard_of(&key, 8));
        assert_eq!(epoch, 0);
    }
    // The old records are written through as before.
    store.get(b"m/1").await.unwrap().unwrap();
    let running = meta("Running", false);
    let put = [WriteOp::Put {
        key: b"m/1",
        record: b"one again",
        meta: &running,
    }];
    assert!(store.commit(&put).await.unwrap().is_all_ok());
    // Another shard count for the same group is refused.
    let mismatch = PgStoreBuilder::new(&own_url, "g")
        .shards(16)
        .connect()
        .await
        .unwrap_err();
    assert!(
        matches!(
            mismatch,
            PgError::ShardCountMismatch {
                stored: 8,
                requested: 16,
                ..
            }
        ),
        "{mismatch}"
    );
    store.close().await.unwrap();
    drop(old);
    drop_database(&url, &database).await;
}
