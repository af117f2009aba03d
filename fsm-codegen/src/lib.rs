//! The expansion pipeline behind `fsm!`, as an ordinary library.
//!
//! ```text
//! tokens ──parse──▶ ast ──validate──▶ (errors) ──lower──▶ ir ──codegen──▶ tokens
//! ```
//!
//! * [`parse`]: syn reads the Rust grammar; the DSL (builder words, sections, header) is read
//!   leniently into [`ast`], keeping every token's span.
//! * [`validate`]: every DSL rule, reported into one [`errors::Errors`] context so that all
//!   mistakes of an invocation show up together.
//! * [`lower`]: the syntax tree becomes the [`ir`], which is what the unit tests compare (with
//!   the `test-support` feature, which derives `Debug + PartialEq` on it and turns on syn's
//!   `extra-traits`; normal builds need neither).
//! * [`codegen`]: the IR becomes items. After a validation error the code generator still emits
//!   the machine struct, input enum, entry trait and a stub transition next to the
//!   `compile_error!`s, so the rest of the user's crate does not fail in a cascade.
//!
//! Every stage is pure: no I/O, no global state, and no panics on any input.

pub mod ast;
pub mod codegen;
pub mod errors;
pub mod ir;
pub mod lower;
pub mod parse;
pub mod suggest;
pub mod validate;

use proc_macro2::TokenStream;

use crate::errors::Errors;

/// Expands the body of an `fsm!` invocation into items (and `compile_error!`s, if any).
pub fn expand(input: TokenStream) -> TokenStream {
    let mut errors = Errors::new();
    let Some(ast) = parse::parse(input, &mut errors) else {
        return errors.to_compile_errors();
    };
    validate::validate(&ast, &mut errors);
    let mode = if errors.is_empty() {
        codegen::Mode::Full
    } else {
        codegen::Mode::Fallback
    };
    let items = lower::lower(&ast)
        .map(|machine| codegen::generate(&machine, mode))
        .unwrap_or_default();
    let diagnostics = errors.to_compile_errors();
    quote::quote! {
        #diagnostics
        #items
    }
}

/// The bodies of the `fsm!` invocations at the top level of a Rust source file, in order.
///
/// Tools use it to expand a table straight from its source (expansion snapshots, the
/// macro-cost benchmark) without copying the table.
///
/// # Errors
///
/// The syn error when `source` is not a Rust file.
pub fn invocations_in(source: &str) -> syn::Result<Vec<TokenStream>> {
    let file = syn::parse_file(source)?;
    Ok(file
        .items
        .into_iter()
        .filter_map(|item| match item {
            syn::Item::Macro(item) if item.mac.path.segments.last()?.ident == "fsm" => {
                Some(item.mac.tokens)
            }
            _ => None,
        })
        .collect())
}

/// Parses, validates and lowers an invocation: the IR, or every diagnostic it produced.
///
/// This is the entry point of the IR unit tests.
pub fn lower_to_ir(input: TokenStream) -> Result<ir::Machine, Vec<String>> {
    let mut errors = Errors::new();
    let ast = parse::parse(input, &mut errors).ok_or_else(|| errors.messages())?;
    validate::validate(&ast, &mut errors);
    if !errors.is_empty() {
        return Err(errors.messages());
    }
    lower::lower(&ast).ok_or_else(|| vec!["missing header fields".to_owned()])
}
