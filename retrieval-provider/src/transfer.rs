//! Data-transfer inputs the provider reads ([`ChannelState`], [`DtStatus`], [`Voucher`]) and
//! the [`ValidationResult`] it answers with (go-data-transfer v2.0.0-rc6).

use crate::code_enum::code_enum;
use crate::ids::{ChannelId, PeerId};
use crate::types::{DEAL_RESPONSE_TYPE, DealPayment, DealProposal, DealResponse};

/// A `u64` that is not the code of any [`DtStatus`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown data-transfer status code {0}")]
pub struct UnknownDtStatus(pub u64);

code_enum! {
    /// The status of a data-transfer channel (go-data-transfer's `datatransfer.Status`).
    pub enum DtStatus: UnknownDtStatus {
        /// The channel was requested.
        Requested = 0 => "Requested",
        /// Data is moving.
        Ongoing = 1 => "Ongoing",
        /// The initiator finished its side.
        TransferFinished = 2 => "TransferFinished",
        /// The responder finished its side.
        ResponderCompleted = 3 => "ResponderCompleted",
        /// Finalizing (waiting for the last payment).
        Finalizing = 4 => "Finalizing",
        /// Completing.
        Completing = 5 => "Completing",
        /// Completed.
        Completed = 6 => "Completed",
        /// Failing.
        Failing = 7 => "Failing",
        /// Failed.
        Failed = 8 => "Failed",
        /// Cancelling.
        Cancelling = 9 => "Cancelling",
        /// Cancelled.
        Cancelled = 10 => "Cancelled",
        /// Paused by the initiator (deprecated in v2).
        InitiatorPaused = 11 => "InitiatorPaused",
        /// Paused by the responder.
        ResponderPaused = 12 => "ResponderPaused",
        /// Paused by both sides.
        BothPaused = 13 => "BothPaused",
        /// The responder is finalizing.
        ResponderFinalizing = 14 => "ResponderFinalizing",
        /// The responder is finalizing and the transfer finished.
        ResponderFinalizingTransferFinished = 15 => "ResponderFinalizingTransferFinished",
        /// The channel was not found.
        ChannelNotFoundError = 16 => "ChannelNotFoundError",
        /// Queued.
        Queued = 17 => "Queued",
        /// Waiting for the responder to accept.
        AwaitingAcceptance = 18 => "AwaitingAcceptance",
    }
}

impl Default for DtStatus {
    /// Go's zero value, [`DtStatus::Requested`].
    fn default() -> Self {
        DtStatus::Requested
    }
}

impl DtStatus {
    /// Go's `Status.InFinalization()`: true for `Finalizing`, `Completing` and `Completed`.
    pub const fn in_finalization(self) -> bool {
        matches!(
            self,
            DtStatus::Finalizing | DtStatus::Completing | DtStatus::Completed
        )
    }
}

/// A voucher on a data-transfer channel, decoded by shape (the type id is ignored, as in Go).
// A short-lived input value; boxing the proposal would only cost its users an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Voucher {
    /// A deal proposal (the channel's initial voucher).
    Proposal(DealProposal),
    /// A payment.
    Payment(DealPayment),
    /// Anything else; `type_id` is the voucher's declared type.
    Other {
        /// The declared type id.
        type_id: String,
    },
}

impl Voucher {
    /// The proposal, if this is one.
    pub fn as_proposal(&self) -> Option<&DealProposal> {
        match self {
            Voucher::Proposal(p) => Some(p),
            _ => None,
        }
    }

    /// The payment, if this is one.
    pub fn as_payment(&self) -> Option<&DealPayment> {
        match self {
            Voucher::Payment(p) => Some(p),
            _ => None,
        }
    }
}

/// What the provider reads from a data-transfer channel (the parts of Go's
/// `datatransfer.ChannelState` the machine and its event sources use).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelState {
    /// The channel id.
    pub channel_id: ChannelId,
    /// The channel status.
    pub status: DtStatus,
    /// Bytes read and queued for sending (`Queued()`).
    pub queued: u64,
    /// The voucher the channel was opened with (`Voucher()`).
    pub voucher: Option<Voucher>,
    /// The last voucher received (`LastVoucher()`).
    pub last_voucher: Option<Voucher>,
    /// The peer sending data (the provider, for a retrieval).
    pub sender: PeerId,
    /// The peer receiving data (the client, for a retrieval).
    pub recipient: PeerId,
    /// This node's peer id.
    pub self_peer: PeerId,
}

impl ChannelState {
    /// Go's `OtherPeer()`: the recipient when this node sends, otherwise the sender.
    pub fn other_peer(&self) -> &PeerId {
        if self.sender == self.self_peer {
            &self.recipient
        } else {
            &self.sender
        }
    }
}

/// The provider's verdict on a request or voucher (go-data-transfer's `ValidationResult`).
///
/// The only voucher result the provider produces is a [`DealResponse`], of type
/// [`DEAL_RESPONSE_TYPE`], so it is held as one. The derived `PartialEq` is Go's `Equals`: the
/// four scalars, the presence of a voucher result, and (when both have one) its type and
/// content.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ValidationResult {
    /// Whether the request is accepted.
    pub accepted: bool,
    /// The response sent to the client, if any.
    pub voucher_result: Option<DealResponse>,
    /// Whether to pause the transfer.
    pub force_pause: bool,
    /// Bytes that may be sent before the next payment; 0 means no limit.
    pub data_limit: u64,
    /// Whether the transfer needs a finalization step (a last payment).
    pub requires_finalization: bool,
}

impl ValidationResult {
    /// The voucher result's type id, when there is one.
    pub fn voucher_result_type(&self) -> Option<&'static str> {
        self.voucher_result.as_ref().map(|_| DEAL_RESPONSE_TYPE)
    }
}
