//! A grant's limits kept in memory (requests per minute) and the durations an operator
//! writes for expiry (`90s`, `15m`, `12h`, `30d`).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::policy::Refusal;

/// Per-client request rate over the last minute, in memory.
#[derive(Default)]
pub struct RateWindow {
    seen: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl RateWindow {
    pub fn take(&self, pubkey: &str, per_min: u32, now: Instant) -> Result<(), Refusal> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let q = seen.entry(pubkey.to_owned()).or_default();
        while q
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60))
        {
            q.pop_front();
        }
        if q.len() >= per_min as usize {
            return Err(Refusal::Rate(per_min));
        }
        q.push_back(now);
        Ok(())
    }
}

/// A duration the operator wrote that is not one.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BadDuration {
    #[error("{0:?} is not a duration like 90s, 15m, 12h or 30d")]
    NotADuration(String),
    #[error("{given:?}: unknown unit {unit:?} (use s, m, h or d)")]
    Unit { given: String, unit: String },
    #[error("{0:?} is too long")]
    TooLong(String),
}

/// Parses a duration like `90s`, `15m`, `12h`, `30d` (a bare number is seconds).
pub fn parse_duration(s: &str) -> Result<u64, BadDuration> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| BadDuration::NotADuration(s.to_owned()))?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(BadDuration::Unit {
                given: s.to_owned(),
                unit: unit.to_owned(),
            })
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| BadDuration::TooLong(s.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_window_and_durations() {
        let w = RateWindow::default();
        let t = Instant::now();
        assert!(w.take("a", 2, t).is_ok());
        assert!(w.take("a", 2, t).is_ok());
        assert_eq!(w.take("a", 2, t), Err(Refusal::Rate(2)));
        assert!(w.take("b", 2, t).is_ok());
        assert!(w.take("a", 2, t + Duration::from_secs(61)).is_ok());
        assert_eq!(parse_duration("90").unwrap(), 90);
        assert_eq!(parse_duration("15m").unwrap(), 900);
        assert_eq!(parse_duration("30d").unwrap(), 2_592_000);
        assert!(parse_duration("3w").is_err());
        assert!(parse_duration("").is_err());
    }
}
