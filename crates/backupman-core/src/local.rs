//! The local-folder drive: a temp file in the target folder, fsync, rename. A reader never
//! sees a half-written backup, and an aborted or dropped upload leaves nothing.

use std::fs::{self, File, Permissions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use tempfile::NamedTempFile;

use crate::drive::{
    ByteStream, CheckResult, Drive, DriveError, DriveErrorKind, IncompleteUpload, ObjectInfo,
    StoredObject, Upload, read_all, upload_bytes,
};

/// Temp files start with this, so listings (ours and a person's `ls`) can tell them apart.
const TEMP_PREFIX: &str = ".backupman-tmp-";

/// Backups in a folder of the local file system (a mounted disk or network share).
#[derive(Debug, Clone)]
pub struct LocalDrive {
    label: String,
    folder: PathBuf,
}

impl LocalDrive {
    /// A drive labelled `label` storing under `folder`, created on the first write.
    pub fn new(label: impl Into<String>, folder: impl Into<PathBuf>) -> Self {
        Self {
            label: label.into(),
            folder: folder.into(),
        }
    }

    /// The folder keys are relative to.
    pub fn folder(&self) -> &Path {
        &self.folder
    }

    fn path_of(&self, key: &str) -> Result<PathBuf, DriveError> {
        let mut path = self.folder.clone();
        for part in key.split('/') {
            if part.is_empty() || part == "." || part == ".." {
                return Err(DriveError::new(
                    DriveErrorKind::Other,
                    format!("refusing key {key:?}: it is not a plain relative path"),
                ));
            }
            path.push(part);
        }
        Ok(path)
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, DriveError> + Send + 'static,
) -> Result<T, DriveError> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|err| {
        Err(DriveError::new(
            DriveErrorKind::Other,
            format!("local drive task failed: {err}"),
        ))
    })
}

#[async_trait]
impl Drive for LocalDrive {
    fn label(&self) -> &str {
        &self.label
    }

    fn provider(&self) -> &str {
        "local"
    }

    fn location(&self, key: &str) -> String {
        self.path_of(key)
            .map_or_else(|_| key.to_owned(), |p| p.display().to_string())
    }

    async fn begin(&self, key: &str) -> Result<Box<dyn Upload>, DriveError> {
        let target = self.path_of(key)?;
        let key = key.to_owned();
        blocking(move || {
            let dir = target
                .parent()
                .expect("a key always has a file name")
                .to_owned();
            fs::create_dir_all(&dir).map_err(|e| {
                DriveError::io(format!("cannot create folder {}", dir.display()), e)
            })?;
            if target.exists() {
                return Err(already_exists(&target));
            }
            let name = target.file_name().expect("a key always has a file name");
            let file = tempfile::Builder::new()
                .prefix(TEMP_PREFIX)
                .suffix(&format!("-{}", name.to_string_lossy()))
                // A dump holds every row of the database: readable by the owner only.
                .permissions(Permissions::from_mode(0o600))
                .tempfile_in(&dir)
                .map_err(|e| {
                    no_space_or(
                        &dir,
                        format!("cannot create a file in {}", dir.display()),
                        e,
                    )
                })?;
            Ok(Box::new(LocalUpload {
                key,
                file: Some(file),
                target,
                written: 0,
            }) as Box<dyn Upload>)
        })
        .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, DriveError> {
        let root = self.folder.clone();
        let prefix = prefix.to_owned();
        blocking(move || {
            let mut found = Vec::new();
            if root.exists() {
                walk(&root, &root, &mut found, &mut Vec::new())?;
            }
            found.retain(|o| o.key.starts_with(&prefix));
            found.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(found)
        })
        .await
    }

    async fn read(&self, key: &str) -> Result<ByteStream, DriveError> {
        let path = self.path_of(key)?;
        let file = tokio::fs::File::open(&path)
            .await
            .map_err(|e| DriveError::io(format!("cannot open {}", path.display()), e))?;
        let stream = tokio_util_stream(file, path);
        Ok(stream)
    }

    async fn delete(&self, key: &str) -> Result<(), DriveError> {
        let path = self.path_of(key)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => {
                // Folders emptied by the deletion go too (remove_dir refuses non-empty ones).
                let mut dir = path.parent();
                while let Some(d) = dir.filter(|d| *d != self.folder.as_path()) {
                    if tokio::fs::remove_dir(d).await.is_err() {
                        break;
                    }
                    dir = d.parent();
                }
                Ok(())
            }
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(DriveError::io(
                format!("cannot delete {}", path.display()),
                e,
            )),
        }
    }

    async fn incomplete_uploads(&self) -> Result<Vec<IncompleteUpload>, DriveError> {
        let root = self.folder.clone();
        blocking(move || {
            let mut temps = Vec::new();
            if root.exists() {
                walk(&root, &root, &mut Vec::new(), &mut temps)?;
            }
            Ok(temps)
        })
        .await
    }

    async fn discard_incomplete(&self, upload: &IncompleteUpload) -> Result<(), DriveError> {
        let is_temp = upload
            .id
            .rsplit('/')
            .next()
            .is_some_and(|name| name.starts_with(TEMP_PREFIX));
        if !is_temp {
            return Err(DriveError::new(
                DriveErrorKind::Other,
                format!(
                    "refusing to discard {:?}: it is not a backupman temp file",
                    upload.id
                ),
            ));
        }
        self.delete(&upload.id).await
    }

    async fn health(&self) -> Vec<CheckResult> {
        let key = format!(".backupman-health/probe-{}", std::process::id());
        let payload = Bytes::from_static(b"backupman health probe\n");
        let mut checks = Vec::new();
        let write = upload_bytes(self, &key, payload.clone()).await.map(|_| ());
        let wrote = write.is_ok();
        checks.push(CheckResult {
            check: "write file".into(),
            result: write,
            required: true,
        });
        if wrote {
            let read = read_all(self, &key).await.and_then(|got| {
                if got == payload {
                    Ok(())
                } else {
                    Err(DriveError::new(
                        DriveErrorKind::Integrity,
                        "the probe file read back differs from what was written",
                    ))
                }
            });
            checks.push(CheckResult {
                check: "read file".into(),
                result: read,
                required: true,
            });
        }
        let list = self.list(".backupman-health/").await.map(|_| ());
        checks.push(CheckResult {
            check: "list folder".into(),
            result: list,
            required: true,
        });
        if wrote {
            let delete = self.delete(&key).await;
            checks.push(CheckResult {
                check: "delete file".into(),
                result: delete,
                required: true,
            });
        }
        let location = self.folder.display().to_string();
        checks.push(crate::stale::health_check(
            self.incomplete_uploads().await,
            &location,
        ));
        checks
    }
}

fn tokio_util_stream(file: tokio::fs::File, path: PathBuf) -> ByteStream {
    use tokio::io::AsyncReadExt;
    let stream = futures::stream::unfold(Some((file, path)), |state| async move {
        let (mut file, path) = state?;
        let mut buf = vec![0u8; 256 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), Some((file, path))))
            }
            Err(e) => Some((
                Err(DriveError::io(format!("cannot read {}", path.display()), e)),
                None,
            )),
        }
    });
    stream.boxed()
}

/// Collects the stored objects below `dir` into `found` and the temp files of uploads in
/// progress (or left by a killed process) into `temps`.
fn walk(
    root: &Path,
    dir: &Path,
    found: &mut Vec<ObjectInfo>,
    temps: &mut Vec<IncompleteUpload>,
) -> Result<(), DriveError> {
    let entries = fs::read_dir(dir)
        .map_err(|e| DriveError::io(format!("cannot list {}", dir.display()), e))?;
    for entry in entries {
        let entry =
            entry.map_err(|e| DriveError::io(format!("cannot list {}", dir.display()), e))?;
        let path = entry.path();
        let name = entry.file_name();
        let meta = entry
            .metadata()
            .map_err(|e| DriveError::io(format!("cannot stat {}", path.display()), e))?;
        if meta.is_dir() {
            walk(root, &path, found, temps)?;
            continue;
        }
        if !meta.is_file() {
            continue;
        }
        let rel = path.strip_prefix(root).expect("walk stays under its root");
        let key = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        match name.to_string_lossy().strip_prefix(TEMP_PREFIX) {
            // `.backupman-tmp-<random>-<name>`: the upload of `<folder>/<name>`.
            Some(rest) => {
                let target = rest.split_once('-').map_or(rest, |(_, name)| name);
                let folder = key.rsplit_once('/').map_or("", |(folder, _)| folder);
                temps.push(IncompleteUpload {
                    key: if folder.is_empty() {
                        target.to_owned()
                    } else {
                        format!("{folder}/{target}")
                    },
                    id: key,
                    started_at: meta.modified().ok().map(chrono::DateTime::from),
                });
            }
            None => found.push(ObjectInfo {
                key,
                size: meta.len(),
            }),
        }
    }
    Ok(())
}

fn already_exists(target: &Path) -> DriveError {
    DriveError::new(
        DriveErrorKind::AlreadyExists,
        format!("{} already exists and is never replaced", target.display()),
    )
}

/// An I/O error; when the disk is full, with how much room is left, so the operator knows
/// what the next backup needs.
fn no_space_or(folder: &Path, context: String, err: std::io::Error) -> DriveError {
    let mut error = DriveError::io(context, err);
    if error.kind == DriveErrorKind::NoSpace {
        let free = rustix::fs::statvfs(folder)
            .map(|s| s.f_bavail.saturating_mul(s.f_frsize))
            .map_or_else(|_| "unknown".to_owned(), crate::human_bytes);
        // Measured once the temp file is gone: what the whole backup would have had.
        error.message = format!(
            "{}; {} has {free} free in all",
            error.message,
            folder.display()
        );
        error =
            error.with_hint("free space on the drive's disk, or make retention keep fewer backups");
    }
    error
}

struct LocalUpload {
    key: String,
    /// Removed when dropped, unless persisted under the key.
    file: Option<NamedTempFile>,
    target: PathBuf,
    written: u64,
}

impl LocalUpload {
    fn folder(&self) -> &Path {
        self.target.parent().expect("a key always has a folder")
    }
}

#[async_trait]
impl Upload for LocalUpload {
    async fn write(&mut self, chunk: Bytes) -> Result<(), DriveError> {
        let mut file = self.file.take().ok_or_else(|| {
            DriveError::new(DriveErrorKind::Other, "write after the upload ended")
        })?;
        let folder = self.folder().to_owned();
        let len = chunk.len() as u64;
        let (file, result) = tokio::task::spawn_blocking(move || {
            let result = file.as_file_mut().write_all(&chunk);
            (file, result)
        })
        .await
        .map_err(|err| {
            DriveError::new(
                DriveErrorKind::Other,
                format!("local drive task failed: {err}"),
            )
        })?;
        if let Err(e) = result {
            let context = format!("cannot write {}", file.path().display());
            // Dropping the temp file removes it: a full disk gets its room back at once.
            drop(file);
            return Err(no_space_or(&folder, context, e));
        }
        self.file = Some(file);
        self.written += len;
        Ok(())
    }

    async fn complete(mut self: Box<Self>) -> Result<StoredObject, DriveError> {
        let file = self.file.take().ok_or_else(|| {
            DriveError::new(DriveErrorKind::Other, "complete after the upload ended")
        })?;
        let target = self.target.clone();
        let folder = self.folder().to_owned();
        blocking(move || {
            file.as_file().sync_all().map_err(|e| {
                no_space_or(
                    &folder,
                    format!("cannot fsync {}", file.path().display()),
                    e,
                )
            })?;
            // No-clobber: fails when the key appeared meanwhile (another process, the same
            // key), and the temp file is then removed as it drops.
            file.persist_noclobber(&target).map_err(|e| {
                if e.error.kind() == ErrorKind::AlreadyExists {
                    already_exists(&target)
                } else {
                    DriveError::io(format!("cannot rename into {}", target.display()), e.error)
                }
            })?;
            // The rename is only durable once the folder itself is synced.
            if let Ok(dir) = File::open(&folder) {
                let _ = dir.sync_all();
            }
            Ok(())
        })
        .await?;
        Ok(StoredObject {
            key: std::mem::take(&mut self.key),
            location: self.target.display().to_string(),
            size: self.written,
        })
    }

    async fn abort(mut self: Box<Self>) -> Result<(), DriveError> {
        match self.file.take() {
            Some(file) => {
                blocking(move || {
                    let path = file.path().to_owned();
                    file.close()
                        .map_err(|e| DriveError::io(format!("cannot remove {}", path.display()), e))
                })
                .await
            }
            None => Ok(()),
        }
    }
}
