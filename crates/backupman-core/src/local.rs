//! The local-folder drive: a temp file in the target folder, fsync, rename. A reader never
//! sees a half-written backup, and an aborted or dropped upload leaves nothing.

use std::fs::{self, File};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;

use crate::drive::{
    ByteStream, CheckResult, Drive, DriveError, DriveErrorKind, ObjectInfo, StoredObject, Upload,
    read_all, upload_bytes,
};

/// Temp files start with this, so listings (ours and a person's `ls`) can tell them apart.
const TEMP_PREFIX: &str = ".backupman-tmp-";

#[derive(Debug, Clone)]
pub struct LocalDrive {
    label: String,
    folder: PathBuf,
}

impl LocalDrive {
    pub fn new(label: impl Into<String>, folder: impl Into<PathBuf>) -> Self {
        Self {
            label: label.into(),
            folder: folder.into(),
        }
    }

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
            static COUNTER: AtomicU64 = AtomicU64::new(0);
            let name = target.file_name().expect("a key always has a file name");
            let temp = dir.join(format!(
                "{TEMP_PREFIX}{}-{}-{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed),
                name.to_string_lossy()
            ));
            // A dump holds every row of the database: readable by the owner only.
            let file = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&temp)
                .map_err(|e| DriveError::io(format!("cannot create {}", temp.display()), e))?;
            Ok(Box::new(LocalUpload {
                key,
                file: Some(file),
                temp,
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
                walk(&root, &root, &mut found)?;
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

fn walk(root: &Path, dir: &Path, found: &mut Vec<ObjectInfo>) -> Result<(), DriveError> {
    let entries = fs::read_dir(dir)
        .map_err(|e| DriveError::io(format!("cannot list {}", dir.display()), e))?;
    for entry in entries {
        let entry =
            entry.map_err(|e| DriveError::io(format!("cannot list {}", dir.display()), e))?;
        let path = entry.path();
        let name = entry.file_name();
        if name.to_string_lossy().starts_with(TEMP_PREFIX) {
            continue;
        }
        let meta = entry
            .metadata()
            .map_err(|e| DriveError::io(format!("cannot stat {}", path.display()), e))?;
        if meta.is_dir() {
            walk(root, &path, found)?;
        } else if meta.is_file() {
            let rel = path.strip_prefix(root).expect("walk stays under its root");
            let key = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            found.push(ObjectInfo {
                key,
                size: meta.len(),
            });
        }
    }
    Ok(())
}

struct LocalUpload {
    key: String,
    file: Option<File>,
    temp: PathBuf,
    target: PathBuf,
    written: u64,
}

impl LocalUpload {
    fn remove_temp(&mut self) -> Result<(), DriveError> {
        self.file = None;
        match fs::remove_file(&self.temp) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(DriveError::io(
                format!("cannot remove {}", self.temp.display()),
                e,
            )),
        }
    }
}

#[async_trait]
impl Upload for LocalUpload {
    async fn write(&mut self, chunk: Bytes) -> Result<(), DriveError> {
        let mut file = self.file.take().ok_or_else(|| {
            DriveError::new(DriveErrorKind::Other, "write after the upload ended")
        })?;
        let temp = self.temp.clone();
        let len = chunk.len() as u64;
        let file = blocking(move || {
            file.write_all(&chunk)
                .map_err(|e| DriveError::io(format!("cannot write {}", temp.display()), e))?;
            Ok(file)
        })
        .await?;
        self.file = Some(file);
        self.written += len;
        Ok(())
    }

    async fn complete(mut self: Box<Self>) -> Result<StoredObject, DriveError> {
        let file = self.file.take();
        let temp = self.temp.clone();
        let target = self.target.clone();
        let size = self.written;
        let result = blocking(move || {
            let file = file.ok_or_else(|| {
                DriveError::new(DriveErrorKind::Other, "complete after the upload ended")
            })?;
            file.sync_all()
                .map_err(|e| DriveError::io(format!("cannot fsync {}", temp.display()), e))?;
            drop(file);
            fs::rename(&temp, &target).map_err(|e| {
                DriveError::io(format!("cannot rename into {}", target.display()), e)
            })?;
            // The rename is only durable once the folder itself is synced.
            if let Some(dir) = target.parent()
                && let Ok(dir) = File::open(dir)
            {
                let _ = dir.sync_all();
            }
            Ok(())
        })
        .await;
        match result {
            Ok(()) => {
                let key_path = self.target.display().to_string();
                // Renamed: nothing left for Drop to clean up.
                self.temp = PathBuf::new();
                Ok(StoredObject {
                    key: std::mem::take(&mut self.key),
                    location: key_path,
                    size,
                })
            }
            Err(err) => {
                let _ = self.remove_temp();
                Err(err)
            }
        }
    }

    async fn abort(mut self: Box<Self>) -> Result<(), DriveError> {
        let result = self.remove_temp();
        self.temp = PathBuf::new();
        result
    }
}

impl Drop for LocalUpload {
    fn drop(&mut self) {
        if !self.temp.as_os_str().is_empty() {
            let _ = self.remove_temp();
        }
    }
}
