//! Expansion snapshots: what `fsm!` generates, formatted with prettyplease and committed
//! under `tests/snapshots/` so that a change to the generated code is reviewed like code.
//!
//! Update after an intended change with `INSTA_UPDATE=always cargo test -p fsm-tests --test
//! expand` (or `cargo insta review`), then read the diff.

use std::path::Path;

use proc_macro2::TokenStream;

/// Expands an `fsm!` body and formats it as a Rust file.
fn expand_pretty(body: TokenStream) -> String {
    let expanded = fsm_codegen::expand(body);
    let file: syn::File = syn::parse2(expanded).expect("the expansion is a valid Rust file");
    prettyplease::unparse(&file)
}

/// Reads a fixture (an `fsm!` body; `//` comments are dropped by the tokenizer).
fn fixture(name: &str) -> TokenStream {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("fixture is readable");
    text.parse().expect("fixture tokenizes")
}

/// The body of the `fsm!` invocation in `retrieval-provider/src/machine.rs`, so the snapshot
/// follows the real table rather than a copy of it.
fn provider_table() -> TokenStream {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../retrieval-provider/src/machine.rs");
    let source = std::fs::read_to_string(&path).expect("the provider table is readable");
    let mut invocations = fsm_codegen::invocations_in(&source).expect("machine.rs parses");
    assert_eq!(invocations.len(), 1, "machine.rs invokes fsm! once");
    invocations.remove(0)
}

#[test]
fn retrieval_provider_machine() {
    insta::assert_snapshot!(expand_pretty(provider_table()));
}

#[test]
fn minimal_machine() {
    insta::assert_snapshot!(expand_pretty(fixture("minimal.fsm")));
}

#[test]
fn every_builder_word() {
    insta::assert_snapshot!(expand_pretty(fixture("every_builder_word.fsm")));
}

#[test]
fn fallback_after_an_error() {
    let expanded = expand_pretty(fixture("fallback.fsm"));
    assert!(expanded.contains("compile_error!"));
    assert!(
        !expanded.contains("__action_knock"),
        "no action bodies after an error"
    );
    insta::assert_snapshot!(expanded);
}
