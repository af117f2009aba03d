//! Stage 4: [`ir::Machine`](crate::ir::Machine) → Rust items.
//!
//! One function per generated item, each returning the tokens of that item only.
//!
//! Hygiene, in the manner of serde's derives:
//!
//! * The runtime is reached only through `<crate>::__private_vX_Y::…` (see [`private_module`]),
//!   where `<crate>` is the header's `crate:` path, `::fsm_runtime` by default, so the expansion
//!   works wherever it is invoked and whatever the user's crate calls the runtime.
//! * The standard library is reached through absolute `::core::…` paths.
//! * Every trait impl is `#[automatically_derived]`, so lints and coverage tools treat it as
//!   generated code.
//! * Generic parameters the expansion introduces are named `__H`, `__I`, `__S`, so they never
//!   shadow a user type the table names (a record type called `H`, say).

use proc_macro2::{Group, Ident, Span, TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Path, Type};

use crate::ir::{Action, ActionKind, Destination, Event, Machine, Sources};
use crate::validate::{path_text, type_text};

/// Whether the table passed validation. With errors, the transition function is a stub and no
/// action bodies are emitted, so that only the table's own diagnostics are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Emit everything.
    Full,
    /// Emit the items other code refers to, with a stub transition function.
    Fallback,
}

/// The name of the runtime's private module that generated code goes through:
/// `__private_v{major}_{minor}`, from this crate's version.
///
/// The runtime exports the items the expansion needs (the `Machine` trait, `Outcome`, the table
/// types, ...) from a `#[doc(hidden)]` module named after its own major and minor version, and
/// the expansion reaches them only through this module. When the `fsm!` macro and the runtime it
/// expands against come from different releases (a lock file that updated one and not the
/// other, or a crate that depends on the runtime under a `crate:` path that points at another
/// version), the expansion then fails to compile with one clear cause, ``could not find
/// `__private_v0_2` in `fsm_runtime` ``, instead of compiling against items whose shape
/// changed, or failing somewhere deep inside the generated code. Patch releases share a module:
/// they are compatible by semver, and the workspace releases fsm-codegen, fsm-macros and
/// fsm-runtime together, under one version.
pub fn private_module() -> Ident {
    format_ident!(
        "__private_v{}_{}",
        env!("CARGO_PKG_VERSION_MAJOR"),
        env!("CARGO_PKG_VERSION_MINOR")
    )
}

/// `<crate>::__private_vX_Y`: the prefix of every runtime path in the expansion.
fn rt(machine: &Machine) -> TokenStream {
    let runtime = &machine.runtime;
    let module = private_module();
    quote! { #runtime::#module }
}

/// All items of one machine.
pub fn generate(machine: &Machine, mode: Mode) -> TokenStream {
    let unit = machine_struct(machine);
    let input = input_enum(machine);
    let entry = entry_trait(machine);
    let inherent = inherent_impl(machine, mode);
    let machine_impl = machine_impl(machine, mode);
    let run_entry = run_entry_impl(machine);
    quote! {
        #unit
        #input
        #entry
        #inherent
        #machine_impl
        #run_entry
    }
}

fn machine_struct(machine: &Machine) -> TokenStream {
    let Machine {
        attrs, vis, name, ..
    } = machine;
    quote! {
        #(#attrs)*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        #vis struct #name;
    }
}

fn input_enum(machine: &Machine) -> TokenStream {
    let Machine {
        vis,
        name,
        input,
        input_attrs,
        event,
        ..
    } = machine;
    let enum_doc = format!(
        " Typed inputs of [`{name}`]: one variant per declared event, carrying its action's \
         payload."
    );
    let variants = machine.events.iter().map(|event| {
        let variant = &event.variant;
        let doc = format!(" `{}`.", path_text(&event.code));
        let payload = payload_types(event);
        if payload.is_empty() {
            quote! { #[doc = #doc] #variant }
        } else {
            quote! { #[doc = #doc] #variant(#(#payload),*) }
        }
    });
    let code_arms = machine.events.iter().map(|event| {
        let variant = &event.variant;
        let code = &event.code;
        if payload_types(event).is_empty() {
            quote! { Self::#variant => #code }
        } else {
            quote! { Self::#variant(..) => #code }
        }
    });
    let code_body = if machine.events.is_empty() {
        quote! { match *self {} }
    } else {
        quote! { match self { #(#code_arms,)* } }
    };
    quote! {
        #[doc = #enum_doc]
        #[derive(Debug)]
        #(#input_attrs)*
        #vis enum #input {
            #(#variants,)*
        }

        impl #input {
            /// The event code of this input.
            #[must_use]
            #vis const fn code(&self) -> #event {
                #code_body
            }
        }
    }
}

fn payload_types(event: &Event) -> Vec<&Type> {
    event
        .action
        .iter()
        .flat_map(|action| &action.payload)
        .map(|param| &param.ty)
        .collect()
}

fn entry_trait(machine: &Machine) -> TokenStream {
    let Machine {
        vis,
        name,
        entry,
        entry_attrs,
        state,
        ..
    } = machine;
    let rt = rt(machine);
    let doc = format!(
        " Entry funcs of [`{name}`]. `self` is the environment the funcs run against (Go's \
         `environment` parameter); each func gets a context to trigger further events on its \
         machine and a snapshot of the saved state."
    );
    let methods = machine.entry_funcs.iter().map(|func| {
        let method = &func.name;
        let states = func
            .states
            .iter()
            .map(|state| format!("`{}`", path_text(state)))
            .collect::<Vec<_>>()
            .join(", ");
        let doc = format!(" Entry func of {states}.");
        quote! {
            #[doc = #doc]
            fn #method(
                &self,
                ctx: &mut #rt::Context<#name>,
                state: &#state,
            ) -> impl ::core::future::Future<Output = #rt::EntryResult> + ::core::marker::Send;
        }
    });
    quote! {
        #[doc = #doc]
        #(#entry_attrs)*
        #vis trait #entry: ::core::marker::Send + ::core::marker::Sync + 'static {
            #(#methods)*
        }
    }
}

/// The private associated function an event's inline action is lowered to.
fn action_fn_name(event: &Event) -> Ident {
    format_ident!("__action_{}", snake_case(&event.variant.to_string()))
}

/// The machine's inherent impl: the group constructor, and the functions inline actions are
/// lowered to (only when the table is valid).
fn inherent_impl(machine: &Machine, mode: Mode) -> TokenStream {
    let name = &machine.name;
    let group = group_fn(machine);
    let actions = match mode {
        Mode::Full => action_fns(machine),
        Mode::Fallback => Vec::new(),
    };
    quote! {
        impl #name {
            #group
            #(#actions)*
        }
    }
}

/// `Name::group(store, env)`: a group builder whose machine type is fixed, so that opening a
/// group needs no type annotation (`Group::builder` cannot infer the machine from its
/// arguments).
fn group_fn(machine: &Machine) -> TokenStream {
    let Machine {
        vis, name, entry, ..
    } = machine;
    let rt = rt(machine);
    let doc = format!(
        " A group builder for [`{name}`] machines over `store`, whose entry funcs run against \
         `handler` (a [`{entry}`]): `Group::builder(store, handler)` with the machine type filled \
         in, so that it needs no type annotation."
    );
    quote! {
        #[doc = #doc]
        #[must_use]
        #vis fn group<__H, __I, __S>(
            store: __S,
            handler: __H,
        ) -> #rt::GroupBuilder<Self, __H, __I, __S>
        where
            __H: #entry,
            __I: #rt::MachineId,
        {
            #rt::GroupBuilder::new(store, handler)
        }
    }
}

/// The private associated functions inline actions are lowered to.
fn action_fns(machine: &Machine) -> Vec<TokenStream> {
    let rt = rt(machine);
    let state = &machine.state;
    let fns = machine.events.iter().filter_map(|event| {
        let action = event.action.as_ref()?;
        let ActionKind::Inline {
            state_pat,
            body,
            output,
        } = &action.kind
        else {
            return None;
        };
        let fn_name = action_fn_name(event);
        let doc = format!(" The action of `{}`.", path_text(&event.code));
        let params = action.payload.iter().enumerate().map(|(index, param)| {
            let ty = &param.ty;
            match &param.pat {
                Some(pat) => quote! { #pat: #ty },
                None => {
                    let name = format_ident!("payload{index}");
                    quote! { #name: #ty }
                }
            }
        });
        // The default return type carries the body's span, so a body that does not return a
        // `Result` is reported there rather than on the whole invocation.
        let output = match output {
            syn::ReturnType::Default => {
                // All of the path's tokens take the span: a path whose segments come from
                // different places is reported at the whole invocation.
                let rt = respanned(rt.clone(), body.span());
                quote_spanned! { body.span()=> -> #rt::ActionResult }
            }
            explicit @ syn::ReturnType::Type(..) => quote! { #explicit },
        };
        let body = match &**body {
            syn::Expr::Block(block) => quote! { #block },
            other => quote! { { #other } },
        };
        Some(quote! {
            #[doc = #doc]
            #[allow(clippy::unnecessary_wraps, clippy::needless_pass_by_value)]
            fn #fn_name(#state_pat: &mut #state, #(#params),*) #output #body
        })
    });
    fns.collect()
}

fn machine_impl(machine: &Machine, mode: Mode) -> TokenStream {
    let Machine {
        name,
        state,
        status,
        event,
        input,
        status_field,
        consume_all,
        ..
    } = machine;
    let rt = rt(machine);
    let name_text = name.to_string();
    let table = table_static(machine);
    let is_final = is_final_body(machine);
    let entry_func = entry_func_body(machine);
    let transition = match mode {
        Mode::Full => transition_body(machine),
        Mode::Fallback => quote! {
            let _ = (state, input);
            ::core::unreachable!("this machine's table has errors and was not compiled")
        },
    };
    quote! {
        #[automatically_derived]
        impl #rt::Machine for #name {
            type State = #state;
            type Status = #status;
            type Event = #event;
            type Input = #input;

            const NAME: &'static str = #name_text;
            const CONSUME_ALL_EVENTS_BEFORE_ENTRY_FUNCS: bool = #consume_all;

            fn table() -> &'static #rt::table::Table<#status, #event> {
                #table
            }

            #[inline]
            fn status(state: &#state) -> #status {
                state.#status_field
            }

            #[inline]
            fn event(input: &#input) -> #event {
                input.code()
            }

            #[inline]
            fn is_final(status: #status) -> bool {
                #is_final
            }

            fn entry_func(status: #status) -> ::core::option::Option<&'static str> {
                #entry_func
            }

            fn transition(state: &mut #state, input: #input) -> #rt::Outcome<Self> {
                #transition
            }
        }
    }
}

fn is_final_body(machine: &Machine) -> TokenStream {
    let finals = &machine.finality_states;
    if finals.is_empty() {
        quote! { let _ = status; false }
    } else {
        quote! { ::core::matches!(status, #(#finals)|*) }
    }
}

fn entry_func_body(machine: &Machine) -> TokenStream {
    let arms: Vec<_> = machine
        .entry_funcs
        .iter()
        .filter(|func| !func.states.is_empty())
        .map(|func| {
            let states = &func.states;
            let text = func.name.to_string();
            quote! { #(#states)|* => ::core::option::Option::Some(#text) }
        })
        .collect();
    if arms.is_empty() {
        quote! { let _ = status; ::core::option::Option::None }
    } else {
        quote! {
            match status {
                #(#arms,)*
                _ => ::core::option::Option::None,
            }
        }
    }
}

fn transition_body(machine: &Machine) -> TokenStream {
    let rt = rt(machine);
    let status_field = &machine.status_field;
    let arms = machine.events.iter().map(|event| event_arm(machine, event));
    let settle = quote! {
        match target {
            #rt::Target::To(to) => {
                state.#status_field = to;
                #rt::Outcome::Moved { event, from, to }
            }
            #rt::Target::NoChange => {
                #rt::Outcome::Stayed { event, status: from }
            }
            #rt::Target::JustRecord => {
                #rt::Outcome::Recorded { event, status: from }
            }
        }
    };
    if machine.events.is_empty() {
        return quote! {
            let _ = state;
            match input {}
        };
    }
    quote! {
        let from = state.#status_field;
        if <Self as #rt::Machine>::is_final(from) {
            return #rt::Outcome::AlreadyFinal { status: from, input };
        }
        let (event, target) = match input {
            #(#arms)*
        };
        #settle
    }
}

/// One arm of the transition `match`: pick the target, run the action, hand back
/// `(event, target)` for the shared settle step.
fn event_arm(machine: &Machine, event: &Event) -> TokenStream {
    let rt = rt(machine);
    let input = &machine.input;
    let variant = &event.variant;
    let code = &event.code;
    let payload: Vec<Ident> = (0..payload_types(event).len())
        .map(|index| format_ident!("payload{index}"))
        .collect();
    let pattern = if payload.is_empty() {
        quote! { #input::#variant }
    } else {
        quote! { #input::#variant(#(#payload),*) }
    };
    let invalid = quote! {
        return #rt::Outcome::Invalid { status: from, input: #pattern }
    };
    if event.arms.is_empty() && event.any.is_none() {
        // Declared without transitions: every input of this event is invalid.
        return quote! { #pattern => #invalid, };
    }
    let target = target_expr(&rt, event, &invalid);
    let action = event
        .action
        .as_ref()
        .map(|action| action_call(machine, event, action, &payload));
    quote! {
        #pattern => {
            let target = #target;
            #action
            (#code, target)
        }
    }
}

/// The expression choosing the target: explicit arms first, then `FromAny`, else invalid.
fn target_expr(rt: &TokenStream, event: &Event, invalid: &TokenStream) -> TokenStream {
    // Group sources that share a destination into one arm, in order of first appearance.
    let mut grouped: Vec<(&Destination, Vec<&Path>)> = Vec::new();
    for arm in &event.arms {
        match grouped
            .iter_mut()
            .find(|(dest, _)| dest.same_as(&arm.destination))
        {
            Some((_, sources)) => sources.push(&arm.source),
            None => grouped.push((&arm.destination, vec![&arm.source])),
        }
    }
    let fallback = match &event.any {
        Some(destination) => target_value(rt, destination),
        None => invalid.clone(),
    };
    if grouped.is_empty() {
        return fallback;
    }
    let arms = grouped.iter().map(|(destination, sources)| {
        let value = target_value(rt, destination);
        quote! { #(#sources)|* => #value }
    });
    quote! {
        match from {
            #(#arms,)*
            _ => #fallback,
        }
    }
}

fn target_value(rt: &TokenStream, destination: &Destination) -> TokenStream {
    match destination {
        Destination::To(state) => quote! { #rt::Target::To(#state) },
        Destination::NoChange => quote! { #rt::Target::NoChange },
        Destination::JustRecord => quote! { #rt::Target::JustRecord },
    }
}

/// Runs the action on a copy of the state and keeps the copy only on success.
fn action_call(
    machine: &Machine,
    event: &Event,
    action: &Action,
    payload: &[Ident],
) -> TokenStream {
    let rt = rt(machine);
    let name = &machine.name;
    let code = &event.code;
    let (call, convert) = match &action.kind {
        ActionKind::Inline { output, .. } => {
            let fn_name = action_fn_name(event);
            let explicit = crate::lower::has_explicit_output(output);
            (
                quote! { #name::#fn_name(&mut next, #(#payload),*) },
                explicit,
            )
        }
        ActionKind::Shared { function } => {
            // Bind through the written signature so that a mismatch is reported at the
            // function's path and the signature's types, not on the whole invocation.
            let state = &machine.state;
            let types = action.payload.iter().map(|param| &param.ty);
            let bind = quote_spanned! { function.span()=>
                let action: fn(&mut #state, #(#types),*) -> _ = #function;
            };
            (quote! { { #bind action(&mut next, #(#payload),*) } }, true)
        }
    };
    let error = if convert {
        quote! { error: #rt::action_error(error) }
    } else {
        quote! { error }
    };
    quote! {
        let mut next = ::core::clone::Clone::clone(&*state);
        if let ::core::result::Result::Err(error) = #call {
            return #rt::Outcome::ActionFailed {
                event: #code,
                status: from,
                #error,
            };
        }
        *state = next;
    }
}

fn run_entry_impl(machine: &Machine) -> TokenStream {
    let Machine {
        name,
        entry,
        state,
        status_field,
        ..
    } = machine;
    let arms: Vec<_> = machine
        .entry_funcs
        .iter()
        .filter(|func| !func.states.is_empty())
        .map(|func| {
            let states = &func.states;
            let method = &func.name;
            quote! { #(#states)|* => handler.#method(ctx, state).await }
        })
        .collect();
    let body = if arms.is_empty() {
        quote! {
            let _ = (handler, ctx, state);
            ::core::result::Result::Ok(())
        }
    } else {
        quote! {
            match state.#status_field {
                #(#arms,)*
                _ => ::core::result::Result::Ok(()),
            }
        }
    };
    let rt = rt(machine);
    quote! {
        #[automatically_derived]
        impl<__H: #entry> #rt::RunEntry<__H> for #name {
            fn run_entry<'a>(
                handler: &'a __H,
                ctx: &'a mut #rt::Context<Self>,
                state: &'a #state,
            ) -> impl ::core::future::Future<Output = #rt::EntryResult> + ::core::marker::Send + 'a {
                async move { #body }
            }
        }
    }
}

fn table_static(machine: &Machine) -> TokenStream {
    let Machine {
        name,
        state,
        status,
        event,
        consume_all,
        ..
    } = machine;
    let machine_name = name.to_string();
    let state_text = type_text(state);
    let status_text = type_text(status);
    let event_text = type_text(event);
    let rt = rt(machine);
    let t = quote! { #rt::table };
    let events = machine.events.iter().map(|info| {
        let code = &info.code;
        let event_name = info.variant.to_string();
        let path = path_text(code);
        let transitions = info.groups.iter().map(|group| {
            let sources = match &group.sources {
                Sources::States(states) => {
                    let states = states.iter().map(|state| status_info(&t, state));
                    quote! { #t::Sources::States(&[#(#states),*]) }
                }
                Sources::Any => quote! { #t::Sources::Any },
            };
            let destination = match &group.destination {
                Destination::To(state) => {
                    let info = status_info(&t, state);
                    quote! { #t::Destination::To(#info) }
                }
                Destination::NoChange => quote! { #t::Destination::NoChange },
                Destination::JustRecord => quote! { #t::Destination::JustRecord },
            };
            quote! { #t::Transition { sources: #sources, destination: #destination } }
        });
        let action = match &info.action {
            None => quote! { ::core::option::Option::None },
            Some(action) => {
                let function = match &action.kind {
                    ActionKind::Inline { .. } => quote! { ::core::option::Option::None },
                    ActionKind::Shared { function } => {
                        let text = path_text(function);
                        quote! { ::core::option::Option::Some(#text) }
                    }
                };
                let params = action.payload.iter().enumerate().map(|(index, param)| {
                    let name = param.pat.as_ref().map_or_else(
                        || format!("arg{index}"),
                        |pat| match pat {
                            syn::Pat::Ident(ident) => ident.ident.to_string(),
                            _ => "_".to_owned(),
                        },
                    );
                    let ty = type_text(&param.ty);
                    quote! { #t::PayloadParam { name: #name, ty: #ty } }
                });
                quote! {
                    ::core::option::Option::Some(#t::ActionInfo {
                        function: #function,
                        payload: &[#(#params),*],
                    })
                }
            }
        };
        quote! {
            #t::EventInfo {
                event: #code,
                name: #event_name,
                path: #path,
                transitions: &[#(#transitions),*],
                action: #action,
            }
        }
    });
    let finals = machine
        .finality_states
        .iter()
        .map(|state| status_info(&t, state));
    let entry_funcs = machine.entry_funcs.iter().map(|func| {
        let func_name = func.name.to_string();
        let states = func.states.iter().map(|state| status_info(&t, state));
        quote! { #t::EntryFuncInfo { name: #func_name, states: &[#(#states),*] } }
    });
    quote! {
        static TABLE: #t::Table<#status, #event> = #t::Table {
            machine: #machine_name,
            state_type: #state_text,
            status_type: #status_text,
            event_type: #event_text,
            consume_all_events_before_entry_funcs: #consume_all,
            events: &[#(#events),*],
            finality_states: &[#(#finals),*],
            entry_funcs: &[#(#entry_funcs),*],
        };
        &TABLE
    }
}

/// `t` is the path of the runtime's `table` module.
fn status_info(t: &TokenStream, state: &Path) -> TokenStream {
    let text = path_text(state);
    quote! { #t::StatusInfo { status: #state, path: #text } }
}

/// `tokens` with every token (and every group's delimiters) at `span`.
fn respanned(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|token| match token {
            TokenTree::Group(group) => {
                let mut group = Group::new(group.delimiter(), respanned(group.stream(), span));
                group.set_span(span);
                TokenTree::Group(group)
            }
            mut other => {
                other.set_span(span);
                other
            }
        })
        .collect()
}

/// `DealAccepted` → `deal_accepted`.
pub fn snake_case(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    let mut previous_lower = false;
    for ch in camel.chars() {
        if ch.is_uppercase() {
            if previous_lower {
                out.push('_');
            }
            out.extend(ch.to_lowercase());
            previous_lower = false;
        } else {
            out.push(ch);
            previous_lower = ch.is_lowercase() || ch.is_ascii_digit();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::snake_case;

    #[test]
    fn snake_case_splits_words() {
        assert_eq!(snake_case("DealAccepted"), "deal_accepted");
        assert_eq!(snake_case("Open"), "open");
        assert_eq!(snake_case("Step2Done"), "step2_done");
    }
}
