//! `prune`: retention applied now (also what a run does after each stored backup), and the
//! sweep of incomplete uploads that killed runs left behind.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use backupman_core::listing::{self, TrustPolicy};
use backupman_core::retention::{self, LockedBackup, Policy};
use backupman_core::stale::Listed;
use backupman_core::{Drive, DriveError, DriveErrorKind, stale};
use chrono::{DateTime, Utc};
use futures::{StreamExt, stream};
use serde::Serialize;

use crate::servers;
use crate::wiring::{self, BrokenDrive, Plan};

/// Retention of one source on one drive.
#[derive(Debug, Clone, Serialize)]
pub struct PruneReport {
    /// The source's label.
    pub source: String,
    /// The drive's label.
    pub drive: String,
    /// Retention succeeded.
    pub ok: bool,
    /// Why it failed (what was deleted before is still in `deleted`).
    pub error: Option<DriveError>,
    /// Keys kept, newest first.
    pub kept: Vec<String>,
    /// Keys deleted (with `dry_run`: that would be); when a deletion failed partway, exactly
    /// those deleted before it.
    pub deleted: Vec<String>,
    /// Backups retention would delete that the drive holds until a later date (S3 Object
    /// Lock): skipped, with that date.
    pub locked: Vec<LockedBackup>,
    /// Whether this was a dry run.
    #[serde(skip)]
    pub dry_run: bool,
}

impl PruneReport {
    /// Retention of `source` on `drive` that could not run, and deleted nothing.
    fn failed(source: &str, drive: &str, error: DriveError, dry_run: bool) -> Self {
        Self {
            source: source.to_owned(),
            drive: drive.to_owned(),
            ok: false,
            error: Some(error),
            kept: Vec::new(),
            deleted: Vec::new(),
            locked: Vec::new(),
            dry_run,
        }
    }
}

/// Applies `policy` to one source on one drive, counting only what `trust` trusts, on the
/// listing of its folder made for this run (`None`: listed now).
pub async fn apply_one(
    drive: &dyn Drive,
    source: &str,
    listed: Option<Listed>,
    policy: Policy,
    trust: &TrustPolicy,
    dry_run: bool,
) -> PruneReport {
    let applied = match listed {
        Some(listed) => retention::apply_among(drive, listed, policy, trust, dry_run).await,
        None => retention::apply(drive, source, policy, trust, dry_run).await,
    };
    PruneReport {
        source: source.to_owned(),
        drive: drive.label().to_owned(),
        ok: applied.error.is_none(),
        error: applied.error,
        kept: applied
            .plan
            .keep
            .iter()
            .map(|(b, _)| b.key.clone())
            .collect(),
        deleted: applied.deleted,
        locked: applied.locked,
        dry_run,
    }
}

/// What sweeping one drive for incomplete uploads did.
#[derive(Debug, Clone, Serialize)]
pub struct SweepReport {
    /// The drive's label.
    pub drive: String,
    /// The age limit applied, in hours.
    pub older_than_hours: u32,
    /// Keys of the incomplete uploads discarded.
    pub discarded: Vec<String>,
    /// Incomplete uploads left in place.
    pub remaining: usize,
    /// Why listing or discarding failed (the minimal IAM policy allows neither): never a
    /// failure of the command, `health` reports it.
    pub error: Option<DriveError>,
}

impl SweepReport {
    /// A sweep of `drive` that could not be made at all.
    pub(crate) fn failed(drive: &str, hours: u32, error: DriveError) -> Self {
        Self {
            drive: drive.to_owned(),
            older_than_hours: hours,
            discarded: Vec::new(),
            remaining: 0,
            error: Some(error),
        }
    }
}

/// A drive made ready for a run or a prune: each source's folder listed once (the sweep and
/// retention share the listing), and, when asked, swept of what killed runs left.
#[derive(Debug)]
pub(crate) struct Prepared {
    /// The sweep (`None` when not asked for).
    pub sweep: Option<SweepReport>,
    /// Each source's listing by label, without what the sweep discarded.
    pub listed: HashMap<String, Listed>,
    /// How far the listings reach.
    pub reach: Reach,
}

/// How much of each source's folder is listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reach {
    /// All of it: `prune`, and runs whose retention counts every backup (by count, GFS).
    Whole,
    /// The two ends a run can act on, each for a page or so however long the history:
    /// backups taken before `cutoff` (what retention by age deletes; `None` without
    /// retention) and those since `recent` (where the sweep finds what a killed run left).
    /// Objects without a manifest in between are left to `prune`, or to retention once they
    /// are past the cutoff.
    Ends {
        cutoff: Option<DateTime<Utc>>,
        recent: DateTime<Utc>,
    },
}

impl Reach {
    /// What a run under `policy` lists, at `now`, sweeping what is older than `sweep_hours`.
    pub(crate) fn for_run(policy: Option<Policy>, sweep_hours: u32, now: DateTime<Utc>) -> Self {
        let recent = now - chrono::Duration::hours(i64::from(sweep_hours)) - SWEEP_LOOKBACK;
        let cutoff = match policy {
            None => None,
            Some(Policy::Age { days }) => Some(now - chrono::Duration::days(i64::from(days))),
            Some(_) => return Self::Whole,
        };
        match cutoff {
            // The two ends meet: the whole folder is no more to list.
            Some(cutoff) if cutoff >= recent => Self::Whole,
            cutoff => Self::Ends { cutoff, recent },
        }
    }

    /// Lists one source's folder as far as this reach goes, newest first.
    async fn list(self, drive: &dyn Drive, label: &str, trust: &TrustPolicy) -> Listed {
        let (cutoff, recent) = match self {
            Self::Whole => return listing::list_source(drive, label, trust).await,
            Self::Ends { cutoff, recent } => (cutoff, recent),
        };
        let old = async {
            match cutoff {
                Some(cutoff) => listing::list_source_before(drive, label, cutoff, trust).await,
                None => Ok(Vec::new()),
            }
        };
        let new = listing::list_source_since(drive, label, recent, trust);
        let (old, new) = futures::join!(old, new);
        let mut backups = old?;
        let seen: HashSet<String> = backups.iter().map(|b| b.key.clone()).collect();
        backups.extend(new?.into_iter().filter(|b| !seen.contains(&b.key)));
        backups.sort_by(|a, b| b.taken_at.cmp(&a.taken_at).then_with(|| b.key.cmp(&a.key)));
        Ok(backups)
    }
}

/// How far before the sweep's age limit a run still looks for objects a killed run left:
/// a run at least this often finds each of them once it is old enough to be discarded.
const SWEEP_LOOKBACK: chrono::Duration = chrono::Duration::days(7);

/// How many source folders of one drive are listed at once.
const LISTINGS_AT_ONCE: usize = 8;

/// Lists the folder of each of `sources` (label and what it requires to be trusted) on
/// `drive` as far as `reach` goes, and with `sweep_after_hours` discards incomplete uploads
/// and objects left without their manifest older than that.
pub(crate) async fn prepare(
    drive: Arc<dyn Drive>,
    sources: Vec<(String, TrustPolicy)>,
    sweep_after_hours: Option<u32>,
    reach: Reach,
) -> Prepared {
    let now = Utc::now();
    let drive = drive.as_ref();
    // By index, not by reference: a closure taking a reference makes this future
    // unprovably `Send` (rust-lang/rust#102211), and the run spawns it.
    let listings = stream::iter(0..sources.len())
        .map(|i| reach.list(drive, &sources[i].0, &sources[i].1))
        .buffered(LISTINGS_AT_ONCE)
        .collect::<Vec<Listed>>();
    // The incomplete uploads are asked for beside the folders, not after them: a run waits
    // for this whole preparation before its retention, so each round trip here is one more
    // on the run.
    let uploads = async {
        match sweep_after_hours {
            Some(_) => Some(drive.incomplete_uploads().await),
            None => None,
        }
    };
    let (mut listed, uploads) = futures::join!(listings, uploads);
    let sweep = match (sweep_after_hours, uploads) {
        (Some(hours), Some(uploads)) => {
            let max_age = chrono::Duration::hours(i64::from(hours));
            let swept = stale::sweep(drive, uploads, max_age, now, &mut listed).await;
            if let Some(err) = &swept.error {
                tracing::debug!(
                    drive = drive.label(),
                    remaining = swept.remaining,
                    error = %err,
                    "incomplete uploads could not be cleaned up"
                );
            }
            Some(SweepReport {
                drive: drive.label().to_owned(),
                older_than_hours: hours,
                discarded: swept.discarded,
                remaining: swept.remaining,
                error: swept.error,
            })
        }
        _ => None,
    };
    let listed = sources.into_iter().map(|(label, _)| label).zip(listed);
    Prepared {
        sweep,
        listed: listed.collect(),
        reach,
    }
}

/// `prune` needs retention to apply.
#[derive(Debug, Clone, thiserror::Error)]
#[error("retention is not configured (or not enabled): nothing to prune")]
pub struct NoRetention;

/// What a `prune` did.
#[derive(Debug, Clone, Default)]
pub struct PruneRun {
    /// Drives that could not be built.
    pub broken_drives: Vec<BrokenDrive>,
    /// Incomplete uploads discarded (not on a dry run).
    pub sweeps: Vec<SweepReport>,
    /// One per source × drive.
    pub results: Vec<PruneReport>,
}

impl PruneRun {
    /// Every drive could be built and every retention succeeded.
    pub fn ok(&self) -> bool {
        self.broken_drives.is_empty() && self.results.iter().all(|r| r.ok)
    }
}

/// The `prune` operation: every source of `plan` on every drive; without `dry_run`, each
/// drive is swept for incomplete uploads first.
pub async fn prune(plan: &Plan, dry_run: bool) -> Result<PruneRun, NoRetention> {
    let policy = plan.retention.ok_or(NoRetention)?;
    let (drives, broken_drives) = wiring::build_drives(&plan.drives);
    let mut run = PruneRun {
        broken_drives,
        ..PruneRun::default()
    };
    let verifier = &plan.signing.verifier;
    let known = verifier.as_ref().ok().cloned().flatten();
    let sweep_after = (!dry_run).then_some(plan.abort_incomplete_after_hours);
    for drive in &drives {
        let mut sources = Vec::new();
        for source in &plan.sources {
            if !source.is_server() {
                sources.push(source.clone());
                continue;
            }
            // Every database the drive holds backups of, the server's current ones or not:
            // a database that disappeared keeps its backups under the same retention.
            match servers::on_drive(source, drive.as_ref()).await {
                Ok(parts) => sources.extend(parts),
                Err(err) => run.results.push(PruneReport::failed(
                    source.label(),
                    drive.label(),
                    err,
                    dry_run,
                )),
            }
        }
        let trusts: Vec<(String, TrustPolicy)> = sources
            .iter()
            .map(|s| (s.label().to_owned(), s.trust(known.as_ref())))
            .collect();
        let mut prepared = prepare(drive.clone(), trusts.clone(), sweep_after, Reach::Whole).await;
        run.sweeps.extend(prepared.sweep.take());
        for (source, (label, trust)) in sources.iter().zip(&trusts) {
            let report = match verifier {
                Ok(_) => {
                    let listed = prepared.listed.remove(label);
                    apply_one(drive.as_ref(), label, listed, policy, trust, dry_run).await
                }
                // Without the key nothing can be told trusted: delete nothing.
                Err(err) => PruneReport::failed(
                    source.label(),
                    drive.label(),
                    DriveError::new(DriveErrorKind::Other, err.to_string()).with_cause(err.clone()),
                    dry_run,
                ),
            };
            run.results.push(report);
        }
    }
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_lists_only_the_ends_under_an_age_policy_whose_ends_do_not_meet() {
        let now = Utc::now();
        let recent = now - chrono::Duration::hours(24) - SWEEP_LOOKBACK;
        assert_eq!(
            Reach::for_run(Some(Policy::Age { days: 30 }), 24, now),
            Reach::Ends {
                cutoff: Some(now - chrono::Duration::days(30)),
                recent
            }
        );
        assert_eq!(
            Reach::for_run(None, 24, now),
            Reach::Ends {
                cutoff: None,
                recent
            }
        );
        // Eight days back for the sweep reach past a seven-day policy's cutoff.
        assert_eq!(
            Reach::for_run(Some(Policy::Age { days: 7 }), 24, now),
            Reach::Whole
        );
        assert_eq!(
            Reach::for_run(Some(Policy::Count { keep: 5 }), 24, now),
            Reach::Whole
        );
    }
}
