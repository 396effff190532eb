//! Keystore cost per token kind: one signature share whose key package and nonce are
//! unsealed from the keystore (the nonce consumed durably each time), and seal+unseal
//! round trips, for an age file keystore and for tokens: SoftHSM2 opened directly
//! (format v2, and format v1's on-token AES-GCM for comparison), SoftHSM2 through
//! `p11-kit-client.so` and a `p11-kit server` socket, and a software TPM 2.0
//! (`scripts/swtpm.sh`).
//!
//! Groups: `sign_share/<kind>`, `seal_unseal/<kind>` with kind = file, softhsm,
//! softhsm_v1, p11kit_socket, tpm2. A kind whose parts are not installed is skipped with
//! a message. Every process the bench starts is stopped when it ends.

// Test and bench harness code: an unwrap that fails is a failed run.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use rand::rngs::OsRng;

use passport::ceremony::frost::keys::KeyPackage;
use passport::ceremony::frost::round1::SigningNonces;
use passport::ceremony::{dealer, signing, Member, Roster};
use passport::hsm::seal::Pkcs11Sealer;
use passport::hsm::{token, TokenSpec, TokenUri};
use passport::keystore::{file::AgeSealer, Keystore, Sealer};
use passport::ops::hsm::InitOptions;

const PIN: &str = "123456";

fn pin() -> passport::hsm::PinSource {
    Box::new(|| Ok(zeroize::Zeroizing::new(PIN.to_owned())))
}

/// A SoftHSM2 token directory (set as `SOFTHSM2_CONF` for this process).
fn softhsm_conf(dir: &Path) -> Option<(PathBuf, PathBuf)> {
    let module = token::find_softhsm()?;
    std::fs::create_dir_all(dir.join("tokens")).unwrap();
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            dir.join("tokens").display()
        ),
    )
    .unwrap();
    std::env::set_var("SOFTHSM2_CONF", &conf);
    Some((module, conf))
}

/// A spec for token `label` of `module`, with passport keys made by `hsm init`.
fn initialized(module: &Path, label: &str, opts: InitOptions) -> TokenSpec {
    let spec = TokenSpec {
        module: module.to_path_buf(),
        uri: TokenUri::parse(&format!("pkcs11:token={label}")).unwrap(),
    };
    passport::ops::hsm::init(&spec, &pin(), None, opts).unwrap();
    spec
}

/// What the bench started; stopped on drop.
#[derive(Default)]
struct Started {
    p11kit: Option<std::process::Child>,
    tpm_dir: Option<PathBuf>,
}

impl Drop for Started {
    fn drop(&mut self) {
        if let Some(c) = &mut self.p11kit {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", c.id())])
                .status();
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(d) = &self.tpm_dir {
            let _ = std::process::Command::new("bash")
                .arg(swtpm_script())
                .arg("stop")
                .arg(d)
                .output();
        }
    }
}

fn swtpm_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/swtpm.sh")
}

/// `p11-kit server` for token `label`; sets `P11_KIT_SERVER_ADDRESS` for this process.
fn p11kit_server(module: &Path, label: &str, dir: &Path, started: &mut Started) -> Option<()> {
    let run = dir.join("run");
    std::fs::create_dir_all(&run).ok()?;
    let mut cmd = std::process::Command::new("p11-kit");
    cmd.args(["server", "-f", "--provider"])
        .arg(module)
        .arg(format!("pkcs11:token={label}"))
        .env("XDG_RUNTIME_DIR", &run)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd.spawn().ok()?;
    let mut out = std::io::BufReader::new(child.stdout.take()?);
    started.p11kit = Some(child);
    let mut line = String::new();
    while out.read_line(&mut line).ok()? > 0 {
        if let Some(rest) = line.trim().strip_prefix("P11_KIT_SERVER_ADDRESS=") {
            let addr = rest.split(';').next()?.to_owned();
            std::env::set_var("P11_KIT_SERVER_ADDRESS", addr);
            // Keep reading the pipe in the background so the server never blocks on it.
            std::thread::spawn(move || for _ in out.lines() {});
            return Some(());
        }
        line.clear();
    }
    None
}

fn p11kit_client() -> Option<PathBuf> {
    [
        "/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so",
        "/usr/lib/aarch64-linux-gnu/pkcs11/p11-kit-client.so",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

/// A TPM token `label` with an adopted seal key; sets the TPM variables for this process.
fn tpm(dir: &Path, label: &str, started: &mut Started) -> Option<TokenSpec> {
    let out = std::process::Command::new("bash")
        .arg(swtpm_script())
        .arg("start")
        .arg(dir)
        .arg(label)
        .output()
        .ok()?;
    started.tpm_dir = Some(dir.to_path_buf());
    if !out.status.success() {
        eprintln!(
            "swtpm.sh start failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    let mut module = None;
    for l in String::from_utf8_lossy(&out.stdout).lines() {
        let Some((k, v)) = l.strip_prefix("export ").and_then(|kv| kv.split_once('=')) else {
            continue;
        };
        let v = v.trim_matches('\'');
        if k == "PASSPORT_PKCS11_MODULE" {
            module = Some(PathBuf::from(v));
        } else if !k.starts_with("PASSPORT_") {
            std::env::set_var(k, v);
        }
    }
    let adopted = std::process::Command::new("bash")
        .arg(swtpm_script())
        .arg("adopt")
        .arg(dir)
        .args([label, "passport-kdk", "aes256-encrypt"])
        .output()
        .ok()?;
    if !adopted.status.success() {
        return None;
    }
    Some(initialized(&module?, label, InitOptions::default()))
}

fn hsm_sealer(spec: &TokenSpec) -> Box<dyn Sealer> {
    Box::new(Pkcs11Sealer::new(spec.clone(), pin(), None))
}

fn group() -> (Roster, KeyPackage, KeyPackage) {
    let members = (1..=3)
        .map(|i| Member {
            name: format!("m{i}"),
            npub: nostr::Keys::generate().public_key(),
        })
        .collect();
    let roster = Roster::new("bench", 2, members, None, &mut OsRng).unwrap();
    let dealt = dealer::deal(&roster, None, &mut OsRng).unwrap();
    let key = |s| KeyPackage::try_from(dealt.shares[&s].clone()).unwrap();
    (roster, key(1), key(2))
}

/// Unseal share + nonce, consume the nonce durably, sign: the keystore-bound part of
/// `passport sign share`.
fn bench_sign_share(c: &mut Criterion, name: &str, ks: &Keystore) {
    let (roster, key1, key2) = group();
    let bytes = zeroize::Zeroizing::new(key1.serialize().unwrap());
    ks.put_bound(
        "shares/bench.1",
        "group=bench;member=1;t=2;n=3",
        &bytes,
        true,
    )
    .unwrap();
    let counter = AtomicU64::new(0);
    let mut g = c.benchmark_group("sign_share");
    g.sample_size(20)
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1));
    g.bench_function(name, |b| {
        b.iter_batched(
            || {
                let (n1, c1) = signing::commit(&key1, &mut OsRng);
                let (_, c2) = signing::commit(&key2, &mut OsRng);
                let id = counter.fetch_add(1, Ordering::Relaxed);
                let nonce_name = format!("nonces/bench.1/{id}");
                ks.put(&nonce_name, &n1.serialize().unwrap(), true).unwrap();
                let commitments = [(1, c1), (2, c2)].into_iter().collect();
                (
                    nonce_name,
                    signing::signing_package(&roster, &commitments, &[7u8; 32]).unwrap(),
                )
            },
            |(nonce_name, package)| {
                let share = ks
                    .get_bound("shares/bench.1", "group=bench;member=1;t=2;n=3")
                    .unwrap();
                let key = KeyPackage::deserialize(&share).unwrap();
                let nonces = SigningNonces::deserialize(&ks.get(&nonce_name).unwrap()).unwrap();
                ks.consume(&nonce_name).unwrap();
                black_box(signing::sign(&package, &nonces, &key).unwrap())
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn bench_seal_unseal(c: &mut Criterion, name: &str, sealer: &dyn Sealer) {
    let secret = [42u8; 200];
    let mut g = c.benchmark_group("seal_unseal");
    g.sample_size(20)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    g.bench_function(name, |b| {
        b.iter(|| {
            let blob = sealer.seal("bench", "ctx", &secret).unwrap();
            black_box(sealer.unseal("bench", "ctx", &blob).unwrap())
        })
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let file_ks = Keystore::new(
        tmp.path().join("file"),
        Box::new(AgeSealer::unlocked(age::x25519::Identity::generate())),
    );
    bench_sign_share(c, "file", &file_ks);
    bench_seal_unseal(
        c,
        "file",
        &AgeSealer::unlocked(age::x25519::Identity::generate()),
    );
    let mut started = Started::default();
    let mut kinds: Vec<(&str, TokenSpec)> = vec![];
    match softhsm_conf(&tmp.path().join("softhsm")) {
        Some((module, _)) => {
            for label in ["direct", "legacy", "remote"] {
                token::create_token(&module, label, "87654321", PIN).unwrap();
            }
            kinds.push((
                "softhsm",
                initialized(&module, "direct", InitOptions::default()),
            ));
            let legacy = InitOptions {
                legacy: true,
                ..Default::default()
            };
            kinds.push(("softhsm_v1", initialized(&module, "legacy", legacy)));
            let served = p11kit_client().and_then(|client| {
                // Keys are made directly: the server must be the token's only user
                // while it serves, so it starts afterwards.
                initialized(&module, "remote", InitOptions::default());
                p11kit_server(&module, "remote", tmp.path(), &mut started)?;
                Some(TokenSpec {
                    module: client,
                    uri: TokenUri::parse("pkcs11:token=remote").unwrap(),
                })
            });
            match served {
                Some(spec) => kinds.push(("p11kit_socket", spec)),
                None => eprintln!("p11-kit server/client not installed: skipping p11kit_socket"),
            }
        }
        None => eprintln!(
            "SoftHSM2 not installed: skipping the SoftHSM2 benches (apt-get install softhsm2)"
        ),
    }
    match tpm(&tmp.path().join("tpm"), "bench", &mut started) {
        Some(spec) => kinds.push(("tpm2", spec)),
        None => eprintln!("software TPM not available: skipping tpm2 (scripts/test.sh installs swtpm, tpm2-abrmd, tpm2-pkcs11)"),
    }
    for (name, spec) in &kinds {
        let ks = Keystore::new(tmp.path().join(format!("ks-{name}")), hsm_sealer(spec));
        bench_sign_share(c, name, &ks);
        bench_seal_unseal(c, name, hsm_sealer(spec).as_ref());
    }
    drop(started);
}

criterion_group!(hsm, benches);
criterion_main!(hsm);
