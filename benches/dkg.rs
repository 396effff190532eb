//! Distributed key generation, bare ZF FROST against passport (parts 1–3 plus every
//! package as a signed, checked, round-2-encrypted envelope and the agreement round);
//! see `support/dkg_sim.rs` for exactly what each side does. t = ceil(2n/3).
//!
//! - `dkg/n{3,10}_t{t}/{bare,passport}`: the whole ceremony, every member in one process.
//! - `dkg_member/n{10,50,100}_t{t}/{bare,passport}`: one member's own work in a real
//!   ceremony (the others' packages made beforehand). Part 3 checks n-1 shares against
//!   degree-(t-1) commitments and derives all n verifying shares, so a member pays
//!   O(n t) scalar multiplications and the whole ceremony O(n^2 t); n = 100 costs about
//!   a second per member and runs in flat sampling mode.
//!
//! The whole ceremony at n = 50 and 100 takes minutes: `examples/dkg_full.rs` runs it
//! once each way (scripts/bench.sh does).

// Test and bench harness code: an unwrap that fails is a failed run.
#![allow(clippy::unwrap_used)]

#[path = "support/dkg_sim.rs"]
mod dkg_sim;

use std::cell::OnceCell;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode};

use dkg_sim::Fixture;

const WHOLE: [u16; 2] = [3, 10];
const MEMBER: [u16; 3] = [10, 50, 100];

/// `cargo test --all-targets` runs each bench once as a smoke test, without `--bench`:
/// there the small sizes show it works, and the large ones would only cost CI time.
fn sizes(all: &'static [u16]) -> impl Iterator<Item = u16> {
    let benchmarking = std::env::args().any(|a| a == "--bench");
    all.iter()
        .copied()
        .filter(move |&n| benchmarking || n <= 10)
}

fn bench_whole(c: &mut Criterion) {
    let mut group = c.benchmark_group("dkg");
    for n in sizes(&WHOLE) {
        let fx = Fixture::new(n);
        // Outside the timing, once: each side panics unless every member computed the
        // same group (bare compares keys, passport runs its agreement check).
        black_box(dkg_sim::bare_all(&fx));
        black_box(dkg_sim::passport_all(&fx));
        let name = format!("n{n}_t{}", fx.t);
        group.bench_function(format!("{name}/bare"), |b| {
            b.iter(|| black_box(dkg_sim::bare_all(&fx)))
        });
        group.bench_function(format!("{name}/passport"), |b| {
            b.iter(|| black_box(dkg_sim::passport_all(&fx)))
        });
    }
    group.finish();
}

fn bench_member(c: &mut Criterion) {
    let mut group = c.benchmark_group("dkg_member");
    for n in sizes(&MEMBER) {
        let fx = Fixture::new(n);
        if n >= 50 {
            group.sampling_mode(SamplingMode::Flat);
        }
        let name = format!("n{n}_t{}", fx.t);
        // The others' packages cost seconds at n = 100: made only if the bench runs
        // (criterion calls these closures only for benches its filter selects).
        let bare = OnceCell::new();
        group.bench_function(format!("{name}/bare"), |b| {
            let inbox = bare.get_or_init(|| dkg_sim::bare_inbox(&fx));
            b.iter(|| black_box(dkg_sim::bare_member(&fx, inbox)))
        });
        let passport = OnceCell::new();
        group.bench_function(format!("{name}/passport"), |b| {
            let (inbox, hash1) = passport.get_or_init(|| dkg_sim::passport_inbox(&fx));
            b.iter(|| black_box(dkg_sim::passport_member(&fx, inbox, hash1)))
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
    targets = bench_whole, bench_member
}
criterion_main!(benches);
