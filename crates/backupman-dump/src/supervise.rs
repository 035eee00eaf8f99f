//! The one supervisor of child processes: dump tools, restore clients and (through
//! `backupman-ops`) a source's hooks all run under it, by the same rules.
//!
//! - A child with something to be stopped for (a run's cancel, a timeout: dump tools and
//!   hooks) leads a process group of its own, so killing it kills what it started too (a
//!   wrapper script's `pg_dump`, a hook's background job): a watcher task on the tokio
//!   runtime waits for it, and kills the whole group (SIGKILL: a tool blocked on a lock would
//!   not act on a gentler signal) when the run is cancelled, its timeout passes,
//!   [`Supervised::kill`] is called, or the handle is dropped unwaited. It reaps the child in
//!   every case, and ends with it.
//! - A child with nothing to be stopped for but the caller's own decision (a restore client,
//!   a short query) stays in backupman's process group, so a Ctrl-C at the terminal reaches
//!   it as it reaches backupman (a `psql` left running could take the end of its input for
//!   the end of the restore); it is waited for on the caller's thread, from any thread, and
//!   killed by [`Supervised::kill`] or when the handle is dropped unwaited.
//! - Its stderr is drained on a thread of its own, so a chatty child never blocks on a full
//!   pipe; the first [`STDERR_LIMIT`] bytes are kept for the message, and once the child has
//!   ended, stderr is read for [`STDERR_GRACE`] at most (a process it left in the background
//!   may hold the pipe open for good).
//! - How it ended becomes one [`ProcessError`], or its stderr when it exited 0.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use backupman_core::CancellationToken;
use tokio::sync::oneshot;

/// How much of a child's stderr is kept for its message.
pub const STDERR_LIMIT: usize = 64 * 1024;
/// How long stderr is still read once the child has ended.
pub const STDERR_GRACE: Duration = Duration::from_secs(1);

/// Why a supervised child (or the search for its tool) failed, in one line naming it.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ProcessError {
    /// The tool is not where it was configured, or not on `PATH`.
    #[error("{0}")]
    NotFound(String),
    /// It could not be started.
    #[error("cannot run {name}: {cause}")]
    Spawn {
        /// The child, as messages name it.
        name: String,
        /// The operating system's reason.
        #[source]
        cause: Arc<io::Error>,
    },
    /// Its pipes or its exit could not be had.
    #[error("{doing} {name} failed: {cause}")]
    Io {
        /// What was being done (`waiting for`, `reading the output of`).
        doing: &'static str,
        /// The child.
        name: String,
        /// Why.
        #[source]
        cause: Arc<io::Error>,
    },
    /// There is no tokio runtime here to watch it from.
    #[error("cannot run {name}: no tokio runtime to watch it from")]
    NoRuntime {
        /// The child.
        name: String,
    },
    /// It exited non-zero or was killed by a signal; `message` carries its stderr.
    #[error("{message}")]
    Failed {
        /// The child.
        name: String,
        /// How it ended.
        status: ExitStatus,
        /// What it printed on stderr (the first [`STDERR_LIMIT`] bytes, trimmed).
        stderr: String,
        /// `pg_dump failed (exit status 1): <its stderr>`.
        message: String,
    },
    /// It outlived its timeout and was killed with everything it started.
    #[error("{name} was still running after {} s and was killed with everything it started", .timeout.as_secs())]
    TimedOut {
        /// The child.
        name: String,
        /// The time it had.
        timeout: Duration,
    },
    /// The run was cancelled while it ran; it was killed with everything it started.
    #[error("{name} was killed: the run was interrupted")]
    Cancelled {
        /// The child.
        name: String,
    },
}

impl ProcessError {
    /// A child that exited with `status` after printing `stderr`.
    pub fn failed(name: &str, status: ExitStatus, stderr: String) -> Self {
        let how = match (status.code(), status.signal()) {
            (Some(code), _) => format!("exit status {code}"),
            (None, Some(signal)) => format!("killed by signal {signal}"),
            (None, None) => "unknown exit status".to_owned(),
        };
        let message = if stderr.is_empty() {
            format!("{name} failed ({how}) and printed nothing on stderr")
        } else {
            format!("{name} failed ({how}): {stderr}")
        };
        Self::Failed {
            name: name.to_owned(),
            status,
            stderr,
            message,
        }
    }

    fn io(doing: &'static str, name: &str, cause: io::Error) -> Self {
        Self::Io {
            doing,
            name: name.to_owned(),
            cause: Arc::new(cause),
        }
    }
}

/// How a child is run.
#[derive(Debug, Clone)]
pub struct Spec {
    /// How messages name it: a tool's file name, `the before hook`.
    pub name: String,
    /// Hand its stdin to the caller (else it reads nothing).
    pub stdin: bool,
    /// Hand its stdout to the caller (else it is discarded).
    pub stdout: bool,
    /// Kills it when cancelled.
    pub cancel: Option<CancellationToken>,
    /// Kills it when it runs longer.
    pub timeout: Option<Duration>,
}

impl Spec {
    /// A child named by `cmd`'s program file name, without pipes, cancel or timeout.
    pub fn of(cmd: &Command) -> Self {
        Self {
            name: crate::process::tool_name(Path::new(cmd.get_program())),
            stdin: false,
            stdout: false,
            cancel: None,
            timeout: None,
        }
    }
}

/// The pipes handed to the caller, as blocking files.
#[derive(Debug, Default)]
pub struct Pipes {
    /// Its stdin, when [`Spec::stdin`] asked for it.
    pub stdin: Option<File>,
    /// Its stdout, when [`Spec::stdout`] asked for it.
    pub stdout: Option<File>,
}

/// How the child ended.
#[derive(Debug)]
enum Ended {
    Exited(io::Result<ExitStatus>),
    Cancelled,
    TimedOut,
    Killed,
}

/// Who waits for the child.
#[derive(Debug)]
enum Waiting {
    /// A watcher task on the runtime, for a child with a cancel or a timeout to act on.
    Watched {
        exit: mpsc::Receiver<Ended>,
        /// Sent, or dropped with the handle: the watcher kills the group.
        kill: Option<oneshot::Sender<()>>,
    },
    /// The caller's own thread, for a child with nothing to act on but its end: no runtime
    /// needed (a restore, a short query, run from any thread).
    Direct(std::process::Child),
    /// Waited for already.
    Done,
}

/// A running child under the supervisor. Dropping it unwaited kills the child's group.
#[derive(Debug)]
pub struct Supervised {
    name: String,
    timeout: Option<Duration>,
    waiting: Waiting,
    stderr: Option<StderrDrain>,
}

/// Spawns `cmd`. With a cancel or a timeout in `spec`, in a process group of its own under a
/// watcher task on the current tokio runtime (call it from async code, the blocking pool or
/// any thread inside the runtime); without either, waited for by whoever waits, from any
/// thread (see the module's rules).
pub fn spawn(cmd: Command, spec: Spec) -> Result<(Supervised, Pipes), ProcessError> {
    if spec.cancel.is_none() && spec.timeout.is_none() {
        spawn_direct(cmd, spec)
    } else {
        spawn_watched(cmd, spec)
    }
}

fn piped(wanted: bool) -> Stdio {
    if wanted {
        Stdio::piped()
    } else {
        Stdio::null()
    }
}

fn spawn_failed(name: &str, cause: io::Error) -> ProcessError {
    ProcessError::Spawn {
        name: name.to_owned(),
        cause: Arc::new(cause),
    }
}

fn spawn_direct(mut cmd: Command, spec: Spec) -> Result<(Supervised, Pipes), ProcessError> {
    let name = spec.name;
    let mut child = cmd
        .stdin(piped(spec.stdin))
        .stdout(piped(spec.stdout))
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| spawn_failed(&name, e))?;
    let pipes = Pipes {
        stdin: child.stdin.take().map(|p| File::from(OwnedFd::from(p))),
        stdout: child.stdout.take().map(|p| File::from(OwnedFd::from(p))),
    };
    let stderr = child.stderr.take().map(StderrDrain::of);
    let running = Supervised {
        name,
        timeout: None,
        waiting: Waiting::Direct(child),
        stderr,
    };
    Ok((running, tuned(pipes)))
}

fn spawn_watched(cmd: Command, spec: Spec) -> Result<(Supervised, Pipes), ProcessError> {
    let name = spec.name;
    let runtime = tokio::runtime::Handle::try_current()
        .map_err(|_| ProcessError::NoRuntime { name: name.clone() })?;
    // The child is registered with the runtime's process driver, which reaps it.
    let _entered = runtime.enter();
    let mut cmd = tokio::process::Command::from(cmd);
    cmd.stdin(piped(spec.stdin))
        .stdout(piped(spec.stdout))
        .stderr(Stdio::piped())
        // Should the runtime shut down under a running child, it dies with the watcher.
        .kill_on_drop(true)
        .process_group(0);
    let mut child = cmd.spawn().map_err(|e| spawn_failed(&name, e))?;
    // Dropping the child kills it (`kill_on_drop`), so an early return leaves nothing running.
    let blocking = |fd: io::Result<OwnedFd>| {
        fd.map(File::from)
            .map_err(|e| ProcessError::io("taking the pipes of", &name, e))
    };
    let pipes = Pipes {
        stdin: child
            .stdin
            .take()
            .map(|p| blocking(p.into_owned_fd()))
            .transpose()?,
        stdout: child
            .stdout
            .take()
            .map(|p| blocking(p.into_owned_fd()))
            .transpose()?,
    };
    let stderr = child
        .stderr
        .take()
        .map(|p| blocking(p.into_owned_fd()))
        .transpose()?
        .map(StderrDrain::of);
    let (exit_tx, exit) = mpsc::channel();
    let (kill, kill_rx) = oneshot::channel();
    let cancel = spec.cancel.unwrap_or_default();
    runtime.spawn(watch(child, cancel, spec.timeout, kill_rx, exit_tx));
    let running = Supervised {
        name,
        timeout: spec.timeout,
        waiting: Waiting::Watched {
            exit,
            kill: Some(kill),
        },
        stderr,
    };
    Ok((running, tuned(pipes)))
}

/// A 64 KiB pipe makes a dump tool and its reader (or a restore's writer and its client) take
/// turns 13,000 times a GiB; a bigger one lets each run longer. Only a speed-up: an
/// unprivileged limit below it changes nothing.
fn tuned(pipes: Pipes) -> Pipes {
    for pipe in pipes.stdin.iter().chain(&pipes.stdout) {
        let _ = rustix::pipe::fcntl_setpipe_size(pipe, PIPE_SIZE);
    }
    pipes
}

/// The pipe buffer asked for (Linux's default unprivileged maximum).
const PIPE_SIZE: usize = 1024 * 1024;

/// Waits for the child to exit, or kills its group first when the run is cancelled, its
/// time is up, or the caller asks or drops the handle; then passes on how it ended.
async fn watch(
    mut child: tokio::process::Child,
    cancel: CancellationToken,
    timeout: Option<Duration>,
    kill: oneshot::Receiver<()>,
    exit_tx: mpsc::Sender<Ended>,
) {
    let time_up = async {
        match timeout {
            Some(timeout) => tokio::time::sleep(timeout).await,
            None => std::future::pending().await,
        }
    };
    let ended = tokio::select! {
        exited = child.wait() => Ended::Exited(exited),
        () = cancel.cancelled() => Ended::Cancelled,
        () = time_up => Ended::TimedOut,
        // Asked to, or the handle was dropped (which drops the sender too).
        _ = kill => Ended::Killed,
    };
    if !matches!(ended, Ended::Exited(_)) {
        if let Some(pid) = child.id() {
            kill_group(pid);
        }
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
    let _ = exit_tx.send(ended);
}

/// Kills (SIGKILL: a tool blocked on a lock would not act on a gentler signal) the process
/// group led by `pid`: what the child started too, so a wrapper script's children do not
/// live on holding its pipes open. Call it only while the leader is not yet reaped.
fn kill_group(pid: u32) {
    if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

impl Supervised {
    /// How messages name the child.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Waits (blocking) for the child: its stderr when it exited 0, else why not. Call it
    /// once its stdout is drained or dropped, and its stdin closed.
    pub fn wait_blocking(mut self) -> Result<String, ProcessError> {
        let ended = match std::mem::replace(&mut self.waiting, Waiting::Done) {
            Waiting::Watched { exit, kill } => {
                let ended = exit.recv().ok();
                drop(kill);
                ended
            }
            Waiting::Direct(mut child) => Some(Ended::Exited(child.wait())),
            Waiting::Done => None,
        };
        let stderr = self.stderr.take().map(StderrDrain::collect);
        judge(&self.name, self.timeout, ended, stderr.unwrap_or_default())
    }

    /// [`Supervised::wait_blocking`] from async code, on the blocking pool.
    pub async fn wait(self) -> Result<String, ProcessError> {
        let name = self.name.clone();
        tokio::task::spawn_blocking(move || self.wait_blocking())
            .await
            .unwrap_or_else(|e| Err(ProcessError::io("waiting for", &name, io::Error::other(e))))
    }

    /// Kills the child's group now and waits (blocking) until it is reaped: when this
    /// returns, the child is gone, so closing its stdin afterwards cannot make it act on
    /// input it holds only part of. Returns what it printed on stderr.
    pub fn kill(mut self) -> String {
        self.end();
        self.stderr
            .take()
            .map(StderrDrain::collect)
            .unwrap_or_default()
    }

    /// Kills the group and reaps the leader, unless it was waited for already.
    fn end(&mut self) {
        match std::mem::replace(&mut self.waiting, Waiting::Done) {
            Waiting::Watched { exit, kill } => {
                if let Some(kill) = kill {
                    let _ = kill.send(());
                }
                let _ = exit.recv();
            }
            Waiting::Direct(mut child) => {
                let _ = child.kill();
                let _ = child.wait();
            }
            Waiting::Done => {}
        }
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        match &mut self.waiting {
            // The watcher kills and reaps it once the kill sender is gone: nothing blocks here.
            Waiting::Watched { kill, .. } => drop(kill.take()),
            Waiting::Direct(_) => self.end(),
            Waiting::Done => {}
        }
    }
}

/// The child's stderr when it exited 0; otherwise why not.
fn judge(
    name: &str,
    timeout: Option<Duration>,
    ended: Option<Ended>,
    stderr: String,
) -> Result<String, ProcessError> {
    match ended {
        Some(Ended::Exited(Ok(status))) if status.success() => Ok(stderr),
        Some(Ended::Exited(Ok(status))) => Err(ProcessError::failed(name, status, stderr)),
        Some(Ended::Exited(Err(e))) => Err(ProcessError::io("waiting for", name, e)),
        Some(Ended::Cancelled) => Err(ProcessError::Cancelled {
            name: name.to_owned(),
        }),
        Some(Ended::TimedOut) => Err(ProcessError::TimedOut {
            name: name.to_owned(),
            timeout: timeout.unwrap_or_default(),
        }),
        Some(Ended::Killed) | None => Err(ProcessError::io(
            "waiting for",
            name,
            io::Error::other("it was stopped: its runtime shut down"),
        )),
    }
}

/// A child's stderr, read on its own thread: the first [`STDERR_LIMIT`] bytes kept, the rest
/// drained so the child never blocks on a full pipe.
#[derive(Debug)]
struct StderrDrain(Option<mpsc::Receiver<String>>);

impl StderrDrain {
    fn of(mut pipe: impl Read + Send + 'static) -> Self {
        let (tx, rx) = mpsc::channel();
        let started = std::thread::Builder::new()
            .name("backupman-stderr".into())
            .spawn(move || {
                let mut kept = Vec::new();
                let mut buf = [0u8; 8192];
                let mut dropped = 0usize;
                loop {
                    match pipe.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            let room = STDERR_LIMIT.saturating_sub(kept.len());
                            kept.extend_from_slice(&buf[..n.min(room)]);
                            dropped += n.saturating_sub(room);
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(_) => break,
                    }
                }
                let mut text = String::from_utf8_lossy(&kept).trim().to_owned();
                if dropped > 0 {
                    text.push_str(&format!(" [... {dropped} more bytes of stderr]"));
                }
                let _ = tx.send(text);
            });
        Self(started.ok().map(|_| rx))
    }

    /// What the child printed on stderr, once the pipe closes or [`STDERR_GRACE`] has passed
    /// (call it once the child has ended).
    fn collect(self) -> String {
        self.0
            .and_then(|rx| rx.recv_timeout(STDERR_GRACE).ok())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    fn sh(script: &str) -> Command {
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(script);
        cmd
    }

    #[test]
    fn stderr_is_kept_up_to_the_one_limit_and_the_rest_counted() {
        // 100,000 bytes on stderr, then a failure: no runtime needed without cancel or timeout.
        let script = "head -c 100000 /dev/zero | tr '\\0' x >&2; exit 2";
        let (running, _) = spawn(sh(script), Spec::of(&sh(script))).unwrap();
        let ProcessError::Failed { stderr, status, .. } = running.wait_blocking().unwrap_err()
        else {
            panic!("not a failure");
        };
        assert_eq!(status.code(), Some(2));
        let kept = stderr.split(' ').next().unwrap();
        assert_eq!(kept.len(), STDERR_LIMIT);
        assert!(kept.bytes().all(|b| b == b'x'));
        assert!(
            stderr.ends_with(&format!(
                "[... {} more bytes of stderr]",
                100_000 - STDERR_LIMIT
            )),
            "{}",
            &stderr[STDERR_LIMIT..]
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_timeout_kills_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        // The shell waits for a child of its own: that one must die too.
        let script = format!("sleep 60 & echo $! > {}; wait", pid_file.display());
        let spec = Spec {
            name: "the test child".into(),
            timeout: Some(Duration::from_millis(300)),
            ..Spec::of(&sh(&script))
        };
        let (running, _) = spawn(sh(&script), spec).unwrap();
        let err = running.wait().await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "the test child was still running after 0 s and was killed with everything it started"
        );
        let pid: i32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let alive = || {
            // A zombie awaiting its reaper counts as gone.
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|stat| !stat.contains(") Z "))
        };
        let clock = Instant::now();
        while alive() && clock.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!alive(), "the shell's child {pid} outlived the kill");
    }

    #[test]
    fn kill_returns_once_the_child_is_gone() {
        // The client itself, as a restore runs it (no shell between).
        let client = || {
            let mut cmd = Command::new("cat");
            cmd.stdout(Stdio::null());
            cmd
        };
        let spec = Spec {
            stdin: true,
            ..Spec::of(&client())
        };
        let (running, pipes) = spawn(client(), spec).unwrap();
        let stdin = pipes.stdin.unwrap();
        running.kill();
        // Killed before its input closed: writing now finds no reader.
        let mut stdin = stdin;
        let err = std::io::Write::write_all(&mut stdin, b"late").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    }
}
