//! A throw-away single-node Ceph with its RADOS Gateway (the S3 engine of DigitalOcean Spaces
//! and Linode Object Storage), from Debian's packages (`ceph-mon`, `ceph-osd`, `radosgw`,
//! which `cargo xtask provision` installs): one monitor, one OSD on `memstore` (objects in
//! memory), pools of size 1, no authentication between the daemons, every file in one temp
//! folder, everything on loopback ports. Starting takes about 15 seconds, most of it the
//! gateway creating its pools. Dropping a [`Cluster`] kills every daemon and removes the
//! folder; a daemon that dies or a step that does not finish in time fails loudly with the
//! daemons' logs.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::s3::free_port;

/// The Debian packages' programs a cluster needs.
const PROGRAMS: [&str; 6] = [
    "monmaptool",
    "ceph-mon",
    "ceph",
    "ceph-osd",
    "radosgw",
    "radosgw-admin",
];
/// How long any one step may take (a command, the gateway's first answer).
const STEP_TIMEOUT: Duration = Duration::from_secs(90);

/// A running cluster: a monitor, an OSD and a gateway, each a child process.
#[derive(Debug)]
pub struct Cluster {
    /// The gateway's loopback port (S3, path-style).
    pub rgw_port: u16,
    dir: tempfile::TempDir,
    daemons: Vec<(&'static str, Child)>,
}

impl Cluster {
    /// Starts a cluster and creates an S3 user with `access_key` and `secret_key`.
    pub fn start(access_key: &str, secret_key: &str) -> Self {
        for program in PROGRAMS {
            let found = std::env::var_os("PATH").is_some_and(|paths| {
                std::env::split_paths(&paths).any(|dir| dir.join(program).is_file())
            });
            assert!(
                found,
                "{program} is not installed: Ceph comes from Debian's ceph-mon, ceph-osd and \
                 radosgw packages, which `cargo xtask provision` installs"
            );
        }
        let dir = tempfile::Builder::new()
            .prefix("backupman-ceph-")
            .tempdir()
            .expect("cannot create a temp folder");
        let mut cluster = Self {
            rgw_port: free_port(),
            dir,
            daemons: Vec::new(),
        };
        let started = Instant::now();
        cluster.bootstrap(access_key, secret_key);
        eprintln!(
            "ceph: a monitor, an OSD (memstore) and radosgw on 127.0.0.1:{} in {:.1} s",
            cluster.rgw_port,
            started.elapsed().as_secs_f64()
        );
        cluster
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn bootstrap(&mut self, access_key: &str, secret_key: &str) {
        let root = self.dir.path().to_owned();
        for sub in ["mon", "osd/osd.0", "run", "log", "rgw"] {
            std::fs::create_dir_all(root.join(sub)).expect("cannot create the cluster's folders");
        }
        let fsid = std::fs::read_to_string("/proc/sys/kernel/random/uuid")
            .expect("a UUID from the kernel")
            .trim()
            .to_owned();
        let mon = format!("v2:127.0.0.1:{}", free_port());
        let conf = self.path("ceph.conf");
        std::fs::write(&conf, config(&root, &fsid, &mon, self.rgw_port))
            .expect("cannot write ceph.conf");
        let monmap = self.path("monmap");
        self.step(
            Command::new("monmaptool")
                .args([
                    "--create",
                    "--addv",
                    "a",
                    &format!("[{mon}]"),
                    "--fsid",
                    &fsid,
                ])
                .arg(&monmap),
        );
        self.step(
            self.ceph("ceph-mon")
                .args(["--mkfs", "-i", "a", "--monmap"])
                .arg(&monmap),
        );
        self.spawn("mon.a", self.ceph("ceph-mon").args(["-f", "-i", "a"]));
        // Registers OSD 0 with the monitor, once the monitor answers.
        self.step(
            self.ceph("ceph")
                .args(["--connect-timeout", "60", "osd", "create"]),
        );
        self.step(self.ceph("ceph-osd").args(["--mkfs", "-i", "0"]));
        self.spawn("osd.0", self.ceph("ceph-osd").args(["-f", "-i", "0"]));
        self.spawn(
            "client.rgw",
            self.ceph("radosgw").args(["-f", "-n", "client.rgw"]),
        );
        self.wait_for_gateway();
        self.step(self.ceph("radosgw-admin").args([
            "user",
            "create",
            "--uid",
            "backupman",
            "--display-name",
            "backupman tests",
            "--access-key",
            access_key,
            "--secret",
            secret_key,
        ]));
    }

    /// `program -c ceph.conf`.
    fn ceph(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.arg("-c").arg(self.path("ceph.conf"));
        cmd
    }

    /// Runs one setup command to its end within [`STEP_TIMEOUT`] (coreutils' `timeout`).
    fn step(&mut self, cmd: &mut Command) {
        let shown = format!("{cmd:?}");
        let mut timed = Command::new("timeout");
        timed
            .arg(STEP_TIMEOUT.as_secs().to_string())
            .arg(cmd.get_program())
            .args(cmd.get_args());
        let out = timed
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"));
        if !out.status.success() {
            self.fail(&format!(
                "{shown} failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }

    fn spawn(&mut self, name: &'static str, cmd: &mut Command) {
        let out = File::create(self.path(&format!("log/{name}.out"))).expect("a daemon's log");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("a daemon's log"))
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        self.daemons.push((name, child));
    }

    /// Until the gateway answers an anonymous `GET /` with 200 (it listens only once its
    /// pools exist), while every daemon stays up.
    fn wait_for_gateway(&mut self) {
        let started = Instant::now();
        loop {
            if answers_200(self.rgw_port) {
                return;
            }
            let exited: Vec<String> = self
                .daemons
                .iter_mut()
                .filter_map(|(name, child)| {
                    let status = child.try_wait().ok().flatten()?;
                    Some(format!("{name} exited with {status}"))
                })
                .collect();
            if !exited.is_empty() {
                self.fail(&exited.join(", "));
            }
            if started.elapsed() > STEP_TIMEOUT {
                self.fail(&format!(
                    "radosgw did not answer on 127.0.0.1:{} within {STEP_TIMEOUT:?}",
                    self.rgw_port
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Panics with `why` and the end of every log the cluster wrote.
    fn fail(&mut self, why: &str) -> ! {
        let mut logs = String::new();
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.path("log"))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            logs.push_str(&format!("--- {} ---\n", file.display()));
            for line in &lines[lines.len().saturating_sub(30)..] {
                logs.push_str(line);
                logs.push('\n');
            }
        }
        self.stop();
        panic!("Ceph did not start: {why}\n{logs}");
    }

    fn stop(&mut self) {
        // Throw-away state in memory: nothing to flush, so no grace.
        for (_, child) in &mut self.daemons {
            let _ = child.kill();
        }
        for (_, child) in &mut self.daemons {
            let _ = child.wait();
        }
        self.daemons.clear();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether an HTTP `GET /` on `port` answers 200.
fn answers_200(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(
        &(Ipv4Addr::LOCALHOST, port).into(),
        Duration::from_millis(200),
    ) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

/// The cluster's `ceph.conf`: everything under `root`, the monitor at `mon`, the gateway on
/// `rgw_port`.
fn config(root: &Path, fsid: &str, mon: &str, rgw_port: u16) -> String {
    let root = root.display();
    format!(
        "[global]
fsid = {fsid}
mon host = [{mon}]
mon initial members = a
auth cluster required = none
auth service required = none
auth client required = none
# With auth none, a client's default (secure) mode cannot reach the monitor.
ms mon client mode = crc secure
ms bind ipv6 = false
public network = 127.0.0.0/8
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
mon allow pool size one = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
osd objectstore = memstore
memstore device bytes = 2147483648
# A nearly full disk of the machine must not stop the monitor: its data is tiny.
mon data avail warn = 1
mon data avail crit = 0
run dir = {root}/run
admin socket = {root}/run/$name.asok
pid file = {root}/run/$name.pid
log file = {root}/log/$name.log
mon cluster log file = {root}/log/cluster.log
mon data = {root}/mon/$name
osd data = {root}/osd/$name
keyring = /dev/null

[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:{rgw_port}
rgw data = {root}/rgw
"
    )
}
