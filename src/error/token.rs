//! Errors of shares on PKCS#11 tokens: hsm commands and resealing.
//!
//! Each variant is one thing that went wrong, with the values the message needs; the
//! exit code of each is decided here, beside it.

use super::exit;

#[derive(Debug, thiserror::Error)]
pub enum TokenError {}

impl TokenError {
    pub(super) fn exit_code(&self) -> i32 {
        let _ = exit::OK;
        match *self {}
    }
}
