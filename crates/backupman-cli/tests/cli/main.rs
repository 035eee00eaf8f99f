//! The `backupman` command as a person runs it, one module per subject. One binary, not one
//! per file: linking each test binary was most of a test build on two cores. `serve`'s tests
//! are the other binary (`tests/serve/`).

#[path = "../common/mod.rs"]
mod common;
// The packaging tests run the image's health check against the server `serve` starts.
#[allow(dead_code)]
#[path = "../serve/server.rs"]
mod server;

mod codecs;
mod credentials;
mod databases;
mod encryption;
mod first_hour;
mod flaky;
mod guarded_s3;
mod hooks;
mod index;
mod interrupt;
mod mail;
mod operations;
mod original_layout;
mod packaging;
mod parallel;
mod planted;
mod progress;
mod quiet_and_json;
mod reliability;
mod restarted_databases;
mod retention;
mod retries_and_pings;
mod run;
mod s3;
mod secrets;
mod trust;
mod webhooks;
mod whole_servers;
