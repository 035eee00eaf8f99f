//! The filter in front of the `mariadb` client.
//!
//! The client itself runs restores with `--sandbox`, which refuses every command that
//! reaches the shell or the file system: that is the guarantee, decided by the client's own
//! parser. This filter is there so that a planted command is found *before* anything is
//! applied: MySQL/MariaDB commit DDL as it runs, so the restore reads the whole object
//! through this filter first and starts only if it passes (and again while it streams).
//!
//! It follows the client's reading of its input (`add_line` in `client/mysql.cc`): a
//! backslash outside `'...'`, `"..."`, `` `...` `` and `/* */` comments is a command (`\!`,
//! `\.`, `\T`...), except `\N` (NULL) and `\-` (the sandbox switch genuine dumps begin
//! with); inside `/*!...*/` and `/*M!...*/` comments, which the server executes, commands are
//! read as well; `#` and `-- ` comments run to the end of the line; `delimiter ` anywhere
//! outside strings and comments takes the rest of its line unread as the new delimiter
//! (mariadb-dump writes `DELIMITER ;;` around triggers and routines), which then ends
//! statements; and at the start of a statement the client takes a line whose first word is
//! a command name (`system ...`, `source ...`, `connect ...`) as that command, while inside a
//! statement (a routine's body, say) such a line is SQL (`  source FROM t;`). `USE` is let
//! through. A dump whose `SET sql_mode` turns on `NO_BACKSLASH_ESCAPES` or `ANSI_QUOTES`
//! changes how the client reads quotes; the filter assumes neither (mariadb-dump sets
//! neither), and `--sandbox` still stops any command it would miss.

use super::{Filter, LineCounter, Refusal, RefusalKind, check_up_to_nul, excerpt, rest_of_line};

/// The client's long command names (lowercase) a statement may not start with: all of them
/// but `delimiter` and `use`, which genuine dumps write.
const COMMANDS: [&str; 22] = [
    "?",
    "charset",
    "clear",
    "connect",
    "edit",
    "ego",
    "exit",
    "go",
    "help",
    "nopager",
    "notee",
    "nowarning",
    "pager",
    "print",
    "prompt",
    "quit",
    "rehash",
    "source",
    "status",
    "system",
    "tee",
    "warnings",
];

/// What starts a `DELIMITER` command, wherever the client sees it outside strings.
const DELIMITER_KEYWORD: &[u8] = b"delimiter ";

/// The longest delimiter accepted.
const DELIMITER_MAX: usize = 16;

/// The bytes that matter outside strings and comments when no word is being read: quotes,
/// comment starts, backslashes, line ends and the first letter of `delimiter`.
const NOTABLE: [bool; 256] = {
    let mut table = [false; 256];
    let bytes = b"'\"`\\#/-\ndD";
    let mut i = 0;
    while i < bytes.len() {
        table[bytes[i] as usize] = true;
        i += 1;
    }
    table
};

/// The filter in front of the `mariadb` client.
pub(crate) struct MariadbFilter {
    lines: LineCounter,
    state: State,
    /// How much of [`DELIMITER_KEYWORD`] the last bytes matched.
    keyword: usize,
    /// What ends a statement.
    delimiter: Vec<u8>,
    /// How much of the delimiter the last bytes matched.
    matched: usize,
    /// Nothing but blanks and comments since the last statement ended.
    stmt_empty: bool,
    /// The first word of the current line, while it is being read (letters only).
    first_word: Option<Vec<u8>>,
    /// Only blanks since the line began.
    line_start: bool,
}

impl MariadbFilter {
    /// A filter for a dump fed to the `mariadb` client.
    pub(crate) fn new() -> Self {
        Self {
            lines: LineCounter::default(),
            state: State::Normal,
            keyword: 0,
            delimiter: b";".to_vec(),
            matched: 0,
            stmt_empty: true,
            first_word: None,
            line_start: true,
        }
    }
}

#[derive(Debug)]
enum State {
    Normal,
    /// The rest of a `DELIMITER` line.
    DelimiterArg(Vec<u8>),
    Quoted(u8),
    QuotedEscape(u8),
    Backslash,
    Slash,
    SlashStar,
    SlashStarM,
    Comment,
    CommentStar,
    Dash,
    DashDash,
    LineComment,
}

enum Flow {
    Next,
    Again,
}

fn command(found: &[u8]) -> (String, RefusalKind) {
    (excerpt(found), RefusalKind::ClientCommand)
}

impl Filter for MariadbFilter {
    fn check(&mut self, chunk: &[u8]) -> Result<(), Refusal> {
        // mariadb-dump escapes NUL in strings (`\0`) and writes blobs in hex.
        check_up_to_nul(
            self,
            chunk,
            Self::scan,
            |f| f.lines.line_of(b"", 0),
            "the client may stop reading a line at it",
        )
    }

    fn finish(&mut self) -> Result<(), Refusal> {
        let line = self.lines.line_of(b"", 0);
        let refuse = |found: &[u8]| {
            Err(Refusal {
                line,
                found: excerpt(found),
                kind: RefusalKind::ClientCommand,
            })
        };
        match (&self.state, &self.first_word) {
            (State::Backslash, _) => refuse(b"\\"),
            (_, Some(word)) if is_command(word) => refuse(word),
            _ => Ok(()),
        }
    }
}

impl MariadbFilter {
    /// Checks a chunk holding no NUL byte.
    fn scan(&mut self, chunk: &[u8]) -> Result<(), Refusal> {
        let mut i = 0;
        while i < chunk.len() {
            // Most of a dump is INSERT lines: jump inside a string to its next quote or
            // backslash.
            if let State::Quoted(q) = self.state {
                match memchr::memchr2(q, b'\\', &chunk[i..]) {
                    Some(p) => i += p,
                    None => break,
                }
            } else if matches!(self.state, State::Normal)
                && self.keyword == 0
                && self.matched == 0
                && self.first_word.is_none()
                && !self.line_start
                && !self.stmt_empty
            {
                // Inside a statement, only a few bytes change anything.
                let ends = self.delimiter[0];
                match chunk[i..]
                    .iter()
                    .position(|&b| NOTABLE[usize::from(b)] || b == ends)
                {
                    Some(p) => i += p,
                    None => break,
                }
            }
            match self.step(&chunk[i..]) {
                Ok(Flow::Next) => i += 1,
                Ok(Flow::Again) => {}
                Err((found, kind)) => {
                    return Err(Refusal {
                        line: self.lines.line_of(chunk, i),
                        found,
                        kind,
                    });
                }
            }
        }
        self.lines.advance(chunk);
        Ok(())
    }
}

fn is_command(word: &[u8]) -> bool {
    let word = word.to_ascii_lowercase();
    COMMANDS.iter().any(|c| c.as_bytes() == word)
}

impl MariadbFilter {
    fn step(&mut self, rest: &[u8]) -> Result<Flow, (String, RefusalKind)> {
        let b = rest[0];
        match &mut self.state {
            State::Normal => self.normal(rest),
            State::DelimiterArg(arg) => {
                if b != b'\n' {
                    if arg.len() > 64 {
                        return Err((
                            excerpt(arg),
                            RefusalKind::Ambiguous("an unusually long DELIMITER line"),
                        ));
                    }
                    arg.push(b);
                    return Ok(Flow::Next);
                }
                let delimiter = arg
                    .split(u8::is_ascii_whitespace)
                    .find(|w| !w.is_empty())
                    .unwrap_or_default();
                let plain = !delimiter.is_empty()
                    && delimiter.len() <= DELIMITER_MAX
                    && !delimiter
                        .iter()
                        .any(|c| matches!(c, b'\\' | b'\'' | b'"' | b'`'));
                if !plain {
                    return Err((
                        excerpt(arg),
                        RefusalKind::Ambiguous("a DELIMITER that mariadb-dump does not write"),
                    ));
                }
                self.delimiter = delimiter.to_vec();
                self.matched = 0;
                self.stmt_empty = true;
                self.state = State::Normal;
                Ok(Flow::Again)
            }
            State::Quoted(q) => {
                let q = *q;
                if b == b'\\' && q != b'`' {
                    self.state = State::QuotedEscape(q);
                } else if b == q {
                    self.state = State::Normal;
                }
                Ok(Flow::Next)
            }
            State::QuotedEscape(q) => {
                self.state = State::Quoted(*q);
                Ok(Flow::Next)
            }
            State::Backslash => match b {
                // `\N` is NULL; `\-` turns the sandbox on.
                b'N' | b'-' => {
                    self.stmt_empty &= b == b'-';
                    self.state = State::Normal;
                    Ok(Flow::Next)
                }
                _ => {
                    let mut found = vec![b'\\'];
                    found.extend_from_slice(rest_of_line(rest));
                    Err(command(&found))
                }
            },
            State::Slash => {
                if b == b'*' {
                    self.state = State::SlashStar;
                    return Ok(Flow::Next);
                }
                self.stmt_empty = false;
                self.state = State::Normal;
                Ok(Flow::Again)
            }
            // `/*!`, `/*M!` and `/*+` are executed by the server, and read by the client like
            // any statement text.
            State::SlashStar => {
                self.state = match b {
                    b'!' | b'+' => State::Normal,
                    b'M' => State::SlashStarM,
                    _ => State::Comment,
                };
                self.stmt_empty &= matches!(self.state, State::Comment | State::SlashStarM);
                Ok(Flow::Next)
            }
            State::SlashStarM => {
                self.state = if b == b'!' {
                    self.stmt_empty = false;
                    State::Normal
                } else {
                    State::Comment
                };
                Ok(Flow::Next)
            }
            State::Comment => {
                if b == b'*' {
                    self.state = State::CommentStar;
                }
                Ok(Flow::Next)
            }
            State::CommentStar => {
                self.state = match b {
                    b'/' => State::Normal,
                    b'*' => State::CommentStar,
                    _ => State::Comment,
                };
                Ok(Flow::Next)
            }
            State::Dash => {
                if b == b'-' {
                    self.state = State::DashDash;
                    return Ok(Flow::Next);
                }
                self.stmt_empty = false;
                self.state = State::Normal;
                Ok(Flow::Again)
            }
            State::DashDash => {
                self.state = if matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0x0b | 0x0c) {
                    State::LineComment
                } else {
                    self.stmt_empty = false;
                    State::Normal
                };
                Ok(Flow::Again)
            }
            State::LineComment => {
                if b == b'\n' {
                    self.state = State::Normal;
                    return Ok(Flow::Again);
                }
                Ok(Flow::Next)
            }
        }
    }

    /// A byte outside strings and comments.
    fn normal(&mut self, rest: &[u8]) -> Result<Flow, (String, RefusalKind)> {
        let b = rest[0];
        // The first word of a line, compared with the client's commands once it ends.
        if let Some(word) = &mut self.first_word {
            if b.is_ascii_alphabetic() && word.len() < 16 {
                word.push(b);
            } else {
                let word = self.first_word.take().unwrap_or_default();
                if matches!(b, b' ' | b'\t' | b'\r' | b'\n') && is_command(&word) {
                    let mut found = word;
                    found.extend_from_slice(rest_of_line(rest));
                    return Err(command(&found));
                }
            }
        } else if self.line_start && self.stmt_empty && (b.is_ascii_alphabetic() || b == b'?') {
            self.first_word = Some(vec![b]);
        }
        if self.first_word.as_deref() == Some(b"?") {
            return Err(command(rest_of_line(rest)));
        }
        self.line_start = b == b'\n' || (self.line_start && matches!(b, b' ' | b'\t' | b'\r'));
        if b.to_ascii_lowercase() == DELIMITER_KEYWORD[self.keyword] {
            self.keyword += 1;
            if self.keyword == DELIMITER_KEYWORD.len() {
                self.keyword = 0;
                self.first_word = None;
                self.state = State::DelimiterArg(Vec::new());
                return Ok(Flow::Next);
            }
        } else {
            self.keyword = usize::from(b.to_ascii_lowercase() == DELIMITER_KEYWORD[0]);
        }
        // The delimiter ends a statement wherever it stands outside strings and comments.
        if b == self.delimiter[self.matched] {
            self.matched += 1;
            if self.matched == self.delimiter.len() {
                self.matched = 0;
                self.stmt_empty = true;
                return Ok(Flow::Next);
            }
        } else {
            self.matched = usize::from(b == self.delimiter[0]);
        }
        match b {
            b'\'' | b'"' | b'`' => {
                self.stmt_empty = false;
                self.state = State::Quoted(b);
            }
            b'\\' => self.state = State::Backslash,
            b'#' => self.state = State::LineComment,
            b'/' => self.state = State::Slash,
            b'-' => self.state = State::Dash,
            b' ' | b'\t' | b'\r' | b'\n' | 0x0b | 0x0c => {}
            _ => self.stmt_empty = false,
        }
        Ok(Flow::Next)
    }
}
