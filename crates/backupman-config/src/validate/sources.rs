//! Checks a `data_sources` entry: its provider, the options that provider needs (a
//! `db_path` for SQLite, a `db_name` or `databases` for servers), the TLS mode and the port,
//! table exclusions, `retry` and its own `schedule`.

use std::path::PathBuf;
use std::time::Duration;

use serde_saphyr::{Location, Spanned};

use backupman_core::{Recipients, slugify};

use super::encryption::encryption;
use super::http::backup_job;
use super::{Checker, loc, text};
use crate::HooksConfig;
use crate::model::*;
use crate::raw::*;

const TLS_MODES: &[&str] = &["disable", "prefer", "require", "verify-ca", "verify-full"];

pub(super) fn source(
    c: &mut Checker,
    i: usize,
    s: &Spanned<RawSource>,
    default_encryption: Option<&Recipients>,
    default_retry: RetryConfig,
) -> Option<(SourceConfig, Location)> {
    let base = format!("data_sources[{i}]");
    let at = s.referenced;
    let s = &s.value;
    let label = c.required(
        &s.label,
        at,
        format!("{base}.label"),
        "a name for this database, e.g. `label: App DB`",
    );
    let provider = match s.provider.as_ref() {
        None => {
            c.problem(
                at,
                format!("{base}.provider"),
                "missing required option",
                Some("one of postgres, mysql, mariadb, sqlite"),
            );
            None
        }
        Some(p) => match p.value.trim().to_ascii_lowercase().as_str() {
            "postgres" | "postgresql" => Some(SourceProvider::Postgres),
            "mysql" => Some(SourceProvider::Mysql),
            "mariadb" => Some(SourceProvider::Mariadb),
            "sqlite" | "sqlite3" => Some(SourceProvider::Sqlite),
            other => {
                let hint = crate::suggest::did_you_mean(
                    other,
                    ["postgres", "postgresql", "mysql", "mariadb", "sqlite"],
                )
                .map_or_else(
                    || "one of postgres, mysql, mariadb, sqlite".to_owned(),
                    |d| format!("{d} (one of postgres, mysql, mariadb, sqlite)"),
                );
                c.problem(
                    p.referenced,
                    format!("{base}.provider"),
                    format!("unknown provider {other:?}"),
                    Some(&hint),
                );
                None
            }
        },
    };
    let tls = s.tls.as_ref().and_then(|t| match &t.value {
        RawTls::Flag(true) => Some("require".to_owned()),
        RawTls::Flag(false) => Some("disable".to_owned()),
        RawTls::Mode(mode) if TLS_MODES.contains(&mode.as_str()) => Some(mode.clone()),
        RawTls::Mode(mode) if original_tls(mode).is_some() => original_tls(mode).map(str::to_owned),
        RawTls::Mode(mode) => {
            c.problem(
                t.referenced,
                format!("{base}.tls"),
                format!("unknown TLS mode {mode:?}"),
                Some("true, false, or one of disable, prefer, require, verify-ca, verify-full (the original's skip-verify and preferred are accepted too)"),
            );
            None
        }
    });
    let hooks = s.hooks.as_ref().map(|h| hooks(c, &base, h));
    c.secret_at(s.password.as_ref(), format!("{base}.password"));
    let encryption = match &s.encryption {
        Some(own) => encryption(c, &format!("{base}.encryption"), own),
        None => default_encryption.cloned(),
    };
    let retry = s
        .retry
        .as_ref()
        .map_or(default_retry, |r| retry(c, &format!("{base}.retry"), r));
    let schedule = s
        .schedule
        .as_ref()
        .and_then(|job| backup_job(c, &format!("{base}.schedule"), job));
    let exclude_tables = table_names(c, &base, "exclude_tables", &s.exclude_tables);
    let exclude_table_data = table_names(c, &base, "exclude_table_data", &s.exclude_table_data);
    let provider = provider?;
    let tmp_folder = text(&s.tmp_folder).map(PathBuf::from);
    if let (Some(raw), true) = (&s.tmp_folder, provider != SourceProvider::Sqlite) {
        c.note(
            raw.referenced,
            &format!("{base}.tmp_folder"),
            "unused: a server dump streams from the dump tool to the drives, so nothing is staged",
        );
    }
    let mut db_name = text(&s.db_name);
    let mut db_path = None;
    let mut databases = None;
    match provider {
        SourceProvider::Sqlite => {
            db_path = c
                .required(
                    &s.db_path,
                    at,
                    format!("{base}.db_path"),
                    "the SQLite database file, e.g. `db_path: /var/lib/app/app.db`",
                )
                .map(PathBuf::from);
            c.not_for(
                "sqlite",
                &base,
                &[
                    ("host", loc(&s.host)),
                    ("port", loc(&s.port)),
                    ("user", loc(&s.user)),
                    ("password", loc(&s.password)),
                    ("tls", loc(&s.tls)),
                    ("databases", loc(&s.databases)),
                    ("exclude", loc(&s.exclude)),
                    ("exclude_tables", loc(&s.exclude_tables)),
                    ("exclude_table_data", loc(&s.exclude_table_data)),
                ],
            );
            if db_name.is_none() {
                db_name = db_path.as_ref().map(|p: &PathBuf| p.display().to_string());
            }
        }
        _ => {
            match (&s.databases, &s.db_name) {
                (Some(_), Some(n)) => c.problem(
                    n.referenced,
                    format!("{base}.db_name"),
                    "`db_name` and `databases` are both given",
                    Some("keep `db_name` for one database, or `databases` for several"),
                ),
                (Some(d), None) => databases = selection(c, &base, provider, d, &s.exclude),
                (None, _) => {
                    db_name = c.required(
                        &s.db_name,
                        at,
                        format!("{base}.db_name"),
                        "the database to dump, e.g. `db_name: app`, or `databases: all` for every database of the server",
                    );
                    if let Some(e) = &s.exclude {
                        c.problem(
                            e.referenced,
                            format!("{base}.exclude"),
                            "`exclude` needs `databases`",
                            Some("`exclude` leaves databases out of `databases: all` or a list; for tables use `exclude_tables`"),
                        );
                    }
                }
            }
            c.not_for(provider.as_str(), &base, &[("db_path", loc(&s.db_path))]);
        }
    }
    if let Some(p) = &s.port
        && p.value == 0
    {
        c.problem(
            p.referenced,
            format!("{base}.port"),
            "port 0 is not a port",
            Some("the server's TCP port, e.g. 5432 or 3306"),
        );
    }
    Some((
        SourceConfig {
            label: label?,
            provider,
            host: text(&s.host).unwrap_or_else(|| "127.0.0.1".to_owned()),
            port: s
                .port
                .as_ref()
                .map(|p| p.value)
                .or(provider.default_port())
                .unwrap_or(0),
            db_name,
            user: text(&s.user),
            password: s.password.as_ref().map(|p| Secret::new(p.value.clone())),
            tls,
            db_path,
            dump_tool: text(&s.dump_tool_path).map(PathBuf::from),
            dump_options: s
                .dump_options
                .as_ref()
                .map(|o| o.value.clone())
                .unwrap_or_default(),
            tmp_folder,
            hooks: hooks.unwrap_or_default(),
            encryption,
            databases,
            exclude_tables,
            exclude_table_data,
            retry,
            schedule,
            part_of: None,
        },
        at,
    ))
}

/// `databases` and `exclude` of a whole-server source.
fn selection(
    c: &mut Checker,
    base: &str,
    provider: SourceProvider,
    d: &Spanned<RawDatabases>,
    exclude: &Option<Spanned<Vec<Spanned<String>>>>,
) -> Option<DatabaseSelection> {
    let path = format!("{base}.databases");
    let hint = "`databases: all`, or a list such as `databases: [app, shop]`";
    let databases = match &d.value {
        RawDatabases::Word(w) if w.trim().eq_ignore_ascii_case("all") => Some(Databases::All),
        RawDatabases::Word(w) => {
            c.problem(
                d.referenced,
                path.clone(),
                format!("{w:?} is neither `all` nor a list"),
                Some(hint),
            );
            None
        }
        RawDatabases::List(names) if names.is_empty() => {
            c.problem(d.referenced, path.clone(), "the list is empty", Some(hint));
            None
        }
        RawDatabases::List(names) => {
            let mut out: Vec<String> = Vec::new();
            for (i, n) in names.iter().enumerate() {
                let name = n.trim();
                let at = format!("{path}[{i}]");
                if name.is_empty() {
                    c.problem(d.referenced, at, "must not be empty", Some(hint));
                } else if out.iter().any(|o| o == name) {
                    c.problem(d.referenced, at, format!("{name:?} is listed twice"), None);
                } else if provider == SourceProvider::Postgres && name == GLOBALS {
                    c.problem(
                        d.referenced,
                        at,
                        format!("a database named {GLOBALS:?} would share the folder of the server's globals (roles and tablespaces), which every PostgreSQL whole-server source backs up"),
                        Some("back that database up with a source of its own (`db_name`)"),
                    );
                } else {
                    out.push(name.to_owned());
                }
            }
            Some(Databases::Only(out))
        }
    };
    let mut patterns = Vec::new();
    for (i, p) in exclude.iter().flat_map(|e| &e.value).enumerate() {
        match DatabasePattern::new(p.value.trim()) {
            Ok(pattern) if !p.value.trim().is_empty() => patterns.push(pattern),
            Ok(_) => c.problem(
                p.referenced,
                format!("{base}.exclude[{i}]"),
                "must not be empty",
                Some("a database name or a glob such as `test_*`"),
            ),
            Err(why) => c.problem(
                p.referenced,
                format!("{base}.exclude[{i}]"),
                format!("invalid pattern {:?}: {why}", p.value),
                Some(
                    "a database name or a glob: `*` any characters, `?` one, `[abc]` one of a set",
                ),
            ),
        }
    }
    Some(DatabaseSelection {
        databases: databases?,
        exclude: patterns,
    })
}

/// `exclude_tables` / `exclude_table_data`: table names (`table` or `schema.table`).
fn table_names(
    c: &mut Checker,
    base: &str,
    option: &str,
    names: &Option<Spanned<Vec<Spanned<String>>>>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (i, n) in names.iter().flat_map(|n| &n.value).enumerate() {
        let name = n.value.trim();
        if name.is_empty() {
            c.problem(
                n.referenced,
                format!("{base}.{option}[{i}]"),
                "must not be empty",
                Some("a table name, e.g. `audit_log` (PostgreSQL: `schema.table` or a pattern such as `logs_*`)"),
            );
        } else {
            out.push(name.to_owned());
        }
    }
    out
}

/// `retry` (top level or a source's): `attempts` at least 1, `delay_seconds` the first wait.
pub(super) fn retry(c: &mut Checker, base: &str, r: &Spanned<RawRetry>) -> RetryConfig {
    let mut out = RetryConfig::default();
    if let Some(a) = &r.value.attempts {
        if a.value == 0 || a.value > MAX_RETRY_ATTEMPTS {
            c.problem(
                a.referenced,
                format!("{base}.attempts"),
                format!("attempts must be from 1 to {MAX_RETRY_ATTEMPTS}"),
                Some("tries in all, the first included: 3 tries twice more after a failure"),
            );
        } else {
            out.attempts = a.value;
        }
    }
    if let Some(d) = &r.value.delay_seconds {
        out.delay = Duration::from_secs(d.value);
    }
    out
}

/// Enough to ride out a restart of a database server; more only delays the alert.
const MAX_RETRY_ATTEMPTS: u32 = 10;

/// A whole-server source's databases go in `{slug}-{database}/` (the one slug rule applied to
/// `{label}/{database}`): no other source may have a folder there, or listings and retention
/// of the two would mix.
pub(super) fn whole_server_folders(c: &mut Checker, sources: &[(SourceConfig, Location)]) {
    for (server, _) in sources.iter().filter(|(s, _)| s.databases.is_some()) {
        let prefix = format!("{}-", slugify(&server.label));
        for (other, at) in sources {
            let slug = slugify(&other.label);
            if other.label != server.label && slug.starts_with(&prefix) {
                let i = sources
                    .iter()
                    .position(|(s, _)| s.label == other.label)
                    .unwrap_or_default();
                c.problem(
                    *at,
                    format!("data_sources[{i}].label"),
                    format!(
                        "the folder of {:?} ({slug:?}) lies among those of the whole-server source {:?}, whose databases go in {prefix}<database>",
                        other.label, server.label
                    ),
                    Some("choose a label whose folder does not start with the whole-server source's"),
                );
            }
        }
    }
}

fn hooks(c: &mut Checker, base: &str, h: &Spanned<RawHooks>) -> HooksConfig {
    let h = &h.value;
    let timeout = match &h.timeout_seconds {
        Some(t) if t.value == 0 => {
            c.problem(
                t.referenced,
                format!("{base}.hooks.timeout_seconds"),
                "timeout_seconds must be at least 1",
                Some("seconds each hook command may run, e.g. 300"),
            );
            HooksConfig::DEFAULT_TIMEOUT
        }
        Some(t) => Duration::from_secs(t.value),
        None => HooksConfig::DEFAULT_TIMEOUT,
    };
    // An empty command is no command: `before: ${PRE_BACKUP:-}` leaves the hook out.
    HooksConfig {
        before: text(&h.before),
        after: text(&h.after),
        on_failure: text(&h.on_failure),
        timeout,
    }
}

/// The original's `tls` strings (its MySQL driver's values, and a quoted boolean) in our
/// modes: `skip-verify` encrypts without checking the certificate, which is `require`.
fn original_tls(mode: &str) -> Option<&'static str> {
    match mode.trim().to_ascii_lowercase().as_str() {
        "true" => Some("require"),
        "false" | "" => Some("disable"),
        "skip-verify" => Some("require"),
        "preferred" => Some("prefer"),
        _ => None,
    }
}
