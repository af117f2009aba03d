//! [`MockEnvironment`] and [`MockNode`]: scripted stand-ins for a provider's environment and
//! chain node that record every call (the stubs of go-fil-markets' `providerstates_test`).

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};

use cid::Cid;

use crate::cbor::RawCbor;
use crate::env::{
    ChainEpoch, ChannelClosed, PricingInput, ProviderDealEnvironment, RetrievalProviderNode,
    TipSetToken,
};
use crate::ids::{Address, ChannelId, DealId};
use crate::token::TokenAmount;
use crate::transfer::{ChannelState, ValidationResult};

/// The error a mock returns: just a message, which becomes the deal's `Message`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[error("{0}")]
pub struct MockError(pub String);

impl MockError {
    /// An error with `message`.
    pub fn new(message: impl Into<String>) -> Self {
        MockError(message.into())
    }
}

/// Locks `mutex`, ignoring poisoning: the data behind it (a script or a call log) stays
/// meaningful after a panic elsewhere.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One call to a [`MockNode`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeCall {
    /// `get_chain_head()`.
    GetChainHead,
    /// `get_miner_worker_address(miner, _)`.
    GetMinerWorkerAddress(Address),
    /// `save_payment_voucher(..)`.
    SavePaymentVoucher {
        /// The payment channel.
        payment_channel: Address,
        /// The voucher.
        voucher: Option<RawCbor>,
        /// The proof.
        proof: Option<Vec<u8>>,
        /// The expected amount.
        expected_amount: TokenAmount,
    },
    /// `get_retrieval_pricing_input(piece, _)`.
    GetRetrievalPricingInput(Cid),
}

/// What a [`MockNode`] answers.
#[derive(Clone, Debug, Default)]
pub struct NodeSetup {
    /// The error `get_chain_head` returns, if any.
    pub chain_head_error: Option<MockError>,
    /// The answers of successive `save_payment_voucher` calls; once used up, each call
    /// returns 0 (a voucher that brings nothing new, as re-saving a voucher does).
    pub saved_amounts: VecDeque<Result<TokenAmount, MockError>>,
}

/// A scripted [`RetrievalProviderNode`] that records its calls.
///
/// The chain head is an empty token at epoch 0 (or [`NodeSetup::chain_head_error`]);
/// `get_miner_worker_address` answers the miner's own address and
/// `get_retrieval_pricing_input` always fails: the deal machine uses neither.
#[derive(Debug, Default)]
pub struct MockNode {
    setup: Mutex<NodeSetup>,
    calls: Mutex<Vec<NodeCall>>,
}

impl MockNode {
    /// A node answering as `setup` says.
    pub fn new(setup: NodeSetup) -> Self {
        MockNode {
            setup: Mutex::new(setup),
            calls: Mutex::new(Vec::new()),
        }
    }

    /// Changes the script.
    pub fn configure(&self, change: impl FnOnce(&mut NodeSetup)) {
        change(&mut lock(&self.setup));
    }

    /// Queues the answer of the next unanswered `save_payment_voucher` call.
    pub fn push_saved_amount(&self, amount: Result<TokenAmount, MockError>) {
        lock(&self.setup).saved_amounts.push_back(amount);
    }

    /// The calls so far, in order.
    pub fn calls(&self) -> Vec<NodeCall> {
        lock(&self.calls).clone()
    }

    /// The `save_payment_voucher` calls so far.
    pub fn saved_vouchers(&self) -> usize {
        lock(&self.calls)
            .iter()
            .filter(|call| matches!(call, NodeCall::SavePaymentVoucher { .. }))
            .count()
    }

    fn record(&self, call: NodeCall) {
        lock(&self.calls).push(call);
    }
}

impl RetrievalProviderNode for MockNode {
    type Error = MockError;

    async fn get_chain_head(&self) -> Result<(TipSetToken, ChainEpoch), MockError> {
        self.record(NodeCall::GetChainHead);
        match &lock(&self.setup).chain_head_error {
            Some(err) => Err(err.clone()),
            None => Ok((TipSetToken::default(), 0)),
        }
    }

    async fn get_miner_worker_address(
        &self,
        miner: &Address,
        _tok: &TipSetToken,
    ) -> Result<Address, MockError> {
        self.record(NodeCall::GetMinerWorkerAddress(miner.clone()));
        Ok(miner.clone())
    }

    async fn save_payment_voucher(
        &self,
        payment_channel: &Address,
        voucher: Option<&RawCbor>,
        proof: Option<&[u8]>,
        expected_amount: &TokenAmount,
        _tok: &TipSetToken,
    ) -> Result<TokenAmount, MockError> {
        self.record(NodeCall::SavePaymentVoucher {
            payment_channel: payment_channel.clone(),
            voucher: voucher.cloned(),
            proof: proof.map(<[u8]>::to_vec),
            expected_amount: expected_amount.clone(),
        });
        lock(&self.setup)
            .saved_amounts
            .pop_front()
            .unwrap_or_else(|| Ok(TokenAmount::zero()))
    }

    async fn get_retrieval_pricing_input(
        &self,
        piece_cid: &Cid,
        _storage_deals: &[u64],
    ) -> Result<PricingInput, MockError> {
        self.record(NodeCall::GetRetrievalPricingInput(*piece_cid));
        Err(MockError::new("the mock node has no pricing input"))
    }
}

/// One call to a [`MockEnvironment`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnvCall {
    /// `prepare_blockstore(deal, piece)`.
    PrepareBlockstore(DealId, Cid),
    /// `delete_store(deal)`.
    DeleteStore(DealId),
    /// `resume_data_transfer(channel)`.
    ResumeDataTransfer(ChannelId),
    /// `close_data_transfer(channel)`.
    CloseDataTransfer(ChannelId),
    /// `channel_state(channel)`.
    ChannelState(ChannelId),
    /// `update_validation_status(channel, result)`.
    UpdateValidationStatus(ChannelId, ValidationResult),
}

/// What a [`MockEnvironment`] answers. The default succeeds everywhere and has no channel
/// state.
#[derive(Clone, Debug)]
pub struct EnvSetup {
    /// The error `prepare_blockstore` returns, if any.
    pub prepare_blockstore_error: Option<MockError>,
    /// The error `delete_store` returns, if any.
    pub delete_store_error: Option<MockError>,
    /// The error `resume_data_transfer` returns, if any.
    pub resume_error: Option<MockError>,
    /// What `close_data_transfer` returns.
    pub close_result: Result<ChannelClosed, MockError>,
    /// What `channel_state` returns; `None` is an error.
    pub channel_state: Option<ChannelState>,
    /// The error `channel_state` returns, if any (checked first).
    pub channel_state_error: Option<MockError>,
    /// The error `update_validation_status` returns, if any (the call is recorded either way).
    pub update_validation_status_error: Option<MockError>,
}

impl Default for EnvSetup {
    fn default() -> Self {
        EnvSetup {
            prepare_blockstore_error: None,
            delete_store_error: None,
            resume_error: None,
            close_result: Ok(ChannelClosed::Closed),
            channel_state: None,
            channel_state_error: None,
            update_validation_status_error: None,
        }
    }
}

/// A scripted [`ProviderDealEnvironment`] that records its calls, over a [`MockNode`].
#[derive(Debug, Default)]
pub struct MockEnvironment {
    node: MockNode,
    setup: Mutex<EnvSetup>,
    calls: Mutex<Vec<EnvCall>>,
}

impl MockEnvironment {
    /// An environment answering as `setup` says, over `node`.
    pub fn new(setup: EnvSetup, node: MockNode) -> Self {
        MockEnvironment {
            node,
            setup: Mutex::new(setup),
            calls: Mutex::new(Vec::new()),
        }
    }

    /// Changes the script (for example the channel state between two steps of a deal).
    pub fn configure(&self, change: impl FnOnce(&mut EnvSetup)) {
        change(&mut lock(&self.setup));
    }

    /// The calls so far, in order.
    pub fn calls(&self) -> Vec<EnvCall> {
        lock(&self.calls).clone()
    }

    /// The results handed to `update_validation_status` so far, in order.
    pub fn validation_results(&self) -> Vec<ValidationResult> {
        lock(&self.calls)
            .iter()
            .filter_map(|call| match call {
                EnvCall::UpdateValidationStatus(_, result) => Some(result.clone()),
                _ => None,
            })
            .collect()
    }

    /// The mock node.
    pub fn mock_node(&self) -> &MockNode {
        &self.node
    }

    fn record(&self, call: EnvCall) {
        lock(&self.calls).push(call);
    }

    fn setup(&self) -> MutexGuard<'_, EnvSetup> {
        lock(&self.setup)
    }
}

/// `Err(err)` when `err` is set.
fn fail_if(err: &Option<MockError>) -> Result<(), MockError> {
    err.clone().map_or(Ok(()), Err)
}

impl ProviderDealEnvironment for MockEnvironment {
    type Node = MockNode;
    type Error = MockError;

    fn node(&self) -> &MockNode {
        &self.node
    }

    async fn prepare_blockstore(&self, deal_id: DealId, piece_cid: &Cid) -> Result<(), MockError> {
        self.record(EnvCall::PrepareBlockstore(deal_id, *piece_cid));
        fail_if(&self.setup().prepare_blockstore_error)
    }

    async fn delete_store(&self, deal_id: DealId) -> Result<(), MockError> {
        self.record(EnvCall::DeleteStore(deal_id));
        fail_if(&self.setup().delete_store_error)
    }

    async fn resume_data_transfer(&self, channel: &ChannelId) -> Result<(), MockError> {
        self.record(EnvCall::ResumeDataTransfer(channel.clone()));
        fail_if(&self.setup().resume_error)
    }

    async fn close_data_transfer(&self, channel: &ChannelId) -> Result<ChannelClosed, MockError> {
        self.record(EnvCall::CloseDataTransfer(channel.clone()));
        self.setup().close_result.clone()
    }

    async fn channel_state(&self, channel: &ChannelId) -> Result<ChannelState, MockError> {
        self.record(EnvCall::ChannelState(channel.clone()));
        let setup = self.setup();
        fail_if(&setup.channel_state_error)?;
        setup
            .channel_state
            .clone()
            .ok_or_else(|| MockError::new(format!("mock: no state for channel {channel}")))
    }

    async fn update_validation_status(
        &self,
        channel: &ChannelId,
        result: ValidationResult,
    ) -> Result<(), MockError> {
        self.record(EnvCall::UpdateValidationStatus(channel.clone(), result));
        fail_if(&self.setup().update_validation_status_error)
    }
}
