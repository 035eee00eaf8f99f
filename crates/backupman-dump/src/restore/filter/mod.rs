//! The filters a plain SQL dump passes on its way to a database client: restores apply data,
//! never commands.
//!
//! `psql` and the `mariadb` client do not only send SQL to the server: a backslash outside
//! quotes starts a client command (`\! sh -c ...` runs a shell, `\o` writes files, `\i` reads
//! them), and the `mariadb` client also takes long forms (`system ...`, `source ...`) at the
//! start of a statement. Anyone who can write to the bucket can plant an object and a
//! matching manifest, so the dump is untrusted input: each filter follows its client's own
//! lexer (quotes, comments, `COPY` data) closely enough to see every byte the client would
//! take as a command, and refuses the dump at the first one, before the chunk holding it is
//! written to the client. Where the clients' lexers differ between versions or settings, the
//! filter refuses what could be read two ways rather than guess.
//!
//! Each filter is a streaming state machine: it sees the plain dump chunk by chunk, keeps a
//! few bytes of state, and does not buffer lines (a `COPY` row can be gigabytes long).

mod mariadb;
mod psql;

use std::fmt;

pub(crate) use mariadb::MariadbFilter;
pub(crate) use psql::PsqlFilter;

/// A filter over the plain dump: fails on the first byte its client would not take as data.
pub(crate) trait Filter: Send {
    /// Checks the next chunk of the dump.
    fn check(&mut self, chunk: &[u8]) -> Result<(), Refusal>;

    /// Checks what is pending at the end of the dump (a client runs an unterminated command
    /// line at the end of its input).
    fn finish(&mut self) -> Result<(), Refusal>;
}

/// Why a dump was refused, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The line of the plain dump (from 1).
    pub line: u64,
    /// What was found there, shortened and printable.
    pub found: String,
    /// What it is.
    pub kind: RefusalKind,
}

/// What a refused dump holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RefusalKind {
    /// A command of the client (`\!`, `\o`, `system`...), which no dump tool writes.
    ClientCommand,
    /// Text that versions or settings of the client read differently, so the filter cannot
    /// tell whether the client would take what follows as data or as a command.
    Ambiguous(&'static str),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            RefusalKind::ClientCommand => write!(
                f,
                "line {}: the client command {}, which no dump tool writes",
                self.line, self.found
            ),
            RefusalKind::Ambiguous(why) => {
                write!(f, "line {}: {} ({why})", self.line, self.found)
            }
        }
    }
}

/// The longest excerpt a refusal quotes.
const EXCERPT: usize = 40;

/// `bytes` as a short quoted excerpt: at most [`EXCERPT`] bytes, escaped, `…` when cut.
pub(crate) fn excerpt(bytes: &[u8]) -> String {
    let cut = bytes.len() > EXCERPT;
    let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(EXCERPT)]).into_owned();
    let mut quoted = format!("{shown:?}");
    if cut {
        quoted.insert(quoted.len() - 1, '…');
    }
    quoted
}

/// The current line up to its end (or the chunk's), for a refusal.
pub(crate) fn rest_of_line(rest: &[u8]) -> &[u8] {
    &rest[..memchr::memchr(b'\n', rest).unwrap_or(rest.len())]
}

/// Checks `chunk` with `scan` up to its first NUL byte, which is refused: a client may stop
/// reading a line at one (`why`), so what follows it there is not what it reads. `line_now`
/// says where the scan stopped.
pub(crate) fn check_up_to_nul<F: ?Sized>(
    filter: &mut F,
    chunk: &[u8],
    scan: impl Fn(&mut F, &[u8]) -> Result<(), Refusal>,
    line_now: impl Fn(&F) -> u64,
    why: &'static str,
) -> Result<(), Refusal> {
    let Some(at) = memchr::memchr(0, chunk) else {
        return scan(filter, chunk);
    };
    scan(filter, &chunk[..at])?;
    Err(Refusal {
        line: line_now(filter),
        found: "a NUL byte".into(),
        kind: RefusalKind::Ambiguous(why),
    })
}

/// Counts lines across chunks, so a refusal can say where it is without a second pass.
#[derive(Debug, Default)]
pub(crate) struct LineCounter {
    /// Newlines in the chunks already checked.
    before: u64,
}

impl LineCounter {
    /// The line (from 1) of byte `at` of `chunk`, the chunk being checked.
    pub(crate) fn line_of(&self, chunk: &[u8], at: usize) -> u64 {
        self.before + 1 + memchr::memchr_iter(b'\n', &chunk[..at.min(chunk.len())]).count() as u64
    }

    /// Records a checked chunk.
    pub(crate) fn advance(&mut self, chunk: &[u8]) {
        self.before += memchr::memchr_iter(b'\n', chunk).count() as u64;
    }
}

#[cfg(test)]
mod tests;
