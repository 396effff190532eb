//! The committed man pages must match the CLI: regenerate with `passport man --out man`.

mod util;

#[test]
fn man_pages_match_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    util::bare()
        .arg("man")
        .arg("--out")
        .arg(tmp.path())
        .assert()
        .success();
    let fresh = util::snapshot(tmp.path());
    let committed = util::snapshot(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("man")
            .as_path(),
    );
    let names = |m: &std::collections::BTreeMap<std::path::PathBuf, Vec<u8>>| {
        m.keys().cloned().collect::<Vec<_>>()
    };
    assert_eq!(
        names(&fresh),
        names(&committed),
        "man/ has other pages than the CLI; run `passport man --out man`"
    );
    for (name, bytes) in &fresh {
        assert!(
            committed[name] == *bytes,
            "man/{} drifted from the CLI; run `passport man --out man`",
            name.display()
        );
    }
    let root = String::from_utf8(fresh[std::path::Path::new("passport.1")].clone()).unwrap();
    assert!(
        root.contains("EXIT STATUS"),
        "exit codes are documented in passport(1)"
    );
}

#[test]
fn completions_generate_for_common_shells() {
    for shell in ["bash", "zsh", "fish"] {
        let out = util::bare().args(["completions", shell]).output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.contains("passport") && text.contains("dkg"),
            "{shell} completion mentions subcommands"
        );
    }
}
