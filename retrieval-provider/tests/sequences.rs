//! The provider's deal sequences, end to end: a pull is validated, the deal is started with
//! its first input, and data-transfer events are mapped to inputs and driven through the
//! machine, with the real entry funcs running against a mock environment after each batch.

mod provider_fixtures;

use provider_fixtures::{
    DEAL_ID, channel_id, explore_all, payment_voucher, proposal, test_cid, tokens, vr,
};
use retrieval_provider::dt::{DtEvent, DtEventCode};
use retrieval_provider::entry::ProviderHandlers;
use retrieval_provider::harness::{
    DealDriver, EnvCall, EnvSetup, HarnessError, MockEnvironment, MockError, MockNode, NodeSetup,
};
use retrieval_provider::machine::ProviderInput;
use retrieval_provider::sources::{
    AcceptAll, Ask, PieceLookup, PieceLookupError, PullRequest, PullValidation, PullValidator,
    transfer_event_input, validate_pull,
};
use retrieval_provider::{
    ChannelState, DealInfo, DealResponse, DealStatus, DtStatus, Params, PeerId, PieceInfo,
    ProviderEvent, TokenAmount, ValidationResult, Voucher,
};

use DealStatus as S;

/// The piece store: every payload is in one piece.
struct OnePiece;

impl PieceLookup for OnePiece {
    fn get_piece(
        &self,
        _payload: &cid::Cid,
        _piece: Option<&cid::Cid>,
    ) -> Result<PieceInfo, PieceLookupError> {
        Ok(PieceInfo {
            piece_cid: test_cid(9),
            deals: vec![DealInfo {
                deal_id: 1,
                sector_id: 2,
                offset: 0,
                length: 1 << 20,
            }],
        })
    }
}

/// A deal in progress: the driver plus the data-transfer channel the client opened.
struct Deal {
    driver: DealDriver<ProviderHandlers<MockEnvironment>>,
    channel: ChannelState,
    /// The answer to the client's pull request.
    accepted_with: ValidationResult,
}

impl Deal {
    /// Validates a pull of a proposal with `params`, starts the deal and sends its first input.
    fn start(params: Params, env: EnvSetup) -> Deal {
        let proposal = proposal(params);
        let voucher = Voucher::Proposal(proposal.clone());
        let client = PeerId::from("initiator");
        // The provider's ask: free, any intervals.
        let ask = Ask {
            payment_interval: u64::MAX,
            payment_interval_increase: u64::MAX,
            ..Ask::default()
        };
        let validation = validate_pull(
            PullValidator {
                pieces: &OnePiece,
                asks: &ask,
                decider: &AcceptAll,
            },
            PullRequest {
                receiver: &client,
                voucher: Some(&voucher),
                base_cid: &proposal.payload_cid,
                selector: &explore_all(),
            },
        )
        .expect("the pull validates");
        let PullValidation::Accepted {
            result,
            deal,
            first_input,
        } = validation
        else {
            panic!("the pull is accepted: {validation:?}");
        };
        let channel = ChannelState {
            channel_id: channel_id(),
            status: DtStatus::Requested,
            queued: 0,
            voucher: Some(voucher.clone()),
            last_voucher: Some(voucher),
            sender: PeerId::default(),
            recipient: client,
            self_peer: PeerId::default(),
        };
        let env = MockEnvironment::new(
            EnvSetup {
                channel_state: Some(channel.clone()),
                ..env
            },
            MockNode::new(NodeSetup::default()),
        );
        let mut driver = DealDriver::new(ProviderHandlers::new(env), *deal);
        driver.send(first_input).expect("the first input applies");
        Deal {
            driver,
            channel,
            accepted_with: result,
        }
    }

    fn env(&self) -> &MockEnvironment {
        self.driver.handler().env()
    }

    /// A data-transfer event on the channel, now in `status` with `queued` bytes read.
    fn transfer(
        &mut self,
        code: DtEventCode,
        status: DtStatus,
        queued: u64,
    ) -> Result<(), HarnessError> {
        self.channel.status = status;
        self.channel.queued = queued;
        let channel = self.channel.clone();
        self.env()
            .configure(|setup| setup.channel_state = Some(channel));
        let (key, input) = transfer_event_input(&DtEvent::new(code), &self.channel)
            .expect("the event maps to an input");
        assert_eq!(key, self.driver.deal().identifier());
        self.driver.send(input)
    }

    /// The client sends a payment voucher bringing `amount` new funds.
    fn pay(&mut self, amount: u64, status: DtStatus, queued: u64) -> Result<(), HarnessError> {
        self.channel.last_voucher = Some(payment_voucher());
        self.env().mock_node().push_saved_amount(Ok(tokens(amount)));
        self.transfer(DtEventCode::NewVoucher, status, queued)
    }

    fn status(&self) -> DealStatus {
        self.driver.status()
    }

    fn last_result(&self) -> Option<ValidationResult> {
        self.env().validation_results().last().cloned()
    }
}

fn owed(status: DealStatus, amount: u64) -> Option<DealResponse> {
    Some(DealResponse {
        status,
        id: DEAL_ID,
        payment_owed: tokens(amount),
        message: String::new(),
    })
}

/// Price 500 per byte, interval 1000, increase 500: boundaries 0, 1000, 2500, 4500, …
fn paid_params(unseal_price: u64) -> Params {
    Params::new_v1(
        tokens(500),
        1000,
        500,
        Some(explore_all()),
        None,
        tokens(unseal_price),
    )
    .expect("selector given")
}

#[test]
fn paid_deal_without_unseal_fee_completes() {
    let mut deal = Deal::start(paid_params(0), EnvSetup::default());
    assert_eq!(
        deal.accepted_with,
        vr(true, true, true, 1000, owed(S::Accepted, 0))
    );
    assert_eq!(deal.status(), S::New);

    deal.transfer(DtEventCode::Accept, DtStatus::Ongoing, 0)
        .unwrap();
    assert_eq!(deal.status(), S::Unsealed);
    assert_eq!(deal.driver.deal().channel_id, Some(channel_id()));

    // First interval: 1000 bytes are owed for.
    deal.transfer(DtEventCode::DataLimitExceeded, DtStatus::Ongoing, 1000)
        .unwrap();
    assert_eq!(deal.status(), S::FundsNeeded);
    assert_eq!(
        deal.last_result(),
        Some(vr(true, false, true, 1000, owed(S::FundsNeeded, 500_000)))
    );
    deal.pay(500_000, DtStatus::ResponderPaused, 1000).unwrap();
    assert_eq!(deal.status(), S::Ongoing);
    assert_eq!(deal.last_result(), Some(vr(true, false, true, 2500, None)));

    // Second interval: up to 2500 bytes.
    deal.transfer(DtEventCode::DataLimitExceeded, DtStatus::Ongoing, 2500)
        .unwrap();
    assert_eq!(deal.status(), S::FundsNeeded);
    assert_eq!(
        deal.last_result(),
        Some(vr(true, false, true, 2500, owed(S::FundsNeeded, 750_000)))
    );
    deal.pay(750_000, DtStatus::ResponderPaused, 2500).unwrap();
    assert_eq!(deal.status(), S::Ongoing);

    // The client asks to finish after 3000 bytes: the last 500 bytes are owed exactly.
    deal.transfer(DtEventCode::BeginFinalizing, DtStatus::Finalizing, 3000)
        .unwrap();
    assert_eq!(deal.status(), S::FundsNeededLastPayment);
    assert_eq!(
        deal.last_result(),
        Some(vr(
            true,
            false,
            true,
            4500,
            owed(S::FundsNeededLastPayment, 250_000)
        ))
    );
    deal.pay(250_000, DtStatus::Finalizing, 3000).unwrap();
    assert_eq!(deal.status(), S::Finalizing);
    assert_eq!(
        deal.last_result(),
        Some(vr(true, false, false, 4500, owed(S::Completed, 0)))
    );

    deal.transfer(DtEventCode::CompleteResponder, DtStatus::Completed, 3000)
        .unwrap();
    assert_eq!(deal.status(), S::Completed);
    assert_eq!(deal.driver.deal().funds_received, tokens(1_500_000));
    assert_eq!(
        deal.driver.status_path(),
        [
            S::New,
            S::Unsealing,
            S::Unsealed,
            S::FundsNeeded,
            S::Ongoing,
            S::FundsNeeded,
            S::Ongoing,
            S::FundsNeededLastPayment,
            S::Finalizing,
            S::Completing,
            S::Completed,
        ]
    );
    // Three payments, and the last payment voucher saved again (bringing nothing) each time
    // UpdateFunding was entered while it was still the channel's last voucher.
    assert_eq!(deal.env().mock_node().saved_vouchers(), 5);
    assert_eq!(
        deal.env().calls().last(),
        Some(&EnvCall::DeleteStore(DEAL_ID))
    );
}

#[test]
fn deal_with_unseal_fee_is_paid_before_unsealing() {
    let mut deal = Deal::start(paid_params(500_000), EnvSetup::default());
    assert_eq!(
        deal.accepted_with,
        vr(true, true, true, 1000, owed(S::FundsNeededUnseal, 500_000))
    );
    // UpdateFunding ran on entering FundsNeededUnseal, and returned at once: no channel yet.
    assert_eq!(deal.status(), S::FundsNeededUnseal);
    assert!(deal.env().calls().is_empty());

    // Accepting sets the channel and re-runs UpdateFunding: the voucher is still the proposal,
    // so nothing is received, no response is attached, and the pause is forced.
    deal.transfer(DtEventCode::Accept, DtStatus::ResponderPaused, 0)
        .unwrap();
    assert_eq!(deal.status(), S::FundsNeededUnseal);
    assert_eq!(deal.last_result(), Some(vr(true, true, true, 1000, None)));
    assert_eq!(deal.env().mock_node().calls(), []);

    deal.pay(500_000, DtStatus::ResponderPaused, 0).unwrap();
    assert_eq!(deal.status(), S::Unsealed);
    assert_eq!(
        deal.env().calls()[deal.env().calls().len() - 2..],
        [
            EnvCall::PrepareBlockstore(DEAL_ID, test_cid(9)),
            EnvCall::ResumeDataTransfer(channel_id()),
        ]
    );

    deal.transfer(DtEventCode::BeginFinalizing, DtStatus::Finalizing, 800)
        .unwrap();
    assert_eq!(
        deal.last_result(),
        Some(vr(
            true,
            false,
            true,
            1000,
            owed(S::FundsNeededLastPayment, 400_000)
        ))
    );
    deal.pay(400_000, DtStatus::Finalizing, 800).unwrap();
    deal.transfer(DtEventCode::CompleteResponder, DtStatus::Completed, 800)
        .unwrap();
    assert_eq!(deal.status(), S::Completed);
    assert_eq!(deal.driver.deal().funds_received, tokens(900_000));
    assert_eq!(
        deal.driver.status_path(),
        [
            S::New,
            S::FundsNeededUnseal,
            S::Unsealing,
            S::Unsealed,
            S::FundsNeededLastPayment,
            S::Finalizing,
            S::Completing,
            S::Completed,
        ]
    );
    let events: Vec<ProviderEvent> = deal.driver.steps().iter().map(|s| s.event).collect();
    assert!(
        !events.contains(&ProviderEvent::Open),
        "Open never runs on the paid-unseal path"
    );
}

#[test]
fn free_deal_has_no_data_limit_and_completes_without_payments() {
    let free = Params::new_v0(TokenAmount::zero(), 1000, 500);
    let mut deal = Deal::start(free, EnvSetup::default());
    assert_eq!(
        deal.accepted_with,
        vr(true, true, true, 0, owed(S::Accepted, 0))
    );

    deal.transfer(DtEventCode::Accept, DtStatus::Ongoing, 0)
        .unwrap();
    assert_eq!(deal.status(), S::Unsealed);
    deal.transfer(DtEventCode::BeginFinalizing, DtStatus::Finalizing, 5000)
        .unwrap();
    assert_eq!(deal.status(), S::Finalizing);
    assert_eq!(
        deal.last_result(),
        Some(vr(true, false, false, 0, owed(S::Completed, 0)))
    );
    deal.transfer(DtEventCode::CompleteResponder, DtStatus::Completed, 5000)
        .unwrap();
    assert_eq!(deal.status(), S::Completed);
    assert!(deal.driver.deal().funds_received.is_zero());
    assert_eq!(deal.env().mock_node().saved_vouchers(), 0);
    assert_eq!(
        deal.driver.status_path(),
        [
            S::New,
            S::Unsealing,
            S::Unsealed,
            S::FundsNeededLastPayment,
            S::Finalizing,
            S::Completing,
            S::Completed,
        ]
    );
}

#[test]
fn unseal_failure_cleans_up_and_ends_errored() {
    let env = EnvSetup {
        prepare_blockstore_error: Some(MockError::new("failed to load blockstore")),
        ..EnvSetup::default()
    };
    let mut deal = Deal::start(paid_params(0), env);
    deal.transfer(DtEventCode::Accept, DtStatus::Ongoing, 0)
        .unwrap();
    assert_eq!(deal.status(), S::Errored);
    assert_eq!(deal.driver.deal().message, "failed to load blockstore");
    assert_eq!(
        deal.driver.status_path(),
        [S::New, S::Unsealing, S::Failing, S::Errored]
    );
    assert_eq!(
        deal.env().calls()[1..],
        [
            EnvCall::DeleteStore(DEAL_ID),
            EnvCall::CloseDataTransfer(channel_id())
        ]
    );
}

#[test]
fn client_cancel_cleans_up_and_ends_cancelled() {
    let mut deal = Deal::start(paid_params(0), EnvSetup::default());
    deal.transfer(DtEventCode::Accept, DtStatus::Ongoing, 0)
        .unwrap();
    deal.transfer(DtEventCode::DataLimitExceeded, DtStatus::Ongoing, 1000)
        .unwrap();
    assert_eq!(deal.status(), S::FundsNeeded);

    deal.transfer(DtEventCode::Cancel, DtStatus::Cancelling, 1000)
        .unwrap();
    assert_eq!(deal.status(), S::Cancelled);
    assert_eq!(deal.driver.deal().message, "Client cancelled retrieval");
    assert_eq!(
        deal.env().calls()[deal.env().calls().len() - 2..],
        [
            EnvCall::DeleteStore(DEAL_ID),
            EnvCall::CloseDataTransfer(channel_id())
        ]
    );

    // The deal is over: later events are rejected.
    let late = deal.transfer(DtEventCode::NewVoucher, DtStatus::Cancelled, 1000);
    assert!(matches!(
        late,
        Err(HarnessError::AlreadyFinal {
            status: S::Cancelled,
            event: ProviderEvent::ProcessPayment,
            ..
        })
    ));
}

// ---- the traps: inputs that are invalid where they arrive --------------------------------------

#[test]
fn last_payment_requested_while_funds_are_needed_is_invalid() {
    let mut deal = Deal::start(paid_params(0), EnvSetup::default());
    deal.transfer(DtEventCode::Accept, DtStatus::Ongoing, 0)
        .unwrap();
    deal.transfer(DtEventCode::DataLimitExceeded, DtStatus::Ongoing, 1000)
        .unwrap();
    let before = deal.driver.deal().clone();
    let trap = deal.transfer(DtEventCode::BeginFinalizing, DtStatus::Finalizing, 1000);
    assert!(matches!(
        trap,
        Err(HarnessError::InvalidTransition {
            event: ProviderEvent::LastPaymentRequested,
            status: S::FundsNeeded,
            ..
        })
    ));
    assert_eq!(deal.driver.deal(), &before);
}

#[test]
fn payment_requested_while_the_last_payment_is_needed_is_invalid() {
    let mut deal = Deal::start(paid_params(0), EnvSetup::default());
    deal.transfer(DtEventCode::Accept, DtStatus::Ongoing, 0)
        .unwrap();
    deal.transfer(DtEventCode::BeginFinalizing, DtStatus::Finalizing, 500)
        .unwrap();
    assert_eq!(deal.status(), S::FundsNeededLastPayment);
    let trap = deal.transfer(DtEventCode::DataLimitExceeded, DtStatus::Finalizing, 500);
    assert!(matches!(
        trap,
        Err(HarnessError::InvalidTransition {
            event: ProviderEvent::PaymentRequested,
            status: S::FundsNeededLastPayment,
            ..
        })
    ));
    assert_eq!(deal.status(), S::FundsNeededLastPayment);
}

#[test]
fn deal_accepted_after_leaving_new_is_invalid() {
    let mut deal = Deal::start(paid_params(0), EnvSetup::default());
    deal.transfer(DtEventCode::Accept, DtStatus::Ongoing, 0)
        .unwrap();
    assert_eq!(deal.status(), S::Unsealed);
    let trap = deal.transfer(DtEventCode::Accept, DtStatus::Ongoing, 0);
    let Err(HarnessError::InvalidTransition {
        event,
        status,
        input,
        ..
    }) = trap
    else {
        panic!("expected an invalid transition, got {trap:?}");
    };
    assert_eq!((event, status), (ProviderEvent::DealAccepted, S::Unsealed));
    assert_eq!(input, ProviderInput::DealAccepted(channel_id()));
    let message = HarnessError::InvalidTransition {
        index: 0,
        event,
        status,
        input,
    }
    .to_string();
    assert!(
        message.contains("ProviderEventDealAccepted") && message.contains("DealStatusUnsealed"),
        "{message}"
    );
}

// ---- the driver's consume-all batching ---------------------------------------------------------

#[test]
fn a_batch_runs_one_entry_func_for_its_final_status() {
    let mut deal = Deal::start(paid_params(0), EnvSetup::default());
    let runs_before = deal.driver.entry_runs().len();
    // Accepted, then paused for payment, in one batch: only FundsNeeded's entry func runs, not
    // Unsealing's (so no blockstore is prepared).
    deal.driver
        .send_batch(vec![
            ProviderInput::DealAccepted(channel_id()),
            ProviderInput::UnsealComplete,
            ProviderInput::PaymentRequested,
        ])
        .unwrap();
    let runs = &deal.driver.entry_runs()[runs_before..];
    assert_eq!(runs.len(), 1);
    assert_eq!(
        (runs[0].status, runs[0].func),
        (S::FundsNeeded, Some("update_funding"))
    );
    assert!(
        !deal
            .env()
            .calls()
            .iter()
            .any(|c| matches!(c, EnvCall::PrepareBlockstore(..)))
    );
}

#[test]
fn a_batch_that_only_records_runs_no_entry_func() {
    let mut deal = Deal::start(paid_params(0), EnvSetup::default());
    deal.transfer(DtEventCode::Accept, DtStatus::Ongoing, 0)
        .unwrap();
    deal.transfer(DtEventCode::DataLimitExceeded, DtStatus::Ongoing, 1000)
        .unwrap();
    let runs_before = deal.driver.entry_runs().len();
    deal.transfer(DtEventCode::DataLimitExceeded, DtStatus::Ongoing, 1000)
        .unwrap();
    assert_eq!(deal.driver.entry_runs().len(), runs_before);
    assert_eq!(deal.status(), S::FundsNeeded);
}
