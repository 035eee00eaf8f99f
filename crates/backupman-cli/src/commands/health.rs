//! `backupman health`: can every source be dumped, and does every drive allow each action a
//! backup needs? Nothing is backed up.

use backupman_core::CheckResult;
use serde::Serialize;

use crate::Outcome;
use crate::cli::{Global, HealthArgs};
use crate::commands::or_exit;
use crate::wiring;

#[derive(Debug, Serialize)]
pub struct HealthJson {
    pub ok: bool,
    pub sources: Vec<SourceHealth>,
    pub drives: Vec<DriveHealth>,
}

#[derive(Debug, Serialize)]
pub struct SourceHealth {
    pub source: String,
    pub provider: String,
    pub ok: bool,
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct DriveHealth {
    pub drive: String,
    pub provider: String,
    pub ok: bool,
    pub checks: Vec<CheckJson>,
}

#[derive(Debug, Serialize)]
pub struct CheckJson {
    pub check: String,
    pub ok: bool,
    /// false: a failure is only a warning.
    pub required: bool,
    pub error: Option<String>,
    pub hint: Option<String>,
}

impl From<&CheckResult> for CheckJson {
    fn from(c: &CheckResult) -> Self {
        Self {
            check: c.check.clone(),
            ok: c.result.is_ok(),
            required: c.required,
            error: c.result.as_ref().err().map(|e| e.message.clone()),
            hint: c.result.as_ref().err().and_then(|e| e.hint.clone()),
        }
    }
}

pub async fn health(global: &Global, args: HealthArgs) -> color_eyre::Result<Outcome> {
    let config = or_exit!(wiring::load_config(&global.config));
    let mut report = HealthJson {
        ok: true,
        sources: Vec::new(),
        drives: Vec::new(),
    };
    for cfg in &config.sources {
        let result = match wiring::source(cfg) {
            Ok(source) => source.check().await.map_err(|e| e.to_string()),
            Err(err) => Err(err),
        };
        report.ok &= result.is_ok();
        report.sources.push(SourceHealth {
            source: cfg.label.clone(),
            provider: cfg.provider.to_string(),
            ok: result.is_ok(),
            error: result.err(),
        });
    }
    for cfg in &config.drives {
        let checks = match wiring::drive(cfg) {
            Ok(drive) => drive.health().await.iter().map(CheckJson::from).collect(),
            Err(err) => vec![CheckJson {
                check: "configure drive".into(),
                ok: false,
                required: true,
                error: Some(err),
                hint: None,
            }],
        };
        let ok = checks.iter().all(|c| c.ok || !c.required);
        report.ok &= ok;
        report.drives.push(DriveHealth {
            drive: cfg.label().to_owned(),
            provider: cfg.provider().to_owned(),
            ok,
            checks,
        });
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    print_table(&report, global.quiet);
    Ok(if report.ok {
        Outcome::Success
    } else {
        Outcome::Failed
    })
}

fn mark(ok: bool) -> &'static str {
    if ok { "✔" } else { "✘" }
}

/// The table on stderr; with `quiet`, only what failed.
fn print_table(report: &HealthJson, quiet: bool) {
    for s in &report.sources {
        match &s.error {
            None if quiet => {}
            None => eprintln!("✔ source {} ({}): can be dumped", s.source, s.provider),
            Some(err) => eprintln!("✘ source {} ({}): {err}", s.source, s.provider),
        }
    }
    for d in &report.drives {
        if quiet && d.ok {
            continue;
        }
        eprintln!("{} drive {} ({})", mark(d.ok), d.drive, d.provider);
        for c in &d.checks {
            let mark = if c.required { "✘" } else { "⚠ warning:" };
            match (&c.error, &c.hint) {
                (None, _) if quiet => {}
                (None, _) => eprintln!("    ✔ {}", c.check),
                (Some(err), Some(hint)) => {
                    eprintln!("    {mark} {}: {err} (hint: {hint})", c.check)
                }
                (Some(err), None) => eprintln!("    {mark} {}: {err}", c.check),
            }
        }
    }
    let failed = report.sources.iter().filter(|s| !s.ok).count()
        + report.drives.iter().filter(|d| !d.ok).count();
    if failed == 0 {
        if !quiet {
            eprintln!("healthy: every source and drive passed");
        }
    } else {
        eprintln!("unhealthy: {failed} source(s)/drive(s) failed");
    }
}
