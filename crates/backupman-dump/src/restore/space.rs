//! Free space, checked before a restore writes a file of the backup's size.

use std::path::Path;

use super::RestoreError;

/// Fails with [`RestoreError::NoSpace`] unless the file system of `folder` has `needed`
/// bytes available to this process (`statvfs`: blocks available to unprivileged users).
pub(crate) fn ensure_space(folder: &Path, needed: u64) -> Result<(), RestoreError> {
    let stat = rustix::fs::statvfs(folder).map_err(|e| RestoreError::Io {
        context: format!("cannot tell the free space in {}", folder.display()),
        cause: e.into(),
    })?;
    let available = stat.f_bavail.saturating_mul(stat.f_frsize);
    if available < needed {
        return Err(RestoreError::NoSpace {
            folder: folder.to_owned(),
            needed,
            available,
        });
    }
    Ok(())
}
