//! The rounds a package can belong to: their tag names, which are confidential, and how
//! messages name them.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Round {
    DealerShare,
    Dkg1,
    Dkg2,
    DkgAgree,
    SignCommit,
    SignRequest,
    SignShare,
    RefreshOne,
    RefreshTwo,
    RepairDelta,
    RepairSigma,
    /// A co-signer declines a signing or ECDH request (payload `{request, reason}`).
    SignRefusal,
    /// The bunker asks t co-signers for s_i·P (payload `{group, peer, context, signers, method}`).
    EcdhRequest,
    /// A co-signer's s_i·P with its DLEQ proof, NIP-44 encrypted inside the payload to the
    /// request's author (payload `{request, share}`).
    EcdhShare,
    /// A member's own share, NIP-44 encrypted to the member who will reconstruct the key
    /// with `recover-nsec` (payload [`payload::handover::Payload`]).
    ShareHandover,
}

impl Round {
    pub const ALL: [Round; 15] = [
        Round::DealerShare,
        Round::Dkg1,
        Round::Dkg2,
        Round::DkgAgree,
        Round::SignCommit,
        Round::SignRequest,
        Round::SignShare,
        Round::RefreshOne,
        Round::RefreshTwo,
        Round::RepairDelta,
        Round::RepairSigma,
        Round::SignRefusal,
        Round::EcdhRequest,
        Round::EcdhShare,
        Round::ShareHandover,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Round::DealerShare => "dealer-share",
            Round::Dkg1 => "dkg-1",
            Round::Dkg2 => "dkg-2",
            Round::DkgAgree => "dkg-agree",
            Round::SignCommit => "sign-commit",
            Round::SignRequest => "sign-request",
            Round::SignShare => "sign-share",
            Round::RefreshOne => "refresh-1",
            Round::RefreshTwo => "refresh-2",
            Round::RepairDelta => "repair-delta",
            Round::RepairSigma => "repair-sigma",
            Round::SignRefusal => "sign-refusal",
            Round::EcdhRequest => "ecdh-request",
            Round::EcdhShare => "ecdh-share",
            Round::ShareHandover => "share-handover",
        }
    }

    pub fn parse(s: &str) -> Option<Round> {
        Round::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Rounds whose payload carries secret material and is NIP-44 encrypted.
    pub fn confidential(self) -> bool {
        matches!(
            self,
            Round::DealerShare
                | Round::Dkg2
                | Round::RefreshTwo
                | Round::RepairDelta
                | Round::RepairSigma
                | Round::ShareHandover
        )
    }

    pub fn describe(self) -> &'static str {
        match self {
            Round::DealerShare => "dealer share package",
            Round::Dkg1 => "DKG round-1 package",
            Round::Dkg2 => "DKG round-2 package",
            Round::DkgAgree => "DKG agreement package",
            Round::SignCommit => "signing commitment package",
            Round::SignRequest => "signing request",
            Round::SignShare => "signature share package",
            Round::RefreshOne => "refresh round-1 package",
            Round::RefreshTwo => "refresh round-2 package",
            Round::RepairDelta => "repair delta package",
            Round::RepairSigma => "repair sigma package",
            Round::SignRefusal => "refusal",
            Round::EcdhRequest => "ECDH request",
            Round::EcdhShare => "ECDH share package",
            Round::ShareHandover => "share hand-over package (for recover-nsec)",
        }
    }
}
