//! Configuration errors: each problem with its line, option path and hint.

use std::fmt;

/// One problem found in a configuration, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line; 0 when unknown.
    pub line: usize,
    pub column: usize,
    /// Option path such as `drives[1].region`.
    pub path: String,
    pub message: String,
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

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// The text is not valid YAML, or a value has the wrong type, or a key is unknown.
    #[error("{origin}: {problem}")]
    Syntax { origin: String, problem: Problem },
    /// The YAML is well-formed but the configuration is not usable.
    #[error("{}", list(origin, problems))]
    Invalid {
        origin: String,
        problems: Vec<Problem>,
    },
}

impl ConfigError {
    /// Every problem, whatever the variant, for callers that show or test them one by one.
    pub fn problems(&self) -> Vec<Problem> {
        match self {
            Self::Read { .. } => Vec::new(),
            Self::Syntax { problem, .. } => vec![problem.clone()],
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
