//! The report of a load run: counts, rates, latency percentiles (HDR histograms), errors by
//! kind, executors that served, and a timeline; printable as a table and serializable as JSON.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::sample::{Outcome, Sample};

/// Key under which responses without an `x-mulambda-executor` header are counted.
pub const NO_EXECUTOR: &str = "(none)";

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Number of recorded values.
    pub count: u64,
    /// Smallest value.
    pub min_ms: f64,
    /// Mean.
    pub mean_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Largest value.
    pub max_ms: f64,
}

/// Largest latency the histograms track (one hour), microseconds.
pub const MAX_LATENCY_US: u64 = 3_600_000_000;

/// HDR histogram of latencies in microseconds (3 significant digits, 1 µs to 1 hour).
#[derive(Debug, Clone)]
pub struct LatencyHistogram(Histogram<u64>);

impl Default for LatencyHistogram {
    fn default() -> Self {
        // 3 significant figures: every value within 0.1 %.
        // 1 µs to 1 hour at 3 significant figures (values above are clamped); these static
        // bounds are valid, so construction cannot fail.
        Self(
            Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
                .expect("static histogram bounds are valid"),
        )
    }
}

// === impl LatencyHistogram ===

impl LatencyHistogram {
    /// Records one latency.
    pub fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
        self.0.saturating_record(us);
    }

    /// Number of values.
    pub fn len(&self) -> u64 {
        self.0.len()
    }

    /// Whether no value was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The percentiles (all zero when empty).
    pub fn percentiles(&self) -> Percentiles {
        if self.0.is_empty() {
            return Percentiles::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Percentiles {
            count: self.0.len(),
            min_ms: ms(self.0.min()),
            mean_ms: self.0.mean() / 1000.0,
            p50_ms: ms(self.0.value_at_quantile(0.5)),
            p90_ms: ms(self.0.value_at_quantile(0.9)),
            p99_ms: ms(self.0.value_at_quantile(0.99)),
            p999_ms: ms(self.0.value_at_quantile(0.999)),
            max_ms: ms(self.0.max()),
        }
    }

    /// The underlying histogram (for merging or custom quantiles).
    pub fn histogram(&self) -> &Histogram<u64> {
        &self.0
    }
}

/// What one executor served (measured part).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExecutorSummary {
    /// Responses carrying this executor's name.
    pub responses: u64,
    /// Of which 2xx.
    pub succeeded: u64,
    /// Latency of its successful requests (from the scheduled time).
    pub latency: Percentiles,
}

/// Statistics of one time bucket, for all requests or one executor.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BucketStats {
    /// Requests due in the bucket (for an executor: responses it served).
    pub requests: u64,
    /// Of which not 2xx.
    pub errors: u64,
    /// Latency percentiles of the successful ones.
    pub latency: Percentiles,
}

/// One time bucket of the timeline (requests grouped by their scheduled time).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TimelineBucket {
    /// Bucket start, seconds since the start of the run (warm-up included).
    pub start_s: f64,
    /// Bucket end, seconds.
    pub end_s: f64,
    /// Whether the bucket starts inside the warm-up.
    pub warmup: bool,
    /// All requests.
    pub all: BucketStats,
    /// Per executor (by `x-mulambda-executor`; [`NO_EXECUTOR`] for responses without it).
    pub executors: BTreeMap<String, BucketStats>,
}

/// The report of a load run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    /// Target base URL.
    pub target: String,
    /// Request method.
    pub method: String,
    /// Request path.
    pub path: String,
    /// Target arrival rate, requests per second.
    pub rate: f64,
    /// Connections.
    pub connections: usize,
    /// Warm-up, seconds.
    pub warmup_s: f64,
    /// Per-request timeout, seconds.
    pub timeout_s: f64,
    /// Warm-up requests (sent, not counted below).
    pub warmup_requests: u64,
    /// Measured requests scheduled.
    pub scheduled: u64,
    /// Measured requests actually sent (the others timed out waiting for a connection, or the
    /// run was cancelled).
    pub sent: u64,
    /// Measured requests that got an HTTP response.
    pub completed: u64,
    /// Of which 2xx.
    pub succeeded: u64,
    /// Span of the measured schedule, seconds: `scheduled / rate`.
    pub schedule_span_s: f64,
    /// From the first measured request's scheduled time to the last measured completion, seconds.
    pub elapsed_s: f64,
    /// Measured sends per second over the span of actual send times.
    pub send_rate_rps: f64,
    /// Completed responses per second over `elapsed_s`.
    pub throughput_rps: f64,
    /// 2xx responses per second over `elapsed_s`.
    pub success_rps: f64,
    /// Largest wait between a request's scheduled time and its actual send, milliseconds
    /// (queueing for a free connection; large values mean too few connections or an
    /// overloaded target).
    pub max_send_lag_ms: f64,
    /// Latency of successful requests from their scheduled time (coordinated-omission free).
    pub latency: Percentiles,
    /// Latency of successful requests from their actual send (for comparison).
    pub service_latency: Percentiles,
    /// Failed requests by kind: `connect`, `timeout`, `connection`, `protocol`, `http_4xx`,
    /// `http_5xx`, `http_other`.
    pub errors: BTreeMap<String, u64>,
    /// Responses by HTTP status.
    pub status_codes: BTreeMap<u16, u64>,
    /// Responses by executor (`x-mulambda-executor`).
    pub executors: BTreeMap<String, ExecutorSummary>,
    /// Per-interval statistics over the whole run, warm-up included.
    pub timeline: Vec<TimelineBucket>,
    /// Whether the run was cancelled before its schedule ended.
    pub cancelled: bool,
}

/// Run parameters echoed in the report.
#[derive(Debug, Clone)]
pub struct ReportParams {
    /// Target base URL.
    pub target: String,
    /// Method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Rate.
    pub rate: f64,
    /// Connections.
    pub connections: usize,
    /// Warm-up.
    pub warmup: Duration,
    /// Timeout.
    pub timeout: Duration,
    /// Number of warm-up requests (indices below it are warm-up).
    pub warmup_requests: u64,
    /// Number of measured requests scheduled.
    pub scheduled: u64,
    /// Timeline bucket width.
    pub interval: Duration,
}

// === impl LoadReport ===

impl LoadReport {
    /// Builds the report from the raw samples.
    pub fn build(params: &ReportParams, samples: &[Sample], cancelled: bool) -> Self {
        let measured: Vec<&Sample> = samples
            .iter()
            .filter(|s| s.index >= params.warmup_requests)
            .collect();
        let mut latency = LatencyHistogram::default();
        let mut service = LatencyHistogram::default();
        let mut errors = BTreeMap::new();
        let mut status_codes = BTreeMap::new();
        let mut per_executor: BTreeMap<String, (ExecutorSummary, LatencyHistogram)> =
            BTreeMap::new();
        let (mut sent, mut completed, mut succeeded) = (0, 0, 0);
        let mut first_due: Option<Duration> = None;
        let mut last_done = Duration::ZERO;
        let (mut first_sent, mut last_sent): (Option<Duration>, Duration) = (None, Duration::ZERO);
        let mut max_lag = Duration::ZERO;
        for s in &measured {
            first_due = Some(first_due.map_or(s.due, |f| f.min(s.due)));
            last_done = last_done.max(s.done);
            if let Some(t) = s.sent {
                sent += 1;
                first_sent = Some(first_sent.map_or(t, |f| f.min(t)));
                last_sent = last_sent.max(t);
                max_lag = max_lag.max(t.saturating_sub(s.due));
            }
            if let Outcome::Status(code) = s.outcome {
                completed += 1;
                *status_codes.entry(code).or_insert(0) += 1;
                let name = s.executor.as_deref().unwrap_or(NO_EXECUTOR).to_owned();
                let (summary, hist) = per_executor.entry(name).or_default();
                summary.responses += 1;
                if s.is_success() {
                    summary.succeeded += 1;
                    hist.record(s.latency());
                }
            }
            if s.is_success() {
                succeeded += 1;
                latency.record(s.latency());
                if let Some(d) = s.service_latency() {
                    service.record(d);
                }
            }
            if let Some(kind) = s.error_kind() {
                *errors.entry(kind.to_owned()).or_insert(0) += 1;
            }
        }
        let elapsed = first_due.map_or(Duration::ZERO, |f| last_done.saturating_sub(f));
        let per_sec = |n: u64, d: f64| if d > 0.0 { n as f64 / d } else { 0.0 };
        let send_span = first_sent.map_or(0.0, |f| {
            last_sent.saturating_sub(f).as_secs_f64() + 1.0 / params.rate
        });
        LoadReport {
            target: params.target.clone(),
            method: params.method.clone(),
            path: params.path.clone(),
            rate: params.rate,
            connections: params.connections,
            warmup_s: params.warmup.as_secs_f64(),
            timeout_s: params.timeout.as_secs_f64(),
            warmup_requests: params.warmup_requests,
            scheduled: params.scheduled,
            sent,
            completed,
            succeeded,
            schedule_span_s: params.scheduled as f64 / params.rate,
            elapsed_s: elapsed.as_secs_f64(),
            send_rate_rps: per_sec(sent, send_span),
            throughput_rps: per_sec(completed, elapsed.as_secs_f64()),
            success_rps: per_sec(succeeded, elapsed.as_secs_f64()),
            max_send_lag_ms: max_lag.as_secs_f64() * 1000.0,
            latency: latency.percentiles(),
            service_latency: service.percentiles(),
            errors,
            status_codes,
            executors: per_executor
                .into_iter()
                .map(|(name, (mut summary, hist))| {
                    summary.latency = hist.percentiles();
                    (name, summary)
                })
                .collect(),
            timeline: timeline(samples, params),
            cancelled,
        }
    }

    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}

/// Groups all samples (warm-up included) by scheduled time into buckets of `params.interval`.
fn timeline(samples: &[Sample], params: &ReportParams) -> Vec<TimelineBucket> {
    let width = params.interval.as_secs_f64();
    let warmup_end = params.warmup.as_secs_f64();
    let mut buckets: BTreeMap<u64, (BucketAcc, BTreeMap<String, BucketAcc>)> = BTreeMap::new();
    for s in samples {
        let key = (s.due.as_secs_f64() / width).floor() as u64;
        let (all, per) = buckets.entry(key).or_default();
        all.add(s);
        if let Outcome::Status(_) = s.outcome {
            let name = s.executor.as_deref().unwrap_or(NO_EXECUTOR).to_owned();
            per.entry(name).or_default().add(s);
        }
    }
    buckets
        .into_iter()
        .map(|(key, (all, per))| {
            let start = key as f64 * width;
            TimelineBucket {
                start_s: start,
                end_s: start + width,
                warmup: start < warmup_end,
                all: all.finish(),
                executors: per.into_iter().map(|(k, v)| (k, v.finish())).collect(),
            }
        })
        .collect()
}

#[derive(Default)]
struct BucketAcc {
    requests: u64,
    errors: u64,
    latency: LatencyHistogram,
}

// === impl BucketAcc ===

impl BucketAcc {
    fn add(&mut self, s: &Sample) {
        self.requests += 1;
        if s.is_success() {
            self.latency.record(s.latency());
        } else {
            self.errors += 1;
        }
    }

    fn finish(self) -> BucketStats {
        BucketStats {
            requests: self.requests,
            errors: self.errors,
            latency: self.latency.percentiles(),
        }
    }
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "target      {} {}{}",
            self.method, self.target, self.path
        )?;
        writeln!(
            f,
            "schedule    {:.1} req/s open-loop, {} connections, warm-up {:.1} s ({} req), timeout {:.1} s{}",
            self.rate,
            self.connections,
            self.warmup_s,
            self.warmup_requests,
            self.timeout_s,
            if self.cancelled { ", CANCELLED" } else { "" }
        )?;
        writeln!(
            f,
            "requests    scheduled {}  sent {}  completed {}  2xx {}  over {:.2} s",
            self.scheduled, self.sent, self.completed, self.succeeded, self.elapsed_s
        )?;
        writeln!(
            f,
            "rates       send {:.1} req/s  throughput {:.1} req/s  2xx {:.1} req/s  max send lag {:.2} ms",
            self.send_rate_rps, self.throughput_rps, self.success_rps, self.max_send_lag_ms
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "{:<24} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "latency (ms)", "count", "p50", "p90", "p99", "p99.9", "max"
        )?;
        let row = |f: &mut fmt::Formatter<'_>, name: &str, p: &Percentiles| {
            writeln!(
                f,
                "{:<24} {:>8} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3}",
                name, p.count, p.p50_ms, p.p90_ms, p.p99_ms, p.p999_ms, p.max_ms
            )
        };
        row(f, "from schedule", &self.latency)?;
        row(f, "from send", &self.service_latency)?;
        for (name, e) in &self.executors {
            row(f, &format!("executor {name}"), &e.latency)?;
        }
        writeln!(f)?;
        if self.executors.is_empty() {
            writeln!(f, "executors   (no responses)")?;
        } else {
            let list: Vec<String> = self
                .executors
                .iter()
                .map(|(name, e)| format!("{name}: {} ({} 2xx)", e.responses, e.succeeded))
                .collect();
            writeln!(f, "executors   {}", list.join(", "))?;
        }
        let codes: Vec<String> = self
            .status_codes
            .iter()
            .map(|(c, n)| format!("{c}: {n}"))
            .collect();
        writeln!(
            f,
            "statuses    {}",
            if codes.is_empty() {
                "-".into()
            } else {
                codes.join(", ")
            }
        )?;
        let errors: Vec<String> = self
            .errors
            .iter()
            .map(|(k, n)| format!("{k}: {n}"))
            .collect();
        write!(
            f,
            "errors      {}",
            if errors.is_empty() {
                "none".into()
            } else {
                errors.join(", ")
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::run::client::FailureKind;

    fn sample(
        index: u64,
        due_ms: u64,
        done_ms: u64,
        outcome: Outcome,
        executor: Option<&str>,
    ) -> Sample {
        Sample {
            index,
            due: Duration::from_millis(due_ms),
            sent: Some(Duration::from_millis(due_ms)),
            done: Duration::from_millis(done_ms),
            outcome,
            executor: executor.map(Arc::from),
        }
    }

    fn params() -> ReportParams {
        ReportParams {
            target: "http://t".into(),
            method: "POST".into(),
            path: "/p".into(),
            rate: 10.0,
            connections: 2,
            warmup: Duration::from_millis(100),
            timeout: Duration::from_secs(1),
            warmup_requests: 1,
            scheduled: 4,
            interval: Duration::from_millis(200),
        }
    }

    #[test]
    fn report_counts_and_percentiles() {
        let samples = vec![
            sample(0, 0, 50, Outcome::Status(200), Some("a")), // warm-up
            sample(1, 100, 110, Outcome::Status(200), Some("a")),
            sample(2, 200, 220, Outcome::Status(200), Some("b")),
            sample(3, 300, 330, Outcome::Status(503), Some("b")),
            sample(4, 400, 400, Outcome::Failed(FailureKind::Connection), None),
        ];
        let r = LoadReport::build(&params(), &samples, false);
        assert_eq!((r.sent, r.completed, r.succeeded), (4, 3, 2));
        assert_eq!(r.errors["http_5xx"], 1);
        assert_eq!(r.errors["connection"], 1);
        assert_eq!(r.status_codes[&200], 2);
        assert_eq!(r.executors["a"].responses, 1);
        assert_eq!(r.executors["b"].responses, 2);
        assert_eq!(r.executors["b"].succeeded, 1);
        assert_eq!(r.latency.count, 2);
        assert!((r.latency.max_ms - 20.0).abs() < 0.1);
        assert!((r.elapsed_s - 0.3).abs() < 1e-9);
        assert!((r.throughput_rps - 10.0).abs() < 1e-6);
        assert_eq!(r.timeline.len(), 3);
        assert!(r.timeline[0].warmup);
        assert_eq!(r.timeline[0].all.requests, 2);
        assert_eq!(r.timeline[1].executors["b"].errors, 1);
        let table = r.to_string();
        assert!(table.contains("executor a"));
        assert!(table.contains("http_5xx: 1"));
        let back: LoadReport = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn histogram_percentiles() {
        let mut h = LatencyHistogram::default();
        for ms in 1..=1000 {
            h.record(Duration::from_millis(ms));
        }
        let p = h.percentiles();
        assert!((p.p50_ms - 500.0).abs() < 1.0);
        assert!((p.p99_ms - 990.0).abs() < 1.0);
        assert!((p.max_ms - 1000.0).abs() < 1.0);
        assert_eq!(
            LatencyHistogram::default().percentiles(),
            Percentiles::default()
        );
    }
}
