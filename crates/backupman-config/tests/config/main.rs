//! Loading configurations as an operator writes them, one module per subject, in one test
//! binary (each binary is a link, the slowest step of a test build on two cores).

mod common;
// Shared with the fuzz target (fuzz/fuzz_targets/config_loader.rs), which replays it.
mod loader_properties;

mod compression;
mod config;
mod encryption;
mod fuzz_corpus;
mod hooks;
mod notifiers;
mod original;
mod servers;
mod tidy;
