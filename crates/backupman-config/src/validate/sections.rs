//! Checks the `retention` policy (age, count or GFS) and `concurrency`. The notifiers are
//! checked in `notifiers`, compression in `compression`; incomplete uploads are read in
//! `validate` itself.

use serde_saphyr::Spanned;

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

/// `concurrency`: sources backed up at the same time, 1 to [`MAX_CONCURRENCY`].
pub(super) fn concurrency(c: &mut Checker, raw: Option<&Spanned<u32>>) -> usize {
    let Some(n) = raw else {
        return DEFAULT_CONCURRENCY;
    };
    match usize::try_from(n.value) {
        Ok(value) if (1..=MAX_CONCURRENCY).contains(&value) => value,
        _ => {
            c.problem(
                n.referenced,
                "concurrency".into(),
                format!("must be between 1 and {MAX_CONCURRENCY}, not {}", n.value),
                Some("1 backs up one source after another; leave it out for the default of 4"),
            );
            DEFAULT_CONCURRENCY
        }
    }
}
