//! The environment a provider deal runs against: Go's `ProviderDealEnvironment` and
//! `RetrievalProviderNode`, as async traits a real provider implements.
//!
//! Both traits have an associated error type, so an implementation keeps its own typed errors.
//! The entry funcs need only an error's text (Go's `err.Error()`, which reaches the deal's
//! `Message` through `recordError`), so any `std::error::Error` will do.
//!
//! Methods return `impl Future + Send`: implement them with `async fn`. The entry funcs are
//! generic over the environment, so no boxing or dynamic dispatch is involved.

use std::error::Error;
use std::future::Future;

use cid::Cid;

use crate::cbor::RawCbor;
use crate::ids::{Address, ChannelId, DealId};
use crate::token::TokenAmount;
use crate::transfer::{ChannelState, ValidationResult};

/// A chain tip-set key as the node reports it (Go's `shared.TipSetToken`, opaque bytes).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct TipSetToken(pub Vec<u8>);

/// A chain epoch (Go's `abi.ChainEpoch`).
pub type ChainEpoch = i64;

/// What the provider prices a retrieval with (Go's `retrievalmarket.PricingInput`, without the
/// current ask, which the pricing layer adds).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PricingInput {
    /// The piece the data is in.
    pub piece_cid: Cid,
    /// The unpadded size of the piece.
    pub piece_size: u64,
    /// Whether an unsealed copy of the piece exists.
    pub unsealed: bool,
    /// Whether any storage deal holding the piece is verified.
    pub verified_deal: bool,
}

/// The chain node a retrieval provider runs on (Go's `retrievalmarket.RetrievalProviderNode`).
///
/// The deal machine uses only [`get_chain_head`](Self::get_chain_head) and
/// [`save_payment_voucher`](Self::save_payment_voucher); the other two serve the provider's
/// pricing and are part of the interface for completeness.
pub trait RetrievalProviderNode: Send + Sync + 'static {
    /// The node's error.
    type Error: Error + Send + Sync + 'static;

    /// The current chain head (Go's `GetChainHead`).
    fn get_chain_head(
        &self,
    ) -> impl Future<Output = Result<(TipSetToken, ChainEpoch), Self::Error>> + Send;

    /// The worker address of `miner` at tip set `tok` (Go's `GetMinerWorkerAddress`).
    fn get_miner_worker_address(
        &self,
        miner: &Address,
        tok: &TipSetToken,
    ) -> impl Future<Output = Result<Address, Self::Error>> + Send;

    /// Stores a payment voucher and returns the **new** funds it brings: its amount minus the
    /// largest amount already saved on its lane, at least zero (Go's `SavePaymentVoucher`).
    ///
    /// The deal adds the returned amount to `funds_received`, so returning the voucher's
    /// cumulative amount instead of the delta would count funds twice.
    /// `voucher` is the raw tuple-encoded `paych.SignedVoucher`, or `None` for Go's nil.
    fn save_payment_voucher(
        &self,
        payment_channel: &Address,
        voucher: Option<&RawCbor>,
        proof: Option<&[u8]>,
        expected_amount: &TokenAmount,
        tok: &TipSetToken,
    ) -> impl Future<Output = Result<TokenAmount, Self::Error>> + Send;

    /// What the provider needs to price a retrieval from `piece_cid`, held by the storage
    /// deals `storage_deals` (Go's `GetRetrievalPricingInput`).
    fn get_retrieval_pricing_input(
        &self,
        piece_cid: &Cid,
        storage_deals: &[u64],
    ) -> impl Future<Output = Result<PricingInput, Self::Error>> + Send;
}

/// How [`ProviderDealEnvironment::close_data_transfer`] ended when it did not fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChannelClosed {
    /// The channel was closed.
    Closed,
    /// The channel had already shut down (Go's `statemachine.ErrTerminated`, which Go's
    /// `CancelDeal` treats as success).
    AlreadyTerminated,
}

/// The bridge between a provider deal and the provider it runs in (Go's
/// `providerstates.ProviderDealEnvironment`).
///
/// A real implementation owns the data-transfer manager and the blockstores; tests use
/// [`MockEnvironment`](crate::harness::MockEnvironment).
pub trait ProviderDealEnvironment: Send + Sync + 'static {
    /// The chain node.
    type Node: RetrievalProviderNode;
    /// The environment's error.
    type Error: Error + Send + Sync + 'static;

    /// The node this deal runs on (Go's `Node()`).
    fn node(&self) -> &Self::Node;

    /// Loads the blockstore of piece `piece_cid` and tracks it under `deal_id`
    /// (Go's `PrepareBlockstore`).
    fn prepare_blockstore(
        &self,
        deal_id: DealId,
        piece_cid: &Cid,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Untracks and closes the blockstore of `deal_id`; a deal with none is not an error
    /// (Go's `DeleteStore`).
    fn delete_store(&self, deal_id: DealId)
    -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Resumes the paused transfer on `channel` (Go's `ResumeDataTransfer`).
    fn resume_data_transfer(
        &self,
        channel: &ChannelId,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Closes the transfer on `channel` (Go's `CloseDataTransfer`). A channel that had
    /// already shut down is [`ChannelClosed::AlreadyTerminated`], not an error; Go's real
    /// environment also treats its own 30 s timeout as success.
    fn close_data_transfer(
        &self,
        channel: &ChannelId,
    ) -> impl Future<Output = Result<ChannelClosed, Self::Error>> + Send;

    /// The current state of `channel` (Go's `ChannelState`).
    fn channel_state(
        &self,
        channel: &ChannelId,
    ) -> impl Future<Output = Result<ChannelState, Self::Error>> + Send;

    /// Hands data transfer the provider's verdict on `channel` (Go's
    /// `UpdateValidationStatus`).
    fn update_validation_status(
        &self,
        channel: &ChannelId,
        result: ValidationResult,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
}
