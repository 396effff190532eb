//! `passport inspect FILE`: describe any file passport writes without revealing secrets.
//!
//! Human output is a list of labelled rows in a fixed, meaningful order (nested lists one
//! item per line, long text shown whole under a gutter); `--json` is one object with the
//! same facts under stable keys. Everything taken from the file goes through
//! [`crate::untrusted`] before it reaches a row.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};

use super::{read_source, Report};
use crate::ceremony::Roster;
use crate::error::{Error, Result};
use crate::untrusted;

mod backup;
mod ceremony;
mod event;
mod home;

/// What `inspect` found out about a file.
#[derive(Serialize)]
pub struct Inspection {
    /// What the file is, e.g. "roster", "share backup (armored age)".
    pub kind: String,
    pub file: String,
    pub details: Map<String, Value>,
    #[serde(skip)]
    rows: Vec<Row>,
    #[serde(skip)]
    notes: Vec<String>,
}

enum Row {
    /// A label and a value already made safe for the terminal.
    Field(String, String),
    /// A label and items (safe), one per line under it.
    List(String, Vec<String>),
    /// Untrusted text shown whole: a header and its lines (safe), each under a gutter.
    Block(String, String, Vec<String>),
}

impl Inspection {
    fn new(kind: impl Into<String>, file: &str) -> Self {
        Inspection {
            kind: kind.into(),
            file: file.to_owned(),
            details: Map::new(),
            rows: vec![],
            notes: vec![],
        }
    }

    /// A JSON-only value.
    fn put(&mut self, key: &str, v: impl Into<Value>) -> &mut Self {
        self.details.insert(key.to_owned(), v.into());
        self
    }

    /// A human-only row; `text` is untrusted (escaped here).
    fn show(&mut self, label: &str, text: &str) -> &mut Self {
        self.rows
            .push(Row::Field(label.to_owned(), untrusted::line(text)));
        self
    }

    /// A human-only row whose value passport composed from escaped parts.
    fn show_safe(&mut self, label: &str, text: String) -> &mut Self {
        self.rows.push(Row::Field(label.to_owned(), text));
        self
    }

    /// Both: `key` in JSON, `label` in human output. Null values are left out of both.
    fn field(&mut self, key: &str, label: &str, v: impl Into<Value>) -> &mut Self {
        let v = v.into();
        let shown = match &v {
            Value::Null => return self,
            Value::String(s) => untrusted::line(s),
            Value::Bool(true) => "yes".into(),
            Value::Bool(false) => "no".into(),
            other => untrusted::line(&other.to_string()),
        };
        self.rows.push(Row::Field(label.to_owned(), shown));
        self.details.insert(key.to_owned(), v);
        self
    }

    /// A unix time: the number under `key` in JSON (and an RFC 3339 string under
    /// `{key}_date`), the date in human output.
    fn date(&mut self, key: &str, label: &str, secs: u64) -> &mut Self {
        let date = crate::clock::date(secs);
        self.details.insert(key.to_owned(), secs.into());
        self.details
            .insert(format!("{key}_date"), date.clone().into());
        self.rows.push(Row::Field(label.to_owned(), date));
        self
    }

    /// A list: `json` under `key`, `items` (already safe) one per line.
    fn list(&mut self, key: &str, label: &str, json: Value, items: Vec<String>) -> &mut Self {
        self.details.insert(key.to_owned(), json);
        let items = if items.is_empty() {
            vec!["⟨none⟩".to_owned()]
        } else {
            items
        };
        self.rows.push(Row::List(label.to_owned(), items));
        self
    }

    /// Untrusted text, whole: inline when it is one short line, else under a gutter.
    fn text(&mut self, key: &str, label: &str, s: &str) -> &mut Self {
        self.details.insert(key.to_owned(), s.into());
        let lines = untrusted::lines(s);
        if s.is_empty() {
            self.rows
                .push(Row::Field(label.to_owned(), "⟨empty⟩".into()));
        } else if lines.len() == 1 && untrusted::width(&lines[0]) <= 60 {
            self.rows
                .push(Row::Field(label.to_owned(), lines[0].clone()));
        } else {
            let header = format!(
                "⟨{} characters, {} lines, shown whole⟩",
                s.chars().count(),
                lines.len()
            );
            self.rows.push(Row::Block(label.to_owned(), header, lines));
        }
        self
    }

    /// A closing remark passport wrote (what to run next, what was not checked).
    fn note(&mut self, s: impl Into<String>) -> &mut Self {
        self.notes.push(s.into());
        self
    }
}

/// Seats as a table: number, name, npub; items already safe.
fn seat_table(rows: &[(String, String, String)]) -> Vec<String> {
    let w = rows
        .iter()
        .map(|r| untrusted::width(&r.1))
        .max()
        .unwrap_or(4)
        .max(4);
    let mut out = vec![format!("{:<4}  {:<w$}  npub", "seat", "name")];
    for (seat, name, npub) in rows {
        let pad = w.saturating_sub(untrusted::width(name));
        out.push(format!("{seat:<4}  {name}{}  {npub}", " ".repeat(pad)));
    }
    out
}

impl Report for Inspection {
    fn human(&self) -> String {
        let w = self
            .rows
            .iter()
            .map(|r| match r {
                Row::Field(l, _) | Row::List(l, _) | Row::Block(l, _, _) => l.chars().count(),
            })
            .max()
            .unwrap_or(0)
            + 2;
        let mut s = format!("{}: {}\n", untrusted::line(&self.file), self.kind);
        for r in &self.rows {
            match r {
                Row::Field(l, v) => s.push_str(&format!("  {:<w$}{v}\n", format!("{l}:"))),
                Row::List(l, items) => {
                    s.push_str(&format!("  {l}:\n"));
                    for i in items {
                        s.push_str(&format!("    {i}\n"));
                    }
                }
                Row::Block(l, header, lines) => {
                    s.push_str(&format!("  {:<w$}{header}\n", format!("{l}:")));
                    for line in lines {
                        s.push_str(&format!("    │ {line}\n"));
                    }
                }
            }
        }
        for n in &self.notes {
            s.push_str(&format!("  {n}\n"));
        }
        s.trim_end().to_owned()
    }
}

/// Where member names can come from: rosters (direct or in group files) given with
/// `--roster`, beside the file, or in the home.
#[derive(Default)]
pub struct Context {
    /// An explicit roster or group file.
    pub roster: Option<PathBuf>,
    /// The home to look in for group files (public data only; nothing is unlocked).
    pub home: Option<PathBuf>,
}

/// A roster to name seats with, and where it came from.
struct Names {
    roster: Roster,
    source: String,
}

/// [`inspect_in`] with names only from what the file itself holds or sits beside.
pub fn inspect(path: &Path) -> Result<Inspection> {
    inspect_in(path, &Context::default())
}

pub fn inspect_in(path: &Path, ctx: &Context) -> Result<Inspection> {
    if let Some(r) = &ctx.roster {
        // Named by the user: it must be a roster or group file, not silently ignored.
        let b = crate::fsutil::read_limited(r, 1 << 20)?;
        if Roster::from_json(&b).is_err() && crate::group::Group::from_json(&b).is_err() {
            return Err(Error::Malformed {
                path: r.display().to_string(),
                what: "roster or group file",
                detail: "--roster names neither a roster nor a group file".into(),
            });
        }
    }
    let bytes = read_source(path)?;
    let name = crate::fsutil::display(path);
    if let Some(i) = backup::binary(path, &name, &bytes)? {
        return Ok(i);
    }
    if let Some(i) = home::lines(path, &name, &bytes)? {
        return Ok(i);
    }
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| Error::Malformed {
        path: name.clone(),
        what: "passport file",
        // Say what the file is before what the JSON parser stumbled on.
        detail: if bytes.iter().all(u8::is_ascii_whitespace) {
            "empty file".into()
        } else if std::str::from_utf8(&bytes).is_err() {
            "not UTF-8 text (every file passport writes is)".into()
        } else {
            format!("not JSON: {e}")
        },
    })?;
    if v.get("sig").is_some() {
        return event::signed(path, &name, &bytes, &v, ctx);
    }
    if let Some(i) = ceremony::json(path, &name, &bytes, &v)? {
        return Ok(i);
    }
    if let Some(i) = home::json(path, &name, &bytes, &v)? {
        return Ok(i);
    }
    if v.get("signature").is_some() && v.get("message").is_some() {
        return event::raw_signature(&name, &bytes);
    }
    Err(Error::Malformed {
        path: name,
        what: "passport file",
        detail: "not a file passport writes (roster, package, group, event, backup, manifest, attestation, home or state file)".into(),
    })
}

/// An error's message without the leading `NAME: ` it may already carry.
fn strip(e: &Error, name: &str) -> String {
    let m = e.to_string();
    m.strip_prefix(&format!("{name}: "))
        .map(str::to_owned)
        .unwrap_or(m)
}

/// Rosters that may name a package's seats: `--roster`, `*.json` beside the file (rosters
/// and group files), and the home's group files and DKG progress.
fn candidate_rosters(path: &Path, ctx: &Context) -> Vec<(Roster, String)> {
    fn parse(bytes: &[u8]) -> Option<Roster> {
        if let Ok(r) = Roster::from_json(bytes) {
            return Some(r);
        }
        if let Ok(g) = crate::group::Group::from_json(bytes) {
            return Some(g.roster);
        }
        let v: Value = serde_json::from_slice(bytes).ok()?;
        serde_json::from_value::<Roster>(v.get("roster")?.clone()).ok()
    }
    let read = |p: &Path| crate::fsutil::read_limited(p, 1 << 20).ok();
    let mut out = vec![];
    if let Some(r) = ctx.roster.as_deref() {
        if let Some(roster) = read(r).as_deref().and_then(parse) {
            out.push((roster, r.display().to_string()));
        }
    }
    let mut dirs = vec![];
    if path.as_os_str() != "-" {
        // The file's directory and the one above (packages often sit in `x/` beside
        // `roster.json`).
        if let Some(d) = path.parent() {
            let d = if d.as_os_str().is_empty() {
                Path::new(".")
            } else {
                d
            };
            dirs.push(d.to_path_buf());
            dirs.push(d.join(".."));
        }
    }
    if let Some(h) = &ctx.home {
        if let Ok(rd) = std::fs::read_dir(h.join("groups")) {
            dirs.extend(rd.flatten().map(|e| e.path()));
        }
        if let Ok(rd) = std::fs::read_dir(h.join("dkg")) {
            dirs.extend(rd.flatten().map(|e| e.path()));
        }
    }
    for d in dirs {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        // Bounded: a directory of packages is scanned, not a whole disk.
        let mut files: Vec<PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json") && p != path)
            .take(500)
            .collect();
        files.sort();
        for f in files {
            let Some(bytes) = read(&f) else { continue };
            if let Some(r) = parse(&bytes) {
                out.push((r, f.display().to_string()));
            }
        }
    }
    out
}

/// The roster a package is bound to (by hash; a refresh's binding roster is derived from
/// its group), or else one in which the sender's npub holds the sender's seat.
fn names_for(
    path: &Path,
    ctx: &Context,
    meta: &crate::envelope::Meta,
    event: &nostr::Event,
) -> Option<Names> {
    let cands = candidate_rosters(path, ctx);
    let want = &meta.binding.roster_hash;
    for (r, src) in &cands {
        if &r.hash_hex() == want {
            return Some(Names {
                roster: r.clone(),
                source: src.clone(),
            });
        }
    }
    let seat = meta.member?;
    cands
        .into_iter()
        .find(|(r, _)| r.member(seat).is_some_and(|m| m.npub == event.pubkey))
        .map(|(roster, src)| Names {
            roster,
            source: format!("{src} (matched by the sender's npub)"),
        })
}
