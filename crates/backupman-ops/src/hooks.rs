//! A source's hooks: its `before`, `after` and `on_failure` commands, each run with `sh -c`
//! in a process group of its own, told about the backup through `BACKUPMAN_*` environment
//! variables (never a secret), and killed with everything it started when it outlives its
//! timeout or the run is interrupted.
//!
//! `before` guards the backup: when it fails, the source is not backed up. `after` and
//! `on_failure` only report: their failures are warnings on the source's report.

use std::fmt;
use std::time::{Duration, Instant};

use backupman_config::{HooksConfig, SourceConfig};
use backupman_core::CancellationToken;
use backupman_dump::supervise::{self, ProcessError, Spec};
use serde::Serialize;

use crate::wiring::SourcePlan;

/// Which of a source's hooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum HookStage {
    /// `before`: runs before the dump; its failure fails the source's backup.
    Before,
    /// `after`: runs after a successful backup.
    After,
    /// `on_failure`: runs after a failed backup.
    OnFailure,
}

impl HookStage {
    /// The option's name in `config.yml`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Before => "before",
            Self::After => "after",
            Self::OnFailure => "on_failure",
        }
    }
}

impl fmt::Display for HookStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a hook failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HookError {
    /// `sh` could not be started.
    #[error("the {stage} hook could not be started: {reason}")]
    Spawn {
        /// Which hook.
        stage: HookStage,
        /// The operating system's reason.
        reason: String,
    },
    /// The command exited non-zero or was killed by a signal.
    #[error("{message}")]
    Failed {
        /// Which hook.
        stage: HookStage,
        /// `the before hook failed (exit status 3): <its stderr>`: the status and what it
        /// printed on stderr (the first 64 KiB, `backupman_dump::supervise::STDERR_LIMIT`).
        message: String,
    },
    /// The command outlived its timeout; it was killed with everything it started.
    #[error("the {stage} hook was still running after {} s and was killed with everything it started", .timeout.as_secs())]
    TimedOut {
        /// Which hook.
        stage: HookStage,
        /// The `timeout_seconds` it had.
        timeout: Duration,
    },
    /// The run was interrupted while the hook ran; it was killed.
    #[error("the {stage} hook was killed: the run was interrupted")]
    Cancelled {
        /// Which hook.
        stage: HookStage,
    },
}

/// One hook run, as `run --json` shows it in the source's `hooks`.
#[derive(Debug, Clone, Serialize)]
pub struct HookReport {
    /// Which hook.
    pub hook: HookStage,
    /// It exited 0 in time.
    pub ok: bool,
    /// How long it ran.
    pub seconds: f64,
    /// Why it failed.
    pub error: Option<String>,
}

/// What a hook is told, as `BACKUPMAN_*` variables. Every variable is set (empty when it
/// does not apply), so a script run with `set -u` can read them all.
#[derive(Debug, Clone, Default)]
pub struct HookFacts {
    /// `BACKUPMAN_STATUS`: `started` (before), `success` or `failure`.
    pub status: &'static str,
    /// `BACKUPMAN_KEY`: the backup's object key.
    pub key: String,
    /// `BACKUPMAN_SIZE`: bytes of the plain dump.
    pub size: Option<u64>,
    /// `BACKUPMAN_COMPRESSED_SIZE`: bytes stored.
    pub compressed_size: Option<u64>,
    /// `BACKUPMAN_SHA256`: the stored object's SHA-256.
    pub sha256: Option<String>,
    /// `BACKUPMAN_ERROR`: why the backup failed.
    pub error: Option<String>,
    /// `BACKUPMAN_TEST_MODE`: `1` in test mode, else `0`.
    pub test_mode: bool,
}

/// The environment a hook of `source` gets.
fn environment(
    stage: HookStage,
    source: &SourceConfig,
    facts: &HookFacts,
) -> Vec<(&'static str, String)> {
    let number = |n: Option<u64>| n.map(|n| n.to_string()).unwrap_or_default();
    vec![
        ("BACKUPMAN_HOOK", stage.as_str().to_owned()),
        ("BACKUPMAN_SOURCE", source.label.clone()),
        ("BACKUPMAN_PROVIDER", source.provider.as_str().to_owned()),
        (
            "BACKUPMAN_DATABASE",
            source.db_name.clone().unwrap_or_default(),
        ),
        ("BACKUPMAN_STATUS", facts.status.to_owned()),
        ("BACKUPMAN_KEY", facts.key.clone()),
        ("BACKUPMAN_SIZE", number(facts.size)),
        ("BACKUPMAN_COMPRESSED_SIZE", number(facts.compressed_size)),
        ("BACKUPMAN_SHA256", facts.sha256.clone().unwrap_or_default()),
        ("BACKUPMAN_ERROR", facts.error.clone().unwrap_or_default()),
        (
            "BACKUPMAN_TEST_MODE",
            if facts.test_mode { "1" } else { "0" }.to_owned(),
        ),
    ]
}

/// The command configured for `stage`, if any.
fn command(hooks: &HooksConfig, stage: HookStage) -> Option<&str> {
    match stage {
        HookStage::Before => hooks.before.as_deref(),
        HookStage::After => hooks.after.as_deref(),
        HookStage::OnFailure => hooks.on_failure.as_deref(),
    }
}

/// Runs `source`'s hook for `stage`, if it has one: `None` when it has none, else its report
/// and, when it failed, why.
pub async fn run_stage(
    stage: HookStage,
    source: &SourcePlan,
    facts: &HookFacts,
    cancel: &CancellationToken,
) -> Option<(HookReport, Result<(), HookError>)> {
    let source = &source.config;
    let command = command(&source.hooks, stage)?;
    tracing::info!(source = %source.label, "running the {stage} hook");
    let started = Instant::now();
    let env = environment(stage, source, facts);
    let result = run(stage, command, source.hooks.timeout, &env, cancel).await;
    let report = HookReport {
        hook: stage,
        ok: result.is_ok(),
        seconds: started.elapsed().as_secs_f64(),
        error: result.as_ref().err().map(ToString::to_string),
    };
    Some((report, result))
}

/// Runs `command` with `sh -c` under the one supervisor (`backupman_dump::supervise`: its own
/// process group, stderr kept up to its limit) with `env` added, waiting at most `timeout`;
/// on timeout or cancel the whole group is killed.
pub async fn run(
    stage: HookStage,
    command: &str,
    timeout: Duration,
    env: &[(&'static str, String)],
    cancel: &CancellationToken,
) -> Result<(), HookError> {
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .envs(env.iter().map(|(k, v)| (*k, v)));
    let spec = Spec {
        name: format!("the {stage} hook"),
        stdin: false,
        stdout: false,
        cancel: Some(cancel.clone()),
        timeout: Some(timeout),
    };
    let result = match supervise::spawn(cmd, spec) {
        Ok((running, _no_pipes)) => running.wait().await,
        Err(err) => Err(err),
    };
    result.map(drop).map_err(|err| match err {
        ProcessError::Failed { message, .. } => HookError::Failed { stage, message },
        ProcessError::TimedOut { timeout, .. } => HookError::TimedOut { stage, timeout },
        ProcessError::Cancelled { .. } => HookError::Cancelled { stage },
        ProcessError::Spawn { cause, .. } => HookError::Spawn {
            stage,
            reason: cause.to_string(),
        },
        other => HookError::Spawn {
            stage,
            reason: other.to_string(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_interrupted_run_kills_its_hook() {
        let cancel = CancellationToken::new();
        let stop = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            stop.cancel();
        });
        let started = Instant::now();
        let result = run(
            HookStage::After,
            "sleep 30",
            Duration::from_secs(60),
            &[],
            &cancel,
        )
        .await;
        assert_eq!(
            result,
            Err(HookError::Cancelled {
                stage: HookStage::After
            })
        );
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[tokio::test]
    async fn the_environment_reaches_the_command_and_its_stderr_the_message() {
        let env = [("BACKUPMAN_SOURCE", "App DB".to_owned())];
        let ok = run(
            HookStage::Before,
            "test \"$BACKUPMAN_SOURCE\" = 'App DB'",
            Duration::from_secs(10),
            &env,
            &CancellationToken::new(),
        )
        .await;
        assert_eq!(ok, Ok(()));
        let failed = run(
            HookStage::OnFailure,
            "echo \"no pager for $BACKUPMAN_SOURCE\" >&2; kill -9 $$",
            Duration::from_secs(10),
            &env,
            &CancellationToken::new(),
        )
        .await
        .unwrap_err();
        assert_eq!(
            failed.to_string(),
            "the on_failure hook failed (killed by signal 9): no pager for App DB"
        );
    }
}
