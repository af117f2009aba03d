//! The provider deal machine: Go's `providerstates.ProviderEvents` table, declared with `fsm!`.
//!
//! The declaration below is laid out like `provider_fsm.go` (go-fil-markets v1.28.3): one
//! event per `Event(..)` group, in Go's order, one builder word group per line, so that it can
//! be checked line by line against the seed page. The generated items are:
//!
//! * [`ProviderFsm`]: the machine (`fsm_runtime::Machine`), whose `transition` is the pure
//!   transition function;
//! * [`ProviderInput`]: one variant per declared event, carrying the action's arguments
//!   (`ProviderInput::DealAccepted(ChannelId)`, `ProviderInput::UnsealError(ProviderError)`);
//! * [`ProviderEntryFuncs`]: one async method per entry func, implemented for
//!   [`ProviderHandlers`](crate::entry::ProviderHandlers) in [`crate::entry`].
//!
//! Three event codes (`DealNotFound`, `DealRejected`, `BlocksCompleted`) are not declared, as in
//! Go; they have no [`ProviderInput`] variant, so Go's "Unknown event" error cannot happen.

use fsm_runtime::{ActionResult, fsm};

use crate::error::ProviderError;
use crate::event::ProviderEvent;
use crate::ids::ChannelId;
use crate::status::DealStatus;
use crate::token::TokenAmount;
use crate::types::ProviderDealState;

/// Go's `recordError`: keeps the error's text as the deal's message.
///
/// The shared action of `UnsealError`, `SaveVoucherFailed`, `DataTransferError` and
/// `MultiStoreError`.
pub fn record_error(deal: &mut ProviderDealState, err: ProviderError) -> ActionResult {
    deal.message = err.message().to_owned();
    Ok(())
}

fsm! {
    /// The retrieval provider's deal machine (Go's `ProviderEvents`, `ProviderFinalityStates`
    /// and `ProviderStateEntryFuncs`, with `ConsumeAllEventsBeforeEntryFuncs: true`).
    pub machine ProviderFsm {
        state: ProviderDealState,
        status: DealStatus,
        event: ProviderEvent,
        #[derive(Clone, PartialEq, Eq)]
        input: ProviderInput,
        entry: ProviderEntryFuncs,
        consume_all_events_before_entry_funcs: true,
    }

    events {
        Event(ProviderEvent::Open)
            .From(DealStatus::New).ToNoChange()
            .Action(|deal: &mut ProviderDealState| {
                deal.funds_received = TokenAmount::zero();
                Ok(())
            }),
        Event(ProviderEvent::DealAccepted)
            .From(DealStatus::FundsNeededUnseal).ToNoChange()
            .From(DealStatus::New).To(DealStatus::Unsealing)
            .Action(|deal: &mut ProviderDealState, channel_id: ChannelId| {
                deal.channel_id = Some(channel_id);
                Ok(())
            }),
        Event(ProviderEvent::UnsealError)
            .From(DealStatus::Unsealing).To(DealStatus::Failing)
            .Action(record_error as fn(&mut ProviderDealState, ProviderError)),
        Event(ProviderEvent::UnsealComplete)
            .From(DealStatus::Unsealing).To(DealStatus::Unsealed),
        Event(ProviderEvent::BlockSent)
            .FromMany(DealStatus::Ongoing).ToNoChange()
            .From(DealStatus::Unsealed).To(DealStatus::Ongoing),
        Event(ProviderEvent::PaymentRequested)
            .FromMany(DealStatus::Ongoing, DealStatus::Unsealed).To(DealStatus::FundsNeeded)
            .From(DealStatus::FundsNeeded).ToJustRecord()
            .From(DealStatus::New).To(DealStatus::FundsNeededUnseal),
        Event(ProviderEvent::LastPaymentRequested)
            .FromMany(DealStatus::Ongoing, DealStatus::Unsealed).To(DealStatus::FundsNeededLastPayment),
        Event(ProviderEvent::SaveVoucherFailed)
            .FromMany(DealStatus::FundsNeededUnseal, DealStatus::FundsNeeded, DealStatus::FundsNeededLastPayment).To(DealStatus::Failing)
            .Action(record_error as fn(&mut ProviderDealState, ProviderError)),
        Event(ProviderEvent::PartialPaymentReceived)
            .FromMany(DealStatus::FundsNeededUnseal, DealStatus::FundsNeeded, DealStatus::FundsNeededLastPayment).ToNoChange()
            .Action(|deal: &mut ProviderDealState, funds_received: TokenAmount| {
                deal.funds_received += funds_received;
                Ok(())
            }),
        Event(ProviderEvent::PaymentReceived)
            .From(DealStatus::FundsNeeded).To(DealStatus::Ongoing)
            .From(DealStatus::FundsNeededLastPayment).To(DealStatus::Finalizing)
            .From(DealStatus::FundsNeededUnseal).To(DealStatus::Unsealing)
            .FromMany(DealStatus::BlocksComplete, DealStatus::Ongoing, DealStatus::Finalizing).ToJustRecord()
            .Action(|deal: &mut ProviderDealState, funds_received: TokenAmount| {
                deal.funds_received += funds_received;
                Ok(())
            }),
        Event(ProviderEvent::ProcessPayment).FromAny().ToNoChange(),
        Event(ProviderEvent::Complete).FromAny().To(DealStatus::Completing),
        Event(ProviderEvent::CleanupComplete).From(DealStatus::Completing).To(DealStatus::Completed),
        Event(ProviderEvent::CancelComplete)
            .From(DealStatus::Cancelling).To(DealStatus::Cancelled)
            .From(DealStatus::Failing).To(DealStatus::Errored),
        Event(ProviderEvent::DataTransferError)
            .FromAny().To(DealStatus::Errored)
            .Action(record_error as fn(&mut ProviderDealState, ProviderError)),
        Event(ProviderEvent::MultiStoreError)
            .FromAny().To(DealStatus::Errored)
            .Action(record_error as fn(&mut ProviderDealState, ProviderError)),
        Event(ProviderEvent::ClientCancelled)
            .From(DealStatus::Failing).ToJustRecord()
            .From(DealStatus::Cancelling).ToJustRecord()
            .FromAny().To(DealStatus::Cancelling).Action(
                |deal: &mut ProviderDealState| {
                    if deal.status != DealStatus::Failing {
                        deal.message = "Client cancelled retrieval".to_owned();
                    }
                    Ok(())
                },
            ),
    }

    finality_states { DealStatus::Errored, DealStatus::Completed, DealStatus::Cancelled }

    entry_funcs {
        DealStatus::Unsealing => unseal_data,
        DealStatus::Unsealed => unpause_deal,
        DealStatus::FundsNeeded | DealStatus::FundsNeededUnseal | DealStatus::FundsNeededLastPayment => update_funding,
        DealStatus::Failing | DealStatus::Cancelling => cancel_deal,
        DealStatus::Completing => cleanup_deal,
    }
}
