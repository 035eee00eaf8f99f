//! Raw → validated, collecting every problem with its location and a hint.
//!
//! This module holds the entry point, [`validate`], the `Checker` that collects problems
//! and warnings, and the label uniqueness rule shared by sources and drives. What each
//! section checks lives beside it: `sources`, `drives`, `sections` (retention and
//! notifiers) and `http` (what `backupman serve` reads).

mod compression;
mod drives;
mod encryption;
mod http;
mod notifiers;
mod sections;
mod sources;

use std::collections::HashMap;

use backupman_core::slugify;
use serde_saphyr::{Location, Spanned};

use crate::Loaded;
use crate::error::{ConfigError, Problem};
use crate::model::*;
use crate::raw::*;

use drives::drive;
use http::http;
use notifiers::{Notifiers, notifiers};
use sections::retention;
use sources::source;

struct Checker {
    problems: Vec<Problem>,
    warnings: Vec<String>,
    notes: Vec<String>,
    origin: String,
    /// Where each secret is written, and its option path: the permission check of the file
    /// tells a secret written in it from one given as `${VAR}` by these.
    secrets: Vec<(Location, String)>,
}

impl Checker {
    fn problem(
        &mut self,
        at: Location,
        path: String,
        message: impl Into<String>,
        hint: Option<&str>,
    ) {
        self.problems.push(Problem {
            line: at.line() as usize,
            column: at.column() as usize,
            path,
            message: message.into(),
            hint: hint.map(str::to_owned),
        });
    }

    fn warn(&mut self, at: Location, path: &str, message: &str) {
        let line = self.located(at, path, message);
        self.warnings.push(line);
    }

    fn note(&mut self, at: Location, path: &str, message: &str) {
        let line = self.located(at, path, message);
        self.notes.push(line);
    }

    fn located(&self, at: Location, path: &str, message: &str) -> String {
        format!("{}: line {}: {path}: {message}", self.origin, at.line())
    }

    /// Notes that the option at `path` holds a secret (when it is set and not empty).
    fn secret_at(&mut self, value: Option<&Spanned<String>>, path: impl Into<String>) {
        if let Some(v) = value.filter(|v| !v.value.trim().is_empty()) {
            self.secrets.push((v.defined, path.into()));
        }
    }

    /// A required, non-empty string.
    fn required(
        &mut self,
        value: &Option<Spanned<String>>,
        parent: Location,
        path: String,
        hint: &str,
    ) -> Option<String> {
        match value {
            None => {
                self.problem(parent, path, "missing required option", Some(hint));
                None
            }
            Some(v) if v.value.trim().is_empty() => {
                self.problem(v.referenced, path, "must not be empty", Some(hint));
                None
            }
            Some(v) => Some(v.value.trim().to_owned()),
        }
    }

    /// Options that belong to another provider are mistakes, not noise to ignore.
    fn not_for(&mut self, provider: &str, base: &str, present: &[(&str, Option<Location>)]) {
        for (name, at) in present {
            if let Some(at) = at {
                self.problem(
                    *at,
                    format!("{base}.{name}"),
                    format!("option `{name}` does not apply to provider `{provider}`"),
                    Some("remove it, or check the provider"),
                );
            }
        }
    }
}

fn loc<T>(v: &Option<Spanned<T>>) -> Option<Location> {
    v.as_ref().map(|s| s.referenced)
}

fn text(v: &Option<Spanned<String>>) -> Option<String> {
    v.as_ref()
        .map(|s| s.value.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// Validates what [`crate::raw::parse`] found; its problems and validation's are reported
/// together, sorted by line.
pub(crate) fn validate(parsed: Parsed, origin: &str, text: &str) -> Result<Loaded, ConfigError> {
    let Parsed {
        raw,
        problems: mut parse_problems,
        unset_lines,
    } = parsed;
    let Some(raw) = raw else {
        parse_problems.sort_by_key(|p| (p.line, p.column));
        return Err(ConfigError::Invalid {
            origin: origin.to_owned(),
            problems: parse_problems,
        });
    };
    let mut c = Checker {
        problems: Vec::new(),
        warnings: Vec::new(),
        notes: Vec::new(),
        origin: origin.to_owned(),
        secrets: Vec::new(),
    };

    let sources_raw = raw.data_sources.unwrap_or_default();
    // Labels are compared as written, so a duplicate is reported even when the item has
    // other problems too.
    unique_labels(
        &mut c,
        "data_sources",
        labels_of(&sources_raw, |s| &s.label),
        true,
    );
    let encryption = raw
        .encryption
        .as_ref()
        .and_then(|e| encryption::encryption(&mut c, "encryption", e));
    let signing = raw
        .signing
        .as_ref()
        .and_then(|s| encryption::signing(&mut c, s));
    let retry = raw
        .retry
        .as_ref()
        .map(|r| sources::retry(&mut c, "retry", r))
        .unwrap_or_default();
    let sources = sources_raw
        .iter()
        .enumerate()
        .filter_map(|(i, s)| source(&mut c, i, s, encryption.as_ref(), retry))
        .collect::<Vec<_>>();
    sources::whole_server_folders(&mut c, &sources);
    let drives_raw = raw.drives.unwrap_or_default();
    if drives_raw.is_empty() {
        c.problems.push(Problem {
            line: 0,
            column: 0,
            path: "drives".into(),
            message: "no drives configured".into(),
            hint: Some("add at least one drive, e.g. `- provider: local` with a `folder`".into()),
        });
    }
    unique_labels(
        &mut c,
        "drives",
        labels_of(&drives_raw, |d| &d.label),
        false,
    );
    let drives = drives_raw
        .iter()
        .enumerate()
        .filter_map(|(i, d)| drive(&mut c, i, d))
        .collect::<Vec<_>>();

    let retention = raw.retention.as_ref().and_then(|r| retention(&mut c, r));
    let compression = compression::compression(&mut c, raw.compression.as_ref());
    let abort_incomplete_after_hours = raw
        .incomplete_uploads
        .as_ref()
        .and_then(|i| i.value.abort_after_hours.as_ref())
        .map_or(DEFAULT_ABORT_INCOMPLETE_AFTER_HOURS, |h| h.value);
    let concurrency = sections::concurrency(&mut c, raw.concurrency.as_ref());
    let Notifiers {
        webhooks,
        mail,
        slack,
        discord,
        pings,
    } = raw
        .notifiers
        .as_ref()
        .map(|n| notifiers(&mut c, n))
        .unwrap_or_default();
    let http = raw
        .http
        .as_ref()
        .map(|h| http(&mut c, h))
        .unwrap_or_default();
    if let Some(database) = &raw.database {
        c.note(
            database.referenced,
            "database",
            "not needed: backupman keeps no database of its own, the drives hold the record (a manifest beside each backup); this section is ignored",
        );
    }

    // A problem on a line whose variable is unset is about the variable's stand-in.
    c.problems
        .retain(|p| p.line == 0 || !unset_lines.contains(&p.line));
    c.problems.append(&mut parse_problems);
    if !c.problems.is_empty() {
        c.problems.sort_by_key(|p| (p.line, p.column));
        return Err(ConfigError::Invalid {
            origin: origin.to_owned(),
            problems: c.problems,
        });
    }
    Ok(Loaded {
        config: Config {
            sources: sources.into_iter().map(|(s, _)| s).collect(),
            drives: drives.into_iter().map(|(d, _)| d).collect(),
            retention,
            compression,
            encryption,
            signing,
            abort_incomplete_after_hours,
            concurrency,
            webhooks,
            mail,
            slack,
            discord,
            pings,
            http,
        },
        literal_secrets: written_secrets(&c.secrets, text),
        warnings: c.warnings,
        notes: c.notes,
    })
}

/// The secrets of `secrets` written in `text` itself, as `path (line N)`: a value that is not
/// (or not only) a `${VAR}` substitution, or that is single-quoted, which keeps `${` literal.
/// The text is the file as written: substitution happens inside the parser, and the
/// preparation of `substitute.rs` adds characters only inside values, never before them.
fn written_secrets(secrets: &[(Location, String)], text: &str) -> Vec<String> {
    secrets
        .iter()
        .filter(|(at, _)| {
            let line = text.lines().nth((at.line() as usize).saturating_sub(1));
            let value: String = line
                .unwrap_or("")
                .chars()
                .skip((at.column() as usize).saturating_sub(1))
                .collect();
            let value = value.trim();
            value.starts_with('\'') || !value.contains("${")
        })
        .map(|(at, path)| format!("{path} (line {})", at.line()))
        .collect()
}

/// A day: longer than any backup runs, so no upload still being written is discarded.
const DEFAULT_ABORT_INCOMPLETE_AFTER_HOURS: u32 = 24;

fn labels_of<T>(
    items: &[Spanned<T>],
    label: impl Fn(&T) -> &Option<Spanned<String>>,
) -> Vec<(&str, Location, usize)> {
    items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| {
            label(&item.value)
                .as_ref()
                .filter(|l| !l.value.trim().is_empty())
                .map(|l| (l.value.trim(), l.referenced, i))
        })
        .collect()
}

fn unique_labels(
    c: &mut Checker,
    section: &str,
    labels: Vec<(&str, Location, usize)>,
    by_slug: bool,
) {
    let mut seen: HashMap<String, (usize, &str)> = HashMap::new();
    for (label, at, i) in labels {
        let path = format!("{section}[{i}].label");
        // Source labels name folders, through the one slug rule the engine uses: two labels
        // with one slug would share a folder, and retention of one would delete the other's.
        let key = if by_slug {
            let slug = slugify(label);
            if slug.is_empty() {
                c.problem(
                    at,
                    path,
                    format!("label {label:?} has no letter or digit to name its backup folder"),
                    Some("use a label with at least one letter or digit, e.g. `label: App DB`"),
                );
                continue;
            }
            slug
        } else {
            label.to_lowercase()
        };
        match seen.get(&key) {
            Some((first, first_label)) if first_label.to_lowercase() == label.to_lowercase() => {
                c.problem(
                    at,
                    path,
                    format!("label {label:?} is already used by {section}[{first}]"),
                    Some("every label must be unique"),
                );
            }
            Some((first, first_label)) => c.problem(
                at,
                path,
                format!(
                    "label {label:?} and {first_label:?} ({section}[{first}]) both name the backup folder {key:?}"
                ),
                Some("source labels must differ in more than case and punctuation: the folder keeps letters and digits only"),
            ),
            None => {
                seen.insert(key, (i, label));
            }
        }
    }
}
