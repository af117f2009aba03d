//! Leases and fencing: a write to a machine another live instance owns is refused naming the
//! owner; an expired lease is taken with the next epoch; a former owner whose lease ran out
//! (paused, partitioned: here, no renewal) can never overwrite the newer record.

#![allow(clippy::unwrap_used)]

#[path = "../../fsm-runtime/tests/group_support/mod.rs"]
mod group_support;
mod pg_support;

use std::time::Duration;

use fsm_postgres::{PgError, PgStore, PgStoreBuilder};
use fsm_runtime::Group;
use fsm_runtime::group::SendError;
use fsm_runtime::store::{Meta, Store, StoreError, WriteOp};
use group_support::*;

fn pg_error(error: &StoreError) -> &PgError {
    match error {
        StoreError::Backend(backend) => backend.downcast_ref::<PgError>().unwrap(),
        other => panic!("not a PostgreSQL error: {other}"),
    }
}

/// Two instances of one group whose leases are not renewed (paused instances).
async fn paused_pair(test: &str) -> Option<(String, PgStore, PgStore)> {
    let (url, builder) = pg_support::builder(test)?;
    let open = |owner: &str| {
        builder
            .clone()
            .owner(owner)
            .lease_ttl(pg_support::SHORT_LEASE)
            .renew_leases(false)
            .connect()
    };
    let a = open("a").await.unwrap();
    let b = open("b").await.unwrap();
    Some((url, a, b))
}

/// Waits until the lease of `key` has run out.
async fn outlive_lease(store: &PgStore, key: &[u8]) {
    let (_, left) = store.owner_of(key).await.unwrap().unwrap();
    tokio::time::sleep(left + Duration::from_millis(100)).await;
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
async fn record_epoch(url: &str, group: &str, key: &[u8]) -> i64 {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let task = tokio::spawn(connection);
    let row = client
        .query_one(
            "SELECT epoch FROM fsm_records WHERE group_name = $1 AND machine_id = $2",
            &[&group, &key],
        )
        .await
        .unwrap();
    drop(client);
    let _ = task.await;
    row.get(0)
}

fn assert_not_owner(error: &StoreError, expected_owner: &str) {
    match pg_error(error) {
        PgError::NotOwner { owner, .. } => assert_eq!(owner, expected_owner),
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
async fn stale_owner_never_overwrites_a_newer_record() {
    let Some((url, a, b)) = paused_pair("stale_owner_never_overwrites_a_newer_record").await else {
        return;
    };
    let key = b"machine-1";
    assert_eq!(read(&a, key).await, None);
    put(&a, key, b"a1").await.unwrap();
    assert_eq!(record_epoch(&url, a.group(), key).await, 1);

    // a's lease runs: b is refused, and told who owns the machine.
    assert_eq!(read(&b, key).await.as_deref(), Some(&b"a1"[..]));
    assert_not_owner(&put(&b, key, b"b1").await.unwrap_err(), "a");

    // a is paused past its lease: b re-reads, takes the machine (next epoch) and writes.
    outlive_lease(&a, key).await;
    assert_eq!(read(&b, key).await.as_deref(), Some(&b"a1"[..]));
    put(&b, key, b"b1").await.unwrap();
    assert_eq!(b.owner_of(key).await.unwrap().unwrap().0, "b");
    assert_eq!(record_epoch(&url, b.group(), key).await, 2);

    // a wakes up and writes from its old copy: refused while b's lease runs ...
    assert_not_owner(
        &put(&a, key, b"a2 from a stale copy").await.unwrap_err(),
        "b",
    );
    // ... and after it: a must read the record again first.
    outlive_lease(&b, key).await;
    assert_stale(&put(&a, key, b"a2 from a stale copy").await.unwrap_err());
    assert_eq!(read(&a, key).await.as_deref(), Some(&b"b1"[..]));
    put(&a, key, b"a2").await.unwrap();
    assert_eq!(record_epoch(&url, a.group(), key).await, 3);

    // Now b is the paused former owner whose copy (b1) is old. Once a's lease ran out, b's
    // write takes the lease but fails the fence: the record is not the version b wrote.
    outlive_lease(&a, key).await;
    assert_stale(&put(&b, key, b"b2 from a stale copy").await.unwrap_err());
    assert_eq!(read(&a, key).await.as_deref(), Some(&b"a2"[..]));
    assert_eq!(read(&b, key).await.as_deref(), Some(&b"a2"[..]));
    put(&b, key, b"b2").await.unwrap();
    assert_eq!(read(&a, key).await.as_deref(), Some(&b"b2"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_writes_are_fenced_like_record_writes() {
    let Some((_, a, b)) = paused_pair("metadata_writes_are_fenced_like_record_writes").await else {
        return;
    };
    let key = b"machine-1";
    assert_eq!(read(&a, key).await, None);
    put(&a, key, b"a1").await.unwrap();
    assert_eq!(read(&b, key).await.as_deref(), Some(&b"a1"[..]));

    // a owns the machine: b may not change its metadata either.
    assert_not_owner(&put_meta(&b, key, "Halted").await.unwrap_err(), "a");
    // a records a failure (metadata only); b's copy is now behind.
    put_meta(&a, key, "Failed").await.unwrap();
    outlive_lease(&a, key).await;
    assert_stale(&put(&b, key, b"b1 over a's failure").await.unwrap_err());
    // b reloads and sees a's metadata, with the record unchanged.
    let entry = b.get(key).await.unwrap().unwrap();
    assert_eq!(entry.record.as_deref(), Some(&b"a1"[..]));
    assert_eq!(entry.meta.unwrap().status, "Failed");
    put_meta(&b, key, "Running").await.unwrap();
    assert_eq!(b.owner_of(key).await.unwrap().unwrap().0, "b");
    // a's metadata write from its old copy is refused once b's lease ran out too.
    outlive_lease(&b, key).await;
    assert_stale(&put_meta(&a, key, "Failed again").await.unwrap_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_on_two_instances_never_lose_an_acknowledged_event() {
    let test = "groups_on_two_instances_never_lose_an_acknowledged_event";
    let Some((url, a, b)) = paused_pair(test).await else {
        return;
    };
    // Only reads leases.
    let observer = PgStoreBuilder::new(&url, a.group())
        .connect()
        .await
        .unwrap();
    let key = 1u64.to_be_bytes();
    let a: Group<JobFsm, Env, u64, PgStore> =
        Group::builder(a, Env::default()).open().await.unwrap();
    let b: Group<JobFsm, Env, u64, PgStore> =
        Group::builder(b, Env::default()).open().await.unwrap();
    a.begin(1, Job::new(1, OnRun::Nothing)).await.unwrap();
    a.send_sync(1, JobInput::Tick(1)).await.unwrap();

    // a owns machine 1: b's event is refused with the owner's name, nothing applied.
    let refused = b.send_sync(1, JobInput::Tick(10)).await.unwrap_err();
    assert!(
        matches!(refused, SendError::Store { id: 1, .. }),
        "{refused}"
    );
    assert!(
        refused.to_string().contains("owned by instance \"a\""),
        "{refused}"
    );
    assert_eq!(b.get(&1).await.unwrap().unwrap().count, 1);

    // a pauses past its lease; b takes the machine over.
    outlive_lease(&observer, &key).await;
    b.send_sync(1, JobInput::Tick(10)).await.unwrap();
    assert_eq!(observer.owner_of(&key).await.unwrap().unwrap().0, "b");

    // a's cached copy (count 1) is stale: its event is refused, not written over b's.
    let refused = a.send_sync(1, JobInput::Tick(100)).await.unwrap_err();
    assert!(
        refused.to_string().contains("owned by instance \"b\""),
        "{refused}"
    );
    assert_eq!(a.get(&1).await.unwrap().unwrap().count, 11);

    // Once b's lease ran out, a (which reloaded the record after the refusal) takes the
    // machine back and builds on b's event.
    outlive_lease(&observer, &key).await;
    a.send_sync(1, JobInput::Tick(100)).await.unwrap();
    assert_eq!(b.get(&1).await.unwrap().unwrap().count, 111);
    a.close().await.unwrap();
    b.close().await.unwrap();
    observer.close().await.unwrap();
}
