//! Run-time half of the `fsm!` framework.
//!
//! The [`fsm!`] macro turns a go-statemachine style table into a typed input enum, a pure
//! transition function and an entry-handler trait. Everything those generated items refer to
//! lives here:
//!
//! * [`Machine`]: the trait every generated machine implements; the seam the state group,
//!   diagrams and introspection are written against.
//! * [`Outcome`]: what applying one input to one state did.
//! * [`Context`] and [`RunEntry`]: how entry funcs are dispatched and how they trigger
//!   further events on their own machine.
//! * [`table`]: the static description of a declared table (events, transitions, actions,
//!   entry funcs, finality) in declaration order.
//! * [`diagram`] and [`analysis`]: Mermaid and PlantUML state diagrams drawn from a table's
//!   description, and a static analysis that reports unreachable states, states with no way
//!   out or no path to a final state, dead `FromAny` and final-state transitions, and entry
//!   funcs that never run.
//!
//! # Semantics
//!
//! The transition function follows go-statemachine v1.0.3, with deliberate improvements where
//! Go's behaviour is order-dependent or leaves a failed action's writes behind:
//!
//! 1. The exact `(event, status)` transition wins over the event's `FromAny` transition,
//!    whatever the declaration order. With neither, the input is rejected as
//!    [`Outcome::Invalid`], the state is untouched and the action does not run.
//! 2. The action runs before the status changes, so it sees the source status.
//! 3. `To(s)` sets the status and schedules `s`'s entry func even when `s` is the current
//!    status; `ToNoChange` schedules the current status's entry func again; `ToJustRecord`
//!    schedules nothing.
//! 4. An action that fails leaves the state exactly as it was (Go keeps its partial writes).
//!    The generated code runs the action on a copy of the state and swaps the copy in only on
//!    success, so a panicking action leaves the state untouched as well. Events without an
//!    action never copy the state.
//! 5. A machine whose status is final rejects every input with [`Outcome::AlreadyFinal`].
//!
//! # Running machines
//!
//! [`Group`] runs many machines of one type, keyed by a [`MachineId`], on tokio, persisted in a
//! [`store::Store`] (in memory, or the durable [`store::RedbStore`]) through a
//! [`codec::Codec`] (DAG-CBOR by default). See the [`group`] module for its model and the
//! choices it makes where go-statemachine has no equivalent (ordering, failures, recovery).

#[doc = include_str!("../docs/fsm.md")]
pub use fsm_macros::fsm;

pub mod analysis;
pub mod codec;
mod context;
pub mod diagram;
pub mod group;
mod id;
mod machine;
pub mod store;
pub mod table;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

/// What `fsm!` expansions reach this crate through; not public API.
///
/// The name carries this crate's major and minor version, and the macro names the module after
/// its own version, so a macro and a runtime from different releases fail to compile with
/// "could not find `__private_vX_Y`" rather than miscompiling. Rename it with the version.
#[doc(hidden)]
pub mod __private_v0_1 {
    pub use crate::__private::{Target, action_error};
    pub use crate::{
        ActionResult, Context, EntryResult, GroupBuilder, Machine, MachineId, Outcome, RunEntry,
        table,
    };
}

pub use context::Context;
pub use group::{EntryErrorPolicy, Group, GroupBuilder};
pub use id::{DisplayId, IdError, MachineId};
pub use machine::{ActionError, ActionResult, EntryError, EntryResult, Machine, Outcome, RunEntry};
