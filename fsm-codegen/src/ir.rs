//! Stage 3's output: the machine as the code generator needs it.
//!
//! Lowering resolves everything the table leaves implicit: `FromMany` is flattened into one
//! arm per source, `FromAny` is kept apart as the fallback that explicit arms beat, header
//! defaults are filled in, and action parameters are split into the state parameter and the
//! payload. With the `test-support` feature every type derives `Debug + PartialEq`, so lowering
//! is unit-tested by comparing values (syn's `PartialEq` ignores spans); normal builds leave
//! those derives, and the syn features behind them, out.

use syn::{Attribute, Expr, Ident, Pat, Path, ReturnType, Type, Visibility};

/// A lowered machine.
#[cfg_attr(feature = "test-support", derive(Debug, PartialEq))]
pub struct Machine {
    /// Attributes and docs of the machine.
    pub attrs: Vec<Attribute>,
    /// Visibility of the generated items.
    pub vis: Visibility,
    /// The machine's name (the generated unit struct).
    pub name: Ident,
    /// The state (record) type.
    pub state: Type,
    /// The status type.
    pub status: Type,
    /// The event-code type.
    pub event: Type,
    /// The generated input enum's name.
    pub input: Ident,
    /// Attributes for the input enum (e.g. `#[derive(Clone, PartialEq)]`).
    pub input_attrs: Vec<Attribute>,
    /// The generated entry-handler trait's name.
    pub entry: Ident,
    /// Attributes for the entry trait.
    pub entry_attrs: Vec<Attribute>,
    /// The state field holding the status.
    pub status_field: Ident,
    /// Consume-all mode.
    pub consume_all: bool,
    /// The path every generated item reaches the runtime crate through (`crate:`, default
    /// `::fsm_runtime`).
    pub runtime: Path,
    /// Events in declaration order.
    pub events: Vec<Event>,
    /// Finality states in declaration order.
    pub finality_states: Vec<Path>,
    /// Entry funcs in declaration order.
    pub entry_funcs: Vec<EntryFunc>,
}

/// A lowered event.
#[cfg_attr(feature = "test-support", derive(Debug, PartialEq))]
pub struct Event {
    /// The event code, e.g. `ProviderEvent::Open`.
    pub code: Path,
    /// The input-enum variant: the code's last segment.
    pub variant: Ident,
    /// The groups as declared (`FromMany` kept whole), for the table description.
    pub groups: Vec<Group>,
    /// One arm per explicit source, in declaration order.
    pub arms: Vec<Arm>,
    /// The `FromAny` destination: used when no arm matches.
    pub any: Option<Destination>,
    /// The action.
    pub action: Option<Action>,
}

/// A `From…`/`To…` group as declared.
#[cfg_attr(feature = "test-support", derive(Debug, PartialEq))]
pub struct Group {
    /// Where it applies from.
    pub sources: Sources,
    /// Where it goes.
    pub destination: Destination,
}

/// The source side of a group.
#[cfg_attr(feature = "test-support", derive(Debug, PartialEq))]
pub enum Sources {
    /// Explicit statuses (`From` has one, `FromMany` several).
    States(Vec<Path>),
    /// `FromAny()`.
    Any,
}

/// One explicit source and its destination.
#[cfg_attr(feature = "test-support", derive(Debug, PartialEq))]
pub struct Arm {
    /// The source status.
    pub source: Path,
    /// Where it goes.
    pub destination: Destination,
}

/// Where a transition goes.
#[derive(Clone)]
#[cfg_attr(feature = "test-support", derive(Debug, PartialEq))]
pub enum Destination {
    /// `To(s)`.
    To(Path),
    /// `ToNoChange()`.
    NoChange,
    /// `ToJustRecord()`.
    JustRecord,
}

impl Destination {
    /// Whether both go to the same place, comparing statuses by their tokens (so without
    /// syn's `PartialEq`, and ignoring spans like it).
    pub fn same_as(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::To(a), Self::To(b)) => {
                quote::quote!(#a).to_string() == quote::quote!(#b).to_string()
            }
            (Self::NoChange, Self::NoChange) | (Self::JustRecord, Self::JustRecord) => true,
            _ => false,
        }
    }
}

/// An event's action.
#[cfg_attr(feature = "test-support", derive(Debug, PartialEq))]
pub struct Action {
    /// Inline closure or shared function.
    pub kind: ActionKind,
    /// The payload: the parameters after the state, in order.
    pub payload: Vec<PayloadParam>,
}

/// How the action is written.
#[cfg_attr(feature = "test-support", derive(Debug, PartialEq))]
pub enum ActionKind {
    /// A closure, lowered to a private associated function of the machine.
    Inline {
        /// The pattern of the state parameter (usually an identifier).
        state_pat: Pat,
        /// The closure body (boxed: expressions are large).
        body: Box<Expr>,
        /// The closure's return type (`Default` when not written).
        output: ReturnType,
    },
    /// A named function shared by several events.
    Shared {
        /// The function's path.
        function: Path,
    },
}

/// One payload parameter.
#[cfg_attr(feature = "test-support", derive(Debug, PartialEq))]
pub struct PayloadParam {
    /// The parameter pattern (for inline actions) or `None` (shared actions name no parameters).
    pub pat: Option<Pat>,
    /// The parameter type.
    pub ty: Type,
}

/// An entry func and the statuses it serves.
#[cfg_attr(feature = "test-support", derive(Debug, PartialEq))]
pub struct EntryFunc {
    /// The func's name: the method of the generated trait.
    pub name: Ident,
    /// The statuses it serves.
    pub states: Vec<Path>,
}
