//! The group benchmarks' machine (P2–P4): a cut-down retrieval-provider deal table, declared
//! with `fsm!`, and the 20-event lifecycle every benchmarked machine takes.
//!
//! The table keeps the provider's happy path (accept, unseal, send blocks, request and receive
//! payments, finalize, clean up) with its actions, plus the `FromAny` cancel and error events,
//! and declares no entry funcs, so the group benchmarks measure the group itself (queueing,
//! transition, encode, save, reply) and not the work entry funcs would do. This is the shape of
//! the "cut-down provider table" the Go figures were taken with (go-statemachine v1.0.3).

use fsm_runtime::codec::{Codec, CodecError};
use fsm_runtime::fsm;
use serde::{Deserialize, Serialize};

/// Deal statuses (a subset of the provider's `DealStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DealStatus {
    /// Just created.
    New,
    /// Unsealing the data.
    Unsealing,
    /// Unsealed, about to send.
    Unsealed,
    /// Sending blocks.
    Ongoing,
    /// Waiting for a payment.
    FundsNeeded,
    /// Waiting for the last payment.
    FundsNeededLastPayment,
    /// Paid in full, finishing the transfer.
    Finalizing,
    /// Cleaning up.
    Completing,
    /// Done (final).
    Completed,
    /// Cancelled by the client (final).
    Cancelled,
    /// Failed (final).
    Errored,
}

/// Deal event codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DealEvent {
    /// The deal is opened.
    Open,
    /// The deal is accepted on a data-transfer channel.
    Accepted,
    /// The data is unsealed.
    UnsealComplete,
    /// A block was sent.
    BlockSent,
    /// A payment is requested from the client.
    PaymentRequested,
    /// The last payment is requested.
    LastPaymentRequested,
    /// A payment arrived.
    PaymentReceived,
    /// The transfer is complete.
    Complete,
    /// Clean-up is done.
    CleanupComplete,
    /// The client cancelled.
    Cancel,
    /// The transfer failed.
    Error,
}

/// The deal record: what the group encodes and saves after every event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deal {
    /// The deal id (also the machine id).
    pub id: u64,
    /// The status.
    pub status: DealStatus,
    /// The data-transfer channel, once accepted.
    pub channel: Option<u64>,
    /// Bytes sent so far.
    pub bytes_sent: u64,
    /// Funds received so far.
    pub funds_received: u64,
    /// The last error or cancel message.
    pub message: String,
}

impl Deal {
    /// A new deal.
    pub fn new(id: u64) -> Self {
        Self {
            id,
            status: DealStatus::New,
            channel: None,
            bytes_sent: 0,
            funds_received: 0,
            message: String::new(),
        }
    }
}

fsm! {
    /// The benchmark deal machine: a cut-down retrieval-provider table without entry funcs.
    pub machine DealFsm {
        state: Deal,
        status: DealStatus,
        event: DealEvent,
        input: DealInput,
        entry: DealEntryFuncs,
        consume_all_events_before_entry_funcs: true,
    }
    events {
        Event(DealEvent::Open)
            .From(DealStatus::New).ToNoChange()
            .Action(|deal: &mut Deal| { deal.funds_received = 0; Ok(()) }),
        Event(DealEvent::Accepted)
            .From(DealStatus::New).To(DealStatus::Unsealing)
            .Action(|deal: &mut Deal, channel: u64| { deal.channel = Some(channel); Ok(()) }),
        Event(DealEvent::UnsealComplete)
            .From(DealStatus::Unsealing).To(DealStatus::Unsealed),
        Event(DealEvent::BlockSent)
            .From(DealStatus::Ongoing).ToNoChange()
            .From(DealStatus::Unsealed).To(DealStatus::Ongoing)
            .Action(|deal: &mut Deal, bytes: u64| { deal.bytes_sent += bytes; Ok(()) }),
        Event(DealEvent::PaymentRequested)
            .FromMany(DealStatus::Ongoing, DealStatus::Unsealed).To(DealStatus::FundsNeeded)
            .From(DealStatus::FundsNeeded).ToJustRecord(),
        Event(DealEvent::LastPaymentRequested)
            .FromMany(DealStatus::Ongoing, DealStatus::Unsealed).To(DealStatus::FundsNeededLastPayment),
        Event(DealEvent::PaymentReceived)
            .From(DealStatus::FundsNeeded).To(DealStatus::Ongoing)
            .From(DealStatus::FundsNeededLastPayment).To(DealStatus::Finalizing)
            .FromMany(DealStatus::Ongoing, DealStatus::Finalizing).ToJustRecord()
            .Action(|deal: &mut Deal, funds: u64| { deal.funds_received += funds; Ok(()) }),
        Event(DealEvent::Complete).FromAny().To(DealStatus::Completing),
        Event(DealEvent::CleanupComplete).From(DealStatus::Completing).To(DealStatus::Completed),
        Event(DealEvent::Cancel)
            .FromAny().To(DealStatus::Cancelled)
            .Action(|deal: &mut Deal| { deal.message = "client cancelled".to_owned(); Ok(()) }),
        Event(DealEvent::Error)
            .FromAny().To(DealStatus::Errored)
            .Action(|deal: &mut Deal, message: String| { deal.message = message; Ok(()) }),
    }
    finality_states { DealStatus::Completed, DealStatus::Cancelled, DealStatus::Errored }
}

/// The environment of [`DealFsm`]'s (nonexistent) entry funcs.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoEntryFuncs;

impl DealEntryFuncs for NoEntryFuncs {}

/// The number of events in one [`lifecycle`].
pub const LIFECYCLE_EVENTS: usize = 20;

/// How many block/payment rounds the lifecycle has between the first block and the last payment.
const PAYMENT_ROUNDS: usize = 4;

/// The `step`th input (0-based) of the 20-event lifecycle of deal `id`; every one is valid in
/// the status the previous ones lead to, and the last one ends the deal in
/// [`DealStatus::Completed`]:
///
/// `Open`, `Accepted`, `UnsealComplete`, `BlockSent` (to `Ongoing`), then four rounds of
/// `BlockSent`, `PaymentRequested`, `PaymentReceived`, then `LastPaymentRequested`,
/// `PaymentReceived` (to `Finalizing`), `Complete` and `CleanupComplete`.
///
/// Steps past the end wrap around (a deal that is already final rejects them).
pub fn lifecycle(id: u64, step: usize) -> DealInput {
    const BLOCK: u64 = 1 << 20;
    const PAYMENT: u64 = 1_000;
    let rounds_end = 4 + 3 * PAYMENT_ROUNDS;
    match step % LIFECYCLE_EVENTS {
        0 => DealInput::Open,
        1 => DealInput::Accepted(id),
        2 => DealInput::UnsealComplete,
        3 => DealInput::BlockSent(BLOCK),
        s if s < rounds_end => match (s - 4) % 3 {
            0 => DealInput::BlockSent(BLOCK),
            1 => DealInput::PaymentRequested,
            _ => DealInput::PaymentReceived(PAYMENT),
        },
        s if s == rounds_end => DealInput::LastPaymentRequested,
        s if s == rounds_end + 1 => DealInput::PaymentReceived(PAYMENT),
        s if s == rounds_end + 2 => DealInput::Complete,
        _ => DealInput::CleanupComplete,
    }
}

/// A fixed-layout binary codec for [`Deal`]: what a hand-written codec costs, to separate the
/// group's own overhead from DAG-CBOR's in P2 (the group's default codec is
/// [`DagCbor`](fsm_runtime::codec::DagCbor)).
///
/// Layout (little-endian): id `u64`, status `u8`, channel flag `u8` and `u64`, bytes sent
/// `u64`, funds received `u64`, message length `u32` and UTF-8 bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct FixedCodec;

/// Every [`DealStatus`], in discriminant order (the codec's status byte indexes this).
const STATUSES: [DealStatus; 11] = [
    DealStatus::New,
    DealStatus::Unsealing,
    DealStatus::Unsealed,
    DealStatus::Ongoing,
    DealStatus::FundsNeeded,
    DealStatus::FundsNeededLastPayment,
    DealStatus::Finalizing,
    DealStatus::Completing,
    DealStatus::Completed,
    DealStatus::Cancelled,
    DealStatus::Errored,
];

impl Codec<Deal> for FixedCodec {
    fn name(&self) -> &str {
        "fsm-benches/fixed-deal"
    }

    fn encode(&self, deal: &Deal, out: &mut Vec<u8>) -> Result<(), CodecError> {
        let message_len = u32::try_from(deal.message.len())
            .map_err(|_| CodecError::Encode("message longer than 4 GiB".to_owned()))?;
        out.reserve(38 + deal.message.len());
        out.extend_from_slice(&deal.id.to_le_bytes());
        out.push(deal.status as u8);
        out.push(u8::from(deal.channel.is_some()));
        out.extend_from_slice(&deal.channel.unwrap_or(0).to_le_bytes());
        out.extend_from_slice(&deal.bytes_sent.to_le_bytes());
        out.extend_from_slice(&deal.funds_received.to_le_bytes());
        out.extend_from_slice(&message_len.to_le_bytes());
        out.extend_from_slice(deal.message.as_bytes());
        Ok(())
    }

    fn decode(&self, bytes: &[u8]) -> Result<Deal, CodecError> {
        let mut reader = Reader(bytes);
        let id = reader.u64()?;
        let status = *STATUSES
            .get(usize::from(reader.u8()?))
            .ok_or_else(|| CodecError::Decode("unknown status byte".to_owned()))?;
        let has_channel = reader.u8()? != 0;
        let channel = reader.u64()?;
        let bytes_sent = reader.u64()?;
        let funds_received = reader.u64()?;
        let message_len = reader.u32()? as usize;
        let message = String::from_utf8(reader.take(message_len)?.to_vec())
            .map_err(|error| CodecError::Decode(error.to_string()))?;
        if !reader.0.is_empty() {
            return Err(CodecError::Decode("trailing bytes".to_owned()));
        }
        Ok(Deal {
            id,
            status,
            channel: has_channel.then_some(channel),
            bytes_sent,
            funds_received,
            message,
        })
    }
}

/// A cursor over the bytes [`FixedCodec`] decodes.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], CodecError> {
        if self.0.len() < len {
            return Err(CodecError::Decode("record truncated".to_owned()));
        }
        let (head, tail) = self.0.split_at(len);
        self.0 = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        let mut array = [0; N];
        array.copy_from_slice(self.take(N)?);
        Ok(array)
    }

    fn u8(&mut self) -> Result<u8, CodecError> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, CodecError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, CodecError> {
        Ok(u64::from_le_bytes(self.array()?))
    }
}

#[cfg(test)]
mod tests {
    use fsm_runtime::{Machine, Outcome};

    use super::*;

    #[test]
    fn fixed_codec_round_trips_and_rejects_bad_bytes() {
        let mut deal = Deal::new(u64::MAX - 3);
        for status in STATUSES {
            deal.status = status;
            deal.channel = (status as u8).is_multiple_of(2).then_some(42);
            deal.message = format!("in {status:?}");
            let mut bytes = Vec::new();
            FixedCodec.encode(&deal, &mut bytes).unwrap();
            assert_eq!(FixedCodec.decode(&bytes).unwrap(), deal);
            assert!(FixedCodec.decode(&bytes[..bytes.len() - 1]).is_err());
            bytes.push(0);
            assert!(FixedCodec.decode(&bytes).is_err());
        }
        let mut bytes = Vec::new();
        FixedCodec.encode(&Deal::new(1), &mut bytes).unwrap();
        bytes[8] = STATUSES.len() as u8;
        assert!(FixedCodec.decode(&bytes).is_err());
    }

    #[test]
    fn lifecycle_applies_every_event_and_ends_completed() {
        let mut deal = Deal::new(7);
        for step in 0..LIFECYCLE_EVENTS {
            let status = deal.status;
            assert!(!DealFsm::is_final(status), "final before step {step}");
            let outcome = DealFsm::transition(&mut deal, lifecycle(7, step));
            assert!(outcome.is_applied(), "step {step}: {outcome:?}");
        }
        assert_eq!(deal.status, DealStatus::Completed);
        assert_eq!(deal.channel, Some(7));
        assert_eq!(deal.bytes_sent, 5 << 20);
        assert_eq!(deal.funds_received, 5_000);
        assert!(matches!(
            DealFsm::transition(&mut deal, lifecycle(7, LIFECYCLE_EVENTS)),
            Outcome::AlreadyFinal { .. }
        ));
    }
}
