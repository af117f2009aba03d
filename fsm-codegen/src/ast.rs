//! The syntax tree of an `fsm!` invocation, as written.
//!
//! Nothing here is checked beyond what is needed to read the tokens: the order of builder words,
//! duplicates and parameter shapes are the validator's business. Every node keeps the tokens (and
//! so the spans) it was written with, so that diagnostics point at the user's code.

use syn::{Attribute, Ident, LitBool, Path, Type, Visibility};

/// A whole invocation: the `machine` header and the sections that follow it.
#[cfg_attr(feature = "test-support", derive(Debug))]
pub struct FsmInput {
    /// Attributes and doc comments written before the header (`/// ...`).
    pub attrs: Vec<Attribute>,
    /// The visibility of the generated items.
    pub vis: Visibility,
    /// The machine's name.
    pub name: Ident,
    /// The header fields, in the order written.
    pub header: Vec<HeaderField>,
    /// The `events { .. }` sections (more than one is an error reported by the validator).
    pub events: Vec<Section<Vec<EventDecl>>>,
    /// The `finality_states { .. }` sections.
    pub finality_states: Vec<Section<Vec<Path>>>,
    /// The `entry_funcs { .. }` sections.
    pub entry_funcs: Vec<Section<Vec<EntryFuncDecl>>>,
}

/// A named section with its contents.
#[cfg_attr(feature = "test-support", derive(Debug))]
pub struct Section<T> {
    /// The section keyword (`events`, `finality_states`, `entry_funcs`).
    pub keyword: Ident,
    /// What the section holds.
    pub content: T,
}

/// One `name: value` line of the header.
#[cfg_attr(feature = "test-support", derive(Debug))]
pub struct HeaderField {
    /// Attributes written on the field (allowed on `input` and `entry`, where they go on the
    /// generated enum and trait).
    pub attrs: Vec<Attribute>,
    /// The field name as written.
    pub name: Ident,
    /// The value, read according to the field.
    pub value: HeaderValue,
}

/// The value of a header field.
#[cfg_attr(feature = "test-support", derive(Debug))]
pub enum HeaderValue {
    /// `state`, `status`, `event`.
    Type(Type),
    /// `input`, `entry`, `status_field`.
    Ident(Ident),
    /// `consume_all_events_before_entry_funcs`.
    Bool(LitBool),
    /// `crate`: a module path, without generic arguments.
    Path(Path),
    /// Nothing between the colon and the next comma (`input: ,`); the colon, for spans.
    Empty(syn::Token![:]),
    /// A field the parser does not know; the validator reports it.
    Unknown,
}

/// One event: `Event(code)` followed by its builder calls.
#[cfg_attr(feature = "test-support", derive(Debug))]
pub struct EventDecl {
    /// The event code, e.g. `ProviderEvent::Open`.
    pub code: Path,
    /// The builder calls after `Event(..)`, in the order written.
    pub calls: Vec<BuilderCall>,
    /// Whether a call of the chain could not be read (and was reported). The pairing of sources
    /// and destinations is then not checked, since the missing call would have changed it.
    pub has_unreadable_call: bool,
}

/// One builder call in an event chain.
#[cfg_attr(feature = "test-support", derive(Debug))]
pub enum BuilderCall {
    /// `From(s)`.
    From {
        /// The word, for spans.
        word: Ident,
        /// The source status.
        state: Path,
    },
    /// `FromMany(s, ...)`.
    FromMany {
        /// The word, for spans.
        word: Ident,
        /// The source statuses, in order.
        states: Vec<Path>,
    },
    /// `FromAny()`.
    FromAny {
        /// The word, for spans.
        word: Ident,
    },
    /// `To(s)`.
    To {
        /// The word, for spans.
        word: Ident,
        /// The destination status.
        state: Path,
    },
    /// `ToNoChange()`.
    ToNoChange {
        /// The word, for spans.
        word: Ident,
    },
    /// `ToJustRecord()`.
    ToJustRecord {
        /// The word, for spans.
        word: Ident,
    },
    /// `Action(..)`.
    Action {
        /// The word, for spans.
        word: Ident,
        /// The action (boxed: a closure is much larger than the other calls).
        action: Box<ActionDecl>,
    },
}

impl BuilderCall {
    /// The builder word, for spans.
    pub fn word(&self) -> &Ident {
        match self {
            Self::From { word, .. }
            | Self::FromMany { word, .. }
            | Self::FromAny { word }
            | Self::To { word, .. }
            | Self::ToNoChange { word }
            | Self::ToJustRecord { word }
            | Self::Action { word, .. } => word,
        }
    }
}

/// An action as written.
#[cfg_attr(feature = "test-support", derive(Debug))]
pub enum ActionDecl {
    /// An inline closure `|state: &mut S, a: A| { .. }`.
    Closure(syn::ExprClosure),
    /// A shared function with its signature: `record_error as fn(&mut S, E)`.
    Shared {
        /// The function's path.
        function: Path,
        /// The written signature.
        signature: syn::TypeBareFn,
    },
}

/// One line of `entry_funcs { .. }`: `A | B => func`.
#[cfg_attr(feature = "test-support", derive(Debug))]
pub struct EntryFuncDecl {
    /// The statuses, in order.
    pub states: Vec<Path>,
    /// The entry func's name.
    pub func: Ident,
}

/// The source side of a `From…`/`To…` group, as written.
#[derive(Clone, Copy)]
#[cfg_attr(feature = "test-support", derive(Debug))]
pub enum SourceSpec<'a> {
    /// `From(s)` or `FromMany(s, ..)`: the word and its statuses.
    States(&'a Ident, &'a [Path]),
    /// `FromAny()`.
    Any(&'a Ident),
}

/// The destination side of a group, as written.
#[derive(Clone, Copy)]
#[cfg_attr(feature = "test-support", derive(Debug))]
pub enum DestinationSpec<'a> {
    /// `To(s)`.
    To(&'a Ident, &'a Path),
    /// `ToNoChange()`.
    NoChange(&'a Ident),
    /// `ToJustRecord()`.
    JustRecord(&'a Ident),
}

impl DestinationSpec<'_> {
    /// The builder word, for spans.
    pub fn word(&self) -> &Ident {
        match self {
            Self::To(word, _) | Self::NoChange(word) | Self::JustRecord(word) => word,
        }
    }
}

/// An event chain read into its parts: complete `source → destination` groups in declaration
/// order, the pieces that do not pair up, and the actions.
#[derive(Default)]
#[cfg_attr(feature = "test-support", derive(Debug))]
pub struct ChainShape<'a> {
    /// Complete groups.
    pub groups: Vec<(SourceSpec<'a>, DestinationSpec<'a>)>,
    /// Sources not followed by a destination.
    pub dangling_sources: Vec<SourceSpec<'a>>,
    /// Destinations not preceded by a source.
    pub orphan_destinations: Vec<DestinationSpec<'a>>,
    /// Every `Action(..)` with its word, in order.
    pub actions: Vec<(&'a Ident, &'a ActionDecl)>,
}

impl EventDecl {
    /// Pairs each source with the destination that follows it. `Action` may stand anywhere and
    /// does not break a pair.
    pub fn shape(&self) -> ChainShape<'_> {
        let mut shape = ChainShape::default();
        let mut pending: Option<SourceSpec<'_>> = None;
        for call in &self.calls {
            let source = match call {
                BuilderCall::From { word, state } => {
                    Some(SourceSpec::States(word, std::slice::from_ref(state)))
                }
                BuilderCall::FromMany { word, states } => Some(SourceSpec::States(word, states)),
                BuilderCall::FromAny { word } => Some(SourceSpec::Any(word)),
                _ => None,
            };
            let destination = match call {
                BuilderCall::To { word, state } => Some(DestinationSpec::To(word, state)),
                BuilderCall::ToNoChange { word } => Some(DestinationSpec::NoChange(word)),
                BuilderCall::ToJustRecord { word } => Some(DestinationSpec::JustRecord(word)),
                _ => None,
            };
            if let Some(source) = source {
                if let Some(previous) = pending.replace(source) {
                    shape.dangling_sources.push(previous);
                }
            } else if let Some(destination) = destination {
                match pending.take() {
                    Some(source) => shape.groups.push((source, destination)),
                    None => shape.orphan_destinations.push(destination),
                }
            } else if let BuilderCall::Action { word, action } = call {
                shape.actions.push((word, action));
            }
        }
        shape.dangling_sources.extend(pending);
        shape
    }
}
