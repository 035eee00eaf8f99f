//! Configuration errors: each problem with its line, option path and hint.

use std::fmt;

/// One problem found in a configuration, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line; 0 when unknown.
    pub line: usize,
    /// 1-based column on that line; 0 when unknown.
    pub column: usize,
    /// Option path such as `drives[1].region`.
    pub path: String,
    /// What is wrong, e.g. `missing required option`.
    pub message: String,
    /// How to fix it, when there is a suggestion, e.g. ``did you mean `force_path_style`?``.
    pub hint: Option<String>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "line {}: ", self.line)?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " (hint: {hint})")?;
        }
        Ok(())
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file could not be read (missing, or not readable).
    #[error("cannot read configuration {path}: {source}")]
    Read {
        /// The configuration file's path.
        path: String,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The configuration is not usable: YAML that does not parse, unknown options, values of
    /// the wrong type, unset variables, and what validation finds, all at once.
    #[error("{}", list(origin, problems))]
    Invalid {
        /// The configuration file's name, as shown in messages.
        origin: String,
        /// Every problem found, sorted by line.
        problems: Vec<Problem>,
    },
}

impl ConfigError {
    /// Every problem, whatever the variant, for callers that show or test them one by one.
    pub fn problems(&self) -> Vec<Problem> {
        match self {
            Self::Read { .. } => Vec::new(),
            Self::Invalid { problems, .. } => problems.clone(),
        }
    }
}

fn list(origin: &str, problems: &[Problem]) -> String {
    let mut out = format!(
        "{origin}: {} problem{} in the configuration:",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    for p in problems {
        out.push_str("\n  - ");
        out.push_str(&p.to_string());
    }
    out
}
