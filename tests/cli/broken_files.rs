//! Table-driven: every command that reads a package file, given each kind of broken file.
//!
//! One table of breakages (cut short, empty, not UTF-8, not JSON, JSON that is no event,
//! an event whose content or signature was changed, a package of another round) and one
//! table of commands that read packages. Each pair must fail with exit 3 and one error
//! line that names the file and the problem, write no package and leave every home as it
//! was.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;
use tempfile::TempDir;

use crate::util::{self, dkg_files, json_ok, make_member, passport, pkg, write_roster, Member};

/// A breakage: its name, what it does to a good package's bytes, and the words the
/// error must use for it: from a command that reads packages, and from `inspect` (which
/// reads any file passport writes, so it names what it expected differently).
struct Breakage {
    name: &'static str,
    break_it: fn(&[u8]) -> Vec<u8>,
    says: &'static [&'static str],
    inspect_says: &'static [&'static str],
}

fn flip_hex(s: &str) -> String {
    // The last hex digit changes; the string stays valid hex of the same length.
    let mut b = s.as_bytes().to_vec();
    let last = b.len() - 1;
    b[last] = if b[last] == b'0' { b'1' } else { b'0' };
    String::from_utf8(b).unwrap()
}

fn edit(good: &[u8], f: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(good).unwrap();
    f(&mut v);
    serde_json::to_vec(&v).unwrap()
}

const BREAKAGES: &[Breakage] = &[
    Breakage {
        name: "cut in half",
        break_it: |g| g[..g.len() / 2].to_vec(),
        says: &["not a passport package", "not a Nostr event"],
        inspect_says: &["not valid passport file", "not JSON: EOF while parsing"],
    },
    Breakage {
        name: "empty",
        break_it: |_| vec![],
        says: &["empty file"],
        inspect_says: &["not valid passport file: empty file"],
    },
    Breakage {
        name: "not UTF-8",
        break_it: |_| vec![0xff, 0xfe, 0x00, 0x80, 0x7b],
        says: &["not UTF-8"],
        inspect_says: &["not valid passport file: not UTF-8 text"],
    },
    Breakage {
        name: "not JSON",
        break_it: |_| b"these are notes, not a package\n".to_vec(),
        says: &["not a passport package"],
        inspect_says: &["not valid passport file: not JSON"],
    },
    Breakage {
        name: "JSON but no event",
        break_it: |_| br#"{"kind":1,"content":"hello"}"#.to_vec(),
        says: &["not a passport package", "not a Nostr event"],
        inspect_says: &["not valid passport file", "not a file passport writes"],
    },
    Breakage {
        name: "content changed",
        break_it: |g| {
            edit(g, |v| {
                let c = v["content"].as_str().unwrap().to_owned();
                v["content"] = Value::String(format!("{c} "));
            })
        },
        says: &["forged or tampered package", "does not verify"],
        inspect_says: &["forged or tampered package", "does not verify"],
    },
    Breakage {
        name: "signature changed",
        break_it: |g| {
            edit(g, |v| {
                let sig = flip_hex(v["sig"].as_str().unwrap());
                v["sig"] = Value::String(sig);
            })
        },
        says: &["forged or tampered package", "does not verify"],
        inspect_says: &["forged or tampered package", "does not verify"],
    },
];

/// A 2-of-3 group among alice, bob and carol, a signing request of alice and bob with
/// both shares, and a second ceremony after round 1: every kind of package at hand.
struct Fixture {
    _tmp: TempDir,
    root: PathBuf,
    alice: Member,
    bob: Member,
    carol: Member,
    group: String,
    /// Commitments of alice and bob, used by `request`.
    commits: PathBuf,
    /// Fresh commitments of alice and bob, not used yet.
    fresh: PathBuf,
    request: PathBuf,
    shares: PathBuf,
    /// Round-1 packages of a second DKG among the same members.
    round1: PathBuf,
    roster2: PathBuf,
}

impl Fixture {
    fn new() -> Self {
        let tmp = TempDir::new().unwrap();
        let root = tmp.path().to_path_buf();
        let (alice, bob, carol) = (
            make_member(&root, "alice"),
            make_member(&root, "bob"),
            make_member(&root, "carol"),
        );
        let roster = write_roster(&root, "roster.json", 2, &[&alice, &bob, &carol], None);
        let group = dkg_files(&[&alice, &bob, &carol], &roster, &root.join("dkg"));

        let commits = root.join("commits");
        for m in [&alice, &bob] {
            let mut c = passport(&m.home);
            c.args(["sign", "commit", "--group", &group, "--out"])
                .arg(&commits);
            json_ok(c);
        }
        let tpl = root.join("note.json");
        std::fs::write(&tpl, r#"{"kind":1,"content":"broken files","tags":[]}"#).unwrap();
        let mut c = passport(&alice.home);
        c.args([
            "sign",
            "request",
            "--group",
            &group,
            "--signers",
            "alice,bob",
        ])
        .arg("--event")
        .arg(&tpl)
        .arg("--in")
        .arg(&commits)
        .arg("--out")
        .arg(root.join("request"));
        let request = PathBuf::from(json_ok(c)["package"].as_str().unwrap());
        let shares = root.join("shares");
        for m in [&alice, &bob] {
            let mut c = passport(&m.home);
            c.args(["sign", "share", "--yes", "--request"])
                .arg(&request)
                .arg("--out")
                .arg(&shares);
            json_ok(c);
        }

        let fresh = root.join("fresh");
        for m in [&alice, &bob] {
            let mut c = passport(&m.home);
            c.args(["sign", "commit", "--group", &group, "--out"])
                .arg(&fresh);
            json_ok(c);
        }

        let roster2 = write_roster(&root, "roster2.json", 2, &[&alice, &bob, &carol], None);
        let round1 = root.join("round1");
        for m in [&alice, &bob, &carol] {
            let mut c = passport(&m.home);
            c.args(["dkg", "round1", "--roster"])
                .arg(&roster2)
                .arg("--out")
                .arg(&round1);
            json_ok(c);
        }
        Fixture {
            _tmp: tmp,
            root,
            alice,
            bob,
            carol,
            group,
            commits,
            fresh,
            request,
            shares,
            round1,
            roster2,
        }
    }

    /// The files given to a reader: copies of `good`, then the broken one.
    fn named(&self, broken: &Path) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(broken.parent().unwrap())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p != broken)
            .collect();
        v.sort();
        v.push(broken.to_owned());
        v
    }

    /// Runs `reader` on `broken` with a fresh output folder and says what went wrong: not
    /// exit `code` with one error line naming every needle, a home changed, or a package
    /// written. `BROKEN_FILES_SHOW=1` prints each command.
    fn case(
        &self,
        reader: &Reader,
        broken: &Path,
        case: &str,
        code: i32,
        needles: &[&str],
    ) -> Vec<String> {
        let homes = [&self.alice.home, &self.bob.home, &self.carol.home];
        let out = self.root.join("out").join(case);
        let before: Vec<_> = homes.iter().map(|h| util::snapshot(h)).collect();
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut c = (reader.run)(self, broken, &out);
            if std::env::var_os("BROKEN_FILES_SHOW").is_some() {
                eprintln!("{c:?}");
            }
            util::expect_error_line(&mut c, code, needles);
        }));
        let after: Vec<_> = homes.iter().map(|h| util::snapshot(h)).collect();
        let mut wrong = vec![];
        if let Err(e) = run {
            let e = e.downcast_ref::<String>().cloned();
            wrong.push(
                e.unwrap_or_else(|| "the check panicked".into())
                    .replace('\n', " | "),
            );
        }
        if before != after {
            wrong.push("a home changed".into());
        }
        if util::snapshot(&out).values().next().is_some() {
            wrong.push(format!("{} was written", out.display()));
        }
        wrong
    }

    /// A folder holding copies of `good` files and one broken file named like `target`.
    fn inputs(&self, case: &str, good: &[PathBuf], target: &Path, bytes: &[u8]) -> PathBuf {
        let dir = self.root.join("cases").join(case);
        std::fs::create_dir_all(&dir).unwrap();
        for g in good {
            std::fs::copy(g, dir.join(g.file_name().unwrap())).unwrap();
        }
        let broken = dir.join(target.file_name().unwrap());
        std::fs::write(&broken, bytes).unwrap();
        broken
    }
}

/// A command that reads a package: which good package the broken file replaces, the
/// good files beside it, and how to run it (given the broken file and a fresh output
/// folder; the good files are given by name with `--in` too, so every file is one the
/// user named, not one found by scanning a folder).
struct Reader {
    name: &'static str,
    /// `inspect` reads any passport file, not only packages.
    any_file: bool,
    target: fn(&Fixture) -> PathBuf,
    beside: fn(&Fixture) -> Vec<PathBuf>,
    run: fn(&Fixture, &Path, &Path) -> Command,
}

const READERS: &[Reader] = &[
    Reader {
        name: "sign request (a commitment)",
        any_file: false,
        target: |f| pkg(&f.fresh, "sign-commit-bob"),
        beside: |f| vec![pkg(&f.fresh, "sign-commit-alice")],
        run: |f, broken, out| {
            let mut c = passport(&f.alice.home);
            c.args([
                "sign",
                "request",
                "--group",
                &f.group,
                "--signers",
                "alice,bob",
            ])
            .arg("--event")
            .arg(f.root.join("note.json"))
            .arg("--out")
            .arg(out);
            for i in f.named(broken) {
                c.arg("--in").arg(i);
            }
            c
        },
    },
    Reader {
        name: "sign share (the request)",
        any_file: false,
        target: |f| f.request.clone(),
        beside: |_| vec![],
        run: |f, broken, out| {
            let mut c = passport(&f.bob.home);
            c.args(["sign", "share", "--yes", "--request"])
                .arg(broken)
                .arg("--out")
                .arg(out);
            c
        },
    },
    Reader {
        name: "sign aggregate (a share)",
        any_file: false,
        target: |f| pkg(&f.shares, "sign-share-bob"),
        beside: |f| vec![pkg(&f.shares, "sign-share-alice")],
        run: |f, broken, _out| {
            let mut c = passport(&f.alice.home);
            c.args(["sign", "aggregate", "--request"]).arg(&f.request);
            for i in f.named(broken) {
                c.arg("--in").arg(i);
            }
            c
        },
    },
    Reader {
        name: "dkg round2 (a round-1 package)",
        any_file: false,
        target: |f| pkg(&f.round1, "dkg-1-bob"),
        beside: |f| vec![pkg(&f.round1, "dkg-1-carol")],
        run: |f, broken, out| {
            let mut c = passport(&f.alice.home);
            c.args(["dkg", "round2", "--roster"])
                .arg(&f.roster2)
                .arg("--out")
                .arg(out);
            for i in f.named(broken) {
                c.arg("--in").arg(i);
            }
            c
        },
    },
    Reader {
        name: "inspect",
        any_file: true,
        target: |f| f.request.clone(),
        beside: |_| vec![],
        run: |_, broken, _out| {
            let mut c = util::bare();
            c.arg("inspect").arg(broken);
            c
        },
    },
];

#[test]
fn every_reader_refuses_every_broken_file() {
    let f = Fixture::new();
    let mut failures = vec![];
    for (r, reader) in READERS.iter().enumerate() {
        let target = (reader.target)(&f);
        let good = std::fs::read(&target).unwrap();
        for (b, breakage) in BREAKAGES.iter().enumerate() {
            let case = format!("{r}-{b}");
            let broken = f.inputs(
                &case,
                &(reader.beside)(&f),
                &target,
                &(breakage.break_it)(&good),
            );
            let says = if reader.any_file {
                breakage.inspect_says
            } else {
                breakage.says
            };
            let mut needles = vec![broken.display().to_string()];
            needles.extend(says.iter().map(|s| s.to_string()));
            let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
            let wrong = f.case(reader, &broken, &case, 3, &needles);
            if !wrong.is_empty() {
                failures.push(format!(
                    "{} given a package {}: {}",
                    reader.name,
                    breakage.name,
                    wrong.join("; ")
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        READERS.len() * BREAKAGES.len(),
        failures.join("\n")
    );
}

/// The right kind of file in the wrong place: a reader (by its index in [`READERS`])
/// given another round's package instead of its own. `sign aggregate` also reads the
/// request and commitments a user keeps beside the shares (`--in *.json`), so it skips a
/// commitment and waits for the share it still lacks, naming its member.
struct WrongRound {
    reader: usize,
    instead: fn(&Fixture) -> PathBuf,
    code: i32,
    says: &'static [&'static str],
}

const WRONG_ROUND: &[WrongRound] = &[
    WrongRound {
        reader: 0,
        instead: |f| pkg(&f.shares, "sign-share-bob"),
        code: 3,
        says: &["package from bob is a signature share package, expected a signing commitment"],
    },
    WrongRound {
        reader: 1,
        instead: |f| pkg(&f.commits, "sign-commit-bob"),
        code: 3,
        says: &["this is a signing commitment package, not a signing request"],
    },
    WrongRound {
        reader: 2,
        instead: |f| pkg(&f.commits, "sign-commit-bob"),
        code: 4,
        says: &["waiting for signature shares from bob"],
    },
    WrongRound {
        reader: 3,
        instead: |f| f.request.clone(),
        code: 3,
        says: &["not to this ceremony"],
    },
];

#[test]
fn a_package_of_another_round_is_refused_by_every_reader() {
    let f = Fixture::new();
    let mut failures = vec![];
    for &WrongRound {
        reader: r,
        instead: other,
        code,
        says,
    } in WRONG_ROUND
    {
        let reader = &READERS[r];
        let target = (reader.target)(&f);
        let broken = f.inputs(
            &format!("round-{r}"),
            &(reader.beside)(&f),
            &target,
            &std::fs::read(other(&f)).unwrap(),
        );
        let wrong = f.case(reader, &broken, &format!("round-{r}"), code, says);
        if !wrong.is_empty() {
            failures.push(format!("{}: {}", reader.name, wrong.join("; ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
