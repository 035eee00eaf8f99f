//! A configuration resolved once into what the operations run on: the [`Plan`]. It owns
//! everything it holds (nothing borrows the configuration), so the service keeps one for its
//! life and a command builds one and passes it to its operation.
//!
//! What can fail is resolved here too, and kept: a signing key that cannot be loaded is its
//! error in [`Signing`], for each operation to report the way it always has (a run stops
//! every source with it, `list` shows what is there and fails). Drives are built by each
//! operation from the plan's drive configurations, so a drive that cannot be built is
//! reported by every run, and tried again by the next.

use std::sync::Arc;

use backupman_config::{
    Config, DriveConfig, IncomingWebhookConfig, MailConfig, PingConfig, SigningConfig,
    SourceConfig, WebhookConfig,
};
use backupman_core::listing::TrustPolicy;
use backupman_core::retention::Policy;
use backupman_core::{Compression, Signer, SigningKeyError, Source, SourceError, Verifier};
use backupman_dump::DatabaseSettings;

use super::{WiringError, settings};
use crate::servers;

/// What the operations run on, resolved once from a configuration by [`plan()`].
#[derive(Debug, Clone)]
pub struct Plan {
    /// The sources, in configuration order (a whole-server source as configured: a run asks
    /// its server for its databases, the other operations find them on the drives).
    pub sources: Vec<SourcePlan>,
    /// The drives, in configuration order; each operation builds them
    /// ([`build_drives`](super::build_drives)), so one that cannot be built fails on its own.
    pub drives: Vec<DriveConfig>,
    /// Retention, when configured and enabled: applied to every source's folder.
    pub retention: Option<Policy>,
    /// How the engine compresses every backup.
    pub compression: Compression,
    /// The keys manifests are signed with and checked against.
    pub signing: Signing,
    /// Sources a run backs up at the same time, unless `run --parallel` says otherwise.
    pub concurrency: usize,
    /// Uploads a killed run left incomplete are discarded once this many hours old.
    pub abort_incomplete_after_hours: u32,
    /// Who is told about a run.
    pub notifiers: Notifiers,
}

/// Resolves `config` into the [`Plan`] every operation takes. Every option is named here (no
/// `..`): an option added to the configuration does not compile until it is resolved or said
/// to be used elsewhere.
pub fn plan(config: &Config) -> Plan {
    let Config {
        sources,
        drives,
        retention,
        compression,
        // Each source's `encryption` already holds these when it names none of its own.
        encryption: _,
        signing,
        abort_incomplete_after_hours,
        concurrency,
        webhooks,
        mail,
        slack,
        discord,
        pings,
        // The service's own: its front end reads it.
        http: _,
    } = config;
    Plan {
        sources: sources.iter().cloned().map(SourcePlan::new).collect(),
        drives: drives.clone(),
        retention: retention.as_ref().filter(|r| r.enabled).map(|r| r.policy),
        compression: *compression,
        signing: Signing::load(signing.as_ref()),
        concurrency: *concurrency,
        abort_incomplete_after_hours: *abort_incomplete_after_hours,
        notifiers: Notifiers {
            webhooks: webhooks.clone(),
            mail: mail.clone(),
            slack: slack.clone(),
            discord: discord.clone(),
            pings: pings.clone(),
        },
    }
}

impl Plan {
    /// The plan narrowed to the sources and drives whose labels were asked for (all of either
    /// when none were), matched without regard to case. `{label}/{database}` names one part
    /// of a whole-server source.
    pub fn select(&self, sources: &[String], drives: &[String]) -> Result<Plan, UnknownLabel> {
        Ok(Plan {
            sources: self.select_sources(sources)?,
            drives: self.select_drives(drives)?,
            ..self.clone()
        })
    }

    /// The drives whose labels were asked for (all when none were).
    pub fn select_drives(&self, wanted: &[String]) -> Result<Vec<DriveConfig>, UnknownLabel> {
        let found = select("drive", &self.drives, DriveConfig::label, wanted)?;
        Ok(found.into_iter().cloned().collect())
    }

    /// The sources whose labels were asked for (all when none were); `{label}/{database}`
    /// names one part of a whole-server source.
    pub fn select_sources(&self, wanted: &[String]) -> Result<Vec<SourcePlan>, UnknownLabel> {
        if wanted.is_empty() {
            return Ok(self.sources.clone());
        }
        wanted
            .iter()
            .map(|want| {
                if let Ok(mut found) = select(
                    "source",
                    &self.sources,
                    SourcePlan::label,
                    std::slice::from_ref(want),
                ) {
                    return Ok(found.remove(0).clone());
                }
                servers::named(&self.sources, want).ok_or_else(|| UnknownLabel {
                    kind: "source",
                    wanted: want.clone(),
                    known: self.sources.iter().map(|s| s.label().to_owned()).collect(),
                })
            })
            .collect()
    }

    /// The provider (`local`, `s3`) of the drive labelled `drive`; `unknown` when none is.
    pub fn provider_of(&self, drive: &str) -> &'static str {
        self.drives
            .iter()
            .find(|d| d.label() == drive)
            .map_or("unknown", DriveConfig::provider)
    }
}

/// One configured source as the operations use it: what builds its `Source`, its hooks,
/// retries and encryption (in [`config`](Self::config)), and what its backups read back must
/// be to be trusted ([`trust`](Self::trust)).
#[derive(Debug, Clone)]
pub struct SourcePlan {
    /// The source as configured; for one database of a whole-server source, that part's
    /// configuration (`servers::part`).
    pub config: SourceConfig,
}

impl SourcePlan {
    /// The plan of a source configured (or built in code) as `config`.
    pub fn new(config: SourceConfig) -> Self {
        Self { config }
    }

    /// Its label; for a part of a whole-server source, `{label}/{database}`.
    pub fn label(&self) -> &str {
        &self.config.label
    }

    /// A whole-server source (`databases`), which is backed up as its parts.
    pub fn is_server(&self) -> bool {
        self.config.databases.is_some()
    }

    /// The live source that dumps it.
    pub fn build(&self) -> Result<Arc<dyn Source>, WiringError> {
        settings::source(&self.config)
    }

    /// Its database's settings, whatever the database (what a restore target is parsed
    /// against).
    pub fn database_settings(&self) -> Result<DatabaseSettings, SourceError> {
        settings::database_settings(&self.config)
    }

    /// What a backup of it read back must be to be trusted now: signed by `verifier`, and
    /// encrypted when it has `encryption`. Made at each use, as it holds the time.
    pub fn trust(&self, verifier: Option<&Verifier>) -> TrustPolicy {
        TrustPolicy {
            verifier: verifier.cloned(),
            require_encryption: self.config.encryption.is_some(),
            now: chrono::Utc::now(),
        }
    }
}

/// The signing keys, each loaded once, or why it could not be.
#[derive(Debug, Clone)]
pub struct Signing {
    /// What signs a run's manifests (`signing.secret_key_file`, whose public half must be
    /// `signing.public_key` when that is given too); `None` without one. An error stops every
    /// source of a run: a backup is never stored unsigned when signing is configured.
    pub signer: Result<Option<Signer>, SigningKeyError>,
    /// What every manifest read back must be signed by: `signing.public_key`, or else the
    /// secret key's own public half; `None` without a `signing` section.
    pub verifier: Result<Option<Verifier>, SigningKeyError>,
}

impl Signing {
    fn load(signing: Option<&SigningConfig>) -> Self {
        let signer = signer(signing);
        let verifier = match signing.and_then(|s| s.public_key.clone()) {
            // A restore host holds no secret key: what it checks against needs none.
            Some(public) => Ok(Some(public)),
            None => signer
                .as_ref()
                .map(|s| s.as_ref().map(Signer::verifier))
                .map_err(Clone::clone),
        };
        Self { signer, verifier }
    }
}

fn signer(signing: Option<&SigningConfig>) -> Result<Option<Signer>, SigningKeyError> {
    let Some(signing) = signing else {
        return Ok(None);
    };
    let Some(path) = &signing.secret_key_file else {
        return Ok(None);
    };
    let signer = Signer::from_file(path)?;
    if signing
        .public_key
        .as_ref()
        .is_some_and(|public| *public != signer.verifier())
    {
        return Err(SigningKeyError::Mismatch);
    }
    Ok(Some(signer))
}

/// The notifiers configured (each enabled one), told about every run.
#[derive(Debug, Clone, Default)]
pub struct Notifiers {
    /// `notifiers.webhook.endpoints`.
    pub webhooks: Vec<WebhookConfig>,
    /// `notifiers.mail`.
    pub mail: Option<MailConfig>,
    /// `notifiers.slack`.
    pub slack: Option<IncomingWebhookConfig>,
    /// `notifiers.discord`.
    pub discord: Option<IncomingWebhookConfig>,
    /// `notifiers.ping`: dead-man's-switch endpoints.
    pub pings: Vec<PingConfig>,
}

/// A label asked for that the configuration does not have.
#[derive(Debug, Clone, thiserror::Error)]
#[error("no {kind} labelled {wanted:?} in the configuration (known: {})", known_list(.known))]
pub struct UnknownLabel {
    /// `source` or `drive`.
    pub kind: &'static str,
    /// The label given.
    pub wanted: String,
    /// The labels configured.
    pub known: Vec<String>,
}

fn known_list(known: &[String]) -> String {
    known
        .iter()
        .map(|k| format!("{k:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn select<'a, T>(
    kind: &'static str,
    items: &'a [T],
    label: impl Fn(&T) -> &str,
    wanted: &[String],
) -> Result<Vec<&'a T>, UnknownLabel> {
    if wanted.is_empty() {
        return Ok(items.iter().collect());
    }
    wanted
        .iter()
        .map(|want| {
            items
                .iter()
                .find(|i| label(i).eq_ignore_ascii_case(want))
                .ok_or_else(|| UnknownLabel {
                    kind,
                    wanted: want.clone(),
                    known: items.iter().map(|i| label(i).to_owned()).collect(),
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use backupman_config::ServerObject;

    fn plan_of(yaml: &str) -> Plan {
        let loaded =
            backupman_config::parse(yaml, "c.yml", |_| None).unwrap_or_else(|e| panic!("{e}"));
        plan(&loaded.config)
    }

    const SOURCES: &str = "data_sources:\n  - provider: sqlite\n    label: App\n    db_path: /srv/app.db\n  - provider: postgres\n    label: Main PG\n    databases: all\ndrives:\n  - provider: local\n    label: Disk\n    folder: /b\n  - provider: local\n    label: Spare\n    folder: /c\n";

    #[test]
    fn labels_select_sources_drives_and_parts_of_a_whole_server() {
        let plan = plan_of(SOURCES);
        let labels = |p: &Plan| {
            let sources: Vec<_> = p.sources.iter().map(|s| s.label().to_owned()).collect();
            let drives: Vec<_> = p.drives.iter().map(|d| d.label().to_owned()).collect();
            (sources, drives)
        };
        assert_eq!(
            labels(&plan.select(&[], &[]).unwrap()),
            (
                vec!["App".into(), "Main PG".into()],
                vec!["Disk".into(), "Spare".into()]
            )
        );
        let narrowed = plan
            .select(&["main pg/app".into(), "app".into()], &["SPARE".into()])
            .unwrap();
        assert_eq!(
            labels(&narrowed),
            (
                vec!["Main PG/app".into(), "App".into()],
                vec!["Spare".into()]
            )
        );
        let part = &narrowed.sources[0].config;
        assert_eq!(part.db_name.as_deref(), Some("app"));
        assert!(part.databases.is_none());
        let part_of = part.part_of.as_ref().unwrap();
        assert_eq!(part_of.server, "Main PG");
        assert_eq!(part_of.object, ServerObject::Database("app".into()));
        let globals = plan.select_sources(&["Main PG/globals".into()]).unwrap();
        assert_eq!(
            globals[0].config.part_of.as_ref().unwrap().object,
            ServerObject::Globals
        );

        let unknown = plan.select(&["Nope".into()], &[]).unwrap_err();
        assert_eq!(
            unknown.to_string(),
            r#"no source labelled "Nope" in the configuration (known: "App", "Main PG")"#
        );
        let unknown = plan.select(&[], &["Nope".into()]).unwrap_err();
        assert_eq!(unknown.kind, "drive");
        // A part of a source that is not a whole server is no label.
        assert!(plan.select_sources(&["App/x".into()]).is_err());
    }

    #[test]
    fn retention_signing_and_the_engines_settings_are_resolved_once() {
        let plan = plan_of(SOURCES);
        assert_eq!(plan.retention, None);
        assert!(matches!(plan.signing.signer, Ok(None)));
        assert!(matches!(plan.signing.verifier, Ok(None)));
        assert_eq!(plan.provider_of("Disk"), "local");
        assert_eq!(plan.provider_of("gone"), "unknown");

        let off = plan_of(&format!(
            "{SOURCES}retention:\n  enabled: false\n  by: count\n  value: 3\n"
        ));
        assert_eq!(off.retention, None);
        let on = plan_of(&format!(
            "{SOURCES}retention:\n  by: count\n  value: 3\nconcurrency: 2\n"
        ));
        assert_eq!(on.retention, Some(Policy::Count { keep: 3 }));
        assert_eq!(on.concurrency, 2);
    }

    #[test]
    fn a_signing_key_that_cannot_be_read_is_kept_as_its_error() {
        let missing = "/nonexistent/backupman-test/minisign.key";
        // A restore host names the public key: what it checks against needs no secret key.
        let public = "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3";
        let both = plan_of(&format!(
            "{SOURCES}signing:\n  secret_key_file: {missing}\n  public_key: {public}\n"
        ));
        assert!(matches!(
            both.signing.signer,
            Err(SigningKeyError::Read { .. })
        ));
        assert!(matches!(both.signing.verifier, Ok(Some(_))));
        let secret_only = plan_of(&format!(
            "{SOURCES}signing:\n  secret_key_file: {missing}\n"
        ));
        assert!(matches!(
            secret_only.signing.signer,
            Err(SigningKeyError::Read { .. })
        ));
        assert!(matches!(
            secret_only.signing.verifier,
            Err(SigningKeyError::Read { .. })
        ));
    }
}
