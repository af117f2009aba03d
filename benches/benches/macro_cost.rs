//! P5: the cost of expanding the retrieval provider's table, calling the expansion pipeline
//! directly (parse → validate → lower → codegen), as the compiler does once per build.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use proc_macro2::TokenStream;

/// The body of the `fsm!` invocation in `retrieval-provider/src/machine.rs`.
fn provider_table() -> TokenStream {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../retrieval-provider/src/machine.rs");
    let source = std::fs::read_to_string(&path).expect("the provider table is readable");
    let mut invocations = fsm_codegen::invocations_in(&source).expect("machine.rs parses");
    invocations.pop().expect("machine.rs invokes fsm!")
}

fn p5_macro_cost(c: &mut Criterion) {
    let table = provider_table();
    c.bench_function("p5_expand_provider_table", |b| {
        b.iter(|| fsm_codegen::expand(black_box(table.clone())));
    });
}

criterion_group!(benches, p5_macro_cost);
criterion_main!(benches);
