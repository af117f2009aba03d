//! Shard leases and fencing: a write to a machine whose shard another live instance holds is
//! refused naming the owner; an expired lease is taken with the next epoch; a former owner
//! whose lease ran out (paused, partitioned: here, no heartbeat) can never overwrite the newer
//! record. The groups here have one shard, so one instance owns every machine.

#![allow(clippy::unwrap_used)]

#[path = "../../fsm-runtime/tests/group_support/mod.rs"]
mod group_support;
mod pg_support;

use std::time::Duration;

use fsm_postgres::{PgError, PgStore};
use fsm_runtime::Group;
use fsm_runtime::group::SendError;
use fsm_runtime::store::{Meta, Store, StoreError, WriteOp};
use group_support::*;

/// The PostgreSQL error inside a store error.
fn pg_error(error: &StoreError) -> &PgError {
    match error {
        StoreError::Backend(source) | StoreError::NotOwner { source, .. } => {
            source.downcast_ref::<PgError>().unwrap()
        }
        other => panic!("not a PostgreSQL error: {other}"),
    }
}

/// Two instances of a one-shard group without heartbeat (paused instances); `a` connects
/// first and holds the shard.
async fn paused_pair(test: &str) -> Option<(PgStore, PgStore)> {
    let (_, builder) = pg_support::builder(test)?;
    let open = |owner: &str| {
        builder
            .clone()
            .owner(owner)
            .shards(1)
            .lease_ttl(pg_support::SHORT_LEASE)
            .heartbeat(false)
            .connect()
    };
    let a = open("a").await.unwrap();
    let b = open("b").await.unwrap();
    assert_eq!(a.owned_shards(), [0]);
    assert!(b.owned_shards().is_empty());
    Some((a, b))
}

/// Waits until the lease of `key`'s shard has run out, then lets `next` take it.
async fn take_over(next: &PgStore, key: &[u8]) {
    let left = next.owner_of(key).await.unwrap().expires_in;
    tokio::time::sleep(left + Duration::from_millis(100)).await;
    let report = next.rebalance().await.unwrap();
    assert_eq!(report.owned, 1, "{report:?}");
    assert_eq!(
        next.owner_of(key).await.unwrap().owner.as_deref(),
        Some(next.owner())
    );
}

/// The record at `key`.
async fn read(store: &PgStore, key: &[u8]) -> Option<Vec<u8>> {
    store.get(key).await.unwrap().and_then(|entry| entry.record)
}

/// Metadata of a machine in status `status`.
fn meta(status: &'static str) -> Meta {
    Meta::new(status, false)
}

/// Writes `record` at `key` in one commit; the write's own outcome.
async fn put(store: &PgStore, key: &[u8], record: &[u8]) -> Result<(), StoreError> {
    let meta = meta("Running");
    let op = WriteOp::Put {
        key,
        record,
        meta: &meta,
    };
    store.commit(&[op]).await?.result(0)
}

/// Writes only the metadata at `key` in one commit; the write's own outcome.
async fn put_meta(store: &PgStore, key: &[u8], status: &'static str) -> Result<(), StoreError> {
    let meta = meta(status);
    let op = WriteOp::PutMeta { key, meta: &meta };
    store.commit(&[op]).await?.result(0)
}

/// The epoch a record was last written under.
async fn record_epoch(store: &PgStore, key: &[u8]) -> i64 {
    let url = pg_support::url("record_epoch").unwrap();
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let task = tokio::spawn(connection);
    let row = client
        .query_one(
            "SELECT epoch FROM fsm_records WHERE group_name = $1 AND machine_id = $2",
            &[&store.group(), &key],
        )
        .await
        .unwrap();
    drop(client);
    let _ = task.await;
    row.get(0)
}

fn assert_not_owner(error: &StoreError, expected_owner: &str) {
    match error {
        StoreError::NotOwner { owner, .. } => {
            assert_eq!(owner.as_deref(), Some(expected_owner));
        }
        other => panic!("expected NotOwner, got {other}"),
    }
    match pg_error(error) {
        PgError::NotOwner { owner, shard, .. } => {
            assert_eq!(owner.as_deref(), Some(expected_owner));
            assert_eq!(*shard, 0);
        }
        other => panic!("unexpected {other}"),
    }
    let named = format!("owned by instance \"{expected_owner}\"");
    assert!(error.to_string().contains(&named), "{error}");
}

fn assert_stale(error: &StoreError) {
    assert!(matches!(pg_error(error), PgError::Stale { .. }), "{error}");
    assert!(
        error
            .to_string()
            .contains("changed since this instance read it")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a PostgreSQL server: bash .ci/pg cargo test -p fsm-postgres -- --include-ignored"]
async fn stale_owner_never_overwrites_a_newer_record() {
    let Some((a, b)) = paused_pair("stale_owner_never_overwrites_a_newer_record").await else {
        return;
    };
    let key = b"machine-1";
    assert_eq!(read(&a, key).await, None);
    put(&a, key, b"a1").await.unwrap();
    assert_eq!(record_epoch(&a, key).await, 1);

    // a's lease runs: b is refused, and told who owns the machine.
    assert_eq!(read(&b, key).await.as_deref(), Some(&b"a1"[..]));
    assert_not_owner(&put(&b, key, b"b1").await.unwrap_err(), "a");

    // a is paused past its lease: b takes the shard (next epoch) and writes.
    take_over(&b, key).await;
    put(&b, key, b"b1").await.unwrap();
    assert_eq!(record_epoch(&b, key).await, 2);

    // a wakes up and writes from its old copy under its old epoch: the statement finds the
    // shard leased to b and refuses it, naming b.
    assert_not_owner(
        &put(&a, key, b"a2 from a stale copy").await.unwrap_err(),
        "b",
    );
    // Once b's lease ran out a takes the shard back, but its copy is still old: the record's
    // version check refuses it. a must read the record again first.
    take_over(&a, key).await;
    assert_stale(&put(&a, key, b"a2 from a stale copy").await.unwrap_err());
    assert_eq!(read(&a, key).await.as_deref(), Some(&b"b1"[..]));
    put(&a, key, b"a2").await.unwrap();
    assert_eq!(record_epoch(&a, key).await, 3);

    // Now b is the paused former owner whose copy (b1) is old: refused by its epoch while a's
    // lease runs, by the record's version once it holds the shard again.
    assert_not_owner(
        &put(&b, key, b"b2 from a stale copy").await.unwrap_err(),
        "a",
    );
    take_over(&b, key).await;
    assert_stale(&put(&b, key, b"b2 from a stale copy").await.unwrap_err());
    assert_eq!(read(&b, key).await.as_deref(), Some(&b"a2"[..]));
    put(&b, key, b"b2").await.unwrap();
    assert_eq!(read(&a, key).await.as_deref(), Some(&b"b2"[..]));
    assert_eq!(record_epoch(&b, key).await, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a PostgreSQL server: bash .ci/pg cargo test -p fsm-postgres -- --include-ignored"]
async fn metadata_writes_are_fenced_like_record_writes() {
    let Some((a, b)) = paused_pair("metadata_writes_are_fenced_like_record_writes").await else {
        return;
    };
    let key = b"machine-1";
    assert_eq!(read(&a, key).await, None);
    put(&a, key, b"a1").await.unwrap();
    assert_eq!(read(&b, key).await.as_deref(), Some(&b"a1"[..]));

    // a owns the shard: b may not change the machine's metadata either.
    assert_not_owner(&put_meta(&b, key, "Halted").await.unwrap_err(), "a");
    // a records a failure (metadata only); b's copy is now behind.
    put_meta(&a, key, "Failed").await.unwrap();
    take_over(&b, key).await;
    assert_stale(&put(&b, key, b"b1 over a's failure").await.unwrap_err());
    // b reloads and sees a's metadata, with the record unchanged.
    let entry = b.get(key).await.unwrap().unwrap();
    assert_eq!(entry.record.as_deref(), Some(&b"a1"[..]));
    assert_eq!(entry.meta.unwrap().status, "Failed");
    put_meta(&b, key, "Running").await.unwrap();
    // a's metadata write under its old epoch is refused, and from its old copy once it holds
    // the shard again.
    assert_not_owner(&put_meta(&a, key, "Failed again").await.unwrap_err(), "b");
    take_over(&a, key).await;
    assert_stale(&put_meta(&a, key, "Failed again").await.unwrap_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a PostgreSQL server: bash .ci/pg cargo test -p fsm-postgres -- --include-ignored"]
async fn groups_on_two_instances_never_lose_an_acknowledged_event() {
    let test = "groups_on_two_instances_never_lose_an_acknowledged_event";
    let Some((a_store, b_store)) = paused_pair(test).await else {
        return;
    };
    let key = 1u64.to_be_bytes();
    let a: Group<JobFsm, Env, u64, PgStore> = Group::builder(a_store.clone(), Env::default())
        .open()
        .await
        .unwrap();
    let b: Group<JobFsm, Env, u64, PgStore> = Group::builder(b_store.clone(), Env::default())
        .open()
        .await
        .unwrap();
    a.begin(1, Job::new(1, OnRun::Nothing)).await.unwrap();
    a.send_sync(1, JobInput::Tick(1)).await.unwrap();

    // a owns machine 1: b's event is refused with the owner's name and handed back, nothing
    // applied.
    let refused = b.send_sync(1, JobInput::Tick(10)).await.unwrap_err();
    match &refused {
        SendError::Store {
            id: 1,
            source: StoreError::NotOwner { owner, .. },
            ..
        } => assert_eq!(owner.as_deref(), Some("a")),
        other => panic!("expected NotOwner, got {other}"),
    }
    assert!(
        refused.to_string().contains("owned by instance \"a\""),
        "{refused}"
    );
    assert!(matches!(refused.into_input(), Some(JobInput::Tick(10))));
    assert_eq!(b.get(&1).await.unwrap().unwrap().count, 1);

    // a pauses past its lease; b takes the shard over.
    take_over(&b_store, &key).await;
    b.send_sync(1, JobInput::Tick(10)).await.unwrap();

    // a's cached copy (count 1) is stale: its event is refused, not written over b's.
    let refused = a.send_sync(1, JobInput::Tick(100)).await.unwrap_err();
    assert!(
        refused.to_string().contains("owned by instance \"b\""),
        "{refused}"
    );
    assert_eq!(a.get(&1).await.unwrap().unwrap().count, 11);

    // Once b's lease ran out, a takes the shard back and builds on b's event (the first send
    // may find its cached copy stale and reload it).
    take_over(&a_store, &key).await;
    let mut tries = 0;
    loop {
        tries += 1;
        match a.send_sync(1, JobInput::Tick(100)).await {
            Ok(_) => break,
            Err(error) if tries < 2 => assert!(error.to_string().contains("changed"), "{error}"),
            Err(error) => panic!("{error}"),
        }
    }
    assert_eq!(b.get(&1).await.unwrap().unwrap().count, 111);
    a.close().await.unwrap();
    b.close().await.unwrap();
}
