//! Kill and resume: a durable run is SIGKILLed mid-run (twice: the fresh run, then the first
//! resume), and `--resume` then finishes it. Every planned deal must end up stored exactly once,
//! in a final status, and in the status its plan leads to: none lost, none counted twice.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::Duration;

use fsm_examples::sim::manifest;
use fsm_examples::sim::plan::DealPlan;
use fsm_examples::sim::{FaultMix, PlanSpec};
use fsm_runtime::Machine;
use fsm_runtime::codec::Codec;
use fsm_runtime::store::{Filter, RedbStore, ScanRequest, Store, WriteOp};
use retrieval_provider::{DealStatus, ProviderDealStateCodec, ProviderFsm};

const SEED: u64 = 9;
const MIX: [(&str, &str); 5] = [
    ("--unseal-failure", "0.1"),
    ("--client-cancel", "0.1"),
    ("--transfer-error", "0.1"),
    ("--paid-unseal", "0.3"),
    ("--free", "0.2"),
];

fn sim(data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_provider-sim"));
    command
        .args(["--concurrency", "4", "--stall-timeout", "20", "--data-dir"])
        .arg(data_dir);
    command
}

fn spawn_fresh(data_dir: &Path, deals: u64) -> Child {
    let mut command = sim(data_dir);
    command.args(["--deals", &deals.to_string(), "--seed", &SEED.to_string()]);
    for (flag, value) in MIX {
        command.args([flag, value]);
    }
    command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn spawn_resume(data_dir: &Path) -> Child {
    sim(data_dir)
        .arg("--resume")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Waits until the run has created its store, lets it work for `run_for`, then SIGKILLs it.
/// Returns whether it was still running when killed.
fn kill_after(mut child: Child, data_dir: &Path, run_for: Duration) -> bool {
    while !manifest::store_path(data_dir).exists() && child.try_wait().unwrap().is_none() {
        sleep(Duration::from_millis(10));
    }
    sleep(run_for);
    let running = child.try_wait().unwrap().is_none();
    // `Child::kill` is SIGKILL on Unix.
    let _ = child.kill();
    child.wait().unwrap();
    running
}

/// Every stored deal's status, by deal id, read straight from the redb file.
fn stored_statuses(data_dir: &Path) -> BTreeMap<u64, DealStatus> {
    stored_statuses_but(data_dir, None)
}

/// [`stored_statuses`] without deal `skip` (whose record a test damaged).
fn stored_statuses_but(data_dir: &Path, skip: Option<u64>) -> BTreeMap<u64, DealStatus> {
    let store = RedbStore::open(manifest::store_path(data_dir)).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut statuses = BTreeMap::new();
    runtime.block_on(async {
        let request = ScanRequest {
            prefix: &[],
            filter: Filter::All,
            after: None,
            limit: usize::MAX,
            with_records: true,
        };
        for entry in store.scan(request).await.unwrap().entries {
            let id = u64::from_be_bytes(entry.key.as_slice().try_into().unwrap());
            if Some(id) == skip {
                continue;
            }
            let deal = ProviderDealStateCodec
                .decode(&entry.record.unwrap())
                .unwrap();
            // A map: a key seen twice would show up as a lost deal below.
            assert!(statuses.insert(id, deal.status).is_none());
        }
        store.close().await.unwrap();
    });
    statuses
}

/// The planned deals that are not stored in a final status.
fn unfinished(spec: &PlanSpec, statuses: &BTreeMap<u64, DealStatus>) -> usize {
    (1..=spec.deals)
        .filter(|id| !statuses.get(id).is_some_and(|s| ProviderFsm::is_final(*s)))
        .count()
}

/// Replaces deal `id`'s stored record with bytes that do not decode, keeping its metadata.
fn damage_record(data_dir: &Path, id: u64) {
    let store = RedbStore::open(manifest::store_path(data_dir)).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let key = id.to_be_bytes();
        let meta = store.get(&key).await.unwrap().unwrap().meta.unwrap();
        let op = WriteOp::Put {
            key: &key,
            record: &[0xff, 0x00, 0x13],
            meta: &meta,
        };
        store.commit(&[op]).await.unwrap().result(0).unwrap();
        store.close().await.unwrap();
    });
}

/// A fresh run killed while it still has unfinished deals (a machine fast enough to finish
/// before the kill gets a bigger run), and its plan.
fn killed_fresh_run(data_dir: &Path) -> PlanSpec {
    let mut deals = 120;
    loop {
        let killed = kill_after(
            spawn_fresh(data_dir, deals),
            data_dir,
            Duration::from_millis(600),
        );
        let spec = manifest::read(data_dir).unwrap();
        assert_eq!((spec.deals, spec.seed), (deals, SEED));
        if killed && unfinished(&spec, &stored_statuses(data_dir)) > 0 {
            return spec;
        }
        assert!(
            deals < 120 * 32,
            "the run always finished before it was killed"
        );
        deals *= 2;
    }
}

#[test]
fn a_damaged_record_is_reported_by_id_and_the_rest_finish() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let spec = killed_fresh_run(&data_dir);
    let before = stored_statuses(&data_dir);
    let (&victim, _) = before
        .iter()
        .find(|(_, status)| !ProviderFsm::is_final(**status))
        .unwrap();
    damage_record(&data_dir, victim);

    let output = sim(&data_dir).arg("--resume").output().unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!output.status.success(), "{text}");
    assert!(text.contains(&format!("machine {victim}")), "{text}");
    // Every other planned deal was finished.
    let after = stored_statuses_but(&data_dir, Some(victim));
    let unfinished: Vec<u64> = (1..=spec.deals)
        .filter(|id| *id != victim)
        .filter(|id| !after.get(id).is_some_and(|s| ProviderFsm::is_final(*s)))
        .collect();
    assert!(unfinished.is_empty(), "unfinished: {unfinished:?}\n{text}");
}

#[test]
fn killed_runs_resume_to_the_planned_end() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");

    // 1. A fresh run, killed while it still has unfinished deals.
    let spec = killed_fresh_run(&data_dir);
    let before = stored_statuses(&data_dir);
    let left = unfinished(&spec, &before);
    assert!(left > 0);

    // 2. The first resume is killed too, if it is still running after a moment.
    kill_after(
        spawn_resume(&data_dir),
        &data_dir,
        Duration::from_millis(300),
    );
    // A deal final before a resume stays as it was.
    let middle = stored_statuses(&data_dir);
    for (id, status) in &before {
        if ProviderFsm::is_final(*status) {
            assert_eq!(middle.get(id), Some(status), "deal {id}");
        }
    }

    // 3. The second resume finishes the run.
    let output = sim(&data_dir).arg("--resume").output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("resumed:"), "{stdout}");
    assert!(stdout.contains("check: ok"), "{stdout}");

    // 4. The store against the plan, independently of the program's own check.
    let after = stored_statuses(&data_dir);
    let ids: Vec<u64> = after.keys().copied().collect();
    assert_eq!(
        ids,
        (1..=spec.deals).collect::<Vec<_>>(),
        "deals lost or foreign"
    );
    let mix = FaultMix {
        unseal_failure: 0.1,
        client_cancel: 0.1,
        transfer_error: 0.1,
        paid_unseal: 0.3,
        free: 0.2,
    };
    assert_eq!(spec.mix, mix);
    for index in 0..spec.deals {
        let plan = DealPlan::generate(SEED, index, &mix);
        assert_eq!(
            after[&plan.id().0],
            plan.expected_status(),
            "deal {} ({:?}, {:?})",
            plan.id(),
            plan.kind,
            plan.fault
        );
    }
}
