use super::dleq::tagged_hash;
use super::*;
use crate::ceremony::{dealer, Member};
use nostr::Keys;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};

struct Group {
    roster: Roster,
    keys: BTreeMap<MemberId, KeyPackage>,
    public: PublicKeyPackage,
}

fn group(t: u16, n: u16) -> Group {
    let members = (1..=n)
        .map(|i| Member {
            name: format!("m{i}"),
            npub: Keys::generate().public_key(),
        })
        .collect();
    let roster = Roster::new("ecdh", t, members, None, &mut OsRng).unwrap();
    let dealt = dealer::deal(&roster, None, &mut OsRng).unwrap();
    let keys = dealt
        .shares
        .into_iter()
        .map(|(i, s)| (i, KeyPackage::try_from(s).unwrap()))
        .collect();
    Group {
        roster,
        keys,
        public: dealt.public,
    }
}

fn group_pk(g: &Group) -> PublicKey {
    PublicKey::from_slice(&crate::ceremony::group_xonly(&g.public)).unwrap()
}

#[test]
fn tagged_hash_is_bip340_style() {
    // SHA-256(SHA-256(tag) ‖ SHA-256(tag) ‖ msg), computed independently.
    let t = Sha256::digest(b"passport/ecdh-dleq/v1");
    let mut buf = t.to_vec();
    buf.extend_from_slice(&t);
    buf.extend_from_slice(b"abc");
    let want: [u8; 32] = Sha256::digest(&buf).into();
    assert_eq!(tagged_hash(DLEQ_TAG, &[b"a", b"bc"]), want);
}

#[test]
fn lagrange_interpolates_a_line() {
    // f(x) = 5 + 3x: f(1) = 8, f(3) = 14; interpolating at 0 gives 5.
    let xs = [Scalar::from(1u64), Scalar::from(3u64)];
    let ys = [Scalar::from(8u64), Scalar::from(14u64)];
    let f0 = lagrange_at_zero(&xs, 0).unwrap() * ys[0] + lagrange_at_zero(&xs, 1).unwrap() * ys[1];
    assert_eq!(f0, Scalar::from(5u64));
}

#[test]
fn identifier_scalar_is_the_seat() {
    assert_eq!(identifier_scalar(7).unwrap(), Scalar::from(7u64));
}

#[test]
fn share_roundtrips_through_json_as_hex() {
    let g = group(2, 3);
    let peer = Keys::generate().public_key();
    let s = share(&g.keys[&1], &peer, b"req", &mut OsRng).unwrap();
    let json = serde_json::to_value(s).unwrap();
    assert_eq!(json["point"].as_str().unwrap(), s.point.to_hex());
    assert_eq!(json["point"].as_str().unwrap().len(), 66);
    assert_eq!(json["proof"]["a1"].as_str().unwrap().len(), 66);
    assert_eq!(json["proof"]["a2"].as_str().unwrap().len(), 66);
    assert_eq!(json["proof"]["s"].as_str().unwrap().len(), 64);
    let back: EcdhShare = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(back, s);
    // Wrong lengths and unknown fields are refused at parse time.
    let mut short = json.clone();
    short["point"] = "02ab".into();
    assert!(serde_json::from_value::<EcdhShare>(short).is_err());
    let mut extra = json;
    extra["proof"]["x"] = "00".into();
    assert!(serde_json::from_value::<EcdhShare>(extra).is_err());
}

#[test]
fn share_verifies_and_combines() {
    let g = group(2, 3);
    let peer = Keys::generate();
    let mut shares = BTreeMap::new();
    for id in [1, 3] {
        let s = share(&g.keys[&id], &peer.public_key(), b"req", &mut OsRng).unwrap();
        verify_share(&g.public, &g.roster, id, &peer.public_key(), b"req", &s).unwrap();
        shares.insert(id, s);
    }
    let x = combine(&g.public, &g.roster, &peer.public_key(), b"req", &shares).unwrap();
    let want = nostr::util::generate_shared_key(peer.secret_key(), &group_pk(&g)).unwrap();
    assert_eq!(x.as_bytes(), &want);
}

#[test]
fn proofs_differ_each_time_but_point_does_not() {
    let g = group(2, 3);
    let peer = Keys::generate().public_key();
    let a = share(&g.keys[&2], &peer, b"req", &mut OsRng).unwrap();
    let b = share(&g.keys[&2], &peer, b"req", &mut OsRng).unwrap();
    assert_eq!(a.point, b.point);
    assert_ne!(a.proof, b.proof);
}

#[test]
fn share_for_a_seat_not_in_the_roster_is_named() {
    let g = group(2, 3);
    let peer = Keys::generate().public_key();
    let s = share(&g.keys[&1], &peer, b"req", &mut OsRng).unwrap();
    let e = verify_share(&g.public, &g.roster, 9, &peer, b"req", &s).unwrap_err();
    assert!(e.to_string().contains("member #9"), "{e}");
}

#[test]
fn threshold_mismatch_between_roster_and_package_is_refused() {
    let g = group(3, 4);
    let mut roster = g.roster.clone();
    roster.threshold = 2;
    let peer = Keys::generate().public_key();
    let keys: Vec<&KeyPackage> = g.keys.values().collect();
    let e = local(&keys, &g.public, &roster, &peer).unwrap_err();
    assert!(matches!(e, Error::Mismatch(_)), "{e}");
}

#[test]
fn shared_x_debug_is_redacted() {
    let x = SharedX::from_bytes([0xab; 32]);
    let d = format!("{x:?}");
    assert!(!d.contains("ab"), "{d}");
    assert!(d.contains("redacted"));
}
