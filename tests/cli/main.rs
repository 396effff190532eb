//! The `passport` binary (and the library under it) end to end, without network; one test
//! binary for the area, each former `tests/NAME.rs` a module (`cargo test --test cli NAME::`).

// Test and bench harness code: an unwrap that fails is a failed run.
#![allow(clippy::unwrap_used)]

/// The shared helpers of tests/util/ that this binary uses (each binary names only its own).
#[path = "../util"]
mod util {
    mod base;
    mod dkg;
    mod group;
    mod spawn;
    pub mod tmux;
    mod token;
    pub use base::*;
    pub use dkg::*;
    pub use group::*;
    pub use spawn::*;
    pub use token::*;
}

mod audit;
mod backup;
mod bad_input;
mod broken_files;
mod cli_flows;
mod dkg_large;
mod ecdh;
mod first_errors;
mod formats;
mod hardening;
mod keystore;
mod lifecycle;
mod man_pages;
mod recover;
mod remember;
mod review;
