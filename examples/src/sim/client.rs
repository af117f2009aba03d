//! The simulated retrieval client of one deal.
//!
//! A client never sends provider inputs of its own making: it opens the deal through pull
//! validation ([`validate_pull`], which hands back the deal and its first input), and from
//! then on it only raises data-transfer events on its channel, which
//! [`transfer_event_input`] maps to provider inputs exactly as Go's data-transfer subscriber
//! does. It reacts to what the provider's entry funcs tell data transfer (validation results,
//! resume, close), which the environment posts to its mailbox.
//!
//! The client is a sequence of `Phase`s. A deal found in the store (a resumed run) enters the
//! phase its stored status implies (`Phase::resume`); the provider, opened with resume on
//! open, re-runs the entry func of that status, whose signals are already waiting in the
//! mailbox.
//!
//! Before each event whose answer it will wait for, the client drops whatever is left in its
//! mailbox: every signal that can be in it then belongs to an exchange that is over, so the
//! next validation result it reads answers the event it just sent.

use std::time::Duration;

use fsm_runtime::Machine;
use fsm_runtime::group::SendError;
use retrieval_provider::dt::{DtEvent, DtEventCode};
use retrieval_provider::sources::{
    AcceptAll, Ask, EXPLORE_ALL_SELECTOR, PieceLookup, PieceLookupError, PullRequest,
    PullValidation, PullValidator, transfer_event_input, validate_pull,
};
use retrieval_provider::{
    DealId, DealStatus, DtStatus, PieceInfo, ProviderDealState, ProviderFsm, ProviderInput,
    RawCbor, TokenAmount, ValidationResult, Voucher,
};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::Instant;

use super::env::{Link, Signal, payment};
use super::plan::{DealKind, Fault, FaultPoint};
use super::run::SimGroup;

/// How often a waiting client re-reads its deal from the store, in case a notification was
/// missed (a lagging subscriber, or one that subscribed after a resumed entry func ran).
const RECHECK: Duration = Duration::from_millis(250);

/// The message of the simulated transfer failure.
pub const TRANSFER_FAILURE: &str = "simulated network failure";

/// Why a client gave up on its deal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The provider did not answer within the stall timeout.
    #[error("deal {deal}: stalled in {status:?} waiting for {waiting}")]
    Stalled {
        /// The deal.
        deal: DealId,
        /// Its saved status when the client gave up.
        status: Option<DealStatus>,
        /// What the client was waiting for.
        waiting: &'static str,
    },
    /// The pull request was not validated, or was refused.
    #[error("deal {deal}: pull request refused: {reason}")]
    Refused {
        /// The deal.
        deal: DealId,
        /// Why.
        reason: String,
    },
    /// The deal could not be begun.
    #[error("deal {deal}: cannot begin: {reason}")]
    Begin {
        /// The deal.
        deal: DealId,
        /// Why.
        reason: String,
    },
    /// The group did not apply an input (an invalid transition, a store error, ...).
    #[error("deal {deal}: {reason}")]
    Send {
        /// The deal.
        deal: DealId,
        /// The group's error text (it names the event and status).
        reason: String,
    },
    /// A data-transfer event mapped to no provider input.
    #[error("deal {deal}: data-transfer event {code} maps to no provider input")]
    Unmapped {
        /// The deal.
        deal: DealId,
        /// The event.
        code: DtEventCode,
    },
    /// The provider refused the transfer in a validation result.
    #[error("deal {deal}: the provider refused the transfer: {message}")]
    Rejected {
        /// The deal.
        deal: DealId,
        /// The response's message.
        message: String,
    },
    /// The provider's data limit did not move past the bytes already sent.
    #[error("deal {deal}: data limit {limit} does not exceed the {queued} bytes sent")]
    NoProgress {
        /// The deal.
        deal: DealId,
        /// The limit.
        limit: u64,
        /// The bytes sent.
        queued: u64,
    },
    /// The deal's record could not be read.
    #[error("deal {deal}: cannot read its record: {reason}")]
    Read {
        /// The deal.
        deal: DealId,
        /// Why.
        reason: String,
    },
}

/// Why a phase stopped the client.
enum Stop {
    /// The deal reached a final status (or was found final).
    Ended,
    /// The client gave up.
    Failed(ClientError),
}

impl From<ClientError> for Stop {
    fn from(error: ClientError) -> Self {
        Stop::Failed(error)
    }
}

/// Where in its deal a client is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Send the pull request; begin the deal with its first input.
    Start,
    /// The deal is stored in `New`: send its first input again (applying it twice is harmless:
    /// `Open` stays in `New`).
    Reopen,
    /// Accept the channel (`Accept` → `DealAccepted`).
    Accept,
    /// Pay the unseal price once the provider has looked at the channel.
    PayUnseal,
    /// Wait for the provider to unseal and resume the transfer.
    AwaitUnsealed,
    /// Send data up to the next stop: a data limit, or the end of the data.
    Transfer,
    /// The deal is in `FundsNeeded`: pay what is owed.
    Owing,
    /// The deal is in `FundsNeededLastPayment`: pay the rest.
    LastPayment,
    /// The deal is `Finalizing`: complete the channel.
    Complete,
    /// Nothing left for the client to do; the provider finishes the deal alone.
    Done,
}

impl Phase {
    /// The phase a client resumes in, for a deal stored as `deal`.
    fn resume(deal: &ProviderDealState) -> Phase {
        match deal.status {
            DealStatus::New => Phase::Reopen,
            DealStatus::FundsNeededUnseal if deal.channel_id.is_none() => Phase::Accept,
            DealStatus::FundsNeededUnseal => Phase::PayUnseal,
            DealStatus::Unsealing | DealStatus::Unsealed => Phase::AwaitUnsealed,
            DealStatus::Ongoing => Phase::Transfer,
            DealStatus::FundsNeeded => Phase::Owing,
            DealStatus::FundsNeededLastPayment => Phase::LastPayment,
            DealStatus::Finalizing => Phase::Complete,
            // Failing, Cancelling and Completing are finished by their (resumed) entry funcs;
            // final deals need nothing.
            _ => Phase::Done,
        }
    }
}

/// What a client waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    /// A validation result.
    Validation,
    /// The transfer to be resumed.
    Resumed,
    /// The saved status to be something other than this one.
    Left(DealStatus),
}

impl Want {
    fn describe(self) -> &'static str {
        match self {
            Want::Validation => "a validation result",
            Want::Resumed => "the transfer to resume",
            Want::Left(_) => "the payment to be applied",
        }
    }
}

/// The provider's piece store, as the client's own deal sees it: its payload is in its piece.
struct OnePiece(PieceInfo);

impl PieceLookup for OnePiece {
    fn get_piece(
        &self,
        _payload: &cid::Cid,
        _piece: Option<&cid::Cid>,
    ) -> Result<PieceInfo, PieceLookupError> {
        Ok(self.0.clone())
    }
}

/// One deal's client.
pub struct Client<'a> {
    group: &'a SimGroup,
    link: &'a Link,
    inbox: UnboundedReceiver<Signal>,
    stall: Duration,
    /// The cumulative amount of the client's vouchers.
    paid: TokenAmount,
    /// The provider's current data limit (0: none).
    limit: u64,
    /// `send_sync` latencies, in microseconds.
    latencies: Vec<u64>,
}

impl<'a> Client<'a> {
    /// A client for `link`'s deal, or `None` if the deal already has one.
    pub fn new(group: &'a SimGroup, link: &'a Link, stall: Duration) -> Option<Client<'a>> {
        Some(Client {
            group,
            inbox: link.take_inbox()?,
            link,
            stall,
            paid: TokenAmount::zero(),
            limit: 0,
            latencies: Vec::new(),
        })
    }

    fn deal(&self) -> DealId {
        self.link.plan.id()
    }

    /// Drives the deal as far as the client takes part in it: from the start, or (for a deal
    /// found in the store) from where its stored status says. Returns the `send_sync`
    /// latencies it measured, in microseconds.
    pub async fn drive(
        mut self,
        stored: Option<&ProviderDealState>,
    ) -> (Result<(), ClientError>, Vec<u64>) {
        let mut phase = match stored {
            None => Phase::Start,
            Some(deal) => {
                self.paid = deal.funds_received.clone();
                self.limit = self.link.plan.params.next_interval(&deal.funds_received);
                Phase::resume(deal)
            }
        };
        let result = loop {
            let step = match phase {
                Phase::Start => self.start().await.map(|()| Phase::Accept),
                Phase::Reopen => self
                    .send(first_input(self.link.plan.kind))
                    .await
                    .map(|()| Phase::Accept),
                Phase::Accept => self.accept().await,
                Phase::PayUnseal => self.pay_unseal().await,
                Phase::AwaitUnsealed => self.wait(Want::Resumed).await.map(|_| Phase::Transfer),
                Phase::Transfer => self.transfer().await,
                Phase::Owing => self.settle(DealStatus::FundsNeeded, Phase::Transfer).await,
                Phase::LastPayment => {
                    self.settle(DealStatus::FundsNeededLastPayment, Phase::Complete)
                        .await
                }
                Phase::Complete => self.complete().await,
                Phase::Done => break Ok(()),
            };
            match step {
                Ok(next) => phase = next,
                Err(Stop::Ended) => break Ok(()),
                Err(Stop::Failed(error)) => break Err(error),
            }
        };
        (result, self.latencies)
    }

    /// Pull validation, then `begin` and the first input it asks for.
    async fn start(&mut self) -> Result<(), Stop> {
        let deal = self.deal();
        let plan = &self.link.plan;
        let proposal = plan.proposal();
        let voucher = Voucher::Proposal(proposal.clone());
        let receiver = plan.client();
        let refused = |reason: String| ClientError::Refused { deal, reason };
        let selector =
            RawCbor::new(EXPLORE_ALL_SELECTOR.to_vec()).map_err(|e| refused(e.to_string()))?;
        // The simulated provider takes any terms.
        let ask = Ask {
            price_per_byte: TokenAmount::zero(),
            unseal_price: TokenAmount::zero(),
            payment_interval: u64::MAX,
            payment_interval_increase: u64::MAX,
        };
        let validation = validate_pull(
            PullValidator {
                pieces: &OnePiece(plan.piece()),
                asks: &ask,
                decider: &AcceptAll,
            },
            PullRequest {
                receiver: &receiver,
                voucher: Some(&voucher),
                base_cid: &proposal.payload_cid,
                selector: &selector,
            },
        )
        .map_err(|e| refused(e.to_string()))?;
        let (result, state, first_input) = match validation {
            PullValidation::Accepted {
                result,
                deal,
                first_input,
            } => (result, deal, first_input),
            PullValidation::Rejected(result) => {
                let reason = result
                    .voucher_result
                    .map(|response| response.message)
                    .unwrap_or_default();
                return Err(refused(reason).into());
            }
        };
        self.limit = result.data_limit;
        self.group
            .begin(deal.0, *state)
            .await
            .map_err(|e| ClientError::Begin {
                deal,
                reason: e.to_string(),
            })?;
        self.send(first_input).await
    }

    /// The provider accepts the channel: `Accept` → `DealAccepted`.
    async fn accept(&mut self) -> Result<Phase, Stop> {
        self.drain();
        self.link
            .update_channel(|channel| channel.status = DtStatus::Ongoing);
        self.fire(DtEvent::new(DtEventCode::Accept)).await?;
        Ok(match self.link.plan.kind {
            DealKind::PaidUnseal => Phase::PayUnseal,
            DealKind::Free | DealKind::Paid => Phase::AwaitUnsealed,
        })
    }

    /// Pays the unseal price once `UpdateFunding` has answered the accepted channel.
    async fn pay_unseal(&mut self) -> Result<Phase, Stop> {
        let result = self.validation().await?;
        self.check_accepted(&result)?;
        let owed = (&self.link.plan.params.unseal_price - &self.paid).clamp_non_negative();
        self.pay(&owed).await?;
        Ok(Phase::AwaitUnsealed)
    }

    /// Sends data up to the next stop, then asks for payment (`DataLimitExceeded`) or
    /// finalizes (`BeginFinalizing`); or raises the planned fault there.
    async fn transfer(&mut self) -> Result<Phase, Stop> {
        let size = self.link.plan.size;
        let queued = self.link.channel().queued;
        let stop = if self.limit == 0 || self.limit >= size {
            size
        } else {
            self.limit
        };
        if stop <= queued && stop < size {
            return Err(ClientError::NoProgress {
                deal: self.deal(),
                limit: self.limit,
                queued,
            }
            .into());
        }
        let last = stop == size;
        if self.fault_due(stop).is_some_and(|point| !point.while_owing) {
            self.link.update_channel(|channel| channel.queued = stop);
            self.fault().await?;
            return Ok(Phase::Done);
        }
        self.drain();
        self.link.update_channel(|channel| {
            channel.queued = stop;
            if last {
                channel.status = DtStatus::Finalizing;
            }
        });
        if last {
            self.fire(DtEvent::new(DtEventCode::BeginFinalizing))
                .await?;
            Ok(Phase::LastPayment)
        } else {
            self.fire(DtEvent::new(DtEventCode::DataLimitExceeded))
                .await?;
            Ok(Phase::Owing)
        }
    }

    /// Pays what `UpdateFunding` says is owed until it asks for nothing more, then waits
    /// for the deal to leave `owing` (its `PaymentReceived` applied). A planned fault "while
    /// owing" is raised instead of paying.
    async fn settle(&mut self, owing: DealStatus, next: Phase) -> Result<Phase, Stop> {
        let queued = self.link.channel().queued;
        let walk_away = self
            .fault_due(queued)
            .is_some_and(|point| point.while_owing);
        loop {
            let result = self.validation().await?;
            self.check_accepted(&result)?;
            if walk_away {
                self.fault().await?;
                return Ok(Phase::Done);
            }
            match result
                .voucher_result
                .filter(|response| response.payment_owed.is_positive())
            {
                Some(response) => self.pay(&response.payment_owed).await?,
                None => {
                    self.limit = result.data_limit;
                    self.wait(Want::Left(owing)).await?;
                    return Ok(next);
                }
            }
        }
    }

    /// The provider has the last payment: data transfer completes the channel, and the
    /// subscriber sends `Complete`. A planned fault is raised instead: a free deal reaches
    /// `Finalizing` without a payment, so a client walking away at the last stop finds it
    /// there (and so does a resumed one).
    async fn complete(&mut self) -> Result<Phase, Stop> {
        if self.fault_due(self.link.plan.size).is_some() {
            self.fault().await?;
            return Ok(Phase::Done);
        }
        self.drain();
        self.link
            .update_channel(|channel| channel.status = DtStatus::Completed);
        self.fire(DtEvent::new(DtEventCode::Complete)).await?;
        Ok(Phase::Done)
    }

    /// The planned fault point, if the transfer has reached it at `position`.
    fn fault_due(&self, position: u64) -> Option<FaultPoint> {
        self.link
            .plan
            .fault
            .point()
            .filter(|point| point.at_bytes <= position)
    }

    /// Raises the planned client-side fault: a cancel, an error or a hang-up.
    async fn fault(&mut self) -> Result<(), Stop> {
        let event = match self.link.plan.fault {
            Fault::ClientCancel(_) => {
                self.link
                    .update_channel(|channel| channel.status = DtStatus::Cancelled);
                DtEvent::new(DtEventCode::Cancel)
            }
            Fault::TransferError {
                disconnect: true, ..
            } => DtEvent::new(DtEventCode::Disconnected),
            Fault::TransferError { .. } => {
                DtEvent::with_message(DtEventCode::Error, TRANSFER_FAILURE)
            }
            Fault::None | Fault::UnsealFailure => return Ok(()),
        };
        self.fire(event).await
    }

    /// Sends a voucher worth `amount` more than the last one (`NewVoucher` →
    /// `ProcessPayment`).
    async fn pay(&mut self, amount: &TokenAmount) -> Result<(), Stop> {
        self.paid = &self.paid + amount;
        let voucher = payment(&self.link.plan, &self.paid);
        self.link
            .update_channel(|channel| channel.last_voucher = Some(voucher));
        self.fire(DtEvent::new(DtEventCode::NewVoucher)).await
    }

    fn check_accepted(&self, result: &ValidationResult) -> Result<(), ClientError> {
        if result.accepted {
            return Ok(());
        }
        Err(ClientError::Rejected {
            deal: self.deal(),
            message: result
                .voucher_result
                .as_ref()
                .map(|response| response.message.clone())
                .unwrap_or_default(),
        })
    }

    /// Raises `event` on the channel and sends the input the subscriber maps it to.
    async fn fire(&mut self, event: DtEvent) -> Result<(), Stop> {
        let channel = self.link.channel();
        let deal = self.deal();
        let (key, input) = transfer_event_input(&event, &channel).ok_or(ClientError::Unmapped {
            deal,
            code: event.code,
        })?;
        // The simulation gives every deal its own id, so the id alone keys the group.
        debug_assert_eq!(key.deal_id, deal);
        self.send(input).await
    }

    /// `send_sync`, timed.
    async fn send(&mut self, input: ProviderInput) -> Result<(), Stop> {
        let started = Instant::now();
        let sent = self.group.send_sync(self.deal().0, input).await;
        let micros = started.elapsed().as_micros();
        self.latencies
            .push(u64::try_from(micros).unwrap_or(u64::MAX));
        match sent {
            Ok(_) => Ok(()),
            Err(SendError::Terminated { .. }) => Err(Stop::Ended),
            Err(error) => Err(ClientError::Send {
                deal: self.deal(),
                reason: error.to_string(),
            }
            .into()),
        }
    }

    /// Drops every signal waiting in the mailbox (see the module docs).
    fn drain(&mut self) {
        while self.inbox.try_recv().is_ok() {}
    }

    async fn validation(&mut self) -> Result<ValidationResult, Stop> {
        match self.wait(Want::Validation).await? {
            Some(result) => Ok(result),
            None => Err(Stop::Ended),
        }
    }

    /// The deal's saved status.
    async fn saved_status(&self) -> Result<DealStatus, ClientError> {
        let deal = self.deal();
        match self.group.get(&deal.0).await {
            Ok(Some(state)) => Ok(state.status),
            Ok(None) => Err(ClientError::Read {
                deal,
                reason: "no such deal in the store".to_owned(),
            }),
            Err(error) => Err(ClientError::Read {
                deal,
                reason: error.to_string(),
            }),
        }
    }

    /// Waits for `want`; returns the validation result when that is what was wanted. Ends
    /// with [`Stop::Ended`] when the deal reaches a final status first, and gives up after
    /// the stall timeout.
    async fn wait(&mut self, want: Want) -> Result<Option<ValidationResult>, Stop> {
        let deadline = Instant::now() + self.stall;
        let left = |status: DealStatus| match want {
            Want::Left(owing) => status != owing,
            Want::Validation | Want::Resumed => false,
        };
        // A status wait may be satisfied already: the store has the last word.
        if matches!(want, Want::Left(_)) {
            let status = self.saved_status().await?;
            if ProviderFsm::is_final(status) {
                return Err(Stop::Ended);
            }
            if left(status) {
                return Ok(None);
            }
        }
        loop {
            let wake = deadline.min(Instant::now() + RECHECK);
            let recheck = match tokio::time::timeout_at(wake, self.inbox.recv()).await {
                Ok(Some(Signal::Validation(result))) if want == Want::Validation => {
                    return Ok(Some(result));
                }
                Ok(Some(Signal::Resumed)) if want == Want::Resumed => return Ok(None),
                Ok(Some(Signal::Changed(status))) if ProviderFsm::is_final(status) => {
                    return Err(Stop::Ended);
                }
                Ok(Some(Signal::Changed(_))) => matches!(want, Want::Left(_)),
                Ok(Some(_)) => false,
                // The link holds the sender for as long as the client runs.
                Ok(None) => true,
                Err(_) => true,
            };
            if recheck || Instant::now() >= deadline {
                let status = self.saved_status().await?;
                if ProviderFsm::is_final(status) {
                    return Err(Stop::Ended);
                }
                if left(status) {
                    return Ok(None);
                }
                if Instant::now() >= deadline {
                    return Err(ClientError::Stalled {
                        deal: self.deal(),
                        status: Some(status),
                        waiting: want.describe(),
                    }
                    .into());
                }
            }
        }
    }
}

/// The first input pull validation asks for: `PaymentRequested` when unsealing has a price,
/// `Open` otherwise.
fn first_input(kind: DealKind) -> ProviderInput {
    match kind {
        DealKind::PaidUnseal => ProviderInput::PaymentRequested,
        DealKind::Free | DealKind::Paid => ProviderInput::Open,
    }
}
