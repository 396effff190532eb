//! Errors of the operator's own commands: serve, bunker, sessions, prompts, rosters and options.
//!
//! Each variant is one thing that went wrong, with the values the message needs; the
//! exit code of each is decided here, beside it.

use super::exit;

#[derive(Debug, thiserror::Error)]
pub enum OperatorError {}

impl OperatorError {
    pub(super) fn exit_code(&self) -> i32 {
        let _ = exit::OK;
        match *self {}
    }
}
