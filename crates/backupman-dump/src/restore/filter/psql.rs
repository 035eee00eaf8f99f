//! The filter in front of `psql`: only what `pg_dump --format=plain` writes gets through.
//!
//! # Why a lexer, and not a look at line starts
//!
//! psql takes an unquoted backslash *anywhere* in a line as the start of a meta-command
//! (`SELECT 1; \! id` runs `id`), so looking at line starts would let a planted command
//! through in the middle of a line. What psql runs as a command depends on its lexer state
//! (psqlscan.l): inside a string literal, a quoted name, a dollar-quoted body or a comment a
//! backslash is data, outside all of them it is a command, and after a `COPY ... FROM stdin;`
//! every line up to `\.` is data sent to the server. So this filter follows that lexer:
//! `'...'` (with `''`), `E'...'` (with backslash escapes), `"..."`, `$tag$...$tag$`, `--`
//! comments (which end at `\r` as well as `\n`), nested `/* */` comments, parentheses, and
//! psql's BEGIN ... END tracking of SQL-standard function bodies (psql 14+), which decide
//! where a statement ends and so whether `COPY` data follows.
//!
//! Can pg_dump write a line starting with a backslash outside `COPY` data? Only its own
//! `\restrict KEY`/`\unrestrict KEY` (its newer releases) and `\connect DB` (with `--create`),
//! each alone on a line between statements. The first two are let through in exactly that
//! shape. `\connect` is refused: a `--create` dump starts with `CREATE DATABASE` (or `DROP
//! DATABASE`), which fails inside `--single-transaction` before its `\connect` is reached, so
//! no dump a restore can apply holds one, while a planted one would move the rest of the
//! dump into another database, outside the transaction (so no longer all or nothing), or to
//! another host with the restore's password. Every other backslash it writes is data: inside `COPY` rows (`\N`, `\\`, `\t`...),
//! inside string literals and dollar-quoted bodies (which may span lines, so a line of a
//! function body or of a multi-line text value can start with `\`), or in comments; the
//! filter knows each of those states, so such lines pass and the same text outside them is
//! refused.
//!
//! # What is refused as ambiguous
//!
//! Where psql's reading depends on something the filter cannot see, it refuses the dump
//! (pg_dump, run by backupman with `--quote-all-identifiers` and `standard_conforming_strings`
//! on, never writes these):
//!
//! - in a plain `'...'` literal, an odd run of backslashes right before a quote: with
//!   `standard_conforming_strings` off (a planted `SET` can turn it off) psql reads `\'` as an
//!   escaped quote and the string goes on, so the filter and psql would disagree on where it
//!   ends;
//! - a backslash right after a non-ASCII byte inside a literal, or any non-ASCII byte outside
//!   quotes: under a client encoding such as SJIS or BIG5 (a planted `SET client_encoding`)
//!   the second byte of a character can be `0x5c`, a backslash to the filter but not to psql;
//! - a name run into a number (`1abc`, `1e`, `$1a`), which psql 16 reads as one token and
//!   older versions as two, changing the BEGIN ... END count;
//! - any `COPY` statement other than `COPY ... FROM stdin;` followed by a line end (psql
//!   would treat the lines after `COPY ... FROM STDIN WITH (...)` as data; the filter only
//!   follows pg_dump's form), and NUL bytes, which psql's line reader stops at.
//!
//! psql's `:name` variable interpolation is left alone: with `-X` (no psqlrc) and no `\set`
//! getting through, the only variables are psql's own (connection settings, `ROW_COUNT`,
//! `SQLSTATE`...), none of them text from the dump; `LAST_ERROR_MESSAGE` is only set by a
//! failed statement, after which `ON_ERROR_STOP=1` ends psql.

use super::{Filter, LineCounter, Refusal, RefusalKind, check_up_to_nul, excerpt, rest_of_line};

/// The longest meta-command line let through (`\restrict` and a key of at most 256 bytes).
const META_MAX: usize = 512;

/// The longest dollar-quote tag accepted (pg_dump's are `$$`, `$_$`, `$__$`...).
const TAG_MAX: usize = 64;

/// The filter in front of `psql`.
pub(crate) struct PsqlFilter {
    lines: LineCounter,
    state: State,
    /// psql 14 and later do not end a statement at a `;` inside the BEGIN ... END of a
    /// `CREATE FUNCTION` or `CREATE PROCEDURE`; older ones do.
    begin_tracking: bool,
    paren_depth: u32,
    begin_depth: u32,
    identifier_count: u32,
    /// psql's record of the statement's first four names (the first letter of `create`,
    /// `function`, `procedure`, `or`, `replace`; 0 for any other).
    identifiers: [u8; 4],
    /// Nothing but blanks and comments since the last statement ended.
    stmt_empty: bool,
    /// The statement's first token is the name COPY.
    copy_stmt: bool,
    /// The statement's last two tokens.
    last: [Tok; 2],
    /// The byte before the one being looked at.
    prev: u8,
}

impl PsqlFilter {
    /// A filter for a dump fed to psql of major version `psql_major`.
    pub(crate) fn new(psql_major: u32) -> Self {
        Self {
            lines: LineCounter::default(),
            state: State::Normal,
            begin_tracking: psql_major >= 14,
            paren_depth: 0,
            begin_depth: 0,
            identifier_count: 0,
            identifiers: [0; 4],
            stmt_empty: true,
            copy_stmt: false,
            last: [Tok::Other; 2],
            prev: b'\n',
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    From,
    Stdin,
    Other,
}

/// The first bytes of an unquoted name, lowercased: enough for the keywords that matter.
#[derive(Debug, Clone, Copy, Default)]
struct Word {
    bytes: [u8; 9],
    len: usize,
}

impl Word {
    fn push(&mut self, b: u8) {
        if self.len < self.bytes.len() {
            self.bytes[self.len] = b.to_ascii_lowercase();
        }
        self.len += 1;
    }

    /// The name, when it is short enough to be one of the keywords looked for.
    fn keyword(&self) -> &[u8] {
        if self.len <= self.bytes.len() {
            &self.bytes[..self.len]
        } else {
            b""
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Num {
    Int,
    IntDot,
    Frac,
    Exp,
    ExpSign,
    ExpDigits,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CopyAt {
    LineStart,
    Backslash,
    Dot,
    DotCr,
    Mid,
}

/// A `$` inside a dollar-quoted body and the tag characters after it: maybe the closing
/// delimiter.
#[derive(Debug, Clone, Copy)]
struct Closing {
    len: usize,
    matches: bool,
}

#[derive(Debug)]
enum State {
    Normal,
    Word(Word),
    /// `U&`: a Unicode string or name may follow.
    UnicodePrefix,
    Number(Num),
    /// `$` and digits.
    Param,
    /// `$` and the tag characters after it: maybe an opening delimiter.
    DollarOpen(Vec<u8>),
    Dollar {
        tag: Vec<u8>,
        closing: Option<Closing>,
    },
    Minus,
    Slash,
    LineComment,
    BlockComment {
        depth: u32,
        pending: u8,
    },
    Literal {
        escapes: bool,
        backslashes: u32,
        after_high: bool,
    },
    LiteralEscape,
    LiteralEnd {
        escapes: bool,
    },
    Quoted,
    QuotedEnd,
    Meta {
        text: Vec<u8>,
        line: u64,
    },
    CopyTail,
    Copy(CopyAt),
}

/// What one byte did.
enum Flow {
    /// It is consumed.
    Next,
    /// The state changed; look at the same byte again.
    Again,
}

/// A refusal before its line is known.
struct Stop {
    found: String,
    kind: RefusalKind,
    /// The line, when it is not the current byte's.
    line: Option<u64>,
}

fn ambiguous(found: &[u8], why: &'static str) -> Stop {
    Stop {
        found: excerpt(found),
        kind: RefusalKind::Ambiguous(why),
        line: None,
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn is_tag_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

impl Filter for PsqlFilter {
    fn check(&mut self, chunk: &[u8]) -> Result<(), Refusal> {
        check_up_to_nul(
            self,
            chunk,
            Self::scan,
            |f| f.lines.line_of(b"", 0),
            "psql stops reading a line at it",
        )
    }

    fn finish(&mut self) -> Result<(), Refusal> {
        // psql runs a meta-command line cut short by the end of its input.
        if let State::Meta { text, line } = &self.state
            && !allowed_meta(text)
        {
            return Err(Refusal {
                line: *line,
                found: excerpt(text),
                kind: RefusalKind::ClientCommand,
            });
        }
        Ok(())
    }
}

impl PsqlFilter {
    /// Checks a chunk holding no NUL byte.
    fn scan(&mut self, chunk: &[u8]) -> Result<(), Refusal> {
        let mut i = 0;
        while i < chunk.len() {
            // The bulk of a dump is COPY data, bodies and comments: skip to the next byte
            // that matters.
            let skip = match &self.state {
                State::Copy(CopyAt::Mid) => memchr::memchr(b'\n', &chunk[i..]).map(|p| p + 1),
                State::Dollar { closing: None, .. } => memchr::memchr(b'$', &chunk[i..]),
                State::LineComment => memchr::memchr2(b'\n', b'\r', &chunk[i..]),
                State::Quoted => memchr::memchr(b'"', &chunk[i..]),
                _ => Some(0),
            };
            match skip {
                None => break,
                Some(p) if matches!(self.state, State::Copy(CopyAt::Mid)) => {
                    i += p;
                    self.state = State::Copy(CopyAt::LineStart);
                    continue;
                }
                Some(p) => i += p,
            }
            let prev = if i == 0 { self.prev } else { chunk[i - 1] };
            match self.step(&chunk[i..], prev) {
                Ok(Flow::Next) => {
                    if let State::Meta { line: line @ 0, .. } = &mut self.state {
                        *line = self.lines.line_of(chunk, i);
                    }
                    i += 1;
                }
                Ok(Flow::Again) => {}
                Err(stop) => {
                    return Err(Refusal {
                        line: stop.line.unwrap_or_else(|| self.lines.line_of(chunk, i)),
                        found: stop.found,
                        kind: stop.kind,
                    });
                }
            }
        }
        if let Some(&last) = chunk.last() {
            self.prev = last;
        }
        self.lines.advance(chunk);
        Ok(())
    }

    /// Looks at `rest[0]`, the byte after `prev`.
    fn step(&mut self, rest: &[u8], prev: u8) -> Result<Flow, Stop> {
        let b = rest[0];
        match &mut self.state {
            State::Normal => self.normal(rest, prev),
            State::Word(word) => {
                if b.is_ascii_alphanumeric() || b == b'_' || b == b'$' {
                    word.push(b);
                    return Ok(Flow::Next);
                }
                let word = *word;
                let single = (word.len == 1).then(|| word.bytes[0]);
                match (single, b) {
                    // E'...', B'...', X'...', N'...': a string, not a name, for psql.
                    (Some(b'e'), b'\'') => self.open_literal(true),
                    (Some(b'b' | b'x' | b'n'), b'\'') => self.open_literal(false),
                    (Some(b'u'), b'&') => {
                        self.state = State::UnicodePrefix;
                        Ok(Flow::Next)
                    }
                    _ => {
                        self.identifier(&word);
                        self.state = State::Normal;
                        Ok(Flow::Again)
                    }
                }
            }
            State::UnicodePrefix => match b {
                b'\'' => self.open_literal(false),
                b'"' => {
                    self.token(Tok::Other, false);
                    self.state = State::Quoted;
                    Ok(Flow::Next)
                }
                _ => {
                    // `U` and `&` on their own: neither is a name.
                    self.token(Tok::Other, false);
                    self.state = State::Normal;
                    Ok(Flow::Again)
                }
            },
            State::Number(num) => {
                let next = match (*num, b) {
                    (_, b'0'..=b'9') => match *num {
                        Num::IntDot => Some(Num::Frac),
                        Num::Exp | Num::ExpSign => Some(Num::ExpDigits),
                        n => Some(n),
                    },
                    (Num::Int, b'.') => Some(Num::IntDot),
                    (Num::IntDot, b'.') => {
                        // `1..`: the number is `1`, then two dots.
                        self.state = State::Normal;
                        return Ok(Flow::Again);
                    }
                    (Num::Int | Num::IntDot | Num::Frac, b'e' | b'E') => Some(Num::Exp),
                    (Num::Exp, b'+' | b'-') => Some(Num::ExpSign),
                    (Num::Exp | Num::ExpSign, _) => None,
                    (_, b) if is_ident_start(b) => None,
                    _ => {
                        self.state = State::Normal;
                        return Ok(Flow::Again);
                    }
                };
                match next {
                    Some(n) => {
                        *num = n;
                        Ok(Flow::Next)
                    }
                    None => Err(ambiguous(
                        rest_of_line(rest),
                        "a name or an exponent run into a number, which psql versions split differently",
                    )),
                }
            }
            State::Param => {
                if b.is_ascii_digit() {
                    Ok(Flow::Next)
                } else if is_ident_start(b) {
                    Err(ambiguous(
                        rest_of_line(rest),
                        "a name run into a parameter, which psql versions split differently",
                    ))
                } else {
                    self.state = State::Normal;
                    Ok(Flow::Again)
                }
            }
            State::DollarOpen(tag) => {
                if b == b'$' {
                    let tag = std::mem::take(tag);
                    self.token(Tok::Other, false);
                    self.state = State::Dollar { tag, closing: None };
                    return Ok(Flow::Next);
                }
                if b >= 0x80 {
                    return Err(ambiguous(
                        rest_of_line(rest),
                        "a dollar-quote tag that is not ASCII, which client encodings read differently",
                    ));
                }
                if tag.is_empty() && b.is_ascii_digit() {
                    self.token(Tok::Other, false);
                    self.state = State::Param;
                    return Ok(Flow::Next);
                }
                let fits = if tag.is_empty() {
                    is_ident_start(b)
                } else {
                    is_tag_char(b)
                };
                if fits {
                    if tag.len() >= TAG_MAX {
                        return Err(ambiguous(
                            rest_of_line(rest),
                            "an unusually long dollar-quote tag",
                        ));
                    }
                    tag.push(b);
                    return Ok(Flow::Next);
                }
                // Not a delimiter: psql takes the `$` alone and reads the tag characters
                // again, as a name.
                let tag = std::mem::take(tag);
                self.token(Tok::Other, false);
                self.state = if tag.is_empty() {
                    State::Normal
                } else {
                    let mut word = Word::default();
                    tag.iter().for_each(|&c| word.push(c));
                    State::Word(word)
                };
                Ok(Flow::Again)
            }
            State::Dollar { tag, closing } => {
                let Some(c) = closing else {
                    // Only a `$` gets here (see the skip in `check`).
                    *closing = Some(Closing {
                        len: 0,
                        matches: true,
                    });
                    return Ok(Flow::Next);
                };
                if b == b'$' {
                    if c.matches && c.len == tag.len() {
                        self.state = State::Normal;
                    } else {
                        // psql puts the `$` back: it may open the real closing delimiter.
                        *c = Closing {
                            len: 0,
                            matches: true,
                        };
                    }
                    return Ok(Flow::Next);
                }
                let fits = if c.len == 0 {
                    is_ident_start(b)
                } else {
                    is_tag_char(b)
                };
                if fits {
                    c.matches = c.matches && tag.get(c.len) == Some(&b);
                    c.len += 1;
                    Ok(Flow::Next)
                } else {
                    *closing = None;
                    Ok(Flow::Next)
                }
            }
            State::Minus => {
                if b == b'-' {
                    self.state = State::LineComment;
                    return Ok(Flow::Next);
                }
                self.token(Tok::Other, false);
                self.state = State::Normal;
                Ok(Flow::Again)
            }
            State::Slash => {
                if b == b'*' {
                    self.state = State::BlockComment {
                        depth: 0,
                        pending: 0,
                    };
                    return Ok(Flow::Next);
                }
                self.token(Tok::Other, false);
                self.state = State::Normal;
                Ok(Flow::Again)
            }
            State::LineComment => {
                // Only `\n` or `\r` gets here.
                self.state = State::Normal;
                Ok(Flow::Again)
            }
            State::BlockComment { depth, pending } => {
                match (*pending, b) {
                    (b'/', b'*') => {
                        *depth += 1;
                        *pending = 0;
                    }
                    (b'*', b'/') if *depth == 0 => self.state = State::Normal,
                    (b'*', b'/') => {
                        *depth -= 1;
                        *pending = 0;
                    }
                    (b'*', b'*') => {}
                    (0, b'/' | b'*') => *pending = b,
                    (0, _) => {}
                    _ => {
                        *pending = 0;
                        return Ok(Flow::Again);
                    }
                }
                Ok(Flow::Next)
            }
            State::Literal { escapes: true, .. } => match b {
                b'\\' if prev >= 0x80 => Err(ambiguous(
                    rest_of_line(rest),
                    "a backslash after a non-ASCII byte in a string, which client encodings read differently",
                )),
                b'\\' => {
                    self.state = State::LiteralEscape;
                    Ok(Flow::Next)
                }
                b'\'' => {
                    self.state = State::LiteralEnd { escapes: true };
                    Ok(Flow::Next)
                }
                _ => Ok(Flow::Next),
            },
            State::Literal {
                escapes: false,
                backslashes,
                after_high,
            } => {
                match b {
                    b'\\' => {
                        if *backslashes == 0 {
                            *after_high = prev >= 0x80;
                        }
                        *backslashes += 1;
                    }
                    b'\'' if *backslashes % 2 == 1 || (*backslashes > 0 && *after_high) => {
                        return Err(ambiguous(
                            rest_of_line(rest),
                            "a backslash before the quote ending a string, which psql reads as an escaped quote when standard_conforming_strings is off",
                        ));
                    }
                    b'\'' => self.state = State::LiteralEnd { escapes: false },
                    _ => *backslashes = 0,
                }
                Ok(Flow::Next)
            }
            State::LiteralEscape => {
                self.state = State::Literal {
                    escapes: true,
                    backslashes: 0,
                    after_high: false,
                };
                Ok(Flow::Next)
            }
            State::LiteralEnd { escapes } => {
                if b == b'\'' {
                    // A doubled quote: the string goes on.
                    self.state = State::Literal {
                        escapes: *escapes,
                        backslashes: 0,
                        after_high: false,
                    };
                    return Ok(Flow::Next);
                }
                self.state = State::Normal;
                Ok(Flow::Again)
            }
            State::Quoted => {
                // Only `"` gets here.
                self.state = State::QuotedEnd;
                Ok(Flow::Next)
            }
            State::QuotedEnd => {
                if b == b'"' {
                    self.state = State::Quoted;
                    return Ok(Flow::Next);
                }
                self.state = State::Normal;
                Ok(Flow::Again)
            }
            State::Meta { text, line } => {
                if b == b'\n' {
                    if allowed_meta(text) {
                        self.state = State::Normal;
                        return Ok(Flow::Next);
                    }
                    return Err(Stop {
                        found: excerpt(text),
                        kind: RefusalKind::ClientCommand,
                        line: Some(*line),
                    });
                }
                text.push(b);
                if text.len() > META_MAX || !could_be_allowed(text) {
                    let mut found = text[..text.len() - 1].to_vec();
                    found.extend_from_slice(rest_of_line(rest));
                    return Err(Stop {
                        found: excerpt(&found),
                        kind: RefusalKind::ClientCommand,
                        line: Some(*line),
                    });
                }
                Ok(Flow::Next)
            }
            State::CopyTail => match b {
                b' ' | b'\t' | b'\r' => Ok(Flow::Next),
                b'\n' => {
                    self.state = State::Copy(CopyAt::LineStart);
                    Ok(Flow::Next)
                }
                _ => Err(ambiguous(
                    rest_of_line(rest),
                    "text after COPY ... FROM stdin; on its line, which pg_dump does not write",
                )),
            },
            State::Copy(at) => {
                *at = match (*at, b) {
                    (_, b'\n') if matches!(*at, CopyAt::Dot | CopyAt::DotCr) => {
                        // `\.` alone on its line: psql ends the data here.
                        self.state = State::Normal;
                        return Ok(Flow::Next);
                    }
                    (_, b'\n') => CopyAt::LineStart,
                    (CopyAt::LineStart, b'\\') => CopyAt::Backslash,
                    (CopyAt::Backslash, b'.') => CopyAt::Dot,
                    (CopyAt::Dot, b'\r') => CopyAt::DotCr,
                    _ => CopyAt::Mid,
                };
                Ok(Flow::Next)
            }
        }
    }

    /// A byte outside quotes and comments.
    fn normal(&mut self, rest: &[u8], prev: u8) -> Result<Flow, Stop> {
        let b = rest[0];
        match b {
            _ if is_space(b) => {}
            0x80..=0xff => {
                return Err(ambiguous(
                    rest_of_line(rest),
                    "a non-ASCII byte outside quotes, which client encodings read differently (pg_dump quotes every name)",
                ));
            }
            b'-' => self.state = State::Minus,
            b'/' => self.state = State::Slash,
            b'\'' => return self.open_literal(false),
            b'"' => {
                self.token(Tok::Other, false);
                self.state = State::Quoted;
            }
            b'$' => self.state = State::DollarOpen(Vec::new()),
            b'\\' => {
                // pg_dump's own meta-commands stand alone on their line between statements.
                if prev == b'\n' && self.stmt_empty {
                    self.state = State::Meta {
                        text: vec![b'\\'],
                        line: 0,
                    };
                    return Ok(Flow::Next);
                }
                return Err(Stop {
                    found: excerpt(rest_of_line(rest)),
                    kind: RefusalKind::ClientCommand,
                    line: None,
                });
            }
            b'0'..=b'9' => {
                self.token(Tok::Other, false);
                self.state = State::Number(Num::Int);
            }
            _ if is_ident_start(b) => {
                let mut word = Word::default();
                word.push(b);
                self.state = State::Word(word);
            }
            b'(' => {
                self.paren_depth += 1;
                self.token(Tok::Other, false);
            }
            b')' => {
                self.paren_depth = self.paren_depth.saturating_sub(1);
                self.token(Tok::Other, false);
            }
            b';' if self.paren_depth == 0 && self.begin_depth == 0 => {
                if self.copy_stmt {
                    if self.last != [Tok::From, Tok::Stdin] {
                        return Err(ambiguous(
                            b"COPY",
                            "a COPY statement other than COPY ... FROM stdin, which pg_dump does not write",
                        ));
                    }
                    self.state = State::CopyTail;
                }
                self.identifier_count = 0;
                self.stmt_empty = true;
                self.copy_stmt = false;
                self.last = [Tok::Other; 2];
            }
            _ => self.token(Tok::Other, false),
        }
        Ok(Flow::Next)
    }

    /// A string literal starts after its opening quote (consumed by the caller's byte).
    fn open_literal(&mut self, escapes: bool) -> Result<Flow, Stop> {
        self.token(Tok::Other, false);
        self.state = State::Literal {
            escapes,
            backslashes: 0,
            after_high: false,
        };
        Ok(Flow::Next)
    }

    /// psql's `{identifier}` rule: counts the name and follows BEGIN ... END inside
    /// `CREATE [OR REPLACE] {FUNCTION|PROCEDURE}`.
    fn identifier(&mut self, word: &Word) {
        let name = word.keyword();
        if self.identifier_count == 0 {
            self.identifiers = [0; 4];
        }
        if matches!(
            name,
            b"create" | b"function" | b"procedure" | b"or" | b"replace"
        ) && let Some(slot) = self.identifiers.get_mut(self.identifier_count as usize)
        {
            *slot = name[0];
        }
        self.identifier_count = self.identifier_count.saturating_add(1);
        let ids = self.identifiers;
        let routine = ids[0] == b'c'
            && (matches!(ids[1], b'f' | b'p')
                || (ids[1] == b'o' && ids[2] == b'r' && matches!(ids[3], b'f' | b'p')));
        if self.begin_tracking && routine && self.paren_depth == 0 {
            match name {
                b"begin" => self.begin_depth += 1,
                b"case" if self.begin_depth >= 1 => self.begin_depth += 1,
                b"end" => self.begin_depth = self.begin_depth.saturating_sub(1),
                _ => {}
            }
        }
        let tok = match name {
            b"from" => Tok::From,
            b"stdin" => Tok::Stdin,
            _ => Tok::Other,
        };
        self.token(tok, name == b"copy");
    }

    /// Records a token of the statement.
    fn token(&mut self, tok: Tok, is_copy: bool) {
        if self.stmt_empty {
            self.stmt_empty = false;
            self.copy_stmt = is_copy;
        }
        self.last = [self.last[1], tok];
    }
}

/// The meta-command names let through, as they may begin a line.
const ALLOWED: [&[u8]; 2] = [b"\\restrict", b"\\unrestrict"];

/// True while `text` (a meta-command line being read) may still become one of pg_dump's.
fn could_be_allowed(text: &[u8]) -> bool {
    let name_end = text.iter().position(|&b| b == b' ').unwrap_or(text.len());
    let name = &text[..name_end];
    if name_end == text.len() {
        ALLOWED.iter().any(|a| a.starts_with(name))
    } else {
        ALLOWED.contains(&name)
    }
}

/// True for the meta-command lines pg_dump writes that a restore can apply: `\restrict KEY`
/// and `\unrestrict KEY`, KEY alphanumeric.
fn allowed_meta(text: &[u8]) -> bool {
    let text = text.strip_suffix(b"\r").unwrap_or(text);
    let Some(space) = text.iter().position(|&b| b == b' ') else {
        return false;
    };
    let (name, key) = (&text[..space], &text[space + 1..]);
    ALLOWED.contains(&name)
        && !key.is_empty()
        && key.len() <= 256
        && key.iter().all(u8::is_ascii_alphanumeric)
}
