//! The whole DKG, every member in one process, once each way (bare ZF FROST, then
//! passport through envelopes; see benches/support/dkg_sim.rs), for sizes too slow for
//! criterion's ten samples. Prints one JSON object per size on stdout:
//! `{"n":100,"t":67,"bare_s":…,"passport_s":…,"ratio":…}`; progress on stderr.
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
        eprintln!("dkg_full: n = {n}, t = {}: bare…", fx.t);
        let start = Instant::now();
        std::hint::black_box(dkg_sim::bare_all(&fx));
        let bare = start.elapsed().as_secs_f64();
        eprintln!("dkg_full: n = {n}: bare {bare:.1} s; passport…");
        let start = Instant::now();
        std::hint::black_box(dkg_sim::passport_all(&fx));
        let passport = start.elapsed().as_secs_f64();
        eprintln!("dkg_full: n = {n}: passport {passport:.1} s");
        println!(
            "{{\"n\":{n},\"t\":{},\"bare_s\":{bare:.3},\"passport_s\":{passport:.3},\"ratio\":{:.3}}}",
            fx.t,
            passport / bare
        );
    }
}
