//! The local-folder drive: a temp file in the target folder, fsync, rename. A reader never
//! sees a half-written backup, and an aborted or dropped upload leaves nothing.
//!
//! The drive never leaves its folder. Everything under it is reached from a descriptor of
//! the folder, one path component at a time with `O_NOFOLLOW` (`openat`), so a symbolic link
//! planted under it by someone with write access to the folder (`app-db -> /elsewhere`) is
//! refused for writing ([`DriveErrorKind::Symlink`]) and skipped with a warning for reading
//! and listing. The folder itself may be a link: that is the operator's configuration.
//!
//! What remains open between check and use: the drive's folder is looked up by path on every
//! operation, and a folder already opened under it can be renamed elsewhere on the same file
//! system (our descriptor follows it). Both need write access beyond the drive's folder,
//! where such a person could write directly anyway; a planted link never redirects a write.

use std::ffi::{CStr, OsStr};
use std::fs::{self, File};
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags, RenameFlags};
use rustix::io::Errno;

use crate::drive::{
    ByteStream, CheckResult, Drive, DriveError, DriveErrorKind, IncompleteUpload, ObjectInfo,
    StoredObject, Upload, read_all, upload_bytes,
};

/// Temp files start with this, so listings (ours and a person's `ls`) can tell them apart.
const TEMP_PREFIX: &str = ".backupman-tmp-";

/// Health probe files start with this, followed by a random suffix.
const HEALTH_PREFIX: &str = ".backupman-health-";

/// Flags of every folder opened under the drive's own: never through a link.
const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

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
        let (dirs, name) = split_key(key)?;
        let mut path = self.folder.clone();
        path.extend(dirs);
        path.push(name);
        Ok(path)
    }

    /// The drive's folder, opened following a link there (the operator's choice); `None`
    /// when it does not exist and `create` is false.
    fn open_root(&self, create: bool) -> Result<Option<OwnedFd>, DriveError> {
        if create {
            fs::create_dir_all(&self.folder).map_err(|e| {
                DriveError::io(format!("cannot create folder {}", self.folder.display()), e)
            })?;
        }
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        match rustix::fs::open(&self.folder, flags, Mode::empty()) {
            Ok(fd) => Ok(Some(fd)),
            Err(Errno::NOENT) if !create => Ok(None),
            Err(e) => Err(DriveError::io(
                format!("cannot open folder {}", self.folder.display()),
                e.into(),
            )),
        }
    }

    /// Opens (or creates) the folders `dirs` below the drive's folder one by one, never
    /// following a link: the innermost one. `None` when the drive's folder does not exist
    /// and `create` is false.
    fn open_dir(&self, dirs: &[String], create: bool) -> Result<Option<OwnedFd>, DriveError> {
        Ok(self
            .open_chain(dirs, create)?
            .and_then(|mut chain| chain.pop()))
    }

    /// [`Self::open_dir`], keeping every folder on the way, the drive's own first.
    fn open_chain(
        &self,
        dirs: &[String],
        create: bool,
    ) -> Result<Option<Vec<OwnedFd>>, DriveError> {
        let Some(root) = self.open_root(create)? else {
            return Ok(None);
        };
        let mut chain = vec![root];
        let mut shown = self.folder.clone();
        for name in dirs {
            shown.push(name);
            let parent = chain.last().expect("the drive's folder is first");
            let fd = open_dir_at(parent.as_fd(), name, create, &shown)?;
            chain.push(fd);
        }
        Ok(Some(chain))
    }
}

/// A key's folders and its file name; a key that is not a plain relative path is refused.
fn split_key(key: &str) -> Result<(Vec<String>, String), DriveError> {
    let mut parts = Vec::new();
    for part in key.split('/') {
        if part.is_empty() || part == "." || part == ".." {
            return Err(DriveError::new(
                DriveErrorKind::Other,
                format!("refusing key {key:?}: it is not a plain relative path"),
            ));
        }
        parts.push(part.to_owned());
    }
    let name = parts.pop().expect("split yields at least one part");
    Ok((parts, name))
}

/// Opens the folder `name` in `parent` without following a link, creating it when asked.
fn open_dir_at(
    parent: BorrowedFd<'_>,
    name: &str,
    create: bool,
    shown: &Path,
) -> Result<OwnedFd, DriveError> {
    // Bounded: a folder removed between our mkdir and our open is retried, not chased forever.
    for _ in 0..4 {
        match rustix::fs::openat(parent, name, DIR_FLAGS, Mode::empty()) {
            Ok(fd) => return Ok(fd),
            Err(Errno::NOENT) if create => {
                match rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o777)) {
                    // EXIST: another process created it meanwhile; open it (or find its link).
                    Ok(()) | Err(Errno::EXIST) => continue,
                    Err(e) => {
                        return Err(DriveError::io(
                            format!("cannot create folder {}", shown.display()),
                            e.into(),
                        ));
                    }
                }
            }
            Err(e) => return Err(link_or_io(parent, name, shown, e, "cannot open folder")),
        }
    }
    Err(DriveError::new(
        DriveErrorKind::Other,
        format!(
            "cannot open folder {}: it disappears as soon as it is created",
            shown.display()
        ),
    ))
}

/// A link where a folder or file was expected is refused by name; anything else is the I/O
/// error it is.
fn link_or_io(
    parent: BorrowedFd<'_>,
    name: &str,
    shown: &Path,
    err: Errno,
    action: &str,
) -> DriveError {
    let is_link = rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW)
        .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Symlink);
    if is_link {
        symlink_refused(shown)
    } else {
        DriveError::io(format!("{action} {}", shown.display()), err.into())
    }
}

fn symlink_refused(path: &Path) -> DriveError {
    DriveError::new(
        DriveErrorKind::Symlink,
        format!(
            "refusing to use {}: it is a symbolic link, and a local drive never follows one \
             under its folder",
            path.display()
        ),
    )
    .with_hint(
        "remove the link (whoever can write to the drive's folder put it there); to store \
         elsewhere, point the drive's `folder` at that place",
    )
}

/// Reading and listing skip a link rather than fail on it, and say so.
fn warned(err: DriveError) -> DriveError {
    if err.kind == DriveErrorKind::Symlink {
        tracing::warn!("{err}");
    }
    err
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
        let (dirs, name) = split_key(key)?;
        let key = key.to_owned();
        let drive = self.clone();
        blocking(move || {
            let dir = drive.open_dir(&dirs, true)?.ok_or_else(|| {
                DriveError::new(
                    DriveErrorKind::NotFound,
                    format!("the folder {} vanished", drive.folder.display()),
                )
            })?;
            match rustix::fs::statat(&dir, name.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Symlink => {
                    return Err(symlink_refused(&target));
                }
                Ok(_) => return Err(already_exists(&target)),
                Err(Errno::NOENT) => {}
                Err(e) => {
                    return Err(DriveError::io(
                        format!("cannot check {}", target.display()),
                        e.into(),
                    ));
                }
            }
            let folder = target.parent().expect("a key has a folder").to_owned();
            let (temp, file) = create_temp(&dir, &name, &folder)?;
            Ok(Box::new(LocalUpload {
                key,
                dir: Arc::new(dir),
                temp,
                file: Some(file),
                target,
                written: 0,
                done: false,
            }) as Box<dyn Upload>)
        })
        .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, DriveError> {
        let drive = self.clone();
        let prefix = prefix.to_owned();
        blocking(move || {
            let mut found = Vec::new();
            if let Some(root) = drive.open_root(false)? {
                walk(&root, "", &drive.folder, &mut found, &mut Vec::new())?;
            }
            found.retain(|o| o.key.starts_with(&prefix));
            found.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(found)
        })
        .await
    }

    async fn read(&self, key: &str) -> Result<ByteStream, DriveError> {
        let path = self.path_of(key)?;
        let (dirs, name) = split_key(key)?;
        let drive = self.clone();
        let shown = path.clone();
        let file = blocking(move || {
            let dir = drive
                .open_dir(&dirs, false)
                .map_err(warned)?
                .ok_or_else(|| {
                    DriveError::new(
                        DriveErrorKind::NotFound,
                        format!(
                            "cannot open {}: the drive's folder does not exist",
                            shown.display()
                        ),
                    )
                })?;
            // NONBLOCK: a FIFO planted under a backup's name must not hang the reader; it
            // changes nothing for a regular file.
            let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
            let fd = rustix::fs::openat(&dir, name.as_str(), flags, Mode::empty())
                .map_err(|e| warned(link_or_io(dir.as_fd(), &name, &shown, e, "cannot open")))?;
            let file = File::from(fd);
            let is_file = file.metadata().is_ok_and(|m| m.is_file());
            if !is_file {
                return Err(DriveError::new(
                    DriveErrorKind::Other,
                    format!("cannot read {}: it is not a regular file", shown.display()),
                ));
            }
            Ok(file)
        })
        .await?;
        Ok(tokio_util_stream(tokio::fs::File::from_std(file), path))
    }

    async fn delete(&self, key: &str) -> Result<(), DriveError> {
        let path = self.path_of(key)?;
        let (dirs, name) = split_key(key)?;
        let drive = self.clone();
        blocking(move || {
            let chain = match drive.open_chain(&dirs, false) {
                Ok(Some(chain)) => chain,
                // Deleting what does not exist is not an error.
                Ok(None) => return Ok(()),
                Err(e) if e.kind == DriveErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(e),
            };
            let dir = chain.last().expect("the drive's folder is first");
            // unlinkat removes a link itself, never what it points to.
            match rustix::fs::unlinkat(dir, name.as_str(), AtFlags::empty()) {
                Ok(()) => {}
                Err(Errno::NOENT) => return Ok(()),
                Err(e) => {
                    return Err(DriveError::io(
                        format!("cannot delete {}", path.display()),
                        e.into(),
                    ));
                }
            }
            // Folders emptied by the deletion go too (a folder holding anything is refused).
            for (i, folder) in dirs.iter().enumerate().rev() {
                if rustix::fs::unlinkat(&chain[i], folder.as_str(), AtFlags::REMOVEDIR).is_err() {
                    break;
                }
            }
            Ok(())
        })
        .await
    }

    async fn incomplete_uploads(&self) -> Result<Vec<IncompleteUpload>, DriveError> {
        let drive = self.clone();
        blocking(move || {
            let mut temps = Vec::new();
            if let Some(root) = drive.open_root(false)? {
                walk(&root, "", &drive.folder, &mut Vec::new(), &mut temps)?;
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
        // A name of its own, in the drive's folder itself: concurrent probes (serve and a
        // `backupman health`, two requests) never meet, and no shared folder is created and
        // removed under another probe.
        let key = format!("{HEALTH_PREFIX}{}", crate::random_hex(8));
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
        let list = self.list(&key).await.and_then(|found| {
            if !wrote || found.iter().any(|o| o.key == key) {
                Ok(())
            } else {
                Err(DriveError::new(
                    DriveErrorKind::Other,
                    format!("the probe file {key} was written but is not listed"),
                ))
            }
        });
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

/// Creates a new temp file for `name` in `dir`: never an existing file, never through a link.
fn create_temp(dir: &OwnedFd, name: &str, folder: &Path) -> Result<(String, File), DriveError> {
    // A dump holds every row of the database: readable by the owner only.
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    for _ in 0..8 {
        // Hex only: the `-` after it separates the random part from the target's name.
        let temp = format!("{TEMP_PREFIX}{}-{name}", crate::random_hex(6));
        match rustix::fs::openat(dir, temp.as_str(), flags, Mode::from_raw_mode(0o600)) {
            Ok(fd) => return Ok((temp, File::from(fd))),
            Err(Errno::EXIST) => continue,
            Err(e) => {
                return Err(no_space_or(
                    dir.as_fd(),
                    folder,
                    format!("cannot create a file in {}", folder.display()),
                    e.into(),
                ));
            }
        }
    }
    Err(DriveError::new(
        DriveErrorKind::AlreadyExists,
        format!(
            "cannot create a temp file in {}: every random name tried exists",
            folder.display()
        ),
    ))
}

/// Renames `temp` to `name` in `dir`, never replacing what is there.
fn rename_noclobber(
    dir: &OwnedFd,
    temp: &str,
    name: &str,
    target: &Path,
) -> Result<(), DriveError> {
    let failed =
        |e: Errno| DriveError::io(format!("cannot rename into {}", target.display()), e.into());
    match rustix::fs::renameat_with(dir, temp, dir, name, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        Err(Errno::EXIST) => Err(already_exists(target)),
        // File systems without RENAME_NOREPLACE (some network shares): a hard link refuses
        // an existing name just the same.
        Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => {
            match rustix::fs::linkat(dir, temp, dir, name, AtFlags::empty()) {
                Ok(()) => {
                    let _ = rustix::fs::unlinkat(dir, temp, AtFlags::empty());
                    Ok(())
                }
                Err(Errno::EXIST) => Err(already_exists(target)),
                Err(e) => Err(failed(e)),
            }
        }
        Err(e) => Err(failed(e)),
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

/// Collects the stored objects below `dir` (shown as `shown`, keys starting with `rel`) into
/// `found` and the temp files of uploads in progress (or left by a killed process) into
/// `temps`. Links are skipped with a warning: they are not the drive's.
fn walk(
    dir: &OwnedFd,
    rel: &str,
    shown: &Path,
    found: &mut Vec<ObjectInfo>,
    temps: &mut Vec<IncompleteUpload>,
) -> Result<(), DriveError> {
    let list_error =
        |e: Errno| DriveError::io(format!("cannot list {}", shown.display()), e.into());
    for entry in Dir::read_from(dir).map_err(list_error)? {
        let entry = entry.map_err(list_error)?;
        let cname: &CStr = entry.file_name();
        let bytes = cname.to_bytes();
        if bytes == b"." || bytes == b".." {
            continue;
        }
        let path = shown.join(OsStr::from_bytes(bytes));
        let name = String::from_utf8_lossy(bytes);
        let key = if rel.is_empty() {
            name.clone().into_owned()
        } else {
            format!("{rel}/{name}")
        };
        let st = match rustix::fs::statat(dir, cname, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            // Removed since it was listed (a finished upload's temp file).
            Err(Errno::NOENT) => continue,
            Err(e) => {
                return Err(DriveError::io(
                    format!("cannot stat {}", path.display()),
                    e.into(),
                ));
            }
        };
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => match rustix::fs::openat(dir, cname, DIR_FLAGS, Mode::empty()) {
                Ok(sub) => walk(&sub, &key, &path, found, temps)?,
                Err(Errno::NOENT) => {}
                // Replaced by a link since the stat.
                Err(Errno::LOOP | Errno::NOTDIR) => {
                    tracing::warn!("{} is a symbolic link: not followed", path.display());
                }
                Err(e) => {
                    return Err(DriveError::io(
                        format!("cannot open folder {}", path.display()),
                        e.into(),
                    ));
                }
            },
            FileType::Symlink => tracing::warn!(
                "{} is a symbolic link: not listed, not followed (a local drive never leaves \
                 its folder)",
                path.display()
            ),
            FileType::RegularFile => {
                match name.strip_prefix(TEMP_PREFIX) {
                    // `.backupman-tmp-<random>-<name>`: the upload of `<folder>/<name>`.
                    Some(rest) => {
                        let target = rest.split_once('-').map_or(rest, |(_, name)| name);
                        temps.push(IncompleteUpload {
                            key: if rel.is_empty() {
                                target.to_owned()
                            } else {
                                format!("{rel}/{target}")
                            },
                            id: key,
                            started_at: chrono::DateTime::from_timestamp(st.st_mtime, 0),
                        });
                    }
                    None => {
                        found.push(ObjectInfo::new(key, u64::try_from(st.st_size).unwrap_or(0)))
                    }
                }
            }
            _ => {}
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
fn no_space_or(
    dir: BorrowedFd<'_>,
    folder: &Path,
    context: String,
    err: std::io::Error,
) -> DriveError {
    let mut error = DriveError::io(context, err);
    if error.kind == DriveErrorKind::NoSpace {
        let free = rustix::fs::fstatvfs(dir)
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
    /// The target's folder, opened once: the temp file and the rename stay in it whatever
    /// is done to the path meanwhile.
    dir: Arc<OwnedFd>,
    /// The temp file's name in `dir`.
    temp: String,
    file: Option<File>,
    target: PathBuf,
    written: u64,
    /// The temp file is gone (renamed into place or removed); until then, dropping the
    /// upload removes it.
    done: bool,
}

impl LocalUpload {
    fn folder(&self) -> &Path {
        self.target.parent().expect("a key always has a folder")
    }

    fn temp_path(&self) -> PathBuf {
        self.folder().join(&self.temp)
    }

    fn name(&self) -> String {
        self.target
            .file_name()
            .expect("a key always has a file name")
            .to_string_lossy()
            .into_owned()
    }
}

impl Drop for LocalUpload {
    fn drop(&mut self) {
        if !self.done {
            let _ = rustix::fs::unlinkat(&*self.dir, self.temp.as_str(), AtFlags::empty());
        }
    }
}

#[async_trait]
impl Upload for LocalUpload {
    async fn write(&mut self, chunk: Bytes) -> Result<(), DriveError> {
        let mut file = self.file.take().ok_or_else(|| {
            DriveError::new(DriveErrorKind::Other, "write after the upload ended")
        })?;
        let len = chunk.len() as u64;
        let (file, result) = tokio::task::spawn_blocking(move || {
            let result = file.write_all(&chunk);
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
            let context = format!("cannot write {}", self.temp_path().display());
            // Removed at once: a full disk gets its room back before the error is measured.
            drop(file);
            let _ = rustix::fs::unlinkat(&*self.dir, self.temp.as_str(), AtFlags::empty());
            self.done = true;
            return Err(no_space_or(self.dir.as_fd(), self.folder(), context, e));
        }
        self.file = Some(file);
        self.written += len;
        Ok(())
    }

    async fn complete(mut self: Box<Self>) -> Result<StoredObject, DriveError> {
        let file = self.file.take().ok_or_else(|| {
            DriveError::new(DriveErrorKind::Other, "complete after the upload ended")
        })?;
        let dir = self.dir.clone();
        let temp = self.temp.clone();
        let name = self.name();
        let target = self.target.clone();
        let folder = self.folder().to_owned();
        let temp_path = self.temp_path();
        blocking(move || {
            file.sync_all().map_err(|e| {
                no_space_or(
                    dir.as_fd(),
                    &folder,
                    format!("cannot fsync {}", temp_path.display()),
                    e,
                )
            })?;
            drop(file);
            // No-clobber: fails when the key appeared meanwhile (another process, the same
            // key), and the temp file is then removed as the upload drops.
            rename_noclobber(&dir, &temp, &name, &target)?;
            // The rename is only durable once the folder itself is synced.
            let _ = rustix::fs::fsync(&*dir);
            Ok(())
        })
        .await?;
        self.done = true;
        Ok(StoredObject {
            key: std::mem::take(&mut self.key),
            location: self.target.display().to_string(),
            size: self.written,
        })
    }

    async fn abort(mut self: Box<Self>) -> Result<(), DriveError> {
        drop(self.file.take());
        if self.done {
            return Ok(());
        }
        self.done = true;
        let dir = self.dir.clone();
        let temp = self.temp.clone();
        let path = self.temp_path();
        blocking(
            move || match rustix::fs::unlinkat(&*dir, temp.as_str(), AtFlags::empty()) {
                Ok(()) | Err(Errno::NOENT) => Ok(()),
                Err(e) => Err(DriveError::io(
                    format!("cannot remove {}", path.display()),
                    e.into(),
                )),
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    /// A drive in `<tmp>/drive` and a folder outside it, `<tmp>/elsewhere`, that links
    /// planted in the drive point to.
    fn setup() -> (tempfile::TempDir, LocalDrive, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let folder = tmp.path().join("drive");
        let elsewhere = tmp.path().join("elsewhere");
        fs::create_dir_all(&folder).unwrap();
        fs::create_dir_all(&elsewhere).unwrap();
        (tmp, LocalDrive::new("disk", folder), elsewhere)
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn a_linked_source_folder_gets_nothing_written_through_it() {
        let (_tmp, drive, elsewhere) = setup();
        symlink(&elsewhere, drive.folder().join("app-db")).unwrap();
        let err = upload_bytes(
            &drive,
            "app-db/app-db-1.sql.gz",
            Bytes::from_static(b"rows"),
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind, DriveErrorKind::Symlink, "{err}");
        let link = drive.folder().join("app-db").display().to_string();
        assert!(err.message.contains(&link), "{err}");
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert_eq!(entries(&elsewhere), Vec::<String>::new());
        // Deleting through it is refused as well, and leaves the target alone.
        fs::write(elsewhere.join("keep.sql.gz"), b"theirs").unwrap();
        let err = drive.delete("app-db/keep.sql.gz").await.unwrap_err();
        assert_eq!(err.kind, DriveErrorKind::Symlink, "{err}");
        assert_eq!(fs::read(elsewhere.join("keep.sql.gz")).unwrap(), b"theirs");
    }

    #[tokio::test]
    async fn a_link_in_place_of_the_object_is_neither_written_nor_read() {
        let (_tmp, drive, elsewhere) = setup();
        let target = elsewhere.join("victim");
        fs::write(&target, b"not a backup").unwrap();
        fs::create_dir_all(drive.folder().join("app-db")).unwrap();
        symlink(&target, drive.folder().join("app-db/x.sql.gz")).unwrap();
        let err = upload_bytes(&drive, "app-db/x.sql.gz", Bytes::from_static(b"rows"))
            .await
            .unwrap_err();
        assert_eq!(err.kind, DriveErrorKind::Symlink, "{err}");
        assert_eq!(fs::read(&target).unwrap(), b"not a backup");
        let err = read_all(&drive, "app-db/x.sql.gz").await.unwrap_err();
        assert_eq!(err.kind, DriveErrorKind::Symlink, "{err}");
        // Nothing is left behind in the drive's folder either: no temp file.
        assert_eq!(entries(&drive.folder().join("app-db")), ["x.sql.gz"]);
    }

    #[tokio::test]
    async fn listing_skips_links_and_what_they_point_to() {
        let (_tmp, drive, elsewhere) = setup();
        fs::write(elsewhere.join("foreign.sql.gz"), b"x").unwrap();
        upload_bytes(&drive, "app-db/own.sql.gz", Bytes::from_static(b"own"))
            .await
            .unwrap();
        symlink(&elsewhere, drive.folder().join("other-db")).unwrap();
        symlink(
            elsewhere.join("foreign.sql.gz"),
            drive.folder().join("app-db/linked.sql.gz"),
        )
        .unwrap();
        let keys: Vec<String> = drive
            .list("")
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.key)
            .collect();
        assert_eq!(keys, ["app-db/own.sql.gz"]);
        assert_eq!(read_all(&drive, "app-db/own.sql.gz").await.unwrap(), b"own");
        let err = read_all(&drive, "other-db/foreign.sql.gz")
            .await
            .unwrap_err();
        assert_eq!(err.kind, DriveErrorKind::Symlink, "{err}");
    }

    #[tokio::test]
    async fn the_drive_folder_itself_may_be_a_link() {
        let (tmp, _, elsewhere) = setup();
        let link = tmp.path().join("configured");
        symlink(&elsewhere, &link).unwrap();
        let drive = LocalDrive::new("disk", &link);
        upload_bytes(&drive, "app-db/a.sql.gz", Bytes::from_static(b"a"))
            .await
            .unwrap();
        assert_eq!(fs::read(elsewhere.join("app-db/a.sql.gz")).unwrap(), b"a");
        let keys: Vec<String> = drive
            .list("")
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.key)
            .collect();
        assert_eq!(keys, ["app-db/a.sql.gz"]);
        drive.delete("app-db/a.sql.gz").await.unwrap();
        assert_eq!(
            entries(&elsewhere),
            Vec::<String>::new(),
            "the emptied folder goes too"
        );
    }

    #[tokio::test]
    async fn a_linked_health_folder_is_not_followed_and_probes_never_clash() {
        let (_tmp, drive, elsewhere) = setup();
        // Where probes used to go.
        symlink(&elsewhere, drive.folder().join(".backupman-health")).unwrap();
        let drive = Arc::new(drive);
        let probes = (0..20).map(|_| {
            let drive = drive.clone();
            tokio::spawn(async move { drive.health().await })
        });
        for probe in futures::future::join_all(probes).await {
            for check in probe.unwrap() {
                assert!(
                    check.result.is_ok() || !check.required,
                    "{}: {:?}",
                    check.check,
                    check.result
                );
            }
        }
        assert_eq!(entries(&elsewhere), Vec::<String>::new());
        assert_eq!(
            entries(drive.folder()),
            [".backupman-health"],
            "probes clean up"
        );
    }

    #[tokio::test]
    async fn an_aborted_or_dropped_upload_leaves_nothing() {
        let (_tmp, drive, _) = setup();
        let mut upload = drive.begin("app-db/a.sql.gz").await.unwrap();
        upload.write(Bytes::from_static(b"part")).await.unwrap();
        assert_eq!(drive.incomplete_uploads().await.unwrap().len(), 1);
        upload.abort().await.unwrap();
        let upload = drive.begin("app-db/b.sql.gz").await.unwrap();
        drop(upload);
        assert_eq!(
            entries(&drive.folder().join("app-db")),
            Vec::<String>::new()
        );
        // And a complete one is never replaced.
        upload_bytes(&drive, "app-db/c.sql.gz", Bytes::from_static(b"1"))
            .await
            .unwrap();
        let err = upload_bytes(&drive, "app-db/c.sql.gz", Bytes::from_static(b"2"))
            .await
            .unwrap_err();
        assert_eq!(err.kind, DriveErrorKind::AlreadyExists, "{err}");
        assert_eq!(entries(&drive.folder().join("app-db")), ["c.sql.gz"]);
    }
}
