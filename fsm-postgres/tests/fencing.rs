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
use fsm_runtime::store::{Store, StoreError};
use group_support::*;

fn pg_error(error: &StoreError) -> &PgError {
    match error {
        StoreError::Backend(backend) => backend.downcast_ref::<PgError>().unwrap(),
        other => panic!("not a PostgreSQL error: {other}"),
    }
}

/// Two instances of one group whose leases are not renewed (paused instances).
fn paused_pair(test: &str) -> Option<(String, PgStore, PgStore)> {
    let (url, builder) = pg_support::builder(test)?;
    let open = |owner: &str| {
        builder
            .clone()
            .owner(owner)
            .lease_ttl(pg_support::SHORT_LEASE)
            .renew_leases(false)
            .connect()
            .unwrap()
    };
    Some((url, open("a"), open("b")))
}

/// Waits until the lease of `key` has run out.
fn outlive_lease(store: &PgStore, key: &[u8]) {
    let (_, left) = store.owner_of(key).unwrap().unwrap();
    std::thread::sleep(left + Duration::from_millis(100));
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
    let Some((url, a, b)) = paused_pair("stale_owner_never_overwrites_a_newer_record") else {
        return;
    };
    let key = b"machine-1";
    assert_eq!(a.get(key).unwrap(), None);
    a.put(key, b"a1").unwrap();
    assert_eq!(record_epoch(&url, a.group(), key).await, 1);

    // a's lease runs: b is refused, and told who owns the machine.
    assert_eq!(b.get(key).unwrap().as_deref(), Some(&b"a1"[..]));
    assert_not_owner(&b.put(key, b"b1").unwrap_err(), "a");

    // a is paused past its lease: b re-reads, takes the machine (next epoch) and writes.
    outlive_lease(&a, key);
    assert_eq!(b.get(key).unwrap().as_deref(), Some(&b"a1"[..]));
    b.put(key, b"b1").unwrap();
    assert_eq!(b.owner_of(key).unwrap().unwrap().0, "b");
    assert_eq!(record_epoch(&url, b.group(), key).await, 2);

    // a wakes up and writes from its old copy: refused while b's lease runs ...
    assert_not_owner(&a.put(key, b"a2 from a stale copy").unwrap_err(), "b");
    // ... and after it: a must read the record again first.
    outlive_lease(&b, key);
    assert_stale(&a.put(key, b"a2 from a stale copy").unwrap_err());
    assert_eq!(a.get(key).unwrap().as_deref(), Some(&b"b1"[..]));
    a.put(key, b"a2").unwrap();
    assert_eq!(record_epoch(&url, a.group(), key).await, 3);

    // Now b is the paused former owner whose copy (b1) is old. Once a's lease ran out, b's
    // write takes the lease but fails the fence: the record is not the version b wrote.
    outlive_lease(&a, key);
    assert_stale(&b.put(key, b"b2 from a stale copy").unwrap_err());
    assert_eq!(a.get(key).unwrap().as_deref(), Some(&b"a2"[..]));
    assert_eq!(b.get(key).unwrap().as_deref(), Some(&b"a2"[..]));
    b.put(key, b"b2").unwrap();
    assert_eq!(a.get(key).unwrap().as_deref(), Some(&b"b2"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_on_two_instances_never_lose_an_acknowledged_event() {
    let test = "groups_on_two_instances_never_lose_an_acknowledged_event";
    let Some((url, a, b)) = paused_pair(test) else {
        return;
    };
    // Only reads leases.
    let observer = PgStoreBuilder::new(&url, a.group()).connect().unwrap();
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
    assert_eq!(b.get(&1).unwrap().unwrap().count, 1);

    // a pauses past its lease; b takes the machine over.
    outlive_lease(&observer, &key);
    b.send_sync(1, JobInput::Tick(10)).await.unwrap();
    assert_eq!(observer.owner_of(&key).unwrap().unwrap().0, "b");

    // a's cached copy (count 1) is stale: its event is refused, not written over b's.
    let refused = a.send_sync(1, JobInput::Tick(100)).await.unwrap_err();
    assert!(
        refused.to_string().contains("owned by instance \"b\""),
        "{refused}"
    );
    assert_eq!(a.get(&1).unwrap().unwrap().count, 11);

    // Once b's lease ran out, a (which reloaded the record after the refusal) takes the
    // machine back and builds on b's event.
    outlive_lease(&observer, &key);
    a.send_sync(1, JobInput::Tick(100)).await.unwrap();
    assert_eq!(b.get(&1).unwrap().unwrap().count, 111);
}
