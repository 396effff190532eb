//! Keystore cost: one signature share whose key package and nonce are unsealed from an
//! age file keystore vs. a SoftHSM2 token (the nonce consumed durably each time), and
//! seal+unseal round trips per second for both.
//!
//! Groups: `sign_share/{file,hsm}`, `seal_unseal/{file,hsm}`. The HSM benches are
//! skipped (with a message) when SoftHSM2 is not installed.

use std::hint::black_box;
use std::path::Path;
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

const PIN: &str = "123456";

/// A SoftHSM2 token with passport keys, in a fresh directory.
fn softhsm(dir: &Path) -> Option<TokenSpec> {
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
    let info = token::create_token(&module, "bench", "87654321", PIN).unwrap();
    let spec = TokenSpec {
        module,
        uri: TokenUri::parse(&info.uri).unwrap(),
    };
    let pin: passport::hsm::PinSource = Box::new(|| Ok(zeroize::Zeroizing::new(PIN.to_owned())));
    passport::ops::hsm::init(&spec, &pin, None).unwrap();
    Some(spec)
}

fn hsm_sealer(spec: &TokenSpec) -> Box<dyn Sealer> {
    Box::new(Pkcs11Sealer::new(
        spec.clone(),
        Box::new(|| Ok(zeroize::Zeroizing::new(PIN.to_owned()))),
        None,
    ))
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
    match softhsm(&tmp.path().join("softhsm")) {
        Some(spec) => {
            let hsm_ks = Keystore::new(tmp.path().join("hsm"), hsm_sealer(&spec));
            bench_sign_share(c, "hsm", &hsm_ks);
            bench_seal_unseal(c, "hsm", hsm_sealer(&spec).as_ref());
        }
        None => {
            eprintln!("SoftHSM2 not installed: skipping the HSM benches (apt-get install softhsm2)")
        }
    }
}

criterion_group!(hsm, benches);
criterion_main!(hsm);
