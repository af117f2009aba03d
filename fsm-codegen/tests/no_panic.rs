//! The expansion never panics, whatever the tokens: random token soups built from the DSL's
//! own vocabulary, and valid tables with tokens deleted or repeated, must come back as items
//! and/or `compile_error!`s.

use proc_macro2::TokenStream;
use proptest::prelude::*;

const VALID: &str = r"
    pub machine M { state: Rec, status: S, event: E, input: MInput, entry: MEntry,
        consume_all_events_before_entry_funcs: true }
    events {
        Event(E::Go).From(S::A).To(S::B).FromMany(S::B, S::C).ToNoChange()
            .Action(|rec: &mut Rec, n: u64| { rec.n = n; Ok(()) }),
        Event(E::Back).FromAny().ToJustRecord().Action(shared as fn(&mut Rec, String)),
    }
    finality_states { S::Done }
    entry_funcs { S::B | S::C => on_b }
";

const VOCABULARY: &[&str] = &[
    "machine",
    "M",
    "pub",
    "{",
    "}",
    "(",
    ")",
    ",",
    ".",
    ":",
    "|",
    "=>",
    "::",
    "Event",
    "From",
    "FromMany",
    "FromAny",
    "To",
    "ToNoChange",
    "ToJustRecord",
    "Action",
    "Form",
    "events",
    "finality_states",
    "entry_funcs",
    "state",
    "status",
    "event",
    "input",
    "entry",
    "Rec",
    "S::A",
    "S::B",
    "E::Go",
    "true",
    "&",
    "mut",
    "as",
    "fn",
    "Ok(())",
    "42",
    "\"text\"",
    "#[doc = \"x\"]",
];

fn expands_without_panic(text: &str) {
    // Unbalanced delimiters are rejected by the tokenizer before the macro ever runs.
    if let Ok(tokens) = text.parse::<TokenStream>() {
        let _ = fsm_codegen::expand(tokens);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn token_soup(words in prop::collection::vec(prop::sample::select(VOCABULARY), 0..60)) {
        expands_without_panic(&words.join(" "));
    }

    #[test]
    fn valid_table_with_a_token_removed_or_repeated(index in 0usize..400, repeat in any::<bool>()) {
        let words: Vec<&str> = VALID.split_whitespace().collect();
        let index = index % words.len();
        let mut mutated = words.clone();
        if repeat {
            mutated.insert(index, words[index]);
        } else {
            mutated.remove(index);
        }
        expands_without_panic(&mutated.join(" "));
    }
}

#[test]
fn the_unmutated_table_expands_without_errors() {
    let expanded = fsm_codegen::expand(VALID.parse().unwrap()).to_string();
    assert!(!expanded.contains("compile_error"), "{expanded}");
}
