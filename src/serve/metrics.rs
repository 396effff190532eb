//! Prometheus metrics, hand-written text format. Route labels are route templates
//! (`/v1/ceremonies/{id}`), never raw paths, so label cardinality stays fixed.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

/// Upper bounds (seconds) of the request duration histogram; long polls land high.
const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 30.0, 60.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Inner {
    requests: BTreeMap<(String, String, u16), u64>,
    durations: BTreeMap<String, Histogram>,
    errors: BTreeMap<&'static str, u64>,
}

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
    long_polls: Arc<AtomicI64>,
}

/// Counts one active long poll while alive.
pub struct LongPoll(Arc<AtomicI64>);

impl Drop for LongPoll {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Values read from the database at scrape time.
pub struct Gauges {
    pub ceremonies: Vec<(String, u64)>,
    pub packages: Vec<(String, u64)>,
}

impl Metrics {
    pub fn request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let mut m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        *m.requests
            .entry((route.to_owned(), method.to_owned(), status))
            .or_default() += 1;
        let h = m.durations.entry(route.to_owned()).or_default();
        for (i, le) in BUCKETS.iter().enumerate() {
            if seconds <= *le {
                h.counts[i] += 1;
            }
        }
        h.count += 1;
        h.sum += seconds;
    }

    pub fn error(&self, kind: &'static str) {
        let mut m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        *m.errors.entry(kind).or_default() += 1;
    }

    pub fn long_poll(&self) -> LongPoll {
        self.long_polls.fetch_add(1, Ordering::Relaxed);
        LongPoll(Arc::clone(&self.long_polls))
    }

    /// The Prometheus text exposition.
    pub fn render(&self, g: &Gauges) -> String {
        let m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        header(
            &mut out,
            "passport_http_requests_total",
            "counter",
            "HTTP requests by route template, method and status.",
        );
        for ((route, method, status), n) in &m.requests {
            let _ = writeln!(
                out,
                "passport_http_requests_total{{route=\"{}\",method=\"{}\",status=\"{status}\"}} {n}",
                esc(route),
                esc(method)
            );
        }
        header(
            &mut out,
            "passport_http_request_duration_seconds",
            "histogram",
            "Request duration by route template.",
        );
        for (route, h) in &m.durations {
            let r = esc(route);
            for (le, n) in BUCKETS.iter().zip(h.counts) {
                let _ = writeln!(
                    out,
                    "passport_http_request_duration_seconds_bucket{{route=\"{r}\",le=\"{le}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "passport_http_request_duration_seconds_bucket{{route=\"{r}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "passport_http_request_duration_seconds_sum{{route=\"{r}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "passport_http_request_duration_seconds_count{{route=\"{r}\"}} {}",
                h.count
            );
        }
        header(
            &mut out,
            "passport_ceremonies",
            "gauge",
            "Ceremonies by state.",
        );
        for (state, n) in &g.ceremonies {
            let _ = writeln!(out, "passport_ceremonies{{state=\"{}\"}} {n}", esc(state));
        }
        header(
            &mut out,
            "passport_packages_total",
            "counter",
            "Accepted packages by round.",
        );
        for (round, n) in &g.packages {
            let _ = writeln!(
                out,
                "passport_packages_total{{round=\"{}\"}} {n}",
                esc(round)
            );
        }
        header(
            &mut out,
            "passport_errors_total",
            "counter",
            "Error responses by kind.",
        );
        for (kind, n) in &m.errors {
            let _ = writeln!(out, "passport_errors_total{{kind=\"{kind}\"}} {n}");
        }
        header(
            &mut out,
            "passport_long_polls_active",
            "gauge",
            "Package fetches waiting for new packages.",
        );
        let _ = writeln!(
            out,
            "passport_long_polls_active {}",
            self.long_polls.load(Ordering::Relaxed)
        );
        out
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Escapes a label value (backslash, quote, newline).
fn esc(s: &str) -> String {
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
        let text = m.render(&Gauges {
            ceremonies: vec![],
            packages: vec![],
        });
        assert!(text.contains(
            "passport_http_request_duration_seconds_bucket{route=\"/healthz\",le=\"0.005\"} 1"
        ));
        assert!(text.contains(
            "passport_http_request_duration_seconds_bucket{route=\"/healthz\",le=\"0.25\"} 2"
        ));
        assert!(text.contains(
            "passport_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"} 2"
        ));
    }

    #[test]
    fn long_poll_gauge_follows_guards() {
        let m = Metrics::default();
        let g = m.long_poll();
        assert_eq!(m.long_polls.load(Ordering::Relaxed), 1);
        drop(g);
        assert_eq!(m.long_polls.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(esc("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
