//! The file flow: packages read from files, directories or stdin, written into a
//! directory, atomically and never over a file that holds something else.

use std::path::{Path, PathBuf};

use nostr::{Event, JsonUtil};

use super::{Error, Exchange, Result};
use crate::ceremony::Roster;
use crate::envelope::{self, Meta};
use crate::fsutil;

/// A package read from a file (or stdin).
pub struct Input {
    pub path: String,
    /// Named on the command line, not found by scanning a directory.
    pub explicit: bool,
    pub event: Event,
    pub meta: Meta,
}

const MAX_INPUT: u64 = envelope::MAX_PACKAGE_BYTES as u64;

use fsutil::display;

/// Reads a public input file (at most a package's size), or stdin for `-`.
pub fn read_source(path: &Path) -> Result<Vec<u8>> {
    Ok(fsutil::read_public_source(path, MAX_INPUT)?)
}

/// Parses one package file. Errors name the file.
///
/// Given the roster, a forged package is reported with the member it claims to be from.
pub fn read_package(path: &Path, roster: Option<&Roster>) -> Result<Input> {
    let bytes = read_source(path)?;
    let (event, meta) = envelope::parse(&bytes).map_err(|e| {
        let e = match roster {
            Some(r) => envelope::name_claimed(e, r),
            None => e,
        };
        Error::Package {
            at: display(path),
            source: e,
        }
    })?;
    Ok(Input {
        path: display(path),
        explicit: true,
        event,
        meta,
    })
}

/// An event already in hand (saved state, a transport) as an input.
pub fn input_of(event: &Event, label: &str) -> Result<Input> {
    let (event, meta) =
        envelope::parse(event.as_json().as_bytes()).map_err(|e| Error::Package {
            at: label.to_owned(),
            source: e,
        })?;
    Ok(Input {
        path: label.to_owned(),
        explicit: true,
        event,
        meta,
    })
}

/// Reads packages from files and directories. In a directory, `*.json` files that are
/// not Nostr events (rosters, group files) are skipped; anything unreadable is an error.
pub fn read_inputs(paths: &[PathBuf], roster: &Roster) -> Result<Vec<Input>> {
    let mut out = vec![];
    for p in paths {
        if p.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| fsutil::Error::io(p, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "json") && f.is_file())
                .collect();
            files.sort();
            for f in files {
                let bytes = fsutil::read_limited(&f, MAX_INPUT)?;
                if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) {
                    if v.get("kind").is_none() || v.get("sig").is_none() {
                        continue;
                    }
                }
                let mut input = read_package(&f, Some(roster))?;
                input.explicit = false;
                out.push(input);
            }
        } else if p.as_os_str() == "-" || p.exists() {
            out.push(read_package(p, Some(roster))?);
        } else {
            return Err(fsutil::Error::io(
                p,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or directory"),
            )
            .into());
        }
    }
    Ok(out)
}

/// The file flow: packages read from paths, written into a directory.
pub struct Files {
    pub inputs: Vec<PathBuf>,
    pub out: PathBuf,
    /// Overwrite a package file that exists with other content (`--force`).
    pub force: bool,
}

impl Files {
    pub fn new(inputs: &[PathBuf], out: &Path) -> Self {
        Files {
            inputs: inputs.to_vec(),
            out: out.to_path_buf(),
            force: false,
        }
    }

    pub fn force(mut self, force: bool) -> Self {
        self.force = force;
        self
    }

    /// Only an output directory (steps that read nothing).
    pub fn out(out: &Path) -> Self {
        Files::new(&[], out)
    }
}

impl Exchange for Files {
    fn inputs(&mut self, roster: &Roster) -> Result<Vec<Input>> {
        read_inputs(&self.inputs, roster)
    }

    fn deliver(&mut self, name: &str, event: &Event) -> Result<String> {
        Ok(write_package(&self.out, name, event, self.force)?
            .display()
            .to_string())
    }

    fn force(&self) -> bool {
        self.force
    }

    /// Stages every file first, then renames them into place: a failure leaves none.
    fn deliver_all(&mut self, items: &[(String, &Event)]) -> Result<Vec<String>> {
        for (name, event) in items {
            check_clobber(&self.out.join(name), &package_bytes(event), self.force)?;
        }
        let mut staged = vec![];
        let result = (|| -> Result<()> {
            for (name, event) in items {
                let tmp = self
                    .out
                    .join(format!(".{name}.staged-{}", std::process::id()));
                fsutil::write_atomic(&tmp, &package_bytes(event), true)?;
                staged.push((tmp, self.out.join(name)));
            }
            Ok(())
        })();
        if let Err(e) = result {
            for (tmp, _) in &staged {
                let _ = std::fs::remove_file(tmp);
            }
            return Err(e);
        }
        let mut out = vec![];
        for (tmp, path) in &staged {
            std::fs::rename(tmp, path).map_err(|e| fsutil::Error::io(path, e))?;
            out.push(path.display().to_string());
        }
        fsutil::sync_dir(&self.out)?;
        Ok(out)
    }
}

/// Refuses to replace `path` when it holds other bytes, unless `force`.
pub fn refuse_clobber(path: &Path, bytes: &[u8], force: bool) -> Result<()> {
    check_clobber(path, bytes, force).map(|_| ())
}

fn package_bytes(event: &Event) -> Vec<u8> {
    let mut json = event.as_json();
    json.push('\n');
    json.into_bytes()
}

/// Refuses to replace a file that holds something else; the same bytes again are fine
/// (a re-run of a step writes the package it wrote before).
fn check_clobber(path: &Path, bytes: &[u8], force: bool) -> Result<bool> {
    match std::fs::read(path) {
        Ok(old) if old == bytes => Ok(false),
        Ok(_) if force => Ok(true),
        Ok(_) => Err(Error::Exists(path.to_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(fsutil::Error::io(path, e).into()),
    }
}

/// Writes a package file into `dir` (created if needed) and returns its path. A file of
/// that name with other content is refused unless `force`.
pub fn write_package(dir: &Path, name: &str, event: &Event, force: bool) -> Result<PathBuf> {
    let path = dir.join(name);
    let bytes = package_bytes(event);
    if check_clobber(&path, &bytes, force)? {
        fsutil::write_atomic(&path, &bytes, true)?;
    }
    Ok(path)
}
