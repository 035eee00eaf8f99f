//! "did you mean": the one rule that proposes a known word for a misspelt one (an option,
//! a provider).

/// ``did you mean `CANDIDATE`?`` for the candidate closest to `word`: a few letters apart
/// (`force_path_stlye`, `postgress`), or one holding the other (`hostname` for `host`).
pub(crate) fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let word = word.trim().to_ascii_lowercase();
    candidates
        .into_iter()
        .filter_map(|c| {
            let d = strsim::levenshtein(&word, c);
            let holds = c.len() >= 4 && (word.contains(c) || c.contains(word.as_str()));
            (d <= 3 || holds).then_some((d, c))
        })
        .min()
        .map(|(_, c)| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::did_you_mean;

    #[test]
    fn close_or_contained_words_are_proposed() {
        let options = ["host", "port", "db_name", "force_path_style"];
        assert_eq!(
            did_you_mean("hostname", options).as_deref(),
            Some("did you mean `host`?")
        );
        assert_eq!(
            did_you_mean("force_path_stlye", options).as_deref(),
            Some("did you mean `force_path_style`?")
        );
        assert_eq!(
            did_you_mean("postgress", ["postgres", "mysql"]).as_deref(),
            Some("did you mean `postgres`?")
        );
        assert_eq!(did_you_mean("compression_level", options), None);
    }
}
