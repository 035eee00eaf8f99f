//! The engine and retention against real processes and folders, in one test binary (each
//! binary is a link, the slowest step of a test build on two cores). Not named `core`, which
//! is the standard library's.

mod engine;
mod index;
mod retention_reads;
mod stored;
