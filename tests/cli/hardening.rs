//! Regression tests for the hostile review (issue 10) that live below the network: the
//! home lock, bounded reads of devices and FIFOs, keys that are not on the curve, group
//! files whose shares do not interpolate, and homes whose permissions were loosened.
//! Everything runs through the `passport` binary with separate homes.

use crate::util;

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use util::*;

fn round1(m: &Member, roster: &Path, out: &Path) -> assert_cmd::Command {
    let mut c = passport(&m.home);
    c.args(["dkg", "round1", "--roster"])
        .arg(roster)
        .arg("--out")
        .arg(out)
        .timeout(Duration::from_secs(120));
    c
}

/// Two `dkg round1` at once in one home used to compute two different packages for one
/// seat. Under the home lock the second waits, re-reads the state and re-sends the first
/// one's package: every run below yields one package per seat, byte for byte.
#[test]
fn racing_round1_in_one_home_makes_one_package() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    for i in 0..5 {
        let a = make_member(root, &format!("alice{i}"));
        let b = make_member(root, &format!("bob{i}"));
        let roster = write_roster(root, &format!("roster{i}.json"), 2, &[&a, &b], None);
        let outs: Vec<_> = ["x", "y"]
            .iter()
            .map(|d| root.join(format!("{d}{i}")))
            .collect();
        let cmds = outs
            .iter()
            .map(|out| {
                let mut c = spawn_cmd(&a.home);
                c.args(["--json", "dkg", "round1", "--roster"])
                    .arg(&roster)
                    .arg("--out")
                    .arg(out);
                c
            })
            .collect();
        for out in run_parallel(cmds) {
            json_of(&out);
        }
        let file = format!("dkg-1-alice{i}");
        let first = std::fs::read(util::pkg(&outs[0], &file)).unwrap();
        let second = std::fs::read(util::pkg(&outs[1], &file)).unwrap();
        assert_eq!(
            first, second,
            "run {i}: two different round-1 packages for one seat"
        );
    }
}

/// A command that changes a home waits for the lock, then names who holds it.
#[test]
fn a_busy_home_names_its_holder() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let a = make_member(root, "alice");
    let b = make_member(root, "bob");
    let roster = write_roster(root, "roster.json", 2, &[&a, &b], None);
    let lock = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(a.home.join("lock"))
        .unwrap();
    lock.lock().unwrap();
    std::fs::write(
        a.home.join("lock"),
        r#"{"pid":4242,"command":"dkg run","since":1790000000}"#,
    )
    .unwrap();
    let out_dir = root.join("x");
    let mut c = passport(&a.home);
    c.env("PASSPORT_LOCK_WAIT", "0.3")
        .args(["dkg", "round1", "--roster"])
        .arg(&roster)
        .arg("--out")
        .arg(&out_dir);
    expect_error_line(
        &mut c,
        1,
        &["is in use by another passport process (pid 4242, `passport dkg run`"],
    );
    assert!(!out_dir.exists(), "a refused step wrote packages");
    drop(lock);
    let mut c = passport(&a.home);
    c.args(["dkg", "round1", "--roster"])
        .arg(&roster)
        .arg("--out")
        .arg(&out_dir);
    json_ok(c);
}

/// `/dev/zero` reports a length of 0; reading it as a passphrase, identity or config
/// file must stop at a small bound instead of filling memory.
#[test]
fn devices_are_read_with_a_bound() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let pat = root.join("pat");
    let mut c = passport(&pat);
    c.arg("init").env("PASSPORT_PASSPHRASE", "right");
    let pat_npub = json_ok(c)["npub"].as_str().unwrap().to_owned();
    let a = make_member(root, "alice");
    let pat_m = Member {
        name: "pat".into(),
        home: pat.clone(),
        npub: pat_npub,
    };
    let roster = write_roster(root, "roster.json", 2, &[&pat_m, &a], None);
    let out = root.join("out");
    let before = snapshot(&pat);
    let mut c = round1(&pat_m, &roster, &out);
    c.arg("--passphrase-file").arg("/dev/zero");
    expect_error_line(&mut c, 6, &["/dev/zero", "larger than 65536 bytes"]);
    let mut c = round1(&a, &roster, &out);
    c.arg("--age-identity").arg("/dev/zero");
    expect_error_line(&mut c, 1, &["/dev/zero", "larger than 65536 bytes"]);
    let mut c = bare();
    c.args(["serve", "--config", "/dev/zero", "--listen", "127.0.0.1:0"])
        .arg("--home")
        .arg(&a.home)
        .timeout(Duration::from_secs(120));
    let line = expect_error_line(&mut c, 1, &["/dev/zero"]);
    assert!(line.contains("larger than"), "{line}");
    let mut c = bare();
    c.args(["inspect", "/dev/zero"])
        .timeout(Duration::from_secs(120));
    let line = expect_error_line(&mut c, 3, &["/dev/zero"]);
    assert!(line.contains("larger than"), "{line}");
    assert_eq!(before, snapshot(&pat));
    assert!(!out.exists());
}

const OFF_CURVE: &str = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";

/// 2^256 − 1 is no x coordinate on secp256k1: a roster naming it could never complete.
#[test]
fn a_key_off_the_curve_is_refused_in_rosters() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let a = make_member(root, "alice");
    let path = root.join("roster.json");
    let mut c = bare();
    c.args(["roster", "new", "--threshold", "2", "-o"])
        .arg(&path)
        .arg("--member")
        .arg(format!("alice={}", a.npub))
        .arg("--member")
        .arg(format!("mallory={OFF_CURVE}"));
    expect_error_line(&mut c, 3, &["not a point on secp256k1"]);
    assert!(!path.exists(), "a refused roster was written");

    // A roster file edited to name such a key is refused on load.
    let b = make_member(root, "bob");
    let path = write_roster(root, "roster.json", 2, &[&a, &b], None);
    let text = std::fs::read_to_string(&path).unwrap();
    let forged = text.replace(&b.npub, OFF_CURVE);
    assert_ne!(text, forged);
    std::fs::write(&path, forged).unwrap();
    let mut c = bare();
    c.args(["roster", "show"]).arg(&path);
    expect_error_line(&mut c, 3, &["not a point on secp256k1"]);
    let out = root.join("out");
    expect_error_line(
        &mut round1(&a, &path, &out),
        3,
        &["not a point on secp256k1"],
    );
    assert!(!out.exists());
}

/// A group file whose verifying shares are swapped between two members still names
/// the right group key, but its shares do not lie on the key's polynomial: import
/// refuses it and stores nothing.
#[test]
fn group_import_checks_that_shares_interpolate() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let g = ci_group(root, None);
    let gid = npub_hex(&g.group);
    let file = g.ci.home.join("groups").join(&gid).join("group.json");
    let mut v: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let shares = v["public_key_package"]["verifying_shares"]
        .as_object_mut()
        .unwrap();
    let keys: Vec<String> = shares.keys().cloned().collect();
    assert_eq!(keys.len(), 3);
    let first = shares[&keys[0]].clone();
    let second = shares[&keys[1]].clone();
    shares.insert(keys[0].clone(), second);
    shares.insert(keys[1].clone(), first);
    let forged = root.join("forged-group.json");
    std::fs::write(&forged, serde_json::to_vec_pretty(&v).unwrap()).unwrap();

    let coord = make_member(root, "coord");
    let before = snapshot(&coord.home);
    let mut c = passport(&coord.home);
    c.args(["group", "import"]).arg(&forged);
    expect_error_line(
        &mut c,
        3,
        &["forged-group.json", "do not interpolate to the group key"],
    );
    assert_eq!(
        before,
        snapshot(&coord.home),
        "a refused import stored something"
    );

    // The genuine file imports.
    let mut c = passport(&coord.home);
    c.args(["group", "import"]).arg(&file);
    json_ok(c);
}

#[cfg(unix)]
fn chmod(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A home copied without `cp -p` comes out 0755/0644: the keystore is refused (others
/// could have read it), loosened public files earn a warning.
#[cfg(unix)]
#[test]
fn a_loosened_keystore_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let a = make_member(root, "alice");
    let b = make_member(root, "bob");
    let roster = write_roster(root, "roster.json", 2, &[&a, &b], None);
    let out = root.join("out");

    chmod(&a.home.join("keystore"), 0o755);
    let mut c = passport(&a.home);
    c.arg("id");
    expect_error_line(&mut c, 5, &["keystore", "mode 0755", "chmod -R go-rwx"]);
    chmod(&a.home.join("keystore"), 0o700);

    let identity = a.home.join("keystore/identity.sealed");
    assert!(identity.exists(), "layout changed: {identity:?}");
    chmod(&identity, 0o644);
    expect_error_line(
        &mut round1(&a, &roster, &out),
        5,
        &["identity.sealed", "mode 0644"],
    );
    assert!(!out.exists());
    chmod(&identity, 0o600);

    // Loosened public parts: the command works and says what to fix.
    chmod(&a.home.join("config.json"), 0o666);
    let o = round1(&a, &roster, &out).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("passport: warning:")
            && stderr.contains("config.json")
            && stderr.contains("chmod go-w"),
        "{stderr}"
    );
}

/// `-o -` used to write a file literally named `-` (for `recover-nsec`, the plaintext
/// nsec). Now `-` is stdout: the key goes only into a pipe, never to a terminal and
/// never beside --json; a backup streams its armor with the manifest in a named file.
#[test]
fn dash_is_stdout_and_a_secret_never_reaches_a_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let g = ci_group(root, None);
    let cwd = root.join("cwd");
    std::fs::create_dir_all(&cwd).unwrap();
    let recover = |extra: &[&str]| {
        let mut c = passport(&g.ci.home);
        c.current_dir(&cwd)
            .args(["recover-nsec", "--group", &g.group, "-o", "-"])
            .arg("--i-understand-this-ends-threshold-custody")
            .args(extra);
        c
    };
    // With --json both would use stdout.
    let mut c = recover(&[]);
    c.arg("--json");
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("which --json uses"));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("nsec1"));

    // Onto a terminal (script(1) gives stdout a pty): refused, nothing reconstructed.
    let bin = assert_cmd::cargo::cargo_bin("passport");
    let cmd = format!(
        "{} --home {} recover-nsec --group {} -o - --i-understand-this-ends-threshold-custody",
        bin.display(),
        g.ci.home.display(),
        g.group
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .current_dir(&cwd)
        .env_remove("PASSPORT_HOME")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("script(1) runs (util-linux)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("refusing to print the secret key to a terminal"),
        "{text}"
    );
    assert!(!text.contains("nsec1"), "{text}");

    // Into a pipe: the nsec of the group, on stdout only.
    let out = recover(&[]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let nsec = String::from_utf8(out.stdout).unwrap();
    let keys = nostr::Keys::parse(nsec.trim()).unwrap();
    assert_eq!(npub_hex(&g.group), keys.public_key().to_hex());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("written as nsec to stdout"), "{err}");
    assert!(!err.contains("nsec1"), "the key is never on stderr: {err}");

    // A backup to stdout needs a named manifest; with one, the armor streams out.
    let mut c = passport(&g.ci.home);
    c.current_dir(&cwd)
        .env("PASSPORT_BACKUP_PASSPHRASE", "backup pass")
        .args([
            "backup", "create", "--group", &g.group, "--member", "ci", "-o", "-",
        ]);
    expect_error_line(&mut c, 2, &["--manifest FILE"]);
    let manifest = root.join("ci.manifest.json");
    let out = passport(&g.ci.home)
        .current_dir(&cwd)
        .env("PASSPORT_BACKUP_PASSPHRASE", "backup pass")
        .args([
            "backup", "create", "--group", &g.group, "--member", "ci", "-o", "-",
        ])
        .args(["--passphrase", "--manifest"])
        .arg(&manifest)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
    let backup = root.join("ci.age");
    std::fs::write(&backup, &out.stdout).unwrap();
    let mut c = passport(&g.ci.home);
    c.args(["backup", "verify"])
        .arg(&backup)
        .arg("--manifest")
        .arg(&manifest);
    json_ok(c);
    assert!(
        std::fs::read_dir(&cwd).unwrap().next().is_none(),
        "-o - wrote into the working directory"
    );
}

/// `-` is stdin for every file a command reads (rosters, packages, group files, backups,
/// identities, passphrase files) and stdout for `backup identity -o -`; never a file named
/// `-`. Stdin can feed one secret only: a second `-` secret is refused, not read empty.
#[test]
fn dash_is_stdin_for_every_input_and_never_a_file_named_dash() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let cwd = root.join("cwd");
    std::fs::create_dir_all(&cwd).unwrap();
    let run = |mut c: assert_cmd::Command, stdin: &[u8]| {
        c.current_dir(&cwd).write_stdin(stdin.to_vec());
        c
    };
    let (a, b) = (
        util::make_member(root, "alice"),
        util::make_member(root, "bob"),
    );
    let roster = util::write_roster(root, "roster.json", 2, &[&a, &b], None);
    let roster_bytes = std::fs::read(&roster).unwrap();
    let x = root.join("x");
    // `--roster -`: read by the command and again by the step; both see the same bytes.
    let mut c = passport(&a.home);
    c.args(["dkg", "round1", "--roster", "-", "--out"]).arg(&x);
    json_ok(run(c, &roster_bytes));
    let mut c = passport(&b.home);
    c.args(["dkg", "round1", "--roster"])
        .arg(&roster)
        .arg("--out")
        .arg(&x);
    json_ok(c);
    for step in ["round2", "finish", "confirm"] {
        for m in [&a, &b] {
            let mut c = passport(&m.home);
            c.args(["dkg", step, "--roster"])
                .arg(&roster)
                .arg("--in")
                .arg(&x);
            if step != "confirm" {
                c.arg("--out").arg(&x);
            }
            json_ok(c);
        }
    }
    let mut c = passport(&a.home);
    c.args(["group", "list"]);
    let group = json_ok(c)["groups"][0]["npub"].as_str().unwrap().to_owned();

    // `backup identity -o -` streams the armor; the manifest needs a name of its own.
    let key = root.join("offline.agekey");
    let id = age::x25519::Identity::generate();
    std::fs::write(
        &key,
        format!(
            "{}\n",
            age::secrecy::ExposeSecret::expose_secret(&id.to_string())
        ),
    )
    .unwrap();
    let recipient = id.to_public().to_string();
    let mut c = passport(&a.home);
    c.current_dir(&cwd)
        .args(["backup", "identity", "--recipient", &recipient, "-o", "-"]);
    expect_error_line(&mut c, 2, &["--manifest FILE"]);
    let manifest = root.join("id.manifest.json");
    let out = passport(&a.home)
        .current_dir(&cwd)
        .args([
            "backup",
            "identity",
            "--recipient",
            &recipient,
            "-o",
            "-",
            "--manifest",
        ])
        .arg(&manifest)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let armor = out.stdout;
    assert!(armor.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----"));
    // Verified from stdin (manifest named), decrypted with the age identity from stdin.
    let mut c = bare();
    c.args(["backup", "verify", "-"]);
    expect_error_line(&mut run(c, &armor), 2, &["--manifest FILE"]);
    let mut c = bare();
    c.args(["backup", "verify", "-", "--manifest"])
        .arg(&manifest);
    assert_eq!(json_ok(run(c, &armor))["npub"], a.npub.as_str());
    let armored_file = root.join("id.age");
    std::fs::write(&armored_file, &armor).unwrap();
    let mut c = bare();
    c.args(["backup", "verify"])
        .arg(&armored_file)
        .arg("--manifest")
        .arg(&manifest)
        .args(["--identity", "-"]);
    let v = json_ok(run(c, &std::fs::read(&key).unwrap()));
    assert_eq!(v["decrypted"], true);

    // A group file from stdin.
    let gf = std::fs::read(
        a.home
            .join("groups")
            .join(npub_hex(&group))
            .join("group.json"),
    )
    .unwrap();
    let c3 = util::make_member(root, "coordinator");
    let mut c = passport(&c3.home);
    c.args(["group", "import", "-"]);
    json_ok(run(c, &gf));

    // A passphrase from stdin, for init and for a command that unlocks.
    let ph = root.join("ph");
    let mut c = bare();
    c.arg("--home")
        .arg(&ph)
        .args(["--passphrase-file", "-", "init"]);
    json_ok(run(c, b"read from stdin\n"));
    let mut c = bare();
    c.arg("--home")
        .arg(&ph)
        .args([
            "--passphrase-file",
            "-",
            "backup",
            "identity",
            "--recipient",
            &recipient,
            "-o",
        ])
        .arg(root.join("ph.age"));
    json_ok(run(c, b"read from stdin\n"));
    let mut c = bare();
    c.arg("--home")
        .arg(&ph)
        .args([
            "--passphrase-file",
            "-",
            "backup",
            "identity",
            "--recipient",
            &recipient,
            "-o",
        ])
        .arg(root.join("ph2.age"));
    expect_error_line(&mut run(c, b"not it\n"), 6, &["wrong passphrase"]);
    // Two secrets cannot both come from stdin: the second `-` is named, not read empty.
    let mut c = bare();
    c.arg("--home")
        .arg(&ph)
        .args(["--passphrase-file", "-", "backup", "identity"])
        .args(["--backup-passphrase-file", "-", "-o"])
        .arg(root.join("never.age"));
    expect_error_line(
        &mut run(c, b"read from stdin\n"),
        6,
        &["already used by another argument"],
    );
    assert!(!root.join("never.age").exists());

    assert!(
        std::fs::read_dir(&cwd).unwrap().next().is_none(),
        "a `-` argument wrote into the working directory"
    );
}
