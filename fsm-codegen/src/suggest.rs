//! "Did you mean" suggestions for misspelled words.

/// `"; did you mean `X`?"` for the candidate closest to `word`, if one is close enough.
///
/// Closeness is normalised Damerau-Levenshtein similarity on the lower-cased words, so `Form`
/// suggests `From` and `tonochange` suggests `ToNoChange`.
pub fn did_you_mean(word: &str, candidates: &[&str]) -> Option<String> {
    let lower = word.to_lowercase();
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
    fn suggests_nothing_for_unrelated_words() {
        assert_eq!(did_you_mean("Transmogrify", BUILDER_WORDS), None);
    }
}
