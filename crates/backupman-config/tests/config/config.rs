//! The configuration as an operator writes it: the spec page's examples, every substitution
//! rule, every validation error with its location, and redaction.

use std::path::PathBuf;

use backupman_config::{ConfigError, DriveConfig, Loaded, RetentionPolicy, parse};

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/spec")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn spec_env(name: &str) -> Option<String> {
    let value = match name {
        "S3_BUCKET" => "env-bucket",
        "AWS_REGION" => "eu-central-1",
        "AWS_ACCESS_KEY_ID" => "AKIAENVEXAMPLE",
        "AWS_SECRET_ACCESS_KEY" => "env/secret+key",
        "MINIO_ACCESS_KEY" => "minioadmin",
        "MINIO_SECRET_KEY" => "minioadmin123",
        "SPACES_ACCESS_KEY" => "DOKEY",
        "SPACES_SECRET_KEY" => "DOSECRET",
        "ENV" => "staging",
        _ => return None,
    };
    Some(value.to_owned())
}

fn load(text: &str) -> Loaded {
    parse(text, "config.yml", spec_env).unwrap_or_else(|e| panic!("{e}"))
}

fn problems(text: &str) -> Vec<(usize, String, String)> {
    crate::common::problems_of(text, spec_env)
}

/// `found` is exactly the (line, path, message) problems of `expect`, in any order.
fn assert_problems(found: &[(usize, String, String)], expect: &[(usize, &str, &str)]) {
    for (line, path, message) in expect {
        assert!(
            found
                .iter()
                .any(|(l, p, m)| l == line && p == path && m == message),
            "missing ({line}, {path}, {message}) in {found:#?}"
        );
    }
    assert_eq!(found.len(), expect.len(), "{found:#?}");
}

fn s3(loaded: &Loaded, i: usize) -> &backupman_config::S3DriveConfig {
    match &loaded.config.drives[i] {
        DriveConfig::S3(s3) => s3,
        other => panic!("drive {i} is not s3: {other:?}"),
    }
}

#[test]
fn every_complete_spec_example_loads() {
    for name in [
        "configuration",
        "environment-variables",
        "basic-amazon-s3-setup",
        "minio-development-setup",
        "multiple-s3-providers",
        "amazon-s3-production-setup",
        "minio-development-environment",
        "digitalocean-spaces-2",
        "multi-region-redundancy",
        "environment-based-configuration",
    ] {
        let loaded = parse(&fixture(&format!("{name}.yml")), name, spec_env)
            .unwrap_or_else(|e| panic!("spec example {name} does not load: {e}"));
        assert!(!loaded.config.drives.is_empty(), "{name}");
    }
}

#[test]
fn spec_examples_mean_what_they_say() {
    let basic = load(&fixture("basic-amazon-s3-setup.yml"));
    let d = s3(&basic, 0);
    assert_eq!(d.label, "Production Backups");
    assert_eq!(d.bucket, "company-backups-prod");
    assert_eq!(d.region, "us-west-2");
    assert_eq!(
        d.access_key.as_ref().map(|k| k.expose()),
        Some("AKIAIOSFODNN7EXAMPLE")
    );
    assert_eq!(
        d.secret_key.as_ref().map(|s| s.expose()),
        Some("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    );
    assert_eq!(d.prefix, "database-backups");
    assert_eq!(d.endpoint, None);
    assert!(!d.force_path_style);

    let minio = load(&fixture("minio-development-setup.yml"));
    let d = s3(&minio, 0);
    assert_eq!(d.endpoint.as_deref(), Some("http://localhost:9000"));
    assert!(d.force_path_style);

    let configuration = load(&fixture("configuration.yml"));
    // `endpoint: ""` means Amazon S3, not an empty URL.
    assert_eq!(s3(&configuration, 0).endpoint, None);

    let multi = load(&fixture("multiple-s3-providers.yml"));
    assert_eq!(multi.config.drives.len(), 2);
    assert_eq!(
        s3(&multi, 0).access_key.as_ref().map(|k| k.expose()),
        Some("AKIAENVEXAMPLE")
    );
    assert_eq!(
        s3(&multi, 1).access_key.as_ref().map(|k| k.expose()),
        Some("minioadmin")
    );
    assert_eq!(s3(&multi, 1).prefix, "backup-storage");

    let env_based = load(&fixture("environment-based-configuration.yml"));
    let d = s3(&env_based, 0);
    assert_eq!(d.label, "staging Backups");
    assert_eq!(d.bucket, "staging-company-backups");
    assert_eq!(d.prefix, "backups/staging/database");
}

#[test]
fn fragment_examples_only_lack_the_options_they_leave_out() {
    for name in ["amazon-s3", "minio", "digitalocean-spaces-1"] {
        for (_, path, message) in problems(&fixture(&format!("{name}.yml"))) {
            assert_eq!(message, "missing required option", "{name}: {path}");
            assert!(
                ["drives[0].label", "drives[0].bucket", "drives[0].region"]
                    .contains(&path.as_str()),
                "{name}: {path}"
            );
        }
    }
}

#[test]
fn the_missing_region_mistake_is_caught_where_it_is() {
    let text = fixture("1-missing-region.yml");
    let (wrong, correct) = text.split_once("# Correct").expect("two halves");
    let found = problems(&format!("{wrong}\n    label: x\n"));
    assert_eq!(
        found,
        vec![(
            5,
            "drives[0].region".to_owned(),
            "must not be empty".to_owned()
        )]
    );
    let fixed = format!("{correct}    label: x\n");
    assert_eq!(s3(&load(&fixed), 0).region, "us-east-1");
}

#[test]
fn substitution_rules() {
    let env = |name: &str| match name {
        "PGPORT" => Some("6543".to_owned()),
        "PASS" => Some("p#ss: w'o\"rd $x".to_owned()),
        "ENV" => Some("prod".to_owned()),
        "STYLE" => Some("true".to_owned()),
        _ => None,
    };
    let text = r#"
data_sources:
  - provider: postgres
    label: App
    db_name: app
    port: ${PGPORT}
    password: ${PASS}
drives:
  - provider: s3
    label: ${ENV}-backups
    bucket: b-${ENV}
    region: ${REGION:-us-east-1}
    prefix: backups/${ENV}/db
    force_path_style: ${STYLE}
    access_key: cost$$100
    secret_key: ${PASS}
"#;
    let loaded = parse(text, "config.yml", env).unwrap_or_else(|e| panic!("{e}"));
    let src = &loaded.config.sources[0];
    assert_eq!(src.port, 6543);
    assert_eq!(
        src.password.as_ref().map(|s| s.expose()),
        Some("p#ss: w'o\"rd $x")
    );
    let d = s3(&loaded, 0);
    assert_eq!(d.label, "prod-backups");
    assert_eq!(d.bucket, "b-prod");
    assert_eq!(d.region, "us-east-1");
    assert_eq!(d.prefix, "backups/prod/db");
    assert!(d.force_path_style);
    assert_eq!(d.access_key.as_ref().map(|k| k.expose()), Some("cost$100"));
}

#[test]
fn an_unset_variable_names_itself_and_its_line() {
    let err = parse(
        "drives:\n  - provider: local\n    label: x\n    folder: /b/${BACKUP_ROOT}\n",
        "config.yml",
        |_| None,
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("environment variable BACKUP_ROOT is not set"),
        "{text}"
    );
    assert_eq!(err.problems()[0].line, 4, "{text}");
}

#[test]
fn double_quoted_values_substitute_and_single_quoted_stay_literal() {
    let env = |name: &str| match name {
        "OUTDIR" => Some("/srv/out".to_owned()),
        "SECRET" => Some("p#ss: 'w\"rd \\ $x".to_owned()),
        "PORT" => Some("5433".to_owned()),
        _ => None,
    };
    let text = r#"data_sources:
  - provider: postgres
    label: "App ${OUTDIR}"
    db_name: 'lit ${OUTDIR} $$ $x'
    password: "${SECRET}"
    port: "${PORT}"
    user: "a$$b $x"
    host: plain-$x-$${OUTDIR}
drives:
  - provider: local
    label: l
    folder: "${OUTDIR}/db"
"#;
    let loaded = parse(text, "config.yml", env).unwrap_or_else(|e| panic!("{e}"));
    let s = &loaded.config.sources[0];
    assert_eq!(s.label, "App /srv/out");
    assert_eq!(s.db_name.as_deref(), Some("lit ${OUTDIR} $$ $x"));
    assert_eq!(s.password.as_ref().unwrap().expose(), "p#ss: 'w\"rd \\ $x");
    assert_eq!(s.port, 5433);
    assert_eq!(s.user.as_deref(), Some("a$b $x"));
    assert_eq!(s.host, "plain-$x-${OUTDIR}");
    let DriveConfig::Local(local) = &loaded.config.drives[0] else {
        panic!()
    };
    assert_eq!(local.folder, PathBuf::from("/srv/out/db"));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

#[test]
fn an_unset_variable_in_quotes_is_an_error_at_its_line_and_column() {
    let err = parse(
        "drives:\n  - provider: local\n    label: '$$'\n    folder: \"/b/${NOPE}\"\n",
        "config.yml",
        |_| None,
    )
    .unwrap_err();
    let p = &err.problems()[0];
    assert_eq!(
        (p.line, p.message.as_str()),
        (4, "environment variable NOPE is not set")
    );
    assert_eq!(p.column, 13, "{err}");
}

#[test]
fn a_misspelt_option_is_rejected_with_a_suggestion() {
    let err = parse(
        "drives:\n  - provider: s3\n    label: s\n    bucket: bucket\n    region: us-east-1\n    force_path_stlye: true\n",
        "config.yml",
        |_| None,
    )
    .unwrap_err();
    assert!(matches!(err, ConfigError::Invalid { .. }));
    let p = &err.problems()[0];
    assert_eq!(p.line, 6);
    assert_eq!(p.message, "unknown option `force_path_stlye`");
    assert_eq!(p.hint.as_deref(), Some("did you mean `force_path_style`?"));
}

#[test]
fn a_repeated_key_or_a_second_document_is_named_in_the_users_words() {
    let repeated = "drives:\n  - provider: local\n    label: a\n    folder: /a\ndrives: []\n";
    let found = problems(repeated);
    assert_eq!(
        found,
        [(
            5,
            String::new(),
            "option `drives` is given twice".to_owned()
        )]
    );
    let two_documents = "drives:\n  - {provider: local, label: a, folder: /a}\n---\ndrives: []\n";
    let (line, _, message) = &problems(two_documents)[0];
    assert_eq!(message, "the file holds more than one YAML document");
    assert!((3..=4).contains(line), "line {line}");
}

#[test]
fn an_alias_bomb_is_refused_quickly_and_plainly() {
    // Under a key whose value is read and thrown away, so only the budget can stop it.
    let mut bomb =
        String::from("database:\n  provider:\n    a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for (name, previous) in [("b", "a"), ("c", "b"), ("d", "c"), ("e", "d"), ("f", "e")] {
        let items = vec![format!("*{previous}"); 10].join(", ");
        bomb.push_str(&format!("    {name}: &{name} [{items}]\n"));
    }
    let started = std::time::Instant::now();
    let (_, _, message) = &problems(&bomb)[0];
    assert!(
        message.starts_with("the configuration is too large"),
        "{message}"
    );
    assert!(
        started.elapsed().as_secs() < 2,
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn every_problem_is_reported_at_once_with_its_location() {
    let text = r#"
data_sources:
  - provider: oracle
    label: A
  - provider: postgres
    label: B
  - provider: sqlite
    label: b
    db_path: /x.db
drives:
  - provider: s3
    label: One
    bucket: Not_A_Bucket
    region: ""
    endpoint: localhost:9000
    access_key: AK
    part_size_mb: 2
  - provider: local
    label: one
    bucket: stray
  - provider: google_drive
    label: G
retention:
  by: count
  value: 0
compression:
  level: 12
"#;
    let found = problems(text);
    let expect = [
        (3, "data_sources[0].provider", "unknown provider \"oracle\""),
        (5, "data_sources[1].db_name", "missing required option"),
        (
            8,
            "data_sources[2].label",
            "label \"b\" is already used by data_sources[1]",
        ),
        (
            13,
            "drives[0].bucket",
            "invalid bucket name \"Not_A_Bucket\": only lower-case letters, digits, '.' and '-' are allowed",
        ),
        (14, "drives[0].region", "must not be empty"),
        (
            15,
            "drives[0].endpoint",
            "invalid endpoint \"localhost:9000\": it must start with http:// or https://",
        ),
        (
            11,
            "drives[0].secret_key",
            "access_key is set but secret_key is missing or empty",
        ),
        (
            17,
            "drives[0].part_size_mb",
            "2 MiB is outside S3's part size limits",
        ),
        (18, "drives[1].folder", "missing required option"),
        (
            20,
            "drives[1].bucket",
            "option `bucket` does not apply to provider `local`",
        ),
        (
            19,
            "drives[1].label",
            "label \"one\" is already used by drives[0]",
        ),
        (
            21,
            "drives[2].provider",
            "the google_drive provider is not supported by this version of backupman",
        ),
        (25, "retention.value", "must be at least 1"),
        (27, "compression.level", "12 is not a gzip level"),
    ];
    assert_problems(&found, &expect);
}

#[test]
fn prefixes_are_normalised() {
    for (written, expected) in [
        ("backups", "backups"),
        ("backups/", "backups"),
        ("/a//b/", "a/b"),
        ("", ""),
    ] {
        let text = format!(
            "drives:\n  - provider: s3\n    label: s\n    bucket: bucket\n    region: us-east-1\n    prefix: \"{written}\"\n"
        );
        assert_eq!(s3(&load(&text), 0).prefix, expected, "{written:?}");
    }
}

#[test]
fn object_lock_and_ca_file() {
    let drive =
        "drives:\n  - provider: s3\n    label: s\n    bucket: bucket\n    region: us-east-1\n";
    let loaded = load(&format!(
        "{drive}    ca_file: certs/ca.pem\n    object_lock: {{mode: compliance, days: 30}}\n"
    ));
    let s3 = s3(&loaded, 0);
    assert_eq!(
        s3.object_lock,
        Some(backupman_core::ObjectLock {
            mode: backupman_core::LockMode::Compliance,
            days: 30
        })
    );
    assert_eq!(
        s3.ca_file.as_deref(),
        Some(std::path::Path::new("certs/ca.pem"))
    );

    let found = problems(&format!(
        "{drive}    object_lock:\n      mode: FOREVER\n      days: 0\n  - provider: s3\n    label: t\n    bucket: bucket\n    region: us-east-1\n    object_lock: {{mode: GOVERNANCE}}\n  - provider: local\n    label: l\n    folder: /b\n    ca_file: ca.pem\n    object_lock: {{mode: GOVERNANCE, days: 1}}\n"
    ));
    let expect = [
        (
            7,
            "drives[0].object_lock.mode",
            "unknown Object Lock mode \"FOREVER\"",
        ),
        (
            8,
            "drives[0].object_lock.days",
            "object_lock.days must be at least 1",
        ),
        (13, "drives[1].object_lock.days", "missing required option"),
        (
            17,
            "drives[2].ca_file",
            "option `ca_file` does not apply to provider `local`",
        ),
        (
            18,
            "drives[2].object_lock",
            "option `object_lock` does not apply to provider `local`",
        ),
    ];
    assert_problems(&found, &expect);
}

#[test]
fn retention_modes() {
    let policy = |text: &str| {
        load(&format!(
            "drives:\n  - provider: local\n    label: l\n    folder: /b\nretention:\n{text}"
        ))
        .config
        .retention
        .map(|r| r.policy)
    };
    assert_eq!(
        policy("  enabled: true\n  by: age\n  value: 30\n"),
        Some(RetentionPolicy::Age { days: 30 })
    );
    assert_eq!(
        policy("  by: count\n  value: 7\n"),
        Some(RetentionPolicy::Count { keep: 7 })
    );
    assert_eq!(
        policy("  keep_daily: 7\n  keep_monthly: 12\n"),
        Some(RetentionPolicy::Gfs {
            daily: 7,
            weekly: 0,
            monthly: 12,
            yearly: 0
        })
    );
}

#[test]
fn database_and_a_server_tmp_folder_are_notes_told_once() {
    let loaded = load(
        "data_sources:\n  - provider: postgres\n    label: p\n    db_name: app\n    tmp_folder: ./tmp/pg\n  - provider: sqlite\n    label: s\n    db_path: /x.db\n    tmp_folder: /stage\ndrives:\n  - provider: local\n    label: l\n    folder: /b\ndatabase:\n  provider: mysql\n  db_name: backupman\n",
    );
    let notes = loaded.notes.join("\n");
    assert_eq!(loaded.notes.len(), 2, "{notes}");
    assert!(
        notes.contains("line 5: data_sources[0].tmp_folder: unused"),
        "{notes}"
    );
    assert!(notes.contains("line 15: database: not needed"), "{notes}");
    let w = loaded.warnings.join("\n");
    assert!(loaded.warnings.is_empty(), "{w}");
    let sources = &loaded.config.sources;
    assert_eq!(sources[0].tmp_folder, Some(PathBuf::from("./tmp/pg")));
    assert_eq!(sources[1].tmp_folder, Some(PathBuf::from("/stage")));
}

#[test]
fn a_misspelt_database_key_is_refused() {
    let found = problems(
        "drives:\n  - provider: local\n    label: l\n    folder: /b\ndatabase:\n  provider: mysql\n  db_nmae: x\n",
    );
    assert_eq!(found[0].0, 7, "{found:?}");
    assert!(found[0].2.contains("unknown option `db_nmae`"), "{found:?}");
}

#[test]
fn secrets_never_show_in_debug_or_errors() {
    let loaded = load(&fixture("basic-amazon-s3-setup.yml"));
    let debug = format!("{:?}", loaded.config);
    assert!(!debug.contains("wJalrXUtnFEMI"), "{debug}");
    assert!(debug.contains("[redacted]"));

    // A type error on a line fed by a secret must not echo the secret.
    let err = parse(
        "data_sources:\n  - provider: postgres\n    label: a\n    db_name: a\n    port: ${PASS}\ndrives:\n  - provider: local\n    label: l\n    folder: /b\n",
        "config.yml",
        |_| Some("hunter2-secret".into()),
    )
    .unwrap_err();
    assert!(!err.to_string().contains("hunter2-secret"), "{err}");
    assert_eq!(err.problems()[0].line, 5, "{err}");
}

#[test]
fn google_drive_with_the_originals_keys_is_refused_at_its_provider_line() {
    let found = problems(
        "drives:\n  - provider: local\n    label: l\n    folder: /b\n  - provider: google_drive\n    label: Google Drive\n    folder: demo\n    client_secret_file: ./google-client-secret.json\n    token_file: ./google-token.json\n",
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0].0, found[0].1.as_str()), (5, "drives[1].provider"));
    assert!(
        found[0]
            .2
            .contains("google_drive provider is not supported"),
        "{found:?}"
    );
}
const HTTP_BASE: &str = "data_sources:\n  - provider: sqlite\n    label: s\n    db_path: /x.db\ndrives:\n  - provider: local\n    label: l\n    folder: /b\n";

#[test]
fn the_originals_http_section_is_read_with_its_schedule() {
    // As the original's users have it: 6-field cron with seconds.
    let loaded = load(&format!(
        "{HTTP_BASE}http:\n  app_url: http://backups.example.com:8080/\n  api_keys:\n    - apikey1\n    - ${{ENV}}-key\n  backup_job:\n    enabled: true\n    cron: \"0 0 3 * * *\"\n"
    ));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let http = &loaded.config.http;
    assert_eq!(
        http.app_url.as_deref(),
        Some("http://backups.example.com:8080")
    );
    let keys: Vec<&str> = http.api_keys.iter().map(|k| k.expose()).collect();
    assert_eq!(keys, ["apikey1", "staging-key"]);
    assert!(!format!("{:?}", loaded.config).contains("apikey1"));
    let job = http.backup_job.as_ref().expect("a schedule");
    assert_eq!(job.cron, "0 0 3 * * *");
    assert_eq!(job.timezone, chrono_tz::UTC);
    assert_eq!(http.shutdown_grace_seconds, 60);
    assert_eq!(http.download_url_minutes, 60);
    assert_eq!(
        (
            http.max_connections,
            http.header_timeout_seconds,
            http.idle_timeout_seconds
        ),
        (512, 10, 60)
    );

    // 5 fields, a time zone, our own options; `enabled: false` keeps the keys, drops the job.
    let loaded = load(&format!(
        "{HTTP_BASE}http:\n  api_keys: [k]\n  shutdown_grace_seconds: 5\n  download_url_minutes: 10\n  backup_job:\n    cron: \"30 2 * * *\"\n    timezone: Europe/Paris\n"
    ));
    let job = loaded.config.http.backup_job.as_ref().unwrap();
    assert_eq!(job.timezone, chrono_tz::Europe::Paris);
    assert_eq!(loaded.config.http.shutdown_grace_seconds, 5);
    assert_eq!(loaded.config.http.download_url_minutes, 10);
    let limits = load(&format!(
        "{HTTP_BASE}http:\n  api_keys: [k]\n  max_connections: 100\n  header_timeout_seconds: 2\n  idle_timeout_seconds: 30\n"
    ));
    let http = &limits.config.http;
    assert_eq!(
        (
            http.max_connections,
            http.header_timeout_seconds,
            http.idle_timeout_seconds
        ),
        (100, 2, 30)
    );
    let off = load(&format!(
        "{HTTP_BASE}http:\n  api_keys: [k]\n  backup_job:\n    enabled: false\n    cron: \"* * * * * *\"\n"
    ));
    assert!(off.config.http.backup_job.is_none());
    assert_eq!(off.config.http.api_keys.len(), 1);
    // Switched off, the job needs no schedule.
    let off_without_cron = load(&format!(
        "{HTTP_BASE}http:\n  api_keys: [k]\n  backup_job:\n    enabled: false\n"
    ));
    assert!(off_without_cron.config.http.backup_job.is_none());
    // No section: defaults, no keys.
    assert_eq!(
        load(HTTP_BASE).config.http,
        backupman_config::HttpConfig::default()
    );
}

#[test]
fn a_bad_schedule_or_time_zone_is_a_located_error() {
    let found = problems(&format!(
        "{HTTP_BASE}http:\n  app_url: localhost:8080\n  api_keys: [\"\"]\n  download_url_minutes: 0\n  backup_job:\n    cron: \"0 0 25 * * *\"\n"
    ));
    let at = |path: &str| {
        found
            .iter()
            .find(|(_, p, _)| p == path)
            .unwrap_or_else(|| panic!("{path} not in {found:?}"))
    };
    assert_eq!(at("http.app_url").0, 10);
    assert_eq!(at("http.api_keys[0]").0, 11);
    assert_eq!(at("http.download_url_minutes").0, 12);
    let zeros = problems(&format!(
        "{HTTP_BASE}http:\n  max_connections: 0\n  header_timeout_seconds: 0\n  idle_timeout_seconds: 0\n"
    ));
    let paths: Vec<(usize, &str)> = zeros.iter().map(|(l, p, _)| (*l, p.as_str())).collect();
    assert_eq!(
        paths,
        [
            (10, "http.max_connections"),
            (11, "http.header_timeout_seconds"),
            (12, "http.idle_timeout_seconds")
        ]
    );
    let (line, _, message) = at("http.backup_job.cron");
    assert_eq!(*line, 14);
    assert!(
        message.contains("invalid cron expression \"0 0 25 * * *\""),
        "{message}"
    );

    for cron in ["every day", "* * * *", "0 0 3 * * * 2030", "0 0 0 30 2 *"] {
        let found = problems(&format!(
            "{HTTP_BASE}http:\n  backup_job:\n    cron: \"{cron}\"\n"
        ));
        assert_eq!(found.len(), 1, "{cron}: {found:?}");
        assert_eq!(
            (found[0].0, found[0].1.as_str()),
            (11, "http.backup_job.cron")
        );
    }
    // Both wrong: both reported.
    let found = problems(&format!(
        "{HTTP_BASE}http:\n  backup_job:\n    cron: \"0 3 * * * * * *\"\n    timezone: Mars/Olympus\n"
    ));
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(
        (found[0].0, found[0].1.as_str()),
        (11, "http.backup_job.cron")
    );
    assert_eq!(found[1].0, 12);
    assert_eq!(found[1].1, "http.backup_job.timezone");
    assert!(found[1].2.contains("not an IANA time zone"), "{found:?}");
    let found = problems(&format!(
        "{HTTP_BASE}http:\n  backup_job:\n    enabled: true\n"
    ));
    assert_eq!(found[0].1, "http.backup_job.cron");
    assert_eq!(found[0].2, "missing required option");
}

#[test]
fn concurrency_defaults_to_four_and_is_bounded_where_it_is_written() {
    let base = "data_sources:\n  - provider: sqlite\n    label: a\n    db_path: /a.db\ndrives:\n  - provider: local\n    label: l\n    folder: /b\n";
    assert_eq!(
        load(base).config.concurrency,
        backupman_config::DEFAULT_CONCURRENCY
    );
    assert_eq!(
        load(&format!("{base}concurrency: 1\n")).config.concurrency,
        1
    );
    assert_eq!(
        load(&format!("{base}concurrency: 64\n")).config.concurrency,
        64
    );
    for bad in [0, 65] {
        assert_problems(
            &problems(&format!("{base}concurrency: {bad}\n")),
            &[(
                9,
                "concurrency",
                &format!("must be between 1 and 64, not {bad}"),
            )],
        );
    }
}
