//! Errors of the round machine DKG, refresh and repair share (`ops::rounds`).

use super::exit;

#[derive(Debug, thiserror::Error)]
pub enum RoundError {
    #[error(
        "a {package} for {member} ({got}) is not the one this home made ({ours}); it was forged \
         or made by another home: abort this {ceremony}"
    )]
    NotOurs {
        package: &'static str,
        member: String,
        got: String,
        ours: String,
        ceremony: &'static str,
    },
    #[error(
        "{member} sent a different {package} ({got}) from the one used in round 2 ({used}); \
         {member} equivocated or a package was forged: abort this {ceremony}"
    )]
    Equivocated {
        package: &'static str,
        member: String,
        got: String,
        used: String,
        ceremony: &'static str,
    },
}

impl RoundError {
    pub(super) fn exit_code(&self) -> i32 {
        match self {
            // Forged or equivocating packages.
            RoundError::NotOurs { .. } | RoundError::Equivocated { .. } => exit::REJECTED,
        }
    }
}
