//! Threshold ECDH against the peer's own single-key ECDH (`nostr::util::generate_shared_key`,
//! i.e. libsecp256k1): for dealer and DKG groups, verifying keys of both parities, peers
//! of both parities and every t-subset of members. NIP-44 and NIP-04 ciphertexts cross
//! between the group (combined secret) and the peer (nostr's own functions) both ways.
//! Every kind of bad share is rejected naming the member who sent it.

use std::collections::BTreeMap;

use nostr::nips::{nip04, nip44};
use nostr::{Keys, PublicKey};
use rand::rngs::OsRng;
use secp256k1::{Parity, SECP256K1};
use sha2::{Digest, Sha256};

use k256::elliptic_curve::ops::Reduce;
use k256::elliptic_curve::sec1::{FromEncodedPoint, ToEncodedPoint};
use k256::elliptic_curve::PrimeField;
use k256::{AffinePoint, ProjectivePoint, Scalar};
use passport::ceremony::ecdh::{self, DleqProof, EcdhShare, Point, SharedX};
use passport::ceremony::frost::keys::{KeyPackage, PublicKeyPackage};
use passport::ceremony::frost::SigningKey;
use passport::ceremony::{self, dealer, dkg, Error, Member, MemberId, Roster};
use passport::conversation;

const NAMES: [&str; 5] = ["alice", "bob", "carol", "dave", "erin"];
const CTX: &[u8] = b"request 00112233445566778899aabbccddeeff";

// --- fixtures -------------------------------------------------------------------------

struct Group {
    roster: Roster,
    keys: BTreeMap<MemberId, KeyPackage>,
    public: PublicKeyPackage,
}

impl Group {
    fn npub(&self) -> PublicKey {
        PublicKey::from_slice(&ceremony::group_xonly(&self.public)).unwrap()
    }

    /// True when the FROST verifying key has odd y (BIP-340's secret is then -sk).
    fn odd_y(&self) -> bool {
        self.public.verifying_key().serialize().unwrap()[0] == 0x03
    }

    fn share(&self, id: MemberId, peer: &PublicKey, ctx: &[u8]) -> EcdhShare {
        ecdh::share(&self.keys[&id], peer, ctx, &mut OsRng).unwrap()
    }

    fn shares(&self, ids: &[MemberId], peer: &PublicKey) -> BTreeMap<MemberId, EcdhShare> {
        ids.iter().map(|&i| (i, self.share(i, peer, CTX))).collect()
    }

    fn combine(&self, ids: &[MemberId], peer: &PublicKey) -> SharedX {
        let shares = self.shares(ids, peer);
        ecdh::combine(&self.public, &self.roster, peer, CTX, &shares).unwrap()
    }

    fn verify(&self, id: MemberId, peer: &PublicKey, ctx: &[u8], share: &EcdhShare) -> Error {
        ecdh::verify_share(&self.public, &self.roster, id, peer, ctx, share).unwrap_err()
    }
}

fn roster(t: u16, n: u16) -> Roster {
    let members = NAMES[..n as usize]
        .iter()
        .map(|name| Member {
            name: (*name).into(),
            npub: Keys::generate().public_key(),
        })
        .collect();
    Roster::new("ecdh test", t, members, None, &mut OsRng).unwrap()
}

fn dealer_group(t: u16, n: u16, existing: Option<&SigningKey>) -> Group {
    let roster = roster(t, n);
    let dealt = dealer::deal(&roster, existing, &mut OsRng).unwrap();
    let group = ceremony::group_xonly(&dealt.public);
    let keys = dealt
        .shares
        .into_iter()
        .map(|(id, share)| {
            let key = dealer::accept_share(&roster, id, share, &dealt.public, &group).unwrap();
            (id, key)
        })
        .collect();
    Group {
        roster,
        keys,
        public: dealt.public,
    }
}

fn dkg_group(t: u16, n: u16) -> Group {
    let roster = roster(t, n);
    let mut secrets1 = BTreeMap::new();
    let mut round1 = BTreeMap::new();
    for id in roster.ids() {
        let (secret, package) = dkg::part1(&roster, id, &mut OsRng).unwrap();
        secrets1.insert(id, secret);
        round1.insert(id, package);
    }
    let others = |me: MemberId| -> BTreeMap<MemberId, _> {
        round1
            .iter()
            .filter(|(&i, _)| i != me)
            .map(|(&i, p)| (i, p.clone()))
            .collect()
    };
    let mut secrets2 = BTreeMap::new();
    let mut round2: BTreeMap<MemberId, BTreeMap<MemberId, _>> = BTreeMap::new();
    for id in roster.ids() {
        let secret = secrets1.remove(&id).unwrap();
        let (secret, out) = dkg::part2(&roster, id, secret, &others(id)).unwrap();
        secrets2.insert(id, secret);
        for (to, package) in out {
            round2.entry(to).or_default().insert(id, package);
        }
    }
    let mut keys = BTreeMap::new();
    let mut public = None;
    for id in roster.ids() {
        let (key, pkg) =
            dkg::part3(&roster, id, &secrets2[&id], &others(id), &round2[&id]).unwrap();
        if let Some(p) = &public {
            assert_eq!(p, &pkg, "every member computes the same public key package");
        }
        public = Some(pkg);
        keys.insert(id, key);
    }
    Group {
        roster,
        keys,
        public: public.unwrap(),
    }
}

/// Generates groups until one with an even-y and one with an odd-y verifying key exist.
fn both_parities(make: impl Fn() -> Group) -> [Group; 2] {
    let (mut even, mut odd) = (None, None);
    for _ in 0..128 {
        let g = make();
        if g.odd_y() {
            odd.get_or_insert(g);
        } else {
            even.get_or_insert(g);
        }
        if even.is_some() && odd.is_some() {
            break;
        }
    }
    let (even, odd) = (even.expect("an even-y group"), odd.expect("an odd-y group"));
    assert!(!even.odd_y() && odd.odd_y());
    [even, odd]
}

/// One peer whose full public key has even y and one with odd y.
fn peers() -> [Keys; 2] {
    let (mut even, mut odd) = (None, None);
    while even.is_none() || odd.is_none() {
        let k = Keys::generate();
        let full = secp256k1::PublicKey::from_secret_key(SECP256K1, k.secret_key());
        match full.x_only_public_key().1 {
            Parity::Even => even.get_or_insert(k),
            Parity::Odd => odd.get_or_insert(k),
        };
    }
    [even.unwrap(), odd.unwrap()]
}

/// Every k-element subset of `ids`, in order.
fn subsets(ids: &[MemberId], k: usize) -> Vec<Vec<MemberId>> {
    if k == 0 {
        return vec![vec![]];
    }
    if ids.len() < k {
        return vec![];
    }
    let mut out: Vec<Vec<MemberId>> = subsets(&ids[1..], k - 1)
        .into_iter()
        .map(|mut rest| {
            rest.insert(0, ids[0]);
            rest
        })
        .collect();
    out.extend(subsets(&ids[1..], k));
    out
}

/// The peer's side of the ECDH with the group's npub, by libsecp256k1.
fn peer_side(peer: &Keys, g: &Group) -> [u8; 32] {
    nostr::util::generate_shared_key(peer.secret_key(), &g.npub()).unwrap()
}

/// Every t-subset, through proofs (`combine`) and without (`local`), equals the peer's
/// ECDH; so do all n shares together.
fn assert_every_subset_matches(g: &Group) {
    let ids: Vec<MemberId> = g.roster.ids().collect();
    let t = g.roster.threshold as usize;
    for peer in peers() {
        let want = peer_side(&peer, g);
        let pk = peer.public_key();
        for subset in subsets(&ids, t) {
            assert_eq!(
                g.combine(&subset, &pk).as_bytes(),
                &want,
                "combine over {subset:?} (odd y: {})",
                g.odd_y()
            );
            let keys: Vec<&KeyPackage> = subset.iter().map(|i| &g.keys[i]).collect();
            let local = ecdh::local(&keys, &g.public, &g.roster, &pk).unwrap();
            assert_eq!(local.as_bytes(), &want, "local over {subset:?}");
        }
        assert_eq!(g.combine(&ids, &pk).as_bytes(), &want, "all n shares");
        let all: Vec<&KeyPackage> = g.keys.values().collect();
        let local = ecdh::local(&all, &g.public, &g.roster, &pk).unwrap();
        assert_eq!(local.as_bytes(), &want, "local with all n");
    }
}

fn culprit(e: &Error) -> &str {
    match e {
        Error::Culprit { member, .. } => member,
        other => panic!("expected a culprit, got {other:?}: {other}"),
    }
}

fn assert_names(e: Error, name: &str) {
    assert_eq!(culprit(&e), name, "{e}");
    assert!(e.to_string().starts_with(&format!("{name}: ")), "{e}");
}

/// A valid point nobody's share is: r·G for a random r.
fn random_point() -> Point {
    let k = Keys::generate();
    let full = secp256k1::PublicKey::from_secret_key(SECP256K1, k.secret_key());
    Point(full.serialize())
}

/// A 33-byte "compressed point" whose x is not on the curve.
fn off_curve_point() -> Point {
    (0u8..=255)
        .map(|b| {
            let mut p = [0u8; 33];
            p[0] = 0x02;
            p[32] = b;
            Point(p)
        })
        .find(|p| secp256k1::PublicKey::from_slice(&p.0).is_err())
        .expect("some small x is off the curve")
}

// --- agreement with the peer's ECDH ---------------------------------------------------

#[test]
fn dealer_2of3_every_pair_matches_peer_ecdh_for_both_parities() {
    for g in both_parities(|| dealer_group(2, 3, None)) {
        assert_every_subset_matches(&g);
    }
}

#[test]
fn dkg_2of3_every_pair_matches_peer_ecdh_for_both_parities() {
    for g in both_parities(|| dkg_group(2, 3)) {
        assert_every_subset_matches(&g);
    }
}

#[test]
fn dealer_3of5_every_triple_matches_peer_ecdh_for_both_parities() {
    for g in both_parities(|| dealer_group(3, 5, None)) {
        assert_every_subset_matches(&g);
    }
}

#[test]
fn dkg_3of4_every_triple_matches_peer_ecdh() {
    assert_every_subset_matches(&dkg_group(3, 4));
}

#[test]
fn split_nsec_gives_the_same_secret_as_the_nsec_itself() {
    // Both parities of the original key: a split keeps the npub, and the group's ECDH
    // must equal the single key's own ECDH with the peer.
    let mut seen = [false; 2];
    while !(seen[0] && seen[1]) {
        let nsec = Keys::generate();
        let signing = SigningKey::deserialize(&nsec.secret_key().to_secret_bytes()).unwrap();
        let g = dealer_group(2, 3, Some(&signing));
        assert_eq!(g.npub(), nsec.public_key());
        seen[g.odd_y() as usize] = true;
        let peer = Keys::generate();
        let own = nostr::util::generate_shared_key(nsec.secret_key(), &peer.public_key()).unwrap();
        assert_eq!(peer_side(&peer, &g), own);
        for pair in [[1, 2], [1, 3], [2, 3]] {
            assert_eq!(g.combine(&pair, &peer.public_key()).as_bytes(), &own);
        }
    }
}

#[test]
fn shares_survive_json_transport() {
    let g = dealer_group(2, 3, None);
    let peer = Keys::generate();
    let shares: BTreeMap<MemberId, EcdhShare> = g
        .shares(&[2, 3], &peer.public_key())
        .into_iter()
        .map(|(i, s)| {
            let json = serde_json::to_string(&s).unwrap();
            (i, serde_json::from_str(&json).unwrap())
        })
        .collect();
    let x = ecdh::combine(&g.public, &g.roster, &peer.public_key(), CTX, &shares).unwrap();
    assert_eq!(x.as_bytes(), &peer_side(&peer, &g));
}

// --- NIP-44 and NIP-04 with the peer --------------------------------------------------

#[test]
fn nip44_between_group_and_peer_both_ways() {
    for g in both_parities(|| dkg_group(2, 3)) {
        let peer = Keys::generate();
        let x = g.combine(&[1, 3], &peer.public_key());

        let to_peer = conversation::nip44_encrypt(&x, "{\"id\":\"1\",\"result\":\"ack\"}").unwrap();
        assert_eq!(
            nip44::decrypt(peer.secret_key(), &g.npub(), &to_peer).unwrap(),
            "{\"id\":\"1\",\"result\":\"ack\"}"
        );

        let from_peer = nip44::encrypt(
            peer.secret_key(),
            &g.npub(),
            "{\"id\":\"2\",\"method\":\"ping\"}",
            nip44::Version::V2,
        )
        .unwrap();
        assert_eq!(
            conversation::nip44_decrypt(&x, &from_peer).unwrap(),
            "{\"id\":\"2\",\"method\":\"ping\"}"
        );
    }
}

#[test]
fn nip04_between_group_and_peer_both_ways() {
    for g in both_parities(|| dealer_group(2, 3, None)) {
        let peer = Keys::generate();
        let x = g.combine(&[2, 3], &peer.public_key());

        let to_peer = conversation::nip04_encrypt(&x, "group to peer").unwrap();
        assert_eq!(
            nip04::decrypt(peer.secret_key(), &g.npub(), &to_peer).unwrap(),
            "group to peer"
        );

        let from_peer = nip04::encrypt(peer.secret_key(), &g.npub(), "peer to group").unwrap();
        assert_eq!(
            conversation::nip04_decrypt(&x, &from_peer).unwrap(),
            "peer to group"
        );
    }
}

// --- DLEQ: what verifies and what does not --------------------------------------------

#[test]
fn valid_share_verifies_for_every_member() {
    let g = dkg_group(2, 3);
    let peer = Keys::generate().public_key();
    for id in g.roster.ids() {
        let s = g.share(id, &peer, CTX);
        ecdh::verify_share(&g.public, &g.roster, id, &peer, CTX, &s).unwrap();
    }
}

#[test]
fn another_members_point_is_rejected_naming_the_sender() {
    let g = dealer_group(2, 3, None);
    let peer = Keys::generate().public_key();
    let mine = g.share(1, &peer, CTX);
    let bobs = g.share(2, &peer, CTX);
    // Bob's Z_2 under alice's proof.
    let swapped = EcdhShare {
        point: bobs.point,
        ..mine
    };
    assert_names(g.verify(1, &peer, CTX, &swapped), "alice");
    // Bob's whole (valid) share passed off as alice's.
    assert_names(g.verify(1, &peer, CTX, &bobs), "alice");
}

#[test]
fn random_point_is_rejected_naming_the_sender() {
    let g = dealer_group(2, 3, None);
    let peer = Keys::generate().public_key();
    let forged = EcdhShare {
        point: random_point(),
        ..g.share(2, &peer, CTX)
    };
    assert_names(g.verify(2, &peer, CTX, &forged), "bob");
}

#[test]
fn share_for_another_peer_is_rejected_naming_the_sender() {
    let g = dkg_group(2, 3);
    let peer = Keys::generate().public_key();
    let other = Keys::generate().public_key();
    let for_other = g.share(3, &other, CTX);
    // The whole share, proof included, was made for another peer.
    assert_names(g.verify(3, &peer, CTX, &for_other), "carol");
    // Z for the other peer under a proof for this one.
    let mixed = EcdhShare {
        point: for_other.point,
        ..g.share(3, &peer, CTX)
    };
    assert_names(g.verify(3, &peer, CTX, &mixed), "carol");
}

#[test]
fn tampered_proofs_are_rejected_naming_the_sender() {
    let g = dealer_group(2, 3, None);
    let peer = Keys::generate().public_key();
    let good = g.share(1, &peer, CTX);
    let other = g.share(1, &peer, CTX);

    let mut s_flipped = good;
    s_flipped.proof.s[31] ^= 1;
    let mut a1_swapped = good;
    a1_swapped.proof.a1 = other.proof.a1;
    let mut a2_swapped = good;
    a2_swapped.proof.a2 = other.proof.a2;
    let mut s_swapped = good;
    s_swapped.proof.s = other.proof.s;
    let mut a1_a2_exchanged = good;
    a1_a2_exchanged.proof.a1 = good.proof.a2;
    a1_a2_exchanged.proof.a2 = good.proof.a1;
    let mut s_overflow = good;
    s_overflow.proof.s = [0xff; 32]; // not a canonical scalar
    let mut a1_random = good;
    a1_random.proof.a1 = random_point();

    for (what, bad) in [
        ("s bit flipped", s_flipped),
        ("A1 from another proof", a1_swapped),
        ("A2 from another proof", a2_swapped),
        ("s from another proof", s_swapped),
        ("A1 and A2 exchanged", a1_a2_exchanged),
        ("s >= n", s_overflow),
        ("A1 random", a1_random),
    ] {
        let e = g.verify(1, &peer, CTX, &bad);
        assert_eq!(culprit(&e), "alice", "{what}: {e}");
    }
}

#[test]
fn proof_under_another_context_is_rejected_naming_the_sender() {
    let g = dealer_group(2, 3, None);
    let peer = Keys::generate().public_key();
    let s = g.share(2, &peer, b"request A");
    ecdh::verify_share(&g.public, &g.roster, 2, &peer, b"request A", &s).unwrap();
    assert_names(g.verify(2, &peer, b"request B", &s), "bob");
    assert_names(g.verify(2, &peer, b"", &s), "bob");
    // Another group with the same seat numbers: the group key is in the context too.
    let h = dealer_group(2, 3, None);
    let e = ecdh::verify_share(&h.public, &h.roster, 2, &peer, b"request A", &s).unwrap_err();
    assert_eq!(culprit(&e), "bob", "{e}");
}

#[test]
fn identity_and_invalid_points_are_rejected_naming_the_sender() {
    let g = dkg_group(2, 3);
    let peer = Keys::generate().public_key();
    let good = g.share(3, &peer, CTX);
    let mut uncompressed_tag = good.point.0;
    uncompressed_tag[0] = 0x04;
    let mut bad_tag = good.point.0;
    bad_tag[0] = 0x05;
    let bad_points = [
        ("identity (FROST's zero padding)", Point([0u8; 33])),
        ("x off the curve", off_curve_point()),
        ("prefix 04", Point(uncompressed_tag)),
        ("prefix 05", Point(bad_tag)),
        ("x = p (non-canonical)", {
            let mut p = [0xffu8; 33];
            p[0] = 0x02;
            p[28] = 0xfe;
            p[29..].copy_from_slice(&[0xff, 0xff, 0xfc, 0x2f]);
            Point(p)
        }),
    ];
    for (what, point) in bad_points {
        let as_z = EcdhShare { point, ..good };
        let e = g.verify(3, &peer, CTX, &as_z);
        assert_eq!(culprit(&e), "carol", "Z {what}: {e}");
        let mut as_a1 = good;
        as_a1.proof.a1 = point;
        let e = g.verify(3, &peer, CTX, &as_a1);
        assert_eq!(culprit(&e), "carol", "A1 {what}: {e}");
        let mut as_a2 = good;
        as_a2.proof.a2 = point;
        let e = g.verify(3, &peer, CTX, &as_a2);
        assert_eq!(culprit(&e), "carol", "A2 {what}: {e}");
    }
    // The message says what was wrong.
    let e = g.verify(
        3,
        &peer,
        CTX,
        &EcdhShare {
            point: Point([0u8; 33]),
            ..good
        },
    );
    assert!(e.to_string().contains("not a valid curve point"), "{e}");
}

/// The DLEQ construction exactly as documented in `ceremony::ecdh`, written out here
/// independently, with a caller-chosen claimed point `z`, secret `s_i` and nonce `k`
/// (seat `id`'s verifying share and the group key go into the transcript as usual).
fn spec_share(
    g: &Group,
    id: MemberId,
    peer: &PublicKey,
    ctx: &[u8],
    z: ProjectivePoint,
    s_i: Scalar,
    k: Scalar,
) -> EcdhShare {
    let sec1 = |p: &ProjectivePoint| -> [u8; 33] {
        p.to_affine()
            .to_encoded_point(true)
            .as_bytes()
            .try_into()
            .unwrap()
    };
    let key = &g.keys[&id];
    let p = peer_point(peer);
    let (a1, a2) = (ProjectivePoint::GENERATOR * k, p * k);
    let tag = Sha256::digest(b"passport/ecdh-dleq/v1");
    let mut h = Sha256::new();
    h.update(tag);
    h.update(tag);
    h.update(sec1(&ProjectivePoint::GENERATOR));
    h.update(key.verifying_share().serialize().unwrap());
    h.update(sec1(&p));
    h.update(sec1(&z));
    h.update(sec1(&a1));
    h.update(sec1(&a2));
    h.update(g.public.verifying_key().serialize().unwrap());
    h.update(Roster::identifier(id).serialize());
    h.update((ctx.len() as u64).to_be_bytes());
    h.update(ctx);
    let c = <Scalar as Reduce<k256::U256>>::reduce_bytes(&h.finalize());
    let s = k + c * s_i;
    EcdhShare {
        point: Point(sec1(&z)),
        proof: DleqProof {
            a1: Point(sec1(&a1)),
            a2: Point(sec1(&a2)),
            s: s.to_repr().into(),
        },
    }
}

fn scalar(bytes: &[u8]) -> Scalar {
    Option::from(Scalar::from_repr(*k256::FieldBytes::from_slice(bytes))).unwrap()
}

fn peer_point(peer: &PublicKey) -> ProjectivePoint {
    let mut b = [2u8; 33];
    b[1..].copy_from_slice(peer.as_bytes());
    let a: Option<AffinePoint> =
        AffinePoint::from_encoded_point(&k256::EncodedPoint::from_bytes(b).unwrap()).into();
    a.unwrap().into()
}

#[test]
fn dleq_construction_matches_its_documentation() {
    let g = dkg_group(2, 3);
    let peer = Keys::generate().public_key();
    for id in g.roster.ids() {
        let s_i = scalar(&g.keys[&id].signing_share().serialize());
        let z = peer_point(&peer) * s_i;
        let k = Scalar::generate_vartime(&mut OsRng);
        let share = spec_share(&g, id, &peer, CTX, z, s_i, k);
        ecdh::verify_share(&g.public, &g.roster, id, &peer, CTX, &share).unwrap();
        assert_eq!(share.point, g.share(id, &peer, CTX).point);
    }
}

#[test]
fn member_knowing_its_share_cannot_prove_a_wrong_point() {
    // A cheating member holds s_i, so it can make A1 = k·G and s = k + c·s_i check out
    // against Y_i for any Z it likes; only s·P = A2 + c·Z exposes it.
    let g = dealer_group(2, 3, None);
    let peer = Keys::generate().public_key();
    let s_i = scalar(&g.keys[&2].signing_share().serialize());
    let p = peer_point(&peer);
    let other_peer = peer_point(&Keys::generate().public_key());
    for (what, z) in [
        ("s_i·P + G", p * s_i + ProjectivePoint::GENERATOR),
        ("2·s_i·P", p * (s_i + s_i)),
        ("s_i·P' for another peer", other_peer * s_i),
        (
            "another member's Z",
            p * scalar(&g.keys[&1].signing_share().serialize()),
        ),
    ] {
        let k = Scalar::generate_vartime(&mut OsRng);
        let forged = spec_share(&g, 2, &peer, CTX, z, s_i, k);
        let e = g.verify(2, &peer, CTX, &forged);
        assert_eq!(culprit(&e), "bob", "{what}: {e}");
    }
    // The other way round: a consistent proof for the wrong secret (a stale or foreign
    // share) satisfies s·P = A2 + c·Z; only s·G = A1 + c·Y_i exposes it.
    let wrong = s_i + Scalar::ONE;
    let k = Scalar::generate_vartime(&mut OsRng);
    let forged = spec_share(&g, 2, &peer, CTX, p * wrong, wrong, k);
    assert_names(g.verify(2, &peer, CTX, &forged), "bob");
}

#[test]
fn combine_names_exactly_the_one_bad_member_among_t_plus_one() {
    for g in [dealer_group(2, 3, None), dkg_group(2, 3)] {
        let peer = Keys::generate().public_key();
        for bad in g.roster.ids() {
            let mut shares = g.shares(&[1, 2, 3], &peer);
            let other = if bad == 1 { 2 } else { 1 };
            shares.get_mut(&bad).unwrap().point = shares[&other].point;
            let e = ecdh::combine(&g.public, &g.roster, &peer, CTX, &shares).unwrap_err();
            assert_names(e, &g.roster.name(bad));
        }
    }
}

#[test]
fn combine_names_every_bad_member() {
    let g = dealer_group(3, 5, None);
    let peer = Keys::generate().public_key();
    let mut shares = g.shares(&[1, 2, 3, 4, 5], &peer);
    shares.get_mut(&2).unwrap().proof.s[0] ^= 0x40;
    shares.get_mut(&5).unwrap().point = off_curve_point();
    let e = ecdh::combine(&g.public, &g.roster, &peer, CTX, &shares).unwrap_err();
    assert_eq!(culprit(&e), "bob, erin", "{e}");
}

#[test]
fn combine_names_a_share_from_outside_the_roster() {
    let g = dealer_group(2, 3, None);
    let peer = Keys::generate().public_key();
    let mut shares = g.shares(&[1, 2], &peer);
    let stray = shares[&1];
    shares.insert(7, stray);
    let e = ecdh::combine(&g.public, &g.roster, &peer, CTX, &shares).unwrap_err();
    assert!(culprit(&e).contains("member #7"), "{e}");
}

#[test]
fn too_few_shares_is_incomplete_saying_how_many_are_missing() {
    let g = dealer_group(3, 5, None);
    let peer = Keys::generate().public_key();
    for (have, missing) in [(vec![], 3), (vec![2], 2), (vec![2, 4], 1)] {
        let shares = g.shares(&have, &peer);
        let e = ecdh::combine(&g.public, &g.roster, &peer, CTX, &shares).unwrap_err();
        let Error::Incomplete {
            what,
            missing: names,
        } = &e
        else {
            panic!("expected Incomplete, got {e:?}");
        };
        let plural = if missing == 1 { "" } else { "s" };
        assert!(
            what.starts_with(&format!("{missing} more ECDH share{plural} ")),
            "{e}"
        );
        assert_eq!(names.len(), 5 - have.len(), "{e}");
        for id in &have {
            assert!(!names.contains(&g.roster.name(*id)), "{e}");
        }
    }
    // A bad share does not count as missing: with exactly t, one bad names the member.
    let mut shares = g.shares(&[1, 2, 3], &peer);
    shares.get_mut(&3).unwrap().proof.s[5] ^= 1;
    let e = ecdh::combine(&g.public, &g.roster, &peer, CTX, &shares).unwrap_err();
    assert_names(e, "carol");
}

#[test]
fn local_needs_t_key_packages_of_this_group() {
    let g = dealer_group(2, 3, None);
    let h = dealer_group(2, 3, None);
    let peer = Keys::generate().public_key();

    let e = ecdh::local(&[&g.keys[&2]], &g.public, &g.roster, &peer).unwrap_err();
    assert!(matches!(e, Error::Incomplete { .. }), "{e}");
    assert!(e.to_string().contains("1 more key package"), "{e}");

    let e = ecdh::local(&[&g.keys[&1], &h.keys[&2]], &g.public, &g.roster, &peer).unwrap_err();
    assert!(matches!(e, Error::Mismatch(_)), "{e}");
    assert!(e.to_string().contains("bob"), "{e}");

    let e = ecdh::local(&[&g.keys[&1], &g.keys[&1]], &g.public, &g.roster, &peer).unwrap_err();
    assert!(e.to_string().contains("twice"), "{e}");
}

#[test]
fn peer_key_off_the_curve_is_refused() {
    let g = dealer_group(2, 3, None);
    let bad = off_curve_point();
    let peer = PublicKey::from_slice(&bad.0[1..]).unwrap();
    let e = ecdh::share(&g.keys[&1], &peer, CTX, &mut OsRng).unwrap_err();
    assert!(e.to_string().contains("not an x-coordinate"), "{e}");
    let e = ecdh::local(&[&g.keys[&1], &g.keys[&2]], &g.public, &g.roster, &peer).unwrap_err();
    assert!(e.to_string().contains("not an x-coordinate"), "{e}");
}

#[test]
fn errors_and_debug_never_show_the_secret() {
    let g = dealer_group(2, 3, None);
    let peer = Keys::generate();
    let x = g.combine(&[1, 2], &peer.public_key());
    let hex_x = hex::encode(x.as_bytes());
    assert!(!format!("{x:?}").contains(&hex_x[..16]));
    let share_hex = hex::encode(g.keys[&1].signing_share().serialize());
    let mut bad = g.share(1, &peer.public_key(), CTX);
    bad.proof.s[0] ^= 1;
    let e = g.verify(1, &peer.public_key(), CTX, &bad);
    let text = format!("{e} {e:?} {bad:?}");
    assert!(!text.contains(&share_hex[..16]));
    assert!(!text.contains(&hex_x[..16]));
}
