//! Shares remembered by a long-running holder (serve's bunker): still read from their
//! sealed file on every use, and round-1 nonces made ahead, each used once.

use crate::util;

use passport::group::Group;
use passport::home::{Home, OpenUnlock};
use passport::keystore::Error;

/// The CI layout's home (two seats of a dealt 2-of-3, age keystore), opened in process.
fn ci_home(tmp: &tempfile::TempDir) -> (util::CiGroup, Home, Group) {
    let g = util::ci_group(tmp.path(), None);
    let home = Home::open(&g.ci.home, OpenUnlock::none()).unwrap();
    let group = home.find_group(&g.group).unwrap();
    (g, home, group)
}

/// A home that remembers its unsealed shares (an age keystore, as serve's bunker uses)
/// still reads the sealed file on every use: a share swapped on disk is refused, a
/// restored one works again, a removed one is gone — never a stale copy from memory.
#[test]
fn a_remembering_home_reads_the_sealed_share_on_every_use() {
    let tmp = tempfile::tempdir().unwrap();
    let (g, mut home, group) = ci_home(&tmp);
    let seats = home.active_seats(&group).unwrap();
    let (a, b) = (seats[0], seats[1]);
    let plain = home.share(&group, a).unwrap();
    assert!(
        home.remember_shares(),
        "an age keystore's key is in memory anyway"
    );
    let file = |s| {
        g.ci.home
            .join("keystore")
            .join(format!("{}.sealed", Home::share_name(&group, s)))
    };
    let first = home.share(&group, a).unwrap();
    assert_eq!(first, plain, "the same share as without remembering");
    assert_eq!(home.share(&group, a).unwrap(), plain, "and from memory");

    // Seat b's sealed share in seat a's file: bound to another seat, refused.
    let kept = std::fs::read(file(a)).unwrap();
    std::fs::copy(file(b), file(a)).unwrap();
    let err = home
        .share(&group, a)
        .expect_err("a swapped share is refused");
    assert!(
        matches!(err, passport::home::Error::Keystore(Error::Tampered(_))),
        "{err}"
    );
    std::fs::write(file(a), &kept).unwrap();
    assert_eq!(home.share(&group, a).unwrap(), plain, "restored, it opens");
    std::fs::remove_file(file(a)).unwrap();
    let err = home.share(&group, a).expect_err("a removed share is gone");
    assert!(
        matches!(err, passport::home::Error::ShareGone { .. }),
        "{err}"
    );
}

/// Nonces made ahead by a remembering home sign validly (libsecp256k1), and each is
/// used once: every signature has its own R, across the ones made ahead and fresh ones.
#[test]
fn nonces_made_ahead_sign_once_each() {
    let tmp = tempfile::tempdir().unwrap();
    let (_g, mut home, group) = ci_home(&tmp);
    assert!(home.remember_shares());
    let key = group.public_key().to_hex();
    let mut rs = std::collections::BTreeSet::new();
    for i in 0u8..6 {
        // Ahead before some signatures only: the pool runs dry and is refilled.
        if i % 3 == 0 {
            home.prepare_nonces();
        }
        let msg = [i; 32];
        let (sig, _) = home
            .sign_alone(
                &group,
                || Ok::<_, passport::home::Error>(msg.to_vec()),
                |_| true,
            )
            .unwrap();
        util::verify_raw_independently(&key, &msg, &hex::encode(sig));
        assert!(
            rs.insert(sig[..32].to_vec()),
            "signature {i} reused a nonce"
        );
    }
}
