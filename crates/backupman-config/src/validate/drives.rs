//! Checks a `drives` entry: its provider, the options that provider needs and no
//! others, and for S3 the bucket name, region, key pair, endpoint URL, storage class,
//! encryption and request limits.

use std::path::PathBuf;

use serde_saphyr::{Location, Spanned};

use super::{Checker, loc, text};
use crate::model::*;
use crate::raw::*;
use backupman_core::{LockMode, ObjectLock};

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

pub(super) fn drive(
    c: &mut Checker,
    i: usize,
    d: &Spanned<RawDrive>,
) -> Option<(DriveConfig, Location)> {
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
        ("object_lock", loc(&d.object_lock)),
        ("ca_file", loc(&d.ca_file)),
    ];
    let google = [
        ("client_secret_file", loc(&d.client_secret_file)),
        ("token_file", loc(&d.token_file)),
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
            let hint = crate::suggest::did_you_mean(other, ["local", "s3"]).map_or_else(
                || "one of local, s3".to_owned(),
                |d| format!("{d} (one of local, s3)"),
            );
            c.problem(
                provider.referenced,
                format!("{base}.provider"),
                format!("unknown drive provider {other:?}"),
                Some(&hint),
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
    c.secret_at(d.access_key.as_ref(), format!("{base}.access_key"));
    c.secret_at(d.secret_key.as_ref(), format!("{base}.secret_key"));
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
    let object_lock = d
        .object_lock
        .as_ref()
        .and_then(|raw| object_lock(c, base, raw));
    Some(S3DriveConfig {
        label: label?,
        bucket: bucket?,
        region: region?,
        access_key: access_key.map(Secret::new),
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
        object_lock,
        ca_file: text(&d.ca_file).map(PathBuf::from),
    })
}

/// `object_lock: {mode: GOVERNANCE|COMPLIANCE, days: N}`: both are required.
fn object_lock(c: &mut Checker, base: &str, raw: &Spanned<RawObjectLock>) -> Option<ObjectLock> {
    let at = raw.referenced;
    let mode = c.required(
        &raw.value.mode,
        at,
        format!("{base}.object_lock.mode"),
        "GOVERNANCE or COMPLIANCE",
    );
    let mode = match mode.map(|m| m.to_ascii_uppercase()).as_deref() {
        None => None,
        Some("GOVERNANCE") => Some(LockMode::Governance),
        Some("COMPLIANCE") => Some(LockMode::Compliance),
        Some(other) => {
            c.problem(
                loc(&raw.value.mode).unwrap_or(at),
                format!("{base}.object_lock.mode"),
                format!("unknown Object Lock mode {other:?}"),
                Some("GOVERNANCE (deletable early with s3:BypassGovernanceRetention) or COMPLIANCE (by nobody)"),
            );
            None
        }
    };
    let days = match &raw.value.days {
        Some(days) if days.value == 0 => {
            c.problem(
                days.referenced,
                format!("{base}.object_lock.days"),
                "object_lock.days must be at least 1",
                Some("days each backup is retained after it is written, e.g. 30"),
            );
            None
        }
        Some(days) => Some(days.value),
        None => {
            c.problem(
                at,
                format!("{base}.object_lock.days"),
                "missing required option",
                Some("days each backup is retained after it is written, e.g. `days: 30`"),
            );
            None
        }
    };
    Some(ObjectLock {
        mode: mode?,
        days: days?,
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

/// Whether `text` is an `http://` or `https://` URL with a host and a usable port, as `url`
/// parses it (the same parser the HTTP clients use), with the reason in words when not.
pub(super) fn check_endpoint(text: &str) -> Result<(), &'static str> {
    if !(text.starts_with("http://") || text.starts_with("https://")) {
        return Err("it must start with http:// or https://");
    }
    if text.contains(char::is_whitespace) {
        return Err("it contains white space");
    }
    let url = url::Url::parse(text).map_err(|e| match e {
        url::ParseError::EmptyHost => "it has no host name",
        url::ParseError::InvalidPort => "the port is not a number from 1 to 65535",
        _ => "it is not a valid URL",
    })?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err("it has no host name");
    }
    if url.port() == Some(0) {
        return Err("the port is not a number from 1 to 65535");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_endpoint;

    #[test]
    fn endpoints_are_urls_with_a_host_and_a_usable_port() {
        for good in [
            "http://localhost:9000",
            "https://nyc3.digitaloceanspaces.com",
            "http://127.0.0.1:9000/",
            "http://[::1]:9000",
        ] {
            assert_eq!(check_endpoint(good), Ok(()), "{good}");
        }
        for (bad, why) in [
            ("localhost:9000", "it must start with http:// or https://"),
            ("http://", "it has no host name"),
            ("http://host:0", "the port is not a number from 1 to 65535"),
            (
                "http://host:70000",
                "the port is not a number from 1 to 65535",
            ),
            (
                "http://host:port",
                "the port is not a number from 1 to 65535",
            ),
            ("http://my host", "it contains white space"),
        ] {
            assert_eq!(check_endpoint(bad), Err(why), "{bad}");
        }
    }
}
