//! The store's life on disk: closing and reopening, damaged and foreign files, a store written
//! by an older version (no header, no metadata), keys that are not ids, failure records across
//! a restart. Every damaged file is built here, by the test.

#![allow(clippy::unwrap_used)]

mod group_support;

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Arc;

use fsm_runtime::codec::{Codec, DagCbor};
use fsm_runtime::group::{OpenError, Page, ReadError};
use fsm_runtime::store::{
    FailureKind, Filter, MemoryStore, Meta, RedbStore, ScanRequest, Store, StoreError, WriteOp,
};
use fsm_runtime::{EntryErrorPolicy, Group};
use group_support::*;

async fn open_redb(path: &Path) -> DynStore {
    Arc::new(RedbStore::open(path).unwrap())
}

async fn job_group(store: DynStore, env: &Env) -> JobGroup {
    Group::builder(store, env.clone()).open().await.unwrap()
}

/// A finished store of `machines` jobs, half of them run to `Done`, closed.
async fn finished_store(path: &Path, machines: u64) {
    let env = Env::default();
    let group = job_group(open_redb(path).await, &env).await;
    for id in 0..machines {
        group.begin(id, Job::new(id, OnRun::Nothing)).await.unwrap();
        if id % 2 == 0 {
            group.send_sync(id, JobInput::Start).await.unwrap();
            group.send_sync(id, JobInput::Finish).await.unwrap();
        }
    }
    group.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_and_reopen_the_same_file_a_thousand_times() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cycle.redb");
    let env = Env::default();
    for cycle in 0..1000_u64 {
        let store = match RedbStore::open(&path) {
            Ok(store) => store,
            Err(error) => panic!("cycle {cycle}: {error}"),
        };
        let group = job_group(Arc::new(store), &env).await;
        group
            .begin(cycle, Job::new(cycle, OnRun::Nothing))
            .await
            .unwrap();
        group.send_sync(cycle, JobInput::Start).await.unwrap();
        let reader = group.clone();
        group.close().await.unwrap();
        // Reads through a remaining handle fail with `Closed`.
        let error = reader.get(&cycle).await.unwrap_err();
        assert!(
            matches!(error, ReadError::Store(StoreError::Closed)),
            "cycle {cycle}: {error}"
        );
    }
    let group = job_group(open_redb(&path).await, &env).await;
    let listing = group.list(Page::all()).await.unwrap();
    assert_eq!(listing.items.len(), 1000);
    assert!(listing.errors.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_after_stop_work_until_close() {
    let backend = Backend::redb();
    let env = Env::default();
    let group = backend.job_group(&env).await;
    group.begin(1, Job::new(1, OnRun::Nothing)).await.unwrap();
    group.stop().await;
    assert!(group.get(&1).await.unwrap().is_some());
    group.close().await.unwrap();
    group.close().await.unwrap();
    assert!(matches!(
        group.has(&1).await,
        Err(ReadError::Store(StoreError::Closed))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_file_is_refused_not_taken_for_a_new_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("truncated.redb");
    finished_store(&path, 10).await;
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(0)
        .unwrap();
    let error = RedbStore::open(&path).unwrap_err();
    assert!(matches!(error, StoreError::Damaged(_)), "{error}");
    assert!(error.to_string().contains("empty file"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_and_foreign_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();

    let half = dir.path().join("half.redb");
    finished_store(&half, 200).await;
    let len = std::fs::metadata(&half).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(&half)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    // Either refused at once, or opened (redb repairs what it can) and then every read
    // answers with data or an error: never a panic.
    if let Ok(store) = RedbStore::open(&half) {
        let store: DynStore = Arc::new(store);
        let _ = Group::<JobFsm, Env, u64, DynStore>::builder(store, Env::default())
            .open()
            .await;
    }

    let garbage = dir.path().join("garbage.redb");
    std::fs::write(
        &garbage,
        b"this is not a database, just some text\n".repeat(200),
    )
    .unwrap();
    let error = RedbStore::open(&garbage).unwrap_err();
    assert!(matches!(error, StoreError::Damaged(_)), "{error}");

    let foreign = dir.path().join("foreign.redb");
    {
        let db = redb::Database::create(&foreign).unwrap();
        let txn = db.begin_write().unwrap();
        let table: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("accounts");
        txn.open_table(table).unwrap().insert("alice", 7).unwrap();
        txn.commit().unwrap();
    }
    let error = RedbStore::open(&foreign).unwrap_err();
    assert!(error.to_string().contains("another program"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zeroed_page_is_an_error_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let finished = dir.path().join("finished.redb");
    finished_store(&finished, 2000).await;
    let len = std::fs::metadata(&finished).unwrap().len();
    let pages = len / 4096;
    assert!(pages > 16, "the store spans many pages ({len} bytes)");
    let (mut refused, mut failed, mut read) = (0, 0, 0);
    // One zeroed 4 KiB page at a time, at eight places spread over the file.
    for place in 1..=8 {
        let path = dir.path().join(format!("zeroed-{place}.redb"));
        std::fs::copy(&finished, &path).unwrap();
        {
            let mut file = OpenOptions::new().write(true).open(&path).unwrap();
            file.seek(SeekFrom::Start(pages * place / 9 * 4096))
                .unwrap();
            file.write_all(&[0; 4096]).unwrap();
            file.sync_all().unwrap();
        }
        let store = match RedbStore::open(&path) {
            Ok(store) => Arc::new(store) as DynStore,
            Err(error) => {
                assert!(
                    matches!(error, StoreError::Damaged(_) | StoreError::Failed(_)),
                    "{error}"
                );
                refused += 1;
                continue;
            }
        };
        let opened = Group::<JobFsm, Env, u64, DynStore>::builder(store, Env::default())
            .resume_on_open(true)
            .open()
            .await;
        let Ok(group) = opened else {
            refused += 1;
            continue;
        };
        let mut page = Some(Page::first(100));
        let mut outcome = None;
        while let Some(this) = page.take() {
            match group.list(this).await {
                Ok(listing) => page = listing.next,
                Err(error) => outcome = Some(error),
            }
        }
        let _ = group.resume().await;
        let _ = group.by_status(Status::Done, Page::all()).await;
        match outcome {
            Some(ReadError::Store(StoreError::Failed(reason))) => {
                // A panic inside redb failed the store: every later call says so.
                assert!(reason.contains("redb panicked"), "{reason}");
                assert!(matches!(
                    group.get(&1).await,
                    Err(ReadError::Store(StoreError::Failed(_)))
                ));
                failed += 1;
            }
            _ => read += 1,
        }
        let _ = group.close().await;
    }
    assert_eq!(refused + failed + read, 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_key_is_one_error_of_a_listing() {
    for backend in [Backend::memory(), Backend::redb()] {
        let env = Env::default();
        let group = backend.job_group(&env).await;
        for id in 1..=3 {
            group.begin(id, Job::new(id, OnRun::Nothing)).await.unwrap();
        }
        // A 7-byte key: no u64 id.
        let meta = Meta::new("New", false);
        let op = WriteOp::Put {
            key: b"1234567",
            record: b"\xa0",
            meta: &meta,
        };
        backend.store.commit(&[op]).await.unwrap();

        let listing = group.list(Page::all()).await.unwrap();
        assert_eq!(listing.items.len(), 3);
        assert_eq!(listing.errors.len(), 1);
        assert!(matches!(listing.errors[0], ReadError::BadKey(_)));
        let new = group.by_status(Status::New, Page::all()).await.unwrap();
        assert_eq!(new.items.len(), 3);
        assert_eq!(new.errors.len(), 1);
        let idle = group
            .idle_longer_than(std::time::Duration::ZERO, Page::all())
            .await
            .unwrap();
        assert_eq!(idle.items.len(), 3);
        assert_eq!(idle.errors.len(), 1);
        let report = group.resume().await.unwrap();
        assert_eq!(report.errors.len(), 1, "{report:?}");
        group.close().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_records_and_idleness_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("failures.redb");
    let env = Env::default();
    {
        let group = job_group(open_redb(&path).await, &env).await;
        let mut subscription = group.subscribe();
        group.begin(1, Job::new(1, OnRun::Fail)).await.unwrap();
        group.begin(2, Job::new(2, OnRun::Panic)).await.unwrap();
        group.begin(3, Job::new(3, OnRun::Nothing)).await.unwrap();
        for id in 1..=3 {
            group.send_sync(id, JobInput::Start).await.unwrap();
        }
        next_entry_failure(&mut subscription, 1).await;
        next_entry_failure(&mut subscription, 2).await;
        group.close().await.unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(20));
    let group = job_group(open_redb(&path).await, &env).await;
    let mut failures = group.failures(Page::all()).await.unwrap().items;
    failures.sort_by_key(|failure| failure.id);
    let kinds: Vec<_> = failures.iter().map(|f| (f.id, f.kind, f.halted)).collect();
    assert_eq!(
        kinds,
        vec![
            (1, FailureKind::EntryFuncError, false),
            (2, FailureKind::EntryFuncPanic, false)
        ]
    );
    assert!(failures[0].error.contains("run failed for job 1"));
    assert_eq!(failures[0].status, Status::Running);
    // Idle since before the restart, by the stored last-activity time.
    let idle = group
        .idle_longer_than(std::time::Duration::from_millis(10), Page::all())
        .await
        .unwrap();
    let mut ids = idle.items;
    ids.sort_unstable();
    assert_eq!(ids, vec![1, 2, 3]);
    // A later event clears the failure record.
    group.send_sync(1, JobInput::Pause).await.unwrap();
    let left: Vec<u64> = group
        .failures(Page::all())
        .await
        .unwrap()
        .items
        .iter()
        .map(|failure| failure.id)
        .collect();
    assert_eq!(left, vec![2]);
    group.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_halt_survives_a_restart_on_memory_too() {
    let store: DynStore = Arc::new(MemoryStore::new());
    let env = Env::default();
    let open = || {
        Group::<JobFsm, Env, u64, DynStore>::builder(Arc::clone(&store), env.clone())
            .entry_error_policy(EntryErrorPolicy::Terminal)
            .open()
    };
    let group = open().await.unwrap();
    let mut subscription = group.subscribe();
    group.begin(1, Job::new(1, OnRun::Fail)).await.unwrap();
    group.send_sync(1, JobInput::Start).await.unwrap();
    next_entry_failure(&mut subscription, 1).await;
    group.stop().await;
    let group = open().await.unwrap();
    let error = group.send_sync(1, JobInput::Pause).await.unwrap_err();
    assert!(error.to_string().contains("halted"), "{error}");
}

/// Writes a store the way the previous version did: one `fsm_records` table of DAG-CBOR
/// records, no header, no metadata.
fn write_unversioned_store(path: &Path, jobs: &[Job]) {
    let db = redb::Database::create(path).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let records: redb::TableDefinition<&[u8], &[u8]> =
            redb::TableDefinition::new("fsm_records");
        let mut table = txn.open_table(records).unwrap();
        for job in jobs {
            let mut bytes = Vec::new();
            DagCbor.encode(job, &mut bytes).unwrap();
            table
                .insert(job.id.to_be_bytes().as_slice(), bytes.as_slice())
                .unwrap();
        }
        // One record the upgrade cannot decode.
        table
            .insert(99_u64.to_be_bytes().as_slice(), [0xff_u8, 0x00].as_slice())
            .unwrap();
    }
    txn.commit().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_headerless_store_opens_only_through_the_upgrade_option() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.redb");
    let mut jobs: Vec<Job> = (1..=5).map(|id| Job::new(id, OnRun::Nothing)).collect();
    jobs[1].status = Status::Running;
    jobs[2].status = Status::Done;
    write_unversioned_store(&path, &jobs);

    let env = Env::default();
    let store = open_redb(&path).await;
    let refused = Group::<JobFsm, Env, u64, DynStore>::builder(Arc::clone(&store), env.clone())
        .open()
        .await
        .unwrap_err();
    assert!(
        matches!(refused, OpenError::Unversioned { .. }),
        "{refused}"
    );
    assert!(
        refused.to_string().contains("upgrade_unversioned"),
        "{refused}"
    );

    let group = Group::<JobFsm, Env, u64, DynStore>::builder(Arc::clone(&store), env.clone())
        .upgrade_unversioned(true)
        .open()
        .await
        .unwrap();
    let running = group.by_status(Status::Running, Page::all()).await.unwrap();
    assert_eq!(running.items, vec![2]);
    let listing = group.list(Page::all()).await.unwrap();
    assert_eq!(listing.items.len(), 5);
    // The undecodable record: its record is corrupt and it has no metadata.
    assert_eq!(listing.errors.len(), 2, "{:?}", listing.errors);
    assert!(
        listing
            .errors
            .iter()
            .all(|e| e.to_string().contains("machine 99"))
    );
    group.send_sync(1, JobInput::Start).await.unwrap();
    group.close().await.unwrap();

    // Opened again, the header is there: no upgrade needed.
    let group = job_group(open_redb(&path).await, &env).await;
    assert_eq!(
        group.get(&1).await.unwrap().unwrap().status,
        Status::Running
    );
    let active = ScanRequest {
        prefix: b"",
        filter: Filter::Status("Running"),
        after: None,
        limit: 10,
        with_records: false,
    };
    let store = open_redb(&dir.path().join("other.redb")).await;
    assert!(store.scan(active).await.unwrap().entries.is_empty());
    group.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_groups_prefix_or_codec_is_refused() {
    let store: DynStore = Arc::new(MemoryStore::new());
    let env = Env::default();
    let group = Group::<JobFsm, Env, u64, DynStore>::builder(Arc::clone(&store), env.clone())
        .name("jobs")
        .open()
        .await
        .unwrap();
    group.begin(1, Job::new(1, OnRun::Nothing)).await.unwrap();
    group.stop().await;
    let error = Group::<JobFsm, Env, u64, DynStore>::builder(Arc::clone(&store), env.clone())
        .name("deals")
        .open()
        .await
        .unwrap_err();
    assert!(matches!(error, OpenError::WrongGroup { .. }), "{error}");
    // Another prefix is another group.
    Group::<JobFsm, Env, u64, DynStore>::builder(Arc::clone(&store), env.clone())
        .name("deals")
        .key_prefix(b"deals/".to_vec())
        .open()
        .await
        .unwrap();
}
