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
//!
//! # State diagram
//!
//! Drawn from [`machine::ProviderFsm`]'s table by `fsm_runtime::diagram`, starting at
//! `DealStatusNew`, and committed as `docs/retrievalprovider.mmd` (Mermaid, shown below) and
//! `docs/retrievalprovider.puml` (PlantUML). It has the structure of the diagram go-fil-markets
//! publishes: the same 15 states, 24 edges, 8 entry funcs, 5 any-state events and 6
//! just-record notes, plus end markers for the three finality states (Go's diagram spec omits
//! them). The test `tests/diagram_up_to_date.rs` fails when the files fall behind the table;
//! regenerate them with `UPDATE_DIAGRAMS=1 cargo test -p retrieval-provider --test
//! diagram_up_to_date` or `cargo run -p fsm-examples --bin fsm-diagram -- retrievalprovider
//! mermaid`.
//!
#![doc = "```mermaid"]
#![doc = include_str!("../../docs/retrievalprovider.mmd")]
#![doc = "```"]
//!
//! # Table analysis
//!
//! `fsm_runtime::analysis::analyze` on the table, with `DealStatusNew` as the initial state,
//! reports a single finding: **`DealStatusBlocksComplete` is unreachable**. It is a legacy
//! status: v1.28 has no event that enters it (`ProviderEventBlocksCompleted` is not in the
//! table), yet `PaymentReceived` still lists it as a just-record source, so deals stored by
//! older versions in that status keep accepting payments. Such a deal can still leave it
//! through the any-state events (`Complete`, `DataTransferError`, `MultiStoreError`,
//! `ClientCancelled`). Nothing else is reported: every other state is reachable from `New`,
//! every non-final state can reach a final one, no `FromAny` transition is shadowed by explicit
//! ones, no transition leaves a final state, and every entry func can run. The same test file
//! keeps this true.

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
