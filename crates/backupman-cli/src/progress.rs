//! Showing a running backup: bars on a terminal, a periodic plain log line elsewhere, nothing
//! with `--quiet`. The engine reports [`ProgressEvent`]s; this module only draws them.

use std::io::{self, IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use backupman_core::{ProgressEvent, ProgressObserver};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::output;

/// The bars on screen, if any: log lines are written around them (see [`LogWriter`]).
static ON_SCREEN: Mutex<Option<Screen>> = Mutex::new(None);

struct Screen {
    multi: MultiProgress,
    bars: Vec<ProgressBar>,
}

/// How `backupman run` shows its progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Bars, redrawn in place: only when stderr is a terminal.
    Bars,
    /// One log line every [`LINE_EVERY`] while a backup runs.
    Lines,
    /// Nothing (`--quiet`).
    Off,
}

/// How often [`Style::Lines`] reports.
const LINE_EVERY: Duration = Duration::from_secs(10);

impl Style {
    /// Bars only on a terminal, and neither with `--quiet` nor `--json`.
    pub fn pick(quiet: bool, json: bool) -> Self {
        if quiet {
            Self::Off
        } else if !json && io::stderr().is_terminal() {
            Self::Bars
        } else {
            Self::Lines
        }
    }

    /// The observer to hand the engine, if this style shows anything.
    pub fn observer(self) -> Option<ProgressObserver> {
        match self {
            Self::Off => None,
            Self::Bars => {
                let bars = Mutex::new(None::<Bars>);
                Some(ProgressObserver::new(move |event| {
                    let mut bars = bars.lock().unwrap_or_else(|p| p.into_inner());
                    if let ProgressEvent::Started { source, drives } = &event {
                        *bars = Some(Bars::new(source, drives));
                    } else if let Some(bars) = bars.as_mut() {
                        bars.update(&event);
                    }
                }))
            }
            Self::Lines => {
                let lines = Mutex::new(Lines::default());
                Some(ProgressObserver::new(move |event| {
                    lines
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .update(event);
                }))
            }
        }
    }

    /// Clears the bars of the backup that just ended, before its summary is printed.
    pub fn finish(self) {
        let screen = ON_SCREEN.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(screen) = screen {
            for bar in &screen.bars {
                bar.finish_and_clear();
            }
            let _ = screen.multi.clear();
        }
    }
}

struct Bars {
    dump: ProgressBar,
    drives: Vec<ProgressBar>,
}

impl Bars {
    fn new(source: &str, drives: &[String]) -> Self {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10));
        let (spin, bold) = if output::use_colour() {
            ("{spinner:.cyan}", ".bold")
        } else {
            ("{spinner}", "")
        };
        // Labels padded to one width, so the counts line up.
        let width = drives
            .iter()
            .map(|d| d.chars().count() + 2)
            .chain([source.chars().count()])
            .max()
            .unwrap_or(0);
        let name = format!("{{prefix:{width}{bold}}}");
        let dump_style = ProgressStyle::with_template(&format!(
            "{spin} {name}  dumped {{bytes:>10}}  gzip {{msg:>10}}  {{binary_bytes_per_sec}}  {{elapsed}}"
        ))
        .expect("valid template");
        let drive_style =
            ProgressStyle::with_template(&format!("  {name}  uploaded {{bytes:>10}}"))
                .expect("valid template");
        let dump = multi.add(
            ProgressBar::no_length()
                .with_style(dump_style)
                .with_prefix(source.to_owned())
                .with_message("0 B"),
        );
        dump.enable_steady_tick(Duration::from_millis(100));
        let drives = drives
            .iter()
            .map(|d| {
                multi.add(
                    ProgressBar::no_length()
                        .with_style(drive_style.clone())
                        .with_prefix(format!("→ {d}")),
                )
            })
            .collect::<Vec<_>>();
        let mut bars = vec![dump.clone()];
        bars.extend(drives.iter().cloned());
        *ON_SCREEN.lock().unwrap_or_else(|p| p.into_inner()) = Some(Screen { multi, bars });
        Self { dump, drives }
    }

    fn update(&mut self, event: &ProgressEvent) {
        match event {
            ProgressEvent::Started { .. } => {}
            ProgressEvent::Dumped { plain, compressed } => {
                self.dump.set_position(*plain);
                self.dump.set_message(output::bytes(*compressed));
            }
            ProgressEvent::Uploaded { drive, bytes } => {
                if let Some(bar) = self.drives.get(*drive) {
                    bar.set_position(*bytes);
                }
            }
            _ => {}
        }
    }
}

/// Plain progress for logs: a line every [`LINE_EVERY`], so a long backup is visibly alive.
#[derive(Debug, Default)]
struct Lines {
    source: String,
    drives: Vec<(String, u64)>,
    plain: u64,
    compressed: u64,
    last: Option<Instant>,
}

impl Lines {
    fn update(&mut self, event: ProgressEvent) {
        match event {
            ProgressEvent::Started { source, drives } => {
                *self = Self {
                    source,
                    drives: drives.into_iter().map(|d| (d, 0)).collect(),
                    last: Some(Instant::now()),
                    ..Self::default()
                };
                return;
            }
            ProgressEvent::Dumped { plain, compressed } => {
                self.plain = plain;
                self.compressed = compressed;
            }
            ProgressEvent::Uploaded { drive, bytes } => {
                if let Some(d) = self.drives.get_mut(drive) {
                    d.1 = bytes;
                }
            }
            _ => {}
        }
        if self.last.is_some_and(|t| t.elapsed() >= LINE_EVERY) {
            self.last = Some(Instant::now());
            tracing::info!("{}", self.line());
        }
    }

    fn line(&self) -> String {
        let drives = self
            .drives
            .iter()
            .map(|(d, n)| format!("{d} {}", output::bytes(*n)))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "{}: dumped {}, gzip {}; uploaded: {drives}",
            self.source,
            output::bytes(self.plain),
            output::bytes(self.compressed)
        )
    }
}

/// The log's writer: stderr, with any bars on screen lifted out of the way while a line is
/// written, so log lines and bars never overwrite each other.
#[derive(Debug, Clone, Copy)]
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_all(buf)?;
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        let bars = ON_SCREEN
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|s| s.multi.clone());
        match bars {
            Some(bars) => bars.suspend(|| io::stderr().write_all(buf)),
            None => io::stderr().write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_name_every_drive() {
        let mut lines = Lines::default();
        lines.update(ProgressEvent::Started {
            source: "Shop".into(),
            drives: vec!["Disk".into(), "S3".into()],
        });
        lines.update(ProgressEvent::Dumped {
            plain: 3 * 1024 * 1024,
            compressed: 1024 * 1024,
        });
        lines.update(ProgressEvent::Uploaded {
            drive: 1,
            bytes: 512 * 1024,
        });
        assert_eq!(
            lines.line(),
            "Shop: dumped 3.0 MiB, gzip 1.0 MiB; uploaded: Disk 0 B, S3 512.0 KiB"
        );
    }
}
