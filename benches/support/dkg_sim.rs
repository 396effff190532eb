//! A DKG simulated in one process, two ways, for benches/dkg.rs and examples/dkg_full.rs:
//!
//! - **bare**: `frost_secp256k1_tr::keys::dkg` parts 1–3, packages handed over as Rust
//!   values (the baseline: what any ZF FROST DKG costs);
//! - **passport**: what `dkg round1` / `round2` / `finish` / the agreement check compute
//!   for the same ceremony: parts 1–3 through `passport::ceremony::dkg`, every package a
//!   signed kind-7707 event serialized to JSON, parsed, verified and checked against the
//!   roster by its receiver, round 2 NIP-44-encrypted to its recipient, round 1 read
//!   twice (checked in round 2, read again from the saved events in `finish`, as
//!   `ops::dkg` does), and the agreement round. No files, keystore or network.
//!
//! Both come as a whole ceremony (every member in turn) and as one member's share of it
//! (what one machine pays in a real ceremony), with the other members' packages made
//! beforehand.

use std::collections::BTreeMap;

use frost::keys::dkg::{round1, round2};
use frost::keys::{KeyPackage, PublicKeyPackage};
use frost::Identifier;
use frost_secp256k1_tr as frost;
use nostr::{JsonUtil, Keys};
use rand::rngs::OsRng;

use passport::ceremony::{self, dkg, group_xonly, Member, MemberId, Roster};
use passport::envelope::payload::dkg::Agreement;
use passport::envelope::payload::frost_wire::Round1;
use passport::envelope::{self, Binding, Bound, Draft, Round, Sender};

/// The threshold issue 15 asks for: t = ceil(2n/3).
pub fn threshold(n: u16) -> u16 {
    (2 * n).div_ceil(3)
}

/// A roster of n members with t = ceil(2n/3) and their identity keys (index = seat - 1).
pub struct Fixture {
    pub n: u16,
    pub t: u16,
    pub roster: Roster,
    pub binding: Binding,
    pub identities: Vec<Keys>,
}

impl Fixture {
    pub fn new(n: u16) -> Fixture {
        let identities: Vec<Keys> = (0..n).map(|_| Keys::generate()).collect();
        let members = identities
            .iter()
            .enumerate()
            .map(|(i, k)| Member {
                name: format!("m{}", i + 1),
                npub: k.public_key(),
            })
            .collect();
        let t = threshold(n);
        let roster = Roster::new("bench", t, members, None, &mut OsRng).expect("roster");
        let binding = Binding::of(&roster);
        Fixture {
            n,
            t,
            roster,
            binding,
            identities,
        }
    }

    fn keys(&self, seat: MemberId) -> &Keys {
        &self.identities[usize::from(seat) - 1]
    }

    fn seal<T: serde::Serialize>(
        &self,
        from: MemberId,
        round: Round,
        to: Option<MemberId>,
        payload: &T,
    ) -> Vec<u8> {
        let to = to.map(|s| (self.keys(s).public_key(), s));
        envelope::seal(
            self.keys(from),
            Draft {
                binding: &self.binding,
                round,
                from: Some(from),
                to,
                reference: None,
                payload,
            },
        )
        .expect("seal")
        .as_json()
        .into_bytes()
    }
}

fn ident(seat: MemberId) -> Identifier {
    Roster::identifier(seat)
}

// ---------------------------------------------------------------------------------------
// bare

/// The whole ceremony with bare frost-core calls; returns member 1's result after
/// checking that everyone computed the same group key.
pub fn bare_all(fx: &Fixture) -> PublicKeyPackage {
    let (n, t) = (fx.n, fx.t);
    let mut s1 = BTreeMap::new();
    let mut r1 = BTreeMap::new();
    for i in 1..=n {
        let (s, p) = frost::keys::dkg::part1(ident(i), n, t, OsRng).expect("part1");
        s1.insert(i, s);
        r1.insert(ident(i), p);
    }
    let others = |me: MemberId| -> BTreeMap<Identifier, round1::Package> {
        r1.iter()
            .filter(|(&k, _)| k != ident(me))
            .map(|(&k, p)| (k, p.clone()))
            .collect()
    };
    let mut s2 = BTreeMap::new();
    let mut r2: BTreeMap<Identifier, BTreeMap<Identifier, round2::Package>> = BTreeMap::new();
    for (i, s) in s1 {
        let (s, out) = frost::keys::dkg::part2(s, &others(i)).expect("part2");
        s2.insert(i, s);
        for (to, p) in out {
            r2.entry(to).or_default().insert(ident(i), p);
        }
    }
    let mut first: Option<PublicKeyPackage> = None;
    for i in 1..=n {
        let (_, public) =
            frost::keys::dkg::part3(&s2[&i], &others(i), &r2[&ident(i)]).expect("part3");
        match &first {
            None => first = Some(public),
            Some(f) => assert_eq!(f.verifying_key(), public.verifying_key()),
        }
    }
    first.expect("n > 0")
}

/// What member 1 receives from the others in a bare ceremony.
pub struct BareInbox {
    round1: BTreeMap<Identifier, round1::Package>,
    round2: BTreeMap<Identifier, round2::Package>,
}

/// Runs the other members' parts 1 and 2 (and a part 1 for member 1, whose round-1
/// package they need) to collect what member 1 receives.
pub fn bare_inbox(fx: &Fixture) -> BareInbox {
    let (n, t) = (fx.n, fx.t);
    let mut s1 = BTreeMap::new();
    let mut all1 = BTreeMap::new();
    for i in 1..=n {
        let (s, p) = frost::keys::dkg::part1(ident(i), n, t, OsRng).expect("part1");
        s1.insert(i, s);
        all1.insert(ident(i), p);
    }
    let mut round2 = BTreeMap::new();
    for (i, s) in s1.into_iter().filter(|(i, _)| *i != 1) {
        let others: BTreeMap<_, _> = all1
            .iter()
            .filter(|(&k, _)| k != ident(i))
            .map(|(&k, p)| (k, p.clone()))
            .collect();
        let (_, mut out) = frost::keys::dkg::part2(s, &others).expect("part2");
        round2.insert(
            ident(i),
            out.remove(&ident(1)).expect("a share for member 1"),
        );
    }
    all1.remove(&ident(1));
    BareInbox {
        round1: all1,
        round2,
    }
}

/// Member 1's own work with bare calls: part 1, part 2 over the others' round-1
/// packages, part 3 over the shares they sent.
pub fn bare_member(fx: &Fixture, inbox: &BareInbox) -> (KeyPackage, PublicKeyPackage) {
    let (s, _mine) = frost::keys::dkg::part1(ident(1), fx.n, fx.t, OsRng).expect("part1");
    let (s2, out) = frost::keys::dkg::part2(s, &inbox.round1).expect("part2");
    assert_eq!(out.len(), usize::from(fx.n) - 1);
    frost::keys::dkg::part3(&s2, &inbox.round1, &inbox.round2).expect("part3")
}

// ---------------------------------------------------------------------------------------
// passport

/// Parses and checks one member package against the roster.
fn open(bound: &Bound<'_>, bytes: &[u8], round: Round) -> envelope::Checked {
    let (event, meta) = envelope::parse(bytes).expect("parse");
    bound
        .check(event, meta, round, Sender::Member)
        .expect("check")
}

/// Round 2 for `me`: check the others' round-1 packages, part 2, seal one encrypted
/// package per other member. Returns the round-2 secret, the checked round-1 events (kept
/// for `finish`), and the sealed packages by recipient.
type Round2Out = (
    round2::SecretPackage,
    Vec<envelope::Checked>,
    BTreeMap<MemberId, Vec<u8>>,
);

fn passport_round2(
    fx: &Fixture,
    me: MemberId,
    secret: round1::SecretPackage,
    received: &[&[u8]],
) -> Round2Out {
    let bound = Bound::new(&fx.roster);
    let mut kept = Vec::with_capacity(received.len());
    let mut packages = BTreeMap::new();
    for bytes in received {
        let c = open(&bound, bytes, Round::Dkg1);
        let from = c.from.expect("member seat");
        let p = c.payload::<Round1>(None).expect("round-1 payload").0;
        dkg::check_round1(&fx.roster, from, &p).expect("shape");
        packages.insert(from, p);
        kept.push(c);
    }
    let (secret2, out) = dkg::part2(&fx.roster, me, secret, &packages).expect("part2");
    let sealed = out
        .into_iter()
        .map(|(to, p)| (to, fx.seal(me, Round::Dkg2, Some(to), &p)))
        .collect();
    (secret2, kept, sealed)
}

/// `finish` for `me`: check and decrypt the round-2 packages for it, read round 1 again
/// from the kept events, part 3, seal the agreement.
fn passport_finish(
    fx: &Fixture,
    me: MemberId,
    secret: &round2::SecretPackage,
    kept1: &[envelope::Checked],
    received2: &[&[u8]],
) -> (KeyPackage, PublicKeyPackage, [u8; 32], Vec<u8>) {
    let bound = Bound::new(&fx.roster);
    let keys = fx.keys(me);
    let mut r2 = BTreeMap::new();
    for bytes in received2 {
        let c = open(&bound, bytes, Round::Dkg2);
        c.require_for(&fx.roster, keys, me).expect("for me");
        let p: round2::Package = c.payload(Some(keys)).expect("round-2 payload");
        r2.insert(c.from.expect("member seat"), p);
    }
    let r1: BTreeMap<MemberId, round1::Package> = kept1
        .iter()
        .map(|c| {
            let p = c.payload::<Round1>(None).expect("saved round 1").0;
            (c.from.expect("member seat"), p)
        })
        .collect();
    let (key, public) = dkg::part3(&fx.roster, me, secret, &r1, &r2).expect("part3");
    let hash = ceremony::public_package_hash(&public).expect("hash");
    let agreement = Agreement {
        group: group_npub(&public),
        public_key_package_hash: hex::encode(hash),
    };
    let sealed = fx.seal(me, Round::DkgAgree, None, &agreement);
    (key, public, hash, sealed)
}

fn group_npub(public: &PublicKeyPackage) -> String {
    let key = nostr::PublicKey::from_slice(&group_xonly(public)).expect("x-only key");
    nostr::ToBech32::to_bech32(&key).expect("npub")
}

/// The agreement check for `me` over the others' agreement packages.
fn passport_agree(fx: &Fixture, me: MemberId, mine: &[u8; 32], received: &[&[u8]]) {
    let bound = Bound::new(&fx.roster);
    let mut reported = BTreeMap::from([(me, *mine)]);
    for bytes in received {
        let c = open(&bound, bytes, Round::DkgAgree);
        let a: Agreement = c.payload(None).expect("agreement payload");
        let mut h = [0u8; 32];
        hex::decode_to_slice(&a.public_key_package_hash, &mut h).expect("hash hex");
        reported.insert(c.from.expect("member seat"), h);
    }
    dkg::check_agreement(&fx.roster, mine, &reported).expect("agreement");
}

/// Everyone's round-1 secrets and sealed packages.
fn passport_round1(
    fx: &Fixture,
) -> (
    BTreeMap<MemberId, round1::SecretPackage>,
    BTreeMap<MemberId, Vec<u8>>,
) {
    let mut secrets = BTreeMap::new();
    let mut sealed = BTreeMap::new();
    for me in fx.roster.ids() {
        let (s, p) = dkg::part1(&fx.roster, me, &mut OsRng).expect("part1");
        secrets.insert(me, s);
        sealed.insert(me, fx.seal(me, Round::Dkg1, None, &p));
    }
    (secrets, sealed)
}

fn except(map: &BTreeMap<MemberId, Vec<u8>>, me: MemberId) -> Vec<&[u8]> {
    map.iter()
        .filter(|(&k, _)| k != me)
        .map(|(_, v)| v.as_slice())
        .collect()
}

/// The whole ceremony through envelopes; returns member 1's public key package.
pub fn passport_all(fx: &Fixture) -> PublicKeyPackage {
    // Every ceremony starts without conversation keys kept (the fixture's keys repeat).
    passport::conversation::pairs::forget_all();
    let (secrets1, sealed1) = passport_round1(fx);
    let mut secrets2 = BTreeMap::new();
    let mut kept1 = BTreeMap::new();
    let mut to_me: BTreeMap<MemberId, Vec<Vec<u8>>> = BTreeMap::new();
    for (me, s) in secrets1 {
        let (s2, kept, out) = passport_round2(fx, me, s, &except(&sealed1, me));
        secrets2.insert(me, s2);
        kept1.insert(me, kept);
        for (to, bytes) in out {
            to_me.entry(to).or_default().push(bytes);
        }
    }
    let mut agreements = BTreeMap::new();
    let mut hashes = BTreeMap::new();
    let mut first = None;
    for me in fx.roster.ids() {
        let received: Vec<&[u8]> = to_me[&me].iter().map(Vec::as_slice).collect();
        let (_, public, hash, sealed) =
            passport_finish(fx, me, &secrets2[&me], &kept1[&me], &received);
        agreements.insert(me, sealed);
        hashes.insert(me, hash);
        first.get_or_insert(public);
    }
    for me in fx.roster.ids() {
        passport_agree(fx, me, &hashes[&me], &except(&agreements, me));
    }
    first.expect("n > 0")
}

/// What member 1 receives in a passport ceremony, as sealed packages.
pub struct PassportInbox {
    round1: Vec<Vec<u8>>,
    round2: Vec<Vec<u8>>,
    agreements: Vec<Vec<u8>>,
}

/// Runs the other members' rounds 1 and 2 to collect member 1's inbox, then member 1's
/// `finish` once for the hash of the group it computes. Honest members all compute that
/// group, so each other member's agreement carries the same hash: sealing it with their
/// keys stands in for their part 3 (n-1 runs of it at n = 100 would cost a minute).
/// [`passport_member`] checks against this hash, since its own fresh part 1 makes a
/// different group.
pub fn passport_inbox(fx: &Fixture) -> (PassportInbox, [u8; 32]) {
    let (secrets1, sealed1) = passport_round1(fx);
    let mut to_me = Vec::new();
    let mut mine = None;
    for (me, s) in secrets1 {
        let (s2, kept, mut out) = passport_round2(fx, me, s, &except(&sealed1, me));
        if me == 1 {
            mine = Some((s2, kept));
        } else {
            to_me.push(out.remove(&1).expect("a package for member 1"));
        }
    }
    let (s2, kept) = mine.expect("member 1");
    let received: Vec<&[u8]> = to_me.iter().map(Vec::as_slice).collect();
    let (_, public, hash1, _) = passport_finish(fx, 1, &s2, &kept, &received);
    let agreement = Agreement {
        group: group_npub(&public),
        public_key_package_hash: hex::encode(hash1),
    };
    let agreements = fx
        .roster
        .ids()
        .filter(|&i| i != 1)
        .map(|i| fx.seal(i, Round::DkgAgree, None, &agreement))
        .collect();
    let inbox = PassportInbox {
        round1: except(&sealed1, 1)
            .into_iter()
            .map(<[u8]>::to_vec)
            .collect(),
        round2: to_me,
        agreements,
    };
    (inbox, hash1)
}

/// Member 1's own work through envelopes: part 1 and its sealed package; round 2
/// (check n-1 round-1 packages, part 2, seal n-1 encrypted packages); finish (open n-1
/// round-2 packages, read round 1 again, part 3, seal the agreement); the agreement
/// check over n-1 agreements. The agreement check runs against `hash1` (the hash of the
/// run that made the inbox, see [`passport_inbox`]).
pub fn passport_member(fx: &Fixture, inbox: &PassportInbox, hash1: &[u8; 32]) -> PublicKeyPackage {
    // One member's ceremony in one process (`dkg run`), from no kept conversation keys.
    passport::conversation::pairs::forget_all();
    let (s, p) = dkg::part1(&fx.roster, 1, &mut OsRng).expect("part1");
    std::hint::black_box(fx.seal(1, Round::Dkg1, None, &p));
    let r1: Vec<&[u8]> = inbox.round1.iter().map(Vec::as_slice).collect();
    let (s2, kept, out) = passport_round2(fx, 1, s, &r1);
    assert_eq!(out.len(), usize::from(fx.n) - 1);
    let r2: Vec<&[u8]> = inbox.round2.iter().map(Vec::as_slice).collect();
    let (_, public, _, sealed) = passport_finish(fx, 1, &s2, &kept, &r2);
    std::hint::black_box(sealed);
    let agreements: Vec<&[u8]> = inbox.agreements.iter().map(Vec::as_slice).collect();
    passport_agree(fx, 1, hash1, &agreements);
    public
}
