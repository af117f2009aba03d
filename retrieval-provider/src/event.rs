//! [`ProviderEvent`]: the retrieval provider's event codes (`retrievalmarket.ProviderEvent`).

use crate::code_enum::code_enum;

/// A `u64` that is not the code of any [`ProviderEvent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown provider event code {0}")]
pub struct UnknownProviderEvent(pub u64);

code_enum! {
    /// An event of the retrieval provider machine (Go's `retrievalmarket.ProviderEvent`, a
    /// `uint64` iota). Names are Go's identifiers, as in the `ProviderEvents` map.
    ///
    /// All 20 values exist; the table registers 17. `DealNotFound`, `DealRejected` and
    /// `BlocksCompleted` are not in it (Go rejects them with "Unknown event").
    pub enum ProviderEvent: UnknownProviderEvent {
        /// The deal was opened with no unseal price.
        Open = 0 => "ProviderEventOpen",
        /// Unused in v1.28 (not in the table).
        DealNotFound = 1 => "ProviderEventDealNotFound",
        /// Unused in v1.28 (not in the table).
        DealRejected = 2 => "ProviderEventDealRejected",
        /// Data transfer accepted the request; carries the channel id.
        DealAccepted = 3 => "ProviderEventDealAccepted",
        /// A block was sent (never emitted in v1.28).
        BlockSent = 4 => "ProviderEventBlockSent",
        /// Unused in v1.28 (not in the table).
        BlocksCompleted = 5 => "ProviderEventBlocksCompleted",
        /// The provider needs a payment before sending more.
        PaymentRequested = 6 => "ProviderEventPaymentRequested",
        /// Saving a payment voucher failed; carries the error.
        SaveVoucherFailed = 7 => "ProviderEventSaveVoucherFailed",
        /// A payment arrived but more is owed; carries the amount.
        PartialPaymentReceived = 8 => "ProviderEventPartialPaymentReceived",
        /// Everything owed has been paid; carries the amount.
        PaymentReceived = 9 => "ProviderEventPaymentReceived",
        /// The data transfer completed.
        Complete = 10 => "ProviderEventComplete",
        /// Unsealing failed; carries the error.
        UnsealError = 11 => "ProviderEventUnsealError",
        /// Unsealing finished.
        UnsealComplete = 12 => "ProviderEventUnsealComplete",
        /// The data transfer failed; carries the error.
        DataTransferError = 13 => "ProviderEventDataTransferError",
        /// Cancelling finished.
        CancelComplete = 14 => "ProviderEventCancelComplete",
        /// Cleanup finished.
        CleanupComplete = 15 => "ProviderEventCleanupComplete",
        /// Deleting the deal's store failed; carries the error.
        MultiStoreError = 16 => "ProviderEventMultiStoreError",
        /// The client cancelled the retrieval.
        ClientCancelled = 17 => "ProviderEventClientCancelled",
        /// The client asked to finish; the last payment is due.
        LastPaymentRequested = 18 => "ProviderEventLastPaymentRequested",
        /// A new voucher arrived on the channel.
        ProcessPayment = 19 => "ProviderEventProcessPayment",
    }
}
