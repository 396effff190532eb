//! Errors of a group's life after keygen: refresh, repair, handover, recover, retire.
//!
//! Each variant is one thing that went wrong, with the values the message needs; the
//! exit code of each is decided here, beside it.

use super::exit;

#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {}

impl LifecycleError {
    pub(super) fn exit_code(&self) -> i32 {
        let _ = exit::OK;
        match *self {}
    }
}
