//! Writing state files so that a crash leaves the old file or the new one, never half of
//! one: a temporary file beside the target, fsync, rename, fsync of the directory. Used
//! by every driver that keeps state (`meter --state`, `dlms serve --state`, `dlms get
//! --ic-file`).

use std::io::Write;
use std::path::Path;

/// Who may read the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The process's default permissions.
    Default,
    /// Owner only (0600 on Unix): the file holds secrets.
    OwnerOnly,
}

/// Replaces `path` with `bytes` atomically and durably.
pub fn write_atomic(path: &Path, bytes: &[u8], access: Access) -> std::io::Result<()> {
    write_atomic_with(path, access, |f| f.write_all(bytes))
}

/// Replaces `path` atomically and durably with what `write` writes (in pieces, for a
/// file too large to hold in memory); an error from `write` leaves the old file.
pub fn write_atomic_with(
    path: &Path,
    access: Access,
    write: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        if access == Access::OwnerOnly {
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        }
        let mut f = options.open(&tmp)?;
        if let Err(e) = write(&mut f) {
            drop(f);
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}
