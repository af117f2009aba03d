//! The group benchmarks' machine (P2–P4): a cut-down retrieval-provider deal table, declared
//! with `fsm!`, and the 20-event lifecycle every benchmarked machine takes.
//!
//! The table keeps the provider's happy path (accept, unseal, send blocks, request and receive
//! payments, finalize, clean up) with its actions, plus the `FromAny` cancel and error events,
//! and declares no entry funcs, so the group benchmarks measure the group itself (queueing,
//! transition, encode, save, reply) and not the work entry funcs would do. This is the shape of
//! the "cut-down provider table" the Go figures in issue 7 were taken with.

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

#[cfg(test)]
mod tests {
    use fsm_runtime::{Machine, Outcome};

    use super::*;

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
