//! The time an entry records: the clock in UTC, or the test override.

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use super::{AuditError, FAKE_TIME_ENV};

/// The current UTC time as RFC 3339, or `PASSPORT_FAKE_TIME` if set.
pub fn now() -> Result<String, AuditError> {
    let t = match std::env::var(FAKE_TIME_ENV) {
        Ok(s) => parse_rfc3339(&s).ok_or(AuditError::FakeTime(s))?,
        Err(_) => OffsetDateTime::now_utc(),
    };
    format_utc(t).ok_or(AuditError::Unwritable(t))
}

pub(super) fn format_utc(t: OffsetDateTime) -> Option<String> {
    t.checked_to_offset(UtcOffset::UTC)?.format(&Rfc3339).ok()
}

/// RFC 3339 (`YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`), by the `time` crate; the
/// space that RFC 3339 §5.6 lets readers accept instead of `T` is refused, so a time
/// has one spelling.
pub(super) fn parse_rfc3339(s: &str) -> Option<OffsetDateTime> {
    if s.as_bytes().get(10) == Some(&b' ') {
        return None;
    }
    OffsetDateTime::parse(s, &Rfc3339).ok()
}
