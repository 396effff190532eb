//! `serve -v`: one log event per NIP-46 request: who (npub, short), what (method, and
//! the event kind of `sign_event`), the decision (allowed by the grant, refused and
//! why, or co-signers asked) and the latency. Never parameters, content, plaintexts,
//! ciphertexts or secrets: only names this module chooses and numbers.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use nostr::PublicKey;

use super::answer::Failure;
use super::backend;
use super::method::{Call, CallError, Method};
use super::policy::Refusal;

/// What [`super::Bunker::answer`] learned about a request on the way, for its log line
/// (kept apart from the answer so the request is parsed once).
#[derive(Default)]
pub struct Seen {
    /// The event kind + 1 (0: none).
    kind: AtomicU32,
    backend: AtomicBool,
    /// The grant asked the operator, who approved.
    approved: AtomicBool,
}

impl Seen {
    pub fn kind(&self, kind: Option<u16>) {
        if let Some(k) = kind {
            self.kind.store(u32::from(k) + 1, Ordering::Relaxed);
        }
    }

    /// The grant allowed it and `call` goes to the backend (signing, ECDH).
    pub fn passed(&self, call: &Result<Call, CallError>) {
        let needs = matches!(
            call,
            Ok(Call::SignEvent(_)
                | Call::Nip44Encrypt { .. }
                | Call::Nip44Decrypt { .. }
                | Call::Nip04Encrypt { .. }
                | Call::Nip04Decrypt { .. })
        );
        self.backend.store(needs, Ordering::Relaxed);
    }

    /// The operator approved it.
    pub fn approved(&self) {
        self.approved.store(true, Ordering::Relaxed);
    }

    fn event_kind(&self) -> Option<u16> {
        u16::try_from(self.kind.load(Ordering::Relaxed).checked_sub(1)?).ok()
    }
}

/// `npub1abcdefg…uvwxyz`: enough to tell clients apart in a log.
pub fn short_npub(pk: &PublicKey) -> String {
    let n = super::npub(pk);
    match (n.get(..12), n.get(n.len().saturating_sub(6)..)) {
        (Some(head), Some(tail)) if n.len() > 20 => format!("{head}…{tail}"),
        _ => n,
    }
}

/// The decision and why, as fixed words.
fn decision(
    seen: &Seen,
    asks: bool,
    outcome: &Result<String, Failure>,
) -> (&'static str, &'static str) {
    let passed = match seen.backend.load(Ordering::Relaxed) {
        _ if seen.approved.load(Ordering::Relaxed) => "approved",
        true if asks => "asked",
        _ => "allowed",
    };
    let why = match outcome {
        Ok(_) if passed == "approved" => "operator approved",
        Ok(_) if passed == "asked" => "co-signers answered",
        Ok(_) => "grant",
        Err(Failure::Refused(r)) => {
            return (
                "refused",
                match r {
                    Refusal::Unknown => "unknown client",
                    Refusal::BadSecret => "bad secret",
                    Refusal::Expired => "grant expired",
                    Refusal::UsedUp(_) => "uses spent",
                    Refusal::Method(_) => "method not allowed",
                    Refusal::Kind(_) => "kind not allowed",
                    Refusal::Rate(_) => "rate limited",
                    Refusal::Replayed => "answered before",
                },
            )
        }
        Err(Failure::Call(CallError::Unsupported(_))) => return ("refused", "unsupported method"),
        Err(Failure::Call(_) | Failure::Malformed(_)) => return ("refused", "malformed request"),
        Err(Failure::NotThisBunker { .. }) => return ("refused", "names another bunker"),
        Err(Failure::WrongPubkey { .. }) => return ("refused", "event pubkey is not the group"),
        Err(Failure::Timeout(_)) => "timed out",
        Err(Failure::Backend(backend::Error::GaveUp { .. })) => "co-signers did not answer",
        Err(Failure::Backend(_)) => "signer failed",
        Err(Failure::Crypt { .. }) => "encryption failed",
        Err(Failure::Db(_)) => "internal error",
        Err(Failure::Denied) => return ("denied", "operator denied"),
        Err(Failure::NotApproved(_)) => return ("expired", "operator did not decide"),
        Err(Failure::QueueFull) => return ("refused", "too many waiting"),
        Err(Failure::Ask(_)) => return ("ask", "operator approval"),
    };
    (passed, why)
}

/// Logs one answered request (`method`: `None` for a name the bunker does not know,
/// which is the client's text and not logged).
pub fn request(
    from: &PublicKey,
    method: Option<Method>,
    seen: &Seen,
    asks: bool,
    outcome: &Result<String, Failure>,
    took: Duration,
) {
    let client = short_npub(from);
    let method = method.map_or("unknown", Method::as_str);
    let kind = seen.event_kind();
    let (decision, why) = decision(seen, asks, outcome);
    let latency_ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
    tracing::info!(
        target: "passport::bunker::request",
        client = %client,
        method,
        kind,
        decision,
        why,
        ok = outcome.is_ok(),
        latency_ms,
        "bunker: {client} {method}{}: {decision} ({why}) {latency_ms} ms",
        kind.map(|k| format!(" kind {k}")).unwrap_or_default(),
    );
}

/// Logs that a request now waits for the operator (its final line comes later).
pub fn asking(from: &PublicKey, method: Option<Method>, seen: &Seen, took: Duration) {
    let client = short_npub(from);
    let method = method.map_or("unknown", Method::as_str);
    let kind = seen.event_kind();
    let latency_ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
    tracing::info!(
        target: "passport::bunker::request",
        client = %client,
        method,
        kind,
        decision = "ask",
        why = "operator approval",
        latency_ms,
        "bunker: {client} {method}{}: ask (operator approval) {latency_ms} ms",
        kind.map(|k| format!(" kind {k}")).unwrap_or_default(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_name_the_grant_the_refusal_or_the_cosigners() {
        let seen = Seen::default();
        let ok: Result<String, Failure> = Ok("x".into());
        assert_eq!(decision(&seen, true, &ok), ("allowed", "grant"));
        seen.passed(&Ok(Call::Nip44Encrypt {
            peer: nostr::Keys::generate().public_key(),
            text: "t".into(),
        }));
        assert_eq!(decision(&seen, true, &ok), ("asked", "co-signers answered"));
        assert_eq!(decision(&seen, false, &ok), ("allowed", "grant"));
        let no = Err(Failure::Refused(Refusal::Kind(7)));
        assert_eq!(decision(&seen, true, &no), ("refused", "kind not allowed"));
        let denied = Err(Failure::Denied);
        assert_eq!(
            decision(&seen, true, &denied),
            ("denied", "operator denied")
        );
        seen.approved();
        assert_eq!(
            decision(&seen, true, &ok),
            ("approved", "operator approved")
        );
        assert_eq!(seen.event_kind(), None);
        seen.kind(Some(0));
        assert_eq!(seen.event_kind(), Some(0));
        let pk = nostr::Keys::generate().public_key();
        let s = short_npub(&pk);
        assert!(
            s.starts_with("npub1") && s.contains('…') && s.chars().count() == 19,
            "{s}"
        );
    }
}
