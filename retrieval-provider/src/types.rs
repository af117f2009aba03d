//! The retrieval deal records: [`DealProposal`], [`Params`], [`ProviderDealState`],
//! [`DealResponse`], [`DealPayment`], [`PieceInfo`] and [`DealInfo`].
//!
//! Field names follow Go's in snake case; serde keys are Go's field names. For the exact
//! bytes Go stores and sends, use [`crate::cbor`] (see there for why the serde form of
//! records holding peer ids differs).

use cid::Cid;
use serde::{Deserialize, Serialize};

use crate::cbor::{RawCbor, limited_string};
use crate::ids::{Address, ChannelId, DealId, PeerId, ProviderDealIdentifier};
use crate::status::DealStatus;
use crate::token::TokenAmount;

/// The type id of a [`DealProposal`] voucher.
pub const DEAL_PROPOSAL_TYPE: &str = "RetrievalDealProposal/1";
/// The type id of a [`DealResponse`] voucher result.
pub const DEAL_RESPONSE_TYPE: &str = "RetrievalDealResponse/1";
/// The type id of a [`DealPayment`] voucher.
pub const DEAL_PAYMENT_TYPE: &str = "RetrievalDealPayment/1";

/// The terms of a retrieval (Go's `retrievalmarket.Params`). The payment maths lives in
/// [`crate::payment`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Params {
    /// The selector (raw DAG-CBOR of an IPLD selector node); `None` means "everything"
    /// (explore-all).
    #[serde(rename = "Selector", default)]
    pub selector: Option<RawCbor>,
    /// The piece to retrieve from, if the client named one.
    #[serde(rename = "PieceCID", default)]
    pub piece_cid: Option<Cid>,
    /// Price per byte sent.
    #[serde(rename = "PricePerByte", default)]
    pub price_per_byte: TokenAmount,
    /// Bytes sent before the first payment is due (`I`).
    #[serde(rename = "PaymentInterval", default)]
    pub payment_interval: u64,
    /// Growth of the payment interval after each payment (`Δ`).
    #[serde(rename = "PaymentIntervalIncrease", default)]
    pub payment_interval_increase: u64,
    /// Price of unsealing, paid before any data is sent.
    #[serde(rename = "UnsealPrice", default)]
    pub unseal_price: TokenAmount,
}

/// [`Params::new_v1`] was given no selector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("selector required for NewParamsV1")]
pub struct SelectorRequired;

impl Params {
    /// Go's `NewParamsV0`: no selector, no piece CID, unseal price 0.
    pub fn new_v0(
        price_per_byte: TokenAmount,
        payment_interval: u64,
        payment_interval_increase: u64,
    ) -> Params {
        Params {
            selector: None,
            piece_cid: None,
            price_per_byte,
            payment_interval,
            payment_interval_increase,
            unseal_price: TokenAmount::zero(),
        }
    }

    /// Go's `NewParamsV1`; fails with "selector required for NewParamsV1" when `selector` is
    /// `None`.
    pub fn new_v1(
        price_per_byte: TokenAmount,
        payment_interval: u64,
        payment_interval_increase: u64,
        selector: Option<RawCbor>,
        piece_cid: Option<Cid>,
        unseal_price: TokenAmount,
    ) -> Result<Params, SelectorRequired> {
        let selector = selector.ok_or(SelectorRequired)?;
        Ok(Params {
            selector: Some(selector),
            piece_cid,
            price_per_byte,
            payment_interval,
            payment_interval_increase,
            unseal_price,
        })
    }

    /// Go's `SelectorSpecified`: a selector is present and is not IPLD Null.
    pub fn selector_specified(&self) -> bool {
        self.selector.as_ref().is_some_and(|s| !s.is_null())
    }
}

/// A client's deal proposal (Go's `retrievalmarket.DealProposal`); also the voucher that
/// opens the data-transfer channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealProposal {
    /// The root of the data to retrieve. Required when decoding (Go cannot encode an
    /// undefined CID).
    #[serde(rename = "PayloadCID")]
    pub payload_cid: Cid,
    /// The deal id the client chose.
    #[serde(rename = "ID", default)]
    pub id: DealId,
    /// The terms.
    #[serde(rename = "Params", default)]
    pub params: Params,
}

/// One storage deal holding a piece (Go's `piecestore.DealInfo`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DealInfo {
    /// The storage deal id (`abi.DealID`).
    #[serde(rename = "DealID", default)]
    pub deal_id: u64,
    /// The sector holding the piece (`abi.SectorNumber`).
    #[serde(rename = "SectorID", default)]
    pub sector_id: u64,
    /// Offset of the piece in the sector (`abi.PaddedPieceSize`).
    #[serde(rename = "Offset", default)]
    pub offset: u64,
    /// Padded length of the piece (`abi.PaddedPieceSize`).
    #[serde(rename = "Length", default)]
    pub length: u64,
}

/// Where a piece is stored (Go's `piecestore.PieceInfo`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PieceInfo {
    /// The piece CID. Required when decoding.
    #[serde(rename = "PieceCID")]
    pub piece_cid: Cid,
    /// The storage deals holding the piece.
    #[serde(rename = "Deals", default)]
    pub deals: Vec<DealInfo>,
}

/// The provider's record of one retrieval deal (Go's `retrievalmarket.ProviderDealState`,
/// stored-state version "2"). The machine's status is [`status`](Self::status).
///
/// Go embeds `DealProposal` and promotes its fields (`deal.ID`, `deal.PricePerByte`); here it
/// is the field [`deal_proposal`](Self::deal_proposal), with shortcuts [`id`](Self::id) and
/// [`params`](Self::params). The serde form writes peer ids as byte strings; Go's stored
/// bytes come from [`crate::cbor::encode_state`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderDealState {
    /// The proposal (a nested map in CBOR, not flattened).
    #[serde(rename = "DealProposal")]
    pub deal_proposal: DealProposal,
    /// Legacy multistore id; 0 for new deals.
    #[serde(rename = "StoreID", default)]
    pub store_id: u64,
    /// The data-transfer channel, set by `DealAccepted`.
    #[serde(rename = "ChannelID", default)]
    pub channel_id: Option<ChannelId>,
    /// Where the piece is, set by the validator before tracking begins.
    #[serde(rename = "PieceInfo", default)]
    pub piece_info: Option<PieceInfo>,
    /// The machine's status.
    #[serde(rename = "Status", default)]
    pub status: DealStatus,
    /// The client peer.
    #[serde(rename = "Receiver", default)]
    pub receiver: PeerId,
    /// Running total of new funds credited.
    #[serde(rename = "FundsReceived", default)]
    pub funds_received: TokenAmount,
    /// The last error or cancel text.
    #[serde(rename = "Message", default, with = "limited_string")]
    pub message: String,
}

impl ProviderDealState {
    /// A fresh deal in [`DealStatus::New`] for `proposal` from `receiver`.
    pub fn new(deal_proposal: DealProposal, receiver: PeerId) -> Self {
        ProviderDealState {
            deal_proposal,
            store_id: 0,
            channel_id: None,
            piece_info: None,
            status: DealStatus::New,
            receiver,
            funds_received: TokenAmount::zero(),
            message: String::new(),
        }
    }

    /// The deal id (Go's promoted `deal.ID`).
    pub fn id(&self) -> DealId {
        self.deal_proposal.id
    }

    /// The deal's terms (Go's promoted `Params` fields).
    pub fn params(&self) -> &Params {
        &self.deal_proposal.params
    }

    /// Go's `Identifier()`: `{Receiver, ID}`.
    pub fn identifier(&self) -> ProviderDealIdentifier {
        ProviderDealIdentifier {
            receiver: self.receiver.clone(),
            deal_id: self.id(),
        }
    }
}

/// The provider's answer to a proposal or payment (Go's `retrievalmarket.DealResponse`),
/// sent as the voucher result of type [`DEAL_RESPONSE_TYPE`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealResponse {
    /// The status the provider reports.
    #[serde(rename = "Status", default)]
    pub status: DealStatus,
    /// The deal id.
    #[serde(rename = "ID", default)]
    pub id: DealId,
    /// What the client must pay before more data is sent.
    #[serde(rename = "PaymentOwed", default)]
    pub payment_owed: TokenAmount,
    /// An explanation (rejections and errors).
    #[serde(rename = "Message", default, with = "limited_string")]
    pub message: String,
}

/// A payment from the client (Go's `retrievalmarket.DealPayment`), sent as a voucher of type
/// [`DEAL_PAYMENT_TYPE`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealPayment {
    /// The deal id.
    #[serde(rename = "ID", default)]
    pub id: DealId,
    /// The payment channel. The undefined (empty) address is written as an empty byte string.
    #[serde(rename = "PaymentChannel", default)]
    pub payment_channel: Address,
    /// The signed voucher (Go's `*paych.SignedVoucher`), kept as its raw tuple-encoded CBOR;
    /// `None` is Go's nil.
    #[serde(rename = "PaymentVoucher", default)]
    pub payment_voucher: Option<RawCbor>,
}
