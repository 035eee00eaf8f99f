//! Fuzzes the whole configuration loader: arbitrary text through YAML parsing, `${VAR}` /
//! `${VAR:-default}` / `$$` substitution and validation, as `backupman_config::load` does
//! but with a fixed environment so every finding replays. A panic, a hang, an OOM or a broken
//! error promise (see `check`) is a bug.

#![no_main]

use libfuzzer_sys::fuzz_target;

// One definition of "a good outcome" for both the fuzzer and the stable replay test.
#[path = "../../crates/backupman-config/tests/config/loader_properties/mod.rs"]
mod loader_properties;

fuzz_target!(|data: &[u8]| {
    // `load` refuses text that is not UTF-8 before parsing; lossy decoding still lets the
    // fuzzer's byte mutations reach the parser instead of being thrown away.
    let text = String::from_utf8_lossy(data);
    if let Ok(loaded) = loader_properties::check("fuzz input", &text) {
        // A loaded config is used for its Debug form in `--debug` logs: it must not panic either.
        let _ = format!("{:?}", loaded.config);
    }
});
