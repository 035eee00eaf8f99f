//! `backupman init`: a commented starter configuration, so the step after the quick start is
//! as easy as the quick start. It asks nothing and never replaces a file.

use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;

use crate::Outcome;
use crate::cli::Global;

/// An SQLite source and a local drive, with the other kinds commented out beside them. It
/// loads as it is (a test checks it).
pub const STARTER: &str = include_str!("starter.yml");

pub fn init(global: &Global) -> Outcome {
    let path = &global.config;
    // Created new or not at all: an existing configuration is never replaced. Owner-only,
    // since it is where secrets may be written.
    let opened = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    let mut file = match opened {
        Ok(file) => file,
        Err(err) if err.kind() == ErrorKind::AlreadyExists => {
            eprintln!(
                "error: {} already exists and is left as it is (hint: `backupman init -c OTHER.yml` writes the starter elsewhere)",
                path.display()
            );
            return Outcome::Invalid;
        }
        Err(err) => {
            eprintln!("error: cannot create {}: {err}", path.display());
            return Outcome::Failed;
        }
    };
    if let Err(err) = file
        .write_all(STARTER.as_bytes())
        .and_then(|()| file.sync_all())
    {
        // Nothing half-written stays behind.
        let _ = std::fs::remove_file(path);
        eprintln!("error: cannot write {}: {err}", path.display());
        return Outcome::Failed;
    }
    if !global.quiet {
        eprintln!(
            "✔ wrote {}: an SQLite source and a local drive; edit it, then `backupman run --dry-run -c {}`",
            path.display(),
            path.display()
        );
    }
    Outcome::Success
}
