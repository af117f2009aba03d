//! The expansion pipeline behind `fsm!`. (Placeholder while the pipeline lands.)

use proc_macro2::TokenStream;
use quote::quote;

/// Expands the body of an `fsm!` invocation.
pub fn expand(_input: TokenStream) -> TokenStream {
    quote! { ::core::compile_error!("fsm!: the expansion pipeline is not built yet"); }
}
