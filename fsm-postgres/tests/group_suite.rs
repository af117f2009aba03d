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
async fn store(test: &str) -> Option<Arc<dyn Store>> {
    let store = pg_support::store(test).await?;
    Some(Arc::new(store) as Arc<dyn Store>)
}

/// Runs one suite test on a PostgreSQL store, then closes the store (releasing its leases;
/// a no-op when the test closed its group already).
async fn run<F, Fut>(test: &str, suite_test: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    if let Some(store) = store(test).await {
        suite_test(Arc::clone(&store)).await;
        store.close().await.unwrap();
    }
}

macro_rules! postgres_semantics {
    ($($name:ident),* $(,)?) => {
        mod postgres_semantics {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[ignore = "needs a PostgreSQL server: bash .ci/pg cargo test -p fsm-postgres -- --include-ignored"]
                async fn $name() {
                    super::run(stringify!($name), crate::semantics::suite::$name).await;
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
                #[ignore = "needs a PostgreSQL server: bash .ci/pg cargo test -p fsm-postgres -- --include-ignored"]
                async fn $name() {
                    super::run(stringify!($name), crate::faults::suite::$name).await;
                }
            )*
        }
    };
}

semantics_tests!(postgres_semantics);
faults_tests!(postgres_faults);
