//! Threshold ECDH cost against one single-key ECDH, so ratios can be reported.
//!
//! Groups (criterion writes `target/criterion/<group>/<bench>/new/estimates.json`):
//! - `ecdh_2of3/share`: one member's s_i·P with its DLEQ proof
//! - `ecdh_2of3/verify_share`: the combiner's check of one share
//! - `ecdh_2of3/combine`: verify 2 shares and interpolate (a full 2-of-3 combination
//!   from shares in hand)
//! - `ecdh_2of3/local`: a home holding 2 shares, no proofs
//! - `single_key/generate_shared_key`: `nostr::util::generate_shared_key` (libsecp256k1)
//!
//! Keys are dealt once outside the timing loop; no files, no network.

// Test and bench harness code: an unwrap that fails is a failed run.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use nostr::Keys;
use rand::rngs::OsRng;

use passport::ceremony::ecdh::{self, EcdhShare};
use passport::ceremony::frost::keys::KeyPackage;
use passport::ceremony::{self, dealer, Member, MemberId, Roster};

const CONTEXT: &[u8] = b"bench request 00112233445566778899aabbccddeeff";

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

fn ecdh_2of3(c: &mut Criterion) {
    let members = ["alice", "bob", "carol"]
        .iter()
        .map(|n| Member {
            name: (*n).into(),
            npub: Keys::generate().public_key(),
        })
        .collect();
    let roster = Roster::new("bench", 2, members, None, &mut OsRng).expect("roster");
    let dealt = dealer::deal(&roster, None, &mut OsRng).expect("deal");
    let keys: BTreeMap<MemberId, KeyPackage> = dealt
        .shares
        .into_iter()
        .map(|(id, s)| (id, KeyPackage::try_from(s).expect("share verifies")))
        .collect();
    let public = dealt.public;
    let group = nostr::PublicKey::from_slice(&ceremony::group_xonly(&public)).expect("x-only");
    let peer = Keys::generate();
    let pk = peer.public_key();

    let shares: BTreeMap<MemberId, EcdhShare> = [1, 2]
        .into_iter()
        .map(|i| {
            let s = ecdh::share(&keys[&i], &pk, CONTEXT, &mut OsRng).expect("share");
            (i, s)
        })
        .collect();
    // Everything timed below must be right first.
    let want = nostr::util::generate_shared_key(peer.secret_key(), &group).expect("ecdh");
    let x = ecdh::combine(&public, &roster, &pk, CONTEXT, &shares).expect("combine");
    assert_eq!(x.as_bytes(), &want);
    let held = [&keys[&1], &keys[&3]];
    let x = ecdh::local(&held, &public, &roster, &pk).expect("local");
    assert_eq!(x.as_bytes(), &want);

    let mut g = c.benchmark_group("ecdh_2of3");
    g.bench_function("share", |b| {
        b.iter(|| black_box(ecdh::share(&keys[&1], black_box(&pk), CONTEXT, &mut OsRng)))
    });
    g.bench_function("verify_share", |b| {
        b.iter(|| {
            ecdh::verify_share(&public, &roster, 1, black_box(&pk), CONTEXT, &shares[&1])
                .expect("verifies")
        })
    });
    g.bench_function("combine", |b| {
        b.iter(|| {
            black_box(ecdh::combine(
                &public,
                &roster,
                black_box(&pk),
                CONTEXT,
                &shares,
            ))
        })
    });
    g.bench_function("local", |b| {
        b.iter(|| black_box(ecdh::local(&held, &public, &roster, black_box(&pk))))
    });
    g.finish();
}

fn single_key(c: &mut Criterion) {
    let me = Keys::generate();
    let peer = Keys::generate().public_key();
    let mut g = c.benchmark_group("single_key");
    g.bench_function("generate_shared_key", |b| {
        b.iter(|| {
            black_box(nostr::util::generate_shared_key(
                me.secret_key(),
                black_box(&peer),
            ))
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = ecdh_2of3, single_key
}
criterion_main!(benches);
