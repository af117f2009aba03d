//! What a run is asked to do: [`Config`] (built by the command line in [`super::cli`], or
//! directly by tests) and its parts.

use std::path::PathBuf;
use std::time::Duration;

/// The share of deals taking each fault and pricing path. Each value is a probability in
/// `[0, 1]`; the three faults exclude each other (their sum is at most 1), and so do the two
/// pricing paths (`free + paid_unseal` is at most 1; the rest are paid without an unseal fee).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaultMix {
    /// Deals whose blockstore cannot be prepared (`UnsealError` → `Errored`).
    pub unseal_failure: f64,
    /// Deals the client cancels (`ClientCancelled` → `Cancelled`).
    pub client_cancel: f64,
    /// Deals whose transfer fails (`DataTransferError` → `Errored`).
    pub transfer_error: f64,
    /// Deals with an unseal price > 0, paid before unsealing.
    pub paid_unseal: f64,
    /// Deals with price per byte and unseal price 0.
    pub free: f64,
}

impl Default for FaultMix {
    /// The command line's defaults: 2% unseal failures, 2% cancels, 1% transfer errors, 30%
    /// paid unseals and 10% free deals.
    fn default() -> Self {
        FaultMix {
            unseal_failure: 0.02,
            client_cancel: 0.02,
            transfer_error: 0.01,
            paid_unseal: 0.3,
            free: 0.1,
        }
    }
}

/// A fault mix that cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MixError {
    /// A share is not a probability.
    #[error("--{name} must be between 0 and 1, got {value}")]
    OutOfRange {
        /// The flag's name.
        name: &'static str,
        /// The value given.
        value: f64,
    },
    /// The faults add up to more than every deal.
    #[error("--unseal-failure + --client-cancel + --transfer-error must be at most 1, got {0}")]
    FaultsExceedOne(f64),
    /// The pricing paths add up to more than every deal.
    #[error("--free + --paid-unseal must be at most 1, got {0}")]
    PricingExceedsOne(f64),
}

impl FaultMix {
    /// The shares with their flag names, in flag order.
    pub fn named(&self) -> [(&'static str, f64); 5] {
        [
            ("unseal-failure", self.unseal_failure),
            ("client-cancel", self.client_cancel),
            ("transfer-error", self.transfer_error),
            ("paid-unseal", self.paid_unseal),
            ("free", self.free),
        ]
    }

    /// Checks that every share is a probability and the exclusive groups fit in one.
    pub fn validate(&self) -> Result<(), MixError> {
        for (name, value) in self.named() {
            if !(0.0..=1.0).contains(&value) {
                return Err(MixError::OutOfRange { name, value });
            }
        }
        let faults = self.unseal_failure + self.client_cancel + self.transfer_error;
        if faults > 1.0 + f64::EPSILON {
            return Err(MixError::FaultsExceedOne(faults));
        }
        let pricing = self.free + self.paid_unseal;
        if pricing > 1.0 + f64::EPSILON {
            return Err(MixError::PricingExceedsOne(pricing));
        }
        Ok(())
    }
}

/// Where deal records are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreKind {
    /// A redb file in the data directory; every acknowledged event is fsynced.
    Redb,
    /// In memory: nothing is written to disk and the run cannot be resumed.
    Memory,
    /// A PostgreSQL database (`--database-url`), shareable by several processes; the run's
    /// manifest stays in the data directory.
    Postgres,
}

impl StoreKind {
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            StoreKind::Redb => "redb",
            StoreKind::Memory => "memory",
            StoreKind::Postgres => "postgres",
        }
    }
}

/// The deals of a run: what [`super::manifest`] stores so a resumed run has the same plan.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlanSpec {
    /// How many deals.
    pub deals: u64,
    /// The seed every deal's plan is drawn from.
    pub seed: u64,
    /// The fault and pricing mix.
    pub mix: FaultMix,
}

/// Whether a run starts afresh or finishes an interrupted one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// A new run of this plan (replacing an earlier run in the data directory).
    Fresh(PlanSpec),
    /// Finishes the run in the data directory, with the plan stored there.
    Resume,
}

impl Config {
    /// The PostgreSQL group of the run: [`Config::group`], or `provider-sim:` followed by the
    /// data directory's absolute path (as given when it cannot be resolved).
    pub fn postgres_group(&self) -> String {
        if let Some(group) = &self.group {
            return group.clone();
        }
        let dir = std::fs::canonicalize(&self.data_dir)
            .or_else(|_| std::path::absolute(&self.data_dir))
            .unwrap_or_else(|_| self.data_dir.clone());
        format!("provider-sim:{}", dir.display())
    }
}

/// Everything a run needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Fresh or resumed.
    pub mode: Mode,
    /// How many deals are driven at once.
    pub concurrency: usize,
    /// Where deal records are kept.
    pub store: StoreKind,
    /// The PostgreSQL URL (`--database-url`), for [`StoreKind::Postgres`].
    pub database_url: Option<String>,
    /// The group the run's records are kept under in PostgreSQL (`--group`); `None`: one
    /// derived from the data directory ([`Config::postgres_group`]), so that two runs in
    /// different directories never share records.
    pub group: Option<String>,
    /// The directory holding the redb file and the run manifest (redb only).
    pub data_dir: PathBuf,
    /// How long a client waits for the provider before it gives up on its deal.
    pub stall_timeout: Duration,
    /// Whether to draw a progress bar (it is drawn only when stdout is a terminal anyway).
    pub progress: bool,
}
