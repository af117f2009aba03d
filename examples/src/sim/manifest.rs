//! The run manifest: the plan of a durable run, written to the data directory before any deal
//! starts, so that `--resume` knows which deals exist and what their clients do.
//!
//! A small `key = value` text file (readable, and no serialisation crate needed). Floats are
//! written with Rust's shortest round-trip formatting, so they read back bit for bit.

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::config::{FaultMix, PlanSpec};
use super::error::SimError;

/// The manifest's file name inside the data directory.
pub const MANIFEST_FILE: &str = "provider-sim.run";
/// The deal store's file name inside the data directory.
pub const STORE_FILE: &str = "deals.redb";
/// The manifest format version.
const VERSION: u64 = 1;

/// The manifest's path in `data_dir`.
pub fn manifest_path(data_dir: &Path) -> PathBuf {
    data_dir.join(MANIFEST_FILE)
}

/// The redb file's path in `data_dir`.
pub fn store_path(data_dir: &Path) -> PathBuf {
    data_dir.join(STORE_FILE)
}

/// The manifest text of `spec`.
pub fn render(spec: &PlanSpec) -> String {
    let mut text = String::from(
        "# provider_sim run manifest: the plan of the run in this directory (`--resume` reads it)\n",
    );
    // Writing into a String cannot fail.
    let _ = writeln!(text, "version = {VERSION}");
    let _ = writeln!(text, "deals = {}", spec.deals);
    let _ = writeln!(text, "seed = {}", spec.seed);
    for (name, value) in spec.mix.named() {
        let _ = writeln!(text, "{name} = {value:?}");
    }
    text
}

/// Parses manifest text (`path` only names the file in errors).
pub fn parse(path: &Path, text: &str) -> Result<PlanSpec, SimError> {
    let bad = |line: usize, reason: String| SimError::Manifest {
        path: path.to_owned(),
        reason: format!("line {line}: {reason}"),
    };
    let (mut version, mut deals, mut seed) = (None, None, None);
    let mut mix = FaultMix {
        unseal_failure: f64::NAN,
        client_cancel: f64::NAN,
        transfer_error: f64::NAN,
        paid_unseal: f64::NAN,
        free: f64::NAN,
    };
    for (number, line) in text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(bad(
                number,
                format!("expected `key = value`, found `{line}`"),
            ));
        };
        let (key, value) = (key.trim(), value.trim());
        let int = || {
            value
                .parse::<u64>()
                .map_err(|e| bad(number, format!("{key}: {e}")))
        };
        let float = || {
            value
                .parse::<f64>()
                .map_err(|e| bad(number, format!("{key}: {e}")))
        };
        match key {
            "version" => version = Some(int()?),
            "deals" => deals = Some(int()?),
            "seed" => seed = Some(int()?),
            "unseal-failure" => mix.unseal_failure = float()?,
            "client-cancel" => mix.client_cancel = float()?,
            "transfer-error" => mix.transfer_error = float()?,
            "paid-unseal" => mix.paid_unseal = float()?,
            "free" => mix.free = float()?,
            other => return Err(bad(number, format!("unknown key `{other}`"))),
        }
    }
    let missing = |key: &str| SimError::Manifest {
        path: path.to_owned(),
        reason: format!("missing `{key}`"),
    };
    match version {
        Some(VERSION) => {}
        Some(other) => {
            return Err(SimError::Manifest {
                path: path.to_owned(),
                reason: format!("unsupported version {other} (this build writes {VERSION})"),
            });
        }
        None => return Err(missing("version")),
    }
    for (name, value) in mix.named() {
        if value.is_nan() {
            return Err(missing(name));
        }
    }
    mix.validate().map_err(|e| SimError::Manifest {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    Ok(PlanSpec {
        deals: deals.ok_or_else(|| missing("deals"))?,
        seed: seed.ok_or_else(|| missing("seed"))?,
        mix,
    })
}

/// Reads the manifest in `data_dir`.
pub fn read(data_dir: &Path) -> Result<PlanSpec, SimError> {
    let path = manifest_path(data_dir);
    match fs::read_to_string(&path) {
        Ok(text) => parse(&path, &text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(SimError::NothingToResume {
            dir: data_dir.to_owned(),
        }),
        Err(source) => Err(SimError::DataDir {
            path: path.clone(),
            source,
        }),
    }
}

/// Writes the manifest of `spec` into `data_dir` atomically (a temporary file renamed over
/// it, then synced), so a crash leaves either no manifest or a whole one.
pub fn write(data_dir: &Path, spec: &PlanSpec) -> Result<(), SimError> {
    let path = manifest_path(data_dir);
    let temp = data_dir.join(format!("{MANIFEST_FILE}.tmp"));
    let io_error = |source| SimError::DataDir {
        path: path.clone(),
        source,
    };
    fs::write(&temp, render(spec)).map_err(io_error)?;
    fs::File::open(&temp)
        .and_then(|file| file.sync_all())
        .map_err(io_error)?;
    fs::rename(&temp, &path).map_err(io_error)?;
    // Make the rename itself durable.
    fs::File::open(data_dir)
        .and_then(|dir| dir.sync_all())
        .map_err(io_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_round_trip_exactly() {
        let spec = PlanSpec {
            deals: 1234,
            seed: u64::MAX,
            mix: FaultMix {
                unseal_failure: 0.1 + 0.2,
                client_cancel: 1.0 / 3.0,
                transfer_error: 0.0,
                paid_unseal: 1.0,
                free: 0.0,
            },
        };
        let path = Path::new("m");
        assert_eq!(parse(path, &render(&spec)).unwrap(), spec);
    }

    #[test]
    fn bad_manifests_name_the_problem() {
        let path = Path::new("m");
        let spec = PlanSpec {
            deals: 1,
            seed: 2,
            mix: FaultMix::default(),
        };
        let text = render(&spec);
        let cases = [
            (text.replace("deals = 1", "deals = x"), "line 3: deals"),
            (text.replace("seed = 2\n", ""), "missing `seed`"),
            (text.replace("version = 1", "version = 9"), "version 9"),
            (text.clone() + "colour = red\n", "unknown key `colour`"),
            (text.clone() + "garbage\n", "expected `key = value`"),
            (text.replace("free = 0.1", "free = 2.0"), "--free must be"),
        ];
        for (bad, expected) in cases {
            let error = parse(path, &bad).unwrap_err().to_string();
            assert!(error.contains(expected), "{error:?} lacks {expected:?}");
        }
    }
}
