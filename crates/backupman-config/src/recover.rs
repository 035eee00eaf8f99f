//! Going on after a problem the parser stops at, so one run reports every problem: the
//! option (or value) at fault is blanked out of the text and the text is parsed again.
//!
//! Blanking replaces characters with spaces and never removes a line break, so every line
//! keeps its number and every later problem its location. A blanked value becomes `~` (no
//! value), as if the option were not there.

use serde_saphyr::granit_parser::{Event, Parser};

/// What to blank at a location the parser named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Blank {
    /// The mapping key there, with its value (an unknown or repeated option).
    Entry,
    /// The value there (a value of the wrong type).
    Value,
}

/// A node of the YAML text: its byte range and where it starts.
#[derive(Debug, Clone, Copy)]
struct Node {
    start: usize,
    end: usize,
    line: usize,
    /// 1-based, as the deserializer reports columns.
    column: usize,
}

/// A collection still open while walking the events.
struct Open {
    node: Node,
    is_key: bool,
    /// `Some(expecting_key)` for a mapping, `None` for a sequence.
    mapping: Option<bool>,
    /// In a mapping: the key whose value comes next.
    pending_key: Option<Node>,
}

/// `text` with the entry or value starting at `line`/`column` (1-based) blanked, or `None`
/// when no such node starts there or the result would not be YAML any more.
pub(crate) fn blank(text: &str, line: usize, column: usize, what: Blank) -> Option<String> {
    let (entries, values) = nodes(text)?;
    let at = |n: &Node| n.line == line && n.column == column;
    let range = match what {
        Blank::Entry => entries
            .iter()
            .find(|(key, _)| at(key))
            .map(|(k, end)| (k.start, *end)),
        // Nodes starting at one place (a sequence item and the mapping it holds): the outer.
        Blank::Value => values
            .iter()
            .filter(|n| at(n))
            .max_by_key(|n| n.end - n.start)
            .map(|n| (n.start, n.end)),
    }?;
    let blanked = spaces(text, range, what == Blank::Value);
    // A blanked entry of a flow mapping (`{a: 1, typo: 2}`) may leave a stray comma: stop
    // rather than report a problem of our own making.
    nodes(&blanked).map(|_| blanked)
}

fn spaces(text: &str, (start, end): (usize, usize), null: bool) -> String {
    let mut out = String::with_capacity(text.len());
    out.push_str(&text[..start]);
    for (i, c) in text[start..end].chars().enumerate() {
        out.push(match c {
            '\n' | '\r' => c,
            _ if i == 0 && null => '~',
            _ => ' ',
        });
    }
    out.push_str(&text[end..]);
    out
}

/// A mapping entry: its key, and where its value ends.
type Entry = (Node, usize);

/// Every mapping entry and every value node, or `None` when the text is not YAML.
fn nodes(text: &str) -> Option<(Vec<Entry>, Vec<Node>)> {
    let mut entries = Vec::new();
    let mut values = Vec::new();
    let mut open: Vec<Open> = Vec::new();
    for event in Parser::new_from_str(text) {
        let (event, span) = event.ok()?;
        let start = |span: &serde_saphyr::granit_parser::Span| -> Option<Node> {
            Some(Node {
                start: span.start.byte_offset()?,
                end: span.end.byte_offset()?,
                line: span.start.line(),
                column: span.start.col() + 1,
            })
        };
        let is_key = match &event {
            Event::Scalar(..)
            | Event::Alias(..)
            | Event::MappingStart(..)
            | Event::SequenceStart(..) => match open.last_mut() {
                Some(Open {
                    mapping: Some(expecting_key),
                    ..
                }) => {
                    let was = *expecting_key;
                    *expecting_key = !was;
                    was
                }
                _ => false,
            },
            _ => false,
        };
        let done = match event {
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let mapping = matches!(event, Event::MappingStart(..)).then_some(true);
                open.push(Open {
                    node: start(&span)?,
                    is_key,
                    mapping,
                    pending_key: None,
                });
                None
            }
            Event::MappingEnd | Event::SequenceEnd => {
                let closed = open.pop()?;
                let end = span.end.byte_offset()?.max(closed.node.start);
                Some((Node { end, ..closed.node }, closed.is_key))
            }
            Event::Scalar(..) | Event::Alias(..) => Some((start(&span)?, is_key)),
            _ => None,
        };
        let Some((node, is_key)) = done else {
            continue;
        };
        let parent = open.last_mut();
        if is_key {
            if let Some(parent) = parent {
                parent.pending_key = Some(node);
            }
            continue;
        }
        values.push(node);
        if let Some(key) = parent.and_then(|p| p.pending_key.take()) {
            entries.push((key, node.end));
        }
    }
    Some((entries, values))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_goes_with_its_value_and_lines_stay() {
        let text = "a: 1\nb:\n  c: 2\n  d: [1, 2]\ne: 3\n";
        let out = blank(text, 4, 3, Blank::Entry).unwrap();
        assert_eq!(out, format!("a: 1\nb:\n  c: 2\n{}\ne: 3\n", " ".repeat(11)));
        let out = blank(text, 2, 1, Blank::Entry).unwrap();
        assert_eq!(out.lines().count(), text.lines().count());
        assert!(
            out.starts_with("a: 1\n") && out.ends_with("e: 3\n"),
            "{out:?}"
        );
        assert!(!out.contains("c: 2"), "{out:?}");
    }

    #[test]
    fn a_value_becomes_null() {
        let text = "- a: x\n  b: [1, 2]\n";
        assert_eq!(
            blank(text, 2, 6, Blank::Value).unwrap(),
            "- a: x\n  b: ~     \n"
        );
    }

    #[test]
    fn nothing_there_or_broken_results_give_none() {
        assert!(blank("a: 1\n", 1, 2, Blank::Entry).is_none());
        assert!(blank("{typo: 1, a: 2}\n", 1, 2, Blank::Entry).is_none());
    }
}
