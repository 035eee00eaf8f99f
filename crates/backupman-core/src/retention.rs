//! Retention: which backups of one source on one drive to keep, decided from the drive's own
//! listing: the key carries the time and the listing the size, so no manifest is read unless
//! a signing key is configured, and then only those of the backups the policy would keep.
//!
//! Safety rules: the newest backup is always kept; a listing that cannot be read deletes
//! nothing; the caller applies retention only after a successful backup (or on an explicit
//! `prune`), so a failing run never deletes. A backup that is not trusted (unsigned where a
//! signature is required, unencrypted where encryption is, without a manifest, suspect)
//! never counts as kept, so planted backups cannot push a real one out; a suspect one (dated
//! in the future) is never deleted either, but left for the operator to look at.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Datelike, Duration, Utc};

use crate::drive::{Drive, DriveError};
use crate::listing::{Standing, StoredBackup, TrustPolicy, inspect_all, list_source};
use crate::signing::signature_key;

/// How many backups to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Policy {
    /// Delete backups older than this many days.
    Age {
        /// Days a backup is kept.
        days: u32,
    },
    /// Keep the newest N.
    Count {
        /// Backups kept.
        keep: u32,
    },
    /// Keep the newest backup of each of the last N days, ISO weeks, months and years.
    Gfs {
        /// Days.
        daily: u32,
        /// ISO weeks.
        weekly: u32,
        /// Calendar months.
        monthly: u32,
        /// Calendar years.
        yearly: u32,
    },
}

/// The policy in the configuration's words, for plans and reports (`keep the newest 14`).
impl std::fmt::Display for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Age { days } => write!(f, "delete backups older than {days} day(s)"),
            Self::Count { keep } => write!(f, "keep the newest {keep}"),
            Self::Gfs {
                daily,
                weekly,
                monthly,
                yearly,
            } => write!(
                f,
                "keep the newest of each of the last {daily} day(s), {weekly} week(s), {monthly} month(s) and {yearly} year(s)"
            ),
        }
    }
}

/// The decision for one source on one drive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionPlan {
    /// Kept backups, newest first, each with why.
    pub keep: Vec<(StoredBackup, String)>,
    /// Backups to delete, newest first.
    pub delete: Vec<StoredBackup>,
}

/// Which calendar period (day, ISO week, month, year) a time falls in.
type PeriodOf = fn(&DateTime<Utc>) -> (i32, u32);

/// Decides what to keep. `backups` may come in any order.
pub fn plan(backups: &[StoredBackup], policy: Policy, now: DateTime<Utc>) -> RetentionPlan {
    let mut sorted: Vec<&StoredBackup> = backups.iter().collect();
    sorted.sort_by(|a, b| b.taken_at.cmp(&a.taken_at).then_with(|| b.key.cmp(&a.key)));
    let mut reasons: BTreeMap<usize, String> = BTreeMap::new();
    if !sorted.is_empty() {
        reasons.insert(0, "newest backup".into());
    }
    match policy {
        Policy::Age { days } => {
            let cutoff = now - Duration::days(i64::from(days));
            for (i, b) in sorted.iter().enumerate() {
                if b.taken_at >= cutoff {
                    reasons
                        .entry(i)
                        .or_insert_with(|| format!("younger than {days} days"));
                }
            }
        }
        Policy::Count { keep } => {
            for i in 0..sorted.len().min(keep as usize) {
                reasons
                    .entry(i)
                    .or_insert_with(|| format!("among the newest {keep}"));
            }
        }
        Policy::Gfs {
            daily,
            weekly,
            monthly,
            yearly,
        } => {
            let buckets: [(u32, &str, PeriodOf); 4] = [
                (daily, "daily", |t| (t.year(), t.ordinal())),
                (weekly, "weekly", |t| {
                    let w = t.iso_week();
                    (w.year(), w.week())
                }),
                (monthly, "monthly", |t| (t.year(), t.month())),
                (yearly, "yearly", |t| (t.year(), 0)),
            ];
            for (count, name, bucket_of) in buckets {
                let mut seen = HashSet::new();
                for (i, b) in sorted.iter().enumerate() {
                    if seen.len() >= count as usize {
                        break;
                    }
                    if seen.insert(bucket_of(&b.taken_at)) {
                        reasons.entry(i).or_insert_with(|| format!("{name} backup"));
                    }
                }
            }
        }
    }
    let mut out = RetentionPlan::default();
    for (i, b) in sorted.into_iter().enumerate() {
        match reasons.remove(&i) {
            Some(reason) => out.keep.push((b.clone(), reason)),
            None => out.delete.push(b.clone()),
        }
    }
    out
}

/// Decides for one source on one drive: lists it, and where a signature is required reads
/// the manifests of the backups the policy would keep (and only those), until every kept one
/// is trusted. What is deleted is what the policy deletes counting every backup and does not
/// keep counting only trusted ones, so a backup is deleted only once it is past the policy
/// either way, and never while no trusted backup is kept.
pub async fn decide(
    drive: &dyn Drive,
    source_label: &str,
    policy: Policy,
    trust: &TrustPolicy,
) -> Result<RetentionPlan, DriveError> {
    let listed = list_source(drive, source_label, trust).await?;
    decide_among(drive, listed, policy, trust).await
}

/// [`decide`] on a listing already made ([`crate::listing::list_source`] or
/// [`crate::listing::backups_in`]), so a run that lists a source's folder for other reasons
/// does not list it twice.
pub async fn decide_among(
    drive: &dyn Drive,
    mut backups: Vec<StoredBackup>,
    policy: Policy,
    trust: &TrustPolicy,
) -> Result<RetentionPlan, DriveError> {
    let undated = |b: &&StoredBackup| !matches!(b.standing, Standing::Suspect(_));
    let dated: Vec<StoredBackup> = backups.iter().filter(undated).cloned().collect();
    let every_plan = plan(&dated, policy, trust.now);
    // Nothing is past the policy even counting every backup: nothing can be deleted, so no
    // signature needs reading (the steady state of a count policy between two runs).
    if every_plan.delete.is_empty() {
        let kept = every_plan.keep.into_iter().map(|(b, why)| (b.key, why));
        return Ok(arrange(backups, &HashSet::new(), &kept.collect()));
    }
    let trusted_plan = loop {
        let counted: Vec<StoredBackup> = backups
            .iter()
            .filter(|b| b.standing.counts())
            .cloned()
            .collect();
        let trusted_plan = plan(&counted, policy, trust.now);
        if trust.verifier.is_none() {
            break trusted_plan;
        }
        let unread: HashSet<&str> = trusted_plan
            .keep
            .iter()
            .filter(|(b, _)| b.standing == Standing::Unread)
            .map(|(b, _)| b.key.as_str())
            .collect();
        if unread.is_empty() {
            break trusted_plan;
        }
        let (to_read, rest): (Vec<_>, Vec<_>) = backups
            .into_iter()
            .partition(|b| unread.contains(b.key.as_str()));
        backups = rest;
        backups.extend(inspect_all(drive, to_read, trust).await?);
    };
    let kept_trusted: HashMap<String, String> = trusted_plan
        .keep
        .into_iter()
        .map(|(b, why)| (b.key, why))
        .collect();
    let doomed: HashSet<&str> = if kept_trusted.is_empty() {
        HashSet::new()
    } else {
        every_plan
            .delete
            .iter()
            .map(|b| b.key.as_str())
            .filter(|k| !kept_trusted.contains_key(*k))
            .collect()
    };
    let doomed: HashSet<String> = doomed.into_iter().map(str::to_owned).collect();
    Ok(arrange(backups, &doomed, &kept_trusted))
}

/// The plan, newest first: `doomed` deleted, the rest kept with the policy's reason where
/// `kept` has one, else why they were not counted or are not yet past the policy.
fn arrange(
    mut backups: Vec<StoredBackup>,
    doomed: &HashSet<String>,
    kept: &HashMap<String, String>,
) -> RetentionPlan {
    let mut out = RetentionPlan::default();
    backups.sort_by(|a, b| b.taken_at.cmp(&a.taken_at).then_with(|| b.key.cmp(&a.key)));
    for b in backups {
        if doomed.contains(&b.key) {
            out.delete.push(b);
            continue;
        }
        let why = match (b.standing.reason(), kept.get(&b.key)) {
            (Some(reason), _) => format!("not counted: {reason}"),
            (None, Some(why)) => why.clone(),
            (None, None) => "not yet past the policy".to_owned(),
        };
        out.keep.push((b, why));
    }
    out
}

/// What applying retention to one source on one drive did.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    /// The decision (empty when the listing could not be read).
    pub plan: RetentionPlan,
    /// Keys of the backups actually deleted (on a dry run: that would be), in order: when a
    /// deletion fails partway, exactly those before it.
    pub deleted: Vec<String>,
    /// Backups the plan would delete that the drive holds until a later date (S3 Object
    /// Lock): skipped, never attempted.
    pub locked: Vec<LockedBackup>,
    /// Why listing or deleting failed; nothing after the failure was attempted.
    pub error: Option<DriveError>,
}

/// A backup retention left in place because the drive refuses to delete it before a date.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LockedBackup {
    /// The object's key, relative to the drive's prefix.
    pub key: String,
    /// The later of the object's and its manifest's retain-until dates.
    pub locked_until: DateTime<Utc>,
}

/// Until when the drive holds a backup: the later of its object's and its manifest's dates
/// (both are deleted together), `None` once neither is held after `now`.
async fn held_until(
    drive: &dyn Drive,
    key: &str,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, DriveError> {
    let object = drive.locked_until(key).await?;
    let manifest = drive.locked_until(&format!("{key}.json")).await?;
    Ok(object.max(manifest).filter(|until| *until > now))
}

/// Plans ([`decide`]) and, unless `dry_run`, deletes, skipping backups the drive holds
/// (Object Lock). The object goes first, then its manifest and signature: listings start from
/// objects, so a leftover manifest is ignored, whereas an object left without its manifest
/// would still be listed (as having none).
pub async fn apply(
    drive: &dyn Drive,
    source_label: &str,
    policy: Policy,
    trust: &TrustPolicy,
    dry_run: bool,
) -> Applied {
    let listed = list_source(drive, source_label, trust).await;
    apply_among(drive, listed, policy, trust, dry_run).await
}

/// [`apply`] on a listing already made (or the error that listing met).
pub async fn apply_among(
    drive: &dyn Drive,
    listed: Result<Vec<StoredBackup>, DriveError>,
    policy: Policy,
    trust: &TrustPolicy,
    dry_run: bool,
) -> Applied {
    let now = trust.now;
    let mut applied = Applied::default();
    let decided = match listed {
        Ok(backups) => decide_among(drive, backups, policy, trust).await,
        Err(err) => Err(err),
    };
    applied.plan = match decided {
        Ok(plan) => plan,
        Err(err) => {
            applied.error = Some(err);
            return applied;
        }
    };
    for b in &applied.plan.delete {
        match held_until(drive, &b.key, now).await {
            Ok(Some(locked_until)) => {
                tracing::info!(drive = drive.label(), key = %b.key, %locked_until, "retention skipped a locked backup");
                applied.locked.push(LockedBackup {
                    key: b.key.clone(),
                    locked_until,
                });
                continue;
            }
            Ok(None) => {}
            Err(err) => {
                applied.error = Some(err);
                break;
            }
        }
        if dry_run {
            applied.deleted.push(b.key.clone());
            continue;
        }
        if let Err(err) = drive.delete(&b.key).await {
            applied.error = Some(err);
            break;
        }
        // The backup is gone once its object is: count it, even if its manifest stays.
        applied.deleted.push(b.key.clone());
        tracing::info!(drive = drive.label(), key = %b.key, "retention deleted backup");
        let manifest_key = b.manifest_key();
        let companions = [signature_key(&manifest_key), manifest_key];
        if let Some(err) = first_error(drive, &companions).await {
            applied.error = Some(err);
            break;
        }
    }
    applied
}

/// Deletes each key in turn, stopping at the first failure.
async fn first_error(drive: &dyn Drive, keys: &[String]) -> Option<DriveError> {
    for key in keys {
        if let Err(err) = drive.delete(key).await {
            return Some(err);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
    }

    fn backup(t: DateTime<Utc>) -> StoredBackup {
        StoredBackup::unread(format!("s/s-{}.sql.gz", t.format("%Y%m%dT%H%M%SZ")), t, 1)
    }

    fn kept(plan: &RetentionPlan) -> Vec<DateTime<Utc>> {
        plan.keep.iter().map(|(b, _)| b.taken_at).collect()
    }

    #[test]
    fn by_age_keeps_young_backups_and_always_the_newest() {
        let now = at(2026, 11, 27, 12);
        let set = [
            backup(at(2026, 11, 26, 0)),
            backup(at(2026, 11, 1, 0)),
            backup(at(2026, 10, 1, 0)),
        ];
        let p = plan(&set, Policy::Age { days: 7 }, now);
        assert_eq!(kept(&p), vec![at(2026, 11, 26, 0)]);
        assert_eq!(p.delete.len(), 2);
        // Everything is old: the newest survives anyway.
        let p = plan(&set[1..], Policy::Age { days: 7 }, now);
        assert_eq!(kept(&p), vec![at(2026, 11, 1, 0)]);
        assert_eq!(p.delete.len(), 1);
    }

    #[test]
    fn by_count_keeps_the_newest_n() {
        let set: Vec<_> = (1..=5).map(|d| backup(at(2026, 11, d, 0))).collect();
        let p = plan(&set, Policy::Count { keep: 2 }, at(2026, 12, 1, 0));
        assert_eq!(kept(&p), vec![at(2026, 11, 5, 0), at(2026, 11, 4, 0)]);
        assert_eq!(p.delete.len(), 3);
    }

    #[test]
    fn gfs_keeps_one_per_period() {
        // Two backups a day for 60 days.
        let mut set = Vec::new();
        for day in 0..60 {
            let t = at(2026, 10, 1, 0) + Duration::days(day);
            set.push(backup(t));
            set.push(backup(t + Duration::hours(12)));
        }
        let p = plan(
            &set,
            Policy::Gfs {
                daily: 3,
                weekly: 2,
                monthly: 2,
                yearly: 1,
            },
            at(2026, 12, 1, 0),
        );
        let kept = kept(&p);
        // Newest of each of the last 3 days.
        for d in [29, 28, 27] {
            assert!(kept.contains(&at(2026, 11, d, 12)), "{d}: {kept:?}");
        }
        // Newest of October is kept as the monthly one.
        assert!(kept.contains(&at(2026, 10, 31, 12)), "{kept:?}");
        assert!(kept.len() <= 3 + 2 + 2 + 1);
        assert_eq!(kept.len() + p.delete.len(), 120);
    }
}
