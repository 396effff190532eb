//! Token keystores (SoftHSM2 direct, over p11-kit, ssh and a software TPM): the token
//! scenarios, the token backup and the nonce ledger; one test binary for the area, each
//! former `tests/NAME.rs` a module (`cargo test --test hsm NAME::`).

// Test and bench harness code: an unwrap that fails is a failed run.
#![allow(clippy::unwrap_used)]

/// The shared helpers of tests/util/ that this binary uses (each binary names only its own).
#[path = "../util"]
mod util {
    mod base;
    mod token;
    pub use base::*;
    pub use token::*;
}

mod backup_hsm;
mod hsm;
mod nonces;
