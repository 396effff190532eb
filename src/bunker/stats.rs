//! The bunker's families on `/metrics`, registered in serve's one registry through the
//! door: requests answered by method and outcome with the bunker's own processing time
//! (from receiving a request to having its reply ready), silenced strangers, and replies
//! relays refused.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::method;

/// Upper bounds (seconds) of the bunker's processing-time histogram: fine below 10 ms,
/// where a local signer's requests fall, so a median read from it is within 0.25 ms.
const BUCKETS: [f64; 20] = [
    0.00025, 0.0005, 0.00075, 0.001, 0.00125, 0.0015, 0.00175, 0.002, 0.0025, 0.003, 0.004, 0.005,
    0.0075, 0.01, 0.025, 0.05, 0.1, 1.0, 5.0, 30.0,
];

/// What a request is counted under on `/metrics`: a method the bunker answers, a
/// duplicate, or anything else (so clients cannot grow the label set).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Label {
    Method(method::Method),
    Duplicate,
    Other,
}

impl Label {
    fn as_str(self) -> &'static str {
        match self {
            Label::Method(m) => m.as_str(),
            Label::Duplicate => "duplicate",
            Label::Other => "other",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    outcome: &'static str,
}

type Requests = Family<RequestLabels, Histogram, fn() -> Histogram>;

fn histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// The bunker's counters. Clones of a metric share its value, so what [`Stats::register`]
/// puts in the registry is what the bunker counts.
pub struct Stats {
    requests: Requests,
    /// Requests from unknown keys past their budget: not answered.
    silenced: Counter,
    /// Replies a relay refused (`OK false`) or did not take.
    rejected: Counter,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            requests: Requests::new_with_constructor(histogram),
            silenced: Counter::default(),
            rejected: Counter::default(),
        }
    }
}

impl Stats {
    pub fn record(&self, label: Label, ok: bool, took: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                method: label.as_str(),
                outcome: if ok { "ok" } else { "error" },
            })
            .observe(took.as_secs_f64());
    }

    pub fn silenced(&self) {
        self.silenced.inc();
    }

    pub fn rejected(&self) {
        self.rejected.inc();
    }

    /// Adds the bunker's families to `registry` (help texts get their full stop there).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "passport_bunker_request_seconds",
            "NIP-46 requests by method and outcome: time from receipt to reply ready",
            self.requests.clone(),
        );
        registry.register(
            "passport_bunker_unknown_silenced",
            "Requests from keys without a grant left unanswered: past the budget for unknown clients",
            self.silenced.clone(),
        );
        registry.register(
            "passport_bunker_reply_rejections",
            "Replies a relay refused or did not take (each is retried on the next relay)",
            self.rejected.clone(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_families_follow_the_counts() {
        let stats = Stats::default();
        let mut registry = Registry::default();
        stats.register(&mut registry);
        stats.record(Label::Duplicate, true, Duration::from_millis(2));
        stats.record(Label::Other, false, Duration::from_millis(2));
        stats.silenced();
        stats.rejected();
        stats.rejected();
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encodes");
        for needle in [
            "# HELP passport_bunker_request_seconds NIP-46 requests by method and outcome: time from receipt to reply ready.",
            "# TYPE passport_bunker_request_seconds histogram",
            "passport_bunker_request_seconds_bucket{le=\"0.0025\",method=\"duplicate\",outcome=\"ok\"} 1",
            "passport_bunker_request_seconds_bucket{le=\"0.001\",method=\"other\",outcome=\"error\"} 0",
            "passport_bunker_request_seconds_count{method=\"other\",outcome=\"error\"} 1",
            "passport_bunker_unknown_silenced_total 1",
            "passport_bunker_reply_rejections_total 2",
        ] {
            assert!(text.contains(needle), "{needle} not in:\n{text}");
        }
    }
}
