//! backupman's operations as library functions: back up (with test mode), list, verify
//! (with or without the restore drill), restore, prune and health, each returning a typed,
//! `serde::Serialize` report, plus the wiring from a configuration to the plan they run on
//! (`wiring::Plan`: the sources, drives, keys and settings, resolved once) and to live
//! sources and drives, and the notifications after a run (mail, webhooks, Slack, Discord).
//!
//! The command line and the service mode are front ends over these same functions: they
//! parse their input, call one operation, and render its report. Nothing here prints;
//! progress is reported through callbacks and `tracing`. A report's failures keep their type
//! (`DriveError`, `SourceError`, `VerifyError`, `HookError`), so a front end decides on their
//! kind; in JSON each is its one line.
//!
//! This crate sits above `backupman-core` (the model and engine), `backupman-dump`
//! (databases), `backupman-s3` (the S3 drive) and `backupman-config`, because wiring needs
//! all of them and core must know none of them.
//!
//! ```no_run
//! use backupman_ops::{backup, wiring};
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let loaded = wiring::load_config(std::path::Path::new("config.yml"))?;
//! // Resolved once; every operation takes the plan, never the configuration.
//! let plan = wiring::plan(&loaded.config);
//! let report = backup::backup(&plan, backup::RunOptions::default(), |_| {}).await?;
//! println!("{}", if report.ok { "all stored" } else { "something failed" });
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod backup;
pub mod catalog;
pub mod health;
pub mod hooks;
pub mod notify;
pub mod prune;
pub mod record;
pub mod restore;
pub mod servers;
pub mod verify;
pub mod wiring;
