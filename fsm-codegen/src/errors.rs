//! The error context every stage reports into.
//!
//! Like serde_derive's `Ctxt`, it collects every error of an invocation instead of stopping at
//! the first one, so that a user fixing a table sees all of its mistakes in one build.

use std::fmt::Display;

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;

/// Collected diagnostics of one invocation.
#[derive(Debug, Default)]
pub struct Errors {
    errors: Vec<syn::Error>,
}

impl Errors {
    /// An empty collection.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records an error at `span`.
    pub fn at(&mut self, span: Span, message: impl Display) {
        self.errors.push(syn::Error::new(span, message));
    }

    /// Records an error spanning all of `tokens` (first to last token).
    pub fn spanned(&mut self, tokens: &impl ToTokens, message: impl Display) {
        self.errors
            .push(syn::Error::new_spanned(tokens.to_token_stream(), message));
    }

    /// Records an error produced by syn.
    pub fn push(&mut self, error: syn::Error) {
        self.errors.push(error);
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// The recorded messages, in order (for tests).
    pub fn messages(&self) -> Vec<String> {
        self.errors.iter().map(ToString::to_string).collect()
    }

    /// One `compile_error!` per recorded error, each at its own span.
    pub fn to_compile_errors(&self) -> TokenStream {
        self.errors
            .iter()
            .map(syn::Error::to_compile_error)
            .collect()
    }
}
