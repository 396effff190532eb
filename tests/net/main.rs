//! Relays, `passport serve` and the bunker on loopback; one test binary for the area, each
//! former `tests/NAME.rs` a module (`cargo test --test net NAME::`).

// Test and bench harness code: an unwrap that fails is a failed run.
#![allow(clippy::unwrap_used)]

/// The shared helpers of tests/util/ that this binary uses (each binary names only its own).
#[path = "../util"]
mod util {
    mod base;
    mod group;
    mod net;
    pub mod relay;
    mod spawn;
    pub mod tmux;
    pub use base::*;
    pub use group::*;
    pub use net::*;
    pub use spawn::*;
}

mod bunker;
mod bunker_budget;
mod bunker_connect;
mod cosign;
mod cosign_relays;
mod serve_api;
mod serve_cli;
mod serve_crash;
mod serve_limits;
mod via;
mod via_hostile;
