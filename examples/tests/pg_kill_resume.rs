//! `provider_sim --store postgres` SIGKILLed mid-run, then `--resume`: the resumed process
//! waits until the killed one's leases ran out, takes its machines over and finishes the run
//! with every deal in the status its plan leads to. Against the server `.ci/pg` starts
//! (`FSM_PG_URL`); skipped, with a notice, where no server is configured.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

const DEALS: u64 = 3_000;

/// How many of the group's deals are final now (`None` while the server does not answer).
fn final_deals(bindir: &str, url: &str, group: &str) -> Option<u64> {
    let query = format!(
        "SELECT count(*) FROM fsm_records WHERE group_name = '{}' AND is_final",
        group.replace('\'', "''")
    );
    let output = Command::new(PathBuf::from(bindir).join("psql"))
        .args(["-XAtq", "-d", url, "-c", &query])
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    String::from_utf8_lossy(&output.stdout).trim().parse().ok()
}

fn sim(url: &str, group: &str, data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_provider-sim"));
    command
        .args([
            "--store",
            "postgres",
            "--database-url",
            url,
            "--group",
            group,
        ])
        .args([
            "--concurrency",
            "64",
            "--stall-timeout",
            "60",
            "--no-progress",
        ])
        .arg("--data-dir")
        .arg(data_dir);
    command
}

#[test]
#[ignore = "needs a PostgreSQL server: bash .ci/pg cargo test -p fsm-examples -- --include-ignored"]
fn a_killed_postgres_run_is_taken_over_by_resume() {
    let (Ok(url), Ok(bindir)) = (std::env::var("FSM_PG_URL"), std::env::var("FSM_PG_BINDIR"))
    else {
        eprintln!(
            "skipped: FSM_PG_URL or FSM_PG_BINDIR is not set (bash .ci/pg cargo test ... sets them)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let group = format!("pg-kill-resume-{}", std::process::id());

    let mut child = sim(&url, &group, &data_dir)
        .args(["--deals", &DEALS.to_string(), "--seed", "4"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    while child.try_wait().unwrap().is_none()
        && final_deals(&bindir, &url, &group).is_none_or(|n| n < DEALS / 10)
    {
        sleep(Duration::from_millis(20));
    }
    let running = child.try_wait().unwrap().is_none();
    // `Child::kill` is SIGKILL on Unix: the leases stay until they run out.
    let _ = child.kill();
    child.wait().unwrap();
    assert!(
        running,
        "the run ended before it was killed: the test proved nothing"
    );

    let started = Instant::now();
    let output = sim(&url, &group, &data_dir)
        .arg("--resume")
        .output()
        .unwrap();
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("check: ok"), "{stdout}");
    // Reported, not asserted: the wait for the killed instance's leases plus the rest of the run.
    eprintln!("resume after SIGKILL finished in {took:.1?}");
}
