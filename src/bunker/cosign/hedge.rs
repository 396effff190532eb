//! The hedge delay: how long a live signing session is left alone before another starts
//! beside it (see `Cosigners::hedge`).

use std::time::Duration;

/// Bounds of the hedge delay, and its value before any answer.
const HEDGE_MIN: Duration = Duration::from_millis(25);
const HEDGE_MAX: Duration = Duration::from_secs(1);
const HEDGE_FIRST: Duration = Duration::from_millis(250);
/// Answer times the hedge delay is taken from.
pub(super) const HEDGE_SAMPLES: usize = 64;

/// The hedge delay for these answer times (see [`super::Cosigners::hedge`]).
pub(super) fn hedge_of(mut times: Vec<Duration>) -> Duration {
    if times.is_empty() {
        return HEDGE_FIRST;
    }
    times.sort_unstable();
    (times[times.len() / 2] * 3).clamp(HEDGE_MIN, HEDGE_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hedge_is_three_medians_within_bounds() {
        let ms = Duration::from_millis;
        assert_eq!(hedge_of(vec![]), HEDGE_FIRST);
        assert_eq!(hedge_of(vec![ms(40), ms(10), ms(20)]), ms(60));
        // One slow answer does not move it; a fast co-signer set does not go under 25 ms.
        assert_eq!(hedge_of(vec![ms(20), ms(20), ms(5000)]), ms(60));
        assert_eq!(hedge_of(vec![ms(1), ms(2), ms(3)]), HEDGE_MIN);
        assert_eq!(hedge_of(vec![ms(900); 5]), HEDGE_MAX);
    }
}
