//! Checks the top-level sections beside sources and drives: the `retention` policy
//! (age, count or GFS) and the `notifiers` (webhook endpoint URLs; the others warn that
//! they are ignored). Compression and incomplete uploads are read in `validate` itself.

use serde_saphyr::Spanned;

use super::drives::check_endpoint;
use super::{Checker, loc};
use crate::model::*;
use crate::raw::*;

pub(super) fn retention(c: &mut Checker, r: &Spanned<RawRetention>) -> Option<RetentionConfig> {
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

pub(super) fn notifiers(c: &mut Checker, n: &Spanned<RawNotifiers>) -> Vec<WebhookConfig> {
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
