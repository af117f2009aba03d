//! The `fsm!` procedural macro.
//!
//! This crate is a thin shim: the whole pipeline (parse → validate → lower → codegen) lives in
//! [`fsm_codegen`], an ordinary library, so that its stages can be unit-tested, snapshot-tested
//! and benchmarked without a compiler in the loop. See the `fsm-runtime` crate for the DSL
//! reference.

use proc_macro::TokenStream;

/// Declares a state machine from a go-statemachine style table.
///
/// See the `fsm-runtime` crate documentation for the full syntax and the generated items.
#[proc_macro]
pub fn fsm(input: TokenStream) -> TokenStream {
    fsm_codegen::expand(input.into()).into()
}
