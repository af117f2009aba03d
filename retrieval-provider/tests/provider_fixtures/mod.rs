//! The fixtures of go-fil-markets' `providerstates_test`, shared by the provider
//! machine's test files. Each file uses a subset, hence `dead_code`.
#![allow(dead_code, clippy::unwrap_used)]

use cid::Cid;
use cid::multihash::Multihash;
use retrieval_provider::entry::ProviderHandlers;
use retrieval_provider::harness::{EnvSetup, MockEnvironment, MockNode, NodeSetup};
use retrieval_provider::sources::EXPLORE_ALL_SELECTOR;
use retrieval_provider::{
    ChannelId, ChannelState, DealId, DealPayment, DealProposal, DealResponse, DealStatus, DtStatus,
    Params, PeerId, ProviderDealState, RawCbor, TokenAmount, ValidationResult, Voucher,
};

/// The deal id of every fixture.
pub const DEAL_ID: DealId = DealId(10);

/// A CIDv1 (raw codec, sha2-256 code) whose digest is 32 copies of `seed`.
pub fn test_cid(seed: u8) -> Cid {
    Cid::new_v1(0x55, Multihash::<64>::wrap(0x12, &[seed; 32]).unwrap())
}

/// The payload CID of every fixture proposal.
pub fn payload_cid() -> Cid {
    test_cid(1)
}

/// `{Initiator: "initiator", Responder: "", ID: 1}`.
pub fn channel_id() -> ChannelId {
    ChannelId::new("initiator", "", 1)
}

/// An amount.
pub fn tokens(amount: u64) -> TokenAmount {
    TokenAmount::from(amount)
}

/// The explore-all selector as DAG-CBOR.
pub fn explore_all() -> RawCbor {
    RawCbor::new(EXPLORE_ALL_SELECTOR.to_vec()).unwrap()
}

/// V0 params: price 500, interval 1000, increase 500, no unseal price.
pub fn v0_params() -> Params {
    Params::new_v0(tokens(500), 1000, 500)
}

/// The UpdateFunding params (V1): price 500, interval 1000, increase 500, unseal 500,000,
/// explore-all selector, no piece CID.
pub fn funding_params() -> Params {
    Params::new_v1(
        tokens(500),
        1000,
        500,
        Some(explore_all()),
        None,
        tokens(500_000),
    )
    .unwrap()
}

/// The fixture proposal with `params`.
pub fn proposal(params: Params) -> DealProposal {
    DealProposal {
        payload_cid: payload_cid(),
        id: DEAL_ID,
        params,
    }
}

/// Go's `makeDealState(status)`: FundsReceived 2,500,000, V0 params, empty receiver, no
/// channel.
pub fn make_deal_state(status: DealStatus) -> ProviderDealState {
    let mut deal = ProviderDealState::new(proposal(v0_params()), PeerId::default());
    deal.status = status;
    deal.funds_received = tokens(2_500_000);
    deal
}

/// A deal with the UpdateFunding params, the fixture channel, `status` and `funds_received`.
pub fn funding_deal(status: DealStatus, funds_received: u64) -> ProviderDealState {
    let mut deal = ProviderDealState::new(proposal(funding_params()), PeerId::default());
    deal.status = status;
    deal.funds_received = tokens(funds_received);
    deal.channel_id = Some(channel_id());
    deal
}

/// "Payment": an empty `DealPayment{}`.
pub fn payment_voucher() -> Voucher {
    Voucher::Payment(DealPayment::default())
}

/// "Proposal": the fixture proposal.
pub fn proposal_voucher() -> Voucher {
    Voucher::Proposal(proposal(funding_params()))
}

/// "Fake": a voucher of type "Fake".
pub fn fake_voucher() -> Voucher {
    Voucher::Other {
        type_id: "Fake".to_owned(),
    }
}

/// The fixture channel: opened with the fixture proposal by "initiator" (the client),
/// holding `last_voucher`, with `queued` bytes and status `status`.
pub fn channel(last_voucher: Voucher, queued: u64, status: DtStatus) -> ChannelState {
    ChannelState {
        channel_id: channel_id(),
        status,
        queued,
        voucher: Some(proposal_voucher()),
        last_voucher: Some(last_voucher),
        sender: PeerId::default(),
        recipient: PeerId::from("initiator"),
        self_peer: PeerId::default(),
    }
}

/// Entry funcs over a mock environment scripted by `env` and `node`.
pub fn handlers(env: EnvSetup, node: NodeSetup) -> ProviderHandlers<MockEnvironment> {
    ProviderHandlers::new(MockEnvironment::new(env, MockNode::new(node)))
}

/// `DealResponse{ID: 10, Status: status, PaymentOwed: owed}`.
pub fn response(status: DealStatus, owed: u64) -> DealResponse {
    DealResponse {
        status,
        id: DEAL_ID,
        payment_owed: tokens(owed),
        message: String::new(),
    }
}

/// `DealResponse{ID: 10, Status: Errored, Message: message}`.
pub fn error_response(message: &str) -> DealResponse {
    DealResponse {
        status: DealStatus::Errored,
        id: DEAL_ID,
        payment_owed: TokenAmount::zero(),
        message: message.to_owned(),
    }
}

/// A validation result written compactly as `[accepted, pause, finalization, limit, result]`.
pub fn vr(
    accepted: bool,
    force_pause: bool,
    requires_finalization: bool,
    data_limit: u64,
    voucher_result: Option<DealResponse>,
) -> ValidationResult {
    ValidationResult {
        accepted,
        voucher_result,
        force_pause,
        data_limit,
        requires_finalization,
    }
}
