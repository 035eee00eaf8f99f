//! Showing a running backup: bars on a terminal, a periodic plain line elsewhere, nothing
//! with `--quiet`. The engine reports [`ProgressEvent`]s; this module only draws them.

use std::io::{self, IsTerminal, Write};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use backupman_core::{ProgressEvent, ProgressObserver};
use backupman_ops::backup::SourceProgress;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::output;

/// The bars on screen, if any: log lines are written around them (see [`LogWriter`]).
static ON_SCREEN: Mutex<Option<Screen>> = Mutex::new(None);

/// One set of bars for the whole run: sources backed up at the same time each add their
/// own rows and take them away when done.
struct Screen {
    multi: MultiProgress,
    /// Each running source's label and its rows (dump, then one per drive).
    rows: Vec<(String, Vec<ProgressBar>)>,
}

fn on_screen() -> std::sync::MutexGuard<'static, Option<Screen>> {
    // The screen is only ever replaced whole, so a panic elsewhere cannot leave it half-set.
    ON_SCREEN.lock().unwrap_or_else(|p| p.into_inner())
}

/// How `backupman run` shows its progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Bars, redrawn in place: only when stderr is a terminal.
    Bars,
    /// One log line every [`LINE_EVERY`] per running backup.
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

    /// What makes each source's observer, if this style shows anything.
    pub fn observer(self) -> Option<SourceProgress> {
        match self {
            Self::Off => None,
            Self::Bars => Some(SourceProgress::new(|_| {
                let bars = Mutex::new(None::<Bars>);
                ProgressObserver::new(move |event| {
                    let mut bars = bars.lock().unwrap_or_else(|p| p.into_inner());
                    if let ProgressEvent::Started { source, drives } = &event {
                        *bars = Some(Bars::new(source, drives));
                    } else if let Some(bars) = bars.as_mut() {
                        bars.update(&event);
                    }
                })
            })),
            Self::Lines => Some(SourceProgress::new(|_| {
                let lines = Arc::new(Mutex::new(Lines::default()));
                Lines::tick(Arc::downgrade(&lines));
                ProgressObserver::new(move |event| {
                    lines
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .update(event);
                })
            })),
        }
    }

    /// Takes away the bars of `source`, whose backup just ended, before its summary is
    /// printed; the bars of sources still running stay.
    pub fn finish(self, source: &str) {
        let mut screen = on_screen();
        let Some(current) = screen.as_mut() else {
            return;
        };
        current.rows.retain(|(label, bars)| {
            if label != source {
                return true;
            }
            for bar in bars {
                bar.finish_and_clear();
                current.multi.remove(bar);
            }
            false
        });
        if current.rows.is_empty()
            && let Some(done) = screen.take()
        {
            let _ = done.multi.clear();
        }
    }
}

/// Writes `lines` to stderr in one piece, with any bars on screen lifted out of the way:
/// lines of sources finishing at the same moment never mix, and never overwrite a bar.
pub fn print_lines(lines: &[String]) {
    if lines.is_empty() {
        return;
    }
    let mut text = lines.join("\n");
    text.push('\n');
    let _ = LogWriter.write_all(text.as_bytes());
}

struct Bars {
    dump: ProgressBar,
    drives: Vec<ProgressBar>,
}

impl Bars {
    fn new(source: &str, drives: &[String]) -> Self {
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
        let mut screen = on_screen();
        let screen = screen.get_or_insert_with(|| Screen {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10)),
            rows: Vec::new(),
        });
        let dump = screen.multi.add(
            ProgressBar::no_length()
                .with_style(dump_style)
                .with_prefix(source.to_owned())
                .with_message("0 B"),
        );
        dump.enable_steady_tick(Duration::from_millis(100));
        let drives = drives
            .iter()
            .map(|d| {
                screen.multi.add(
                    ProgressBar::no_length()
                        .with_style(drive_style.clone())
                        .with_prefix(format!("→ {d}")),
                )
            })
            .collect::<Vec<_>>();
        let mut rows = vec![dump.clone()];
        rows.extend(drives.iter().cloned());
        screen.rows.push((source.to_owned(), rows));
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
    /// Prints the line every [`LINE_EVERY`] from a thread of its own, so a backup that sends
    /// no event for a while (waiting for a database lock, a slow first byte) still shows it
    /// is alive; the thread ends within a second of the source's observer being dropped.
    fn tick(lines: Weak<Mutex<Self>>) {
        let spawned = std::thread::Builder::new()
            .name("progress-lines".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_secs(1));
                    let Some(lines) = lines.upgrade() else {
                        return;
                    };
                    let mut lines = lines.lock().unwrap_or_else(|p| p.into_inner());
                    if lines.last.is_some_and(|t| t.elapsed() >= LINE_EVERY) {
                        lines.last = Some(Instant::now());
                        let _ = writeln!(LogWriter, "{}", lines.line());
                    }
                }
            });
        if let Err(err) = spawned {
            tracing::warn!("no progress lines for this backup: cannot start a thread: {err}");
        }
    }

    fn update(&mut self, event: ProgressEvent) {
        match event {
            ProgressEvent::Started { source, drives } => {
                *self = Self {
                    source,
                    drives: drives.into_iter().map(|d| (d, 0)).collect(),
                    last: Some(Instant::now()),
                    ..Self::default()
                };
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
        let bars = on_screen().as_ref().map(|s| s.multi.clone());
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
