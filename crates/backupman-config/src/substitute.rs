//! The quoting rules of `${VAR}` substitution, put in terms serde-saphyr's Compose-style
//! interpolation applies: every value is substituted whatever its style, except that a
//! single-quoted value stays literal (as in a shell), a bare `$NAME` stays literal, and an
//! unset `${NAME}` is an error rather than an empty string.
//!
//! The text is rewritten before it is parsed, never after, so the one interpolation engine
//! (serde-saphyr's) decides every value, and secrets holding YAML-significant characters
//! arrive intact: values are substituted into parsed scalars, not into the text. The rewrite
//! only adds characters inside scalars, never a line break, so every line keeps its number.

use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle};

/// The text to parse, and where characters were added so columns can be given back.
pub(crate) struct Prepared {
    pub text: String,
    /// (1-based line, 1-based column in the original text) of each added character, in order.
    insertions: Vec<(usize, usize)>,
}

impl Prepared {
    /// The column in the original text of a column (1-based) reported on the prepared text.
    pub fn original_column(&self, line: usize, column: usize) -> usize {
        let mut shift = 0;
        for (_, at) in self.insertions.iter().filter(|(l, _)| *l == line) {
            // The added character sits at `at + shift` in the prepared line.
            if at + shift < column {
                shift += 1;
            }
        }
        column - shift
    }
}

/// Rewrites `text`: in a single-quoted value every `$` becomes `$$`; elsewhere a `$` that does
/// not start `${` or `$$` becomes `$$`, and `${NAME}` becomes `${NAME?}` (required). Keys are
/// left alone: they are never substituted. Text the parser rejects is returned as is, so the
/// loader reports the YAML error itself.
pub(crate) fn prepare(text: &str) -> Prepared {
    let mut edits: Vec<(usize, &'static str)> = Vec::new();
    // For each open collection: `Some(expecting_key)` for a mapping, `None` for a sequence.
    let mut open: Vec<Option<bool>> = Vec::new();
    for event in Parser::new_from_str(text) {
        let Ok((event, span)) = event else {
            return Prepared {
                text: text.to_owned(),
                insertions: Vec::new(),
            };
        };
        let is_key = match &event {
            Event::Scalar(..)
            | Event::Alias(..)
            | Event::MappingStart(..)
            | Event::SequenceStart(..) => match open.last_mut() {
                Some(Some(expecting_key)) => {
                    let was = *expecting_key;
                    *expecting_key = !was;
                    was
                }
                _ => false,
            },
            _ => false,
        };
        match event {
            Event::MappingStart(..) => open.push(Some(true)),
            Event::SequenceStart(..) => open.push(None),
            Event::MappingEnd | Event::SequenceEnd => {
                open.pop();
            }
            Event::Scalar(_, style, ..) if !is_key => {
                let (Some(start), Some(end)) = (span.start.byte_offset(), span.end.byte_offset())
                else {
                    continue;
                };
                let Some(raw) = text.get(start..end) else {
                    continue;
                };
                scalar_edits(raw, start, style == ScalarStyle::SingleQuoted, &mut edits);
            }
            _ => {}
        }
    }
    apply(text, edits)
}

/// The insertions for one scalar's source text `raw`, which starts at byte `offset`.
fn scalar_edits(raw: &str, offset: usize, literal: bool, edits: &mut Vec<(usize, &'static str)>) {
    let bytes = raw.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' {
            i += 1;
            continue;
        }
        if literal {
            edits.push((offset + i, "$"));
            i += 1;
            continue;
        }
        match bytes.get(i + 1) {
            Some(b'$') => i += 2,
            Some(b'{') => {
                let name_len = raw[i + 2..]
                    .bytes()
                    .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
                    .count();
                let close = i + 2 + name_len;
                if name_len > 0 && bytes.get(close) == Some(&b'}') {
                    edits.push((offset + close, "?"));
                }
                i += 2;
            }
            _ => {
                edits.push((offset + i, "$"));
                i += 1;
            }
        }
    }
}

fn apply(text: &str, mut edits: Vec<(usize, &'static str)>) -> Prepared {
    edits.sort_by_key(|(at, _)| *at);
    let mut out = String::with_capacity(text.len() + edits.len());
    let mut insertions = Vec::with_capacity(edits.len());
    let mut last = 0;
    for (at, add) in edits {
        out.push_str(&text[last..at]);
        out.push_str(add);
        last = at;
        insertions.push(line_column(text, at));
    }
    out.push_str(&text[last..]);
    Prepared {
        text: out,
        insertions,
    }
}

/// 1-based line and column (in characters) of byte `at`, counting line breaks as YAML does.
fn line_column(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at];
    let mut line = 1;
    let mut line_start = 0;
    let bytes = before.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        let breaks = *b == b'\n' || (*b == b'\r' && bytes.get(i + 1) != Some(&b'\n'));
        if breaks {
            line += 1;
            line_start = i + 1;
        }
    }
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rewrite_per_style() {
        let text = "a: x$y ${A} ${B:-${C}} $$ $\nb: 'p$${A}'\nc: \"${A}\"\nd: |\n  ${A}\n${K}: 1\n";
        let prepared = prepare(text);
        assert_eq!(
            prepared.text,
            "a: x$$y ${A?} ${B:-${C?}} $$ $$\nb: 'p$$$${A}'\nc: \"${A?}\"\nd: |\n  ${A?}\n${K}: 1\n"
        );
    }

    #[test]
    fn columns_are_given_back() {
        let prepared = prepare("a: '$$'\nb: ${X} ${Y}\n");
        // Line 2: `b: ${X?} ${Y?}`; `${Y` starts at column 9 originally, 10 after the rewrite.
        assert_eq!(prepared.original_column(2, 10), 8 + 1);
        assert_eq!(prepared.original_column(2, 4), 4);
        assert_eq!(prepared.original_column(1, 1), 1);
    }

    #[test]
    fn text_the_parser_rejects_is_left_as_is() {
        let text = "a: [1, $x\nb: 'unterminated";
        assert_eq!(prepare(text).text, text);
    }
}
