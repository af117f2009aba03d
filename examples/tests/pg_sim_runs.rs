//! `provider_sim --store postgres` under ordinary load: ten fault-free runs of 5,000 deals
//! against the server `.ci/pg` starts (`FSM_PG_URL`), each driving every deal to the status
//! its plan leads to. Skipped, with a notice, where no server is configured.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use fsm_examples::sim::{Config, Mode, PlanSpec, StoreKind, run};

/// How many runs, and how many deals each.
const RUNS: u64 = 10;
const DEALS: u64 = 5_000;

#[test]
#[ignore = "needs a PostgreSQL server: bash .ci/pg cargo test -p fsm-examples -- --include-ignored"]
fn ten_postgres_runs_of_5000_deals_all_check_out() {
    let Ok(url) = std::env::var("FSM_PG_URL") else {
        eprintln!("skipped: FSM_PG_URL is not set (bash .ci/pg cargo test ... sets it)");
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for index in 0..RUNS {
        let dir = tempfile::tempdir().unwrap();
        let spec = PlanSpec {
            deals: DEALS,
            seed: 100 + index,
            mix: Default::default(),
        };
        let config = Config {
            mode: Mode::Fresh(spec),
            concurrency: 256,
            store: StoreKind::Postgres,
            database_url: Some(url.clone()),
            group: None,
            data_dir: dir.path().join("data"),
            stall_timeout: Duration::from_secs(60),
            progress: false,
        };
        let summary = runtime.block_on(run(&config)).unwrap();
        assert!(summary.is_success(), "run {index}:\n{summary}");
        assert_eq!(summary.stored(), DEALS, "run {index}:\n{summary}");
        assert_eq!(summary.missing(), 0, "run {index}:\n{summary}");
        assert_eq!(summary.driven, DEALS, "run {index}:\n{summary}");
        assert_eq!(
            summary.counters.events_rejected, 0,
            "run {index}:\n{summary}"
        );
    }
}
