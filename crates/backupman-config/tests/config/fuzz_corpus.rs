//! Replays the fuzzer's corpus (fuzz/corpus/config_loader) on stable Rust with every
//! `cargo test`, so whatever the fuzzer once found stays fixed without nightly or cargo-fuzz,
//! and keeps the corpus seeded with every YAML example the docs show a user.
//!
//! Seeds are named by what they are: `seed-complete-*` is a whole configuration from the
//! docs, README, examples or spec fixtures and must keep loading; `seed-fragment-*` is a
//! snippet (a section alone, a docker-compose file, a deliberate mistake) that only has to
//! fail cleanly. Every other file is an input the fuzzer found, named by its hash.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use crate::loader_properties;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn corpus_dir() -> PathBuf {
    root().join("fuzz/corpus/config_loader")
}

/// (file name, bytes) of every corpus file, in a stable order.
fn corpus_files() -> Vec<(String, Vec<u8>)> {
    let dir = corpus_dir();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    files.sort();
    files
}

fn corpus() -> Vec<(String, Vec<u8>)> {
    let files = corpus_files();
    let dir = corpus_dir();
    // An empty or missing corpus would make the replay pass while checking nothing.
    assert!(
        files.iter().filter(|(n, _)| n.starts_with("seed-")).count() >= 25,
        "the corpus in {} lost its seeds",
        dir.display()
    );
    files
}

#[test]
fn every_corpus_input_keeps_the_loaders_promises() {
    let mut failures = Vec::new();
    let corpus = corpus();
    for (name, bytes) in &corpus {
        // As in the fuzz target: `load` would refuse non-UTF-8 before parsing anyway.
        let text = String::from_utf8_lossy(bytes);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            loader_properties::check(name, &text).map(|loaded| format!("{:?}", loaded.config))
        }));
        if let Err(panic) = outcome {
            let why = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            failures.push(format!("{name}: {why}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} corpus inputs broke the loader:\n{}",
        failures.len(),
        corpus.len(),
        failures.join("\n")
    );
}

#[test]
fn complete_seeds_still_load() {
    let complete: Vec<_> = corpus()
        .into_iter()
        .filter(|(name, _)| name.starts_with("seed-complete-"))
        .collect();
    assert!(
        complete.len() >= 10,
        "only {} complete seeds",
        complete.len()
    );
    for (name, bytes) in complete {
        let text = String::from_utf8(bytes).unwrap();
        let loaded = loader_properties::check(&name, &text)
            .unwrap_or_else(|e| panic!("{name} is a complete documented example but: {e}"));
        assert!(!loaded.config.drives.is_empty(), "{name}");
    }
}

/// Every fenced ```yaml block of a Markdown file, as (1-based block number, text).
fn yaml_blocks(markdown: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim()) {
            (None, "```yaml" | "```yml") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push((blocks.len() + 1, std::mem::take(block)));
                current = None;
            }
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

fn files_in(dir: &Path, extensions: &[&str], out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for path in entries.flatten().map(|e| e.path()) {
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "target") {
                files_in(&path, extensions, out);
            }
        } else if path
            .extension()
            .is_some_and(|e| extensions.iter().any(|x| e == *x))
        {
            out.push(path);
        }
    }
}

/// Every YAML example a user or a test sees, named after where it comes from:
/// `docs-drives-s3-3` is the third yaml block of docs/drives/s3.md.
fn documented_examples() -> Vec<(String, String)> {
    let root = root();
    let slug = |path: &Path| {
        path.strip_prefix(&root)
            .unwrap()
            .with_extension("")
            .to_string_lossy()
            .to_lowercase()
            .replace(['/', '\\', '.', '_'], "-")
    };
    let mut examples = Vec::new();
    let mut markdown = vec![root.join("README.md")];
    files_in(&root.join("docs"), &["md"], &mut markdown);
    for path in markdown {
        let text = std::fs::read_to_string(&path).unwrap();
        for (n, block) in yaml_blocks(&text) {
            examples.push((format!("{}-{n}", slug(&path)), block));
        }
    }
    // The spec page's examples are the fixtures under tests/fixtures/spec, one per block.
    let mut yaml = Vec::new();
    files_in(&root.join("examples"), &["yml", "yaml"], &mut yaml);
    files_in(&root.join("tests"), &["yml", "yaml"], &mut yaml);
    for krate in std::fs::read_dir(root.join("crates")).unwrap().flatten() {
        files_in(&krate.path().join("tests"), &["yml", "yaml"], &mut yaml);
    }
    for path in yaml {
        examples.push((slug(&path), std::fs::read_to_string(&path).unwrap()));
    }
    examples.sort();
    examples
}

/// A new or changed example in the docs fails here until it is a seed too; run with
/// `BACKUPMAN_WRITE_SEEDS=1` to add it (as complete when it loads today).
#[test]
fn every_documented_example_is_a_seed() {
    // Not `corpus()`: this test is what fills an empty corpus.
    let mut seeds: Vec<Vec<u8>> = corpus_files()
        .into_iter()
        .filter(|(name, _)| name.starts_with("seed-"))
        .map(|(_, bytes)| bytes)
        .collect();
    let write = std::env::var_os("BACKUPMAN_WRITE_SEEDS").is_some();
    let mut missing = Vec::new();
    let examples = documented_examples();
    assert!(
        examples.len() >= 30,
        "found only {} examples",
        examples.len()
    );
    for (name, text) in examples {
        if seeds.iter().any(|s| s == text.as_bytes()) {
            continue;
        }
        if write {
            let kind = match loader_properties::check(&name, &text) {
                Ok(_) => "complete",
                Err(_) => "fragment",
            };
            let path = corpus_dir().join(format!("seed-{kind}-{name}.yml"));
            std::fs::write(&path, &text).unwrap();
            seeds.push(text.into_bytes());
        } else {
            missing.push(name);
        }
    }
    assert!(
        missing.is_empty(),
        "YAML examples missing from fuzz/corpus/config_loader (rerun with BACKUPMAN_WRITE_SEEDS=1): {missing:?}"
    );
}
