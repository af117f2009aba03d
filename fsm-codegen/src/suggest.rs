//! "Did you mean" suggestions for misspelled words.

/// `"; did you mean `X`?"` for the candidate closest to `word`, if one is close enough.
///
/// Closeness is normalised Damerau-Levenshtein similarity on the lower-cased words, so `Form`
/// suggests `From` and `tonochange` suggests `ToNoChange`; a word of four or more letters that
/// begins a candidate (`consume_all_events`) suggests that candidate.
pub fn did_you_mean(word: &str, candidates: &[&str]) -> Option<String> {
    let lower = word.to_lowercase();
    let begun = candidates
        .iter()
        .filter(|_| lower.len() >= 4)
        .find(|candidate| candidate.to_lowercase().starts_with(&lower) && **candidate != word);
    if let Some(candidate) = begun {
        return Some(format!("; did you mean `{candidate}`?"));
    }
    candidates
        .iter()
        .map(|candidate| {
            let score = strsim::normalized_damerau_levenshtein(&lower, &candidate.to_lowercase());
            (score, *candidate)
        })
        .filter(|(score, _)| *score >= 0.5)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| format!("; did you mean `{candidate}`?"))
}

#[cfg(test)]
mod tests {
    use super::did_you_mean;
    use crate::parse::BUILDER_WORDS;

    #[test]
    fn suggests_the_nearest_builder_word() {
        assert_eq!(
            did_you_mean("Form", BUILDER_WORDS).as_deref(),
            Some("; did you mean `From`?")
        );
        assert_eq!(
            did_you_mean("ToNochange", BUILDER_WORDS).as_deref(),
            Some("; did you mean `ToNoChange`?")
        );
        assert_eq!(
            did_you_mean("FromAll", BUILDER_WORDS).as_deref(),
            Some("; did you mean `FromAny`?")
        );
    }

    #[test]
    fn suggests_the_word_a_prefix_begins() {
        let fields = ["state", "consume_all_events_before_entry_funcs"];
        assert_eq!(
            did_you_mean("consume_all_events", &fields).as_deref(),
            Some("; did you mean `consume_all_events_before_entry_funcs`?")
        );
    }

    #[test]
    fn suggests_nothing_for_unrelated_words() {
        assert_eq!(did_you_mean("Transmogrify", BUILDER_WORDS), None);
    }
}
