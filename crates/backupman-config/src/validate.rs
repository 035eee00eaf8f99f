//! Raw → validated, collecting every problem with its location and a hint.

use std::collections::HashMap;
use std::path::PathBuf;

use backupman_core::slugify;
use serde_saphyr::{Location, Spanned};

use crate::Loaded;
use crate::error::{ConfigError, Problem};
use crate::model::*;
use crate::raw::*;

const STORAGE_CLASSES: &[&str] = &[
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "GLACIER_IR",
    "DEEP_ARCHIVE",
    "EXPRESS_ONEZONE",
];
const SSE_MODES: &[&str] = &["AES256", "aws:kms", "aws:kms:dsse"];
const TLS_MODES: &[&str] = &["disable", "prefer", "require", "verify-ca", "verify-full"];

struct Checker {
    problems: Vec<Problem>,
    warnings: Vec<String>,
    origin: String,
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
        self.warnings.push(format!(
            "{}: line {}: {path}: {message}",
            self.origin,
            at.line()
        ));
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

pub(crate) fn validate(raw: RawConfig, origin: &str) -> Result<Loaded, ConfigError> {
    let mut c = Checker {
        problems: Vec::new(),
        warnings: Vec::new(),
        origin: origin.to_owned(),
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
    let sources = sources_raw
        .iter()
        .enumerate()
        .filter_map(|(i, s)| source(&mut c, i, s))
        .collect::<Vec<_>>();
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
    let compression_level = match raw
        .compression
        .as_ref()
        .and_then(|c| c.value.level.as_ref())
    {
        Some(level) if level.value > 9 => {
            c.problem(
                level.referenced,
                "compression.level".into(),
                format!("{} is not a gzip level", level.value),
                Some("use 0 (none) to 9 (smallest); 6 is the default"),
            );
            6
        }
        Some(level) => level.value,
        None => 6,
    };
    let abort_incomplete_after_hours = raw
        .incomplete_uploads
        .as_ref()
        .and_then(|i| i.value.abort_after_hours.as_ref())
        .map_or(DEFAULT_ABORT_INCOMPLETE_AFTER_HOURS, |h| h.value);
    let webhooks = raw
        .notifiers
        .as_ref()
        .map(|n| notifiers(&mut c, n))
        .unwrap_or_default();
    for (name, section) in [("http", &raw.http), ("database", &raw.database)] {
        if let Some(section) = section {
            c.warn(
                section.referenced,
                name,
                "this section is not implemented yet and is ignored",
            );
        }
    }

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
            compression_level,
            abort_incomplete_after_hours,
            webhooks,
        },
        warnings: c.warnings,
    })
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

fn source(c: &mut Checker, i: usize, s: &Spanned<RawSource>) -> Option<(SourceConfig, Location)> {
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
                c.problem(
                    p.referenced,
                    format!("{base}.provider"),
                    format!("unknown provider {other:?}"),
                    Some("one of postgres, mysql, mariadb, sqlite"),
                );
                None
            }
        },
    };
    if let Some(t) = &s.tmp_folder {
        c.warn(
            t.referenced,
            &format!("{base}.tmp_folder"),
            "accepted and ignored: server dumps are streamed without staging; SQLite snapshots are staged in $TMPDIR",
        );
    }
    let tls = s.tls.as_ref().and_then(|t| match &t.value {
        RawTls::Flag(true) => Some("require".to_owned()),
        RawTls::Flag(false) => Some("disable".to_owned()),
        RawTls::Mode(mode) if TLS_MODES.contains(&mode.as_str()) => Some(mode.clone()),
        RawTls::Mode(mode) => {
            c.problem(
                t.referenced,
                format!("{base}.tls"),
                format!("unknown TLS mode {mode:?}"),
                Some("true, false, or one of disable, prefer, require, verify-ca, verify-full"),
            );
            None
        }
    });
    let provider = provider?;
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
        },
        at,
    ))
}

fn drive(c: &mut Checker, i: usize, d: &Spanned<RawDrive>) -> Option<(DriveConfig, Location)> {
    let base = format!("drives[{i}]");
    let at = d.referenced;
    let d = &d.value;
    let label = c.required(
        &d.label,
        at,
        format!("{base}.label"),
        "a descriptive name, e.g. `label: S3 Drive`",
    );
    let Some(provider) = d.provider.as_ref() else {
        c.problem(
            at,
            format!("{base}.provider"),
            "missing required option",
            Some("one of local, s3"),
        );
        return None;
    };
    let s3_only = [
        ("bucket", loc(&d.bucket)),
        ("region", loc(&d.region)),
        ("access_key", loc(&d.access_key)),
        ("secret_key", loc(&d.secret_key)),
        ("endpoint", loc(&d.endpoint)),
        ("prefix", loc(&d.prefix)),
        ("force_path_style", loc(&d.force_path_style)),
        ("storage_class", loc(&d.storage_class)),
        ("server_side_encryption", loc(&d.server_side_encryption)),
        ("sse_kms_key_id", loc(&d.sse_kms_key_id)),
        ("timeout_seconds", loc(&d.timeout_seconds)),
        ("max_attempts", loc(&d.max_attempts)),
        ("part_size_mb", loc(&d.part_size_mb)),
    ];
    let google = [
        ("client_id", loc(&d.client_id)),
        ("client_secret", loc(&d.client_secret)),
        ("folder_id", loc(&d.folder_id)),
        ("token", loc(&d.token)),
    ];
    match provider.value.trim().to_ascii_lowercase().as_str() {
        "local" => {
            let folder = c.required(
                &d.folder,
                at,
                format!("{base}.folder"),
                "the folder backups are written to, e.g. `folder: /var/backups/db`",
            );
            c.not_for("local", &base, &s3_only);
            c.not_for("local", &base, &google);
            Some((
                DriveConfig::Local(LocalDriveConfig {
                    label: label?,
                    folder: PathBuf::from(folder?),
                }),
                at,
            ))
        }
        "s3" => {
            c.not_for("s3", &base, &[("folder", loc(&d.folder))]);
            c.not_for("s3", &base, &google);
            s3_drive(c, &base, at, d, label).map(|s| (DriveConfig::S3(s), at))
        }
        "google_drive" | "gdrive" => {
            c.problem(
                provider.referenced,
                format!("{base}.provider"),
                "the google_drive provider is not supported by this version of backupman",
                Some("use provider s3 (any S3-compatible store) or local"),
            );
            None
        }
        other => {
            c.problem(
                provider.referenced,
                format!("{base}.provider"),
                format!("unknown drive provider {other:?}"),
                Some("one of local, s3"),
            );
            None
        }
    }
}

fn s3_drive(
    c: &mut Checker,
    base: &str,
    at: Location,
    d: &RawDrive,
    label: Option<String>,
) -> Option<S3DriveConfig> {
    let bucket = c.required(
        &d.bucket,
        at,
        format!("{base}.bucket"),
        "the S3 bucket name, e.g. `bucket: my-backup-bucket`",
    );
    if let (Some(b), Some(raw)) = (&bucket, &d.bucket)
        && let Err(why) = check_bucket_name(b)
    {
        c.problem(raw.referenced, format!("{base}.bucket"), format!("invalid bucket name {b:?}: {why}"), Some("bucket names are 3-63 characters: lower-case letters, digits, '.' and '-', starting and ending with a letter or digit"));
    }
    let region = c.required(&d.region, at, format!("{base}.region"), "set the bucket's region, e.g. `region: us-east-1` (S3-compatible stores usually accept us-east-1)");
    let access_key = text(&d.access_key);
    let secret_key = d
        .secret_key
        .as_ref()
        .map(|s| s.value.clone())
        .filter(|s| !s.is_empty());
    match (&access_key, &secret_key) {
        (Some(_), None) => c.problem(
            loc(&d.secret_key).unwrap_or(at),
            format!("{base}.secret_key"),
            "access_key is set but secret_key is missing or empty",
            Some("set both keys, or neither to use the default AWS credential chain"),
        ),
        (None, Some(_)) => c.problem(
            loc(&d.access_key).unwrap_or(at),
            format!("{base}.access_key"),
            "secret_key is set but access_key is missing or empty",
            Some("set both keys, or neither to use the default AWS credential chain"),
        ),
        _ => {}
    }
    let endpoint = text(&d.endpoint);
    if let (Some(e), Some(raw)) = (&endpoint, &d.endpoint)
        && let Err(why) = check_endpoint(e)
    {
        c.problem(raw.referenced, format!("{base}.endpoint"), format!("invalid endpoint {e:?}: {why}"), Some("a URL such as http://localhost:9000 or https://nyc3.digitaloceanspaces.com; leave it empty for Amazon S3"));
    }
    let prefix = d
        .prefix
        .as_ref()
        .map(|p| normalize_prefix(&p.value))
        .unwrap_or_default();
    let storage_class = text(&d.storage_class).map(|s| s.to_ascii_uppercase());
    if let (Some(sc), Some(raw)) = (&storage_class, &d.storage_class)
        && !STORAGE_CLASSES.contains(&sc.as_str())
    {
        c.problem(raw.referenced, format!("{base}.storage_class"), format!("unknown storage class {sc:?}"), Some("one of STANDARD, STANDARD_IA, ONEZONE_IA, INTELLIGENT_TIERING, GLACIER_IR, GLACIER, DEEP_ARCHIVE, REDUCED_REDUNDANCY"));
    }
    let sse = text(&d.server_side_encryption);
    if let (Some(mode), Some(raw)) = (&sse, &d.server_side_encryption)
        && !SSE_MODES.contains(&mode.as_str())
    {
        c.problem(
            raw.referenced,
            format!("{base}.server_side_encryption"),
            format!("unknown encryption {mode:?}"),
            Some("AES256 or aws:kms (with sse_kms_key_id)"),
        );
    }
    let kms_key = text(&d.sse_kms_key_id);
    if let Some(raw) = &d.sse_kms_key_id
        && !sse.as_deref().is_some_and(|m| m.starts_with("aws:kms"))
    {
        c.problem(
            raw.referenced,
            format!("{base}.sse_kms_key_id"),
            "sse_kms_key_id needs `server_side_encryption: aws:kms`",
            None,
        );
    }
    let positive = |c: &mut Checker, v: &Option<Spanned<u64>>, name: &str, hint: &str| {
        if let Some(v) = v
            && v.value == 0
        {
            c.problem(
                v.referenced,
                format!("{base}.{name}"),
                format!("{name} must be at least 1"),
                Some(hint),
            );
        }
    };
    positive(
        c,
        &d.timeout_seconds,
        "timeout_seconds",
        "seconds to wait for one request, e.g. 60",
    );
    if let Some(v) = &d.max_attempts
        && v.value == 0
    {
        c.problem(
            v.referenced,
            format!("{base}.max_attempts"),
            "max_attempts must be at least 1",
            Some("attempts per request including the first, e.g. 3"),
        );
    }
    if let Some(v) = &d.part_size_mb
        && !(5..=5120).contains(&v.value)
    {
        c.problem(
            v.referenced,
            format!("{base}.part_size_mb"),
            format!("{} MiB is outside S3's part size limits", v.value),
            Some(
                "5 to 5120 (MiB); the default is 8 and parts grow by themselves for large backups",
            ),
        );
    }
    Some(S3DriveConfig {
        label: label?,
        bucket: bucket?,
        region: region?,
        access_key,
        secret_key: secret_key.map(Secret::new),
        endpoint,
        prefix,
        force_path_style: d.force_path_style.as_ref().is_some_and(|f| f.value),
        storage_class,
        server_side_encryption: sse,
        sse_kms_key_id: kms_key,
        timeout_seconds: d.timeout_seconds.as_ref().map(|v| v.value),
        max_attempts: d.max_attempts.as_ref().map(|v| v.value),
        part_size_mb: d.part_size_mb.as_ref().map(|v| v.value),
    })
}

/// `backups`, `/backups/`, `backups//x` → `backups`, `backups`, `backups/x`.
pub(crate) fn normalize_prefix(prefix: &str) -> String {
    prefix
        .split('/')
        .filter(|p| !p.trim().is_empty())
        .collect::<Vec<_>>()
        .join("/")
}

fn check_bucket_name(name: &str) -> Result<(), &'static str> {
    if !(3..=63).contains(&name.len()) {
        return Err("must be 3 to 63 characters long");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
    {
        return Err("only lower-case letters, digits, '.' and '-' are allowed");
    }
    let first_last = [name.as_bytes()[0], name.as_bytes()[name.len() - 1]];
    if !first_last
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    {
        return Err("must start and end with a letter or digit");
    }
    if name.contains("..") {
        return Err("must not contain two adjacent dots");
    }
    if name.split('.').count() == 4 && name.split('.').all(|p| p.parse::<u8>().is_ok()) {
        return Err("must not look like an IP address");
    }
    Ok(())
}

fn check_endpoint(url: &str) -> Result<(), &'static str> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or("it must start with http:// or https://")?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() {
        return Err("it has no host name");
    }
    if host.contains(char::is_whitespace) {
        return Err("the host name contains white space");
    }
    if let Some((_, port)) = host.rsplit_once(':')
        && !host.ends_with(']')
        && port.parse::<u16>().is_err()
    {
        return Err("the port is not a number from 1 to 65535");
    }
    Ok(())
}

fn retention(c: &mut Checker, r: &Spanned<RawRetention>) -> Option<RetentionConfig> {
    let at = r.referenced;
    let r = &r.value;
    let enabled = r.enabled.as_ref().is_none_or(|e| e.value);
    let gfs = [
        &r.keep_daily,
        &r.keep_weekly,
        &r.keep_monthly,
        &r.keep_yearly,
    ];
    let by = r.by.as_ref().map(|b| b.value.trim().to_ascii_lowercase());
    let policy = match by.as_deref() {
        Some("age") | Some("count") => {
            let Some(value) = &r.value else {
                c.problem(
                    at,
                    "retention.value".into(),
                    "missing required option",
                    Some("days to keep (by: age) or how many backups to keep (by: count)"),
                );
                return None;
            };
            if value.value == 0 {
                c.problem(
                    value.referenced,
                    "retention.value".into(),
                    "must be at least 1",
                    Some("retention that keeps nothing would delete every backup"),
                );
                return None;
            }
            for g in gfs.iter().filter_map(|g| g.as_ref()) {
                c.problem(
                    g.referenced,
                    "retention".into(),
                    "keep_* options need `by: gfs`",
                    None,
                );
            }
            if by.as_deref() == Some("age") {
                RetentionPolicy::Age { days: value.value }
            } else {
                RetentionPolicy::Count { keep: value.value }
            }
        }
        Some("gfs") | None if gfs.iter().any(|g| g.is_some()) => {
            let get = |g: &Option<Spanned<u32>>| g.as_ref().map_or(0, |v| v.value);
            let policy = RetentionPolicy::Gfs {
                daily: get(&r.keep_daily),
                weekly: get(&r.keep_weekly),
                monthly: get(&r.keep_monthly),
                yearly: get(&r.keep_yearly),
            };
            if policy
                == (RetentionPolicy::Gfs {
                    daily: 0,
                    weekly: 0,
                    monthly: 0,
                    yearly: 0,
                })
            {
                c.problem(at, "retention".into(), "a GFS policy that keeps nothing", Some("set at least one of keep_daily, keep_weekly, keep_monthly, keep_yearly above 0"));
                return None;
            }
            policy
        }
        Some(other) => {
            c.problem(loc(&r.by).unwrap_or(at), "retention.by".into(), format!("unknown retention mode {other:?}"), Some("age (days), count (newest N) or gfs (keep_daily, keep_weekly, keep_monthly, keep_yearly)"));
            return None;
        }
        None => {
            if !enabled {
                return None;
            }
            c.problem(
                at,
                "retention.by".into(),
                "missing required option",
                Some("age (days), count (newest N) or gfs"),
            );
            return None;
        }
    };
    Some(RetentionConfig { enabled, policy })
}

fn notifiers(c: &mut Checker, n: &Spanned<RawNotifiers>) -> Vec<WebhookConfig> {
    let n = &n.value;
    for (name, section) in [
        ("email", &n.email),
        ("slack", &n.slack),
        ("discord", &n.discord),
    ] {
        if let Some(section) = section {
            c.warn(
                section.referenced,
                &format!("notifiers.{name}"),
                "this notifier is not implemented yet and is ignored",
            );
        }
    }
    let Some(webhook) = &n.webhook else {
        return Vec::new();
    };
    if webhook.value.enabled.as_ref().is_some_and(|e| !e.value) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (i, e) in webhook.value.endpoints.iter().flatten().enumerate() {
        let path = format!("notifiers.webhook.endpoints[{i}].url");
        let Some(url) = c.required(
            &e.value.url,
            e.referenced,
            path.clone(),
            "the URL to POST the run summary to",
        ) else {
            continue;
        };
        if let Err(why) = check_endpoint(&url) {
            c.problem(
                loc(&e.value.url).unwrap_or(e.referenced),
                path,
                format!("invalid URL {url:?}: {why}"),
                None,
            );
            continue;
        }
        out.push(WebhookConfig {
            url,
            token: e.value.token.as_ref().map(|t| Secret::new(t.value.clone())),
        });
    }
    out
}
