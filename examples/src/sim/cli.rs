//! The command line: flags (clap derive), what they turn into, and `main`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::{Parser, ValueEnum};
use fsm_runtime::Machine;
use fsm_runtime::diagram::{self, Format};
use retrieval_provider::{DealStatus, ProviderFsm};

use super::config::{Config, FaultMix, MixError, Mode, PlanSpec, StoreKind};
use super::error::SimError;
use super::run::run;

/// Simulates a Filecoin retrieval provider: many deals at once, each run by the real provider
/// deal machine (`retrieval-provider`'s `ProviderFsm`) under the durable state group, driven
/// by simulated clients through the data-transfer event mapping.
///
/// Each deal starts with pull validation; its client then raises data-transfer events (accept,
/// data limit reached, new voucher, finalize, complete, cancel, error) and pays what the
/// provider asks for. A fault mix sends deals down every path of the provider's table. At the
/// end every deal is checked against its plan.
#[derive(Debug, Parser)]
#[command(name = "provider_sim", version, about, long_about)]
pub struct Args {
    /// How many deals to simulate [default: 2000].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub deals: Option<u64>,

    /// How many deals run at once (each deal's client is one task).
    #[arg(long, value_name = "N", default_value_t = 256,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub concurrency: u64,

    /// Seed of the deal plan: the same seed, count and mix give the same deals [default: 1].
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Share of deals whose blockstore cannot be prepared: UnsealError, then Errored
    /// [default: 0.02].
    #[arg(long, value_name = "P", value_parser = probability)]
    pub unseal_failure: Option<f64>,

    /// Share of deals the client cancels: ClientCancelled, then Cancelled [default: 0.02].
    #[arg(long, value_name = "P", value_parser = probability)]
    pub client_cancel: Option<f64>,

    /// Share of deals whose transfer fails (an error or the peer hanging up):
    /// DataTransferError, then Errored [default: 0.01].
    #[arg(long, value_name = "P", value_parser = probability)]
    pub transfer_error: Option<f64>,

    /// Share of deals with an unseal price, paid before unsealing starts [default: 0.3].
    #[arg(long, value_name = "P", value_parser = probability)]
    pub paid_unseal: Option<f64>,

    /// Share of free deals (price per byte and unseal price 0) [default: 0.1].
    #[arg(long, value_name = "P", value_parser = probability)]
    pub free: Option<f64>,

    /// Where deal records live: `redb` (a file in the data directory, every acknowledged event
    /// fsynced), `memory` (nothing kept, no resume) or `postgres` (the database at
    /// --database-url; every acknowledged event committed).
    #[arg(long, value_enum, default_value_t = StoreArg::Redb)]
    pub store: StoreArg,

    /// PostgreSQL URL for `--store postgres`, e.g. `postgresql://user@localhost:5432/deals`.
    #[arg(long, value_name = "URL", required_if_eq("store", "postgres"))]
    pub database_url: Option<String>,

    /// The PostgreSQL group the run's records live under [default: derived from the data
    /// directory, so runs in different directories never check each other's records].
    #[arg(long, value_name = "NAME")]
    pub group: Option<String>,

    /// Directory of the redb file and the run's manifest (created if missing; an earlier run
    /// in it is replaced, unless --resume).
    #[arg(long, value_name = "DIR", default_value = "target/provider-sim")]
    pub data_dir: PathBuf,

    /// Finish the interrupted run in the data directory: its plan is read from there, deals not
    /// final are driven on and deals never started are started. Plan flags (--deals, --seed
    /// and the mix) cannot be given with it.
    #[arg(long, conflicts_with_all = [
        "deals", "seed", "unseal_failure", "client_cancel", "transfer_error", "paid_unseal", "free",
    ])]
    pub resume: bool,

    /// Print the provider machine's state diagram in this format and exit.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub diagram: Option<DiagramArg>,

    /// Seconds a client waits for the provider before giving up on its deal (reported as
    /// stalled).
    #[arg(long, value_name = "SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub stall_timeout: u64,

    /// Do not draw the progress bar (it is never drawn when stdout is not a terminal).
    #[arg(long)]
    pub no_progress: bool,
}

/// `--store`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoreArg {
    /// A redb file in the data directory.
    Redb,
    /// In memory.
    Memory,
    /// A PostgreSQL database, shareable by several processes.
    Postgres,
}

/// `--diagram`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiagramArg {
    /// Mermaid `stateDiagram-v2`.
    Mermaid,
    /// PlantUML.
    Plantuml,
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Print the diagram.
    Diagram(Format),
    /// Run the simulation.
    Run(Config),
}

/// Parses a probability in `[0, 1]`.
fn probability(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{value} is not between 0 and 1"))
    }
}

impl Args {
    /// What the flags ask for.
    pub fn command(&self) -> Result<Command, MixError> {
        if let Some(format) = self.diagram {
            return Ok(Command::Diagram(match format {
                DiagramArg::Mermaid => Format::Mermaid,
                DiagramArg::Plantuml => Format::PlantUml,
            }));
        }
        let mode = if self.resume {
            Mode::Resume
        } else {
            let defaults = FaultMix::default();
            let mix = FaultMix {
                unseal_failure: self.unseal_failure.unwrap_or(defaults.unseal_failure),
                client_cancel: self.client_cancel.unwrap_or(defaults.client_cancel),
                transfer_error: self.transfer_error.unwrap_or(defaults.transfer_error),
                paid_unseal: self.paid_unseal.unwrap_or(defaults.paid_unseal),
                free: self.free.unwrap_or(defaults.free),
            };
            mix.validate()?;
            Mode::Fresh(PlanSpec {
                deals: self.deals.unwrap_or(2000),
                seed: self.seed.unwrap_or(1),
                mix,
            })
        };
        Ok(Command::Run(Config {
            mode,
            concurrency: usize::try_from(self.concurrency).unwrap_or(usize::MAX),
            store: match self.store {
                StoreArg::Redb => StoreKind::Redb,
                StoreArg::Memory => StoreKind::Memory,
                StoreArg::Postgres => StoreKind::Postgres,
            },
            database_url: self.database_url.clone(),
            group: self.group.clone(),
            data_dir: self.data_dir.clone(),
            stall_timeout: Duration::from_secs(self.stall_timeout),
            progress: !self.no_progress,
        }))
    }
}

/// The program's name in messages.
const NAME: &str = "provider_sim";

/// Prints `message` as the program's one-line error.
fn fail(message: impl std::fmt::Display, code: u8) -> ExitCode {
    eprintln!("{NAME}: {message}");
    ExitCode::from(code)
}

/// The program: parses the flags, runs, prints the summary. Exit status 0 when every deal
/// ended as planned, 1 when not (or the run failed), 2 for bad flags, 130 when interrupted.
pub fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(error) => {
            if matches!(
                error.kind(),
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
            ) {
                let _ = error.print();
                return ExitCode::SUCCESS;
            }
            // clap's message is several lines (tips, usage); keep the first, without its
            // `error: ` prefix.
            let text = error.to_string();
            let line = text.lines().next().unwrap_or_default();
            let line = line.strip_prefix("error: ").unwrap_or(line);
            return fail(format_args!("{line} (see --help)"), 2);
        }
    };
    let config = match args.command() {
        Ok(Command::Diagram(format)) => {
            print!(
                "{}",
                diagram::render(format, ProviderFsm::table(), &[DealStatus::New])
            );
            return ExitCode::SUCCESS;
        }
        Ok(Command::Run(config)) => config,
        Err(error) => return fail(format_args!("{error} (see --help)"), 2),
    };
    match execute(&config) {
        Ok(summary) => {
            print!("{summary}");
            if summary.is_success() {
                ExitCode::SUCCESS
            } else {
                fail("some deals did not end as planned (see the check above)", 1)
            }
        }
        Err(error @ (SimError::Interrupted { .. } | SimError::InterruptedInMemory)) => {
            fail(error, 130)
        }
        Err(error) => fail(error, 1),
    }
}

/// Runs `config` on a fresh multi-threaded runtime, stopping early on Ctrl-C.
fn execute(config: &Config) -> Result<super::Summary, SimError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(SimError::Runtime)?;
    runtime.block_on(async {
        tokio::select! {
            summary = run(config) => summary,
            () = interrupted() => Err(match config.store {
                StoreKind::Redb | StoreKind::Postgres => {
                    SimError::Interrupted { dir: config.data_dir.clone() }
                }
                StoreKind::Memory => SimError::InterruptedInMemory,
            }),
        }
    })
}

/// Resolves on Ctrl-C (never, if the handler cannot be installed).
async fn interrupted() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("provider_sim").chain(args.iter().copied()))
    }

    #[test]
    fn defaults_make_a_fresh_durable_run() {
        let Command::Run(config) = parse(&[]).unwrap().command().unwrap() else {
            panic!("expected a run");
        };
        assert_eq!(config.store, StoreKind::Redb);
        let Mode::Fresh(spec) = config.mode else {
            panic!("expected a fresh run");
        };
        assert_eq!(spec.mix, FaultMix::default());
        assert!(spec.deals > 0);
    }

    #[test]
    fn bad_values_are_refused() {
        for args in [
            &["--deals", "0"][..],
            &["--deals", "many"],
            &["--free", "1.5"],
            &["--client-cancel", "-0.1"],
            &["--store", "sqlite"],
            &["--diagram", "dot"],
            &["--resume", "--seed", "3"],
            &["--bogus"],
        ] {
            assert!(parse(args).is_err(), "{args:?} was accepted");
        }
    }

    #[test]
    fn mixes_that_overflow_are_refused() {
        let args = parse(&["--unseal-failure", "0.6", "--client-cancel", "0.6"]).unwrap();
        assert!(matches!(args.command(), Err(MixError::FaultsExceedOne(_))));
        let args = parse(&["--free", "0.7", "--paid-unseal", "0.7"]).unwrap();
        assert!(matches!(
            args.command(),
            Err(MixError::PricingExceedsOne(_))
        ));
    }

    #[test]
    fn diagram_wins_over_running() {
        let args = parse(&["--diagram", "plantuml"]).unwrap();
        assert_eq!(args.command().unwrap(), Command::Diagram(Format::PlantUml));
    }
}
