//! The event sources against Go's `TestProviderDataTransferSubscriber`,
//! `TestValidatePull` and `TestValidateRestart`.

mod provider_fixtures;

use std::cell::RefCell;

use provider_fixtures::{
    DEAL_ID, channel, explore_all, fake_voucher, funding_deal, funding_params, payment_voucher,
    proposal, proposal_voucher, test_cid, tokens, v0_params, vr,
};
use retrieval_provider::dt::{DtEvent, DtEventCode};
use retrieval_provider::harness::MockError;
use retrieval_provider::machine::ProviderInput;
use retrieval_provider::sources::{
    AcceptAll, Ask, DealLookup, DealParamsError, Decider, Decision, EXPLORE_ALL_SELECTOR,
    PieceLookup, PieceLookupError, PullRequest, PullValidation, PullValidator, ValidationError,
    check_deal_params, transfer_event_input, validate_pull, validate_push, validate_restart,
};
use retrieval_provider::{
    ChannelId, DealInfo, DealProposal, DealResponse, DealStatus, DtStatus, PeerId, PieceInfo,
    ProviderDealIdentifier, ProviderDealState, ProviderError, RawCbor, TokenAmount,
    ValidationResult, Voucher,
};

// ---- data-transfer subscriber ---------------------------------------------------------------

fn client() -> PeerId {
    PeerId::from("client")
}

fn provider() -> PeerId {
    PeerId::from("provider")
}

/// A channel opened by the client with the fixture proposal, served by the provider.
fn provider_channel(status: DtStatus) -> retrieval_provider::ChannelState {
    let mut state = channel(proposal_voucher(), 0, status);
    state.channel_id = ChannelId::new(client(), provider(), 7);
    state.sender = provider();
    state.recipient = client();
    state.self_peer = provider();
    state
}

fn deal_key() -> ProviderDealIdentifier {
    ProviderDealIdentifier {
        receiver: client(),
        deal_id: DEAL_ID,
    }
}

#[test]
fn data_transfer_events_map_to_provider_inputs() {
    let rows = [
        (
            DtEvent::new(DtEventCode::Accept),
            DtStatus::Ongoing,
            ProviderInput::DealAccepted(ChannelId::new(client(), provider(), 7)),
        ),
        (
            DtEvent::with_message(DtEventCode::Error, "something went wrong"),
            DtStatus::Ongoing,
            ProviderInput::DataTransferError(ProviderError::new(
                "deal data transfer failed: something went wrong",
            )),
        ),
        (
            DtEvent::new(DtEventCode::Disconnected),
            DtStatus::Ongoing,
            ProviderInput::DataTransferError(ProviderError::new(
                "deal data transfer stalled (peer hungup)",
            )),
        ),
        (
            DtEvent::new(DtEventCode::ResumeResponder),
            DtStatus::Completed,
            ProviderInput::Complete,
        ),
        (
            DtEvent::new(DtEventCode::Cancel),
            DtStatus::Cancelling,
            ProviderInput::ClientCancelled,
        ),
        (
            DtEvent::new(DtEventCode::DataLimitExceeded),
            DtStatus::Ongoing,
            ProviderInput::PaymentRequested,
        ),
        (
            DtEvent::new(DtEventCode::BeginFinalizing),
            DtStatus::Finalizing,
            ProviderInput::LastPaymentRequested,
        ),
        (
            DtEvent::new(DtEventCode::NewVoucher),
            DtStatus::Ongoing,
            ProviderInput::ProcessPayment,
        ),
    ];
    for (event, status, expected) in rows {
        let got = transfer_event_input(&event, &provider_channel(status));
        assert_eq!(
            got,
            Some((deal_key(), expected)),
            "{:?} / {status:?}",
            event.code
        );
    }
}

#[test]
fn a_completed_channel_completes_the_deal_whatever_the_event() {
    for code in [
        DtEventCode::Accept,
        DtEventCode::Error,
        DtEventCode::Cancel,
        DtEventCode::NewVoucher,
        DtEventCode::DataSent,
    ] {
        let got = transfer_event_input(&DtEvent::new(code), &provider_channel(DtStatus::Completed));
        assert_eq!(got, Some((deal_key(), ProviderInput::Complete)), "{code:?}");
    }
}

#[test]
fn other_event_codes_map_to_nothing() {
    for code in [
        DtEventCode::Open,
        DtEventCode::DataSent,
        DtEventCode::DataReceived,
        DtEventCode::ResumeResponder,
        DtEventCode::PauseResponder,
        DtEventCode::NewVoucherResult,
    ] {
        let got = transfer_event_input(&DtEvent::new(code), &provider_channel(DtStatus::Ongoing));
        assert_eq!(got, None, "{code:?}");
    }
}

#[test]
fn channels_not_opened_with_a_proposal_are_ignored() {
    for initial in [None, Some(payment_voucher()), Some(fake_voucher())] {
        let mut state = provider_channel(DtStatus::Ongoing);
        state.voucher = initial.clone();
        let got = transfer_event_input(&DtEvent::new(DtEventCode::Accept), &state);
        assert_eq!(got, None, "initial voucher {initial:?}");
        state.status = DtStatus::Completed;
        let got = transfer_event_input(&DtEvent::new(DtEventCode::Accept), &state);
        assert_eq!(got, None, "completed, initial voucher {initial:?}");
    }
}

// ---- ValidatePull ---------------------------------------------------------------------------

struct Pieces(Result<PieceInfo, PieceLookupError>);

impl PieceLookup for Pieces {
    fn get_piece(
        &self,
        _payload: &cid::Cid,
        _piece: Option<&cid::Cid>,
    ) -> Result<PieceInfo, PieceLookupError> {
        self.0.clone()
    }
}

struct Asks(Result<Ask, MockError>);

impl retrieval_provider::sources::AskSource for Asks {
    type Error = MockError;

    fn get_ask(&self, _: &DealProposal, _: &PieceInfo, _: &PeerId) -> Result<Ask, MockError> {
        self.0.clone()
    }
}

/// A decider that answers `answer` and remembers the deal it was asked about.
struct Scripted {
    answer: Result<Decision, MockError>,
    seen: RefCell<Option<ProviderDealState>>,
}

impl Scripted {
    fn new(answer: Result<Decision, MockError>) -> Self {
        Scripted {
            answer,
            seen: RefCell::new(None),
        }
    }
}

impl Decider for Scripted {
    type Error = MockError;

    fn decide(&self, deal: &ProviderDealState) -> Result<Decision, MockError> {
        *self.seen.borrow_mut() = Some(deal.clone());
        self.answer.clone()
    }
}

fn piece() -> PieceInfo {
    PieceInfo {
        piece_cid: test_cid(9),
        deals: vec![DealInfo {
            deal_id: 5,
            sector_id: 6,
            offset: 0,
            length: 1 << 20,
        }],
    }
}

/// An ask every fixture proposal meets.
fn easy_ask() -> Ask {
    Ask {
        price_per_byte: tokens(1),
        unseal_price: TokenAmount::zero(),
        payment_interval: 1 << 20,
        payment_interval_increase: 1 << 20,
    }
}

/// Validates a pull of `voucher` for `root` and `selector` with the given lookups.
fn pull<D: Decider>(
    pieces: &Pieces,
    asks: &Asks,
    decider: &D,
    voucher: Option<&Voucher>,
    root: &cid::Cid,
    selector: &RawCbor,
) -> Result<PullValidation, ValidationError> {
    let receiver = client();
    validate_pull(
        PullValidator {
            pieces,
            asks,
            decider,
        },
        PullRequest {
            receiver: &receiver,
            voucher,
            base_cid: root,
            selector,
        },
    )
}

fn v0_voucher() -> Voucher {
    Voucher::Proposal(proposal(v0_params()))
}

fn rejected(status: DealStatus, message: &str) -> PullValidation {
    PullValidation::Rejected(ValidationResult {
        accepted: false,
        voucher_result: Some(DealResponse {
            status,
            id: DEAL_ID,
            payment_owed: TokenAmount::zero(),
            message: message.to_owned(),
        }),
        ..ValidationResult::default()
    })
}

/// Validates the V0 fixture with `pieces`, `asks` and `decider` against the matching root and
/// selector.
fn pull_v0<D: Decider>(pieces: Pieces, asks: Asks, decider: &D) -> PullValidation {
    let voucher = v0_voucher();
    pull(
        &pieces,
        &asks,
        decider,
        Some(&voucher),
        &proposal(v0_params()).payload_cid,
        &explore_all(),
    )
    .expect("validated")
}

#[test]
fn pull_without_a_voucher_is_an_error() {
    let got = pull(
        &Pieces(Ok(piece())),
        &Asks(Ok(easy_ask())),
        &AcceptAll,
        None,
        &test_cid(1),
        &explore_all(),
    );
    assert_eq!(got, Err(ValidationError::EmptyVoucher));
    assert_eq!(ValidationError::EmptyVoucher.to_string(), "empty voucher");
}

#[test]
fn pull_with_a_payment_voucher_is_an_error() {
    let voucher = payment_voucher();
    let got = pull(
        &Pieces(Ok(piece())),
        &Asks(Ok(easy_ask())),
        &AcceptAll,
        Some(&voucher),
        &test_cid(1),
        &explore_all(),
    );
    assert_eq!(got, Err(ValidationError::WrongVoucherType));
}

#[test]
fn pull_for_another_root_is_rejected() {
    let voucher = v0_voucher();
    let got = pull(
        &Pieces(Ok(piece())),
        &Asks(Ok(easy_ask())),
        &AcceptAll,
        Some(&voucher),
        &test_cid(2),
        &explore_all(),
    );
    assert_eq!(
        got,
        Ok(rejected(
            DealStatus::Rejected,
            "incorrect CID for this proposal"
        ))
    );
}

#[test]
fn pull_with_another_selector_is_rejected() {
    let voucher = v0_voucher();
    // The explore-all selector with a recursion limit of depth 5 instead of none.
    let other = RawCbor::new(vec![
        0xa1, 0x61, b'R', 0xa2, 0x61, b'l', 0xa1, 0x65, b'd', b'e', b'p', b't', b'h', 0x05, 0x62,
        b':', b'>', 0xa1, 0x61, b'a', 0xa1, 0x61, b'>', 0xa1, 0x61, b'@', 0xa0,
    ])
    .expect("well-formed");
    let got = pull(
        &Pieces(Ok(piece())),
        &Asks(Ok(easy_ask())),
        &AcceptAll,
        Some(&voucher),
        &proposal(v0_params()).payload_cid,
        &other,
    );
    assert_eq!(
        got,
        Ok(rejected(
            DealStatus::Rejected,
            "incorrect selector specified for this proposal"
        ))
    );
}

#[test]
fn pull_with_the_proposal_s_own_selector_is_checked_against_it() {
    // V1 params carry the explore-all selector explicitly; the request must match it.
    let voucher = Voucher::Proposal(proposal(funding_params()));
    let ask = Ask {
        unseal_price: tokens(500_000),
        ..easy_ask()
    };
    let got = pull(
        &Pieces(Ok(piece())),
        &Asks(Ok(ask)),
        &AcceptAll,
        Some(&voucher),
        &proposal(funding_params()).payload_cid,
        &explore_all(),
    )
    .expect("validated");
    assert!(got.result().accepted);
}

#[test]
fn pull_for_a_missing_piece_is_deal_not_found() {
    let got = pull_v0(
        Pieces(Err(PieceLookupError::NotFound)),
        Asks(Ok(easy_ask())),
        &AcceptAll,
    );
    assert_eq!(got, rejected(DealStatus::DealNotFound, "not found"));
}

#[test]
fn pull_when_the_piece_lookup_fails_is_errored() {
    let got = pull_v0(
        Pieces(Err(PieceLookupError::Failed(
            "something went wrong".to_owned(),
        ))),
        Asks(Ok(easy_ask())),
        &AcceptAll,
    );
    assert_eq!(got, rejected(DealStatus::Errored, "something went wrong"));
}

#[test]
fn pull_when_pricing_fails_is_errored() {
    let got = pull_v0(
        Pieces(Ok(piece())),
        Asks(Err(MockError::new("no ask"))),
        &AcceptAll,
    );
    assert_eq!(got, rejected(DealStatus::Errored, "no ask"));
}

#[test]
fn pull_below_the_ask_is_rejected_with_go_s_message() {
    let ask = Ask {
        price_per_byte: tokens(501),
        ..easy_ask()
    };
    let got = pull_v0(Pieces(Ok(piece())), Asks(Ok(ask)), &AcceptAll);
    assert_eq!(
        got,
        rejected(DealStatus::Rejected, "Price per byte too low")
    );
}

#[test]
fn pull_when_the_decider_fails_is_errored() {
    let decider = Scripted::new(Err(MockError::new("decider broke")));
    let got = pull_v0(Pieces(Ok(piece())), Asks(Ok(easy_ask())), &decider);
    assert_eq!(got, rejected(DealStatus::Errored, "decider broke"));
}

#[test]
fn pull_refused_by_the_decider_is_rejected_with_its_reason() {
    let decider = Scripted::new(Ok(Decision::Reject("not today".to_owned())));
    let got = pull_v0(Pieces(Ok(piece())), Asks(Ok(easy_ask())), &decider);
    assert_eq!(got, rejected(DealStatus::Rejected, "not today"));
    let seen = decider
        .seen
        .borrow()
        .clone()
        .expect("the decider was asked");
    assert_eq!(seen.piece_info, Some(piece()));
    assert_eq!(seen.receiver, client());
}

#[test]
fn accepted_pull_without_unseal_price_opens_the_deal() {
    let got = pull_v0(Pieces(Ok(piece())), Asks(Ok(easy_ask())), &AcceptAll);
    let PullValidation::Accepted {
        result,
        deal,
        first_input,
    } = got
    else {
        panic!("expected acceptance, got {got:?}");
    };
    assert_eq!(
        result,
        vr(
            true,
            true,
            true,
            v0_params().payment_interval,
            Some(DealResponse {
                status: DealStatus::Accepted,
                id: DEAL_ID,
                payment_owed: TokenAmount::zero(),
                message: String::new(),
            }),
        )
    );
    assert_eq!(first_input, ProviderInput::Open);
    assert_eq!(deal.status, DealStatus::New);
    assert_eq!(deal.piece_info, Some(piece()));
    assert_eq!(deal.identifier(), deal_key());
    assert_eq!(deal.deal_proposal, proposal(v0_params()));
}

#[test]
fn accepted_pull_with_unseal_price_asks_for_payment_first() {
    let voucher = Voucher::Proposal(proposal(funding_params()));
    let got = pull(
        &Pieces(Ok(piece())),
        &Asks(Ok(easy_ask())),
        &AcceptAll,
        Some(&voucher),
        &proposal(funding_params()).payload_cid,
        &explore_all(),
    )
    .expect("validated");
    let PullValidation::Accepted {
        result,
        first_input,
        ..
    } = got
    else {
        panic!("expected acceptance, got {got:?}");
    };
    assert_eq!(first_input, ProviderInput::PaymentRequested);
    assert_eq!(
        result,
        vr(
            true,
            true,
            true,
            1000,
            Some(DealResponse {
                status: DealStatus::FundsNeededUnseal,
                id: DEAL_ID,
                payment_owed: tokens(500_000),
                message: String::new(),
            }),
        )
    );
}

#[test]
fn pushes_are_refused() {
    assert_eq!(validate_push(), Err(ValidationError::PushNotAccepted));
    assert_eq!(
        ValidationError::PushNotAccepted.to_string(),
        "No pushes accepted"
    );
}

#[test]
fn deal_params_are_checked_in_go_s_order_with_go_s_messages() {
    let ask = Ask {
        price_per_byte: tokens(500),
        unseal_price: tokens(100),
        payment_interval: 1000,
        payment_interval_increase: 500,
    };
    let at_ask = proposal(
        retrieval_provider::Params::new_v1(
            tokens(500),
            1000,
            500,
            Some(explore_all()),
            None,
            tokens(100),
        )
        .expect("selector given"),
    );
    assert_eq!(check_deal_params(&ask, &at_ask), Ok(()));

    let mut cheap = at_ask.clone();
    cheap.params.price_per_byte = tokens(499);
    cheap.params.payment_interval = 1001; // also wrong, but price is checked first
    assert_eq!(
        check_deal_params(&ask, &cheap),
        Err(DealParamsError::PricePerByteTooLow)
    );
    let mut long = at_ask.clone();
    long.params.payment_interval = 1001;
    assert_eq!(
        check_deal_params(&ask, &long),
        Err(DealParamsError::PaymentIntervalTooLarge)
    );
    let mut growing = at_ask.clone();
    growing.params.payment_interval_increase = 501;
    assert_eq!(
        check_deal_params(&ask, &growing),
        Err(DealParamsError::PaymentIntervalIncreaseTooLarge)
    );
    let mut unseal = at_ask;
    unseal.params.unseal_price = tokens(99);
    assert_eq!(
        check_deal_params(&ask, &unseal),
        Err(DealParamsError::UnsealPriceTooSmall)
    );
    let messages: Vec<String> = [
        DealParamsError::PricePerByteTooLow,
        DealParamsError::PaymentIntervalTooLarge,
        DealParamsError::PaymentIntervalIncreaseTooLarge,
        DealParamsError::UnsealPriceTooSmall,
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    assert_eq!(
        messages,
        [
            "Price per byte too low",
            "Payment interval too large",
            "Payment interval increase too large",
            "Unseal price too small"
        ]
    );
}

#[test]
fn the_explore_all_selector_is_its_canonical_dag_cbor() {
    use ipld_core::ipld::Ipld;
    use std::collections::BTreeMap;
    fn map(entries: Vec<(&str, Ipld)>) -> Ipld {
        Ipld::Map(
            entries
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect::<BTreeMap<_, _>>(),
        )
    }
    let selector = map(vec![(
        "R",
        map(vec![
            ("l", map(vec![("none", map(vec![]))])),
            (
                ":>",
                map(vec![("a", map(vec![(">", map(vec![("@", map(vec![]))]))]))]),
            ),
        ]),
    )]);
    let encoded = RawCbor::from_ipld(&selector).expect("encodes");
    assert_eq!(encoded.as_bytes(), EXPLORE_ALL_SELECTOR);
}

// ---- ValidateRestart ------------------------------------------------------------------------

/// A deal store holding at most one deal, remembering the id it was asked for.
struct Store {
    deal: Result<ProviderDealState, MockError>,
    asked: RefCell<Option<ProviderDealIdentifier>>,
}

impl Store {
    fn new(deal: Result<ProviderDealState, MockError>) -> Self {
        Store {
            deal,
            asked: RefCell::new(None),
        }
    }
}

impl DealLookup for Store {
    type Error = MockError;

    fn get_deal(&self, id: &ProviderDealIdentifier) -> Result<ProviderDealState, MockError> {
        *self.asked.borrow_mut() = Some(id.clone());
        self.deal.clone()
    }
}

fn restart(
    status: DealStatus,
    funds: u64,
    queued: u64,
    dt_status: DtStatus,
) -> Result<ValidationResult, ValidationError> {
    let store = Store::new(Ok(funding_deal(status, funds)));
    let result = validate_restart(&channel(proposal_voucher(), queued, dt_status), &store);
    assert_eq!(
        *store.asked.borrow(),
        Some(ProviderDealIdentifier {
            receiver: PeerId::from("initiator"),
            deal_id: DEAL_ID,
        }),
        "the deal is looked up under the other peer"
    );
    result
}

#[test]
fn restart_during_normal_operation() {
    assert_eq!(
        restart(DealStatus::Ongoing, 1_000_000, 1000, DtStatus::Ongoing),
        Ok(vr(true, false, true, 2500, None))
    );
}

#[test]
fn restart_while_unsealing_stays_paused() {
    assert_eq!(
        restart(DealStatus::Unsealing, 500_000, 0, DtStatus::ResponderPaused),
        Ok(vr(true, true, true, 1000, None))
    );
}

#[test]
fn restart_after_the_last_payment_needs_no_finalization() {
    assert_eq!(
        restart(
            DealStatus::Finalizing,
            1_500_000,
            2000,
            DtStatus::Finalizing
        ),
        Ok(vr(true, false, false, 2500, None))
    );
}

#[test]
fn restart_with_the_last_payment_owed_still_needs_finalization() {
    assert_eq!(
        restart(
            DealStatus::FundsNeededLastPayment,
            1_000_000,
            2000,
            DtStatus::Finalizing
        ),
        Ok(vr(true, false, true, 2500, None))
    );
}

#[test]
fn restart_when_the_deal_cannot_be_read_is_refused() {
    let store = Store::new(Err(MockError::new("something went wrong")));
    let got = validate_restart(&channel(proposal_voucher(), 0, DtStatus::Ongoing), &store);
    assert_eq!(
        got,
        Ok(vr(
            false,
            false,
            false,
            0,
            Some(DealResponse {
                status: DealStatus::Errored,
                id: DEAL_ID,
                payment_owed: TokenAmount::zero(),
                message: "something went wrong".to_owned(),
            }),
        ))
    );
}

#[test]
fn restart_of_a_channel_not_opened_with_a_proposal_is_an_error() {
    let store = Store::new(Ok(funding_deal(DealStatus::Ongoing, 0)));
    let mut state = channel(proposal_voucher(), 0, DtStatus::Ongoing);
    state.voucher = Some(fake_voucher());
    let got = validate_restart(&state, &store);
    assert_eq!(got, Err(ValidationError::WrongVoucherType));
    assert_eq!(got.unwrap_err().to_string(), "wrong voucher type");
    assert!(store.asked.borrow().is_none());
}
