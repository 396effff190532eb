//! Modes of a home's files: a keystore open to others is refused, loosened public
//! files are reported.

use std::path::Path;

use super::Result;
use crate::keystore;

/// A home copied without `cp -p` comes out 0755/0644. The keystore must be private
/// (refused otherwise: others could have copied our nonces, or swap blobs); the public
/// parts only earn a warning, returned here.
pub(super) fn check_modes(root: &Path) -> Result<Vec<String>> {
    for p in [root.join("keystore"), root.join("keystore/master.age")] {
        if let Some(mode) = keystore::exposed(&p) {
            return Err(keystore::Error::Exposed { path: p, mode }.into());
        }
    }
    let mut loose = vec![];
    for p in [
        root.to_path_buf(),
        root.join("config.json"),
        root.join("groups"),
    ] {
        if let Some(mode) = keystore::exposed(&p) {
            if mode & 0o022 != 0 {
                loose.push(format!(
                    "{} can be changed by other users (mode {mode:04o}); run `chmod go-w` on it",
                    p.display()
                ));
            } else if p == root {
                loose.push(format!(
                    "{} is readable by other users (mode {mode:04o}); `chmod 700` it",
                    p.display()
                ));
            }
        }
    }
    Ok(loose)
}
