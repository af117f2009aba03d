//! The command line: bad flags and unusable data directories give one line on stderr and a
//! non-zero exit (never a panic); `--help` explains every flag; `--diagram` prints the
//! provider's diagram.

#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

fn sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_provider-sim"))
        .args(args)
        .output()
        .unwrap()
}

fn sim_in(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_provider-sim"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .unwrap()
}

/// Asserts that `output` failed with exit code `code` and a single stderr line containing
/// `expected`, and returns that line.
fn one_line_error(output: &Output, code: i32, expected: &str) -> String {
    let stderr = String::from_utf8(output.stderr.clone()).unwrap();
    assert_eq!(output.status.code(), Some(code), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "not one line: {stderr:?}");
    assert!(stderr.starts_with("provider_sim: "), "{stderr:?}");
    assert!(stderr.contains(expected), "{stderr:?} lacks {expected:?}");
    assert!(!stderr.contains("panicked"), "{stderr:?}");
    assert!(output.stdout.is_empty());
    stderr
}

#[test]
fn bad_flags_are_one_line_usage_errors() {
    let cases: [(&[&str], &str); 9] = [
        (&["--deals", "0"], "--deals"),
        (&["--deals", "lots"], "--deals"),
        (&["--concurrency", "0"], "--concurrency"),
        (&["--free", "1.5"], "1.5 is not between 0 and 1"),
        (&["--client-cancel", "x"], "`x` is not a number"),
        (&["--store", "sqlite"], "sqlite"),
        (&["--diagram", "dot"], "dot"),
        (&["--resume", "--deals", "5"], "--deals"),
        (&["--bogus"], "--bogus"),
    ];
    for (args, expected) in cases {
        one_line_error(&sim(args), 2, expected);
    }
    // Shares that are each valid but add up to more than every deal.
    one_line_error(
        &sim(&[
            "--unseal-failure",
            "0.5",
            "--client-cancel",
            "0.3",
            "--transfer-error",
            "0.3",
        ]),
        2,
        "at most 1",
    );
    one_line_error(
        &sim(&["--free", "0.8", "--paid-unseal", "0.5"]),
        2,
        "at most 1",
    );
}

#[test]
fn unusable_data_directories_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();

    // A regular file where the directory should be.
    let file = dir.path().join("file");
    fs::write(&file, "not a directory").unwrap();
    one_line_error(
        &sim_in(&file, &["--deals", "1"]),
        1,
        "cannot use data directory",
    );
    one_line_error(
        &sim_in(&file.join("below"), &["--deals", "1"]),
        1,
        "cannot use data directory",
    );

    // A directory holding someone else's files is not emptied.
    let foreign = dir.path().join("foreign");
    fs::create_dir(&foreign).unwrap();
    fs::write(foreign.join("notes.txt"), "keep me").unwrap();
    one_line_error(
        &sim_in(&foreign, &["--deals", "1"]),
        1,
        "holds no provider_sim run",
    );
    assert_eq!(
        fs::read_to_string(foreign.join("notes.txt")).unwrap(),
        "keep me"
    );

    // Nothing to resume.
    let empty = dir.path().join("empty");
    fs::create_dir(&empty).unwrap();
    one_line_error(&sim_in(&empty, &["--resume"]), 1, "nothing to resume");
    one_line_error(
        &sim_in(&empty, &["--resume", "--store", "memory"]),
        1,
        "nothing to resume",
    );

    // A damaged manifest.
    let damaged = dir.path().join("damaged");
    fs::create_dir(&damaged).unwrap();
    fs::write(
        damaged.join("provider-sim.run"),
        "version = 1\ndeals = many\n",
    )
    .unwrap();
    one_line_error(
        &sim_in(&damaged, &["--resume"]),
        1,
        "cannot read run manifest",
    );
}

#[test]
fn help_explains_every_flag() {
    let output = sim(&["--help"]);
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for flag in [
        "--deals",
        "--concurrency",
        "--seed",
        "--unseal-failure",
        "--client-cancel",
        "--transfer-error",
        "--paid-unseal",
        "--free",
        "--store",
        "--data-dir",
        "--resume",
        "--diagram",
        "--stall-timeout",
        "--no-progress",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
}

#[test]
fn diagram_prints_the_committed_provider_diagram() {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs");
    for (format, file) in [
        ("mermaid", "retrievalprovider.mmd"),
        ("plantuml", "retrievalprovider.puml"),
    ] {
        let output = sim(&["--diagram", format]);
        assert!(output.status.success());
        let printed = String::from_utf8(output.stdout).unwrap();
        assert_eq!(
            printed,
            fs::read_to_string(docs.join(file)).unwrap(),
            "{format}"
        );
    }
}
