//! Prometheus metrics: what `GET /metrics` answers, in the text
//! exposition format (version 0.0.4).
//!
//! Requests are counted by route and status with a latency histogram per
//! route, upstream failures by upstream and kind; processes (restarts,
//! state) and sign-ins are read from where they are kept at the moment of
//! the scrape. Counting takes one short lock per request, uncontended on
//! the default single-threaded runtime.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::config::RouteSpec;
use crate::health::ProcessView;
use crate::supervision::state::ProcessState;

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// The label of requests no route took (health, metrics, `/auth/*`, 404).
const NO_ROUTE: &str = "-";

/// Counters for the proxy, shared by every connection.
#[derive(Debug)]
pub struct Metrics {
    /// One per route in file order, then one for [`NO_ROUTE`].
    routes: Vec<RouteStats>,
    upstream_errors: Mutex<BTreeMap<(String, &'static str), u64>>,
}

#[derive(Debug)]
struct RouteStats {
    label: String,
    statuses: Mutex<BTreeMap<u16, u64>>,
    /// Requests at or under each bound of [`BUCKETS`] (not cumulative
    /// yet: that is done when rendering).
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

/// Counts supervise keeps elsewhere that the scrape reads.
#[derive(Debug, Default, Clone, Copy)]
pub struct SignIns {
    pub succeeded: u64,
    pub failed: u64,
}

impl Metrics {
    pub fn new(routes: &[RouteSpec]) -> Metrics {
        let labels = routes
            .iter()
            .map(|r| r.path.to_string())
            .chain([NO_ROUTE.to_owned()]);
        Metrics {
            routes: labels.map(RouteStats::new).collect(),
            upstream_errors: Mutex::default(),
        }
    }

    /// Whether these counters are for exactly `routes`, so they can carry
    /// over a reload.
    pub fn counts_routes(&self, routes: &[RouteSpec]) -> bool {
        let labels = self.routes.iter().map(|r| r.label.as_str());
        let wanted = routes
            .iter()
            .map(|r| r.path.to_string())
            .chain([NO_ROUTE.to_owned()]);
        labels.eq(wanted)
    }

    /// Counts one answered request on route `route` (file-order index).
    pub fn observe(&self, route: Option<usize>, status: u16, elapsed: Duration) {
        let index = route
            .filter(|&i| i + 1 < self.routes.len())
            .unwrap_or(self.routes.len() - 1);
        let stats = &self.routes[index];
        *lock(&stats.statuses).entry(status).or_default() += 1;

        let seconds = elapsed.as_secs_f64();
        if let Some(bucket) = BUCKETS.iter().position(|&bound| seconds <= bound) {
            stats.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        }
        stats.count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        stats.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Counts a failure of `upstream`: `kind` is `connect`, `timeout`,
    /// `exchange`, `unavailable` or `busy`.
    pub fn upstream_error(&self, upstream: &str, kind: &'static str) {
        *lock(&self.upstream_errors)
            .entry((upstream.to_owned(), kind))
            .or_default() += 1;
    }

    /// The whole exposition, with the processes' and sign-ins' current
    /// numbers.
    pub fn render(&self, processes: &[ProcessView], sign_ins: Option<SignIns>) -> String {
        let mut out = String::with_capacity(4096);
        self.render_requests(&mut out);
        self.render_upstreams(&mut out);
        render_processes(&mut out, processes);
        if let Some(sign_ins) = sign_ins {
            header(
                &mut out,
                "supervise_sign_ins_total",
                "counter",
                "Sign-ins by result.",
            );
            let _ = writeln!(
                out,
                "supervise_sign_ins_total{{result=\"ok\"}} {}",
                sign_ins.succeeded
            );
            let _ = writeln!(
                out,
                "supervise_sign_ins_total{{result=\"failed\"}} {}",
                sign_ins.failed
            );
        }
        out
    }

    fn render_requests(&self, out: &mut String) {
        header(
            out,
            "supervise_requests_total",
            "counter",
            "Requests answered, by route and status.",
        );
        for stats in &self.routes {
            for (status, count) in lock(&stats.statuses).iter() {
                let route = escape(&stats.label);
                let _ = writeln!(
                    out,
                    "supervise_requests_total{{route=\"{route}\",status=\"{status}\"}} {count}"
                );
            }
        }
        let help = "Time from request head to the end of the response, by route.";
        header(out, "supervise_request_duration_seconds", "histogram", help);
        for stats in self
            .routes
            .iter()
            .filter(|s| s.count.load(Ordering::Relaxed) > 0)
        {
            stats.render_histogram(out);
        }
    }

    fn render_upstreams(&self, out: &mut String) {
        let help = "Requests an upstream failed, by upstream and kind.";
        header(out, "supervise_upstream_errors_total", "counter", help);
        for ((upstream, kind), count) in lock(&self.upstream_errors).iter() {
            let upstream = escape(upstream);
            let _ = writeln!(out, "supervise_upstream_errors_total{{upstream=\"{upstream}\",kind=\"{kind}\"}} {count}");
        }
    }
}

impl RouteStats {
    fn new(label: String) -> RouteStats {
        RouteStats {
            label,
            statuses: Mutex::default(),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    fn render_histogram(&self, out: &mut String) {
        let route = escape(&self.label);
        let mut cumulative = 0;
        for (bound, bucket) in BUCKETS.iter().zip(&self.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(out, "supervise_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {cumulative}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(
            out,
            "supervise_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "supervise_request_duration_seconds_sum{{route=\"{route}\"}} {sum}"
        );
        let _ = writeln!(
            out,
            "supervise_request_duration_seconds_count{{route=\"{route}\"}} {count}"
        );
    }
}

fn render_processes(out: &mut String, processes: &[ProcessView]) {
    header(
        out,
        "supervise_process_restarts_total",
        "counter",
        "Restarts of each process.",
    );
    for process in processes {
        let restarts = process.status.borrow().restarts;
        let _ = writeln!(
            out,
            "supervise_process_restarts_total{{process=\"{}\"}} {restarts}",
            escape(&process.name)
        );
    }
    let help = "1 for the state each process is in now.";
    header(out, "supervise_process_state", "gauge", help);
    for process in processes {
        let state = process.status.borrow().state;
        let _ = writeln!(
            out,
            "supervise_process_state{{process=\"{}\",state=\"{}\"}} 1",
            escape(&process.name),
            state.name()
        );
    }
    header(
        out,
        "supervise_process_ready",
        "gauge",
        "1 when the process is ready, else 0.",
    );
    for process in processes {
        let ready = u8::from(process.status.borrow().state == ProcessState::Ready);
        let _ = writeln!(
            out,
            "supervise_process_ready{{process=\"{}\"}} {ready}",
            escape(&process.name)
        );
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A label value as the text format needs it: `\\`, `"` and line feeds
/// escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Counters stay meaningful even after a panic elsewhere: each update
    // is a single addition.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Requests land in their route's status counter and histogram
    /// buckets, cumulatively; requests without a route count under `-`.
    #[test]
    fn counts_and_buckets() {
        let metrics = Metrics {
            routes: vec![RouteStats::new("/*".into()), RouteStats::new("-".into())],
            upstream_errors: Mutex::default(),
        };
        metrics.observe(Some(0), 200, Duration::from_micros(700));
        metrics.observe(Some(0), 200, Duration::from_millis(30));
        metrics.observe(Some(0), 502, Duration::from_secs(9));
        metrics.observe(None, 404, Duration::from_micros(10));
        metrics.upstream_error("flask", "connect");
        let text = metrics.render(
            &[],
            Some(SignIns {
                succeeded: 2,
                failed: 1,
            }),
        );

        assert!(
            text.contains("supervise_requests_total{route=\"/*\",status=\"200\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("supervise_requests_total{route=\"/*\",status=\"502\"} 1\n"));
        assert!(text.contains("supervise_requests_total{route=\"-\",status=\"404\"} 1\n"));
        assert!(text
            .contains("supervise_request_duration_seconds_bucket{route=\"/*\",le=\"0.001\"} 1\n"));
        assert!(text
            .contains("supervise_request_duration_seconds_bucket{route=\"/*\",le=\"0.05\"} 2\n"));
        assert!(text
            .contains("supervise_request_duration_seconds_bucket{route=\"/*\",le=\"+Inf\"} 3\n"));
        assert!(text
            .contains("supervise_upstream_errors_total{upstream=\"flask\",kind=\"connect\"} 1\n"));
        assert!(text.contains("supervise_sign_ins_total{result=\"failed\"} 1\n"));
    }

    /// Label values cannot break out of their quotes.
    #[test]
    fn labels_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
