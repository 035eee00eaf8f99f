//! A source's hooks (`data_sources[].hooks`): shell commands run around its backup.

use std::time::Duration;

/// `hooks`: commands run with `sh -c` around one source's backup, each told about it through
/// `BACKUPMAN_*` environment variables. All optional.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HooksConfig {
    /// `before`: runs before the dump starts; if it fails or times out, the source's backup
    /// fails and nothing is stored.
    pub before: Option<String>,
    /// `after`: runs after a successful backup; its failure is a warning.
    pub after: Option<String>,
    /// `on_failure`: runs after a failed backup (a failed `before` included); its failure is
    /// a warning.
    pub on_failure: Option<String>,
    /// `timeout_seconds`: how long each command may run before its whole process group is
    /// killed (default [`HooksConfig::DEFAULT_TIMEOUT`]).
    pub timeout: Duration,
}

impl HooksConfig {
    /// Five minutes: long enough to stop a service or flush a cache, short enough that a
    /// hung command does not hold the run for good.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

    /// Whether any command is set.
    pub fn is_empty(&self) -> bool {
        self.before.is_none() && self.after.is_none() && self.on_failure.is_none()
    }
}

impl Default for HooksConfig {
    fn default() -> Self {
        Self {
            before: None,
            after: None,
            on_failure: None,
            timeout: Self::DEFAULT_TIMEOUT,
        }
    }
}
