//! Running the native client tools (`pg_dump`, `psql`, `mariadb-dump`, `mariadb`, ...):
//! finding them, passing secrets through the environment, draining stderr on a thread so a
//! chatty tool never blocks, and turning an exit status plus stderr into one message.
//! Shared by the dump sources and by restore.

use std::env;
use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;

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
        let Some(mut pipe) = child.stderr.take() else {
            return Self(None);
        };
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

/// A spawned tool whose stdout is read by the caller.
#[derive(Debug)]
pub(crate) struct Streaming {
    pub(crate) name: String,
    pub(crate) child: Child,
    pub(crate) stderr: StderrDrain,
}

/// Spawns `cmd` with stdout piped to the caller, stderr drained on a thread.
pub(crate) fn spawn_reading(cmd: &mut Command) -> Result<(Streaming, ChildStdout), String> {
    let name = tool_name(Path::new(cmd.get_program()));
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {name}: {e}"))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = StderrDrain::start(&mut child);
    Ok((
        Streaming {
            name,
            child,
            stderr,
        },
        stdout,
    ))
}

impl Streaming {
    /// Waits for the tool. Fails when it exited non-zero, was killed, or printed anything on
    /// stderr (a dump that warns is not trusted silently); the message carries its stderr.
    pub(crate) fn wait(mut self, stderr_fails: bool) -> Result<(), String> {
        let status = self
            .child
            .wait()
            .map_err(|e| format!("waiting for {} failed: {e}", self.name))?;
        let stderr = self.stderr.collect();
        if !status.success() {
            return Err(failure_message(&self.name, status, &stderr));
        }
        if stderr_fails && !stderr.is_empty() {
            return Err(format!(
                "{} exited successfully but printed on stderr, so the dump is not trusted: {stderr}",
                self.name
            ));
        }
        Ok(())
    }

    /// Kills the tool (SIGKILL) and reaps it.
    pub(crate) fn kill(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stderr.collect()
    }
}

/// `pg_dump failed (exit status 1): pg_dump: error: ...`
pub(crate) fn failure_message(name: &str, status: ExitStatus, stderr: &str) -> String {
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
    use super::*;

    #[test]
    fn stderr_and_status_reach_the_message() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo out; echo 'boom happened' >&2; exit 3"]);
        let (running, mut stdout) = spawn_reading(&mut cmd).unwrap();
        let mut out = String::new();
        stdout.read_to_string(&mut out).unwrap();
        assert_eq!(out, "out\n");
        let err = running.wait(true).unwrap_err();
        assert_eq!(err, "sh failed (exit status 3): boom happened");
    }

    #[test]
    fn stderr_on_success_fails_when_asked() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo warning >&2"]);
        let (running, _stdout) = spawn_reading(&mut cmd).unwrap();
        assert!(running.wait(true).unwrap_err().contains("warning"));
    }

    #[test]
    fn missing_tools_are_named() {
        let err = find_tool(None, &["backupman-no-such-tool", "nor-this"]).unwrap_err();
        assert!(err.contains("backupman-no-such-tool or nor-this"), "{err}");
        assert!(find_tool(None, &["sh"]).is_ok());
    }
}
