//! The suite against the local drive, with the folder walked by `std::fs` as the independent
//! view: temp files are what an upload leaves while it is open.

use std::path::{Path, PathBuf};

use async_trait::async_trait;

use super::{Capabilities, Inspector, Known, Whose, conformance};
use crate::{Drive, LocalDrive};

/// Every temp file below `folder`, as (folder of it relative to `folder`, file name).
fn temp_files(folder: &Path) -> Vec<(String, String)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let entry = entry.expect("read a folder entry");
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with(".backupman-tmp-") {
                    let rel = dir.strip_prefix(root).expect("below the root");
                    out.push((rel.to_string_lossy().into_owned(), name));
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(folder, folder, &mut out);
    out.sort();
    out
}

#[derive(Debug)]
struct Folder {
    folder: PathBuf,
    sibling: LocalDrive,
}

#[async_trait]
impl Inspector for Folder {
    async fn open_uploads(&self) -> Vec<String> {
        temp_files(&self.folder)
            .into_iter()
            .map(|(dir, name)| format!("{dir}/{name}"))
            .collect()
    }

    fn already_exists_message(&self, key: &str) -> Option<String> {
        Some(format!(
            "{}/{key} already exists and is never replaced",
            self.folder.display()
        ))
    }

    fn sibling(&self) -> Option<&dyn Drive> {
        Some(&self.sibling)
    }

    async fn open_uploads_seen_independently(&self, whose: Whose) -> Vec<String> {
        let folder = match whose {
            Whose::Drive => self.folder.clone(),
            Whose::Sibling => self.sibling.folder().to_owned(),
        };
        // `.backupman-tmp-<random>-<name>` is the upload of `<dir>/<name>`.
        temp_files(&folder)
            .into_iter()
            .map(|(dir, name)| {
                let rest = name.trim_start_matches(".backupman-tmp-");
                let target = rest.split_once('-').map_or(rest, |(_, target)| target);
                format!("{dir}/{target}")
            })
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_drive() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("drive");
    let drive = LocalDrive::new("local", &folder);
    let inspector = Folder {
        folder: folder.clone(),
        sibling: LocalDrive::new("local-other", dir.path().join("drive-other")),
    };
    let caps = Capabilities {
        known: Known::STRICT,
        health_checks: Some(&[
            "write file",
            "read file",
            "list folder",
            "delete file",
            "incomplete uploads",
        ]),
        inspector: Some(&inspector),
    };
    conformance(&drive, &caps).await;
}
