//! Each configured source and drive mapped onto the settings of the crate that serves it
//! (`backupman-dump`'s, `backupman-s3`'s), and built into a live `Source` or `Drive`.

use std::path::PathBuf;
use std::sync::Arc;

use backupman_config::{DriveConfig, S3DriveConfig, ServerObject, SourceConfig, SourceProvider};
use backupman_core::{Drive, DriveError, DriveErrorKind, LocalDrive, Source, SourceError};
use backupman_dump::mysql::MysqlSource;
use backupman_dump::postgres::PostgresSource;
use backupman_dump::{
    DatabaseSettings, MysqlFlavor, MysqlSettings, PostgresSettings, ServerSettings, SqliteSettings,
    SqliteSource,
};
use backupman_s3::{S3Credentials, S3Drive, S3Settings};

use super::WiringError;

/// The live source for a configured one.
pub fn source(cfg: &SourceConfig) -> Result<Arc<dyn Source>, WiringError> {
    Ok(match cfg.provider {
        SourceProvider::Sqlite => Arc::new(SqliteSource::new(sqlite_settings(cfg)?)),
        SourceProvider::Postgres => Arc::new(PostgresSource::new(postgres_settings(cfg))),
        SourceProvider::Mysql | SourceProvider::Mariadb => {
            Arc::new(MysqlSource::new(mysql_settings(cfg)))
        }
    })
}

/// The settings of a configured source, whatever its database (what a restore target is
/// parsed against).
pub fn database_settings(cfg: &SourceConfig) -> Result<DatabaseSettings, SourceError> {
    Ok(match cfg.provider {
        SourceProvider::Sqlite => sqlite_settings(cfg)?.into(),
        SourceProvider::Postgres => postgres_settings(cfg).into(),
        SourceProvider::Mysql | SourceProvider::Mariadb => mysql_settings(cfg).into(),
    })
}

/// A configured source's options as the dump crate takes them.
struct DumpOptions<'a> {
    label: &'a str,
    provider: SourceProvider,
    server: ServerSettings,
    db_path: &'a Option<PathBuf>,
    dump_tool: &'a Option<PathBuf>,
    dump_options: &'a [String],
    tmp_folder: &'a Option<PathBuf>,
    exclude_tables: &'a [String],
    exclude_table_data: &'a [String],
    globals: bool,
}

impl<'a> DumpOptions<'a> {
    /// Every option of a source is named here (no `..`): an option added to the
    /// configuration does not compile until it is mapped or said to be used elsewhere.
    fn of(cfg: &'a SourceConfig) -> Self {
        let SourceConfig {
            label,
            provider,
            host,
            port,
            db_name,
            user,
            password,
            tls,
            db_path,
            dump_tool,
            dump_options,
            tmp_folder,
            exclude_tables,
            exclude_table_data,
            part_of,
            // The run's, not the dump's: hooks and retries around it, encryption after it,
            // which databases and when (whole-server sources arrive here one database each).
            hooks: _,
            encryption: _,
            databases: _,
            retry: _,
            schedule: _,
        } = cfg;
        let mut server = ServerSettings::new(host, db_name.clone().unwrap_or_default());
        server.port = *port;
        server.user = user.clone();
        server.password = password.clone();
        server.tls = tls.clone();
        Self {
            label,
            provider: *provider,
            server,
            db_path,
            dump_tool,
            dump_options,
            tmp_folder,
            exclude_tables,
            exclude_table_data,
            globals: part_of
                .as_ref()
                .is_some_and(|p| p.object == ServerObject::Globals),
        }
    }
}

/// The PostgreSQL source's settings for a configured one.
pub fn postgres_settings(cfg: &SourceConfig) -> PostgresSettings {
    let o = DumpOptions::of(cfg);
    let mut settings = PostgresSettings::new(o.label, o.server);
    settings.dump_tool = o.dump_tool.clone();
    settings.dump_options = o.dump_options.to_vec();
    settings.exclude_tables = o.exclude_tables.to_vec();
    settings.exclude_table_data = o.exclude_table_data.to_vec();
    settings.globals = o.globals;
    settings
}

/// The MySQL/MariaDB source's settings for a configured one (`provider: mariadb` is MariaDB,
/// any other MySQL).
pub fn mysql_settings(cfg: &SourceConfig) -> MysqlSettings {
    let o = DumpOptions::of(cfg);
    let flavor = match o.provider {
        SourceProvider::Mariadb => MysqlFlavor::Mariadb,
        _ => MysqlFlavor::Mysql,
    };
    let mut settings = MysqlSettings::new(o.label, flavor, o.server);
    settings.dump_tool = o.dump_tool.clone();
    settings.dump_options = o.dump_options.to_vec();
    settings.exclude_tables = o.exclude_tables.to_vec();
    settings.exclude_table_data = o.exclude_table_data.to_vec();
    settings
}

/// The SQLite source's settings for a configured one; fails when it has no `db_path`.
pub fn sqlite_settings(cfg: &SourceConfig) -> Result<SqliteSettings, SourceError> {
    let o = DumpOptions::of(cfg);
    let path = o
        .db_path
        .clone()
        .ok_or_else(|| SourceError::new(format!("source {:?}: sqlite needs db_path", o.label)))?;
    let mut settings = SqliteSettings::new(o.label, path);
    // The original's `tmp_folder`: where its dumps were written before upload.
    settings.staging_dir = o.tmp_folder.clone();
    Ok(settings)
}

/// The live drive for a configured one.
pub fn drive(cfg: &DriveConfig) -> Result<Arc<dyn Drive>, WiringError> {
    match cfg {
        DriveConfig::Local(local) => Ok(Arc::new(LocalDrive::new(
            local.label.clone(),
            local.folder.clone(),
        ))),
        DriveConfig::S3(s3) => s3_settings(s3)
            .and_then(S3Drive::new)
            .map(|d| Arc::new(d) as Arc<dyn Drive>)
            .map_err(|error| WiringError::Drive {
                label: s3.label.clone(),
                error,
            }),
    }
}

/// The S3 drive's settings for a configured one. Every option is named here (no `..`): an
/// option added to the configuration does not compile until it is mapped or said unused.
pub fn s3_settings(cfg: &S3DriveConfig) -> Result<S3Settings, DriveError> {
    let S3DriveConfig {
        label,
        bucket,
        region,
        access_key,
        secret_key,
        endpoint,
        prefix,
        force_path_style,
        storage_class,
        server_side_encryption,
        sse_kms_key_id,
        timeout_seconds,
        max_attempts,
        part_size_mb,
        object_lock,
        ca_file,
    } = cfg;
    let credentials = match (access_key, secret_key) {
        (Some(access), Some(secret)) => Some(S3Credentials::new(access.expose(), secret.expose())),
        (None, None) => None,
        // Validation already refuses half a pair; falling back to the default chain here would
        // silently back up with someone else's identity.
        _ => {
            return Err(DriveError::new(
                DriveErrorKind::Other,
                format!("drive `{label}`: `access_key` and `secret_key` must be set together"),
            )
            .with_hint(
                "set both, or neither to use the default AWS credential chain (environment, profile, instance role)",
            ));
        }
    };
    let mut settings = S3Settings::new(label, bucket, region);
    settings.endpoint = endpoint.clone();
    settings.prefix = prefix.clone();
    settings.force_path_style = *force_path_style;
    settings.credentials = credentials;
    settings.storage_class = storage_class.clone();
    settings.server_side_encryption = server_side_encryption.clone();
    settings.sse_kms_key_id = sse_kms_key_id.clone();
    settings.timeout_seconds = *timeout_seconds;
    settings.max_attempts = *max_attempts;
    settings.part_size_mb = *part_size_mb;
    settings.object_lock = *object_lock;
    settings.ca_file = ca_file.clone();
    Ok(settings)
}

/// Where a drive is, for a message: its endpoint and bucket, or its folder.
pub fn whereabouts(cfg: &DriveConfig) -> String {
    match cfg {
        DriveConfig::Local(local) => local.folder.display().to_string(),
        DriveConfig::S3(s3) => format!(
            "{} (bucket `{}`)",
            s3.endpoint.as_deref().unwrap_or("Amazon S3"),
            s3.bucket
        ),
    }
}

/// Builds the drives, keeping apart those that could not be built: a broken drive fails on
/// its own, the others still work.
pub fn build_drives(configs: &[DriveConfig]) -> (Vec<Arc<dyn Drive>>, Vec<BrokenDrive>) {
    let mut drives = Vec::new();
    let mut broken = Vec::new();
    for cfg in configs {
        match drive(cfg) {
            Ok(d) => drives.push(d),
            Err(error) => broken.push(BrokenDrive {
                label: cfg.label().to_owned(),
                error,
            }),
        }
    }
    (drives, broken)
}

/// A configured drive that could not be built.
#[derive(Debug, Clone)]
pub struct BrokenDrive {
    /// The drive's label.
    pub label: String,
    /// Why it could not be built.
    pub error: WiringError,
}

#[cfg(test)]
mod tests {
    use super::*;
    use backupman_core::{LockMode, ObjectLock};

    fn source_config(provider: SourceProvider) -> SourceConfig {
        SourceConfig {
            label: "app".into(),
            provider,
            host: "db.internal".into(),
            port: 6543,
            db_name: Some("appdb".into()),
            user: Some("backup".into()),
            password: Some(backupman_config::Secret::new("source-pw")),
            tls: Some("require".into()),
            db_path: Some("/srv/app.db".into()),
            dump_tool: Some("/opt/pg/bin/pg_dump".into()),
            dump_options: vec!["--no-owner".into()],
            tmp_folder: None,
            hooks: Default::default(),
            encryption: None,
            databases: None,
            exclude_tables: Vec::new(),
            exclude_table_data: Vec::new(),
            retry: Default::default(),
            schedule: None,
            part_of: None,
        }
    }

    #[test]
    fn source_configuration_maps_onto_each_databases_settings() {
        let mut server = ServerSettings::new("db.internal", "appdb");
        server.port = 6543;
        server.user = Some("backup".into());
        server.password = Some(backupman_core::Secret::new("source-pw"));
        server.tls = Some("require".into());

        let pg = postgres_settings(&source_config(SourceProvider::Postgres));
        let mut expected = PostgresSettings::new("app", server.clone());
        expected.dump_tool = Some("/opt/pg/bin/pg_dump".into());
        expected.dump_options = vec!["--no-owner".into()];
        assert_eq!(pg, expected);
        assert!(!format!("{pg:?}").contains("source-pw"), "{pg:?}");

        for (provider, flavor) in [
            (SourceProvider::Mysql, MysqlFlavor::Mysql),
            (SourceProvider::Mariadb, MysqlFlavor::Mariadb),
        ] {
            let my = mysql_settings(&source_config(provider));
            let mut expected = MysqlSettings::new("app", flavor, server.clone());
            expected.dump_tool = Some("/opt/pg/bin/pg_dump".into());
            expected.dump_options = vec!["--no-owner".into()];
            assert_eq!(my, expected);
            let any = database_settings(&source_config(provider)).unwrap();
            assert_eq!(any.provider(), provider.as_str());
        }

        let lite = sqlite_settings(&source_config(SourceProvider::Sqlite)).unwrap();
        assert_eq!(lite, SqliteSettings::new("app", "/srv/app.db"));
        let mut staged = source_config(SourceProvider::Sqlite);
        staged.tmp_folder = Some("/var/tmp/stage".into());
        let mut expected = SqliteSettings::new("app", "/srv/app.db");
        expected.staging_dir = Some("/var/tmp/stage".into());
        assert_eq!(sqlite_settings(&staged).unwrap(), expected);
        let mut no_file = source_config(SourceProvider::Sqlite);
        no_file.db_path = None;
        let err = database_settings(&no_file).unwrap_err();
        assert!(err.message.contains("sqlite needs db_path"), "{err}");
    }

    fn s3_config() -> S3DriveConfig {
        S3DriveConfig {
            label: "s3".into(),
            bucket: "backups".into(),
            region: "us-east-1".into(),
            access_key: Some(backupman_config::Secret::new("AKIA")),
            secret_key: Some(backupman_config::Secret::new("super-secret-value")),
            endpoint: Some("http://127.0.0.1:9".into()),
            prefix: "p".into(),
            force_path_style: true,
            storage_class: Some("STANDARD_IA".into()),
            server_side_encryption: Some("aws:kms".into()),
            sse_kms_key_id: Some("key".into()),
            timeout_seconds: Some(5),
            max_attempts: Some(1),
            part_size_mb: Some(16),
            object_lock: Some(ObjectLock {
                mode: LockMode::Compliance,
                days: 30,
            }),
            ca_file: Some(PathBuf::from("/etc/ssl/private-ca.pem")),
        }
    }

    #[test]
    fn s3_configuration_maps_onto_the_drive_settings() {
        let settings = s3_settings(&s3_config()).unwrap();
        let mut expected = S3Settings::new("s3", "backups", "us-east-1");
        expected.endpoint = Some("http://127.0.0.1:9".into());
        expected.prefix = "p".into();
        expected.force_path_style = true;
        expected.credentials = Some(S3Credentials::new("AKIA", "super-secret-value"));
        expected.storage_class = Some("STANDARD_IA".into());
        expected.server_side_encryption = Some("aws:kms".into());
        expected.sse_kms_key_id = Some("key".into());
        expected.timeout_seconds = Some(5);
        expected.max_attempts = Some(1);
        expected.part_size_mb = Some(16);
        expected.object_lock = Some(ObjectLock {
            mode: LockMode::Compliance,
            days: 30,
        });
        expected.ca_file = Some(PathBuf::from("/etc/ssl/private-ca.pem"));
        assert_eq!(settings, expected);
    }

    #[test]
    fn half_an_s3_key_pair_is_refused() {
        let mut cfg = s3_config();
        cfg.secret_key = None;
        let err = s3_settings(&cfg).unwrap_err();
        assert!(
            err.message.contains("`access_key` and `secret_key`"),
            "{err}"
        );
        let Err(WiringError::Drive { label, .. }) = drive(&DriveConfig::S3(cfg)) else {
            panic!("half a key pair must not build a drive");
        };
        assert_eq!(label, "s3");
    }
}
