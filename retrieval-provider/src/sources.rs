//! Where the provider's events come from, as pure functions.
//!
//! * [`transfer_event_input`]: Go's `ProviderDataTransferSubscriber`, mapping a data-transfer
//!   event on a channel to the deal it concerns and the input to send it.
//! * [`validate_pull`]: Go's `ValidatePull`, which decides on a retrieval request and, when
//!   it accepts, hands back the new deal and its first input. The lookups it needs sit
//!   behind the small traits [`PieceLookup`], [`AskSource`] and [`Decider`].
//! * [`validate_restart`]: Go's `ValidateRestart`, which answers a restarted channel from the
//!   stored deal, read through [`DealLookup`].
//!
//! None of them sends anything: the caller starts the deal (`begin`) and sends the inputs,
//! which keeps these functions testable without a running group.

use std::error::Error;

use cid::Cid;

use crate::cbor::RawCbor;
use crate::dt::{DtEvent, DtEventCode};
use crate::error::ProviderError;
use crate::ids::{PeerId, ProviderDealIdentifier};
use crate::machine::ProviderInput;
use crate::status::DealStatus;
use crate::token::TokenAmount;
use crate::transfer::{ChannelState, DtStatus, ValidationResult, Voucher};
use crate::types::{DealProposal, DealResponse, PieceInfo, ProviderDealState};

/// Go's `selectorparse.CommonSelector_ExploreAllRecursively` as DAG-CBOR: the selector a
/// proposal without one stands for,
/// `{"R": {"l": {"none": {}}, ":>": {"a": {">": {"@": {}}}}}}`.
pub const EXPLORE_ALL_SELECTOR: &[u8] = &[
    0xa1, 0x61, b'R', 0xa2, 0x61, b'l', 0xa1, 0x64, b'n', b'o', b'n', b'e', 0xa0, 0x62, b':', b'>',
    0xa1, 0x61, b'a', 0xa1, 0x61, b'>', 0xa1, 0x61, b'@', 0xa0,
];

/// The error text of a `DataTransferError` sent for a [`DtEventCode::Disconnected`] event.
pub const PEER_HUNG_UP: &str = "deal data transfer stalled (peer hungup)";

/// Go's `ProviderDataTransferSubscriber`: the deal a data-transfer event concerns
/// and the input to send it, or `None` when the event is not for a provider deal or maps to
/// nothing.
///
/// * The channel's *initial* voucher must be a proposal; otherwise the event is ignored (Go
///   logs "received empty voucher" when there is none).
/// * The deal is `{receiver: channel.recipient, deal_id: proposal.id}`.
/// * A channel whose status is `Completed` yields `Complete`, whatever the event code.
/// * Otherwise: `Accept` → `DealAccepted(channel id)`, `Disconnected` →
///   `DataTransferError("deal data transfer stalled (peer hungup)")`, `Error` →
///   `DataTransferError("deal data transfer failed: <message>")`, `DataLimitExceeded` →
///   `PaymentRequested`, `BeginFinalizing` → `LastPaymentRequested` (free deals too),
///   `NewVoucher` → `ProcessPayment`, `Cancel` → `ClientCancelled`; any other code → `None`.
pub fn transfer_event_input(
    event: &DtEvent,
    channel: &ChannelState,
) -> Option<(ProviderDealIdentifier, ProviderInput)> {
    let proposal = channel.voucher.as_ref()?.as_proposal()?;
    let deal = ProviderDealIdentifier {
        receiver: channel.recipient.clone(),
        deal_id: proposal.id,
    };
    if channel.status == DtStatus::Completed {
        return Some((deal, ProviderInput::Complete));
    }
    let input = match event.code {
        DtEventCode::Accept => ProviderInput::DealAccepted(channel.channel_id.clone()),
        DtEventCode::Disconnected => ProviderInput::DataTransferError(PEER_HUNG_UP.into()),
        DtEventCode::Error => ProviderInput::DataTransferError(ProviderError::new(format!(
            "deal data transfer failed: {}",
            event.message
        ))),
        DtEventCode::DataLimitExceeded => ProviderInput::PaymentRequested,
        DtEventCode::BeginFinalizing => ProviderInput::LastPaymentRequested,
        DtEventCode::NewVoucher => ProviderInput::ProcessPayment,
        DtEventCode::Cancel => ProviderInput::ClientCancelled,
        _ => return None,
    };
    Some((deal, input))
}

/// Why a request could not be validated at all (Go's non-nil `error` results; a request that
/// is validated and refused is a [`PullValidation::Rejected`] instead).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// The request carries no voucher.
    #[error("empty voucher")]
    EmptyVoucher,
    /// The request's voucher is not a deal proposal.
    #[error("wrong voucher type")]
    WrongVoucherType,
    /// A push request: retrieval providers only serve pulls.
    #[error("No pushes accepted")]
    PushNotAccepted,
}

/// Go's `ValidatePush`: a provider accepts no pushes.
pub fn validate_push() -> Result<ValidationResult, ValidationError> {
    Err(ValidationError::PushNotAccepted)
}

/// Why [`PieceLookup::get_piece`] found no piece.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PieceLookupError {
    /// No piece holds the payload (Go's `retrievalmarket.ErrNotFound`); the client gets
    /// `DealNotFound`.
    #[error("not found")]
    NotFound,
    /// The lookup failed; the client gets `Errored` with this text.
    #[error("{0}")]
    Failed(String),
}

/// Finds the piece a payload can be retrieved from (Go's `GetPiece`).
pub trait PieceLookup {
    /// The piece holding `payload_cid`, restricted to `piece_cid` when the client named one.
    fn get_piece(
        &self,
        payload_cid: &Cid,
        piece_cid: Option<&Cid>,
    ) -> Result<PieceInfo, PieceLookupError>;
}

/// The provider's current terms (Go's `retrievalmarket.Ask`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ask {
    /// The lowest price per byte accepted.
    pub price_per_byte: TokenAmount,
    /// The lowest unseal price accepted.
    pub unseal_price: TokenAmount,
    /// The largest payment interval accepted.
    pub payment_interval: u64,
    /// The largest payment-interval increase accepted.
    pub payment_interval_increase: u64,
}

/// Prices a retrieval (Go's `GetAsk`, backed by the provider's pricing function).
pub trait AskSource {
    /// The error of a failed pricing; the client gets `Errored` with its text.
    type Error: Error;

    /// The terms for retrieving `proposal` from `piece` for `receiver`.
    fn get_ask(
        &self,
        proposal: &DealProposal,
        piece: &PieceInfo,
        receiver: &PeerId,
    ) -> Result<Ask, Self::Error>;
}

impl AskSource for Ask {
    type Error = std::convert::Infallible;

    /// A fixed ask.
    fn get_ask(&self, _: &DealProposal, _: &PieceInfo, _: &PeerId) -> Result<Ask, Self::Error> {
        Ok(self.clone())
    }
}

/// What a [`Decider`] says about a deal.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Decision {
    /// Take the deal.
    Accept,
    /// Refuse it; the reason is sent to the client.
    Reject(String),
}

/// The provider's own deal policy (Go's `RetrievalDeciderFunc`).
pub trait Decider {
    /// The error of a failed decision; the client gets `Errored` with its text.
    type Error: Error;

    /// Decides on `deal` (status `New`, piece info set).
    fn decide(&self, deal: &ProviderDealState) -> Result<Decision, Self::Error>;
}

/// The decider of a provider without one: accepts every deal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct AcceptAll;

impl Decider for AcceptAll {
    type Error = std::convert::Infallible;

    fn decide(&self, _: &ProviderDealState) -> Result<Decision, Self::Error> {
        Ok(Decision::Accept)
    }
}

/// Why a proposal's terms fall short of the ask (Go's `CheckDealParams` errors).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum DealParamsError {
    /// The price per byte is below the ask's.
    #[error("Price per byte too low")]
    PricePerByteTooLow,
    /// The payment interval is above the ask's.
    #[error("Payment interval too large")]
    PaymentIntervalTooLarge,
    /// The payment-interval increase is above the ask's.
    #[error("Payment interval increase too large")]
    PaymentIntervalIncreaseTooLarge,
    /// The unseal price is below the ask's.
    #[error("Unseal price too small")]
    UnsealPriceTooSmall,
}

/// Go's `CheckDealParams`: whether `proposal`'s terms meet `ask`, checked in Go's order.
pub fn check_deal_params(ask: &Ask, proposal: &DealProposal) -> Result<(), DealParamsError> {
    let params = &proposal.params;
    if params.price_per_byte < ask.price_per_byte {
        return Err(DealParamsError::PricePerByteTooLow);
    }
    if params.payment_interval > ask.payment_interval {
        return Err(DealParamsError::PaymentIntervalTooLarge);
    }
    if params.payment_interval_increase > ask.payment_interval_increase {
        return Err(DealParamsError::PaymentIntervalIncreaseTooLarge);
    }
    if params.unseal_price < ask.unseal_price {
        return Err(DealParamsError::UnsealPriceTooSmall);
    }
    Ok(())
}

/// A pull request as the validator sees it.
#[derive(Clone, Copy, Debug)]
pub struct PullRequest<'a> {
    /// The client.
    pub receiver: &'a PeerId,
    /// The request's voucher, if any.
    pub voucher: Option<&'a Voucher>,
    /// The root the client asked for.
    pub base_cid: &'a Cid,
    /// The selector the client asked for, as DAG-CBOR.
    pub selector: &'a RawCbor,
}

/// The lookups [`validate_pull`] makes.
#[derive(Clone, Copy, Debug)]
pub struct PullValidator<'a, P, A, D> {
    /// Finds pieces.
    pub pieces: &'a P,
    /// Prices retrievals.
    pub asks: &'a A,
    /// Decides on deals.
    pub decider: &'a D,
}

/// What [`validate_pull`] decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PullValidation {
    /// The request is refused; the result carries the `DealResponse` saying why. No deal is
    /// started.
    Rejected(ValidationResult),
    /// The request is accepted: start `deal` (Go's `BeginTracking`) and send it
    /// `first_input`, then answer with `result`.
    Accepted {
        /// The answer to the client.
        result: ValidationResult,
        /// The new deal, in `New`, with its piece info (boxed: it is much larger than a
        /// refusal).
        deal: Box<ProviderDealState>,
        /// `PaymentRequested` when unsealing has a price, `Open` otherwise.
        first_input: ProviderInput,
    },
}

impl PullValidation {
    /// The answer to the client.
    pub fn result(&self) -> &ValidationResult {
        match self {
            PullValidation::Rejected(result) | PullValidation::Accepted { result, .. } => result,
        }
    }
}

/// A refusal carrying `DealResponse{id, status, message}`.
fn rejection(proposal: &DealProposal, status: DealStatus, message: String) -> PullValidation {
    PullValidation::Rejected(ValidationResult {
        accepted: false,
        voucher_result: Some(DealResponse {
            status,
            id: proposal.id,
            payment_owed: TokenAmount::zero(),
            message,
        }),
        ..ValidationResult::default()
    })
}

/// Go's `ValidatePull`: checks a pull request and, when it is accepted, returns
/// the deal to start and its first input.
///
/// Checks, in order, each refusing with a `DealResponse`: the payload CID matches the request
/// root (`Rejected`, "incorrect CID for this proposal"); the selector (the proposal's, or
/// [`EXPLORE_ALL_SELECTOR`] when it has none) matches the request's bytes (`Rejected`,
/// "incorrect selector specified for this proposal"); the piece is found (`DealNotFound`,
/// "not found", or `Errored`); the ask is available (`Errored`); the terms meet it
/// ([`check_deal_params`], `Rejected`); the decider does not fail (`Errored`) and accepts
/// (`Rejected` with its reason).
///
/// On acceptance the result is accepted, paused, requires finalization, has the data limit
/// `next_interval(0)` and a `DealResponse` with status `FundsNeededUnseal` (unseal price > 0)
/// or `Accepted` and the unseal price owed.
pub fn validate_pull<P, A, D>(
    validator: PullValidator<'_, P, A, D>,
    request: PullRequest<'_>,
) -> Result<PullValidation, ValidationError>
where
    P: PieceLookup,
    A: AskSource,
    D: Decider,
{
    let proposal = match request.voucher {
        None => return Err(ValidationError::EmptyVoucher),
        Some(Voucher::Proposal(proposal)) => proposal,
        Some(_) => return Err(ValidationError::WrongVoucherType),
    };
    if proposal.payload_cid != *request.base_cid {
        return Ok(rejection(
            proposal,
            DealStatus::Rejected,
            "incorrect CID for this proposal".to_owned(),
        ));
    }
    let expected_selector = match &proposal.params.selector {
        Some(selector) if proposal.params.selector_specified() => selector.as_bytes(),
        _ => EXPLORE_ALL_SELECTOR,
    };
    if request.selector.as_bytes() != expected_selector {
        return Ok(rejection(
            proposal,
            DealStatus::Rejected,
            "incorrect selector specified for this proposal".to_owned(),
        ));
    }
    let piece = match validator
        .pieces
        .get_piece(&proposal.payload_cid, proposal.params.piece_cid.as_ref())
    {
        Ok(piece) => piece,
        Err(err @ PieceLookupError::NotFound) => {
            return Ok(rejection(
                proposal,
                DealStatus::DealNotFound,
                err.to_string(),
            ));
        }
        Err(err @ PieceLookupError::Failed(_)) => {
            return Ok(rejection(proposal, DealStatus::Errored, err.to_string()));
        }
    };
    let ask = match validator.asks.get_ask(proposal, &piece, request.receiver) {
        Ok(ask) => ask,
        Err(err) => return Ok(rejection(proposal, DealStatus::Errored, err.to_string())),
    };
    if let Err(err) = check_deal_params(&ask, proposal) {
        return Ok(rejection(proposal, DealStatus::Rejected, err.to_string()));
    }
    let mut deal = ProviderDealState::new(proposal.clone(), request.receiver.clone());
    deal.piece_info = Some(piece);
    match validator.decider.decide(&deal) {
        Ok(Decision::Accept) => {}
        Ok(Decision::Reject(reason)) => {
            return Ok(rejection(proposal, DealStatus::Rejected, reason));
        }
        Err(err) => return Ok(rejection(proposal, DealStatus::Errored, err.to_string())),
    }
    let params = &proposal.params;
    let unseal_paid = params.unseal_price.is_positive();
    let result = ValidationResult {
        accepted: true,
        voucher_result: Some(DealResponse {
            status: if unseal_paid {
                DealStatus::FundsNeededUnseal
            } else {
                DealStatus::Accepted
            },
            id: proposal.id,
            payment_owed: params.outstanding_balance(&TokenAmount::zero(), 0, false),
            message: String::new(),
        }),
        force_pause: true,
        data_limit: params.next_interval(&TokenAmount::zero()),
        requires_finalization: true,
    };
    let first_input = if unseal_paid {
        ProviderInput::PaymentRequested
    } else {
        ProviderInput::Open
    };
    Ok(PullValidation::Accepted {
        result,
        deal: Box::new(deal),
        first_input,
    })
}

/// Reads a stored deal (Go's `GetSync` on the provider's state group).
pub trait DealLookup {
    /// The error of a failed read; the client gets `Errored` with its text.
    type Error: Error;

    /// The deal stored under `id`.
    fn get_deal(&self, id: &ProviderDealIdentifier) -> Result<ProviderDealState, Self::Error>;
}

/// Go's `ValidateRestart`: the answer to a restarted channel, from the deal it
/// belongs to.
///
/// The deal is `{receiver: channel.other_peer(), deal_id: proposal.id}`, read through
/// `deals`. A failed read refuses with `DealResponse{Errored, <error>}`. Otherwise the
/// transfer is accepted, paused while unsealing is unpaid or running, limited to
/// `next_interval(funds_received)`, and requires finalization unless the deal is in
/// `FundsNeededLastPayment` or `Finalizing` with nothing left to pay.
pub fn validate_restart<L: DealLookup>(
    channel: &ChannelState,
    deals: &L,
) -> Result<ValidationResult, ValidationError> {
    let Some(Voucher::Proposal(proposal)) = &channel.voucher else {
        return Err(ValidationError::WrongVoucherType);
    };
    let id = ProviderDealIdentifier {
        receiver: channel.other_peer().clone(),
        deal_id: proposal.id,
    };
    let deal = match deals.get_deal(&id) {
        Ok(deal) => deal,
        Err(err) => {
            return Ok(ValidationResult {
                accepted: false,
                voucher_result: Some(DealResponse {
                    status: DealStatus::Errored,
                    id: proposal.id,
                    payment_owed: TokenAmount::zero(),
                    message: err.to_string(),
                }),
                ..ValidationResult::default()
            });
        }
    };
    let params = deal.params();
    let requires_finalization = match deal.status {
        DealStatus::FundsNeededLastPayment | DealStatus::Finalizing => params
            .outstanding_balance(
                &deal.funds_received,
                channel.queued,
                channel.status.in_finalization(),
            )
            .is_positive(),
        _ => true,
    };
    Ok(ValidationResult {
        accepted: true,
        voucher_result: None,
        force_pause: matches!(
            deal.status,
            DealStatus::Unsealing | DealStatus::FundsNeededUnseal
        ),
        data_limit: params.next_interval(&deal.funds_received),
        requires_finalization,
    })
}
