//! Data-transfer events as the provider's subscriber sees them (go-data-transfer v2's
//! `datatransfer.Event`): the one input of the event-source mapping
//! ([`crate::sources::transfer_event_input`]) that the [`transfer`](crate::transfer) module
//! does not model.

use std::fmt;

/// The code of a data-transfer event (go-data-transfer's `datatransfer.EventCode`).
///
/// Only the names matter to the provider, so numeric codes are not modelled. The list holds
/// the codes the provider maps and the other common ones; `#[non_exhaustive]`
/// leaves room for the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DtEventCode {
    /// The channel was opened.
    Open,
    /// The responder accepted the request. Maps to `DealAccepted`.
    Accept,
    /// The channel restarted.
    Restart,
    /// Data was received.
    DataReceived,
    /// Data was sent.
    DataSent,
    /// The other side cancelled. Maps to `ClientCancelled`.
    Cancel,
    /// The transfer failed. Maps to `DataTransferError`.
    Error,
    /// Cleanup finished.
    CleanupComplete,
    /// A new voucher arrived. Maps to `ProcessPayment`.
    NewVoucher,
    /// A new voucher result arrived.
    NewVoucherResult,
    /// The initiator paused.
    PauseInitiator,
    /// The initiator resumed.
    ResumeInitiator,
    /// The responder paused.
    PauseResponder,
    /// The responder resumed.
    ResumeResponder,
    /// The transfer finished.
    FinishTransfer,
    /// The responder completed.
    ResponderCompletes,
    /// The responder began finalization.
    ResponderBeginsFinalization,
    /// The initiator asked to finalize. Maps to `LastPaymentRequested`.
    BeginFinalizing,
    /// The peer hung up. Maps to `DataTransferError`.
    Disconnected,
    /// The transfer completed.
    Complete,
    /// The responder's side completed.
    CompleteResponder,
    /// The data limit was reached. Maps to `PaymentRequested`.
    DataLimitExceeded,
}

impl fmt::Display for DtEventCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A data-transfer event: its code and message (Go's `datatransfer.Event`, without the
/// timestamp).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DtEvent {
    /// What happened.
    pub code: DtEventCode,
    /// The event's message (the error text for [`DtEventCode::Error`]).
    pub message: String,
}

impl DtEvent {
    /// An event with code `code` and an empty message.
    pub fn new(code: DtEventCode) -> Self {
        DtEvent {
            code,
            message: String::new(),
        }
    }

    /// An event with code `code` and message `message`.
    pub fn with_message(code: DtEventCode, message: impl Into<String>) -> Self {
        DtEvent {
            code,
            message: message.into(),
        }
    }
}
