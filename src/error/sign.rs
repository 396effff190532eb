//! Errors of signing: sign commit/request/share/aggregate/run, nonces, verify, inspect, co-signers.
//!
//! Each variant is one thing that went wrong, with the values the message needs; the
//! exit code of each is decided here, beside it.

use super::exit;

#[derive(Debug, thiserror::Error)]
pub enum SignError {}

impl SignError {
    pub(super) fn exit_code(&self) -> i32 {
        let _ = exit::OK;
        match *self {}
    }
}
