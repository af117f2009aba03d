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
//! * [`machine`]: the deal machine, [`env`](mod@env) and [`entry`]: what it runs against and its entry
//!   funcs, [`sources`] and [`dt`]: where its events come from, [`harness`]: how to test it.
//!
//! # The deal machine
//!
//! [`machine`] declares Go's `ProviderEvents` table with `fsm!`, line for line as
//! `provider_fsm.go` writes it: 17 events in Go's order, the finality states `Errored`,
//! `Completed` and `Cancelled`, eight entry-func mappings, and
//! `consume_all_events_before_entry_funcs: true` (all queued events are applied, then one
//! entry func runs for the resulting status). The macro generates [`ProviderFsm`] (whose
//! `transition` is the pure transition function), the typed input enum [`ProviderInput`]
//! (`ProviderInput::DealAccepted(ChannelId)`; the three event codes the table does not register
//! have no variant) and the entry-func trait [`ProviderEntryFuncs`].
//!
//! **Entry funcs** ([`entry`]) are plain async functions of (context, environment, snapshot),
//! written against the async traits [`env::ProviderDealEnvironment`] and
//! [`env::RetrievalProviderNode`] that a real provider implements. [`ProviderHandlers`] wraps an
//! environment and implements [`ProviderEntryFuncs`] with them; the state group (or the
//! harness) dispatches to the func registered for the deal's status. As in Go, an entry func
//! reports failures by triggering events (`UnsealError`, `DataTransferError`,
//! `SaveVoucherFailed`, `MultiStoreError`), whose shared action [`machine::record_error`]
//! keeps the error text in `Message`.
//!
//! **`ProcessPayment` re-runs the current entry func.** It is `FromAny().ToNoChange()`, and
//! data transfer sends it for every new voucher. In the `FundsNeeded*` statuses that is how
//! payments are processed (`UpdateFunding` saves the voucher and credits the funds), but in
//! other statuses it re-runs whatever is registered there: `UnsealData` prepares the
//! blockstore again, `UnpauseDeal` resumes again, `CancelDeal` and `CleanupDeal` clean up again.
//! The same holds for every `ToNoChange` (`DealAccepted` in `FundsNeededUnseal`,
//! `PartialPaymentReceived`), and `UpdateFunding` saves the channel's last voucher again each
//! time it runs, so a node's `save_payment_voucher` must return only the *new* funds.
//!
//! **Event sources** ([`sources`]) are pure functions: the data-transfer event mapping,
//! pull validation (which returns the new deal and its first input instead of starting it)
//! and restart validation.
//!
//! **Differences from Go, on purpose:**
//!
//! * Inputs are typed, so Go's trigger-time errors ("Unknown event", wrong arguments) cannot
//!   happen, and entry funcs never fail: Go's return only the result of `ctx.Trigger`.
//! * `UnsealData` on a deal without `PieceInfo` triggers `UnsealError` with
//!   [`entry::MISSING_PIECE_INFO`] where Go dereferences nil and panics.
//! * Closing a channel that has already shut down is a success value,
//!   [`env::ChannelClosed::AlreadyTerminated`], rather than an error to be recognised by
//!   wrapping (`statemachine.ErrTerminated`).
//! * The engine semantics of `fsm_runtime` apply (see its crate documentation): an invalid input
//!   in the middle of a batch is rejected alone and the batch goes on; an entry-func error or
//!   panic is recorded instead of freezing the deal; resuming deals on open is available.
//! * The traps of Go's table are kept, not fixed: `LastPaymentRequested` in `FundsNeeded`,
//!   `PaymentRequested` in `FundsNeededLastPayment` and `DealAccepted` after `New` or
//!   `FundsNeededUnseal` are invalid transitions (now reported to the sender rather than only
//!   logged).
//!
//! # Testing an environment
//!
//! [`harness`] is Go's `fsmtest.TestContext`: run one entry func on a snapshot, collect what
//! it triggers, and replay that through the transition function, failing on any invalid
//! transition. [`harness::DealDriver`] runs whole deals.
//!
//! ```
//! use retrieval_provider::harness::{run_and_replay, EnvCall, MockEnvironment};
//! use retrieval_provider::{DealId, DealProposal, DealStatus, Params, PeerId, ProviderDealState};
//! use retrieval_provider::{ProviderHandlers, ProviderInput, TokenAmount};
//!
//! let proposal = DealProposal {
//!     payload_cid: "bafkqaaa".parse()?,
//!     id: DealId(10),
//!     params: Params::new_v0(TokenAmount::from(1u64), 1000, 500),
//! };
//! let mut deal = ProviderDealState::new(proposal, PeerId::default());
//! deal.status = DealStatus::Completing;
//!
//! let handlers = ProviderHandlers::new(MockEnvironment::default());
//! let (run, _steps) = run_and_replay(&handlers, &mut deal)?;
//!
//! assert_eq!(run.triggered, [ProviderInput::CleanupComplete]);
//! assert_eq!(handlers.env().calls(), [EnvCall::DeleteStore(DealId(10))]);
//! assert_eq!(deal.status, DealStatus::Completed);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # State diagram
//!
//! Drawn from [`machine::ProviderFsm`]'s table by `fsm_runtime::diagram`, starting at
//! `DealStatusNew`, and committed as `docs/retrievalprovider.mmd` (Mermaid, shown below; this
//! crate's copy, with the repository's `docs/` holding the same file beside
//! `retrievalprovider.puml`, the PlantUML version). It has the structure of the diagram
//! go-fil-markets publishes: the same 15 states, 24 edges, 8 entry funcs, 5 any-state events
//! and 6 just-record notes, plus end markers for the three finality states (Go's diagram
//! parameters omit them). The test `tests/diagram_up_to_date.rs` fails when a file falls
//! behind the table (through `fsm_runtime::diagram::check_or_update`); regenerate them with
//! `FSM_UPDATE_DIAGRAMS=1 cargo test -p retrieval-provider --test diagram_up_to_date`.
//!
#![doc = "```mermaid"]
#![doc = include_str!("../docs/retrievalprovider.mmd")]
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
mod code_enum;
pub mod dt;
pub mod entry;
pub mod env;
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
pub use entry::ProviderHandlers;
pub use error::ProviderError;
pub use event::{ProviderEvent, UnknownProviderEvent};
pub use ids::{Address, ChannelId, DealId, PeerId, ProviderDealIdentifier, TransferId};
pub use machine::{ProviderEntryFuncs, ProviderFsm, ProviderInput};
pub use status::{DealStatus, UnknownDealStatus};
pub use token::{BigIntError, TokenAmount};
pub use transfer::{ChannelState, DtStatus, ValidationResult, Voucher};
pub use types::{
    DEAL_PAYMENT_TYPE, DEAL_PROPOSAL_TYPE, DEAL_RESPONSE_TYPE, DealInfo, DealPayment, DealProposal,
    DealResponse, Params, PieceInfo, ProviderDealState, SelectorRequired,
};
