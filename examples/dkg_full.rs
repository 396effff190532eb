//! The whole DKG, every member in one process (bare ZF FROST, passport through
//! envelopes, bare again; see benches/support/dkg_sim.rs), for sizes too slow for
//! criterion's ten samples. Prints one JSON object per size on stdout:
//! `{"n":100,"t":67,"bare_s":…,"bare_runs_s":[…,…],"passport_s":…,"ratio":…}` (bare_s
//! the mean of the two bare runs); progress on stderr.
//!
//!   cargo run --release --example dkg_full -- 50 100

// Harness code: an unwrap that fails is a failed run.
#![allow(clippy::unwrap_used)]

// Only the whole-ceremony half of the simulation is used here.
#[allow(dead_code)]
#[path = "../benches/support/dkg_sim.rs"]
mod dkg_sim;

use std::time::Instant;

fn main() {
    let sizes: Vec<u16> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("sizes are numbers of members"))
        .collect();
    let sizes = if sizes.is_empty() {
        vec![50, 100]
    } else {
        sizes
    };
    for n in sizes {
        let fx = dkg_sim::Fixture::new(n);
        // Bare, passport, bare: this machine's speed drifts by tens of percent over
        // minutes, so passport is compared with the mean of the bare runs either side,
        // and both are printed (a large gap between them says the run was noisy).
        let timed = |what: &str, f: &dyn Fn()| {
            eprintln!("dkg_full: n = {n}, t = {}: {what}…", fx.t);
            let start = Instant::now();
            f();
            let s = start.elapsed().as_secs_f64();
            eprintln!("dkg_full: n = {n}: {what} {s:.1} s");
            s
        };
        let bare_all = || {
            std::hint::black_box(dkg_sim::bare_all(&fx));
        };
        let before = timed("bare", &bare_all);
        let passport = timed("passport", &|| {
            std::hint::black_box(dkg_sim::passport_all(&fx));
        });
        let after = timed("bare again", &bare_all);
        let bare = (before + after) / 2.0;
        println!(
            "{{\"n\":{n},\"t\":{},\"bare_s\":{bare:.3},\"bare_runs_s\":[{before:.3},{after:.3}],\"passport_s\":{passport:.3},\"ratio\":{:.3}}}",
            fx.t,
            passport / bare
        );
    }
}
