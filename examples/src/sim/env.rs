//! The simulated world around the provider: its deal environment ([`SimEnv`], Go's
//! `ProviderDealEnvironment`) and chain node ([`SimNode`]), and the per-deal [`Link`] through
//! which they share a data-transfer channel with the deal's simulated client.
//!
//! The environment owns nothing of its own: each deal's channel state (bytes queued, last
//! voucher, status) lives in its link, written by the client and read by the provider's entry
//! funcs, and whatever the provider tells data transfer (resume, close, validation results) is
//! posted to the client's mailbox as a [`Signal`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use cid::Cid;
use ipld_core::ipld::Ipld;
use retrieval_provider::RawCbor;
use retrieval_provider::env::{
    ChainEpoch, ChannelClosed, PricingInput, ProviderDealEnvironment, RetrievalProviderNode,
    TipSetToken,
};
use retrieval_provider::{
    Address, ChannelId, ChannelState, DealId, DealPayment, DealStatus, DtStatus, ProviderDealState,
    TokenAmount, ValidationResult, Voucher,
};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use super::plan::{DealPlan, index_of, provider_peer};

/// What the provider side tells a deal's client, in the order it happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    /// `UpdateValidationStatus`: the provider's verdict (what is owed, the next data limit).
    Validation(ValidationResult),
    /// `ResumeDataTransfer`: the provider unpaused the transfer.
    Resumed,
    /// `CloseDataTransfer`: the provider closed the channel.
    Closed,
    /// An event was applied to the deal and saved (forwarded from the group's notifications);
    /// carries the status after it.
    Changed(DealStatus),
}

/// Locks `mutex`, ignoring poisoning: every critical section here is a plain field update
/// that cannot leave the data half-written.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One deal's shared state: its plan, its data-transfer channel, its payment lane on the
/// node, and the client's mailbox.
#[derive(Debug)]
pub struct Link {
    /// The deal's plan.
    pub plan: DealPlan,
    /// The data-transfer channel (the client writes it, the provider reads it).
    channel: Mutex<ChannelState>,
    /// The largest voucher amount the node has saved on the deal's payment channel.
    lane: Mutex<TokenAmount>,
    /// Where signals for the client go.
    mailbox: UnboundedSender<Signal>,
    /// The client's end of the mailbox, taken when the client starts.
    inbox: Mutex<Option<UnboundedReceiver<Signal>>>,
    /// For a deal found unfinished in the store: the record the link was built from, which
    /// its client resumes from (taken when the client starts).
    resumed_from: Mutex<Option<ProviderDealState>>,
}

impl Link {
    /// The link of `plan`'s deal. For a deal already in the store, the channel and the lane
    /// are rebuilt from the record: what go-data-transfer and the node's voucher store would
    /// have persisted (see [`channel_for`]).
    pub fn new(plan: DealPlan, stored: Option<&ProviderDealState>) -> Link {
        let (mailbox, inbox) = unbounded_channel();
        let funds = stored.map(|deal| deal.funds_received.clone());
        Link {
            channel: Mutex::new(channel_for(&plan, stored)),
            lane: Mutex::new(funds.unwrap_or_default()),
            plan,
            mailbox,
            inbox: Mutex::new(Some(inbox)),
            resumed_from: Mutex::new(stored.cloned()),
        }
    }

    /// The stored record this link was built from, once.
    pub fn take_resumed_from(&self) -> Option<ProviderDealState> {
        lock(&self.resumed_from).take()
    }

    /// A copy of the channel state.
    pub fn channel(&self) -> ChannelState {
        lock(&self.channel).clone()
    }

    /// Changes the channel state.
    pub fn update_channel(&self, change: impl FnOnce(&mut ChannelState)) {
        change(&mut lock(&self.channel));
    }

    /// Takes the client's end of the mailbox (once).
    pub fn take_inbox(&self) -> Option<UnboundedReceiver<Signal>> {
        lock(&self.inbox).take()
    }

    /// Posts `signal` to the client. A client that has finished no longer listens, which is
    /// fine: a real data-transfer peer that has gone away ignores messages too.
    pub fn post(&self, signal: Signal) {
        let _ = self.mailbox.send(signal);
    }
}

/// The channel of `plan`'s deal, rebuilt from its stored record (or new, without one).
///
/// The transfer restarts from byte 0 unless the deal is waiting for a payment, where the bytes
/// queued are those the deal's funds were asked for at: the data limit of its funds in
/// `FundsNeeded`, everything once finalizing. The last voucher carries the funds received so
/// far (or is the proposal when nothing was paid), matching the lane rebuilt in
/// [`Link::new`], so re-saving it brings no new funds.
pub fn channel_for(plan: &DealPlan, stored: Option<&ProviderDealState>) -> ChannelState {
    let proposal = Voucher::Proposal(plan.proposal());
    let funds = stored
        .map(|deal| deal.funds_received.clone())
        .unwrap_or_default();
    let (status, queued) = match stored.map(|deal| deal.status) {
        None | Some(DealStatus::New | DealStatus::FundsNeededUnseal) => (DtStatus::Requested, 0),
        Some(DealStatus::FundsNeeded) => (
            DtStatus::Ongoing,
            plan.params.next_interval(&funds).min(plan.size),
        ),
        Some(DealStatus::FundsNeededLastPayment | DealStatus::Finalizing) => {
            (DtStatus::Finalizing, plan.size)
        }
        Some(DealStatus::Completing | DealStatus::Completed) => (DtStatus::Completed, plan.size),
        Some(_) => (DtStatus::Ongoing, 0),
    };
    let last_voucher = if funds.is_positive() {
        payment(plan, &funds)
    } else {
        proposal.clone()
    };
    ChannelState {
        channel_id: plan.channel_id(),
        status,
        queued,
        voucher: Some(proposal),
        last_voucher: Some(last_voucher),
        sender: provider_peer(),
        recipient: plan.client(),
        self_peer: provider_peer(),
    }
}

/// A payment voucher for `plan`'s deal worth `total` (cumulative, as payment-channel vouchers
/// are).
///
/// The signed voucher is simulated as the DAG-CBOR list `[lane, amount]` (amount in Go's
/// big-int bytes); a real node decodes a `paych.SignedVoucher` instead.
pub fn payment(plan: &DealPlan, total: &TokenAmount) -> Voucher {
    let amount = total.to_sign_bytes().ok().map(Ipld::Bytes);
    let voucher = amount
        .and_then(|amount| RawCbor::from_ipld(&Ipld::List(vec![Ipld::Integer(0), amount])).ok());
    Voucher::Payment(DealPayment {
        id: plan.id(),
        payment_channel: plan.payment_channel(),
        payment_voucher: voucher,
    })
}

/// The amount of a voucher written by [`payment`].
fn voucher_amount(voucher: Option<&RawCbor>) -> Result<TokenAmount, SimEnvError> {
    let bad = |reason: &str| SimEnvError::BadVoucher(reason.to_owned());
    let ipld = voucher
        .ok_or_else(|| bad("no signed voucher"))?
        .to_ipld()
        .map_err(|e| SimEnvError::BadVoucher(e.to_string()))?;
    match ipld {
        Ipld::List(items) => match items.as_slice() {
            [Ipld::Integer(_), Ipld::Bytes(amount)] => TokenAmount::from_sign_bytes(amount)
                .map_err(|e| SimEnvError::BadVoucher(e.to_string())),
            _ => Err(bad("expected [lane, amount]")),
        },
        _ => Err(bad("expected a list")),
    }
}

/// The links of the deals in flight, by deal index. A link is added when its deal starts (or,
/// for a resumed run, when the deal is found unfinished in the store) and removed when its
/// client is done, so the simulation holds nothing per deal once the deal has ended.
#[derive(Debug)]
pub struct Links {
    /// The number of deals of the run (valid indices are below it).
    deals: u64,
    live: Mutex<HashMap<u64, Arc<Link>>>,
}

impl Links {
    /// No link yet, for a run of `deals` deals.
    pub fn new(deals: u64) -> Links {
        Links {
            deals,
            live: Mutex::default(),
        }
    }

    /// Adds the link of deal index `index` (replacing one left there) and returns it.
    pub fn insert(&self, index: u64, link: Link) -> Arc<Link> {
        let link = Arc::new(link);
        lock(&self.live).insert(index, Arc::clone(&link));
        link
    }

    /// Removes the link of deal index `index`: its deal is done.
    pub fn remove(&self, index: u64) {
        lock(&self.live).remove(&index);
    }

    /// How many links are live.
    pub fn len(&self) -> usize {
        lock(&self.live).len()
    }

    /// Whether no link is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The link of deal index `index`, while its deal is in flight.
    pub fn get(&self, index: u64) -> Option<Arc<Link>> {
        lock(&self.live).get(&index).cloned()
    }

    /// The link of deal `id`.
    pub fn by_deal(&self, id: DealId) -> Result<Arc<Link>, SimEnvError> {
        index_of(id, self.deals)
            .and_then(|index| self.get(index))
            .ok_or(SimEnvError::UnknownDeal(id))
    }

    /// The link of the deal on `channel`.
    pub fn by_channel(&self, channel: &ChannelId) -> Result<Arc<Link>, SimEnvError> {
        self.get(channel.id)
            .filter(|link| link.plan.channel_id() == *channel)
            .ok_or_else(|| SimEnvError::UnknownChannel(channel.clone()))
    }

    /// The link of the deal paying through `payment_channel`.
    fn by_payment_channel(&self, payment_channel: &Address) -> Result<Arc<Link>, SimEnvError> {
        let index = payment_channel
            .0
            .get(1..)
            .and_then(|bytes| <[u8; 8]>::try_from(bytes).ok())
            .map(u64::from_be_bytes);
        index
            .and_then(|index| self.get(index))
            .filter(|link| link.plan.payment_channel() == *payment_channel)
            .ok_or_else(|| SimEnvError::UnknownPaymentChannel(payment_channel.clone()))
    }
}

/// A failure of the simulated environment or node. The provider's entry funcs turn these
/// into events, whose text lands in the deal's `Message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimEnvError {
    /// The planned unseal failure (Go's text for a failed `PrepareBlockstore`).
    #[error("failed to load blockstore for piece {piece}: simulated unseal failure")]
    UnsealFailed {
        /// The piece.
        piece: Cid,
    },
    /// A deal id the simulation did not plan.
    #[error("no simulated deal {0}")]
    UnknownDeal(DealId),
    /// A channel the simulation did not open.
    #[error("no simulated data-transfer channel {0}")]
    UnknownChannel(ChannelId),
    /// A payment channel the simulation did not create.
    #[error("no simulated payment channel {0:?}")]
    UnknownPaymentChannel(Address),
    /// A voucher that is not one the simulated client writes.
    #[error("cannot read simulated payment voucher: {0}")]
    BadVoucher(String),
}

/// The simulated chain node: saves payment vouchers on per-deal lanes and returns the new
/// funds each brings.
#[derive(Debug, Clone)]
pub struct SimNode {
    links: Arc<Links>,
}

impl RetrievalProviderNode for SimNode {
    type Error = SimEnvError;

    async fn get_chain_head(&self) -> Result<(TipSetToken, ChainEpoch), SimEnvError> {
        Ok((TipSetToken(b"sim-head".to_vec()), 1))
    }

    async fn get_miner_worker_address(
        &self,
        miner: &Address,
        _tok: &TipSetToken,
    ) -> Result<Address, SimEnvError> {
        Ok(miner.clone())
    }

    async fn save_payment_voucher(
        &self,
        payment_channel: &Address,
        voucher: Option<&RawCbor>,
        _proof: Option<&[u8]>,
        _expected_amount: &TokenAmount,
        _tok: &TipSetToken,
    ) -> Result<TokenAmount, SimEnvError> {
        let link = self.links.by_payment_channel(payment_channel)?;
        let amount = voucher_amount(voucher)?;
        let mut best = lock(&link.lane);
        let new_funds = (&amount - &*best).clamp_non_negative();
        if amount > *best {
            *best = amount;
        }
        Ok(new_funds)
    }

    async fn get_retrieval_pricing_input(
        &self,
        piece_cid: &Cid,
        _storage_deals: &[u64],
    ) -> Result<PricingInput, SimEnvError> {
        Ok(PricingInput {
            piece_cid: *piece_cid,
            piece_size: 0,
            unsealed: false,
            verified_deal: false,
        })
    }
}

/// The simulated provider environment (Go's `ProviderDealEnvironment`).
#[derive(Debug, Clone)]
pub struct SimEnv {
    links: Arc<Links>,
    node: SimNode,
}

impl SimEnv {
    /// An environment over `links`.
    pub fn new(links: Arc<Links>) -> SimEnv {
        SimEnv {
            node: SimNode {
                links: Arc::clone(&links),
            },
            links,
        }
    }
}

impl ProviderDealEnvironment for SimEnv {
    type Node = SimNode;
    type Error = SimEnvError;

    fn node(&self) -> &SimNode {
        &self.node
    }

    async fn prepare_blockstore(
        &self,
        deal_id: DealId,
        piece_cid: &Cid,
    ) -> Result<(), SimEnvError> {
        let link = self.links.by_deal(deal_id)?;
        match link.plan.fault {
            super::plan::Fault::UnsealFailure => {
                Err(SimEnvError::UnsealFailed { piece: *piece_cid })
            }
            _ => Ok(()),
        }
    }

    async fn delete_store(&self, deal_id: DealId) -> Result<(), SimEnvError> {
        self.links.by_deal(deal_id).map(drop)
    }

    async fn resume_data_transfer(&self, channel: &ChannelId) -> Result<(), SimEnvError> {
        let link = self.links.by_channel(channel)?;
        link.update_channel(|state| state.status = DtStatus::Ongoing);
        link.post(Signal::Resumed);
        Ok(())
    }

    async fn close_data_transfer(&self, channel: &ChannelId) -> Result<ChannelClosed, SimEnvError> {
        let link = self.links.by_channel(channel)?;
        let mut already = false;
        link.update_channel(|state| {
            already = matches!(
                state.status,
                DtStatus::Cancelled | DtStatus::Failed | DtStatus::Completed
            );
            state.status = DtStatus::Cancelled;
        });
        link.post(Signal::Closed);
        Ok(if already {
            ChannelClosed::AlreadyTerminated
        } else {
            ChannelClosed::Closed
        })
    }

    async fn channel_state(&self, channel: &ChannelId) -> Result<ChannelState, SimEnvError> {
        Ok(self.links.by_channel(channel)?.channel())
    }

    async fn update_validation_status(
        &self,
        channel: &ChannelId,
        result: ValidationResult,
    ) -> Result<(), SimEnvError> {
        self.links
            .by_channel(channel)?
            .post(Signal::Validation(result));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::config::FaultMix;
    use retrieval_provider::harness::block_on;

    fn links(deals: u64) -> Arc<Links> {
        let mix = FaultMix::default();
        let links = Links::new(deals);
        for index in 0..deals {
            links.insert(index, Link::new(DealPlan::generate(5, index, &mix), None));
        }
        Arc::new(links)
    }

    #[test]
    fn the_node_returns_only_new_funds() {
        let links = links(3);
        let node = SimEnv::new(Arc::clone(&links)).node;
        let plan = &links.get(2).unwrap().plan;
        let save = |total: u64| {
            let Voucher::Payment(payment) = payment(plan, &TokenAmount::from(total)) else {
                unreachable!()
            };
            block_on(node.save_payment_voucher(
                &payment.payment_channel,
                payment.payment_voucher.as_ref(),
                None,
                &TokenAmount::zero(),
                &TipSetToken::default(),
            ))
            .unwrap()
        };
        assert_eq!(save(100), TokenAmount::from(100u64));
        assert_eq!(save(100), TokenAmount::zero());
        assert_eq!(save(250), TokenAmount::from(150u64));
        assert_eq!(save(200), TokenAmount::zero());
    }

    #[test]
    fn unknown_deals_and_channels_are_errors() {
        let env = SimEnv::new(links(2));
        assert_eq!(
            block_on(env.delete_store(DealId(3))),
            Err(SimEnvError::UnknownDeal(DealId(3)))
        );
        let stranger = ChannelId::new("x", "y", 1);
        assert!(matches!(
            block_on(env.channel_state(&stranger)),
            Err(SimEnvError::UnknownChannel(_))
        ));
    }

    #[test]
    fn rebuilt_channels_match_the_stored_status() {
        let plan = DealPlan::generate(5, 0, &FaultMix::default());
        let mut deal = ProviderDealState::new(plan.proposal(), plan.client());
        assert_eq!(channel_for(&plan, Some(&deal)).queued, 0);
        deal.status = DealStatus::FundsNeededLastPayment;
        deal.funds_received = TokenAmount::from(7u64);
        let channel = channel_for(&plan, Some(&deal));
        assert_eq!(channel.queued, plan.size);
        assert!(channel.status.in_finalization());
        assert_eq!(
            channel.last_voucher,
            Some(payment(&plan, &TokenAmount::from(7u64)))
        );
    }
}
