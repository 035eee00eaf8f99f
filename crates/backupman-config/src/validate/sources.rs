//! Checks a `data_sources` entry: its provider, the options that provider needs (a
//! `db_path` for SQLite, a `db_name` for servers), the TLS mode and the port.

use std::path::PathBuf;
use std::time::Duration;

use serde_saphyr::{Location, Spanned};

use backupman_core::Recipients;

use super::encryption::encryption;
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
                ],
            );
            if db_name.is_none() {
                db_name = db_path.as_ref().map(|p: &PathBuf| p.display().to_string());
            }
        }
        _ => {
            db_name = c.required(
                &s.db_name,
                at,
                format!("{base}.db_name"),
                "the database to dump, e.g. `db_name: app`",
            );
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
        },
        at,
    ))
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
