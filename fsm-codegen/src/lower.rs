//! Stage 3: syntax tree → [`ir::Machine`].
//!
//! Lowering is total: it runs on invalid input too, so that the code generator can still emit
//! the items the user's crate refers to (design: no cascade of errors after a table mistake).
//! Where the table breaks a rule that validation has already reported, lowering keeps the first
//! declaration and drops the repeat, which is also what the user most likely meant.

use std::collections::HashSet;

use proc_macro2::Span;
use syn::{Ident, Pat, Path, ReturnType, Type};

use crate::ast::{ActionDecl, DestinationSpec, EventDecl, FsmInput, HeaderValue, SourceSpec};
use crate::ir;
use crate::validate::{header_type, path_text};

/// Lowers an invocation. `None` when a required header field is missing, since no item can be
/// generated without its types and names.
pub fn lower(input: &FsmInput) -> Option<ir::Machine> {
    let header = Header::read(input)?;
    let mut seen_events = HashSet::new();
    let events = input
        .events
        .iter()
        .flat_map(|section| &section.content)
        .filter(|event| seen_events.insert(path_text(&event.code)))
        .filter_map(lower_event)
        .collect();

    let mut finality_states = Vec::new();
    let mut seen_finals = HashSet::new();
    for state in input.finality_states.iter().flat_map(|s| &s.content) {
        if seen_finals.insert(path_text(state)) {
            finality_states.push(state.clone());
        }
    }

    let mut entry_funcs: Vec<ir::EntryFunc> = Vec::new();
    let mut served = HashSet::new();
    for decl in input.entry_funcs.iter().flat_map(|s| &s.content) {
        let states: Vec<_> = decl
            .states
            .iter()
            .filter(|state| {
                let text = path_text(state);
                !seen_finals.contains(&text) && served.insert(text)
            })
            .cloned()
            .collect();
        match entry_funcs.iter_mut().find(|func| func.name == decl.func) {
            Some(func) => func.states.extend(states),
            None => entry_funcs.push(ir::EntryFunc {
                name: decl.func.clone(),
                states,
            }),
        }
    }

    Some(ir::Machine {
        attrs: input.attrs.clone(),
        vis: input.vis.clone(),
        name: input.name.clone(),
        state: header.state,
        status: header.status,
        event: header.event,
        input: header.input,
        input_attrs: header.input_attrs,
        entry: header.entry,
        entry_attrs: header.entry_attrs,
        status_field: header
            .status_field
            .unwrap_or_else(|| Ident::new("status", Span::call_site())),
        consume_all: header.consume_all,
        runtime: header.runtime,
        events,
        finality_states,
        entry_funcs,
    })
}

/// The header with its required fields present (first occurrence wins).
struct Header {
    state: Type,
    status: Type,
    event: Type,
    input: Ident,
    input_attrs: Vec<syn::Attribute>,
    entry: Ident,
    entry_attrs: Vec<syn::Attribute>,
    status_field: Option<Ident>,
    consume_all: bool,
    runtime: Path,
}

impl Header {
    fn read(input: &FsmInput) -> Option<Self> {
        let ty = |name: &str| header_type(&input.header, name).cloned();
        let ident = |name: &str| {
            input.header.iter().find_map(|field| match &field.value {
                HeaderValue::Ident(ident) if field.name == name => Some(ident.clone()),
                _ => None,
            })
        };
        let consume_all = input.header.iter().find_map(|field| match &field.value {
            HeaderValue::Bool(value) => Some(value.value),
            _ => None,
        });
        let runtime = input.header.iter().find_map(|field| match &field.value {
            HeaderValue::Path(path) => Some(path.clone()),
            _ => None,
        });
        let attrs = |name: &str| {
            input
                .header
                .iter()
                .find(|field| field.name == name)
                .map(|field| field.attrs.clone())
                .unwrap_or_default()
        };
        Some(Self {
            input_attrs: attrs("input"),
            entry_attrs: attrs("entry"),
            state: ty("state")?,
            status: ty("status")?,
            event: ty("event")?,
            input: ident("input")?,
            entry: ident("entry")?,
            status_field: ident("status_field"),
            consume_all: consume_all.unwrap_or(false),
            runtime: runtime.unwrap_or_else(default_runtime),
        })
    }
}

/// `::fsm_runtime`, the runtime crate under its own name.
pub fn default_runtime() -> Path {
    Path {
        leading_colon: Some(Default::default()),
        segments: std::iter::once(syn::PathSegment::from(Ident::new(
            "fsm_runtime",
            Span::call_site(),
        )))
        .collect(),
    }
}

fn lower_event(event: &EventDecl) -> Option<ir::Event> {
    let variant = event.code.segments.last()?.ident.clone();
    let shape = event.shape();
    let mut groups = Vec::new();
    let mut arms: Vec<ir::Arm> = Vec::new();
    let mut any = None;
    let mut seen_sources = HashSet::new();
    for (source, destination) in &shape.groups {
        let destination = lower_destination(destination);
        match source {
            SourceSpec::States(_, states) => {
                let kept: Vec<_> = states
                    .iter()
                    .filter(|state| seen_sources.insert(path_text(state)))
                    .cloned()
                    .collect();
                arms.extend(kept.iter().map(|source| ir::Arm {
                    source: source.clone(),
                    destination: destination.clone(),
                }));
                if !kept.is_empty() {
                    groups.push(ir::Group {
                        sources: ir::Sources::States(kept),
                        destination,
                    });
                }
            }
            SourceSpec::Any(_) => {
                if any.is_none() {
                    any = Some(destination.clone());
                    groups.push(ir::Group {
                        sources: ir::Sources::Any,
                        destination,
                    });
                }
            }
        }
    }
    let action = shape
        .actions
        .first()
        .map(|(_, action)| lower_action(action));
    Some(ir::Event {
        code: event.code.clone(),
        variant,
        groups,
        arms,
        any,
        action,
    })
}

fn lower_destination(destination: &DestinationSpec<'_>) -> ir::Destination {
    match destination {
        DestinationSpec::To(_, state) => ir::Destination::To((*state).clone()),
        DestinationSpec::NoChange(_) => ir::Destination::NoChange,
        DestinationSpec::JustRecord(_) => ir::Destination::JustRecord,
    }
}

fn lower_action(action: &ActionDecl) -> ir::Action {
    match action {
        ActionDecl::Closure(closure) => {
            let mut params = closure.inputs.iter();
            let state_pat = match params.next() {
                Some(Pat::Type(typed)) => (*typed.pat).clone(),
                Some(other) => other.clone(),
                None => Pat::Wild(syn::PatWild {
                    attrs: Vec::new(),
                    underscore_token: Default::default(),
                }),
            };
            let payload = params
                .filter_map(|param| match param {
                    // A borrowed payload is reported by validation and left out here.
                    Pat::Type(typed) if matches!(*typed.ty, Type::Reference(_)) => None,
                    Pat::Type(typed) => Some(ir::PayloadParam {
                        pat: Some((*typed.pat).clone()),
                        ty: (*typed.ty).clone(),
                    }),
                    // Untyped: reported by validation; it cannot be part of the payload.
                    _ => None,
                })
                .collect();
            ir::Action {
                kind: ir::ActionKind::Inline {
                    state_pat,
                    body: closure.body.clone(),
                    output: closure.output.clone(),
                },
                payload,
            }
        }
        ActionDecl::Shared {
            function,
            signature,
        } => ir::Action {
            kind: ir::ActionKind::Shared {
                function: function.clone(),
            },
            payload: signature
                .inputs
                .iter()
                .skip(1)
                .filter(|arg| !matches!(arg.ty, Type::Reference(_)))
                .map(|arg| ir::PayloadParam {
                    pat: None,
                    ty: arg.ty.clone(),
                })
                .collect(),
        },
    }
}

/// Whether an inline action declared its own return type.
pub fn has_explicit_output(output: &ReturnType) -> bool {
    matches!(output, ReturnType::Type(..))
}
