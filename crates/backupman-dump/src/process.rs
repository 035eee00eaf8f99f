//! Running the native client tools (`pg_dump`, `psql`, `mariadb-dump`, `mariadb`, ...):
//! finding them, passing secrets through the environment, draining stderr on a thread so a
//! chatty tool never blocks, killing a dump tool the moment its run is cancelled, and turning
//! an exit status plus stderr into one message. Shared by the dump sources and by restore.

use std::env;
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;

use backupman_core::CancellationToken;
use tokio::sync::oneshot;

/// How much of a tool's stderr is kept for the error message.
const STDERR_LIMIT: usize = 64 * 1024;

/// Finds a tool: the configured path when given, else the first of `names` on `PATH`.
pub(crate) fn find_tool(configured: Option<&Path>, names: &[&str]) -> Result<PathBuf, String> {
    if let Some(path) = configured {
        return if is_executable(path) {
            Ok(path.to_owned())
        } else {
            Err(format!(
                "{} is not an executable file (check dump_tool_path)",
                path.display()
            ))
        };
    }
    for name in names {
        if let Some(found) = on_path(name) {
            return Ok(found);
        }
    }
    Err(format!("{} not found on PATH", names.join(" or ")))
}

/// Finds `name` beside `sibling_of` (a configured tool's folder) first, then on `PATH`.
pub(crate) fn find_companion(sibling_of: Option<&Path>, name: &str) -> Option<PathBuf> {
    if let Some(dir) = sibling_of.and_then(Path::parent) {
        let candidate = dir.join(name);
        if is_executable(&candidate) {
            return Some(candidate);
        }
    }
    on_path(name)
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH").unwrap_or_else(|| OsString::from("/usr/bin:/bin"));
    env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// The first line of `tool --version`, e.g. `pg_dump (PostgreSQL) 15.4`.
pub(crate) fn tool_version(tool: &Path) -> Option<String> {
    let out = Command::new(tool)
        .arg("--version")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().next()?.trim();
    (out.status.success() && !line.is_empty()).then(|| line.to_owned())
}

/// The tool's file name, for messages.
pub(crate) fn tool_name(tool: &Path) -> String {
    tool.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| tool.display().to_string())
}

/// Runs a short command to completion, feeding `stdin`, and returns its stdout. A non-zero
/// exit or anything on stderr is an error carrying that stderr.
pub(crate) fn run_capture(cmd: &mut Command, stdin: Option<&[u8]>) -> Result<String, String> {
    let name = cmd.get_program().to_string_lossy().into_owned();
    let name = tool_name(Path::new(&name));
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("cannot run {name}: {e}"))?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // A tool that fails early closes its stdin; its stderr then says why.
        let _ = pipe.write_all(input);
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("waiting for {name} failed: {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    if !out.status.success() {
        return Err(failure_message(&name, out.status, &stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A child's stderr, read to the end on its own thread.
#[derive(Debug)]
pub(crate) struct StderrDrain(Option<JoinHandle<String>>);

impl StderrDrain {
    pub(crate) fn start(child: &mut Child) -> Self {
        match child.stderr.take() {
            Some(pipe) => Self::of(pipe),
            None => Self(None),
        }
    }

    fn of(mut pipe: impl Read + Send + 'static) -> Self {
        let handle = std::thread::Builder::new()
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
                text
            })
            .ok();
        Self(handle)
    }

    /// Everything the tool wrote to stderr (waits for the pipe to close).
    pub(crate) fn collect(self) -> String {
        self.0
            .and_then(|handle| handle.join().ok())
            .unwrap_or_default()
    }
}

/// A spawned client whose stdin the caller writes (restore).
#[derive(Debug)]
pub(crate) struct Streaming {
    name: String,
    child: Child,
    stderr: StderrDrain,
}

impl Streaming {
    /// Spawns `cmd` with its stdin handed to the caller, stdout discarded and stderr kept for
    /// the message.
    pub(crate) fn spawn(mut cmd: Command) -> Result<(Self, ChildStdin), String> {
        let name = tool_name(Path::new(cmd.get_program()));
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {name}: {e}"))?;
        let stdin = child.stdin.take();
        let stderr = StderrDrain::start(&mut child);
        let running = Self {
            name,
            child,
            stderr,
        };
        match stdin {
            Some(stdin) => {
                // As for a dump's stdout: fewer turns between the writer and the tool.
                let _ = rustix::pipe::fcntl_setpipe_size(&stdin, DUMP_PIPE_SIZE);
                Ok((running, stdin))
            }
            None => {
                let name = running.name.clone();
                running.kill();
                Err(format!("cannot write to {name}: its stdin is not a pipe"))
            }
        }
    }

    /// Waits for the tool: its stderr when it exited 0, else the failure message carrying it.
    pub(crate) fn wait(mut self) -> Result<String, String> {
        let status = self
            .child
            .wait()
            .map_err(|e| format!("waiting for {} failed: {e}", self.name))?;
        judge(&self.name, status, self.stderr.collect())
    }

    /// Kills the tool (SIGKILL) and reaps it.
    pub(crate) fn kill(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stderr.collect()
    }
}

/// The pipe buffer asked for a dump's stdout and a restore's stdin (Linux's default
/// unprivileged maximum).
const DUMP_PIPE_SIZE: usize = 1024 * 1024;

/// A dump tool whose stdout the caller reads, in the care of a watcher task that kills it
/// (SIGKILL) as soon as its run is cancelled or this handle is dropped unwaited, and otherwise
/// only reaps it. The watcher ends with the tool, so it never outlives the dump.
#[derive(Debug)]
pub(crate) struct Watched {
    name: String,
    exit: oneshot::Receiver<io::Result<ExitStatus>>,
    stderr: StderrDrain,
}

/// Spawns `cmd` under a watcher on the current tokio runtime (call it from the blocking pool
/// or any other thread inside the runtime). Returns the handle and the tool's stdout, a
/// blocking pipe.
pub(crate) fn spawn_watched(
    cmd: Command,
    cancel: CancellationToken,
) -> Result<(Watched, File), String> {
    let name = tool_name(Path::new(cmd.get_program()));
    let runtime = tokio::runtime::Handle::try_current()
        .map_err(|_| format!("cannot run {name}: no tokio runtime to watch it from"))?;
    // The child is registered with the runtime's process driver, which reaps it.
    let _entered = runtime.enter();
    let mut cmd = tokio::process::Command::from(cmd);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Should the runtime shut down under a running dump, the tool dies with the watcher.
        .kill_on_drop(true)
        // Its own process group, so a cancel reaches what it started too: a wrapper script's
        // pg_dump would otherwise live on, holding the pipe open and the read blocked.
        .process_group(0);
    let mut child = cmd.spawn().map_err(|e| format!("cannot run {name}: {e}"))?;
    // Dropping the child kills it (`kill_on_drop`), so an early return leaves nothing running.
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(format!(
            "cannot read the output of {name}: it is not a pipe"
        ));
    };
    // Handed over as blocking pipes: the dump is read on a blocking thread, stderr on its own.
    let blocking = |fd: io::Result<OwnedFd>| {
        fd.map(File::from)
            .map_err(|e| format!("cannot read the output of {name}: {e}"))
    };
    let stdout = blocking(stdout.into_owned_fd())?;
    // A 64 KiB pipe makes the tool and the reader take turns 13,000 times a GiB; a bigger one
    // lets each run longer. Only a speed-up: an unprivileged limit below it changes nothing.
    let _ = rustix::pipe::fcntl_setpipe_size(&stdout, DUMP_PIPE_SIZE);
    let stderr = blocking(stderr.into_owned_fd())?;
    let (exit_tx, exit) = oneshot::channel();
    runtime.spawn(watch(child, cancel, exit_tx));
    Ok((
        Watched {
            name,
            exit,
            stderr: StderrDrain::of(stderr),
        },
        stdout,
    ))
}

/// Waits for the tool to exit, or kills it first when the run is cancelled or nobody will
/// ever ask for its exit status, then passes the status on.
async fn watch(
    mut child: tokio::process::Child,
    cancel: CancellationToken,
    mut exit_tx: oneshot::Sender<io::Result<ExitStatus>>,
) {
    let ended = tokio::select! {
        exited = child.wait() => Some(exited),
        () = cancel.cancelled() => None,
        () = exit_tx.closed() => None,
    };
    let exited = match ended {
        Some(exited) => exited,
        None => {
            // SIGKILL: a tool blocked on a lock would not act on a gentler signal before the
            // lock is released.
            kill_process_group(&mut child);
            child.wait().await
        }
    };
    let _ = exit_tx.send(exited);
}

/// Kills (SIGKILL) `child` and its whole process group: what it started too, so a wrapper
/// script's children do not live on holding its pipes open. `child` must have been spawned
/// as a group leader (`process_group(0)`). Reaping stays the caller's job (`child.wait()`).
pub fn kill_process_group(child: &mut tokio::process::Child) {
    if let Some(pid) = child
        .id()
        .and_then(|id| rustix::process::Pid::from_raw(id as i32))
    {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
    let _ = child.start_kill();
}

impl Watched {
    /// Waits (blocking) for the tool: its stderr when it exited 0, else the failure message
    /// carrying it. Call it once the stdout pipe is drained or dropped.
    pub(crate) fn wait(self) -> Result<String, String> {
        let status = self
            .exit
            .blocking_recv()
            .map_err(|_| format!("{} was stopped: its runtime shut down", self.name))?
            .map_err(|e| format!("waiting for {} failed: {e}", self.name))?;
        judge(&self.name, status, self.stderr.collect())
    }
}

/// Ok with the tool's stderr when it exited 0; otherwise the failure message.
fn judge(name: &str, status: ExitStatus, stderr: String) -> Result<String, String> {
    if status.success() {
        Ok(stderr)
    } else {
        Err(failure_message(name, status, &stderr))
    }
}

/// A tool's failure in one line, e.g. `pg_dump failed (exit status 1): pg_dump: error: ...`:
/// the exit status or signal, and its stderr (or that it printed nothing there).
pub fn failure_message(name: &str, status: ExitStatus, stderr: &str) -> String {
    let how = match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => "unknown exit status".to_owned(),
    };
    if stderr.is_empty() {
        format!("{name} failed ({how}) and printed nothing on stderr")
    } else {
        format!("{name} failed ({how}): {stderr}")
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    /// Spawns `program args` under a watcher from the blocking pool, as the sources do, then
    /// runs `then` there with the handle and the tool's stdout.
    async fn watched<T: Send + 'static>(
        program: &str,
        args: &[&str],
        cancel: CancellationToken,
        then: impl FnOnce(Watched, File) -> T + Send + 'static,
    ) -> T {
        let mut cmd = Command::new(program);
        cmd.args(args);
        tokio::task::spawn_blocking(move || {
            let (running, stdout) = spawn_watched(cmd, cancel).unwrap();
            then(running, stdout)
        })
        .await
        .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stderr_and_status_reach_the_message() {
        let script = "echo out; echo 'boom happened' >&2; exit 3";
        let (out, result) = watched(
            "sh",
            &["-c", script],
            CancellationToken::new(),
            |running, mut stdout| {
                let mut out = String::new();
                stdout.read_to_string(&mut out).unwrap();
                (out, running.wait())
            },
        )
        .await;
        assert_eq!(out, "out\n");
        assert_eq!(
            result.unwrap_err(),
            "sh failed (exit status 3): boom happened"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stderr_of_a_tool_that_succeeds_is_handed_back() {
        let script = "echo '  careful: something odd  ' >&2";
        let result = watched(
            "sh",
            &["-c", script],
            CancellationToken::new(),
            |running, stdout| {
                drop(stdout);
                running.wait()
            },
        )
        .await;
        assert_eq!(result.unwrap(), "careful: something odd");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cancelling_kills_a_tool_that_writes_nothing() {
        let cancel = CancellationToken::new();
        let trigger = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            trigger.cancel();
        });
        let (read, elapsed, result) = watched("sleep", &["60"], cancel, |running, mut stdout| {
            let clock = Instant::now();
            let mut out = Vec::new();
            let read = stdout.read_to_end(&mut out).unwrap();
            (read, clock.elapsed(), running.wait())
        })
        .await;
        assert_eq!(read, 0);
        assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
        assert_eq!(
            result.unwrap_err(),
            "sleep failed (killed by signal 9) and printed nothing on stderr"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cancelling_kills_what_a_wrapper_script_started_too() {
        let cancel = CancellationToken::new();
        let trigger = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            trigger.cancel();
        });
        // Not `exec`: the shell waits for its own child, which holds the pipe open.
        let (read, elapsed) = watched(
            "sh",
            &["-c", "sleep 60; echo never"],
            cancel,
            |running, mut stdout| {
                let clock = Instant::now();
                let mut out = Vec::new();
                let read = stdout.read_to_end(&mut out).unwrap();
                drop(running);
                (read, clock.elapsed())
            },
        )
        .await;
        assert_eq!(read, 0);
        assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dropped_handle_kills_the_tool() {
        let (read, elapsed) = watched(
            "sleep",
            &["60"],
            CancellationToken::new(),
            |running, mut stdout| {
                drop(running);
                let clock = Instant::now();
                let mut out = Vec::new();
                (stdout.read_to_end(&mut out).unwrap(), clock.elapsed())
            },
        )
        .await;
        assert_eq!(read, 0);
        assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    }

    #[test]
    fn missing_tools_are_named() {
        let err = find_tool(None, &["backupman-no-such-tool", "nor-this"]).unwrap_err();
        assert!(err.contains("backupman-no-such-tool or nor-this"), "{err}");
        assert!(find_tool(None, &["sh"]).is_ok());
    }
}
