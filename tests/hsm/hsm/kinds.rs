//! One scenario, every token kind. The same flow runs on SoftHSM2 opened directly,
//! SoftHSM2 reached through `p11-kit-client.so` (a `p11-kit server` socket, the
//! `|p11-kit remote` pipe, and `|ssh … p11-kit remote` through a real sshd on a
//! loopback port), and a software TPM 2.0 (swtpm + tpm2-abrmd + tpm2-pkcs11):
//! `hsm init`, `init --keystore`, a 2-of-3 DKG among three token homes, signing (every
//! event checked by libsecp256k1), backup → restore into a token, `hsm migrate` file →
//! token → a token of another kind, `hsm attest` + `verify-attestation` (a tampered
//! statement and a wrong challenge refused) and `audit verify`.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::*;

/// How the members of one scenario reach their tokens.
enum Kind {
    Direct,
    Socket,
    Pipe,
    Ssh,
    Tpm,
}

/// The running parts of one scenario; dropping it stops them.
struct Bench {
    /// The tokens' own directory (SoftHSM2 rows) — used to check key objects.
    softhsm: Hsm,
    /// How passport reaches the tokens in this row.
    env: Hsm,
    /// A token of another kind, for `hsm migrate` across kinds.
    other: Hsm,
    other_label: &'static str,
    /// The same tokens through another transport (direct ↔ remote), if this row has one.
    across: Option<Hsm>,
    _server: Option<P11KitServer>,
    _sshd: Option<Sshd>,
    _tpm: Option<Tpm>,
}

const LABELS: [&str; 4] = ["alpha", "bravo", "charlie", "delta"];

impl Bench {
    fn new(kind: &Kind, root: &Path) -> Bench {
        let softhsm = Hsm::softhsm(root);
        for l in LABELS {
            softhsm.add_token(l);
        }
        let client = || Hsm {
            module: p11kit_client(),
            vars: vec![],
            root: root.to_path_buf(),
            tokendir: None,
            conf: None,
        };
        let remote_cmd = format!(
            "env SOFTHSM2_CONF={} p11-kit remote {}",
            softhsm.conf.as_ref().unwrap().display(),
            softhsm.module.display()
        );
        let (mut server, mut sshd, mut tpm) = (None, None, None);
        let env = match kind {
            Kind::Direct => softhsm.clone_env(),
            Kind::Socket => {
                let s =
                    P11KitServer::serve(&softhsm, root, "pkcs11:manufacturer=SoftHSM%20project");
                let env = s.client();
                server = Some(s);
                env
            }
            Kind::Pipe => {
                let mut env = client();
                env.vars
                    .push(("P11_KIT_SERVER_ADDRESS".into(), format!("|{remote_cmd}")));
                env
            }
            Kind::Ssh => {
                let d = Sshd::start(root);
                let mut env = client();
                env.vars.push((
                    "P11_KIT_SERVER_ADDRESS".into(),
                    format!("|{} {remote_cmd}", d.ssh_command()),
                ));
                sshd = Some(d);
                env
            }
            Kind::Tpm => {
                let t = Tpm::start(&root.join("tpm"), &LABELS);
                let env = t.env(root);
                tpm = Some(t);
                env
            }
        };
        // Migration goes to the TPM from SoftHSM2 rows, and to SoftHSM2 from the TPM row.
        let (other, other_label) = match kind {
            Kind::Tpm => (softhsm.clone_env(), "delta"),
            _ => {
                let t = Tpm::start(&root.join("tpm-other"), &["other"]);
                let env = t.env(root);
                tpm = Some(t);
                (env, "other")
            }
        };
        let across = match kind {
            Kind::Direct => {
                let mut pipe = client();
                pipe.vars
                    .push(("P11_KIT_SERVER_ADDRESS".into(), format!("|{remote_cmd}")));
                Some(pipe)
            }
            Kind::Socket | Kind::Pipe | Kind::Ssh => Some(softhsm.clone_env()),
            Kind::Tpm => None,
        };
        Bench {
            softhsm,
            env,
            other,
            other_label,
            across,
            _server: server,
            _sshd: sshd,
            _tpm: tpm,
        }
    }
}

impl Hsm {
    /// Another handle on the same tokens and environment.
    fn clone_env(&self) -> Hsm {
        Hsm {
            module: self.module.clone(),
            vars: self.vars.clone(),
            root: self.root.clone(),
            tokendir: self.tokendir.clone(),
            conf: self.conf.clone(),
        }
    }

    /// This environment plus another's variables (a process that reaches both).
    fn with(&self, other: &Hsm) -> Hsm {
        let mut h = self.clone_env();
        h.vars.extend(other.vars.iter().cloned());
        h
    }
}

/// `hsm init` for a token; on a TPM, which cannot generate the seal key through
/// PKCS#11, the first attempt prints the `tpm2_ptool` command and changes nothing; the
/// test runs that command and `hsm init` then adopts the key.
fn init_token(env: &Hsm, tpm: Option<&Tpm>, label: &str) -> Value {
    if let Some(t) = tpm {
        let mut c = env.bare();
        c.args(["hsm", "init", "--token", &format!("pkcs11:token={label}")]);
        let line = util::expect_error_line(
            &mut c,
            1,
            &[
                &format!("token {label} cannot generate passport's seal key through PKCS#11"),
                "tpm2_create",
                "tpm2_ptool link",
                &format!("--label={label}"),
                "--key-label=passport-kdk",
            ],
        );
        assert!(!line.contains(PIN), "the PIN is never printed: {line}");
        t.adopt(label);
        let v = env.init_token(label);
        assert_eq!(v["adopted"], true, "{v}");
        return v;
    }
    let v = env.init_token(label);
    assert_eq!(v["adopted"], false, "{v}");
    v
}

fn token_home(env: &Hsm, root: &Path, name: &str, label: &str) -> Member {
    let home = root.join(name);
    let mut c = env.home(&home);
    c.args(["init", "--keystore", &format!("pkcs11:token={label}")]);
    let v = json_ok(c);
    Member {
        name: name.into(),
        home,
        npub: v["npub"].as_str().unwrap().into(),
    }
}

fn scenario(kind: Kind) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let b = Bench::new(&kind, root);
    let env = &b.env;
    let tpm = match kind {
        Kind::Tpm => b._tpm.as_ref(),
        _ => None,
    };

    // hsm list: every token, and the scheme each would use.
    let list = env.list();
    let want_scheme = "aes-ecb-rfc8452";
    for l in LABELS {
        assert_eq!(listed(&list, l)["scheme"], want_scheme, "{l}: {list}");
        assert_eq!(listed(&list, l)["passport_keys"], false);
    }

    // Three token homes, each with its own token.
    let mut members = vec![];
    let mut inits = vec![];
    for (name, label) in [("ann", "alpha"), ("ben", "bravo"), ("cat", "charlie")] {
        let init = init_token(env, tpm, label);
        assert_eq!(init["scheme"], want_scheme);
        inits.push(init);
        members.push(token_home(env, root, name, label));
    }
    let ms: Vec<&Member> = members.iter().collect();
    let roster = write_roster(root, "roster.json", 2, &ms, None);
    let group = dkg(env, &ms, &roster, &root.join("dkg"));
    for (m, init) in members.iter().zip(&inits) {
        let cfg = config(&m.home);
        assert_eq!(cfg["keystore"]["scheme"], want_scheme);
        assert_eq!(cfg["keystore"]["seal_key_id"], init["seal_key_id"]);
        assert_sealed_by_token(&m.home, init["token"]["serial"].as_str().unwrap());
    }
    sign_rounds(
        env,
        ms[0],
        &[ms[0], ms[1]],
        &group,
        &root.join("s1"),
        "first",
    );
    sign_rounds(
        env,
        ms[2],
        &[ms[1], ms[2]],
        &group,
        &root.join("s2"),
        "second",
    );

    // Backup of ann's share, lost from her home, restored into her token.
    let identity = age::x25519::Identity::generate();
    let id = root.join("backup.agekey");
    {
        use age::secrecy::ExposeSecret;
        std::fs::write(&id, format!("{}\n", identity.to_string().expose_secret())).unwrap();
    }
    let recipient = identity.to_public().to_string();
    let backup = root.join("ann.age");
    let mut c = env.home(&ms[0].home);
    c.args(["backup", "create", "--group", &group, "--member", "ann"])
        .args(["--recipient", &recipient, "-o"])
        .arg(&backup);
    json_ok(c);
    let gid = npub_hex(&group);
    let sealed = ms[0].home.join(format!("keystore/shares/{gid}.1.sealed"));
    let state = ms[0].home.join(format!("groups/{gid}/state.json"));
    std::fs::remove_file(&sealed).unwrap();
    let mut st: Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    st["seats"].as_array_mut().unwrap().clear();
    std::fs::write(&state, serde_json::to_vec(&st).unwrap()).unwrap();
    let mut c = env.home(&ms[0].home);
    c.args(["backup", "restore"])
        .arg(&backup)
        .arg("--identity")
        .arg(&id);
    json_ok(c);
    let blob: Value = serde_json::from_slice(&std::fs::read(&sealed).unwrap()).unwrap();
    assert_eq!(blob["v"], 2);
    assert_eq!(blob["key_id"], inits[0]["seal_key_id"]);
    sign_rounds(
        env,
        ms[0],
        &[ms[0], ms[2]],
        &group,
        &root.join("s3"),
        "restored",
    );

    // A file home moves into this kind's fourth token, then into a token of another
    // kind; each move is checked by signing.
    let dana = file_member(env, root, "dana");
    let roster2 = write_roster(root, "roster2.json", 2, &[&dana, ms[1]], None);
    let group2 = dkg(env, &[&dana, ms[1]], &roster2, &root.join("dkg2"));
    let init_d = init_token(env, tpm, "delta");
    let mut c = env.home(&dana.home);
    c.args(["hsm", "migrate", "--to", "pkcs11:token=delta"]);
    assert!(json_ok(c)["secrets"].as_u64().unwrap() >= 2);
    assert_eq!(
        config(&dana.home)["keystore"]["seal_key_id"],
        init_d["seal_key_id"]
    );
    sign_rounds(
        env,
        &dana,
        &[&dana, ms[1]],
        &group2,
        &root.join("s4"),
        "moved in",
    );
    let other_tpm = match kind {
        Kind::Tpm => None,
        _ => b._tpm.as_ref(),
    };
    let init_o = init_token(&b.other, other_tpm, b.other_label);
    let both = env.with(&b.other);
    let mut c = both.home(&dana.home);
    c.args(["hsm", "migrate", "--to"]).arg(format!(
        "pkcs11:token={}?module-path={}",
        b.other_label,
        b.other.module.display()
    ));
    json_ok(c);
    let cfg = config(&dana.home);
    assert_eq!(cfg["keystore"]["seal_key_id"], init_o["seal_key_id"]);
    assert_eq!(
        cfg["keystore"]["module"],
        b.other.module.display().to_string()
    );
    // Each home now needs its own module: none is forced, each uses its config's.
    let mut moved = b.other.with(env);
    moved.module = PathBuf::new();
    sign_rounds(
        &moved,
        &dana,
        &[&dana, ms[1]],
        &group2,
        &root.join("s5"),
        "moved on",
    );

    // Attestation, and what a verifier refuses.
    let challenge = fresh_challenge();
    let file = root.join("attestation.json");
    let st = attest(env, ms[1], &challenge, &file);
    assert_eq!(st["statement"]["seal_key"]["scheme"], want_scheme);
    assert_eq!(st["statement"]["seal_key"]["label"], "passport-kdk");
    let v = verify_attestation(
        &file,
        &challenge,
        &["--expect-group", &group, "--expect-member", &ms[1].npub],
    );
    assert_eq!(v["shares"], 2, "ben holds a share of both groups");
    let mut c = util::bare();
    c.args(["hsm", "verify-attestation"])
        .arg(&file)
        .args(["--challenge", &fresh_challenge()]);
    util::expect_error_line(&mut c, 3, &["may be a replay"]);
    let mut forged: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    forged["statement"]["seal_key"]["attributes"]["CKA_EXTRACTABLE"] = Value::Bool(true);
    let forged_file = root.join("forged.json");
    std::fs::write(&forged_file, serde_json::to_vec(&forged).unwrap()).unwrap();
    let mut c = util::bare();
    c.args(["hsm", "verify-attestation"])
        .arg(&forged_file)
        .args(["--challenge", &challenge]);
    util::expect_error_line(&mut c, 3, &["does not verify"]);

    // A blob sealed by the token of the other kind, copied into ann's home: refused as
    // foreign, naming the token that sealed it; nothing changes.
    let ann_id = ms[0].home.join("keystore/identity.sealed");
    let ann_orig = std::fs::read(&ann_id).unwrap();
    std::fs::copy(dana.home.join("keystore/identity.sealed"), &ann_id).unwrap();
    let mut c = env.home(&ms[0].home);
    c.args(["hsm", "attest", "--challenge", &fresh_challenge()]);
    let objects = b.softhsm.objects();
    util::expect_error_line(
        &mut c,
        3,
        &[&format!(
            "sealed secret identity was sealed by token {}",
            b.other_label
        )],
    );
    assert!(objects == b.softhsm.objects());
    std::fs::write(&ann_id, ann_orig).unwrap();

    // Homes sealed through one transport open through the other (direct ↔ remote).
    if let Some(across) = &b.across {
        sign_rounds(
            across,
            ms[1],
            &[ms[1], ms[2]],
            &group,
            &root.join("s6"),
            "across",
        );
    }

    for m in &ms {
        let mut c = env.home(&m.home);
        c.args(["audit", "verify"]);
        assert!(json_ok(c)["entries"].as_u64().unwrap() > 3);
    }
    drop(b.softhsm);
}

#[test]
fn every_kind_softhsm_direct() {
    scenario(Kind::Direct);
}

#[test]
fn every_kind_softhsm_over_p11_kit_socket() {
    scenario(Kind::Socket);
}

#[test]
fn every_kind_softhsm_over_p11_kit_pipe() {
    scenario(Kind::Pipe);
}

#[test]
fn every_kind_softhsm_over_ssh() {
    scenario(Kind::Ssh);
}

#[test]
fn every_kind_tpm2() {
    scenario(Kind::Tpm);
}

// --- sshd on a loopback port ------------------------------------------------------------

/// An OpenSSH server on 127.0.0.1 with its own host key and one authorized client key,
/// killed on drop.
pub struct Sshd {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Sshd {
    pub fn start(root: &Path) -> Sshd {
        let dir = root.join("sshd");
        std::fs::create_dir_all(&dir).unwrap();
        for key in ["host_key", "client_key"] {
            let ok = std::process::Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(dir.join(key))
                .status()
                .expect("ssh-keygen runs (Debian package openssh-client)");
            assert!(ok.success(), "ssh-keygen {key}");
        }
        std::fs::copy(dir.join("client_key.pub"), dir.join("authorized_keys")).unwrap();
        // sshd's privilege-separation directory (Debian's package makes it at boot).
        let _ = std::fs::create_dir_all("/run/sshd");
        let sshd = ["/usr/sbin/sshd", "/usr/bin/sshd"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("sshd is not installed (Debian package openssh-server)");
        // A free port can be taken by another process before sshd binds it: retry.
        for _ in 0..10 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let config = dir.join("sshd_config");
            std::fs::write(
                &config,
                format!(
                    "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nAuthorizedKeysFile {d}/authorized_keys\nPidFile {d}/sshd.pid\nStrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nPermitRootLogin prohibit-password\nLogLevel ERROR\n",
                    d = dir.display()
                ),
            )
            .unwrap();
            let log = std::fs::File::create(dir.join("sshd.log")).unwrap();
            let mut child = std::process::Command::new(sshd)
                .args(["-D", "-e", "-f"])
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("sshd starts");
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    std::fs::write(
                        dir.join("known_hosts"),
                        format!(
                            "[127.0.0.1]:{port} {}",
                            std::fs::read_to_string(dir.join("host_key.pub")).unwrap()
                        ),
                    )
                    .unwrap();
                    return Sshd { child, port, dir };
                }
                if child.try_wait().unwrap().is_some() || Instant::now() > deadline {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!(
            "sshd did not listen on a loopback port within 30 s: {}",
            std::fs::read_to_string(dir.join("sshd.log")).unwrap_or_default()
        );
    }

    /// The client command up to the remote command: key, host key pinned, no prompts.
    pub fn ssh_command(&self) -> String {
        let user = std::env::var("USER")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| {
                String::from_utf8(
                    std::process::Command::new("id")
                        .arg("-un")
                        .output()
                        .unwrap()
                        .stdout,
                )
                .unwrap()
                .trim()
                .to_owned()
            });
        format!(
            "ssh -p {} -i {d}/client_key -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile={d}/known_hosts -o LogLevel=ERROR {user}@127.0.0.1",
            self.port,
            d = self.dir.display()
        )
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// --- a software TPM 2.0 ------------------------------------------------------------------

/// A swtpm + tpm2-abrmd + tpm2-pkcs11 token store brought up by `scripts/swtpm.sh`,
/// stopped on drop.
pub struct Tpm {
    dir: PathBuf,
    exports: Vec<(String, String)>,
}

fn swtpm_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/swtpm.sh")
}

impl Tpm {
    pub fn start(dir: &Path, labels: &[&str]) -> Tpm {
        let out = std::process::Command::new("bash")
            .arg(swtpm_script())
            .arg("start")
            .arg(dir)
            .args(labels)
            .stdin(Stdio::null())
            .output()
            .expect("bash runs scripts/swtpm.sh");
        let tpm = Tpm {
            dir: dir.to_path_buf(),
            exports: parse_exports(&String::from_utf8_lossy(&out.stdout)),
        };
        assert!(
            out.status.success(),
            "scripts/swtpm.sh start failed (scripts/test.sh installs swtpm, tpm2-abrmd and tpm2-pkcs11): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        tpm
    }

    fn var(&self, k: &str) -> String {
        self.exports
            .iter()
            .find(|(n, _)| n == k)
            .unwrap_or_else(|| panic!("scripts/swtpm.sh printed no {k}"))
            .1
            .clone()
    }

    /// How passport reaches this TPM's tokens.
    pub fn env(&self, root: &Path) -> Hsm {
        Hsm {
            module: PathBuf::from(self.var("PASSPORT_PKCS11_MODULE")),
            vars: self
                .exports
                .iter()
                .filter(|(k, _)| !k.starts_with("PASSPORT_"))
                .cloned()
                .collect(),
            root: root.to_path_buf(),
            tokendir: None,
            conf: None,
        }
    }

    /// Makes the seal key with `tpm2_ptool`, as `hsm init` told the operator to.
    pub fn adopt(&self, label: &str) {
        let out = std::process::Command::new("bash")
            .arg(swtpm_script())
            .args(["adopt"])
            .arg(&self.dir)
            .args([label, "passport-kdk", "aes256-encrypt"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "scripts/swtpm.sh adopt {label}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Tpm {
    fn drop(&mut self) {
        let _ = std::process::Command::new("bash")
            .arg(swtpm_script())
            .arg("stop")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .output();
    }
}

/// `export K='V'` lines.
fn parse_exports(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("export "))
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| {
            (
                k.to_owned(),
                v.trim_matches(|c| c == '\'' || c == '"').to_owned(),
            )
        })
        .collect()
}

// --- bad input on the new kinds ------------------------------------------------------------

/// On a TPM: a seal key made the usual way (`tpm2_ptool addkey`, which can also
/// decrypt) is refused before any key is added beside it; a URI that names only the
/// serial every tpm2-pkcs11 token shares is ambiguous and refused.
#[test]
fn tpm_refuses_unsafe_adopted_keys_and_serial_only_uris() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let tpm = Tpm::start(&root.join("tpm"), &["plain", "spare"]);
    let env = tpm.env(root);
    let out = std::process::Command::new("bash")
        .arg(swtpm_script())
        .arg("adopt")
        .arg(&tpm.dir)
        .args(["plain", "passport-kdk", "aes256"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut c = env.bare();
    c.args(["hsm", "init", "--token", "pkcs11:token=plain"]);
    util::expect_error_line(
        &mut c,
        3,
        &[
            "seal key on token plain has CKA_DECRYPT = true, passport requires false",
            "refusing",
        ],
    );
    let list = env.list();
    assert_eq!(listed(&list, "plain")["passport_keys"], false, "{list}");
    assert_eq!(listed(&list, "plain")["serial"], "0000000000000000");
    assert_eq!(listed(&list, "spare")["serial"], "0000000000000000");
    assert_eq!(listed(&list, "plain")["model"], "SW   TPM", "NULs trimmed");

    let mut c = env.bare();
    c.args(["hsm", "init", "--token", "pkcs11:serial=0000000000000000"]);
    util::expect_error_line(
        &mut c,
        1,
        &[
            "matches several tokens",
            "token=plain",
            "token=spare",
            "a label no other token has",
        ],
    );
    let home = root.join("h");
    let mut c = env.home(&home);
    c.args(["init", "--keystore", "pkcs11:serial=0000000000000000"]);
    util::expect_error_line(&mut c, 1, &["matches several tokens"]);
    assert!(!home.exists());
}

/// A remote token whose server goes away in the middle of `sign commit --count`: the
/// command fails naming the connection, every blob left in the home is whole, and after
/// the server is back the home signs again (nonces sealed before the failure are at most
/// lost, never used twice: each is bound to a one-time token object).
#[test]
fn a_remote_server_that_goes_away_mid_operation_leaves_no_half_written_blob() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let softhsm = Hsm::softhsm(root);
    for l in ["alpha", "bravo"] {
        softhsm.add_token(l);
    }
    let uri = "pkcs11:manufacturer=SoftHSM%20project";
    let server = P11KitServer::serve(&softhsm, root, uri);
    let env = server.client();
    let mut ms = vec![];
    for (name, label) in [("ann", "alpha"), ("ben", "bravo")] {
        init_token(&env, None, label);
        ms.push(token_home(&env, root, name, label));
    }
    let refs: Vec<&Member> = ms.iter().collect();
    let roster = write_roster(root, "roster.json", 2, &refs, None);
    let group = dkg(&env, &refs, &roster, &root.join("dkg"));

    let nonces = ms[0].home.join("keystore/nonces");
    let before = count_ext(&ms[0].home, "sealed");
    let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("passport"));
    c.env("HOME", root)
        .env("PASSPORT_PKCS11_PIN", PIN)
        .env("PASSPORT_PKCS11_MODULE", &env.module)
        .env_remove("PASSPORT_PASSPHRASE");
    for (k, v) in &env.vars {
        c.env(k, v);
    }
    c.arg("--home")
        .arg(&ms[0].home)
        .args([
            "--json", "sign", "commit", "--count", "200", "--group", &group, "--out",
        ])
        .arg(root.join("c"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = c.spawn().unwrap();
    // Wait for the first sealed nonce: the command is mid-way through its token work.
    let deadline = Instant::now() + Duration::from_secs(60);
    while count_ext(&nonces, "sealed") == 0 {
        assert!(Instant::now() < deadline, "no nonce was sealed within 60 s");
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(server);
    let out = child.wait_with_output().unwrap();
    assert!(
        !out.status.success(),
        "the commit cannot finish without its token"
    );
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("token alpha") && !text.contains("tamper"),
        "names the token, not tampering: {text}"
    );
    // Whatever was written is whole: every blob parses, no temporary file is left.
    for (rel, bytes) in snapshot(&ms[0].home) {
        let name = rel.display().to_string();
        assert!(!name.contains(".tmp"), "a temporary file was left: {name}");
        if rel.extension().is_some_and(|e| e == "sealed") {
            let blob: Value = serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("{name} is not a whole blob: {e}"));
            assert_eq!(blob["v"], 2, "{name}");
        }
    }
    assert!(count_ext(&ms[0].home, "sealed") >= before);

    // The server is back (a new socket): the home signs again.
    let server = P11KitServer::serve(&softhsm, root, uri);
    let env = server.client();
    sign_rounds(
        &env,
        refs[0],
        &refs,
        &group,
        &root.join("s"),
        "after the outage",
    );
}

/// SoftHSM2 restricted to a mechanism allow-list (`slots.mechanisms`) stands in for
/// tokens that offer little: one with HMAC but no AES-ECB seals with the HMAC scheme
/// end to end; one with neither is refused by `hsm init` naming what is missing, before
/// any key is made.
#[test]
fn tokens_with_few_mechanisms_pick_hmac_or_say_what_is_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let limited = |name: &str, mechanisms: &str| {
        let hsm = Hsm::softhsm(&root.join(name));
        let conf = hsm.conf.clone().unwrap();
        let mut text = std::fs::read_to_string(&conf).unwrap();
        text.push_str(&format!("slots.mechanisms = {mechanisms}\n"));
        std::fs::write(&conf, text).unwrap();
        hsm
    };
    let ec = "CKM_EC_KEY_PAIR_GEN,CKM_ECDSA";

    // HMAC only: the HMAC scheme, sign-only key, a 2-of-2 DKG and a signature.
    let hmac = limited(
        "hmac",
        &format!("{ec},CKM_GENERIC_SECRET_KEY_GEN,CKM_SHA256_HMAC"),
    );
    hmac.add_token("mac");
    let t = listed(&hmac.list(), "mac").clone();
    assert_eq!(t["scheme"], "hmac-sha256-sp800-108", "{t}");
    assert_eq!(t["mechanisms"]["AES_ECB"], false);
    let init = hmac.init_token("mac");
    assert_eq!(init["scheme"], "hmac-sha256-sp800-108");
    let m = token_home(&hmac, root, "mac-home", "mac");
    let other = file_member(&hmac, root, "other");
    let roster = write_roster(root, "roster.json", 2, &[&m, &other], None);
    let group = dkg(&hmac, &[&m, &other], &roster, &root.join("dkg"));
    assert_eq!(
        config(&m.home)["keystore"]["scheme"],
        "hmac-sha256-sp800-108"
    );
    assert_sealed_by_token(&m.home, init["token"]["serial"].as_str().unwrap());
    sign_rounds(&hmac, &m, &[&m, &other], &group, &root.join("s"), "hmac");
    let challenge = fresh_challenge();
    let st = attest(&hmac, &m, &challenge, &root.join("st.json"));
    assert_eq!(
        st["statement"]["seal_key"]["scheme"],
        "hmac-sha256-sp800-108"
    );
    assert_eq!(st["statement"]["seal_key"]["attributes"]["CKA_SIGN"], true);
    assert_eq!(
        st["statement"]["seal_key"]["attributes"]["CKA_VERIFY"],
        false
    );

    // Neither AES-ECB nor HMAC: refused by name, nothing created.
    let none = limited("none", &format!("{ec},CKM_AES_KEY_GEN,CKM_AES_GCM"));
    none.add_token("bare");
    let mut c = none.bare();
    c.args(["hsm", "list"]);
    let out = c.output().unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("seals with: NOTHING (offers neither CKM_AES_ECB nor CKM_SHA256_HMAC)"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut c = none.bare();
    c.args(["hsm", "init", "--token", "pkcs11:token=bare"]);
    fails(
        c,
        2,
        Some(&none),
        &[],
        &[
            "token bare",
            "offers neither CKM_AES_ECB nor CKM_SHA256_HMAC",
            "passport needs one of them to seal",
        ],
    );
    // A forced scheme the token lacks names that mechanism.
    let mut c = none.bare();
    c.args([
        "hsm",
        "init",
        "--scheme",
        "hmac-sha256-sp800-108",
        "--token",
        "pkcs11:token=bare",
    ]);
    fails(c, 2, Some(&none), &[], &["does not offer CKM_SHA256_HMAC"]);
    assert_eq!(listed(&none.list(), "bare")["passport_keys"], false);
}
