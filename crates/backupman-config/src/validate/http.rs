//! Checks the `http` section `backupman serve` reads: the original backupman's `app_url`,
//! `api_keys` and `backup_job` (its `cron` parsed here, so a bad schedule is a located error
//! at load time rather than a server that never backs up), plus our `timezone`,
//! `shutdown_grace_seconds`, `download_url_minutes`, `catalog_refresh_seconds`, and the
//! limits of an open network (`max_connections`, `header_timeout_seconds`,
//! `idle_timeout_seconds`).

use croner::parser::{CronParser, Seconds, Year};
use serde_saphyr::Spanned;

use super::drives::check_endpoint;
use super::{Checker, loc, text};
use crate::model::*;
use crate::raw::*;

/// The one cron dialect: 6 fields with seconds, as the original, or 5 (minutes first).
pub(super) fn cron_parser() -> CronParser {
    CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .build()
}

pub(super) fn http(c: &mut Checker, h: &Spanned<RawHttp>) -> HttpConfig {
    let h = &h.value;
    let mut out = HttpConfig::default();
    if let (Some(url), Some(at)) = (text(&h.app_url), loc(&h.app_url)) {
        match check_endpoint(&url) {
            Ok(()) => out.app_url = Some(url.trim_end_matches('/').to_owned()),
            Err(why) => c.problem(
                at,
                "http.app_url".into(),
                format!("invalid URL {url:?}: {why}"),
                Some("the address clients reach the server at, e.g. `http://backups.example.com:8080`"),
            ),
        }
    }
    for (i, key) in h.api_keys.iter().flatten().enumerate() {
        c.secret_at(Some(key), format!("http.api_keys[{i}]"));
        if key.value.trim().is_empty() {
            c.problem(
                key.referenced,
                format!("http.api_keys[{i}]"),
                "must not be empty",
                Some("an API key clients send in the `X-Api-Key` header"),
            );
        } else {
            out.api_keys.push(Secret::new(key.value.trim()));
        }
    }
    if let Some(grace) = &h.shutdown_grace_seconds {
        out.shutdown_grace_seconds = grace.value;
    }
    if let Some(minutes) = &h.download_url_minutes {
        if minutes.value == 0 {
            c.problem(
                minutes.referenced,
                "http.download_url_minutes".into(),
                "must be at least 1",
                Some("how many minutes a generated download URL works (default 60)"),
            );
        } else {
            out.download_url_minutes = minutes.value;
        }
    }
    let mut at_least_one =
        |value: Option<(u64, serde_saphyr::Location)>, name: &str, hint: &str| {
            let (value, at) = value?;
            if value == 0 {
                c.problem(at, format!("http.{name}"), "must be at least 1", Some(hint));
                None
            } else {
                Some(value)
            }
        };
    if let Some(n) = at_least_one(
        h.max_connections
            .as_ref()
            .map(|n| (u64::from(n.value), n.referenced)),
        "max_connections",
        "how many HTTP connections may be open at once (default 512)",
    ) {
        out.max_connections = u32::try_from(n).unwrap_or(u32::MAX);
    }
    if let Some(s) = at_least_one(
        h.header_timeout_seconds
            .as_ref()
            .map(|s| (s.value, s.referenced)),
        "header_timeout_seconds",
        "seconds a client has to send a request's head (default 10)",
    ) {
        out.header_timeout_seconds = s;
    }
    if let Some(s) = at_least_one(
        h.idle_timeout_seconds
            .as_ref()
            .map(|s| (s.value, s.referenced)),
        "idle_timeout_seconds",
        "seconds a connection may stay silent before it is closed (default 60)",
    ) {
        out.idle_timeout_seconds = s;
    }
    if let Some(s) = at_least_one(
        h.catalog_refresh_seconds
            .as_ref()
            .map(|s| (s.value, s.referenced)),
        "catalog_refresh_seconds",
        "how often, in seconds, serve lists the drives again (default 60)",
    ) {
        out.catalog_refresh_seconds = s;
    }
    out.backup_job = h
        .backup_job
        .as_ref()
        .and_then(|job| backup_job(c, "http.backup_job", job));
    out
}

/// A schedule: `http.backup_job`, or a source's own `schedule` (`base` is its path).
pub(super) fn backup_job(
    c: &mut Checker,
    base: &str,
    job: &Spanned<RawBackupJob>,
) -> Option<BackupJobConfig> {
    let at = job.referenced;
    let job = &job.value;
    // Both are checked before either is given up on, so every problem is reported at once.
    let timezone = match &job.timezone {
        None => Some(chrono_tz::UTC),
        Some(tz) => {
            let parsed = tz.value.trim().parse::<chrono_tz::Tz>().ok();
            if parsed.is_none() {
                c.problem(
                    tz.referenced,
                    format!("{base}.timezone"),
                    format!("{:?} is not an IANA time zone", tz.value),
                    Some("use a name such as `UTC`, `Europe/Paris` or `America/New_York`"),
                );
            }
            parsed
        }
    };
    let enabled = job.enabled.as_ref().is_none_or(|e| e.value);
    let hint = "6 fields with seconds (`0 0 3 * * *`: 03:00:00 every day) or 5 (`0 3 * * *`)";
    // A job switched off needs no schedule; one that is given is still checked, so that
    // switching the job back on does not meet an old typo.
    let cron = if enabled || job.cron.is_some() {
        c.required(&job.cron, at, format!("{base}.cron"), hint)
    } else {
        None
    };
    let schedule = cron
        .as_ref()
        .and_then(|cron| match cron_parser().parse(cron) {
            // A valid pattern naming no real time (`0 0 0 30 2 *`, 30 February) would leave
            // the server running and never backing up.
            Ok(schedule)
                if schedule
                    .find_next_occurrence(&chrono::Utc::now(), false)
                    .is_err() =>
            {
                c.problem(
                    loc(&job.cron).unwrap_or(at),
                    format!("{base}.cron"),
                    format!("cron expression {cron:?} never matches a real time"),
                    Some(hint),
                );
                None
            }
            Ok(schedule) => Some(schedule),
            Err(err) => {
                c.problem(
                    loc(&job.cron).unwrap_or(at),
                    format!("{base}.cron"),
                    format!("invalid cron expression {cron:?}: {err}"),
                    Some(hint),
                );
                None
            }
        });
    match (enabled, cron, schedule, timezone) {
        (true, Some(cron), Some(schedule), Some(timezone)) => Some(BackupJobConfig {
            cron,
            schedule,
            timezone,
        }),
        _ => None,
    }
}
