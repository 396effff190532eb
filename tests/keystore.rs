//! Keystore properties: single-use consumption under races, blobs bound to their name,
//! passphrase locking.

use std::sync::Arc;

use age::secrecy::SecretString;
use passport::home::{Home, InitUnlock, OpenUnlock};
use passport::keystore::{file::AgeSealer, Error, Keystore};

fn store(dir: &std::path::Path) -> Keystore {
    Keystore::new(
        dir.to_path_buf(),
        Box::new(AgeSealer::unlocked(age::x25519::Identity::generate())),
    )
}

#[test]
fn a_nonce_is_consumed_exactly_once_even_when_raced() {
    let tmp = tempfile::tempdir().unwrap();
    let ks = Arc::new(store(tmp.path()));
    for round in 0..20 {
        let name = format!("nonces/g.1/n{round}");
        ks.put(&name, b"nonce bytes", false).unwrap();
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let ks = ks.clone();
                let name = name.clone();
                std::thread::spawn(move || ks.consume(&name).is_ok())
            })
            .collect();
        let wins = handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|&w| w)
            .count();
        assert_eq!(wins, 1, "exactly one consumer wins");
        assert!(matches!(ks.get(&name), Err(Error::NonceConsumed(_))));
        assert!(matches!(ks.consume(&name), Err(Error::NonceConsumed(_))));
        // The sealed bytes are gone from disk: only a tombstone remains.
        let left = std::fs::read(tmp.path().join(format!("{name}.consumed"))).unwrap();
        assert!(left.starts_with(b"passport-consumed"));
    }
}

#[test]
fn a_sealed_blob_moved_to_another_name_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let ks = store(tmp.path());
    ks.put("shares/a.1", b"share one", false).unwrap();
    ks.put("shares/a.2", b"share two", false).unwrap();
    std::fs::copy(
        tmp.path().join("shares/a.1.sealed"),
        tmp.path().join("shares/a.2.sealed"),
    )
    .unwrap();
    assert!(matches!(ks.get("shares/a.2"), Err(Error::Tampered(_))));
    assert_eq!(&**ks.get("shares/a.1").unwrap(), b"share one");
    assert!(matches!(
        ks.put("shares/a.1", b"x", false),
        Err(Error::Exists { .. })
    ));
}

#[test]
fn passphrase_home_unlocks_only_with_the_right_passphrase() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("home");
    let home = Home::init(
        &root,
        InitUnlock::Passphrase(SecretString::from("correct horse".to_owned())),
    )
    .unwrap();
    let npub = home.public_key();
    drop(home);
    let open = |p: &'static str| {
        Home::open(
            &root,
            OpenUnlock {
                passphrase: Box::new(move || Ok(SecretString::from(p.to_owned()))),
                ..OpenUnlock::none()
            },
        )
        .unwrap()
    };
    let wrong = open("wrong");
    assert_eq!(wrong.public_key(), npub, "public data needs no unlock");
    let err = wrong
        .identity()
        .map(|_| ())
        .expect_err("wrong passphrase fails");
    assert_eq!(err.exit_code(), passport::error::exit::LOCKED);
    assert!(err.to_string().contains("wrong passphrase"), "{err}");
    assert_eq!(open("correct horse").identity().unwrap().public_key(), npub);
    // Keystore files are private.
    use std::os::unix::fs::PermissionsExt;
    for f in [
        "config.json",
        "keystore/master.age",
        "keystore/identity.sealed",
    ] {
        let mode = std::fs::metadata(root.join(f))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{f} is 0600");
    }
}
