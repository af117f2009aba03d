//! [`Summary`]: what a run did, checked against its plan, and how it is printed.

use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use fsm_runtime::Machine;
use fsm_runtime::group::Counters;
use retrieval_provider::{DealId, DealStatus, ProviderDealState, ProviderFsm};

use super::config::{PlanSpec, StoreKind};
use super::plan::{DealKind, DealPlan, Fault};

/// How many individual problems the printed summary lists before eliding the rest.
const LISTED: usize = 5;

/// `send_sync` latency percentiles, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latency {
    /// How many calls were measured.
    pub calls: usize,
    /// The median.
    pub p50: u64,
    /// The 99th percentile.
    pub p99: u64,
    /// The slowest call.
    pub max: u64,
}

impl Latency {
    /// The percentiles of the samples in `histogram`, or `None` without samples. A histogram
    /// keeps the run's latencies in a size set by their range, not their number; percentiles
    /// are exact to its 3 significant figures.
    pub fn of(histogram: &Histogram<u64>) -> Option<Latency> {
        if histogram.is_empty() {
            return None;
        }
        Some(Latency {
            calls: usize::try_from(histogram.len()).unwrap_or(usize::MAX),
            p50: histogram.value_at_quantile(0.50),
            p99: histogram.value_at_quantile(0.99),
            max: histogram.max(),
        })
    }
}

/// A deal that did not end as planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mismatch {
    /// The deal.
    pub deal: DealId,
    /// The status its plan leads to.
    pub expected: DealStatus,
    /// The status it is stored in.
    pub actual: DealStatus,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The plan.
    pub spec: PlanSpec,
    /// The store used.
    pub store: StoreKind,
    /// The redb file, for a durable run.
    pub store_path: Option<PathBuf>,
    /// Whether the run resumed an interrupted one.
    pub resumed: bool,
    /// Deals already final when the run started (resumed runs).
    pub already_final: u64,
    /// Deals this run drove (started, or picked up where they stood).
    pub driven: u64,
    /// Stored deals by status (every stored deal once).
    pub by_status: BTreeMap<DealStatus, u64>,
    /// Stored deals by planned fault and by kind, as (name, count).
    pub planned: BTreeMap<&'static str, u64>,
    /// Stored deals not in a final status, with their status.
    pub not_final: Vec<(DealId, DealStatus)>,
    /// Final deals whose status is not the one their plan leads to.
    pub unexpected: Vec<Mismatch>,
    /// Stored records that could not be decoded.
    pub corrupt: Vec<String>,
    /// Why clients gave up on deals.
    pub client_failures: Vec<String>,
    /// The group's counters (this run only).
    pub counters: Counters,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// `send_sync` latencies of the clients' events.
    pub latency: Option<Latency>,
    /// The redb file's size at the end.
    pub store_bytes: Option<u64>,
}

impl Summary {
    /// An empty summary of a run of `spec`.
    pub fn new(spec: PlanSpec, store: StoreKind, store_path: Option<PathBuf>) -> Summary {
        Summary {
            spec,
            store,
            store_path,
            resumed: false,
            already_final: 0,
            driven: 0,
            by_status: BTreeMap::new(),
            planned: BTreeMap::new(),
            not_final: Vec::new(),
            unexpected: Vec::new(),
            corrupt: Vec::new(),
            client_failures: Vec::new(),
            counters: Counters::default(),
            elapsed: Duration::ZERO,
            latency: None,
            store_bytes: None,
        }
    }

    /// Counts the stored `deal`, planned as `plan`.
    pub fn record(&mut self, plan: &DealPlan, deal: &ProviderDealState) {
        *self.by_status.entry(deal.status).or_default() += 1;
        if plan.fault != Fault::None {
            *self.planned.entry(plan.fault.name()).or_default() += 1;
        }
        let kind = match plan.kind {
            DealKind::Free => "free",
            DealKind::Paid => "paid",
            DealKind::PaidUnseal => "paid unseal",
        };
        *self.planned.entry(kind).or_default() += 1;
        if !ProviderFsm::is_final(deal.status) {
            self.not_final.push((plan.id(), deal.status));
        } else if deal.status != plan.expected_status() {
            self.unexpected.push(Mismatch {
                deal: plan.id(),
                expected: plan.expected_status(),
                actual: deal.status,
            });
        }
    }

    /// Stored deals, all statuses.
    pub fn stored(&self) -> u64 {
        self.by_status.values().sum()
    }

    /// Planned deals missing from the store.
    pub fn missing(&self) -> u64 {
        self.spec.deals.saturating_sub(self.stored())
    }

    /// Whether every planned deal is stored, final and in its expected status, with nothing
    /// corrupt and no client giving up.
    pub fn is_success(&self) -> bool {
        self.missing() == 0
            && self.not_final.is_empty()
            && self.unexpected.is_empty()
            && self.corrupt.is_empty()
            && self.client_failures.is_empty()
    }
}

/// `n` bytes in the largest binary unit that keeps it at or above 1.
struct Bytes(u64);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
        let mut value = self.0 as f64;
        let mut unit = 0;
        while value >= 1024.0 && unit + 1 < UNITS.len() {
            value /= 1024.0;
            unit += 1;
        }
        if unit == 0 {
            write!(f, "{} B", self.0)
        } else {
            write!(f, "{value:.1} {}", UNITS[unit])
        }
    }
}

/// A latency in microseconds, in µs or ms.
struct Micros(u64);

impl fmt::Display for Micros {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 < 1000 {
            write!(f, "{} µs", self.0)
        } else {
            write!(f, "{:.1} ms", self.0 as f64 / 1000.0)
        }
    }
}

fn list<T: fmt::Display>(
    f: &mut fmt::Formatter<'_>,
    heading: &str,
    items: impl ExactSizeIterator<Item = T>,
) -> fmt::Result {
    let total = items.len();
    writeln!(f, "{heading}: {total}")?;
    for item in items.take(LISTED) {
        writeln!(f, "  {item}")?;
    }
    if total > LISTED {
        writeln!(f, "  ... and {} more", total - LISTED)?;
    }
    Ok(())
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let spec = &self.spec;
        write!(
            f,
            "provider_sim: {} deals (seed {}), {} store",
            spec.deals,
            spec.seed,
            self.store.name()
        )?;
        if let Some(path) = &self.store_path {
            write!(f, " at {}", path.display())?;
        }
        writeln!(f)?;
        if self.resumed {
            writeln!(
                f,
                "resumed: {} deals were final already, {} driven on",
                self.already_final, self.driven
            )?;
        }
        writeln!(f, "deals by status:")?;
        for (status, count) in &self.by_status {
            let mark = if ProviderFsm::is_final(*status) {
                ""
            } else {
                "  (not final)"
            };
            writeln!(f, "  {:<28} {count:>8}{mark}", status.to_string())?;
        }
        if self.missing() > 0 {
            writeln!(f, "  {:<28} {:>8}", "never started", self.missing())?;
        }
        let planned: Vec<String> = self
            .planned
            .iter()
            .map(|(name, count)| format!("{count} {name}"))
            .collect();
        writeln!(f, "planned: {}", planned.join(", "))?;
        if self.is_success() {
            writeln!(
                f,
                "check: ok: all {} planned deals stored once, final, each in the status its plan leads to",
                spec.deals
            )?;
        } else {
            writeln!(f, "check: FAILED")?;
            if self.missing() > 0 {
                writeln!(f, "never started: {}", self.missing())?;
            }
            list(
                f,
                "not final",
                self.not_final
                    .iter()
                    .map(|(deal, status)| format!("deal {deal} in {status}")),
            )?;
            list(
                f,
                "unexpected final status",
                self.unexpected.iter().map(|m| {
                    format!(
                        "deal {} ended {}, expected {}",
                        m.deal, m.actual, m.expected
                    )
                }),
            )?;
            list(f, "corrupt records", self.corrupt.iter())?;
            list(f, "clients that gave up", self.client_failures.iter())?;
        }
        let counters = &self.counters;
        writeln!(
            f,
            "events: {} applied, {} rejected, {} entry-func errors, {} store commits",
            counters.events_applied,
            counters.events_rejected,
            counters.entry_errors,
            counters.commits
        )?;
        let seconds = self.elapsed.as_secs_f64().max(1e-9);
        writeln!(
            f,
            "throughput: {:.0} events/s, {:.0} deals/s ({:.2} s)",
            counters.events_applied as f64 / seconds,
            self.driven as f64 / seconds,
            seconds
        )?;
        match &self.latency {
            Some(latency) => writeln!(
                f,
                "send_sync latency: p50 {}, p99 {}, max {} ({} calls)",
                Micros(latency.p50),
                Micros(latency.p99),
                Micros(latency.max),
                latency.calls
            )?,
            None => writeln!(f, "send_sync latency: no calls")?,
        }
        match self.store_bytes {
            Some(bytes) => writeln!(f, "store size: {}", Bytes(bytes)),
            None => match self.store {
                StoreKind::Postgres => writeln!(f, "store size: in the PostgreSQL database"),
                StoreKind::Memory | StoreKind::Redb => writeln!(f, "store size: in memory"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let samples: Vec<u64> = (1..=100).rev().collect();
        let mut histogram = Histogram::<u64>::new(3).unwrap();
        for sample in &samples {
            histogram.record(*sample).unwrap();
        }
        let latency = Latency::of(&histogram).unwrap();
        assert_eq!((latency.p50, latency.p99, latency.max), (50, 99, 100));
        assert_eq!(Latency::of(&Histogram::<u64>::new(3).unwrap()), None);
        let mut one = Histogram::<u64>::new(3).unwrap();
        one.record(7).unwrap();
        assert_eq!(Latency::of(&one).map(|l| (l.p50, l.p99)), Some((7, 7)));
    }

    #[test]
    fn sizes_and_latencies_read_well() {
        assert_eq!(Bytes(512).to_string(), "512 B");
        assert_eq!(Bytes(1536).to_string(), "1.5 KiB");
        assert_eq!(Micros(999).to_string(), "999 µs");
        assert_eq!(Micros(2500).to_string(), "2.5 ms");
    }
}
