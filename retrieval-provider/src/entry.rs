//! The provider's entry funcs (Go's `provider_states.go`).
//!
//! Each entry func is a plain async function of (context, environment, deal snapshot), so tests
//! can call it directly; [`ProviderHandlers`] wires them into the generated
//! [`ProviderEntryFuncs`] trait, which the state group (or the [`harness`](crate::harness))
//! dispatches on the deal's status.
//!
//! As in Go, an entry func reports every failure by *triggering an event* (`UnsealError`,
//! `DataTransferError`, `SaveVoucherFailed`, `MultiStoreError`), whose action writes the error's
//! text to the deal's `Message`. Triggering cannot fail here (inputs are typed), so the funcs
//! themselves never fail: Go's entry funcs return only the result of `ctx.Trigger`.

use fsm_runtime::{Context, EntryResult};

use crate::env::{ChannelClosed, ProviderDealEnvironment, RetrievalProviderNode};
use crate::error::ProviderError;
use crate::machine::{ProviderEntryFuncs, ProviderFsm, ProviderInput};
use crate::status::DealStatus;
use crate::token::TokenAmount;
use crate::transfer::{ChannelState, ValidationResult, Voucher};
use crate::types::{DealPayment, DealResponse, ProviderDealState};

/// The message of the `UnsealError` triggered when a deal reaches `Unsealing` without a
/// `PieceInfo` (where Go dereferences nil and panics).
pub const MISSING_PIECE_INFO: &str = "deal has no piece info: cannot prepare its blockstore";

/// The message sent back when a channel's last voucher is neither a payment nor a proposal.
pub const WRONG_VOUCHER_TYPE: &str = "wrong voucher type";

/// The provider's entry funcs bound to an environment: implements [`ProviderEntryFuncs`] for
/// every [`ProviderDealEnvironment`].
///
/// A wrapper rather than a blanket impl on the environment, so that an environment type stays
/// free to be used elsewhere and a provider can still supply its own `ProviderEntryFuncs`
/// (wrapping this one, say) without coherence conflicts.
#[derive(Debug, Clone, Default)]
pub struct ProviderHandlers<E> {
    env: E,
}

impl<E> ProviderHandlers<E> {
    /// Entry funcs running against `env`.
    pub fn new(env: E) -> Self {
        ProviderHandlers { env }
    }

    /// The environment.
    pub fn env(&self) -> &E {
        &self.env
    }

    /// Takes the environment back.
    pub fn into_env(self) -> E {
        self.env
    }
}

impl<E: ProviderDealEnvironment> ProviderEntryFuncs for ProviderHandlers<E> {
    async fn unseal_data(
        &self,
        ctx: &mut Context<ProviderFsm>,
        state: &ProviderDealState,
    ) -> EntryResult {
        unseal_data(ctx, &self.env, state).await;
        Ok(())
    }

    async fn unpause_deal(
        &self,
        ctx: &mut Context<ProviderFsm>,
        state: &ProviderDealState,
    ) -> EntryResult {
        unpause_deal(ctx, &self.env, state).await;
        Ok(())
    }

    async fn update_funding(
        &self,
        ctx: &mut Context<ProviderFsm>,
        state: &ProviderDealState,
    ) -> EntryResult {
        update_funding(ctx, &self.env, state).await;
        Ok(())
    }

    async fn cancel_deal(
        &self,
        ctx: &mut Context<ProviderFsm>,
        state: &ProviderDealState,
    ) -> EntryResult {
        cancel_deal(ctx, &self.env, state).await;
        Ok(())
    }

    async fn cleanup_deal(
        &self,
        ctx: &mut Context<ProviderFsm>,
        state: &ProviderDealState,
    ) -> EntryResult {
        cleanup_deal(ctx, &self.env, state).await;
        Ok(())
    }
}

/// The text of an environment or node error, as Go's `err.Error()`.
fn provider_error(err: &(dyn std::error::Error + '_)) -> ProviderError {
    ProviderError::from_error(err)
}

/// Go's `UnsealData` (entered in `Unsealing`): prepares the blockstore of the deal's piece.
///
/// Triggers `UnsealComplete`, or `UnsealError` with the environment's error. A deal without a
/// `PieceInfo` triggers `UnsealError(`[`MISSING_PIECE_INFO`]`)` (Go panics).
pub async fn unseal_data<E: ProviderDealEnvironment>(
    ctx: &mut Context<ProviderFsm>,
    env: &E,
    deal: &ProviderDealState,
) {
    let Some(piece_info) = &deal.piece_info else {
        ctx.trigger(ProviderInput::UnsealError(ProviderError::new(
            MISSING_PIECE_INFO,
        )));
        return;
    };
    match env
        .prepare_blockstore(deal.id(), &piece_info.piece_cid)
        .await
    {
        Ok(()) => ctx.trigger(ProviderInput::UnsealComplete),
        Err(err) => ctx.trigger(ProviderInput::UnsealError(provider_error(&err))),
    }
}

/// Go's `UnpauseDeal` (entered in `Unsealed`): resumes the transfer once the data is
/// unsealed.
///
/// Does nothing without a channel; triggers `DataTransferError` if resuming fails, and
/// nothing otherwise.
pub async fn unpause_deal<E: ProviderDealEnvironment>(
    ctx: &mut Context<ProviderFsm>,
    env: &E,
    deal: &ProviderDealState,
) {
    let Some(channel) = &deal.channel_id else {
        return;
    };
    if let Err(err) = env.resume_data_transfer(channel).await {
        ctx.trigger(ProviderInput::DataTransferError(provider_error(&err)));
    }
}

/// Go's `CancelDeal` (entered in `Failing` and `Cancelling`): releases the deal's blockstore
/// and closes its channel.
///
/// Triggers `MultiStoreError` if deleting the store fails (the channel is then left open, as
/// in Go), `DataTransferError` if closing the channel fails, and `CancelComplete` otherwise. A
/// channel that had already shut down counts as closed.
pub async fn cancel_deal<E: ProviderDealEnvironment>(
    ctx: &mut Context<ProviderFsm>,
    env: &E,
    deal: &ProviderDealState,
) {
    if let Err(err) = env.delete_store(deal.id()).await {
        ctx.trigger(ProviderInput::MultiStoreError(provider_error(&err)));
        return;
    }
    if let Some(channel) = &deal.channel_id {
        match env.close_data_transfer(channel).await {
            Ok(ChannelClosed::Closed | ChannelClosed::AlreadyTerminated) => {}
            Err(err) => {
                ctx.trigger(ProviderInput::DataTransferError(provider_error(&err)));
                return;
            }
        }
    }
    ctx.trigger(ProviderInput::CancelComplete);
}

/// Go's `CleanupDeal` (entered in `Completing`): releases the deal's blockstore.
///
/// Triggers `CleanupComplete`, or `MultiStoreError` if deleting the store fails.
pub async fn cleanup_deal<E: ProviderDealEnvironment>(
    ctx: &mut Context<ProviderFsm>,
    env: &E,
    deal: &ProviderDealState,
) {
    match env.delete_store(deal.id()).await {
        Ok(()) => ctx.trigger(ProviderInput::CleanupComplete),
        Err(err) => ctx.trigger(ProviderInput::MultiStoreError(provider_error(&err))),
    }
}

/// Go's `UpdateFunding` (entered in `FundsNeededUnseal`, `FundsNeeded` and
/// `FundsNeededLastPayment`, and re-run by every `ProcessPayment`): saves the channel's last
/// voucher, credits the new funds and tells data transfer how far it may go.
///
/// 1. Without a channel, does nothing.
/// 2. Reads the channel state; on error triggers `DataTransferError` and stops.
/// 3. Processes the last voucher ([`process_last_voucher`]) and computes the
///    [`ValidationResult`] ([`funding_result`]), triggering `SaveVoucherFailed`,
///    `PartialPaymentReceived` or `PaymentReceived` as it goes.
/// 4. Hands the result to data transfer; on error triggers `DataTransferError`.
pub async fn update_funding<E: ProviderDealEnvironment>(
    ctx: &mut Context<ProviderFsm>,
    env: &E,
    deal: &ProviderDealState,
) {
    let Some(channel) = &deal.channel_id else {
        return;
    };
    let channel_state = match env.channel_state(channel).await {
        Ok(channel_state) => channel_state,
        Err(err) => {
            ctx.trigger(ProviderInput::DataTransferError(provider_error(&err)));
            return;
        }
    };
    let result = match process_last_voucher(env, &channel_state).await {
        Ok(received) => {
            let funding = funding_result(deal, &channel_state, &received);
            if let Some(input) = funding.input {
                ctx.trigger(input);
            }
            funding.result
        }
        Err(VoucherFailure::SaveFailed(err)) => {
            let result = voucher_error_result(deal, &err);
            ctx.trigger(ProviderInput::SaveVoucherFailed(err));
            result
        }
        Err(VoucherFailure::WrongType) => {
            voucher_error_result(deal, &ProviderError::new(WRONG_VOUCHER_TYPE))
        }
    };
    if let Err(err) = env.update_validation_status(channel, result).await {
        ctx.trigger(ProviderInput::DataTransferError(provider_error(&err)));
    }
}

/// Why [`process_last_voucher`] found no funds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VoucherFailure {
    /// The voucher is a payment, but reading the chain head or saving it failed; `UpdateFunding`
    /// triggers `SaveVoucherFailed` with this error.
    SaveFailed(ProviderError),
    /// The voucher is neither a payment nor a proposal (or the channel has none).
    WrongType,
}

/// Step 3a of `UpdateFunding`: the new funds the channel's last voucher brings.
///
/// A [`DealPayment`] is saved through the node (chain head, then `SavePaymentVoucher` with no
/// proof and an expected amount of 0) and brings what the node returns; a proposal brings 0
/// with no node calls; anything else is [`VoucherFailure::WrongType`].
pub async fn process_last_voucher<E: ProviderDealEnvironment>(
    env: &E,
    channel_state: &ChannelState,
) -> Result<TokenAmount, VoucherFailure> {
    match &channel_state.last_voucher {
        Some(Voucher::Payment(payment)) => save_payment(env.node(), payment)
            .await
            .map_err(VoucherFailure::SaveFailed),
        Some(Voucher::Proposal(_)) => Ok(TokenAmount::zero()),
        Some(Voucher::Other { .. }) | None => Err(VoucherFailure::WrongType),
    }
}

/// Saves `payment`'s voucher at the current chain head and returns the new funds.
async fn save_payment<N: RetrievalProviderNode>(
    node: &N,
    payment: &DealPayment,
) -> Result<TokenAmount, ProviderError> {
    let (tok, _epoch) = node
        .get_chain_head()
        .await
        .map_err(|err| provider_error(&err))?;
    node.save_payment_voucher(
        &payment.payment_channel,
        payment.payment_voucher.as_ref(),
        None,
        &TokenAmount::zero(),
        &tok,
    )
    .await
    .map_err(|err| provider_error(&err))
}

/// Step 3b of `UpdateFunding`: the result sent when the voucher could not be processed.
fn voucher_error_result(deal: &ProviderDealState, err: &ProviderError) -> ValidationResult {
    ValidationResult {
        accepted: false,
        voucher_result: Some(DealResponse {
            status: DealStatus::Errored,
            id: deal.id(),
            payment_owed: TokenAmount::zero(),
            message: err.message().to_owned(),
        }),
        force_pause: false,
        data_limit: 0,
        requires_finalization: false,
    }
}

/// What `UpdateFunding` concludes from the funds a voucher brought.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Funding {
    /// The verdict handed to data transfer.
    pub result: ValidationResult,
    /// The input to trigger: `PartialPaymentReceived` or `PaymentReceived`, if any.
    pub input: Option<ProviderInput>,
}

/// Steps 3c–3g of `UpdateFunding`, a pure function: with `received` new funds on top of the
/// deal's `funds_received`, what is still owed, which event to trigger and the
/// [`ValidationResult`] to send.
///
/// * Something owed: `PartialPaymentReceived(received)` if `received > 0`; a `DealResponse`
///   with the deal's status and the amount owed unless the deal is waiting for its unseal
///   payment and nothing arrived.
/// * Nothing owed: `PaymentReceived(received)` (even for 0); a `DealResponse{Completed}`
///   after the last payment.
///
/// The transfer is paused while unsealing is unpaid or running, needs finalization unless the
/// last payment is settled, and may go up to the next interval boundary the funds pay for.
pub fn funding_result(
    deal: &ProviderDealState,
    channel_state: &ChannelState,
    received: &TokenAmount,
) -> Funding {
    let status = deal.status;
    let params = deal.params();
    let total = &deal.funds_received + received;
    let owed = params.outstanding_balance(
        &total,
        channel_state.queued,
        channel_state.status.in_finalization(),
    );
    let owes = owed.is_positive();
    let (input, voucher_result) =
        if owes {
            let input = received
                .is_positive()
                .then(|| ProviderInput::PartialPaymentReceived(received.clone()));
            let response = (received.is_positive() || status != DealStatus::FundsNeededUnseal)
                .then(|| DealResponse {
                    status,
                    id: deal.id(),
                    payment_owed: owed,
                    message: String::new(),
                });
            (input, response)
        } else {
            let response = (status == DealStatus::FundsNeededLastPayment).then(|| DealResponse {
                status: DealStatus::Completed,
                id: deal.id(),
                payment_owed: TokenAmount::zero(),
                message: String::new(),
            });
            (
                Some(ProviderInput::PaymentReceived(received.clone())),
                response,
            )
        };
    Funding {
        result: ValidationResult {
            accepted: true,
            voucher_result,
            force_pause: matches!(
                status,
                DealStatus::Unsealing | DealStatus::FundsNeededUnseal
            ),
            data_limit: params.next_interval(&total),
            requires_finalization: owes || status != DealStatus::FundsNeededLastPayment,
        },
        input,
    }
}
