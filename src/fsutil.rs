//! Atomic, private file writes: temp file in the same directory, mode 0600, fsync,
//! rename, fsync the directory. A crash leaves the old file or the new one, never half.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Errors of file access: which path, and what went wrong there.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file refused by its content before parsing (too large, or not readable as
    /// the input it must be); `path` is as the user named it (`<stdin>` for `-`).
    #[error("{path}: not valid input: {detail}")]
    Refused { path: String, detail: String },
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

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

/// Reads at most `limit` bytes of a file into zeroizing memory allocated once (so a
/// secret leaves no copies behind in reallocated buffers). More than `limit` bytes is an
/// `InvalidData` error. The limit is on the bytes actually read, not on
/// `metadata().len()`: a FIFO, a character device (`/dev/zero`) or `/dev/stdin` reports a
/// length of 0 and would otherwise be read without end.
///
/// `-` is stdin, which a process can read only once: a second `-` argument is an error
/// naming the clash, not a silent empty read (public files read through
/// [`read_public_source`] are kept and may be asked for again).
pub fn read_bounded(path: &Path, limit: u64) -> std::io::Result<zeroize::Zeroizing<Vec<u8>>> {
    use std::io::Read;
    let cap = usize::try_from(limit.min(1 << 20)).unwrap_or(1 << 20);
    let mut buf = zeroize::Zeroizing::new(Vec::with_capacity(cap + 1));
    if is_stdin(path) {
        take_stdin()?;
        std::io::stdin()
            .lock()
            .take(limit.saturating_add(1))
            .read_to_end(&mut buf)?;
    } else {
        fs::File::open(path)?
            .take(limit.saturating_add(1))
            .read_to_end(&mut buf)?;
    }
    if buf.len() as u64 > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {limit} bytes"),
        ));
    }
    Ok(buf)
}

/// True for the `-` that names stdin (or stdout, for outputs).
pub fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

static STDIN_TAKEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static STDIN_PUBLIC: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();

fn take_stdin() -> std::io::Result<()> {
    if STDIN_TAKEN.swap(true, std::sync::atomic::Ordering::SeqCst) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "stdin (`-`) is already used by another argument of this command; give a file",
        ));
    }
    Ok(())
}

/// Reads a public file (roster, package, group file, template), `-` for stdin. Stdin is
/// read once and kept, so a workflow that looks at the same `-` twice sees the same
/// bytes (`--roster -` is read by the command and again by the step it runs).
pub fn read_public_source(path: &Path, limit: u64) -> Result<Vec<u8>> {
    if !is_stdin(path) {
        return read_limited(path, limit);
    }
    if let Some(b) = STDIN_PUBLIC.get() {
        return Ok(b.clone());
    }
    let bytes = read_limited(path, limit)?;
    Ok(STDIN_PUBLIC.get_or_init(|| bytes).clone())
}

/// Reads a file, refusing ones larger than `limit` bytes (counted as read, see
/// [`read_bounded`]).
pub fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>> {
    match read_bounded(path, limit) {
        Ok(mut buf) => Ok(std::mem::take(&mut *buf)),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => Err(Error::Refused {
            path: display(path),
            detail: e.to_string(),
        }),
        Err(e) => Err(Error::io(display(path), e)),
    }
}

/// How a path argument is named in messages: `-` is `<stdin>`.
pub fn display(path: &Path) -> String {
    if is_stdin(path) {
        "<stdin>".into()
    } else {
        path.display().to_string()
    }
}

/// The first line of a small secret file (a passphrase or PIN file), at most 64 KiB.
pub fn read_secret_line(path: &Path) -> std::io::Result<zeroize::Zeroizing<String>> {
    let bytes = read_bounded(path, SECRET_FILE_LIMIT)?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"))?;
    Ok(zeroize::Zeroizing::new(
        text.lines().next().unwrap_or("").to_owned(),
    ))
}

/// Passphrase, PIN and identity files are tiny; anything larger is a mistake.
pub const SECRET_FILE_LIMIT: u64 = 64 << 10;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_without_a_length_is_cut_at_the_limit() {
        let err = read_limited(Path::new("/dev/zero"), 4096).unwrap_err();
        assert!(err.to_string().contains("larger than 4096 bytes"), "{err}");
    }

    #[test]
    fn a_file_at_the_limit_is_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        fs::write(&p, [7u8; 100]).unwrap();
        assert_eq!(read_limited(&p, 100).unwrap().len(), 100);
        assert!(read_limited(&p, 99).is_err());
    }
}
