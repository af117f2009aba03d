//! Stage 1: tokens → [`ast::FsmInput`](crate::ast::FsmInput).
//!
//! syn reads the Rust-level grammar (paths, types, closures, method-call chains); this module
//! then reads the builder chains and sections out of it. Malformed Rust syntax is a fatal syn
//! error; everything the DSL itself defines (builder words, their arguments, section and header
//! names) is read leniently, with each mistake recorded in [`Errors`] and the rest kept.

use proc_macro2::TokenStream;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Attribute, Expr, Ident, LitBool, Path, Token, Type, Visibility, braced};

use crate::ast::{
    ActionDecl, BuilderCall, EntryFuncDecl, EventDecl, FsmInput, HeaderField, HeaderValue, Section,
};
use crate::errors::Errors;
use crate::suggest::did_you_mean;

/// The builder words of an event chain, in their Go spelling.
pub const BUILDER_WORDS: &[&str] = &[
    "From",
    "FromMany",
    "FromAny",
    "To",
    "ToNoChange",
    "ToJustRecord",
    "Action",
];

/// The section keywords after the header.
pub const SECTIONS: &[&str] = &["events", "finality_states", "entry_funcs"];

/// The header fields whose value is a type.
pub const TYPE_FIELDS: &[&str] = &["state", "status", "event"];

/// The header fields whose value is an identifier.
pub const IDENT_FIELDS: &[&str] = &["input", "entry", "status_field"];

/// The header field whose value is a boolean.
pub const BOOL_FIELD: &str = "consume_all_events_before_entry_funcs";

/// The header field whose value is a module path: `crate: ::fsm`, the path the generated items
/// reach the runtime crate through (default `::fsm_runtime`). It is spelled like the other
/// fields, `name: value`, although `crate` is a keyword.
pub const CRATE_FIELD: &str = "crate";

/// Every header field, in the order the documentation lists them.
pub const HEADER_FIELDS: &[&str] = &[
    "state",
    "status",
    "event",
    "input",
    "entry",
    "status_field",
    BOOL_FIELD,
    CRATE_FIELD,
];

/// Parses an invocation. Returns `None` only when the tokens are not readable as an `fsm!`
/// invocation at all (the syn error is then in `errors`).
pub fn parse(tokens: TokenStream, errors: &mut Errors) -> Option<FsmInput> {
    let raw = match syn::parse2::<RawInput>(tokens) {
        Ok(raw) => raw,
        Err(error) => {
            errors.push(error);
            return None;
        }
    };
    Some(read(raw, errors))
}

/// The invocation split into header and sections, before the DSL is read.
struct RawInput {
    attrs: Vec<Attribute>,
    vis: Visibility,
    name: Ident,
    header: Vec<HeaderField>,
    sections: Vec<(Ident, TokenStream)>,
}

impl Parse for RawInput {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        const START: &str = "an invocation starts with `pub machine Name { state: .., \
                             status: .., event: .., input: .., entry: .. }`";
        if input.is_empty() {
            return Err(input.error(format!("expected `machine`: {START}")));
        }
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        if input.is_empty() {
            return Err(input.error(format!("expected `machine`: {START}")));
        }
        // `parse_any` also reads keywords, so `pub struct X` gets this message, not syn's.
        let machine_kw = input.call(Ident::parse_any)?;
        if machine_kw != "machine" {
            return Err(syn::Error::new(
                machine_kw.span(),
                format!("expected `machine`, found `{machine_kw}`: {START}"),
            ));
        }
        let name: Ident = input.parse()?;
        let content;
        braced!(content in input);
        let header = parse_header(&content)?;
        let mut sections = Vec::new();
        while !input.is_empty() {
            let keyword: Ident = input.parse()?;
            let body;
            braced!(body in input);
            sections.push((keyword, body.parse::<TokenStream>()?));
        }
        Ok(Self {
            attrs,
            vis,
            name,
            header,
            sections,
        })
    }
}

fn parse_header(input: ParseStream) -> syn::Result<Vec<HeaderField>> {
    let mut fields = Vec::new();
    while !input.is_empty() {
        let attrs = input.call(Attribute::parse_outer)?;
        // `parse_any` also reads keywords: `crate` is a field, and any other keyword gets the
        // validator's "unknown header field" rather than syn's "expected identifier".
        let name = input.call(Ident::parse_any)?;
        if input.peek(Token![=]) {
            return Err(input.error(format!(
                "header fields are written with a colon: `{name}: ..`"
            )));
        }
        let colon: Token![:] = input.parse()?;
        let key = name.to_string();
        let value = if input.is_empty() || input.peek(Token![,]) {
            // Reported by the validator, which names the field and what it needs.
            HeaderValue::Empty(colon)
        } else if TYPE_FIELDS.contains(&key.as_str()) {
            HeaderValue::Type(input.parse()?)
        } else if IDENT_FIELDS.contains(&key.as_str()) {
            HeaderValue::Ident(input.parse()?)
        } else if key == BOOL_FIELD {
            HeaderValue::Bool(input.parse::<LitBool>()?)
        } else if key == CRATE_FIELD {
            HeaderValue::Path(input.call(Path::parse_mod_style)?)
        } else {
            // Unknown field: read its value as a type or an expression so that the validator can
            // report the name and the rest of the header is still read.
            if input.parse::<Type>().is_err() {
                input.parse::<Expr>()?;
            }
            HeaderValue::Unknown
        };
        fields.push(HeaderField { attrs, name, value });
        if input.is_empty() {
            break;
        }
        input.parse::<Token![,]>()?;
    }
    Ok(fields)
}

/// Reads the sections; DSL-level mistakes go to `errors`.
fn read(raw: RawInput, errors: &mut Errors) -> FsmInput {
    let state = crate::validate::header_type(&raw.header, "state")
        .map_or_else(|| "State".to_owned(), crate::validate::type_text);
    let mut input = FsmInput {
        attrs: raw.attrs,
        vis: raw.vis,
        name: raw.name,
        header: raw.header,
        events: Vec::new(),
        finality_states: Vec::new(),
        entry_funcs: Vec::new(),
    };
    for (keyword, body) in raw.sections {
        match keyword.to_string().as_str() {
            "events" => {
                if let Some(events) = read_events(body, &state, errors) {
                    input.events.push(Section {
                        keyword,
                        content: events,
                    });
                }
            }
            "finality_states" => {
                match Punctuated::<Path, Token![,]>::parse_terminated.parse2(body) {
                    Ok(states) => input.finality_states.push(Section {
                        keyword,
                        content: states.into_iter().collect(),
                    }),
                    Err(error) => errors.push(error),
                }
            }
            "entry_funcs" => match parse_entry_funcs.parse2(body) {
                Ok(funcs) => input.entry_funcs.push(Section {
                    keyword,
                    content: funcs,
                }),
                Err(error) => errors.push(error),
            },
            other => errors.at(
                keyword.span(),
                format!(
                    "unknown section `{other}`{}",
                    did_you_mean(other, SECTIONS)
                        .unwrap_or_else(|| format!("; expected one of {}", list(SECTIONS)))
                ),
            ),
        }
    }
    input
}

fn parse_entry_funcs(input: ParseStream) -> syn::Result<Vec<EntryFuncDecl>> {
    let mut funcs = Vec::new();
    while !input.is_empty() {
        let states = Punctuated::<Path, Token![|]>::parse_separated_nonempty(input)?;
        input.parse::<Token![=>]>()?;
        let func: Ident = input.parse()?;
        funcs.push(EntryFuncDecl {
            states: states.into_iter().collect(),
            func,
        });
        if input.is_empty() {
            break;
        }
        input.parse::<Token![,]>()?;
    }
    Ok(funcs)
}

fn read_events(body: TokenStream, state: &str, errors: &mut Errors) -> Option<Vec<EventDecl>> {
    let chains = match Punctuated::<Expr, Token![,]>::parse_terminated.parse2(body) {
        Ok(chains) => chains,
        Err(error) => {
            errors.push(error);
            return None;
        }
    };
    Some(
        chains
            .iter()
            .filter_map(|chain| read_event(chain, state, errors))
            .collect(),
    )
}

/// Reads one `Event(code).From(..).To(..)...` chain.
fn read_event(chain: &Expr, state: &str, errors: &mut Errors) -> Option<EventDecl> {
    // Walk the method-call chain from its end back to its root `Event(..)` call.
    let mut calls = Vec::new();
    let mut cursor = chain;
    while let Expr::MethodCall(call) = cursor {
        calls.push(call);
        cursor = &call.receiver;
    }
    calls.reverse();

    let code = match read_event_root(cursor) {
        Ok(root) => root,
        Err(error) => {
            errors.push(error);
            return None;
        }
    };
    let mut has_unreadable_call = false;
    let calls = calls
        .into_iter()
        .filter_map(|call| match read_call(call, state) {
            Ok(call) => Some(call),
            Err(error) => {
                errors.push(error);
                has_unreadable_call = true;
                None
            }
        })
        .collect();
    Some(EventDecl {
        code,
        calls,
        has_unreadable_call,
    })
}

fn read_event_root(root: &Expr) -> syn::Result<Path> {
    let not_an_event = || {
        syn::Error::new_spanned(
            root,
            "an event starts with `Event(<event code>)`, e.g. `Event(MyEvent::Start).From(..).To(..)`",
        )
    };
    let Expr::Call(call) = root else {
        return Err(not_an_event());
    };
    let Expr::Path(func) = &*call.func else {
        return Err(not_an_event());
    };
    let Some(word) = func.path.get_ident() else {
        return Err(not_an_event());
    };
    if word != "Event" {
        return Err(syn::Error::new(
            word.span(),
            format!(
                "an event starts with `Event(<event code>)`, found `{word}`{}",
                did_you_mean(&word.to_string(), &["Event"]).unwrap_or_default()
            ),
        ));
    }
    let code = single_path(
        word,
        &call.args,
        "Event",
        "an event code, e.g. `Event(MyEvent::Start)`",
    )?;
    Ok(code)
}

fn read_call(call: &syn::ExprMethodCall, state: &str) -> syn::Result<BuilderCall> {
    let word = call.method.clone();
    let args = &call.args;
    match word.to_string().as_str() {
        "From" => {
            let state = single_path(&word, args, "From", "one status, e.g. `From(Status::New)`")?;
            Ok(BuilderCall::From { word, state })
        }
        "FromMany" => {
            if args.is_empty() {
                return Err(syn::Error::new(
                    word.span(),
                    "`FromMany` takes one or more statuses, e.g. `FromMany(Status::A, Status::B)`",
                ));
            }
            let states = args
                .iter()
                .map(|arg| {
                    as_path(
                        arg,
                        "`FromMany` takes statuses, e.g. `FromMany(Status::A, Status::B)`",
                    )
                })
                .collect::<syn::Result<Vec<_>>>()?;
            Ok(BuilderCall::FromMany { word, states })
        }
        "FromAny" => {
            no_args(&word, args)?;
            Ok(BuilderCall::FromAny { word })
        }
        "To" => {
            let state = single_path(&word, args, "To", "one status, e.g. `To(Status::Done)`")?;
            Ok(BuilderCall::To { word, state })
        }
        "ToNoChange" => {
            no_args(&word, args)?;
            Ok(BuilderCall::ToNoChange { word })
        }
        "ToJustRecord" => {
            no_args(&word, args)?;
            Ok(BuilderCall::ToJustRecord { word })
        }
        "Action" => {
            let action = read_action(&word, args, state)?;
            Ok(BuilderCall::Action {
                word,
                action: Box::new(action),
            })
        }
        "Event" => Err(syn::Error::new(
            word.span(),
            "`Event` starts a new event: separate events with a comma",
        )),
        other => Err(syn::Error::new(
            word.span(),
            format!(
                "unknown builder word `{other}`{}",
                did_you_mean(other, BUILDER_WORDS)
                    .unwrap_or_else(|| format!("; expected one of {}", list(BUILDER_WORDS)))
            ),
        )),
    }
}

const ACTION_FORMS: &str = "an action is a closure `|state: &mut State, arg: Type| { ..; Ok(()) }` \
     or a shared function with its signature, `name as fn(&mut State, Type)`";

fn read_action(
    word: &Ident,
    args: &Punctuated<Expr, Token![,]>,
    state: &str,
) -> syn::Result<ActionDecl> {
    let arg = one_arg(
        word,
        args,
        format!("`Action` takes exactly one action: {ACTION_FORMS}"),
    )?;
    match arg {
        Expr::Closure(closure) => Ok(ActionDecl::Closure(closure.clone())),
        Expr::Cast(cast) => {
            let Expr::Path(function) = &*cast.expr else {
                return Err(syn::Error::new_spanned(&cast.expr, ACTION_FORMS));
            };
            let Type::BareFn(signature) = &*cast.ty else {
                return Err(syn::Error::new_spanned(&cast.ty, ACTION_FORMS));
            };
            Ok(ActionDecl::Shared {
                function: function.path.clone(),
                signature: signature.clone(),
            })
        }
        Expr::Path(path) => Err(syn::Error::new_spanned(
            path,
            format!(
                "a shared action needs its signature so that the event's payload is known: \
                 write `{} as fn(&mut {state}, ..)`",
                crate::validate::path_text(&path.path)
            ),
        )),
        other => Err(syn::Error::new_spanned(other, ACTION_FORMS)),
    }
}

fn single_path(
    word: &Ident,
    args: &Punctuated<Expr, Token![,]>,
    name: &str,
    expected: &str,
) -> syn::Result<Path> {
    let message = format!("`{name}` takes {expected}");
    let arg = one_arg(word, args, &message)?;
    as_path(arg, &message)
}

/// The single argument of a builder call. Without arguments the error points at the word; with
/// several, at the arguments.
fn one_arg<'a>(
    word: &Ident,
    args: &'a Punctuated<Expr, Token![,]>,
    message: impl std::fmt::Display,
) -> syn::Result<&'a Expr> {
    match args.first() {
        Some(arg) if args.len() == 1 => Ok(arg),
        Some(_) => Err(syn::Error::new(args.span(), message)),
        None => Err(syn::Error::new(word.span(), message)),
    }
}

fn as_path(arg: &Expr, message: &str) -> syn::Result<Path> {
    match arg {
        Expr::Path(path) if path.qself.is_none() => Ok(path.path.clone()),
        other => Err(syn::Error::new_spanned(other, message)),
    }
}

fn no_args(word: &Ident, args: &Punctuated<Expr, Token![,]>) -> syn::Result<()> {
    if args.is_empty() {
        Ok(())
    } else {
        Err(syn::Error::new(
            args.span(),
            format!("`{word}` takes no arguments: write `{word}()`"),
        ))
    }
}

/// `a`, `b` or `c` as a readable list.
pub fn list(words: &[&str]) -> String {
    words
        .iter()
        .map(|word| format!("`{word}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
