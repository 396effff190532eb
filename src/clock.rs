//! The wall clock that commitment lifetimes are measured against.
//!
//! Tests move it with the hidden environment variable `PASSPORT_NOW_FOR_TESTING` (unix
//! seconds). The override can only move the clock *forward*: `now()` is the later of the
//! real time and the override, so it can make a commitment look older (to test expiry
//! without sleeping) but never make an expired one look fresh again.

use std::time::{SystemTime, UNIX_EPOCH};

/// Hidden: tests set it to a unix time in the future.
pub const NOW_FOR_TESTING: &str = "PASSPORT_NOW_FOR_TESTING";

/// Unix seconds now (see the module comment for the test override).
pub fn now() -> u64 {
    let real = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let forced = std::env::var(NOW_FOR_TESTING)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    real.max(forced)
}

/// A unix time as an RFC 3339 UTC date, if it is one `time` can represent.
pub fn rfc3339(secs: u64) -> Option<String> {
    let t = time::OffsetDateTime::from_unix_timestamp(i64::try_from(secs).ok()?).ok()?;
    t.format(&time::format_description::well_known::Rfc3339)
        .ok()
}

/// A unix time as an RFC 3339 UTC date, for messages.
pub fn date(secs: u64) -> String {
    rfc3339(secs).unwrap_or_else(|| format!("unix time {secs}"))
}

/// A number of seconds as a short duration (`90s`, `15m`, `24h`, `2d`, `1h30m`).
pub fn span(secs: u64) -> String {
    if secs == 0 {
        return "0s".into();
    }
    let (d, h, m, s) = (
        secs / 86_400,
        secs % 86_400 / 3600,
        secs % 3600 / 60,
        secs % 60,
    );
    let mut out = String::new();
    for (n, unit) in [(d, "d"), (h, "h"), (m, "m"), (s, "s")] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_and_dates_read_well() {
        assert_eq!(span(86_400), "1d");
        assert_eq!(span(5400), "1h30m");
        assert_eq!(span(59), "59s");
        assert_eq!(date(0), "1970-01-01T00:00:00Z");
    }
}
