//! How the bunker's grants and times are shown: for people an RFC 3339 UTC date with
//! how far it is from now ("in 3 days", "expired 2 h ago"); in `--json` the same date
//! string beside the Unix number it restates (no machine field is removed).

use serde_json::{json, Value};

use crate::bunker::method::Method;
use crate::bunker::policy::{Client, Grant};
use crate::cli::review::relative;

fn signed(t: u64) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX)
}

/// `2026-12-04T20:00:00Z (in 3 days)` or `… (2 h ago)`.
pub fn when(t: u64, now: u64) -> String {
    format!(
        "{} ({})",
        crate::clock::date(t),
        relative(signed(t), signed(now))
    )
}

/// A grant's end: `never`, `DATE (in 3 days)`, `DATE (expired 2 h ago)`.
pub fn expiry(at: Option<u64>, now: u64) -> String {
    match at {
        None => "never".into(),
        Some(t) if t < now => format!(
            "{} (expired {})",
            crate::clock::date(t),
            relative(signed(t), signed(now))
        ),
        Some(t) => when(t, now),
    }
}

/// The methods a grant allows, for people.
pub fn methods(g: &Grant) -> String {
    match &g.methods {
        None => "all".into(),
        Some(ms) => ms.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(","),
    }
}

/// The event kinds `sign_event` may sign, for people.
pub fn kinds(g: &Grant) -> String {
    match &g.kinds {
        None => "any".into(),
        Some(k) => k.iter().map(u16::to_string).collect::<Vec<_>>().join(","),
    }
}

/// What waits for the operator's approval, for people: `nothing`, or the methods and
/// the kinds (`sign_event,nip44_decrypt; kinds 1,7`).
pub fn ask(g: &Grant) -> String {
    let Some(a) = g
        .ask
        .as_ref()
        .filter(|a| !a.methods.is_empty() || !a.kinds.is_empty())
    else {
        return "nothing".into();
    };
    let mut parts = Vec::new();
    if !a.methods.is_empty() {
        parts.push(
            a.methods
                .iter()
                .map(|m| m.as_str())
                .collect::<Vec<_>>()
                .join(","),
        );
    }
    if !a.kinds.is_empty() {
        let k = a
            .kinds
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(",");
        parts.push(format!("sign_event of kinds {k}"));
    }
    parts.join("; ")
}

/// A grant restated, one `name: value` per line, each indented by two spaces.
pub fn grant_lines(g: &Grant, now: u64) -> String {
    let always = Method::ALL
        .into_iter()
        .filter(|m| m.always_allowed())
        .map(Method::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    let expires = match g.expires_at {
        // To the minute: the grant's clock read may be a second off this one.
        Some(t) if t >= now => format!(
            "{} (for {})",
            expiry(Some(t), now),
            crate::clock::span(match t - now {
                d if d >= 3600 => (d + 30) / 60 * 60,
                d => d,
            })
        ),
        other => expiry(other, now),
    };
    format!(
        "  methods: {} (and always {always})\n  kinds: {}\n  expires: {expires}\n  uses: {}\n  rate: {}\n  ask the operator: {}",
        methods(g),
        kinds(g),
        g.max_uses.map_or("unlimited".into(), |m| m.to_string()),
        g.rate_per_min
            .map_or("unlimited".into(), |r| format!("{r}/min")),
        ask(g),
    )
}

/// A grant as JSON with `expires` (the date) beside `expires_at` (Unix seconds).
pub fn grant_json(g: &Grant) -> Value {
    let mut v = serde_json::to_value(g).expect("grants serialize");
    if let (Some(t), Some(o)) = (g.expires_at, v.as_object_mut()) {
        o.insert("expires".into(), json!(crate::clock::date(t)));
    }
    v
}

/// `serialize_with` for a report's optional grant (`clients allow`, `connect`).
pub fn grant_opt<S: serde::Serializer>(g: &Option<Grant>, s: S) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(&g.as_ref().map(grant_json), s)
}

/// A client as JSON with `created` beside `created_at` and the grant's `expires`.
pub fn client_json(c: &Client) -> Value {
    let mut v = serde_json::to_value(c).expect("clients serialize");
    if let Some(o) = v.as_object_mut() {
        o.insert("created".into(), json!(crate::clock::date(c.created_at)));
        o.insert("grant".into(), grant_json(&c.grant));
    }
    v
}

/// `serialize_with` for a list of clients.
pub fn clients<S: serde::Serializer>(cs: &[Client], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(cs.iter().map(client_json))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_dates_and_distances() {
        let now = 1_800_000_000;
        assert_eq!(expiry(None, now), "never");
        assert_eq!(
            expiry(Some(now + 3 * 86_400), now),
            "2027-01-18T08:00:00Z (in 3 days)"
        );
        assert_eq!(
            expiry(Some(now - 7200), now),
            "2027-01-15T06:00:00Z (expired 2 h ago)"
        );
        let g = Grant {
            kinds: Some(vec![1, 7]),
            expires_at: Some(now + 86_400 * 30),
            ..Grant::default()
        };
        let lines = grant_lines(&g, now);
        assert!(lines.contains("  kinds: 1,7\n"), "{lines}");
        assert!(lines.ends_with("\n  ask the operator: nothing"), "{lines}");
        let asking = Grant {
            ask: Some(crate::bunker::policy::Ask {
                methods: vec![Method::Nip44Decrypt],
                kinds: vec![1, 7],
            }),
            ..Grant::default()
        };
        assert_eq!(ask(&asking), "nip44_decrypt; sign_event of kinds 1,7");
        assert!(lines.contains("(in 30 days) (for 30d)"), "{lines}");
        let almost = Grant {
            expires_at: Some(now + 73 * 3600 - 1),
            ..Grant::default()
        };
        assert!(grant_lines(&almost, now).contains("(in 3 days) (for 3d1h)"));
        assert!(
            lines.contains("methods: all (and always connect"),
            "{lines}"
        );
        let v = grant_json(&g);
        assert_eq!(v["expires_at"], now + 86_400 * 30);
        assert_eq!(v["expires"], "2027-02-14T08:00:00Z");
    }
}
