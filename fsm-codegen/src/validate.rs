//! Stage 2: every rule of the DSL, checked on the syntax tree.
//!
//! Each check reports into [`Errors`] at the offending tokens and goes on, so one build shows
//! every mistake. Nothing here builds output; lowering (stage 3) relies on these checks only
//! for the quality of the code it emits, never for memory safety or to avoid panics.

use std::collections::{HashMap, HashSet};

use syn::{Ident, Pat, Path, Type};

use crate::ast::{
    ActionDecl, BuilderCall, EventDecl, FsmInput, HeaderField, HeaderValue, SourceSpec,
};
use crate::errors::Errors;
use crate::parse::{BOOL_FIELD, CRATE_FIELD, HEADER_FIELDS};
use crate::suggest::did_you_mean;

/// The header fields that have no default.
pub const REQUIRED_FIELDS: &[&str] = &["state", "status", "event", "input", "entry"];

/// Checks an invocation, recording every violation.
pub fn validate(input: &FsmInput, errors: &mut Errors) {
    validate_header(input, errors);
    validate_sections(input, errors);
    let state_type = header_type(&input.header, "state");
    let mut seen_events: HashSet<String> = HashSet::new();
    for event in input.events.iter().flat_map(|section| &section.content) {
        if !seen_events.insert(path_text(&event.code)) {
            errors.spanned(
                &event.code,
                format!(
                    "duplicate event `{}`: declare each event once, with all of its \
                     `From…`/`To…` groups in one chain",
                    path_text(&event.code)
                ),
            );
        }
        validate_event(event, state_type, errors);
    }
    validate_finality_and_entry_funcs(input, errors);
}

fn validate_header(input: &FsmInput, errors: &mut Errors) {
    let known = HEADER_FIELDS;
    let mut seen = HashSet::new();
    for field in &input.header {
        let name = field.name.to_string();
        if let Some(attr) = field.attrs.first()
            && name != "input"
            && name != "entry"
        {
            errors.spanned(
                attr,
                format!(
                    "attributes are allowed on `input` and `entry` only (they go on the \
                     generated enum and trait), not on `{name}`"
                ),
            );
        }
        if !known.contains(&name.as_str()) {
            errors.at(
                field.name.span(),
                format!(
                    "unknown header field `{name}`{}",
                    did_you_mean(&name, known).unwrap_or_else(|| format!(
                        "; expected one of {}",
                        crate::parse::list(known)
                    ))
                ),
            );
        } else if !seen.insert(name.clone()) {
            errors.at(
                field.name.span(),
                format!("duplicate header field `{name}`"),
            );
        } else if let HeaderValue::Empty(colon) = &field.value {
            let field_name = &field.name;
            let name_and_colon = quote::quote!(#field_name #colon);
            errors.spanned(&name_and_colon, empty_field_message(&name));
        }
    }
    let missing: Vec<&str> = REQUIRED_FIELDS
        .iter()
        .copied()
        .filter(|field| !seen.contains(*field))
        .collect();
    if !missing.is_empty() {
        let plural = if missing.len() == 1 { "" } else { "s" };
        errors.at(
            input.name.span(),
            format!(
                "missing header field{plural} {} in machine `{}`",
                crate::parse::list(&missing),
                input.name
            ),
        );
    }
}

/// What an empty header field (`input: ,`) is told it needs.
fn empty_field_message(name: &str) -> String {
    let needs = match name {
        "state" => "a type name: the machine's record, e.g. `state: Deal`",
        "status" => "a type name: the status enum kept in the record, e.g. `status: DealStatus`",
        "event" => "a type name: the event-code enum, e.g. `event: DealEvent`",
        "input" => "a type name: the name of the generated input enum, e.g. `input: DealInput`",
        "entry" => "a type name: the name of the generated entry trait, e.g. `entry: DealEntry`",
        "status_field" => {
            "a field name: the record's field that holds the status, e.g. `status_field: status`"
        }
        BOOL_FIELD => "`true` or `false`",
        CRATE_FIELD => "a path to the runtime crate, e.g. `crate: ::fsm_runtime`",
        _ => "a value",
    };
    format!("`{name}:` needs {needs}")
}

fn validate_sections(input: &FsmInput, errors: &mut Errors) {
    let mut report_repeats = |keywords: Vec<&Ident>| {
        for keyword in keywords.into_iter().skip(1) {
            errors.at(
                keyword.span(),
                format!("duplicate section `{keyword}`: write it once"),
            );
        }
    };
    report_repeats(input.events.iter().map(|s| &s.keyword).collect());
    report_repeats(input.finality_states.iter().map(|s| &s.keyword).collect());
    report_repeats(input.entry_funcs.iter().map(|s| &s.keyword).collect());
    if input.events.is_empty() {
        errors.at(
            input.name.span(),
            format!("machine `{}` has no `events {{ .. }}` section", input.name),
        );
    }
}

fn validate_event(event: &EventDecl, state_type: Option<&Type>, errors: &mut Errors) {
    let name = path_text(&event.code);
    let shape = event.shape();
    let pairing_is_checked = !event.has_unreadable_call;
    for source in shape.dangling_sources.iter().filter(|_| pairing_is_checked) {
        let word = match source {
            SourceSpec::States(word, _) | SourceSpec::Any(word) => word,
        };
        errors.at(
            word.span(),
            format!(
                "`{word}` has no destination in event `{name}`: follow it with `To(..)`, \
                 `ToNoChange()` or `ToJustRecord()`"
            ),
        );
    }
    for destination in shape
        .orphan_destinations
        .iter()
        .filter(|_| pairing_is_checked)
    {
        let word = destination.word();
        errors.at(
            word.span(),
            format!(
                "`{word}` has no source in event `{name}`: precede it with `From(..)`, \
                 `FromMany(..)` or `FromAny()`"
            ),
        );
    }
    for (word, _) in shape.actions.iter().skip(1) {
        errors.at(
            word.span(),
            format!("duplicate action for event `{name}`: an event has at most one `Action`"),
        );
    }
    if let Some((_, action)) = shape.actions.first() {
        validate_action(action, state_type, errors);
    }

    let mut sources = HashSet::new();
    let mut any_seen = false;
    for call in &event.calls {
        match call {
            BuilderCall::From { state, .. } => check_source(state, &name, &mut sources, errors),
            BuilderCall::FromMany { states, .. } => {
                for state in states {
                    check_source(state, &name, &mut sources, errors);
                }
            }
            BuilderCall::FromAny { word } => {
                if any_seen {
                    errors.at(
                        word.span(),
                        format!(
                            "duplicate `FromAny` for event `{name}`: an event has at most one \
                             all-sources destination"
                        ),
                    );
                }
                any_seen = true;
            }
            _ => {}
        }
    }
}

fn check_source(state: &Path, event: &str, seen: &mut HashSet<String>, errors: &mut Errors) {
    if !seen.insert(path_text(state)) {
        errors.spanned(
            state,
            format!(
                "duplicate transition source `{}` for event `{event}`",
                path_text(state)
            ),
        );
    }
}

fn validate_action(action: &ActionDecl, state_type: Option<&Type>, errors: &mut Errors) {
    let expected = state_type.map_or_else(|| "State".to_owned(), type_text);
    match action {
        ActionDecl::Closure(closure) => {
            if let Some(asyncness) = &closure.asyncness {
                errors.spanned(asyncness, "actions are synchronous: remove `async`");
            }
            let mut inputs = closure.inputs.iter();
            let Some(first) = inputs.next() else {
                errors.at(
                    closure.or1_token.span,
                    format!(
                        "an action takes the state as its first parameter: \
                         `|state: &mut {expected}, ..|`"
                    ),
                );
                return;
            };
            match first {
                Pat::Type(typed) if is_state_ref(&typed.ty, state_type) => {}
                Pat::Type(typed) => errors.spanned(
                    &typed.ty,
                    format!("the first parameter of an action must be `&mut {expected}`"),
                ),
                other => errors.spanned(
                    other,
                    format!(
                        "the first parameter of an action must be typed `&mut {expected}`: \
                         write `|state: &mut {expected}, ..|`"
                    ),
                ),
            }
            for param in inputs {
                match param {
                    Pat::Type(typed) => check_payload_type(&typed.ty, state_type, errors),
                    untyped => errors.spanned(
                        untyped,
                        format!(
                            "action parameter `{}` needs a type: it becomes part of the \
                             event's payload",
                            quote::quote!(#untyped)
                        ),
                    ),
                }
            }
        }
        ActionDecl::Shared { signature, .. } => {
            if let Some(variadic) = &signature.variadic {
                errors.spanned(variadic, "a shared action cannot be variadic");
            }
            match signature.inputs.first() {
                Some(first) if is_state_ref(&first.ty, state_type) => {}
                Some(first) => errors.spanned(
                    &first.ty,
                    format!("the first parameter of an action must be `&mut {expected}`"),
                ),
                None => errors.spanned(
                    signature,
                    format!(
                        "an action takes the state as its first parameter: \
                         `fn(&mut {expected}, ..)`"
                    ),
                ),
            }
            for arg in signature.inputs.iter().skip(1) {
                check_payload_type(&arg.ty, state_type, errors);
            }
        }
    }
}

/// A payload is queued and may cross tasks, so it must own its data. A misplaced `&mut State`
/// is already reported as a bad first parameter and is not reported again.
fn check_payload_type(ty: &Type, state_type: Option<&Type>, errors: &mut Errors) {
    if let Type::Reference(reference) = ty {
        if is_state_ref(ty, state_type) {
            return;
        }
        let owned = match &*reference.elem {
            Type::Path(path) if path.path.is_ident("str") => "`String`",
            Type::Slice(_) => "a `Vec`",
            _ => "an owned type",
        };
        errors.spanned(
            ty,
            format!(
                "a payload parameter cannot borrow (`{}`): inputs are queued and sent between \
                 tasks, so the payload must own its data (use {owned})",
                type_text(ty)
            ),
        );
    }
}

/// Whether `ty` is `&mut T` where `T` names the header's state type (compared by the last path
/// segment, since the table may import the type under a shorter path). Without a `state` header
/// field (already reported), any `&mut _` passes.
fn is_state_ref(ty: &Type, state_type: Option<&Type>) -> bool {
    let Type::Reference(reference) = ty else {
        return false;
    };
    if reference.mutability.is_none() {
        return false;
    }
    match state_type {
        None => true,
        Some(state) => last_ident(&reference.elem)
            .is_some_and(|ident| last_ident(state).is_none_or(|expected| expected == ident)),
    }
}

fn last_ident(ty: &Type) -> Option<&Ident> {
    match ty {
        Type::Path(path) => path.path.segments.last().map(|segment| &segment.ident),
        Type::Group(group) => last_ident(&group.elem),
        Type::Paren(paren) => last_ident(&paren.elem),
        _ => None,
    }
}

fn validate_finality_and_entry_funcs(input: &FsmInput, errors: &mut Errors) {
    let mut finals = HashSet::new();
    for state in input
        .finality_states
        .iter()
        .flat_map(|section| &section.content)
    {
        if !finals.insert(path_text(state)) {
            errors.spanned(
                state,
                format!("duplicate finality state `{}`", path_text(state)),
            );
        }
    }
    // One func may serve several statuses, on one line (`A | B => f`) or, as Go's
    // `StateEntryFuncs` map is written, one line per status; a status has at most one func.
    let mut owner: HashMap<String, String> = HashMap::new();
    for decl in input
        .entry_funcs
        .iter()
        .flat_map(|section| &section.content)
    {
        let func = decl.func.to_string();
        for state in &decl.states {
            let text = path_text(state);
            if finals.contains(&text) {
                errors.spanned(
                    state,
                    format!(
                        "final state `{text}` cannot have an entry func: a machine stops when \
                         it reaches a final state"
                    ),
                );
            }
            if let Some(previous) = owner.get(&text) {
                let message = if *previous == func {
                    format!(
                        "state `{text}` is already mapped to `{func}`: list each state once in \
                         `entry_funcs`"
                    )
                } else {
                    format!(
                        "duplicate entry func for state `{text}`: it is already mapped to \
                         `{previous}`"
                    )
                };
                errors.spanned(state, message);
            } else {
                owner.insert(text, func.clone());
            }
        }
    }
}

/// The type given for a header field, if any.
pub fn header_type<'a>(header: &'a [HeaderField], name: &str) -> Option<&'a Type> {
    header.iter().find_map(|field| match &field.value {
        HeaderValue::Type(ty) if field.name == name => Some(ty),
        _ => None,
    })
}

/// A path as the user reads it: `DealStatus::New`.
pub fn path_text(path: &Path) -> String {
    let segments = path
        .segments
        .iter()
        .map(|segment| segment.ident.to_string())
        .collect::<Vec<_>>()
        .join("::");
    if path.leading_colon.is_some() {
        format!("::{segments}")
    } else {
        segments
    }
}

/// A type as the user reads it (tokens joined without syn's spacing around `::`).
pub fn type_text(ty: &Type) -> String {
    quote::quote!(#ty)
        .to_string()
        .replace(" :: ", "::")
        .replace(":: ", "::")
        .replace(" < ", "<")
        .replace(" >", ">")
        .replace("& mut ", "&mut ")
        .replace("& ", "&")
}
