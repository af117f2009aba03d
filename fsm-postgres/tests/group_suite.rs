//! The group suites of fsm-runtime (`group_semantics.rs`, `group_faults.rs`: the same tests the
//! memory and redb stores pass) run on a [`PgStore`](fsm_postgres::PgStore), each test on its
//! own group of the database named by `FSM_PG_URL` (skipped with a notice when unset).
//!
//! Including the suite files also compiles and runs their memory and redb variants here.

// Each included suite file declares its own `group_support` module, as in fsm-runtime.
#![allow(clippy::unwrap_used, clippy::duplicate_mod)]

mod pg_support;

#[macro_use]
#[path = "../../fsm-runtime/tests/group_semantics.rs"]
mod semantics;

#[macro_use]
#[path = "../../fsm-runtime/tests/group_faults.rs"]
mod faults;

use std::sync::Arc;

use fsm_runtime::store::Store;

/// The store of one suite test, or `None` when there is no database.
fn store(test: &str) -> Option<Arc<dyn Store>> {
    pg_support::store(test).map(|store| Arc::new(store) as Arc<dyn Store>)
}

macro_rules! postgres_semantics {
    ($($name:ident),* $(,)?) => {
        mod postgres_semantics {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(store) = super::store(stringify!($name)) {
                        crate::semantics::suite::$name(store).await;
                    }
                }
            )*
        }
    };
}

macro_rules! postgres_faults {
    ($($name:ident),* $(,)?) => {
        mod postgres_faults {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(store) = super::store(stringify!($name)) {
                        crate::faults::suite::$name(store).await;
                    }
                }
            )*
        }
    };
}

semantics_tests!(postgres_semantics);
faults_tests!(postgres_faults);
