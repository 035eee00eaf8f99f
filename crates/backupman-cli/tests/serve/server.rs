//! One running `backupman serve`, stopped (killed) when dropped, and curl to talk to it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use backupman_testkit::s3::free_port;

/// The API key every test configuration carries.
pub const KEY: &str = "test-key-1";

/// A temp folder with the demo database, and a config whose `http` section has [`KEY`] and
/// `http_extra` (indented two spaces, e.g. a `backup_job`); `drives` is the drives list.
pub fn setup(drives: &str, http_extra: &str) -> (tempfile::TempDir, String) {
    crate::common::demo_setup(&format!(
        "drives:\n{drives}http:\n  api_keys: [{KEY}]\n{http_extra}"
    ))
}

/// A local drive `Disk` in `disk/`.
pub const LOCAL_DISK: &str = "  - provider: local\n    label: Disk\n    folder: disk\n";

#[derive(Debug)]
pub struct Server {
    child: Child,
    pub port: u16,
    log: PathBuf,
}

impl Server {
    /// Starts `backupman serve` in `dir` and waits until it answers `/ping`.
    pub fn start(dir: &Path, config: &str) -> Self {
        Self::start_with_fd_limit(dir, config, None)
    }

    /// [`Server::start`], with at most `fd_limit` open files (`ulimit -n`) when given.
    pub fn start_with_fd_limit(dir: &Path, config: &str, fd_limit: Option<u32>) -> Self {
        let port = free_port();
        let log = dir.join("serve.log");
        let mut command = match fd_limit {
            // exec: the child is `backupman` itself, so its pid and its signals are the server's.
            Some(limit) => {
                let mut sh = Command::new("sh");
                sh.args(["-c", &format!("ulimit -n {limit} && exec \"$0\" \"$@\"")])
                    .arg(env!("CARGO_BIN_EXE_backupman"));
                sh
            }
            None => Command::new(env!("CARGO_BIN_EXE_backupman")),
        };
        let child = command
            .args(["serve", "-c", config, "--bind", "127.0.0.1", "-p"])
            .arg(port.to_string())
            .current_dir(dir)
            .env_remove("BACKUPMAN_CONFIG")
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut server = Self { child, port, log };
        let deadline = Instant::now() + Duration::from_secs(30);
        while curl(&server.url("/ping"), &[]).0 != 200 {
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("serve exited with {status}:\n{}", server.log());
            }
            assert!(
                Instant::now() < deadline,
                "no answer on /ping:\n{}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET path` with the key.
    pub fn get(&self, path: &str) -> (u16, Vec<u8>) {
        curl(&self.url(path), &["-H", &format!("X-Api-Key: {KEY}")])
    }

    /// `GET path` with the key, as JSON.
    pub fn json(&self, path: &str) -> serde_json::Value {
        let (status, body) = self.get(path);
        assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
        serde_json::from_slice(&body).unwrap()
    }

    /// `POST /api/backups` with the key.
    pub fn post_backup(&self) -> (u16, serde_json::Value) {
        let (status, body) = curl(
            &self.url("/api/backups"),
            &["-X", "POST", "-H", &format!("X-Api-Key: {KEY}")],
        );
        (status, serde_json::from_slice(&body).unwrap())
    }

    /// The backups listed, once `done` holds for them (polled for at most 60 s).
    pub fn wait_for_backups(
        &self,
        done: impl Fn(&[serde_json::Value]) -> bool,
    ) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let list = self.json("/api/backups");
            let results = list["Results"].as_array().unwrap().clone();
            if done(&results) {
                return results;
            }
            assert!(
                Instant::now() < deadline,
                "backups never got there: {results:#?}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The `backupman_last_success_timestamp_seconds` of `source`, once the service has it
    /// (polled for at most 20 s: it is read from the drives in the background).
    pub fn last_success(&self, source: &str) -> f64 {
        let deadline = Instant::now() + Duration::from_secs(20);
        let prefix = format!("backupman_last_success_timestamp_seconds{{source=\"{source}\"}}");
        loop {
            let (_, body) = curl(&self.url("/metrics"), &[]);
            let text = String::from_utf8(body).unwrap();
            if let Some(line) = text.lines().find(|l| l.starts_with(&prefix)) {
                return line.rsplit(' ').next().unwrap().parse().unwrap();
            }
            assert!(Instant::now() < deadline, "{text}\n{}", self.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sends `signal` (`-TERM`, `-INT`) and waits at most `within` for the exit code.
    pub fn stop(self, signal: &str, within: Duration) -> (Option<i32>, String) {
        self.signal(signal);
        self.wait_exit(&format!("after {signal}"), within)
    }

    /// Sends `signal` (`-TERM`, `-INT`) and returns at once.
    pub fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    }

    /// Waits at most `within` for the exit code, without a signal of its own (`after` says
    /// what should have ended it, for the failure message).
    pub fn wait_exit(mut self, after: &str, within: Duration) -> (Option<i32>, String) {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status.code(), self.log());
            }
            assert!(
                Instant::now() < deadline,
                "serve did not stop within {within:?} {after}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `curl URL ARGS...`: the status and the body.
pub fn curl(url: &str, args: &[&str]) -> (u16, Vec<u8>) {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "60", "-w", "\n%{http_code}"])
        .args(args)
        .arg(url)
        .output()
        .expect("curl runs");
    let text = out.stdout;
    let split = text.iter().rposition(|b| *b == b'\n').unwrap_or(0);
    let status = String::from_utf8_lossy(&text[split + 1..])
        .trim()
        .parse()
        .unwrap_or(0);
    (status, text[..split].to_vec())
}

/// Finished backups (`Status: finished`).
pub fn finished(results: &[serde_json::Value]) -> Vec<&serde_json::Value> {
    results
        .iter()
        .filter(|r| r["Status"] == "finished")
        .collect()
}

/// A stand-in for mariadb-dump that sleeps `seconds`, then prints a small dump.
pub fn slow_source(dir: &Path, seconds: u32) -> String {
    let tool = crate::common::fake_dump_tool(
        dir,
        &format!("sh -c 'sleep {seconds}; echo \"CREATE TABLE t (id INT);\"'"),
    );
    format!(
        "data_sources:\n  - provider: mariadb\n    label: Slow\n    db_name: app\n    dump_tool_path: {}\n",
        tool.display()
    )
}

/// A config in `dir` with `sources` (YAML from `data_sources:` on), a local drive and the key.
pub fn write_config(dir: &Path, sources: &str, http_extra: &str) -> String {
    let config = dir.join("config.yml");
    std::fs::write(
        &config,
        format!("{sources}drives:\n{LOCAL_DISK}http:\n  api_keys: [{KEY}]\n{http_extra}"),
    )
    .unwrap();
    config.display().to_string()
}
