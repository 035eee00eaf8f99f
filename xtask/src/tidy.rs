//! Tidy checks over the source tree itself, run with the ordinary test suite: every Rust
//! file says what it is for, nothing is left half-done, the architecture page's "may use"
//! column is what the crates' manifests say, and only `ops::wiring` reads a `Config`.

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::{Path, PathBuf};

    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                if path
                    .file_name()
                    .is_some_and(|n| n != "target" && n != "fixtures")
                {
                    rust_files(&path, out);
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    fn sources() -> Vec<PathBuf> {
        let root = crate::project_root();
        let mut files = Vec::new();
        for dir in ["crates", "xtask", "tests"] {
            rust_files(&root.join(dir), &mut files);
        }
        assert!(files.len() > 30, "found only {} files", files.len());
        files
    }

    #[test]
    fn every_source_file_opens_with_a_doc_comment() {
        let undocumented: Vec<_> = sources()
            .into_iter()
            .filter(|f| !std::fs::read_to_string(f).unwrap().starts_with("//!"))
            .collect();
        assert!(
            undocumented.is_empty(),
            "files without a `//!` doc comment: {undocumented:?}"
        );
    }

    #[test]
    fn nothing_is_left_half_done() {
        let markers = [
            concat!("TO", "DO"),
            concat!("FIX", "ME"),
            concat!("todo", "!("),
            concat!("unimplemented", "!("),
        ];
        for file in sources() {
            let text = std::fs::read_to_string(&file).unwrap();
            for marker in markers {
                assert!(
                    !text.contains(marker),
                    "{} contains {marker}",
                    file.display()
                );
            }
        }
    }

    /// The short names the architecture page gives our crates.
    const CRATES: [&str; 7] = ["core", "config", "dump", "s3", "ops", "serve", "cli"];

    /// The "may use" column of docs/architecture.md, per crate: the crates named in
    /// backticks, every crate of the rows above for "all of the above", none for "nothing of
    /// ours".
    fn documented_uses() -> Vec<(String, BTreeSet<String>)> {
        let page =
            std::fs::read_to_string(crate::project_root().join("docs/architecture.md")).unwrap();
        let mut rows: Vec<(String, BTreeSet<String>)> = Vec::new();
        for line in page.lines() {
            let cells: Vec<&str> = line.split(" | ").collect();
            let Some(name) = cells
                .first()
                .and_then(|c| c.strip_prefix("| `backupman-"))
                .and_then(|c| c.strip_suffix('`'))
            else {
                continue;
            };
            let may_use = cells.last().unwrap().trim_end_matches(" |");
            let uses: BTreeSet<String> = if may_use.starts_with("all of the above") {
                rows.iter().map(|(n, _)| n.clone()).collect()
            } else {
                may_use
                    .split('`')
                    .skip(1)
                    .step_by(2)
                    .flat_map(|quoted| quoted.split('/'))
                    .filter(|word| CRATES.contains(word))
                    .map(str::to_owned)
                    .collect()
            };
            rows.push((name.to_owned(), uses));
        }
        rows
    }

    /// Each of our crates' normal (not dev) dependencies on our crates, from `cargo metadata`.
    fn manifest_uses() -> Vec<(String, BTreeSet<String>)> {
        let out = std::process::Command::new(env!("CARGO"))
            .args([
                "metadata",
                "--format-version",
                "1",
                "--no-deps",
                "--offline",
            ])
            .current_dir(crate::project_root())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let metadata: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let ours = |name: &str| name.strip_prefix("backupman-").map(str::to_owned);
        let mut rows = Vec::new();
        for package in metadata["packages"].as_array().unwrap() {
            let Some(name) = package["name"].as_str().and_then(ours) else {
                continue;
            };
            let uses = package["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["kind"].is_null())
                .filter_map(|d| d["name"].as_str().and_then(ours))
                .collect();
            rows.push((name, uses));
        }
        rows
    }

    #[test]
    fn the_architecture_page_says_what_each_crate_may_use() {
        let documented = documented_uses();
        assert_eq!(documented.len(), CRATES.len(), "rows found: {documented:?}");
        let mut manifests = manifest_uses();
        manifests.retain(|(name, _)| CRATES.contains(&name.as_str()));
        for (name, uses) in manifests {
            let said = documented
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, u)| u.clone())
                .unwrap_or_else(|| panic!("docs/architecture.md has no row for backupman-{name}"));
            assert_eq!(
                said, uses,
                "backupman-{name}: docs/architecture.md's \"may use\" says {said:?}, its Cargo.toml depends on {uses:?}"
            );
        }
    }

    /// Whether `code` names the type `Config` (not `DriveConfig`, not a comment's word):
    /// comment lines and the `#[cfg(test)]` module at the end are left out.
    fn names_config(code: &str) -> bool {
        let code = code
            .split("#[cfg(test)]\nmod tests")
            .next()
            .unwrap_or_default();
        let ident = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        code.lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .any(|line| {
                line.match_indices("Config").any(|(at, word)| {
                    !ident(line[..at].chars().next_back())
                        && !ident(line[at + word.len()..].chars().next())
                })
            })
    }

    #[test]
    fn the_config_check_tells_the_type_from_its_neighbours() {
        assert!(names_config("use backupman_config::{Config, DriveConfig};"));
        assert!(names_config("pub fn run(config: &Config) {}"));
        assert!(names_config("let Config { sources, .. } = config;"));
        assert!(!names_config(
            "use backupman_config::{DriveConfig, SourceConfig};"
        ));
        assert!(!names_config("/// Reads a `Config`.\nfn f() {}"));
        assert!(!names_config(
            "fn f() {}\n#[cfg(test)]\nmod tests {\n    use backupman_config::Config;\n}"
        ));
    }

    /// The operations run on the plan `wiring` resolves (`wiring::Plan`), so what a
    /// configuration means is decided in one room: no other module of `backupman-ops` names
    /// `Config` (its tests may).
    #[test]
    fn only_wiring_reads_the_configuration() {
        let ops = crate::project_root().join("crates/backupman-ops/src");
        let mut files = Vec::new();
        rust_files(&ops, &mut files);
        assert!(files.len() > 10, "found only {files:?}");
        let wiring = ops.join("wiring");
        let readers: Vec<_> = files
            .iter()
            .filter(|f| !f.starts_with(&wiring))
            .filter(|f| names_config(&std::fs::read_to_string(f).unwrap()))
            .collect();
        assert!(
            readers.is_empty(),
            "these modules of backupman-ops name `Config`; give them what they need through \
             `wiring::Plan` instead: {readers:?}"
        );
        let plan = std::fs::read_to_string(wiring.join("plan.rs")).unwrap();
        assert!(
            names_config(&plan),
            "wiring/plan.rs no longer resolves a `Config`?"
        );
    }
}
