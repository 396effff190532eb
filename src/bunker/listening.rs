//! Which relays a running `passport serve --relay` answers on, written beside serve's
//! database (`<db>-bunker.json`) once the bunker is subscribed and removed when it stops,
//! so `passport bunker invite` names the relays serve really listens on. Relays come
//! only from serve's flags or `PASSPORT_SERVE_RELAYS`; nothing else records them.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use url::Url;

/// What a running bunker wrote about itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listening {
    pub relays: Vec<String>,
    /// serve's process id, to tell a running serve from one that was killed.
    pub pid: u32,
    /// Unix seconds when the bunker was subscribed.
    pub since: u64,
    /// serve's own URL, where the console is (`bunker console`); none in older records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// The record's path for serve's database at `db`.
pub fn path(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push("-bunker.json");
    PathBuf::from(p)
}

/// Records that this process answers on `relays` and serves at `url` (best effort: a
/// bunker that cannot write it still answers, and `bunker invite` then says it cannot
/// check).
pub fn record(db: &Path, relays: &[Url], url: &str) {
    let l = Listening {
        relays: relays.iter().map(|r| short(r).to_owned()).collect(),
        pid: std::process::id(),
        since: super::unix_now(),
        url: Some(url.to_owned()),
    };
    let bytes = serde_json::to_vec(&l).expect("a record serializes");
    if let Err(e) = crate::fsutil::write_atomic(&path(db), &bytes, true) {
        tracing::warn!("passport serve: bunker: cannot record its relays for `bunker invite`: {e}");
    }
}

/// Removes the record, if it is this process's.
pub fn forget(db: &Path) {
    if read(db).is_some_and(|l| l.pid == std::process::id()) {
        let _ = std::fs::remove_file(path(db));
    }
}

/// The record beside `db`, if there is a readable one.
pub fn read(db: &Path) -> Option<Listening> {
    let bytes = crate::fsutil::read_limited(&path(db), 64 << 10).ok()?;
    serde_json::from_slice(&bytes).ok()
}

impl Listening {
    /// False when the process that wrote it is known to be gone (Linux: no `/proc/PID`).
    pub fn running(&self) -> bool {
        let proc = Path::new("/proc");
        !proc.join("self").exists() || proc.join(self.pid.to_string()).exists()
    }
}

/// `ws://host:port/` and `ws://host:port` name the same relay: the short form.
pub fn short(r: &Url) -> &str {
    match r.path() {
        "/" if r.query().is_none() => r.as_str().trim_end_matches('/'),
        _ => r.as_str(),
    }
}

/// The relays an invitation names, and what the operator should be told about them.
#[derive(Debug, PartialEq, Eq)]
pub struct ForInvite {
    pub relays: Vec<Url>,
    /// Taken from serve (no `--relay` given).
    pub from_serve: bool,
    /// Said on stderr: the link may not work (serve is not running, or its relays are
    /// unknown).
    pub warning: Option<String>,
}

/// Chooses the relays of `bunker invite`: `given` (its `--relay`s) when serve listens
/// on all of them, serve's own when none are given. Serve's are the record beside `db`,
/// else `configured` (`PASSPORT_SERVE_RELAYS` as the invite sees it).
pub fn for_invite(
    db: &Path,
    given: &[String],
    configured: Option<&[String]>,
) -> super::Result<ForInvite> {
    let record = read(db);
    // (relays, serve is known to be listening there now)
    let known: Option<(Vec<String>, bool)> = match (&record, configured) {
        (Some(l), _) => Some((l.relays.clone(), l.running())),
        (None, Some(c)) if !c.is_empty() => Some((c.to_vec(), true)),
        _ => None,
    };
    let known = match known {
        Some((relays, live)) => Some((normal(&super::parse_relays(&relays)?), live)),
        None => None,
    };
    let stopped = |relays: &[String]| {
        format!(
            "the bunker of serve (--relay) is not running now; the link works once serve listens on {} again",
            relays.join(", ")
        )
    };
    if given.is_empty() {
        let Some((relays, live)) = known else {
            return Err(super::Error::RelaysUnknown);
        };
        return Ok(ForInvite {
            warning: (!live).then(|| stopped(&relays)),
            relays: super::parse_relays(&relays)?,
            from_serve: true,
        });
    }
    let relays = super::parse_relays(given)?;
    let named = normal(&relays);
    let warning = match known {
        Some((serve, live)) => {
            let missing: Vec<String> = named
                .iter()
                .filter(|r| !serve.contains(r))
                .cloned()
                .collect();
            match (missing.is_empty(), live) {
                (true, true) => None,
                (true, false) => Some(stopped(&serve)),
                (false, true) => {
                    return Err(super::Error::NotServeRelay {
                        relays: missing,
                        serve,
                    })
                }
                (false, false) => Some(format!(
                    "the bunker of serve (--relay) is not running now and last listened on {}; the link works only if serve listens on {}",
                    serve.join(", "),
                    missing.join(", ")
                )),
            }
        }
        None => Some(format!(
            "cannot tell which relays serve listens on (no running `passport serve --relay` \
             recorded them for this database); the link works only if serve listens on {}",
            named.join(", ")
        )),
    };
    Ok(ForInvite {
        relays,
        from_serve: false,
        warning,
    })
}

fn normal(relays: &[Url]) -> Vec<String> {
    relays.iter().map(|r| short(r).to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_read_back_and_forgotten_by_its_writer() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let db = tmp.path().join("serve.sqlite");
        assert_eq!(read(&db), None);
        let relays = [Url::parse("ws://127.0.0.1:7777/").expect("url")];
        record(&db, &relays, "http://127.0.0.1:1");
        let l = read(&db).expect("recorded");
        assert_eq!(l.relays, ["ws://127.0.0.1:7777"]);
        assert_eq!(l.url.as_deref(), Some("http://127.0.0.1:1"));
        assert!(l.running());
        assert_eq!(path(&db), tmp.path().join("serve.sqlite-bunker.json"));
        forget(&db);
        assert_eq!(read(&db), None);
    }

    #[test]
    fn invite_relays_are_serves_or_refused() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let db = tmp.path().join("serve.sqlite");
        let a = "ws://127.0.0.1:1".to_owned();
        let b = "ws://127.0.0.1:2/".to_owned();
        assert!(matches!(
            for_invite(&db, &[], None),
            Err(crate::bunker::Error::RelaysUnknown)
        ));
        let guess = for_invite(&db, std::slice::from_ref(&a), None).expect("a warning");
        assert!(guess.warning.expect("warned").contains("ws://127.0.0.1:1"));
        let env = for_invite(&db, &[], Some(std::slice::from_ref(&b))).expect("env");
        assert_eq!(env.relays[0].as_str(), "ws://127.0.0.1:2/");
        record(&db, &[Url::parse(&b).expect("url")], "http://127.0.0.1:1");
        let from = for_invite(&db, &[], Some(std::slice::from_ref(&a))).expect("recorded");
        assert!(from.from_serve && from.warning.is_none());
        assert_eq!(normal(&from.relays), ["ws://127.0.0.1:2"]);
        let same = for_invite(&db, &["ws://127.0.0.1:2".into()], None).expect("same relay");
        assert_eq!(same.warning, None);
        match for_invite(&db, &[a.clone(), b.clone()], None) {
            Err(crate::bunker::Error::NotServeRelay { relays, serve }) => {
                assert_eq!(
                    (relays, serve),
                    (vec![a], vec!["ws://127.0.0.1:2".to_owned()])
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
