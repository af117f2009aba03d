//! [`SimError`]: why a run could not be carried out. Each message is one line, naming the
//! path, deal or flag concerned.

use std::io;
use std::path::PathBuf;

use fsm_runtime::group::OpenError;
use fsm_runtime::store::StoreError;

use super::config::MixError;

/// Why a run could not be carried out (a run that completes but leaves deals unfinished is
/// not an error: its [`Summary`](super::Summary) says so).
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The data directory (or a file in it) cannot be created, read or written.
    #[error("cannot use data directory {}: {source}", .path.display())]
    DataDir {
        /// The directory or file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The data directory holds files this program did not write; it refuses to replace them.
    #[error(
        "data directory {} is not empty and holds no provider_sim run; choose an empty or new directory",
        .dir.display()
    )]
    ForeignDataDir {
        /// The directory.
        dir: PathBuf,
    },
    /// `--resume` was given but the data directory holds no run.
    #[error("nothing to resume: {} holds no provider_sim run", .dir.display())]
    NothingToResume {
        /// The directory.
        dir: PathBuf,
    },
    /// The run manifest cannot be parsed.
    #[error("cannot read run manifest {}: {reason}", .path.display())]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The fault mix is not usable.
    #[error(transparent)]
    Mix(#[from] MixError),
    /// The redb store cannot be opened.
    #[error("cannot open store {}: {source}", .path.display())]
    Store {
        /// The redb file.
        path: PathBuf,
        /// The store's error.
        #[source]
        source: StoreError,
    },
    /// The PostgreSQL store cannot be opened or cleared.
    #[error("cannot open the PostgreSQL store: {0}")]
    Postgres(#[from] fsm_postgres::PgError),
    /// An earlier run's records could not be removed from the PostgreSQL store.
    #[error("cannot clear the earlier run from the PostgreSQL store: {0}")]
    Clear(#[source] StoreError),
    /// `--store postgres` without `--database-url`.
    #[error("--store postgres needs --database-url")]
    MissingDatabaseUrl,
    /// Reading the stored deals failed.
    #[error("cannot read the stored deals: {0}")]
    Read(String),
    /// The store holds a deal that is not in the run's plan (the store and manifest do not
    /// belong together).
    #[error("the store holds deal {id}, which is not one of the {deals} deals of this run")]
    ForeignDeal {
        /// The stored deal's id.
        id: u64,
        /// The number of planned deals.
        deals: u64,
    },
    /// The deal group cannot be opened.
    #[error("cannot open the deal group: {0}")]
    Open(#[from] OpenError),
    /// The tokio runtime cannot be started.
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] io::Error),
    /// Ctrl-C: the run stopped early; `--resume` finishes it.
    #[error("interrupted; run again with --resume --data-dir {} to finish the run", .dir.display())]
    Interrupted {
        /// The data directory of the interrupted run.
        dir: PathBuf,
    },
    /// Ctrl-C during a run that keeps nothing (the memory store).
    #[error("interrupted (the memory store keeps nothing to resume)")]
    InterruptedInMemory,
}
