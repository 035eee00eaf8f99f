//! `run`: back up every selected source to every selected drive, then apply retention where
//! the backup landed; or, in test mode, write beside the real backups, read every object
//! back, check it against its manifest, and delete it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use backupman_config::MAX_CONCURRENCY;
use backupman_core::backoff::Backoff;
use backupman_core::listing::{self, StoredBackup, TrustPolicy};
use backupman_core::retention::Policy;
use backupman_core::stale::Listed;
use backupman_core::{
    BackupReport, CancellationToken, Drive, DriveError, DriveErrorKind, Engine, ProgressObserver,
    SourceError, SourceErrorKind, StoredObject, Verifier, check_against_manifest,
};
use chrono::{DateTime, Utc};
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use serde::Serialize;
use tokio::task::{Id, JoinSet};
use tokio_util::task::AbortOnDropHandle;

use crate::hooks::{self, HookError, HookFacts, HookReport, HookStage};
use crate::prune::{self, Prepared, PruneReport, Reach, SweepReport};
use crate::servers;
use crate::wiring::{self, BrokenDrive, Plan, SourcePlan, UnknownLabel};

/// Where test mode writes, beside (never over) the real backups.
pub const TEST_PREFIX: &str = ".backupman-test-mode/";

/// What to back up and how.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Source labels (all when empty).
    pub sources: Vec<String>,
    /// Drive labels (all when empty).
    pub drives: Vec<String>,
    /// Write into [`TEST_PREFIX`], read back, check, delete; no retention, no sweep.
    pub test_mode: bool,
    /// Cancelling it stops the run: the dump tool is killed, uploads are aborted, sources
    /// not started are skipped.
    pub cancel: CancellationToken,
    /// Sources backed up at the same time (`run --parallel`); `None`: the plan's
    /// `concurrency`. Clamped to 1..=[`MAX_CONCURRENCY`].
    pub parallel: Option<usize>,
    /// Told how far each backup has come.
    pub progress: Option<SourceProgress>,
}

/// Makes the progress observer of each source's backup: sources run at the same time, so
/// each is told apart by having an observer of its own.
#[derive(Clone)]
pub struct SourceProgress(Arc<dyn Fn(&str) -> ProgressObserver + Send + Sync>);

impl SourceProgress {
    /// Calls `observer_for` with each source's label as its backup begins.
    pub fn new(observer_for: impl Fn(&str) -> ProgressObserver + Send + Sync + 'static) -> Self {
        Self(Arc::new(observer_for))
    }

    fn observer_for(&self, source: &str) -> ProgressObserver {
        (self.0)(source)
    }
}

impl std::fmt::Debug for SourceProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SourceProgress")
    }
}

/// What `run --json` prints, webhooks receive and the server serves: one entry per source,
/// one result per drive.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// Every source reached every selected drive (and retention, where it ran, succeeded).
    pub ok: bool,
    /// One entry per selected source, in configuration order.
    pub sources: Vec<SourceReport>,
    /// What each drive's sweep discarded (swept beside the first sources).
    #[serde(skip)]
    pub sweeps: Vec<SweepReport>,
    #[serde(skip)]
    /// When the run began.
    pub started_at: DateTime<Utc>,
    #[serde(skip)]
    /// When the run ended.
    pub finished_at: DateTime<Utc>,
    #[serde(skip)]
    /// Whether this was a test-mode run.
    pub test_mode: bool,
}

/// One source's backup.
#[derive(Debug, Clone, Serialize)]
pub struct SourceReport {
    /// The source's label; for a database of a whole-server source, `{label}/{database}`.
    pub source: String,
    /// The database, for a part of a whole-server source (`globals` for PostgreSQL's roles
    /// and tablespaces).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// A database of a whole-server source that no drive held a backup of before this run:
    /// one created since the last run.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub new_database: bool,
    /// This source succeeded on every drive.
    pub ok: bool,
    /// Attempts made (`retry`): 1 unless the dump, or every drive, failed and it was tried
    /// again.
    pub attempts: u32,
    /// Why each attempt before the last failed, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failed_attempts: Vec<String>,
    /// The object key, relative to each drive's prefix (empty when the source never started).
    pub key: String,
    /// Why the dump failed (or the source was not backed up at all).
    pub error: Option<SourceError>,
    /// What the dump tool printed on stderr although it succeeded.
    pub warnings: Option<String>,
    /// Bytes of the plain dump.
    pub size: Option<u64>,
    /// Bytes of the stored (gzip) object.
    pub compressed_size: Option<u64>,
    /// SHA-256 of the stored object, lower-case hex.
    pub sha256: Option<String>,
    /// How long the backup of this source took.
    pub seconds: f64,
    /// One result per drive.
    pub drives: Vec<DriveReport>,
    /// Retention on each drive where the backup landed.
    pub retention: Vec<PruneReport>,
    /// The source's hooks that ran, in order (left out of the JSON when none ran). A failed
    /// `after` or `on_failure` hook is a warning: it does not change `ok`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hooks: Vec<HookReport>,
    /// The run was cancelled before this source started.
    #[serde(skip)]
    pub skipped: bool,
    /// The `before` hook failed, so the source was not backed up (its message is `error`).
    #[serde(skip)]
    pub hook_failure: Option<HookError>,
    /// In test mode: per drive where the object landed, whether it read back intact and was
    /// deleted.
    #[serde(skip)]
    pub test_mode: Vec<TestModeCheck>,
}

/// One drive's part of a source's backup.
#[derive(Debug, Clone, Serialize)]
pub struct DriveReport {
    /// The drive's label.
    pub drive: String,
    /// The backup was stored there.
    pub ok: bool,
    /// A path or `s3://bucket/key`.
    pub location: Option<String>,
    /// Why it was not stored there (one line with its hint in the JSON).
    pub error: Option<DriveError>,
    /// Not stored because the dump failed: the source's `error` says why, and a front end
    /// says it once rather than once per drive.
    #[serde(skip)]
    pub aborted: bool,
}

/// Test mode's verdict on one drive.
#[derive(Debug, Clone)]
pub struct TestModeCheck {
    /// The drive's label.
    pub drive: String,
    /// Read back intact and deleted, saying what was checked; or why not.
    pub result: Result<String, DriveError>,
}

/// Things a front end shows while a run goes on.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum RunEvent<'a> {
    /// A drive was swept for incomplete uploads (told once every source is done).
    Swept(&'a SweepReport),
    /// A source is done (or skipped): its report is final.
    SourceDone(&'a SourceReport),
}

/// The `run` operation over the sources and drives of `plan` that `options` selects. Drives
/// are built once per run and swept beside the sources; up to `parallel` sources are backed
/// up at the same time, each on a task of its own, so a slow or hanging source holds only its
/// own slot. Events come as each source finishes; the report keeps the configured order.
pub async fn backup(
    plan: &Plan,
    options: RunOptions,
    mut on_event: impl FnMut(RunEvent<'_>),
) -> Result<RunReport, UnknownLabel> {
    let plan = plan.select(&options.sources, &options.drives)?;
    let (drives, broken) = wiring::build_drives(&plan.drives);
    for b in &broken {
        tracing::error!("{}", b.error);
    }
    let mut report = RunReport {
        ok: true,
        sources: Vec::new(),
        sweeps: Vec::new(),
        started_at: Utc::now(),
        finished_at: Utc::now(),
        test_mode: options.test_mode,
    };
    let entries = expand_servers(&plan.sources).await;
    let mut engine = Engine::new(plan.compression).with_cancel(options.cancel.clone());
    if options.test_mode {
        engine = engine.with_key_prefix(TEST_PREFIX);
    }
    // A signing key that cannot be loaded stops every source: a backup must never be stored
    // unsigned when signing is configured.
    let keys = &plan.signing.signer;
    let verifier = match keys {
        Ok(signer) => {
            engine = engine.with_signer(signer.clone());
            plan.signing.verifier.clone().ok().flatten()
        }
        Err(_) => None,
    };
    // Each drive is swept and each source's folder listed while the first dumps run, once
    // per run: retention finds the listing ready when a backup lands.
    let policy = plan.retention;
    let prepared: Vec<PreparedDrive> = if options.test_mode {
        Vec::new()
    } else {
        let sources: Vec<_> = entries
            .iter()
            .map(|(s, _)| (s.label().to_owned(), s.trust(verifier.as_ref())))
            .collect();
        let hours = plan.abort_incomplete_after_hours;
        let reach = Reach::for_run(policy, hours, Utc::now());
        drives
            .iter()
            .map(|d| PreparedDrive::start(d.clone(), sources.clone(), hours, reach))
            .collect()
    };
    let parallel = options
        .parallel
        .unwrap_or(plan.concurrency)
        .clamp(1, MAX_CONCURRENCY);
    let run = Arc::new(SourceRun {
        engine,
        drives,
        prepared: prepared.clone(),
        policy,
        verifier,
        test_mode: options.test_mode,
        cancel: options.cancel.clone(),
        progress: options.progress.clone(),
    });
    let mut done: Vec<Option<SourceReport>> = vec![None; entries.len()];
    let mut waiting = entries.iter().enumerate();
    // Dropping the set (the run's future dropped) aborts the tasks; their uploads abort on drop.
    let mut running = JoinSet::new();
    let mut slot_of: Vec<(Id, usize)> = Vec::with_capacity(parallel);
    loop {
        while running.len() < parallel {
            let Some((i, (cfg, refused))) = waiting.next() else {
                break;
            };
            if let Some(why) = refused {
                let entry = not_started(cfg, SourceError::new(why.clone()));
                finish(&mut report, &mut done, i, entry, &broken, &mut on_event);
                continue;
            }
            if options.cancel.is_cancelled() {
                let entry = SourceReport {
                    skipped: true,
                    ..not_started(
                        cfg,
                        SourceError::of_kind(
                            SourceErrorKind::Cancelled,
                            "not started, the run was interrupted",
                        ),
                    )
                };
                finish(&mut report, &mut done, i, entry, &broken, &mut on_event);
                continue;
            }
            if let Err(err) = keys {
                let entry = not_started(
                    cfg,
                    SourceError::new(format!("not started: {err}")).with_cause(err.clone()),
                );
                finish(&mut report, &mut done, i, entry, &broken, &mut on_event);
                continue;
            }
            let handle = running.spawn(run.clone().back_up(cfg.clone()));
            slot_of.push((handle.id(), i));
        }
        let Some(joined) = running.join_next_with_id().await else {
            break;
        };
        let id = match &joined {
            Ok((id, _)) => *id,
            Err(err) => err.id(),
        };
        let Some(at) = slot_of.iter().position(|(task, _)| *task == id) else {
            continue;
        };
        let i = slot_of.swap_remove(at).1;
        let entry = match joined {
            Ok((_, entry)) => entry,
            // A bug, not a state of the source: reported as its failure, never a crash of
            // the whole run.
            Err(err) => not_started(
                &entries[i].0,
                SourceError::new(format!(
                    "internal error: the backup of this source stopped: {err}"
                )),
            ),
        };
        finish(&mut report, &mut done, i, entry, &broken, &mut on_event);
    }
    report.sources = done.into_iter().flatten().collect();
    for drive in prepared {
        if let Some(sweep) = &drive.0.await.sweep {
            on_event(RunEvent::Swept(sweep));
            report.sweeps.push(sweep.clone());
        }
    }
    report.finished_at = Utc::now();
    Ok(report)
}

/// What a run backs up, in order: each source, a whole-server source as each of its
/// databases (and PostgreSQL's globals), asked of the server now; with a reason when one
/// cannot be backed up (the server did not answer, two databases would share a folder).
async fn expand_servers(sources: &[SourcePlan]) -> Vec<(SourcePlan, Option<String>)> {
    let mut out = Vec::new();
    for cfg in sources {
        if !cfg.is_server() {
            out.push((cfg.clone(), None));
            continue;
        }
        match servers::expand(cfg).await {
            Ok(expansion) => {
                out.extend(expansion.parts.into_iter().map(|p| (p, None)));
                out.extend(expansion.refused.into_iter().map(|(p, why)| (p, Some(why))));
            }
            Err(err) => out.push((cfg.clone(), Some(err.to_string()))),
        }
    }
    out
}

/// Records a source's final report in its configured place and tells the front end.
fn finish(
    report: &mut RunReport,
    done: &mut [Option<SourceReport>],
    i: usize,
    mut entry: SourceReport,
    broken: &[BrokenDrive],
    on_event: &mut impl FnMut(RunEvent<'_>),
) {
    add_broken(&mut entry, broken);
    report.ok &= entry.ok;
    on_event(RunEvent::SourceDone(&entry));
    done[i] = Some(entry);
}

/// A drive's [`prune::prepare`] for this run, begun at once and awaited by whoever needs it
/// first; dropping the run aborts it.
#[derive(Clone)]
struct PreparedDrive(Shared<BoxFuture<'static, Arc<Prepared>>>);

impl PreparedDrive {
    fn start(
        drive: Arc<dyn Drive>,
        sources: Vec<(String, TrustPolicy)>,
        hours: u32,
        reach: Reach,
    ) -> Self {
        let label = drive.label().to_owned();
        let task = AbortOnDropHandle::new(tokio::spawn(prune::prepare(
            drive,
            sources,
            Some(hours),
            reach,
        )));
        let done = async move {
            Arc::new(task.await.unwrap_or_else(|err| Prepared {
                sweep: Some(SweepReport::failed(
                    &label,
                    hours,
                    DriveError::new(
                        DriveErrorKind::Other,
                        format!("internal error: the sweep of this drive stopped: {err}"),
                    ),
                )),
                listed: HashMap::new(),
                reach,
            }))
        };
        Self(done.boxed().shared())
    }

    /// The source's folder as listed at the start of the run, with the backup this run
    /// has just stored there; `None` when it could not be listed then, or when only its ends
    /// were listed and this backup is not trusted (retention then lists it whole: by age,
    /// the ends decide alone only when the newest backup is a trusted one).
    async fn listing(
        &self,
        label: &str,
        done: &BackupReport,
        stored: &StoredObject,
        signed: bool,
        trust: &TrustPolicy,
    ) -> Option<Listed> {
        let prepared = self.0.clone().await;
        let mut backups = prepared.listed.get(label)?.clone().ok()?;
        let manifest = done.manifest.clone()?;
        let own = StoredBackup::written(&stored.key, stored.size, manifest, signed, trust)?;
        if prepared.reach != Reach::Whole && !own.standing.is_trusted() {
            return None;
        }
        // The listing may have caught this very backup half-written.
        backups.retain(|b| b.key != own.key);
        backups.push(own);
        Some(Ok(backups))
    }
}

/// What every source of one run shares: the engine, the drives built once for the run,
/// retention and the run's switches.
struct SourceRun {
    engine: Engine,
    drives: Vec<Arc<dyn Drive>>,
    /// Per drive, in the same order (empty in test mode).
    prepared: Vec<PreparedDrive>,
    policy: Option<Policy>,
    /// What retention requires of a backup to count it (`signing`'s public key).
    verifier: Option<Verifier>,
    test_mode: bool,
    cancel: CancellationToken,
    progress: Option<SourceProgress>,
}

impl SourceRun {
    /// One source: its `before` hook, the backup, its `after` or `on_failure` hook, then
    /// retention where the backup landed (or, in test mode, the read-back check).
    async fn back_up(self: Arc<Self>, cfg: SourcePlan) -> SourceReport {
        let cfg = &cfg;
        let source = match cfg.build() {
            Ok(source) => source,
            Err(err) => {
                return self
                    .failed_before_start(cfg, not_started(cfg, err.into()))
                    .await;
            }
        };
        let facts = HookFacts {
            status: "started",
            test_mode: self.test_mode,
            ..HookFacts::default()
        };
        let before = hooks::run_stage(HookStage::Before, cfg, &facts, &self.cancel).await;
        if let Some((report, Err(err))) = before {
            // Nothing is dumped, so nothing is stored.
            let mut entry = not_started(
                cfg,
                SourceError::new(err.to_string()).with_cause(err.clone()),
            );
            entry.hooks.push(report);
            entry.hook_failure = Some(err);
            return self.failed_before_start(cfg, entry).await;
        }
        let drives = &self.drives;
        let encryption = &cfg.config.encryption;
        tracing::info!(source = %cfg.label(), drives = drives.len(), encrypted = encryption.is_some(), "backing up");
        let mut engine = self.engine.clone().with_encryption(encryption.clone());
        if let Some(progress) = &self.progress {
            engine = engine.with_progress(progress.observer_for(cfg.label()));
        }
        let new_database = self.holds_none(cfg).await;
        let (done, failed_attempts) = self.with_retries(cfg, &engine, source).await;
        let mut entry = SourceReport::from(&done);
        entry.attempts = failed_attempts.len() as u32 + 1;
        entry.failed_attempts = failed_attempts;
        entry.database = part_name(cfg);
        entry.new_database = new_database;
        entry.hooks.extend(before.map(|(report, _)| report));
        let stage = if entry.ok {
            HookStage::After
        } else {
            HookStage::OnFailure
        };
        let facts = HookFacts::of(&entry, self.test_mode);
        if let Some((report, _)) = hooks::run_stage(stage, cfg, &facts, &self.cancel).await {
            entry.hooks.push(report);
        }
        if self.test_mode {
            check_and_delete(&done, drives, &mut entry).await;
        } else if let Some(policy) = self.policy {
            let trust = cfg.trust(self.verifier.as_ref());
            // Only where this backup landed: a failed run never deletes.
            for (i, (drive, outcome)) in drives.iter().zip(&done.drives).enumerate() {
                let Ok(stored) = &outcome.result else {
                    continue;
                };
                let listed = match self.prepared.get(i) {
                    Some(prepared) => {
                        let signed = self.engine.signs();
                        prepared
                            .listing(cfg.label(), &done, stored, signed, &trust)
                            .await
                    }
                    None => None,
                };
                let pruned =
                    prune::apply_one(drive.as_ref(), cfg.label(), listed, policy, &trust, false)
                        .await;
                entry.ok &= pruned.ok;
                entry.retention.push(pruned);
            }
        }
        entry
    }

    /// Backs `source` up, again after a pause while its dump, or every drive, failed and
    /// `retry.attempts` allows: each attempt is a new backup with a new key. A backup that
    /// reached some drives is not retried (that would store it twice); the report says which
    /// failed. Returns the last attempt and why each earlier one failed.
    async fn with_retries(
        &self,
        cfg: &SourcePlan,
        engine: &Engine,
        source: Arc<dyn backupman_core::Source>,
    ) -> (BackupReport, Vec<String>) {
        let retry = &cfg.config.retry;
        let policy = Backoff {
            first_pause: retry.delay,
            max_pause: retry.delay.saturating_mul(16).max(Duration::from_secs(1)),
            // The number of attempts bounds it: a source may take hours to dump.
            give_up_after: Duration::MAX,
            max_attempts: retry.attempts,
        };
        let mut failures = Vec::new();
        let outcome = policy
            .retry(
                || {
                    let source = source.clone();
                    async move {
                        let done = engine.backup(source, &self.drives).await;
                        let lost = done.failure.is_some()
                            || (!done.drives.is_empty()
                                && done.drives.iter().all(|d| d.result.is_err()));
                        if lost { Err(done) } else { Ok(done) }
                    }
                },
                |_| !self.cancel.is_cancelled(),
                |done, attempt, pause| {
                    let why = attempt_error(done);
                    tracing::warn!(source = %cfg.label(), attempt, "backup failed ({why}); trying again in {:.1} s", pause.as_secs_f64());
                    failures.push(why);
                },
            )
            .await;
        match outcome {
            Ok(done) => (done, failures),
            Err(gave_up) => (gave_up.error, failures),
        }
    }

    /// A database of a whole-server source that no drive holds a backup of yet (a drive that
    /// cannot be listed says nothing either way).
    async fn holds_none(&self, cfg: &SourcePlan) -> bool {
        if cfg.config.part_of.is_none() || self.test_mode {
            return false;
        }
        let trust = cfg.trust(self.verifier.as_ref());
        for drive in &self.drives {
            match listing::list_source(drive.as_ref(), cfg.label(), &trust).await {
                Ok(backups) if backups.is_empty() => {}
                _ => return false,
            }
        }
        !self.drives.is_empty()
    }

    /// A source that failed before its dump began still runs its `on_failure` hook.
    async fn failed_before_start(&self, cfg: &SourcePlan, mut entry: SourceReport) -> SourceReport {
        let facts = HookFacts::of(&entry, self.test_mode);
        if let Some((report, _)) =
            hooks::run_stage(HookStage::OnFailure, cfg, &facts, &self.cancel).await
        {
            entry.hooks.push(report);
        }
        entry
    }
}

impl HookFacts {
    /// What the `after` and `on_failure` hooks are told about a finished source.
    fn of(entry: &SourceReport, test_mode: bool) -> Self {
        Self {
            status: if entry.ok { "success" } else { "failure" },
            key: entry.key.clone(),
            size: entry.size,
            compressed_size: entry.compressed_size,
            sha256: entry.sha256.clone(),
            error: entry.error.as_ref().map(ToString::to_string).or_else(|| {
                let failed: Vec<_> = entry
                    .drives
                    .iter()
                    .filter_map(|d| d.error.as_ref().map(|e| format!("{}: {e}", d.drive)))
                    .collect();
                (!failed.is_empty()).then(|| failed.join("; "))
            }),
            test_mode,
        }
    }
}

/// One attempt's failure in a line: the dump's, or each drive's.
fn attempt_error(done: &BackupReport) -> String {
    match &done.failure {
        Some(failure) => failure.to_string(),
        None => done
            .drives
            .iter()
            .filter_map(|d| d.result.as_ref().err().map(|e| format!("{}: {e}", d.drive)))
            .collect::<Vec<_>>()
            .join("; "),
    }
}

/// The database a part of a whole-server source is.
fn part_name(cfg: &SourcePlan) -> Option<String> {
    let part_of = cfg.config.part_of.as_ref();
    part_of.map(|p| p.object.name().to_owned())
}

fn not_started(cfg: &SourcePlan, error: SourceError) -> SourceReport {
    SourceReport {
        source: cfg.label().to_owned(),
        database: part_name(cfg),
        new_database: false,
        attempts: 0,
        failed_attempts: Vec::new(),
        ok: false,
        key: String::new(),
        error: Some(error),
        warnings: None,
        size: None,
        compressed_size: None,
        sha256: None,
        seconds: 0.0,
        drives: Vec::new(),
        retention: Vec::new(),
        hooks: Vec::new(),
        skipped: false,
        hook_failure: None,
        test_mode: Vec::new(),
    }
}

/// A drive that could not even be built fails every source's backup on it.
fn add_broken(entry: &mut SourceReport, broken: &[BrokenDrive]) {
    if entry.skipped {
        return;
    }
    for b in broken {
        entry.ok = false;
        entry.drives.push(DriveReport {
            drive: b.label.clone(),
            ok: false,
            location: None,
            error: Some(b.error.to_drive_error()),
            aborted: false,
        });
    }
}

impl From<&BackupReport> for SourceReport {
    fn from(report: &BackupReport) -> Self {
        let manifest = report.manifest.as_ref();
        Self {
            source: report.source.clone(),
            database: None,
            new_database: false,
            attempts: 1,
            failed_attempts: Vec::new(),
            ok: report.succeeded(),
            key: report.key.clone(),
            error: report.failure.clone(),
            warnings: report.warnings.clone(),
            size: manifest.map(|m| m.size),
            compressed_size: manifest.map(|m| m.compressed_size),
            sha256: manifest.map(|m| m.sha256.clone()),
            seconds: report.elapsed.as_secs_f64(),
            drives: report
                .drives
                .iter()
                .map(|d| DriveReport {
                    drive: d.drive.clone(),
                    ok: d.result.is_ok(),
                    location: d.result.as_ref().ok().map(|s| s.location.clone()),
                    error: d.result.as_ref().err().cloned(),
                    aborted: d
                        .result
                        .as_ref()
                        .is_err_and(|e| e.kind == DriveErrorKind::Aborted),
                })
                .collect(),
            retention: Vec::new(),
            hooks: Vec::new(),
            skipped: false,
            hook_failure: None,
            test_mode: Vec::new(),
        }
    }
}

/// Test mode: read every stored object back, check it against the manifest, then delete it
/// and its manifest.
async fn check_and_delete(
    report: &BackupReport,
    drives: &[Arc<dyn Drive>],
    entry: &mut SourceReport,
) {
    let Some(manifest) = &report.manifest else {
        return;
    };
    for ((drive, outcome), json) in drives.iter().zip(&report.drives).zip(&mut entry.drives) {
        if outcome.result.is_err() {
            continue;
        }
        // A run holds the recipients' public keys only: an encrypted object is checked by
        // its stored bytes, and decrypting it is `verify --identity`'s job.
        let checked = check_against_manifest(drive.as_ref(), &report.key, manifest, None)
            .await
            .map(|read| match read.plain_size {
                Some(_) => "SHA-256 and stream intact".to_owned(),
                None => {
                    "SHA-256 of the encrypted object intact; not decrypted: a run has no identity"
                        .to_owned()
                }
            })
            .map_err(DriveError::from);
        let deleted = async {
            drive.delete(&report.key).await?;
            drive.delete(&format!("{}.json", report.key)).await
        }
        .await
        .map_err(|e| e.context("could not delete the test object"));
        let result = checked.and_then(|what| deleted.map(|()| what));
        if let Err(err) = &result {
            json.ok = false;
            json.error = Some(err.clone());
            entry.ok = false;
        }
        entry.test_mode.push(TestModeCheck {
            drive: drive.label().to_owned(),
            result,
        });
    }
}
