//! What the sources that run a dump tool (PostgreSQL, MySQL/MariaDB) share: spawning the tool
//! with its stdout as the dump, killed when the run is cancelled, and a
//! [`Source`](backupman_core::Source) implementation that runs their blocking work on tokio's
//! blocking pool.
//!
//! A blanket `impl<T: ToolSource> Source for T` is not allowed (`Source` belongs to another
//! crate), so [`impl_source!`] writes that implementation for each source instead.

use std::fmt;
use std::process::Command;

use backupman_core::{CancellationToken, Dump, DumpStatus, SourceError};

use crate::process;
use crate::server::ServerSettings;

/// A source that dumps with a command-line tool: what it states beyond its settings.
pub(crate) trait ToolSource: Clone + Send + Sync + 'static {
    /// Names a dump's start in the error when the blocking task itself fails.
    const STARTING: &'static str;

    /// The source's label.
    fn source_label(&self) -> &str;

    /// The provider it reports (`postgres`, `mysql`, `mariadb`).
    fn provider_name(&self) -> &'static str;

    /// The database server the tool connects to.
    fn server(&self) -> &ServerSettings;

    /// The database its manifests name: the server's, unless the source dumps something else.
    fn database_name(&self) -> String {
        self.server().database.clone()
    }

    /// Finds the tool and spawns it with [`ToolSource::spawn_dump`] (blocking):
    /// `Source::start`.
    fn start_blocking(&self, cancel: CancellationToken) -> Result<Dump, SourceError>;

    /// Connects and checks the permissions a dump needs (blocking): `Source::check`.
    fn check_blocking(&self) -> Result<(), SourceError>;

    /// An error that names the source.
    fn error(&self, message: impl fmt::Display) -> SourceError {
        SourceError::new(format!("source {:?}: {message}", self.source_label()))
    }

    /// Spawns `cmd`, whose stdout is the dump, killed as soon as `cancel` fires. Finishing the
    /// dump waits for the tool and fails as it failed; a tool that succeeded but printed on
    /// stderr passes that text on as `warnings`. Call it on tokio's blocking pool.
    fn spawn_dump(
        &self,
        cmd: Command,
        tool_version: Option<String>,
        cancel: CancellationToken,
    ) -> Result<Dump, SourceError> {
        // Work done before the spawn (version checks) may have outlasted the run.
        if cancel.is_cancelled() {
            return Err(SourceError::cancelled());
        }
        let (running, stdout) = process::spawn_dump(cmd, cancel).map_err(|e| self.error(e))?;
        let label = self.source_label().to_owned();
        Ok(Dump {
            reader: Box::new(stdout),
            finish: Box::new(move || {
                let stderr = running
                    .wait_blocking()
                    .map_err(|e| SourceError::new(format!("source {label:?}: {e}")))?;
                Ok(DumpStatus {
                    tool_version,
                    warnings: (!stderr.is_empty()).then_some(stderr),
                })
            }),
        })
    }
}

/// Runs `work` on a clone of `source` on tokio's blocking pool; `what` names it in the error
/// should the task itself fail.
pub(crate) async fn on_blocking_pool<S: ToolSource, T: Send + 'static>(
    source: &S,
    what: &str,
    work: impl FnOnce(&S) -> Result<T, SourceError> + Send + 'static,
) -> Result<T, SourceError> {
    let this = source.clone();
    tokio::task::spawn_blocking(move || work(&this))
        .await
        .unwrap_or_else(|e| Err(SourceError::new(format!("{what} failed: {e}"))))
}

/// `impl Source for $source` of a [`ToolSource`]: label, provider and database from its
/// settings, plain SQL, and `start`/`check` as its blocking work on the blocking pool.
macro_rules! impl_source {
    ($source:ty) => {
        #[::async_trait::async_trait]
        impl ::backupman_core::Source for $source {
            fn label(&self) -> &str {
                $crate::tool_source::ToolSource::source_label(self)
            }

            fn provider(&self) -> &str {
                $crate::tool_source::ToolSource::provider_name(self)
            }

            fn database(&self) -> String {
                $crate::tool_source::ToolSource::database_name(self)
            }

            fn extension(&self) -> &str {
                "sql"
            }

            async fn start(
                &self,
                cancel: ::backupman_core::CancellationToken,
            ) -> Result<::backupman_core::Dump, ::backupman_core::SourceError> {
                $crate::tool_source::on_blocking_pool(
                    self,
                    <Self as $crate::tool_source::ToolSource>::STARTING,
                    move |this: &Self| {
                        $crate::tool_source::ToolSource::start_blocking(this, cancel)
                    },
                )
                .await
            }

            async fn check(&self) -> Result<(), ::backupman_core::SourceError> {
                $crate::tool_source::on_blocking_pool(
                    self,
                    "checking the source",
                    <Self as $crate::tool_source::ToolSource>::check_blocking,
                )
                .await
            }
        }
    };
}

pub(crate) use impl_source;
