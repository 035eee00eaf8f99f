//! Finding the native client tools (`pg_dump`, `psql`, `mariadb-dump`, `mariadb`, ...) and
//! running them: a dump tool whose stdout is the dump, a restore client whose stdin is fed,
//! a short query whose stdout is its answer, each under the one supervisor
//! ([`crate::supervise`]). Shared by the dump sources and by restore.

use std::env;
use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use backupman_core::CancellationToken;

use crate::supervise::{self, ProcessError, Spec, Supervised};

/// Finds a tool: the configured path when given, else the first of `names` on `PATH`.
pub(crate) fn find_tool(
    configured: Option<&Path>,
    names: &[&str],
) -> Result<PathBuf, ProcessError> {
    if let Some(path) = configured {
        return if is_executable(path) {
            Ok(path.to_owned())
        } else {
            Err(ProcessError::NotFound(format!(
                "{} is not an executable file (check dump_tool_path)",
                path.display()
            )))
        };
    }
    for name in names {
        if let Some(found) = on_path(name) {
            return Ok(found);
        }
    }
    Err(ProcessError::NotFound(format!(
        "{} not found on PATH",
        names.join(" or ")
    )))
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
/// exit is an error carrying its stderr. Call it off the async threads, inside the runtime.
pub(crate) fn run_capture(cmd: &mut Command, stdin: Option<&[u8]>) -> Result<String, ProcessError> {
    let spec = Spec {
        stdin: stdin.is_some(),
        stdout: true,
        ..Spec::of(cmd)
    };
    let name = spec.name.clone();
    let command = std::mem::replace(cmd, Command::new(cmd.get_program()));
    let (running, pipes) = supervise::spawn(command, spec)?;
    if let (Some(input), Some(mut pipe)) = (stdin, pipes.stdin) {
        // A tool that fails early closes its stdin; its stderr then says why.
        let _ = pipe.write_all(input);
    }
    let mut out = Vec::new();
    if let Some(mut stdout) = pipes.stdout {
        stdout.read_to_end(&mut out).map_err(|e| ProcessError::Io {
            doing: "reading the output of",
            name,
            cause: e.into(),
        })?;
    }
    running.wait_blocking()?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Spawns a restore client with its stdin handed to the caller (stdout discarded, stderr
/// kept for the message). Call it off the async threads, inside the runtime.
pub(crate) fn spawn_fed(cmd: Command) -> Result<(Supervised, File), ProcessError> {
    let spec = Spec {
        stdin: true,
        ..Spec::of(&cmd)
    };
    let (running, pipes) = supervise::spawn(cmd, spec)?;
    match pipes.stdin {
        Some(stdin) => Ok((running, stdin)),
        None => unreachable_pipe(running, "writing to"),
    }
}

/// Spawns a dump tool whose stdout the caller reads (a blocking pipe), killed as soon as
/// `cancel` fires or the handle is dropped unwaited. Call it off the async threads, inside the
/// runtime.
pub(crate) fn spawn_dump(
    cmd: Command,
    cancel: CancellationToken,
) -> Result<(Supervised, File), ProcessError> {
    let spec = Spec {
        stdout: true,
        cancel: Some(cancel),
        ..Spec::of(&cmd)
    };
    let (running, pipes) = supervise::spawn(cmd, spec)?;
    match pipes.stdout {
        Some(stdout) => Ok((running, stdout)),
        None => unreachable_pipe(running, "reading the output of"),
    }
}

/// The pipe asked for was not handed over: the child is killed and the error says so.
fn unreachable_pipe<T>(running: Supervised, doing: &'static str) -> Result<T, ProcessError> {
    let name = running.name().to_owned();
    running.kill();
    Err(ProcessError::Io {
        doing,
        name,
        cause: std::io::Error::other("it is not a pipe").into(),
    })
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
        then: impl FnOnce(Supervised, File) -> T + Send + 'static,
    ) -> T {
        let mut cmd = Command::new(program);
        cmd.args(args);
        tokio::task::spawn_blocking(move || {
            let (running, stdout) = spawn_dump(cmd, cancel).unwrap();
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
                (out, running.wait_blocking())
            },
        )
        .await;
        assert_eq!(out, "out\n");
        assert_eq!(
            result.unwrap_err().to_string(),
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
                running.wait_blocking()
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
            (read, clock.elapsed(), running.wait_blocking())
        })
        .await;
        assert_eq!(read, 0);
        assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
        assert_eq!(
            result.unwrap_err().to_string(),
            "sleep was killed: the run was interrupted"
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
        let err = find_tool(None, &["backupman-no-such-tool", "nor-this"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("backupman-no-such-tool or nor-this"), "{err}");
        assert!(find_tool(None, &["sh"]).is_ok());
    }
}
