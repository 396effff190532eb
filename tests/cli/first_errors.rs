//! The human error messages of the commands a user meets in the first hour, pinned
//! whole (message and exit code) in `testdata/golden/first-hour-errors.txt`. A change to
//! one is a change users see: review it, then re-bless with
//! `PASSPORT_BLESS=1 cargo test --test cli first_errors::`.

use std::path::{Path, PathBuf};

use crate::util;

/// One case: what is run (words after `passport --home HOME`), against which setup.
struct Case {
    name: &'static str,
    /// `true`: in an initialized home; `false`: where no home exists yet.
    home: bool,
    args: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        name: "a command before init",
        home: false,
        args: &["group", "list"],
    },
    Case {
        name: "init twice",
        home: true,
        args: &["init", "--age-identity", "{tmp}/again.agekey"],
    },
    Case {
        name: "a roster with too few members",
        home: true,
        args: &[
            "roster",
            "new",
            "-t",
            "2",
            "-m",
            "alice={npub}",
            "-o",
            "{tmp}/r.json",
        ],
    },
    Case {
        name: "a threshold above n",
        home: true,
        args: &[
            "roster",
            "new",
            "-t",
            "3",
            "-m",
            "alice={npub}",
            "-m",
            "bob={npub2}",
            "-o",
            "{tmp}/r.json",
        ],
    },
    Case {
        name: "a member that is not NAME=NPUB",
        home: true,
        args: &[
            "roster",
            "new",
            "-t",
            "1",
            "-m",
            "alice",
            "-o",
            "{tmp}/r.json",
        ],
    },
    Case {
        name: "an npub that is not one",
        home: true,
        args: &[
            "roster",
            "new",
            "-t",
            "1",
            "-m",
            "alice=npub1nothing",
            "-o",
            "{tmp}/r.json",
        ],
    },
    Case {
        name: "a roster file that does not exist",
        home: true,
        args: &["dkg", "round1", "--roster", "{tmp}/missing.json"],
    },
    Case {
        name: "a roster file that is not a roster",
        home: true,
        args: &["dkg", "round1", "--roster", "{tmp}/garbage.json"],
    },
    Case {
        name: "--via with another scheme",
        home: true,
        args: &[
            "dkg",
            "round1",
            "--roster",
            "{tmp}/roster.json",
            "--via",
            "ftp://example.org",
        ],
    },
    Case {
        name: "a group this home does not know",
        home: true,
        args: &[
            "sign",
            "event",
            "--group",
            "npub1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq",
            "--event",
            "{tmp}/template.json",
            "--yes",
        ],
    },
    Case {
        name: "inspect of a file passport did not write",
        home: true,
        args: &["inspect", "{tmp}/garbage.json"],
    },
    Case {
        name: "a signing request that is not one",
        home: true,
        args: &["sign", "share", "--request", "{tmp}/garbage.json", "--yes"],
    },
];

fn golden() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/golden/first-hour-errors.txt")
}

/// Runs every case and writes what the user sees, with the temporary paths and keys
/// replaced by placeholders.
fn transcript(tmp: &Path) -> String {
    let home = tmp.join("home");
    let member = util::make_member(tmp, "home");
    let other = util::make_member(tmp, "other");
    std::fs::write(tmp.join("garbage.json"), "{\"not\": \"passport\"}\n").unwrap();
    std::fs::write(
        tmp.join("template.json"),
        "{\"kind\": 1, \"content\": \"gm\"}\n",
    )
    .unwrap();
    util::write_roster(tmp, "roster.json", 2, &[&member, &other], None);
    let nohome = tmp.join("nohome");
    let t = tmp.display().to_string();
    let mut out = String::new();
    for case in CASES {
        let mut c = util::passport(if case.home { &home } else { &nohome });
        for a in case.args {
            c.arg(
                a.replace("{tmp}", &t)
                    .replace("{npub}", &member.npub)
                    .replace("{npub2}", &other.npub),
            );
        }
        let o = c.output().unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!stderr.contains("panicked"), "{}: {stderr}", case.name);
        let shown = stderr
            .replace(&t, "<tmp>")
            .replace(&member.npub, "<npub>")
            .replace(&other.npub, "<npub2>");
        out.push_str(&format!(
            "## {}\n$ passport {}\nexit {}\n{}\n",
            case.name,
            case.args.join(" "),
            o.status.code().map_or("signal".into(), |c| c.to_string()),
            shown.trim_end()
        ));
    }
    out
}

#[test]
fn the_first_hour_errors_read_as_pinned() {
    let tmp = tempfile::tempdir().unwrap();
    let got = transcript(tmp.path());
    // Every one is an error: non-zero, one `passport: error:` line at least.
    for block in got.split("## ").skip(1) {
        assert!(!block.contains("\nexit 0\n"), "succeeded:\n{block}");
        assert!(
            block.contains("passport: error: "),
            "no error line:\n{block}"
        );
    }
    let path = golden();
    if std::env::var_os("PASSPORT_BLESS").is_some() {
        std::fs::write(&path, &got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing {}; run with PASSPORT_BLESS=1 once", path.display()));
    assert_eq!(
        want, got,
        "a first-hour error message changed; review it, then PASSPORT_BLESS=1"
    );
}
