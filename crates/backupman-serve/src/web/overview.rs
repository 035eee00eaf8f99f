//! The main page: one row per source (per database for a whole-server source) with its
//! last run, age, size, duration, charts, next run, drives and mark; listing problems; the
//! health of every source and drive.

use std::fmt::Write;

use backupman_config::Config;

use super::chart;
use backupman_ops::record::RecordStatus;

use super::facts::{Facts, LastRun, Mark, Summary, summaries, time_zone, took, why_failed};
use super::format::{Esc, ago, bytes, duration, query_value, time, until};
use super::page::{notice, page, run_form};
use crate::api::status::{HealthReport, HealthStatus};

/// The main page; `message` is a notice after an action (`(class, text)`).
pub(crate) fn render(
    config: &Config,
    facts: &Facts,
    csrf: &str,
    message: Option<(&str, &str)>,
) -> String {
    let tz = time_zone(config);
    let backups = facts.backups();
    let rows = summaries(config, &backups);
    let mut body = String::with_capacity(4096 + rows.len() * 2048);
    body.push_str("<div class=\"title\"><h1>Backups</h1>");
    run_form(&mut body, csrf, None, !facts.running.is_empty());
    body.push_str("</div>");
    if let Some((kind, text)) = message {
        notice(&mut body, kind, text);
    }
    let marks: Vec<Mark> = rows
        .iter()
        .map(|s| s.mark(config, &facts.running, facts.now))
        .collect();
    let count = |m| marks.iter().filter(|x| **x == m).count();
    let _ = write!(
        body,
        "<p class=\"summary\">{} {} · {} on time · {} late · {} overdue · times in {}</p>",
        rows.len(),
        if rows.len() == 1 { "row" } else { "rows" },
        count(Mark::OnTime),
        count(Mark::Late),
        count(Mark::Overdue),
        Esc(tz.name()),
    );
    if !facts.running.is_empty() {
        let names: Vec<&str> = facts.running.iter().map(String::as_str).collect();
        notice(
            &mut body,
            "running",
            &format!(
                "Backing up {} now: this page reloads every {} s until it ends.",
                names.join(", "),
                super::page::REFRESH_SECONDS
            ),
        );
    }
    body.push_str(
        "<div class=\"wide\"><table class=\"sources\"><caption>Each source's last backup</caption><thead><tr>\
         <th scope=\"col\">Source</th><th scope=\"col\">Mark</th><th scope=\"col\">Last run</th>\
         <th scope=\"col\">Last good backup</th><th scope=\"col\">Size</th><th scope=\"col\">Duration</th>\
         <th scope=\"col\">Size, duration<br>(last 30)</th><th scope=\"col\">Next run</th><th scope=\"col\">Drives</th>\
         <th scope=\"col\"><span class=\"visually-hidden\">Actions</span></th></tr></thead><tbody>",
    );
    for (summary, mark) in rows.iter().zip(&marks) {
        row(&mut body, summary, *mark, facts, csrf, tz);
    }
    body.push_str("</tbody></table></div>");
    if !facts.listing_errors.is_empty() {
        body.push_str("<section><h2>Drives that could not be listed</h2><ul class=\"problems\">");
        for (source, drive, why) in &facts.listing_errors {
            let _ = write!(
                body,
                "<li><strong>{}</strong> on <strong>{}</strong>: {}</li>",
                Esc(source),
                Esc(drive),
                Esc(why)
            );
        }
        body.push_str("</ul></section>");
    }
    health(&mut body, facts.health.as_deref());
    page("Backups", Some(csrf), !facts.running.is_empty(), &body)
}

fn row(
    out: &mut String,
    s: &Summary<'_>,
    mark: Mark,
    facts: &Facts,
    csrf: &str,
    tz: chrono_tz::Tz,
) {
    let last_run = s.last_run(&facts.running);
    let good = s.last_good();
    let _ = write!(
        out,
        "<tr><th scope=\"row\" data-label=\"Source\"><a href=\"/source?label={}\">{}</a></th>\
         <td data-label=\"Mark\"><span class=\"mark {}\">{}</span></td>\
         <td data-label=\"Last run\"><span class=\"state {}\">{}</span>",
        query_value(s.label),
        Esc(s.label),
        mark.class(),
        mark.words(),
        last_run.class(),
        last_run.words(),
    );
    out.push_str("</td><td data-label=\"Last good backup\">");
    match good {
        Some(g) => {
            let _ = write!(out, "{}<br>", Esc(&ago(g.created_at, facts.now)));
            time(out, g.created_at, tz);
        }
        None => out.push_str("none"),
    }
    let _ = write!(
        out,
        "</td><td data-label=\"Size\">{}</td><td data-label=\"Duration\">{}</td><td data-label=\"Size, duration (last 30)\" class=\"charts\">",
        good.and_then(|g| g.size)
            .map_or_else(|| "—".to_owned(), bytes),
        good.map_or_else(|| "—".to_owned(), |g| duration(took(g))),
    );
    charts(out, s, chart::POINTS);
    out.push_str("</td><td data-label=\"Next run\">");
    match facts.next_runs.get(&s.source.label) {
        Some(next) => {
            let _ = write!(out, "{}<br>", Esc(&until(next.next_run, facts.now)));
            time(out, next.next_run, tz);
        }
        None => out.push_str("not scheduled"),
    }
    out.push_str("</td><td data-label=\"Drives\">");
    match good {
        Some(g) => {
            let drives: Vec<String> = g
                .drive_files
                .iter()
                .map(|d| Esc(&d.label).to_string())
                .collect();
            out.push_str(&drives.join(", "));
        }
        None => out.push('—'),
    }
    out.push_str("</td><td>");
    // A database of a whole-server source is backed up with its server.
    run_form(
        out,
        csrf,
        Some(&s.source.label),
        facts.running.contains(&s.source.label),
    );
    out.push_str("</td></tr>");
    // The failure on a row of its own, across the table: an error is a sentence.
    if last_run == LastRun::Failed
        && let Some(why) = s
            .backups
            .iter()
            .find(|r| r.status == RecordStatus::Failed)
            .map(|r| why_failed(r))
    {
        let _ = write!(
            out,
            "<tr class=\"problem\"><td colspan=\"10\"><p class=\"error\"><strong>{} failed:</strong> {}</p></td></tr>",
            Esc(s.label),
            Esc(&why)
        );
    }
}

/// The size and duration charts of a source's last `n` good backups.
pub(crate) fn charts(out: &mut String, s: &Summary<'_>, n: usize) {
    let history = s.history(n);
    #[allow(clippy::cast_precision_loss)]
    let sizes: Vec<f64> = history.iter().map(|r| r.size.unwrap_or(0) as f64).collect();
    let times: Vec<f64> = history.iter().map(|r| took(r)).collect();
    if history.len() < 2 {
        out.push_str("<span class=\"nochart\">Too few backups for a chart</span>");
        return;
    }
    let describe =
        |what: &str, text: &dyn Fn(&[f64]) -> (String, String), values: &[f64]| match values {
            [] | [_] => String::new(),
            _ => {
                let (first, last) = text(values);
                format!(
                    "{what} of the last {} backups, from {first} to {last}",
                    values.len()
                )
            }
        };
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let size_label = describe(
        "Size",
        &|v| (bytes(v[0] as u64), bytes(v[v.len() - 1] as u64)),
        &sizes,
    );
    let time_label = describe(
        "Duration",
        &|v| (duration(v[0]), duration(v[v.len() - 1])),
        &times,
    );
    chart::line(out, &sizes, "size", &Esc(&size_label).to_string());
    chart::line(out, &times, "time", &Esc(&time_label).to_string());
}

fn health(out: &mut String, report: Option<&HealthReport>) {
    out.push_str("<section class=\"health\"><h2>Health</h2>");
    let Some(report) = report else {
        out.push_str("<p>The first check has not ended yet.</p></section>");
        return;
    };
    let _ = write!(
        out,
        "<p>As of the last check (every minute): {}.</p><div class=\"groups\">",
        if report.status == HealthStatus::Up {
            "every source can be dumped and every drive allows what a backup needs"
        } else {
            "something is down: the server log says why"
        }
    );
    for (group, title) in [("DataSources", "Sources"), ("Drives", "Drives")] {
        let _ = write!(out, "<div><h3>{title}</h3><ul class=\"components\">");
        if let Some(g) = report.details.get(group) {
            for (name, c) in &g.components {
                let (class, word) = match c.status {
                    HealthStatus::Up => ("good", "Up"),
                    HealthStatus::Down => ("bad", "Down"),
                    HealthStatus::Stopping => ("none", "Stopping"),
                };
                let _ = write!(
                    out,
                    "<li><span class=\"state {class}\">{word}</span> {}</li>",
                    Esc(name)
                );
            }
        }
        out.push_str("</ul></div>");
    }
    out.push_str("</div></section>");
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use backupman_ops::record::{BackupRecord, DriveFileRecord, RecordStatus};
    use chrono::{DateTime, TimeDelta, Utc};

    use super::*;

    const SOURCES: usize = 20;
    const BACKUPS: usize = 1000;

    fn config(sources: usize) -> Config {
        let mut yaml = String::from("data_sources:\n");
        for i in 0..sources {
            yaml.push_str(&format!(
                "  - provider: sqlite\n    label: source-{i:02}\n    db_path: /data/{i}.sqlite\n"
            ));
        }
        yaml.push_str(
            "drives:\n  - provider: local\n    label: Disk\n    folder: /b\n  - provider: local\n    label: Offsite\n    folder: /c\nhttp:\n  api_keys: [k]\n  backup_job:\n    cron: \"0 0 * * * *\"\n    timezone: Europe/Paris\n",
        );
        backupman_config::parse(&yaml, "t.yml", |_| None)
            .unwrap()
            .config
    }

    /// `n` hourly backups of each source on two drives, newest first, as the catalog gives.
    fn facts(config: &Config, n: usize, now: DateTime<Utc>) -> Facts {
        let mut backups = Vec::new();
        for h in 0..n {
            for s in &config.sources {
                let created_at = now - TimeDelta::hours(h as i64) - TimeDelta::minutes(5);
                let key = format!("{}/{}.sql.gz", s.label, created_at.timestamp());
                let drive_files = ["Disk", "Offsite"]
                    .iter()
                    .map(|d| DriveFileRecord {
                        id: backupman_ops::record::drive_file_id(d, &key),
                        backup_id: backupman_ops::record::backup_id(&key),
                        provider: "local".into(),
                        label: (*d).into(),
                        path: format!("/b/{key}"),
                        status: RecordStatus::Finished,
                        created_at,
                        updated_at: created_at + TimeDelta::seconds(42),
                        error: None,
                    })
                    .collect();
                backups.push(BackupRecord {
                    id: backupman_ops::record::backup_id(&key),
                    status: RecordStatus::Finished,
                    label: s.label.clone(),
                    created_at,
                    updated_at: created_at + TimeDelta::seconds(42 + (h % 7) as i64),
                    drive_files,
                    key,
                    size: Some(1_000_000 + h as u64 * 1000),
                    sha256: Some("ab".repeat(32)),
                    error: None,
                    untrusted: None,
                    database: None,
                    attempts: None,
                });
            }
        }
        Facts {
            stored: std::sync::Arc::new(backups),
            runs: Vec::new(),
            running: BTreeSet::new(),
            next_runs: BTreeMap::new(),
            health: None,
            listing_errors: Vec::new(),
            now,
        }
    }

    #[test]
    fn twenty_sources_of_a_thousand_backups_make_small_pages() {
        let config = config(SOURCES);
        let now: DateTime<Utc> = "2026-12-06T12:00:00Z".parse().unwrap();
        let facts = facts(&config, BACKUPS, now);
        let main = render(&config, &facts, &"c".repeat(64), None);
        eprintln!("main page: {} bytes", main.len());
        assert!(main.len() < 200 * 1024, "main page: {} bytes", main.len());
        assert_eq!(
            main.matches("<tr>").count(),
            1 + SOURCES,
            "a row per source"
        );
        assert_eq!(
            main.matches("<polyline").count(),
            2 * SOURCES,
            "two charts each"
        );
        assert!(
            main.contains(&format!("{SOURCES} rows · {SOURCES} on time")),
            "{main}"
        );
        let source =
            super::super::source::render(&config, &facts, "c", "source-07", 0, None).unwrap();
        eprintln!("source page: {} bytes", source.len());
        assert!(
            source.len() < 200 * 1024,
            "source page: {} bytes",
            source.len()
        );
        assert!(source.contains("1000 in all, newest first; 1 to 100 shown"));
        assert_eq!(source.matches("<code class=\"sha\">").count(), 100);
        assert!(source.contains("href=\"/source?label=source%2D07&amp;skip=100\""));
    }

    #[test]
    fn what_came_from_a_drive_is_shown_as_text() {
        let config = config(1);
        let now: DateTime<Utc> = "2026-12-06T12:00:00Z".parse().unwrap();
        let mut facts = facts(&config, 2, now);
        let mut failed = facts.stored[0].clone();
        failed.status = RecordStatus::Failed;
        failed.created_at = now;
        failed.error = Some(backupman_core::SourceError::new(
            "<img src=x onerror=alert(1)> \"quoted\"",
        ));
        facts.runs.push(failed);
        facts
            .listing_errors
            .push(("source-00".into(), "<b>Disk</b>".into(), "x".into()));
        let main = render(&config, &facts, "c", None);
        assert!(!main.contains("<img"), "{main}");
        assert!(!main.contains("<b>"), "{main}");
        assert!(
            main.contains("&lt;img src=x onerror=alert(1)&gt; &quot;quoted&quot;"),
            "{main}"
        );
        assert!(
            main.contains("<span class=\"mark amber\">Late</span>"),
            "the last run failed: {main}"
        );
        let source =
            super::super::source::render(&config, &facts, "c", "source-00", 0, None).unwrap();
        assert!(!source.contains("<img"), "{source}");
        assert!(source.contains("&lt;img src=x"), "{source}");
        // A label no source has is not a page.
        assert!(super::super::source::render(&config, &facts, "c", "<nope>", 0, None).is_none());
    }

    #[test]
    fn a_whole_server_source_has_a_row_per_database_each_backing_up_the_server() {
        let yaml = "data_sources:\n  - provider: postgres\n    label: PG\n    host: db\n    user: u\n    databases: all\ndrives:\n  - provider: local\n    label: Disk\n    folder: /b\nhttp:\n  api_keys: [k]\n";
        let config = backupman_config::parse(yaml, "t.yml", |_| None)
            .unwrap()
            .config;
        let now: DateTime<Utc> = "2026-12-06T12:00:00Z".parse().unwrap();
        let main = render(&config, &facts(&config, 0, now), "c", None);
        assert!(
            main.contains("<a href=\"/source?label=PG\">PG</a>"),
            "no database found yet: the server's own row: {main}"
        );
        let mut with_parts = facts(&config, 0, now);
        let mut stored = Vec::new();
        for db in ["app", "globals"] {
            let mut one = sample(now);
            one.label = format!("PG/{db}");
            one.key = format!("pg/{db}/{db}.sql.gz");
            one.id = backupman_ops::record::backup_id(&one.key);
            one.database = Some(db.into());
            stored.push(one);
        }
        with_parts.stored = std::sync::Arc::new(stored);
        let main = render(&config, &with_parts, "c", None);
        assert!(
            main.contains("<a href=\"/source?label=PG%2Fapp\">PG/app</a>"),
            "{main}"
        );
        assert!(
            main.contains("<a href=\"/source?label=PG%2Fglobals\">PG/globals</a>"),
            "{main}"
        );
        assert!(!main.contains("<a href=\"/source?label=PG\">"), "{main}");
        assert_eq!(
            main.matches("aria-label=\"Back up PG now\"").count(),
            2,
            "{main}"
        );
        let page =
            super::super::source::render(&config, &with_parts, "c", "PG/app", 0, None).unwrap();
        assert!(page.contains("name=\"source\" value=\"PG\""), "{page}");
    }

    /// One stored backup, taken five minutes before `at`.
    fn sample(at: DateTime<Utc>) -> BackupRecord {
        let config = config(1);
        facts(&config, 1, at).stored[0].clone()
    }

    #[test]
    fn marks_follow_the_schedule() {
        let config = config(1);
        let now: DateTime<Utc> = "2026-12-06T12:00:00Z".parse().unwrap();
        let mut facts = facts(&config, 1, now);
        let mark = |facts: &Facts| {
            let backups = facts.backups();
            let rows = summaries(&config, &backups);
            rows[0].mark(&config, &facts.running, facts.now)
        };
        // Hourly: 5 minutes old is on time, 1 h 50 late, 3 h overdue.
        assert_eq!(mark(&facts), Mark::OnTime);
        facts.now = now + TimeDelta::minutes(105);
        assert_eq!(mark(&facts), Mark::Late);
        facts.now = now + TimeDelta::hours(3);
        assert_eq!(mark(&facts), Mark::Overdue);
        facts.stored = std::sync::Arc::default();
        assert_eq!(mark(&facts), Mark::Overdue, "never backed up");
    }
}
