//! UnsealData, UnpauseDeal, CancelDeal and CleanupDeal, each run through the harness: the entry func runs on a snapshot with a mock
//! environment, and the inputs it triggers are replayed through the transition function.

mod provider_fixtures;

use provider_fixtures::{DEAL_ID, channel_id, handlers, make_deal_state, test_cid, tokens};
use retrieval_provider::entry::{MISSING_PIECE_INFO, ProviderHandlers};
use retrieval_provider::env::ChannelClosed;
use retrieval_provider::harness::{
    EnvCall, EnvSetup, MockEnvironment, MockError, NodeSetup, run_and_replay,
};
use retrieval_provider::machine::ProviderInput;
use retrieval_provider::{DealInfo, DealStatus, PieceInfo, ProviderDealState, ProviderError};

/// What one vector expects.
struct Expected {
    calls: Vec<EnvCall>,
    triggered: Vec<ProviderInput>,
    status: DealStatus,
    message: &'static str,
}

/// Runs the entry func of `deal`'s status, replays what it triggered and checks the result.
/// Returns the final deal.
fn check(
    handlers: &ProviderHandlers<MockEnvironment>,
    mut deal: ProviderDealState,
    expected: Expected,
) -> ProviderDealState {
    let (run, _steps) =
        run_and_replay(handlers, &mut deal).expect("every triggered input is a valid transition");
    assert_eq!(run.triggered, expected.triggered, "triggered inputs");
    assert_eq!(handlers.env().calls(), expected.calls, "environment calls");
    assert_eq!(deal.status, expected.status, "final status");
    assert_eq!(deal.message, expected.message, "final message");
    assert!(
        handlers.env().mock_node().calls().is_empty(),
        "the node saw no SavePaymentVoucher or pricing calls"
    );
    deal
}

fn failing(message: &str) -> MockError {
    MockError::new(message)
}

fn unsealing_deal() -> ProviderDealState {
    let mut deal = make_deal_state(DealStatus::Unsealing);
    deal.funds_received = tokens(0);
    deal.piece_info = Some(PieceInfo {
        piece_cid: test_cid(7),
        deals: vec![
            DealInfo {
                deal_id: 1,
                sector_id: 2,
                offset: 0,
                length: 2048,
            },
            DealInfo {
                deal_id: 3,
                sector_id: 4,
                offset: 2048,
                length: 2048,
            },
        ],
    });
    deal
}

fn with_channel(mut deal: ProviderDealState) -> ProviderDealState {
    deal.channel_id = Some(channel_id());
    deal
}

// ---- UnsealData ---------------------------------------------------------------------------

#[test]
fn s1_unseal_data_prepares_the_blockstore_and_completes() {
    let handlers = handlers(EnvSetup::default(), NodeSetup::default());
    let deal = check(
        &handlers,
        unsealing_deal(),
        Expected {
            calls: vec![EnvCall::PrepareBlockstore(DEAL_ID, test_cid(7))],
            triggered: vec![ProviderInput::UnsealComplete],
            status: DealStatus::Unsealed,
            message: "",
        },
    );
    assert!(deal.funds_received.is_zero());
}

#[test]
fn s2_unseal_data_failure_fails_the_deal_with_the_error() {
    let setup = EnvSetup {
        prepare_blockstore_error: Some(failing("Something went wrong")),
        ..EnvSetup::default()
    };
    check(
        &handlers(setup, NodeSetup::default()),
        unsealing_deal(),
        Expected {
            calls: vec![EnvCall::PrepareBlockstore(DEAL_ID, test_cid(7))],
            triggered: vec![ProviderInput::UnsealError(ProviderError::new(
                "Something went wrong",
            ))],
            status: DealStatus::Failing,
            message: "Something went wrong",
        },
    );
}

#[test]
fn s3_unseal_data_without_piece_info_fails_the_deal_instead_of_panicking() {
    let mut deal = unsealing_deal();
    deal.piece_info = None;
    check(
        &handlers(EnvSetup::default(), NodeSetup::default()),
        deal,
        Expected {
            calls: vec![],
            triggered: vec![ProviderInput::UnsealError(ProviderError::new(
                MISSING_PIECE_INFO,
            ))],
            status: DealStatus::Failing,
            message: MISSING_PIECE_INFO,
        },
    );
}

// ---- UnpauseDeal --------------------------------------------------------------------------

#[test]
fn p1_unpause_deal_resumes_the_transfer() {
    check(
        &handlers(EnvSetup::default(), NodeSetup::default()),
        with_channel(make_deal_state(DealStatus::Unsealed)),
        Expected {
            calls: vec![EnvCall::ResumeDataTransfer(channel_id())],
            triggered: vec![],
            status: DealStatus::Unsealed,
            message: "",
        },
    );
}

#[test]
fn p2_unpause_deal_resume_failure_errors_the_deal() {
    let setup = EnvSetup {
        resume_error: Some(failing("something went wrong resuming")),
        ..EnvSetup::default()
    };
    check(
        &handlers(setup, NodeSetup::default()),
        with_channel(make_deal_state(DealStatus::Unsealed)),
        Expected {
            calls: vec![EnvCall::ResumeDataTransfer(channel_id())],
            triggered: vec![ProviderInput::DataTransferError(ProviderError::new(
                "something went wrong resuming",
            ))],
            status: DealStatus::Errored,
            message: "something went wrong resuming",
        },
    );
}

#[test]
fn p3_unpause_deal_without_a_channel_does_nothing() {
    check(
        &handlers(EnvSetup::default(), NodeSetup::default()),
        make_deal_state(DealStatus::Unsealed),
        Expected {
            calls: vec![],
            triggered: vec![],
            status: DealStatus::Unsealed,
            message: "",
        },
    );
}

// ---- CancelDeal ---------------------------------------------------------------------------

fn failing_deal() -> ProviderDealState {
    with_channel(make_deal_state(DealStatus::Failing))
}

#[test]
fn c1_cancel_deal_in_failing_cleans_up_and_errors_keeping_the_message() {
    let mut deal = failing_deal();
    deal.message = "Existing error".to_owned();
    check(
        &handlers(EnvSetup::default(), NodeSetup::default()),
        deal,
        Expected {
            calls: vec![
                EnvCall::DeleteStore(DEAL_ID),
                EnvCall::CloseDataTransfer(channel_id()),
            ],
            triggered: vec![ProviderInput::CancelComplete],
            status: DealStatus::Errored,
            message: "Existing error",
        },
    );
}

#[test]
fn c2_cancel_deal_delete_store_failure_leaves_the_channel_open() {
    let setup = EnvSetup {
        delete_store_error: Some(failing("something went wrong deleting store")),
        ..EnvSetup::default()
    };
    check(
        &handlers(setup, NodeSetup::default()),
        failing_deal(),
        Expected {
            calls: vec![EnvCall::DeleteStore(DEAL_ID)],
            triggered: vec![ProviderInput::MultiStoreError(ProviderError::new(
                "something went wrong deleting store",
            ))],
            status: DealStatus::Errored,
            message: "something went wrong deleting store",
        },
    );
}

#[test]
fn c3_cancel_deal_close_failure_errors_the_deal() {
    let setup = EnvSetup {
        close_result: Err(failing("something went wrong closing")),
        ..EnvSetup::default()
    };
    check(
        &handlers(setup, NodeSetup::default()),
        failing_deal(),
        Expected {
            calls: vec![
                EnvCall::DeleteStore(DEAL_ID),
                EnvCall::CloseDataTransfer(channel_id()),
            ],
            triggered: vec![ProviderInput::DataTransferError(ProviderError::new(
                "something went wrong closing",
            ))],
            status: DealStatus::Errored,
            message: "something went wrong closing",
        },
    );
}

#[test]
fn c4_cancel_deal_in_cancelling_ends_cancelled() {
    let mut deal = with_channel(make_deal_state(DealStatus::Cancelling));
    deal.message = "Client cancelled retrieval".to_owned();
    check(
        &handlers(EnvSetup::default(), NodeSetup::default()),
        deal,
        Expected {
            calls: vec![
                EnvCall::DeleteStore(DEAL_ID),
                EnvCall::CloseDataTransfer(channel_id()),
            ],
            triggered: vec![ProviderInput::CancelComplete],
            status: DealStatus::Cancelled,
            message: "Client cancelled retrieval",
        },
    );
}

#[test]
fn c5_cancel_deal_treats_an_already_terminated_channel_as_closed() {
    let setup = EnvSetup {
        close_result: Ok(ChannelClosed::AlreadyTerminated),
        ..EnvSetup::default()
    };
    check(
        &handlers(setup, NodeSetup::default()),
        failing_deal(),
        Expected {
            calls: vec![
                EnvCall::DeleteStore(DEAL_ID),
                EnvCall::CloseDataTransfer(channel_id()),
            ],
            triggered: vec![ProviderInput::CancelComplete],
            status: DealStatus::Errored,
            message: "",
        },
    );
}

#[test]
fn c6_cancel_deal_without_a_channel_only_deletes_the_store() {
    check(
        &handlers(EnvSetup::default(), NodeSetup::default()),
        make_deal_state(DealStatus::Failing),
        Expected {
            calls: vec![EnvCall::DeleteStore(DEAL_ID)],
            triggered: vec![ProviderInput::CancelComplete],
            status: DealStatus::Errored,
            message: "",
        },
    );
}

// ---- CleanupDeal --------------------------------------------------------------------------

#[test]
fn l1_cleanup_deal_deletes_the_store_and_completes() {
    check(
        &handlers(EnvSetup::default(), NodeSetup::default()),
        make_deal_state(DealStatus::Completing),
        Expected {
            calls: vec![EnvCall::DeleteStore(DEAL_ID)],
            triggered: vec![ProviderInput::CleanupComplete],
            status: DealStatus::Completed,
            message: "",
        },
    );
}

#[test]
fn l2_cleanup_deal_delete_store_failure_errors_the_deal() {
    let setup = EnvSetup {
        delete_store_error: Some(failing("something went wrong deleting store")),
        ..EnvSetup::default()
    };
    check(
        &handlers(setup, NodeSetup::default()),
        make_deal_state(DealStatus::Completing),
        Expected {
            calls: vec![EnvCall::DeleteStore(DEAL_ID)],
            triggered: vec![ProviderInput::MultiStoreError(ProviderError::new(
                "something went wrong deleting store",
            ))],
            status: DealStatus::Errored,
            message: "something went wrong deleting store",
        },
    );
}

// ---- statuses without an entry func ---------------------------------------------------------

#[test]
fn statuses_without_an_entry_func_run_nothing() {
    for status in [
        DealStatus::New,
        DealStatus::Ongoing,
        DealStatus::Finalizing,
        DealStatus::BlocksComplete,
    ] {
        let handlers = handlers(EnvSetup::default(), NodeSetup::default());
        let mut deal = with_channel(make_deal_state(status));
        let (run, steps) = run_and_replay(&handlers, &mut deal).expect("nothing to replay");
        assert_eq!(run.func, None, "{status:?}");
        assert!(run.triggered.is_empty() && steps.is_empty(), "{status:?}");
        assert!(handlers.env().calls().is_empty(), "{status:?}");
    }
}
