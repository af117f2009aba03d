//! Compile-time behaviour of `fsm!`, checked with trybuild.
//!
//! * `ui/fail/*.rs`: each case breaks one rule of the DSL (or two, where the case checks
//!   that both are reported) and its `.stderr` pins the diagnostic and the tokens it points at.
//! * `ui/pass/*.rs`: tables that must compile, covering every builder word and the
//!   optional parts of the header.
//!
//! Regenerate the expected output after an intended change to a diagnostic with
//! `TRYBUILD=overwrite cargo test -p fsm-tests --test compile_fail`, then read the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("ui/fail/*.rs");
    t.pass("ui/pass/*.rs");
}
