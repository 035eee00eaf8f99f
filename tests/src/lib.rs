//! Test harness for backupman's integration tests: real servers on loopback ports, each
//! behind a guard that stops it and removes its files when dropped.
//!
//! The servers' binaries come from environment variables that `cargo xtask test` sets after
//! provisioning them; a missing variable fails loudly instead of skipping.

pub mod s3;
