//! Tidy checks over the source tree itself, run with the ordinary test suite: every Rust
//! file says what it is for, and nothing is left half-done.

#[cfg(test)]
mod tests {
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
}
