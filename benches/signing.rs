//! Threshold signing cost: bare `frost-secp256k1-tr` calls vs. the same signing through
//! passport's signed package envelopes, against one single-key BIP-340 signature.
//!
//! Groups (criterion writes `target/criterion/<group>/<bench>/new/estimates.json`):
//! - `sign_2of3/bare`, `sign_2of3/passport`
//! - `sign_7of10/bare`, `sign_7of10/passport`
//! - `single_key/libsecp256k1`
//!
//! Everything runs in one process: no files, no keystore, no network. Keys are dealt once
//! outside the timing loop; every iteration uses fresh nonces.

// Test and bench harness code: an unwrap that fails is a failed run.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use nostr::{JsonUtil, Keys, ToBech32};
use rand::rngs::OsRng;
use rand::RngCore;

use passport::ceremony::frost::{self, keys::KeyPackage, keys::PublicKeyPackage};
use passport::ceremony::{self, dealer, signing, Member, MemberId, Roster};
use passport::envelope::payload::sign::{CommitEntry, CommitPayload, RequestPayload, SharePayload};
use passport::envelope::{self, Binding, Draft, Round, Sender};
use passport::events::{self, Message};

/// The 32-byte message every benchmark signs.
const MESSAGE: [u8; 32] = *b"passport bench: 32-byte message!";

/// A dealt group with one Nostr identity per member.
struct Fixture {
    roster: Roster,
    binding: Binding,
    /// The group's npub, as named in every payload.
    group: String,
    group_pk: nostr::PublicKey,
    /// Identity keys by seat (index = seat - 1).
    identities: Vec<Keys>,
    keys: BTreeMap<MemberId, KeyPackage>,
    public: PublicKeyPackage,
    /// The t signers: the first t seats.
    signers: Vec<MemberId>,
    /// Seat of the coordinator (a member, as when a member runs `sign request`).
    coordinator: MemberId,
    message: [u8; 32],
}

impl Fixture {
    fn new(t: u16, n: u16) -> Self {
        let identities: Vec<Keys> = (0..n).map(|_| Keys::generate()).collect();
        let members = identities
            .iter()
            .enumerate()
            .map(|(i, k)| Member {
                name: format!("m{}", i + 1),
                npub: k.public_key(),
            })
            .collect();
        let roster = Roster::new("bench", t, members, None, &mut OsRng).expect("roster");
        let dealt = dealer::deal(&roster, None, &mut OsRng).expect("deal");
        let keys = dealt
            .shares
            .into_iter()
            .map(|(id, share)| (id, KeyPackage::try_from(share).expect("share verifies")))
            .collect();
        let group_pk =
            nostr::PublicKey::from_slice(&ceremony::group_xonly(&dealt.public)).expect("x-only");
        Fixture {
            binding: Binding::of(&roster),
            group: group_pk.to_bech32().expect("bech32"),
            group_pk,
            identities,
            keys,
            public: dealt.public,
            signers: roster.ids().take(t as usize).collect(),
            coordinator: 1,
            roster,
            message: MESSAGE,
        }
    }

    fn identity(&self, seat: MemberId) -> &Keys {
        &self.identities[seat as usize - 1]
    }

    /// Plain FROST: commit, signing package, t signature shares, aggregate.
    fn sign_bare(&self) -> frost::Signature {
        let mut nonces = BTreeMap::new();
        let mut commitments = BTreeMap::new();
        for &s in &self.signers {
            let ident = Roster::identifier(s);
            let (n, c) = frost::round1::commit(self.keys[&s].signing_share(), &mut OsRng);
            nonces.insert(ident, n);
            commitments.insert(ident, c);
        }
        let package = frost::SigningPackage::new(commitments, &self.message);
        let mut shares = BTreeMap::new();
        for &s in &self.signers {
            let ident = Roster::identifier(s);
            let share = frost::round2::sign(&package, &nonces[&ident], &self.keys[&s])
                .expect("round2::sign");
            shares.insert(ident, share);
        }
        frost::aggregate(&package, &shares, &self.public).expect("aggregate")
    }

    /// The same signing as it crosses passport's boundaries: every message is a signed
    /// kind-7707 event serialized to JSON, parsed, verified and checked by its receiver.
    fn sign_passport(&self) -> [u8; 64] {
        let roster = &self.roster;

        // Round 1, each signer: fresh nonces, commitment sealed as a SignCommit package.
        let mut nonces = BTreeMap::new();
        let mut commit_packages = Vec::with_capacity(self.signers.len());
        for &s in &self.signers {
            let (n, c) = signing::commit(&self.keys[&s], &mut OsRng);
            let mut id = [0u8; 16];
            OsRng.fill_bytes(&mut id);
            let id = hex::encode(id);
            let payload = CommitPayload {
                group: self.group.clone(),
                commitments: vec![CommitEntry {
                    id: id.clone(),
                    commitments: c,
                }],
                valid_for: Some(passport::envelope::payload::sign::DEFAULT_VALID_FOR),
            };
            let ev = envelope::seal(
                self.identity(s),
                Draft {
                    binding: &self.binding,
                    round: Round::SignCommit,
                    from: Some(s),
                    to: None,
                    reference: None,
                    payload: &payload,
                },
            )
            .expect("seal commit");
            nonces.insert(s, (id, n));
            commit_packages.push(ev.as_json().into_bytes());
        }

        // Coordinator: check the commitment packages, build and seal the request.
        let mut commitments = BTreeMap::new();
        let mut commitment_ids = BTreeMap::new();
        // Each process binds the roster once (`sign request`, each `sign share`, `sign
        // aggregate` are separate processes, as on separate machines).
        let bound = envelope::Bound::new(roster);
        for bytes in &commit_packages {
            let (event, meta) = envelope::parse(bytes).expect("parse commit");
            let checked = bound
                .check(event, meta, Round::SignCommit, Sender::Member)
                .expect("check commit");
            let p: CommitPayload = checked.payload(None).expect("commit payload");
            assert_eq!(p.group, self.group);
            let from = checked.from.expect("member seat");
            let entry = p.commitments.into_iter().next().expect("one commitment");
            commitments.insert(from, entry.commitments);
            commitment_ids.insert(from, entry.id);
        }
        let message = Message::Raw {
            hex: hex::encode(self.message),
        };
        let package = signing::signing_package(roster, &commitments, &message.bytes())
            .expect("signing package");
        let request = RequestPayload {
            group: self.group.clone(),
            message,
            signing_package: package,
            commitment_ids,
        };
        let request_event = envelope::seal(
            self.identity(self.coordinator),
            Draft {
                binding: &self.binding,
                round: Round::SignRequest,
                from: Some(self.coordinator),
                to: None,
                reference: None,
                payload: &request,
            },
        )
        .expect("seal request");
        let request_bytes = request_event.as_json().into_bytes();
        let request_id = request_event.id.to_hex();

        // Round 2, each signer: check the request, sign, seal a SignShare package.
        let mut share_packages = Vec::with_capacity(self.signers.len());
        for &s in &self.signers {
            let (event, meta) = envelope::parse(&request_bytes).expect("parse request");
            let checked = envelope::Bound::new(roster)
                .check(event, meta, Round::SignRequest, Sender::Anyone)
                .expect("check request");
            let req: RequestPayload = checked.payload(None).expect("request payload");
            assert_eq!(req.group, self.group);
            assert_eq!(
                req.signing_package.message().as_slice(),
                req.message.bytes().as_slice(),
                "the signing package signs the message shown"
            );
            let (id, n) = &nonces[&s];
            assert_eq!(req.commitment_ids.get(&s), Some(id));
            assert_eq!(
                req.signing_package
                    .signing_commitments()
                    .get(&Roster::identifier(s)),
                Some(n.commitments()),
                "the request carries this member's commitment"
            );
            let share = signing::sign(&req.signing_package, n, &self.keys[&s]).expect("sign");
            let rid = checked.event.id.to_hex();
            let payload = SharePayload {
                request: rid.clone(),
                share,
            };
            let ev = envelope::seal(
                self.identity(s),
                Draft {
                    binding: &self.binding,
                    round: Round::SignShare,
                    from: Some(s),
                    to: None,
                    reference: Some(rid),
                    payload: &payload,
                },
            )
            .expect("seal share");
            share_packages.push(ev.as_json().into_bytes());
        }

        // Coordinator: check the shares, aggregate, verify with libsecp256k1.
        let mut shares = BTreeMap::new();
        let bound = envelope::Bound::new(roster);
        for bytes in &share_packages {
            let (event, meta) = envelope::parse(bytes).expect("parse share");
            let checked = bound
                .check(event, meta, Round::SignShare, Sender::Member)
                .expect("check share");
            assert_eq!(checked.meta.reference.as_deref(), Some(request_id.as_str()));
            let p: SharePayload = checked.payload(None).expect("share payload");
            assert_eq!(p.request, request_id);
            shares.insert(checked.from.expect("member seat"), p.share);
        }
        let sig = signing::aggregate(roster, &request.signing_package, &shares, &self.public)
            .expect("aggregate");
        events::verify_raw(&self.group_pk, &self.message, &sig).expect("libsecp256k1 verifies");
        sig
    }
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

fn bench_threshold(c: &mut Criterion, t: u16, n: u16) {
    let fx = Fixture::new(t, n);
    // Both paths must produce valid signatures under the group key before timing them.
    let bare = fx.sign_bare().serialize().expect("serialize");
    events::verify_raw(&fx.group_pk, &fx.message, &bare).expect("bare signature verifies");
    fx.sign_passport();

    let mut group = c.benchmark_group(format!("sign_{t}of{n}"));
    group.bench_function("bare", |b| b.iter(|| black_box(fx.sign_bare())));
    group.bench_function("passport", |b| b.iter(|| black_box(fx.sign_passport())));
    group.finish();
}

fn sign_2of3(c: &mut Criterion) {
    bench_threshold(c, 2, 3);
}

fn sign_7of10(c: &mut Criterion) {
    bench_threshold(c, 7, 10);
}

fn single_key(c: &mut Criterion) {
    use secp256k1::{Keypair, Message as M, SECP256K1};
    let keypair = Keypair::new(SECP256K1, &mut OsRng);
    let msg = M::from_digest(MESSAGE);
    let mut group = c.benchmark_group("single_key");
    group.bench_function("libsecp256k1", |b| {
        b.iter(|| black_box(SECP256K1.sign_schnorr(black_box(&msg), &keypair)))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = sign_2of3, sign_7of10, single_key
}
criterion_main!(benches);
