//! Prometheus metrics through one `prometheus-client` registry: serve's own families
//! here, a sidecar's (the bunker's) registered into the same registry through the door.
//! Route labels are route templates (`/v1/ceremonies/{id}`), never raw paths, so label
//! cardinality stays fixed. Served as OpenMetrics text (`# EOF` at the end).

use std::sync::{Arc, Mutex};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// What `/metrics` answers with: the OpenMetrics text format the body is written in.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds (seconds) of the request duration histogram; long polls land high.
const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 30.0, 60.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

type Durations = Family<RouteLabel, Histogram, fn() -> Histogram>;

fn durations() -> Histogram {
    Histogram::new(BUCKETS)
}

pub struct Metrics {
    /// Every family `/metrics` shows, serve's and its sidecars'.
    registry: Mutex<Registry>,
    requests: Family<RequestLabels, Counter>,
    durations: Durations,
    errors: Family<KindLabel, Counter>,
    long_polls: Gauge,
    /// The database's counts, read at the last scrape.
    gauges: Arc<Mutex<Gauges>>,
}

impl Default for Metrics {
    fn default() -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        let durations = Durations::new_with_constructor(durations);
        let errors = Family::<KindLabel, Counter>::default();
        let long_polls = Gauge::default();
        let gauges = Arc::new(Mutex::new(Gauges::default()));
        let mut registry = Registry::default();
        // The help texts get their closing full stop from the registry.
        registry.register(
            "passport_http_requests",
            "HTTP requests by route template, method and status",
            requests.clone(),
        );
        registry.register(
            "passport_http_request_duration_seconds",
            "Request duration by route template",
            durations.clone(),
        );
        registry.register_collector(Box::new(Stored(Arc::clone(&gauges))));
        registry.register("passport_errors", "Error responses by kind", errors.clone());
        registry.register(
            "passport_long_polls_active",
            "Package fetches waiting for new packages",
            long_polls.clone(),
        );
        Metrics {
            registry: Mutex::new(registry),
            requests,
            durations,
            errors,
            long_polls,
            gauges,
        }
    }
}

/// Counts one active long poll while alive.
pub struct LongPoll(Gauge);

impl Drop for LongPoll {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Values read from the database at scrape time.
#[derive(Debug, Default)]
pub struct Gauges {
    pub ceremonies: Vec<(String, u64)>,
    pub packages: Vec<(String, u64)>,
    pub writes: super::db::WriteStats,
}

/// The database's counts as metrics: a gauge of ceremonies by state, and accepted
/// packages by round (a counter: packages are never removed).
#[derive(Debug)]
struct Stored(Arc<Mutex<Gauges>>);

impl Collector for Stored {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let mut family = encoder.encode_descriptor(
            "passport_ceremonies",
            "Ceremonies by state.",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        for (state, n) in &g.ceremonies {
            let value = ConstGauge::new(i64::try_from(*n).unwrap_or(i64::MAX));
            value.encode(family.encode_family(&[("state", esc(state))])?)?;
        }
        let packages = g.packages.iter().map(|(round, n)| (esc(round), *n));
        counters(
            &mut encoder,
            "passport_packages",
            "Accepted packages by round.",
            "round",
            packages,
        )?;
        // The write thread's group commit: writes per batch is writes / batches, and a
        // FULL batch's mean commit time is mostly its fsync.
        let w = &g.writes;
        counters(
            &mut encoder,
            "passport_db_write_batches",
            "Committed write batches by synchronous mode (full: fsynced).",
            "sync",
            [
                ("full".into(), w.full_batches),
                ("normal".into(), w.normal_batches),
            ],
        )?;
        counters(
            &mut encoder,
            "passport_db_commit_seconds",
            "Time spent committing write batches, by synchronous mode.",
            "sync",
            [
                ("full".into(), w.full_commit_seconds),
                ("normal".into(), w.normal_commit_seconds),
            ],
        )?;
        let family = encoder.encode_descriptor(
            "passport_db_writes",
            "Writes run by the write thread, in batches.",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        ConstCounter::new(w.writes).encode(family)?;
        Ok(())
    }
}

/// A counter family with one label, a series per `(label value, count)`.
fn counters<N: prometheus_client::encoding::EncodeCounterValue>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    label: &str,
    values: impl IntoIterator<Item = (String, N)>,
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(
        name,
        help,
        None,
        prometheus_client::metrics::MetricType::Counter,
    )?;
    for (value, n) in values {
        ConstCounter::new(n).encode(family.encode_family(&[(label, value)])?)?;
    }
    Ok(())
}

impl Metrics {
    pub fn request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                route: esc(route),
                method: esc(method),
                status,
            })
            .inc();
        self.durations
            .get_or_create(&RouteLabel { route: esc(route) })
            .observe(seconds);
    }

    pub fn error(&self, kind: &'static str) {
        self.errors.get_or_create(&KindLabel { kind }).inc();
    }

    pub fn long_poll(&self) -> LongPoll {
        self.long_polls.inc();
        LongPoll(self.long_polls.clone())
    }

    /// Adds a sidecar's families to the one registry.
    pub fn register(&self, f: impl FnOnce(&mut Registry)) {
        f(&mut self.registry.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// The OpenMetrics text exposition, with the database's counts `g`.
    pub fn render(&self, g: Gauges) -> String {
        *self.gauges.lock().unwrap_or_else(|p| p.into_inner()) = g;
        let registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        // Writing to a String does not fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }
}

/// Escapes a label value (backslash, quote, newline): the encoder writes values as given.
pub fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let m = Metrics::default();
        m.request("/healthz", "GET", 200, 0.003);
        m.request("/healthz", "GET", 200, 0.2);
        let text = m.render(Gauges::default());
        assert!(text.contains(
            "passport_http_request_duration_seconds_bucket{le=\"0.005\",route=\"/healthz\"} 1"
        ));
        assert!(text.contains(
            "passport_http_request_duration_seconds_bucket{le=\"0.25\",route=\"/healthz\"} 2"
        ));
        assert!(text.contains(
            "passport_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"} 2"
        ));
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn long_poll_gauge_follows_guards() {
        let m = Metrics::default();
        let g = m.long_poll();
        assert_eq!(m.long_polls.get(), 1);
        drop(g);
        assert_eq!(m.long_polls.get(), 0);
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(esc("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn stored_counts_and_sidecar_families_share_the_registry() {
        let m = Metrics::default();
        let extra = Counter::<u64>::default();
        m.register(|r| r.register("passport_extra", "A sidecar's", extra.clone()));
        extra.inc();
        // A family shows once it has a series.
        m.request("/metrics", "GET", 200, 0.001);
        let text = m.render(Gauges {
            ceremonies: vec![("open".into(), 2)],
            packages: vec![("dkg-1".into(), 3)],
            writes: super::super::db::WriteStats {
                full_batches: 4,
                normal_batches: 5,
                writes: 30,
                full_commit_seconds: 0.25,
                normal_commit_seconds: 0.0,
            },
        });
        for needle in [
            "# HELP passport_http_requests HTTP requests by route template, method and status.",
            "# TYPE passport_ceremonies gauge",
            "passport_ceremonies{state=\"open\"} 2",
            "# TYPE passport_packages counter",
            "passport_packages_total{round=\"dkg-1\"} 3",
            "passport_long_polls_active 0",
            "passport_extra_total 1",
            "passport_db_write_batches_total{sync=\"full\"} 4",
            "passport_db_write_batches_total{sync=\"normal\"} 5",
            "passport_db_commit_seconds_total{sync=\"full\"} 0.25",
            "passport_db_writes_total 30",
        ] {
            assert!(text.contains(needle), "{needle} not in:\n{text}");
        }
    }
}
