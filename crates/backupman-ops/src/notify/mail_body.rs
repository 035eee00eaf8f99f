//! The run's mail, as text and as HTML: each backup's source, status, size, drives, time and
//! error. Nothing secret is in a report, so nothing secret can reach a mail.

use std::fmt::Write;

use backupman_core::human_bytes;

use super::digest::{Digest, took};
use crate::record::{BackupRecord, RecordStatus};

const TIME: &str = "%Y-%m-%d %H:%M:%S UTC";

fn status(s: RecordStatus) -> &'static str {
    match s {
        RecordStatus::Finished => "finished",
        RecordStatus::Failed => "failed",
        RecordStatus::Pending => "pending",
    }
}

fn size(b: &BackupRecord) -> String {
    b.size.map_or_else(|| "-".to_owned(), human_bytes)
}

/// The `text/plain` part.
pub(crate) fn text(d: &Digest) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(out, "Backup report from {}: {}", d.hostname, d.outcome());
    let _ = writeln!(
        out,
        "Run: {} to {}",
        d.started_at.format(TIME),
        d.finished_at.format(TIME)
    );
    for b in &d.backups {
        let _ = writeln!(out);
        let _ = writeln!(out, "{} ({})", b.label, status(b.status));
        let _ = writeln!(out, "  Backup ID: {}", b.id);
        if !b.key.is_empty() {
            let _ = writeln!(out, "  Key:       {}", b.key);
        }
        let _ = writeln!(out, "  Size:      {}", size(b));
        let _ = writeln!(
            out,
            "  Time:      {}, started {}",
            took(b),
            b.created_at.format(TIME)
        );
        if let Some(err) = &b.error {
            let _ = writeln!(out, "  Error:     {err}");
        }
        for f in &b.drive_files {
            let mark = if f.status == RecordStatus::Finished {
                "✔"
            } else {
                "✘"
            };
            let place = f
                .error
                .as_ref()
                .map_or_else(|| f.path.clone(), ToString::to_string);
            let _ = writeln!(out, "  {mark} drive {} ({}): {place}", f.label, f.provider);
        }
    }
    out
}

/// The `text/html` part: the same facts in a table per backup.
pub(crate) fn html(d: &Digest) -> String {
    let mut out = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head>\n\
         <body style=\"font-family: Arial, sans-serif; max-width: 800px;\">\n",
    );
    let _ = writeln!(
        out,
        "<h2>Backup report from {}</h2>\n<p><strong>{}</strong><br>Run: {} to {}</p>",
        esc(&d.hostname),
        esc(&d.outcome()),
        d.started_at.format(TIME),
        d.finished_at.format(TIME)
    );
    for b in &d.backups {
        let colour = if b.status == RecordStatus::Finished {
            "#155724"
        } else {
            "#721c24"
        };
        let _ = writeln!(
            out,
            "<h3>{} <span style=\"color: {colour};\">{}</span></h3>\n\
             <table style=\"border-collapse: collapse;\" cellpadding=\"6\" border=\"1\">",
            esc(&b.label),
            status(b.status)
        );
        let mut row = |name: &str, value: &str| {
            let _ = writeln!(
                out,
                "<tr><th align=\"left\">{name}</th><td>{value}</td></tr>"
            );
        };
        row("Backup ID", &esc(&b.id));
        if !b.key.is_empty() {
            row("Key", &esc(&b.key));
        }
        row("Size", &esc(&size(b)));
        row(
            "Time",
            &esc(&format!(
                "{}, started {}",
                took(b),
                b.created_at.format(TIME)
            )),
        );
        if let Some(err) = &b.error {
            row("Error", &esc(&err.to_string()));
        }
        for f in &b.drive_files {
            let place = f
                .error
                .as_ref()
                .map_or_else(|| f.path.clone(), ToString::to_string);
            row(
                &format!("Drive {} ({})", esc(&f.label), esc(&f.provider)),
                &format!("{}: {}", status(f.status), esc(&place)),
            );
        }
        out.push_str("</table>\n");
    }
    out.push_str("<p style=\"color: #6c757d;\">Sent by backupman.</p>\n</body></html>\n");
    out
}

/// Text made safe inside HTML elements and attribute values.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_names_and_errors_is_escaped() {
        assert_eq!(
            esc("<b>\"x\" & 'y'</b>"),
            "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;"
        );
    }
}
