//! Distributed key generation with every member simulated in one process: part 1 for
//! all, part 2 for all, part 3 for all, through `passport::ceremony::dkg`.
//!
//! Benchmarks `dkg/n{n}_t{t}` for n = 3, 10, 50 with t = ceil(2n/3). Each part-3 call
//! verifies n-1 secret shares against degree-(t-1) commitments, so one DKG is roughly
//! O(n^2 t) scalar multiplications; n = 50 takes seconds per iteration and runs in flat
//! sampling mode (one DKG per sample, 10 samples).

// Test and bench harness code: an unwrap that fails is a failed run.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode};
use nostr::Keys;
use rand::rngs::OsRng;

use passport::ceremony::frost::keys::{KeyPackage, PublicKeyPackage};
use passport::ceremony::{dkg, group_xonly, Member, MemberId, Roster};

const SIZES: [u16; 3] = [3, 10, 50];

fn threshold(n: u16) -> u16 {
    (2 * n).div_ceil(3)
}

fn roster(n: u16) -> Roster {
    let members = (1..=n)
        .map(|i| Member {
            name: format!("m{i}"),
            npub: Keys::generate().public_key(),
        })
        .collect();
    Roster::new("bench", threshold(n), members, None, &mut OsRng).expect("roster")
}

/// One full DKG: every member's key package and public key package, by seat.
fn run_dkg(roster: &Roster) -> BTreeMap<MemberId, (KeyPackage, PublicKeyPackage)> {
    let mut secrets1 = BTreeMap::new();
    let mut round1 = BTreeMap::new();
    for me in roster.ids() {
        let (secret, package) = dkg::part1(roster, me, &mut OsRng).expect("part1");
        secrets1.insert(me, secret);
        round1.insert(me, package);
    }
    // What each member received in round 1: everyone else's package.
    let received1: BTreeMap<MemberId, BTreeMap<_, _>> = roster
        .ids()
        .map(|me| {
            let others = round1
                .iter()
                .filter(|(&from, _)| from != me)
                .map(|(&from, p)| (from, p.clone()))
                .collect();
            (me, others)
        })
        .collect();

    let mut secrets2 = BTreeMap::new();
    let mut received2: BTreeMap<MemberId, BTreeMap<MemberId, _>> = BTreeMap::new();
    for (me, secret) in secrets1 {
        let (secret, out) = dkg::part2(roster, me, secret, &received1[&me]).expect("part2");
        secrets2.insert(me, secret);
        for (to, package) in out {
            received2.entry(to).or_default().insert(me, package);
        }
    }

    roster
        .ids()
        .map(|me| {
            let result = dkg::part3(roster, me, &secrets2[&me], &received1[&me], &received2[&me])
                .expect("part3");
            (me, result)
        })
        .collect()
}

fn bench_dkg(c: &mut Criterion) {
    let mut group = c.benchmark_group("dkg");
    for n in SIZES {
        let t = threshold(n);
        let roster = roster(n);
        if n >= 50 {
            // Seconds per DKG: one iteration per sample.
            group.sampling_mode(SamplingMode::Flat);
        }
        group.bench_function(format!("n{n}_t{t}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    let out = black_box(run_dkg(&roster));
                    total += start.elapsed();
                    // Outside the timing: everyone computed the same group key.
                    let key = group_xonly(&out[&1].1);
                    assert!(out.values().all(|(_, public)| group_xonly(public) == key));
                }
                total
            })
        });
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_dkg
}
criterion_main!(benches);
