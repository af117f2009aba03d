//! [`DealStatus`]: the retrieval deal status codes of go-fil-markets (`retrievalmarket.DealStatus`).

use std::borrow::Cow;

use crate::code_enum::code_enum;

/// A `u64` that is not the code of any [`DealStatus`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown deal status code {0}")]
pub struct UnknownDealStatus(pub u64);

code_enum! {
    /// The status of a retrieval deal (Go's `retrievalmarket.DealStatus`, a `uint64` iota).
    ///
    /// The enum is shared by the client and provider machines; the provider machine uses 15 of
    /// the 35 values, and puts a few more (`Accepted`, `Rejected`, `DealNotFound`) in
    /// [`DealResponse`](crate::DealResponse)s. [`name`](Self::name) and `Display` give Go's
    /// `DealStatuses` strings; for a code outside 0–34 use [`DealStatus::name_of_code`].
    pub enum DealStatus: UnknownDealStatus {
        /// A deal that has just been proposed (the provider machine's start status).
        New = 0 => "DealStatusNew",
        /// The provider is unsealing (preparing a blockstore for) the piece.
        Unsealing = 1 => "DealStatusUnsealing",
        /// The piece is unsealed; the transfer can resume.
        Unsealed = 2 => "DealStatusUnsealed",
        /// Client: waiting for the provider to accept the deal.
        WaitForAcceptance = 3 => "DealStatusWaitForAcceptance",
        /// Client: creating a payment channel.
        PaymentChannelCreating = 4 => "DealStatusPaymentChannelCreating",
        /// Client: adding funds to the payment channel.
        PaymentChannelAddingFunds = 5 => "DealStatusPaymentChannelAddingFunds",
        /// The deal was accepted (client status; the provider sends it in a `DealResponse`).
        Accepted = 6 => "DealStatusAccepted",
        /// The provider is waiting for the unseal payment.
        FundsNeededUnseal = 7 => "DealStatusFundsNeededUnseal",
        /// Something went wrong; the provider is cancelling the deal (ends `Errored`).
        Failing = 8 => "DealStatusFailing",
        /// The deal was rejected (client final status; provider `DealResponse`).
        Rejected = 9 => "DealStatusRejected",
        /// The provider is waiting for a payment before sending more data.
        FundsNeeded = 10 => "DealStatusFundsNeeded",
        /// Client: sending funds.
        SendFunds = 11 => "DealStatusSendFunds",
        /// Client: sending the last payment.
        SendFundsLastPayment = 12 => "DealStatusSendFundsLastPayment",
        /// Data is being transferred.
        Ongoing = 13 => "DealStatusOngoing",
        /// The provider is waiting for the last payment.
        FundsNeededLastPayment = 14 => "DealStatusFundsNeededLastPayment",
        /// The deal completed successfully (provider final status).
        Completed = 15 => "DealStatusCompleted",
        /// The deal was not found (client final status; provider `DealResponse`).
        DealNotFound = 16 => "DealStatusDealNotFound",
        /// The deal failed (provider final status).
        Errored = 17 => "DealStatusErrored",
        /// All blocks were sent (legacy; nothing leads into it in v1.28).
        BlocksComplete = 18 => "DealStatusBlocksComplete",
        /// The last payment was received; waiting for the transfer to finish.
        Finalizing = 19 => "DealStatusFinalizing",
        /// The provider is cleaning up a finished deal.
        Completing = 20 => "DealStatusCompleting",
        /// Client: checking completion.
        CheckComplete = 21 => "DealStatusCheckComplete",
        /// Client: checking funds.
        CheckFunds = 22 => "DealStatusCheckFunds",
        /// Client: not enough funds.
        InsufficientFunds = 23 => "DealStatusInsufficientFunds",
        /// Client: allocating a payment-channel lane.
        PaymentChannelAllocatingLane = 24 => "DealStatusPaymentChannelAllocatingLane",
        /// The deal is being cancelled (ends `Cancelled`).
        Cancelling = 25 => "DealStatusCancelling",
        /// The deal was cancelled (provider final status).
        Cancelled = 26 => "DealStatusCancelled",
        /// Client: retrying with the legacy protocol.
        RetryLegacy = 27 => "DealStatusRetryLegacy",
        /// Client: waiting for acceptance over the legacy protocol.
        WaitForAcceptanceLegacy = 28 => "DealStatusWaitForAcceptanceLegacy",
        /// Client: waiting for the last blocks. Go's name drops "Client":
        /// `"DealStatusWaitingForLastBlocks"`.
        ClientWaitingForLastBlocks = 29 => "DealStatusWaitingForLastBlocks",
        /// Client: adding the initial funds to the payment channel.
        PaymentChannelAddingInitialFunds = 30 => "DealStatusPaymentChannelAddingInitialFunds",
        /// Client: erroring.
        Erroring = 31 => "DealStatusErroring",
        /// Client: rejecting.
        Rejecting = 32 => "DealStatusRejecting",
        /// Client: cleaning up after a deal-not-found response.
        DealNotFoundCleanup = 33 => "DealStatusDealNotFoundCleanup",
        /// Client: finalizing the blockstore.
        FinalizingBlockstore = 34 => "DealStatusFinalizingBlockstore",
    }
}

impl Default for DealStatus {
    /// Go's zero value, [`DealStatus::New`].
    fn default() -> Self {
        DealStatus::New
    }
}

impl DealStatus {
    /// Go's `DealStatus(code).String()` for any code: the name of a known code, and
    /// `"DealStatusUnknown - <code>"` for any other.
    pub fn name_of_code(code: u64) -> Cow<'static, str> {
        match DealStatus::from_code(code) {
            Some(status) => Cow::Borrowed(status.name()),
            None => Cow::Owned(format!("DealStatusUnknown - {code}")),
        }
    }

    /// Go's `IsTerminalError`: true for `DealNotFound`, `Failing` and `Rejected`.
    ///
    /// Note that `Failing` counts and `Errored` does not (Go's choice).
    pub const fn is_terminal_error(self) -> bool {
        matches!(
            self,
            DealStatus::DealNotFound | DealStatus::Failing | DealStatus::Rejected
        )
    }

    /// Go's `IsTerminalSuccess`: true for `Completed` only.
    pub const fn is_terminal_success(self) -> bool {
        matches!(self, DealStatus::Completed)
    }
}
