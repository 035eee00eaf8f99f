//! A source's page: its charts, schedule, and backups newest first (a page of them at a
//! time), each with its drives and download links, size, duration, SHA-256 and, for a failed
//! run, its error.

use std::fmt::Write;

use backupman_config::Config;
use backupman_ops::record::{BackupRecord, RecordStatus};

use super::facts::{Facts, Summary, summaries, time_zone, took, why_failed};
use super::format::{Esc, ago, bytes, duration, query_value, time, until};
use super::overview::charts;
use super::page::{page, run_form};

/// Backups on one page.
pub(crate) const PER_PAGE: usize = 100;

/// The page of `label`'s backups that skips the `skip` newest; `None` when no configured
/// source has that label.
pub(crate) fn render(
    config: &Config,
    facts: &Facts,
    csrf: &str,
    label: &str,
    skip: usize,
    message: Option<(&str, &str)>,
) -> Option<String> {
    let records = facts.backups();
    let all = summaries(config, &records);
    let s = all.into_iter().find(|s| s.label == label)?;
    let tz = time_zone(config);
    let running = facts.running.contains(&s.source.label);
    let mut body = String::with_capacity(8192 + PER_PAGE * 800);
    let _ = write!(
        body,
        "<nav class=\"crumbs\" aria-label=\"Breadcrumb\"><a href=\"/\">Backups</a> › {}</nav><div class=\"title\"><h1>{}</h1>",
        Esc(label),
        Esc(label)
    );
    // A database of a whole-server source is backed up with its server.
    run_form(&mut body, csrf, Some(&s.source.label), running);
    body.push_str("</div>");
    if let Some((kind, text)) = message {
        super::page::notice(&mut body, kind, text);
    }
    if running {
        super::page::notice(
            &mut body,
            "running",
            &format!(
                "Backing up {} now: this page reloads every {} s until it ends.",
                s.source.label,
                super::page::REFRESH_SECONDS
            ),
        );
    }
    facts_list(&mut body, config, facts, &s, tz);
    let _ = write!(
        body,
        "<section><h2>Size and duration</h2><p class=\"legend\"><span class=\"key size\">Size</span> \
         <span class=\"key time\">Duration</span> of the last {} good backups, oldest on the left, \
         each from zero.</p><div class=\"charts big\">",
        super::chart::POINTS
    );
    charts(&mut body, &s, super::chart::POINTS);
    body.push_str("</div></section>");
    backups(&mut body, &s, skip, tz, facts.now);
    Some(page(label, Some(csrf), running, &body))
}

fn facts_list(
    out: &mut String,
    config: &Config,
    facts: &Facts,
    s: &Summary<'_>,
    tz: chrono_tz::Tz,
) {
    let mark = s.mark(config, &facts.running, facts.now);
    let last_run = s.last_run(&facts.running);
    let _ = write!(
        out,
        "<dl class=\"facts\"><dt>Mark</dt><dd><span class=\"mark {}\">{}</span></dd>\
         <dt>Last run</dt><dd><span class=\"state {}\">{}</span></dd><dt>Provider</dt><dd>{}</dd>",
        mark.class(),
        mark.words(),
        last_run.class(),
        last_run.words(),
        Esc(s.source.provider.as_str()),
    );
    out.push_str("<dt>Next run</dt><dd>");
    match facts.next_runs.get(&s.source.label) {
        Some(next) => {
            let _ = write!(
                out,
                "{} (<code>{}</code>, {}) ",
                Esc(&until(next.next_run, facts.now)),
                Esc(&next.cron),
                Esc(&next.timezone)
            );
            time(out, next.next_run, tz);
        }
        None => out.push_str("not scheduled"),
    }
    out.push_str("</dd></dl>");
}

fn backups(
    out: &mut String,
    s: &Summary<'_>,
    skip: usize,
    tz: chrono_tz::Tz,
    now: chrono::DateTime<chrono::Utc>,
) {
    let total = s.backups.len();
    let shown: Vec<&&BackupRecord> = s.backups.iter().skip(skip).take(PER_PAGE).collect();
    let _ = write!(
        out,
        "<section><h2>Backups</h2><p>{total} in all, newest first{}.</p>",
        if total > PER_PAGE {
            format!(
                "; {} to {} shown",
                skip.min(total) + 1,
                (skip + shown.len()).min(total)
            )
        } else {
            String::new()
        }
    );
    if shown.is_empty() {
        out.push_str("</section>");
        return;
    }
    out.push_str(
        "<div class=\"wide\"><table class=\"backups\"><caption>Backups of this source</caption><thead><tr>\
         <th scope=\"col\">Taken</th><th scope=\"col\">Status</th><th scope=\"col\">Size</th>\
         <th scope=\"col\">Duration</th><th scope=\"col\">Drives</th><th scope=\"col\">SHA-256</th></tr></thead><tbody>",
    );
    for r in shown {
        backup_row(out, r, tz, now);
    }
    out.push_str("</tbody></table></div>");
    let label = query_value(s.label);
    out.push_str("<nav class=\"pages\" aria-label=\"Pages\">");
    if skip > 0 {
        let _ = write!(
            out,
            "<a href=\"/source?label={label}&amp;skip={}\">Newer backups</a>",
            skip.saturating_sub(PER_PAGE)
        );
    }
    if skip + PER_PAGE < total {
        let _ = write!(
            out,
            "<a href=\"/source?label={label}&amp;skip={}\">Older backups</a>",
            skip + PER_PAGE
        );
    }
    out.push_str("</nav></section>");
}

fn backup_row(
    out: &mut String,
    r: &BackupRecord,
    tz: chrono_tz::Tz,
    now: chrono::DateTime<chrono::Utc>,
) {
    let (class, word) = match r.status {
        RecordStatus::Pending => ("running", "Running"),
        RecordStatus::Failed => ("bad", "Failed"),
        _ if r.untrusted.is_some() => ("bad", "Not trusted"),
        _ => ("good", "Stored"),
    };
    out.push_str("<tr><td data-label=\"Taken\">");
    time(out, r.created_at, tz);
    let _ = write!(
        out,
        "<br><span class=\"quiet\">{}</span></td><td data-label=\"Status\"><span class=\"state {class}\">{word}</span>",
        Esc(&ago(r.created_at, now))
    );
    if r.status == RecordStatus::Failed {
        let _ = write!(out, "<p class=\"error\">{}</p>", Esc(&why_failed(r)));
    }
    if let Some(why) = &r.untrusted {
        let _ = write!(out, "<p class=\"error\">{}</p>", Esc(why));
    }
    let _ = write!(
        out,
        "</td><td data-label=\"Size\">{}</td><td data-label=\"Duration\">{}</td><td data-label=\"Drives\"><ul class=\"drives\">",
        r.size.map_or_else(|| "—".to_owned(), bytes),
        if r.status == RecordStatus::Pending {
            "—".to_owned()
        } else {
            duration(took(r))
        }
    );
    for d in &r.drive_files {
        if d.status == RecordStatus::Finished && !r.key.is_empty() {
            let _ = write!(
                out,
                "<li><a href=\"/download/{}\" download aria-label=\"Download from {}\">{} ↓</a></li>",
                Esc(&d.id),
                Esc(&d.label),
                Esc(&d.label)
            );
        } else {
            let _ = write!(out, "<li>{} (not stored)</li>", Esc(&d.label));
        }
    }
    let _ = write!(
        out,
        "</ul></td><td data-label=\"SHA-256\"><code class=\"sha\">{}</code></td></tr>",
        r.sha256
            .as_deref()
            .map(Esc)
            .map_or_else(|| "—".to_owned(), |s| s.to_string())
    );
}
