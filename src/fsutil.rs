//! Atomic, private file writes: temp file in the same directory, mode 0600, fsync,
//! rename, fsync the directory. A crash leaves the old file or the new one, never half.

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

#[cfg(unix)]
fn private(file: &fs::File) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(fs::Permissions::from_mode(0o600))
}
#[cfg(not(unix))]
fn private(_: &fs::File) -> std::io::Result<()> {
    Ok(())
}

/// Creates `dir` (and parents) with mode 0700.
pub fn private_dir(dir: &Path) -> Result<()> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir).map_err(|e| Error::io(dir, e))
}

/// Writes `bytes` to `path` atomically with mode 0600. With `overwrite == false` an
/// existing file is an error and is left untouched.
pub fn write_atomic(path: &Path, bytes: &[u8], overwrite: bool) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    private_dir(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".passport-tmp-")
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))?;
    private(tmp.as_file()).map_err(|e| Error::io(tmp.path(), e))?;
    tmp.write_all(bytes).map_err(|e| Error::io(path, e))?;
    tmp.as_file().sync_all().map_err(|e| Error::io(path, e))?;
    if overwrite {
        tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    } else {
        tmp.persist_noclobber(path)
            .map_err(|e| Error::io(path, e.error))?;
    }
    sync_dir(dir)
}

/// Makes a rename or unlink in `dir` durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))?;
    Ok(())
}

/// Reads a file, refusing ones larger than `limit` bytes.
pub fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>> {
    let meta = fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.len() > limit {
        return Err(Error::Malformed {
            path: path.display().to_string(),
            what: "input",
            detail: format!("larger than {limit} bytes"),
        });
    }
    fs::read(path).map_err(|e| Error::io(path, e))
}
