//! What the configuration tests share: reading back the problems a text is refused with.

use backupman_config::parse;

/// (line, path, message) of every problem `text` is refused with; panics when it loads.
pub fn problems_of(
    text: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Vec<(usize, String, String)> {
    match parse(text, "config.yml", env) {
        Ok(l) => panic!("expected problems, got {:?}", l.config),
        Err(e) => e
            .problems()
            .into_iter()
            .map(|p| (p.line, p.path, p.message))
            .collect(),
    }
}
