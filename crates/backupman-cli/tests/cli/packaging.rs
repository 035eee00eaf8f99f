//! The packaging (Dockerfile, compose.yml, deploy/kubernetes, the GitHub workflows) checked
//! by the tools an operator's CI would run on it: hadolint, the Compose and GitHub-workflow
//! JSON schemas, `kubernetes-validate --strict`. The configurations shipped beside them load
//! with the variables that compose.yml and the Secret provide, and the image's health check
//! is run against a real `backupman serve`: that is why these tests live with the binary's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use backupman_testkit::s3::bin_from_env;
use serde::Deserialize;

use crate::server::{LOCAL_DISK, Server, setup};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The YAML files directly in `dir` (relative to the root), sorted; at least one.
fn yaml_files(dir: &str) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(root().join(dir))
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yml") || name.ends_with(".yaml"))
        .map(|name| format!("{dir}/{name}"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no YAML file in {dir}");
    files
}

/// Runs the tool named by `env_var` (provisioned by xtask) in the root with `args`, and
/// fails with everything it printed unless it exits 0.
fn passes(env_var: &str, args: &[&str]) {
    let out = Command::new(bin_from_env(env_var))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("{env_var} does not start: {e}"));
    assert!(
        out.status.success(),
        "{env_var} {args:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
#[ignore = "needs hadolint (provisioned by xtask): run cargo xtask test"]
fn the_dockerfile_is_clean_under_hadolint() {
    passes("BACKUPMAN_HADOLINT_BIN", &["Dockerfile"]);
}

#[test]
#[ignore = "needs check-jsonschema (provisioned by xtask): run cargo xtask test"]
fn compose_yml_follows_the_compose_specification() {
    passes(
        "BACKUPMAN_CHECK_JSONSCHEMA_BIN",
        &["--builtin-schema", "vendor.compose-spec", "compose.yml"],
    );
}

#[test]
#[ignore = "needs check-jsonschema (provisioned by xtask): run cargo xtask test"]
fn the_github_workflows_follow_their_schema() {
    let workflows = yaml_files(".github/workflows");
    for wanted in ["ci.yml", "release.yml"] {
        assert!(
            workflows.iter().any(|w| w.ends_with(wanted)),
            "{wanted} is missing from {workflows:?}"
        );
    }
    let mut args = vec!["--builtin-schema", "vendor.github-workflows"];
    args.extend(workflows.iter().map(String::as_str));
    passes("BACKUPMAN_CHECK_JSONSCHEMA_BIN", &args);
}

#[test]
#[ignore = "needs kubernetes-validate (provisioned by xtask): run cargo xtask test"]
fn the_kubernetes_manifests_pass_strict_validation() {
    let manifests = yaml_files("deploy/kubernetes");
    let mut args = vec!["--strict"];
    args.extend(manifests.iter().map(String::as_str));
    passes("BACKUPMAN_KUBERNETES_VALIDATE_BIN", &args);
}

/// Loads configuration text the way `backupman` does, with exactly `env` as the environment,
/// and fails with every problem it reports.
fn loads(text: &str, origin: &str, env: &BTreeMap<String, String>) -> backupman_config::Config {
    match backupman_config::parse(text, origin, |name| env.get(name).cloned()) {
        Ok(loaded) => {
            assert!(
                loaded.warnings.is_empty(),
                "{origin}: {:?}",
                loaded.warnings
            );
            loaded.config
        }
        Err(err) => panic!("{origin} does not load: {err}"),
    }
}

/// What compose.yml and a workload's manifest say, as far as these tests read them.
#[derive(Debug, Deserialize)]
struct Compose {
    services: BTreeMap<String, ComposeService>,
}

#[derive(Debug, Deserialize)]
struct ComposeService {
    #[serde(default)]
    environment: Vec<String>,
    #[serde(default)]
    volumes: Vec<String>,
}

/// `NAME=${NAME:-default}` as Compose resolves it when `NAME` is not set: the default.
fn compose_value(value: &str) -> String {
    match value
        .strip_prefix("${")
        .and_then(|v| v.strip_suffix('}'))
        .and_then(|v| v.split_once(":-"))
    {
        Some((_, default)) => default.to_owned(),
        None => value.to_owned(),
    }
}

#[test]
fn the_compose_example_config_loads_with_the_environment_compose_gives_it() {
    let compose: Compose = serde_saphyr::from_str(&read("compose.yml")).unwrap();
    let backupman = &compose.services["backupman"];
    let env: BTreeMap<String, String> = backupman
        .environment
        .iter()
        .map(|entry| {
            let (name, value) = entry.split_once('=').expect("NAME=value");
            (name.to_owned(), compose_value(value))
        })
        .collect();
    // The S3 page's variables, as the page names them.
    for name in ["S3_BUCKET", "S3_ACCESS_KEY", "S3_SECRET_KEY", "S3_ENDPOINT"] {
        assert!(env.contains_key(name), "compose.yml does not set {name}");
    }
    assert!(
        backupman
            .volumes
            .contains(&"./examples/compose/config.yml:/app/config.yml:ro".to_owned()),
        "the example config is not mounted where the image looks: {:?}",
        backupman.volumes
    );
    let path = "examples/compose/config.yml";
    let config = loads(&read(path), path, &env);
    let drive = config.drives.first().expect("a drive");
    assert_eq!(drive.provider(), "s3");
    // The image serves by default: serve refuses to start without a key, and the schedule
    // is what makes the compose service back anything up.
    assert_eq!(config.http.api_keys.len(), 1);
    assert!(config.http.backup_job.is_some(), "no backup_job in {path}");
}

#[derive(Debug, Deserialize)]
struct Manifest {
    kind: String,
    #[serde(default)]
    data: BTreeMap<String, String>,
    #[serde(default, rename = "stringData")]
    string_data: BTreeMap<String, String>,
    #[serde(default)]
    spec: serde_json::Value,
}

fn manifests() -> Vec<(String, Manifest)> {
    yaml_files("deploy/kubernetes")
        .into_iter()
        .map(|path| {
            let manifest =
                serde_saphyr::from_str(&read(&path)).unwrap_or_else(|e| panic!("{path}: {e}"));
            (path, manifest)
        })
        .collect()
}

fn one_of_kind<'a>(all: &'a [(String, Manifest)], kind: &str) -> &'a Manifest {
    let mut found = all.iter().filter(|(_, m)| m.kind == kind);
    let first = found.next().map(|(_, m)| m);
    assert!(found.next().is_none(), "more than one {kind}");
    first.unwrap_or_else(|| panic!("no {kind} in deploy/kubernetes"))
}

#[test]
fn the_kubernetes_config_loads_with_the_secret_and_every_cronjob_selects_its_sources() {
    let all = manifests();
    let config_map = one_of_kind(&all, "ConfigMap");
    let secret = one_of_kind(&all, "Secret");
    let text = config_map
        .data
        .get("config.yml")
        .expect("the ConfigMap has config.yml");
    let config = loads(text, "configmap.yaml: config.yml", &secret.string_data);
    let labels: Vec<&str> = config.sources.iter().map(|s| s.label.as_str()).collect();
    // The Deployment's serve answers the API; backing up is the CronJobs' job alone.
    assert_eq!(config.http.api_keys.len(), 1);
    assert!(
        config.http.backup_job.is_none(),
        "serve would back up what the CronJobs back up"
    );

    let cronjobs: Vec<&(String, Manifest)> =
        all.iter().filter(|(_, m)| m.kind == "CronJob").collect();
    assert!(cronjobs.len() >= 2, "one CronJob per source group");
    let mut selected = Vec::new();
    for (path, cronjob) in cronjobs {
        assert_eq!(cronjob.spec["concurrencyPolicy"], "Forbid", "{path}");
        let job = &cronjob.spec["jobTemplate"]["spec"];
        assert!(job["backoffLimit"].is_u64(), "{path}: no backoffLimit");
        assert!(
            job["activeDeadlineSeconds"].is_u64(),
            "{path}: no activeDeadlineSeconds"
        );
        let args: Vec<&str> = job["template"]["spec"]["containers"][0]["args"]
            .as_array()
            .unwrap_or_else(|| panic!("{path}: no args"))
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert_eq!(args[0], "run", "{path}");
        let sources: Vec<&str> = args
            .windows(2)
            .filter(|w| w[0] == "--source")
            .map(|w| w[1])
            .collect();
        assert!(!sources.is_empty(), "{path}: no --source");
        for source in sources {
            assert!(
                labels.contains(&source),
                "{path}: --source {source:?} is not a label of the ConfigMap's config ({labels:?})"
            );
            selected.push(source);
        }
    }
    selected.sort_unstable();
    let mut all_labels = labels.clone();
    all_labels.sort_unstable();
    assert_eq!(
        selected, all_labels,
        "every source is backed up by exactly one CronJob"
    );
}

/// A process that is not backupman but whose command line says `serve -p PORT`, killed when
/// dropped: what the health check sees when the server does not answer.
#[derive(Debug)]
struct Impostor(Child);

impl Impostor {
    /// `sh` sleeping with `words` as its arguments, once its command line shows them: right
    /// after spawning, /proc may still show an empty one, which reads as no server at all.
    fn spawn(words: &[&str]) -> Self {
        let child = Command::new("sh")
            .args(["-c", "sleep 60; :"])
            .args(words)
            .spawn()
            .unwrap();
        let impostor = Self(child);
        let cmdline = format!("/proc/{}/cmdline", impostor.0.id());
        let started = std::time::Instant::now();
        while !std::fs::read(&cmdline)
            .unwrap_or_default()
            .split(|b| *b == 0)
            .any(|w| w == words[0].as_bytes())
        {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(10),
                "{cmdline} never showed {words:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        impostor
    }
}

impl Drop for Impostor {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The image's HEALTHCHECK script, asked about process `pid`: did it pass? Its trace
/// (`bash -x`) is printed, so a failed assertion shows what the script saw.
fn health_check(pid: u32) -> bool {
    let out = Command::new("bash")
        .arg("-x")
        .arg(root().join("deploy/docker/healthcheck.sh"))
        .env("BACKUPMAN_HEALTHCHECK_PID", pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("bash runs");
    eprintln!(
        "health check of process {pid}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.status.success()
}

#[test]
fn the_image_health_check_asks_serve_for_ping_and_lets_one_shot_commands_pass() {
    let dockerfile = read("Dockerfile");
    assert!(
        dockerfile.contains("deploy/docker/healthcheck.sh /usr/local/bin/backupman-healthcheck")
            && dockerfile.contains("CMD [\"/usr/local/bin/backupman-healthcheck\"]"),
        "the Dockerfile's HEALTHCHECK is not the script tested here"
    );

    let (tmp, config) = setup(LOCAL_DISK, "");
    let server = Server::start(tmp.path(), &config);
    assert!(health_check(server.pid()), "serve answers /ping: healthy");

    // Nothing answers on the port its command line names: unhealthy. Port 1 (tcpmux) is
    // closed on any machine that runs these tests; a free ephemeral port could be taken by
    // another process between choosing it and the check.
    let port = "1".to_owned();
    let impostor = Impostor::spawn(&["serve", "-p", &port]);
    assert!(!health_check(impostor.0.id()), "nothing on port {port}");

    // A one-shot command (`backupman run`) listens nowhere and must not be marked unhealthy.
    let one_shot = Impostor::spawn(&["run", "-p", &port]);
    assert!(health_check(one_shot.0.id()), "a one-shot run passes");
}
