//! The Filecoin retrieval provider deal machine, ported from go-fil-markets v1.28.3.
//!
//! This crate ports the provider side of a Filecoin retrieval deal
//! (`retrievalmarket/impl/providerstates` and the `retrievalmarket` types it uses) from
//! go-fil-markets **v1.28.3**, with engine semantics from go-statemachine v1.0.3,
//! data-transfer types from go-data-transfer v2.0.0-rc6, big integers from go-state-types
//! v0.11.1 and CBOR from cbor-gen `52956bd4c9aa`.
//!
//! * [`DealStatus`] and [`ProviderEvent`]: Go's codes and names, exactly.
//! * The records ([`ProviderDealState`], [`DealProposal`], [`Params`], [`DealResponse`],
//!   [`DealPayment`], [`PieceInfo`], [`DealInfo`]), identifiers ([`DealId`], [`PeerId`],
//!   [`ChannelId`], [`ProviderDealIdentifier`]) and amounts ([`TokenAmount`]).
//! * [`payment`]: the interval and balance maths on [`Params`].
//! * [`cbor`]: Go's exact CBOR bytes for all records.
//! * [`transfer`]: the data-transfer inputs ([`ChannelState`], [`DtStatus`]) and the
//!   [`ValidationResult`] the provider answers with.

pub mod cbor;
pub mod dt;
pub mod entry;
pub mod env;
mod code_enum;
pub mod error;
pub mod event;
pub mod harness;
pub mod ids;
pub mod machine;
pub mod payment;
pub mod sources;
pub mod status;
pub mod token;
pub mod transfer;
pub mod types;

pub use cbor::{
    CborError, GoCbor, ProviderDealStateCodec, RawCbor, decode_state, encode_state, from_cbor,
    to_cbor,
};
pub use error::ProviderError;
pub use event::{ProviderEvent, UnknownProviderEvent};
pub use ids::{Address, ChannelId, DealId, PeerId, ProviderDealIdentifier, TransferId};
pub use status::{DealStatus, UnknownDealStatus};
pub use token::{BigIntError, TokenAmount};
pub use transfer::{ChannelState, DtStatus, ValidationResult, Voucher};
pub use types::{
    DEAL_PAYMENT_TYPE, DEAL_PROPOSAL_TYPE, DEAL_RESPONSE_TYPE, DealInfo, DealPayment,
    DealProposal, DealResponse, Params, PieceInfo, ProviderDealState, SelectorRequired,
};
