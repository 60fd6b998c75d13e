//! The report of a load run: counts, rates, latency percentiles (HDR histograms), errors by
//! kind, executors that served (with their share and peak in-flight), the answers' confidence,
//! and a timeline; printable as a table and serializable as JSON. Fields added after the first
//! version default when absent, so older reports still parse.

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

/// Confidence of the answers (2xx responses carrying `x-mulambda-confidence`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConfidenceSummary {
    /// Answers with a confidence.
    pub count: u64,
    /// Mean.
    pub mean: f64,
    /// Median (the mean of the two middle values for an even count).
    pub median: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
}

// === impl ConfidenceSummary ===

impl ConfidenceSummary {
    /// The summary of `values` (all zero when empty); sorts them.
    pub fn of(values: &mut [f64]) -> Self {
        if values.is_empty() {
            return Self::default();
        }
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let median = if n % 2 == 1 {
            values[n / 2]
        } else {
            (values[n / 2 - 1] + values[n / 2]) / 2.0
        };
        Self {
            count: n as u64,
            mean: values.iter().sum::<f64>() / n as f64,
            median,
            min: values[0],
            max: values[n - 1],
        }
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
    /// Its share of all responses (`responses / completed`).
    #[serde(default)]
    pub share: f64,
    /// Confidence of its answers.
    #[serde(default)]
    pub confidence: ConfidenceSummary,
    /// Most requests of this run in flight to it at once, as the client saw them (from send to
    /// response; the executor's own count is lower by the requests still on the wire).
    #[serde(default)]
    pub peak_in_flight: u64,
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
    /// Mean confidence of the answers that carry one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_confidence: Option<f64>,
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
    /// `open` (a schedule) or `closed` (streams of sequential requests).
    #[serde(default = "open_mode")]
    pub mode: String,
    /// Open loop: `uniform` or `poisson` arrivals.
    #[serde(default = "uniform_arrival")]
    pub arrival: String,
    /// Closed loop: parallel streams (0 in an open loop).
    #[serde(default)]
    pub streams: usize,
    /// Closed loop: requests per stream.
    #[serde(default)]
    pub requests_per_stream: u64,
    /// Whether every request opened its own connection.
    #[serde(default)]
    pub new_connection_per_request: bool,
    /// Target arrival rate, requests per second (open loop; 0 in a closed loop).
    pub rate: f64,
    /// Connections (closed loop: one per stream).
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
    /// Confidence of the measured answers (`x-mulambda-confidence`).
    #[serde(default)]
    pub confidence: ConfidenceSummary,
    /// Per-interval statistics over the whole run, warm-up included.
    pub timeline: Vec<TimelineBucket>,
    /// Whether the run was cancelled before its schedule ended.
    pub cancelled: bool,
}

fn open_mode() -> String {
    "open".into()
}

fn uniform_arrival() -> String {
    "uniform".into()
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
    /// `open` or `closed`.
    pub mode: String,
    /// `uniform` or `poisson`.
    pub arrival: String,
    /// Closed loop: streams.
    pub streams: usize,
    /// Closed loop: requests per stream.
    pub requests_per_stream: u64,
    /// A new connection per request.
    pub new_connection_per_request: bool,
    /// Rate (0 in a closed loop).
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

// === impl ReportParams ===

impl ReportParams {
    /// The parameters of an open-loop run of `config` (the caller fills in the request counts).
    pub fn of(config: &super::LoadConfig) -> Self {
        Self {
            target: config.target.clone(),
            method: config.method.to_string(),
            path: config.path.clone(),
            mode: open_mode(),
            arrival: match config.arrival {
                super::Arrival::Uniform => uniform_arrival(),
                super::Arrival::Poisson { .. } => "poisson".into(),
            },
            streams: 0,
            requests_per_stream: 0,
            new_connection_per_request: config.new_connection_per_request,
            rate: config.rate,
            connections: config.connections,
            warmup: config.warmup,
            timeout: config.timeout,
            warmup_requests: 0,
            scheduled: 0,
            interval: config.timeline_interval,
        }
    }
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
        let mut per_executor: BTreeMap<String, (ExecutorSummary, LatencyHistogram, Vec<f64>)> =
            BTreeMap::new();
        let mut confidences = Vec::new();
        // (time, +1 at send / −1 at completion) per executor, for its peak in flight.
        let mut in_flight_events: BTreeMap<String, Vec<(Duration, i64)>> = BTreeMap::new();
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
                let name = s.executor.as_deref().unwrap_or(NO_EXECUTOR);
                let (summary, hist, conf) = per_executor.entry(name.to_owned()).or_default();
                summary.responses += 1;
                if s.is_success() {
                    summary.succeeded += 1;
                    hist.record(s.latency());
                    if let Some(c) = s.confidence {
                        conf.push(c);
                        confidences.push(c);
                    }
                }
                if let Some(sent) = s.sent {
                    let events = in_flight_events.entry(name.to_owned()).or_default();
                    events.push((sent, 1));
                    events.push((s.done, -1));
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
        // One request's slot at the target rate closes the span (none in a closed loop).
        let slot = if params.rate > 0.0 {
            1.0 / params.rate
        } else {
            0.0
        };
        let send_span =
            first_sent.map_or(0.0, |f| last_sent.saturating_sub(f).as_secs_f64() + slot);
        let schedule_span_s = if params.rate > 0.0 {
            params.scheduled as f64 / params.rate
        } else {
            elapsed.as_secs_f64()
        };
        LoadReport {
            target: params.target.clone(),
            method: params.method.clone(),
            path: params.path.clone(),
            mode: params.mode.clone(),
            arrival: params.arrival.clone(),
            streams: params.streams,
            requests_per_stream: params.requests_per_stream,
            new_connection_per_request: params.new_connection_per_request,
            rate: params.rate,
            connections: params.connections,
            warmup_s: params.warmup.as_secs_f64(),
            timeout_s: params.timeout.as_secs_f64(),
            warmup_requests: params.warmup_requests,
            scheduled: params.scheduled,
            sent,
            completed,
            succeeded,
            schedule_span_s,
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
                .map(|(name, (mut summary, hist, mut conf))| {
                    summary.latency = hist.percentiles();
                    summary.share = if completed > 0 {
                        summary.responses as f64 / completed as f64
                    } else {
                        0.0
                    };
                    summary.confidence = ConfidenceSummary::of(&mut conf);
                    summary.peak_in_flight = in_flight_events
                        .get_mut(&name)
                        .map_or(0, |events| peak(events));
                    (name, summary)
                })
                .collect(),
            confidence: ConfidenceSummary::of(&mut confidences),
            timeline: timeline(samples, params),
            cancelled,
        }
    }

    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}

/// The largest running sum of `+1`/`−1` events, completions before sends at equal times.
fn peak(events: &mut [(Duration, i64)]) -> u64 {
    events.sort_unstable();
    let mut now = 0i64;
    let mut max = 0i64;
    for (_, delta) in events.iter() {
        now += delta;
        max = max.max(now);
    }
    u64::try_from(max).unwrap_or(0)
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
    confidence_sum: f64,
    confidences: u64,
}

// === impl BucketAcc ===

impl BucketAcc {
    fn add(&mut self, s: &Sample) {
        self.requests += 1;
        if s.is_success() {
            self.latency.record(s.latency());
            if let Some(c) = s.confidence {
                self.confidence_sum += c;
                self.confidences += 1;
            }
        } else {
            self.errors += 1;
        }
    }

    fn finish(self) -> BucketStats {
        BucketStats {
            requests: self.requests,
            errors: self.errors,
            latency: self.latency.percentiles(),
            mean_confidence: (self.confidences > 0)
                .then(|| self.confidence_sum / self.confidences as f64),
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
        let connection = if self.new_connection_per_request {
            ", a new connection per request"
        } else {
            ""
        };
        let cancelled = if self.cancelled { ", CANCELLED" } else { "" };
        if self.mode == "closed" {
            writeln!(
                f,
                "workload    closed loop, {} streams × {} requests, no think time, timeout {:.1} s{connection}{cancelled}",
                self.streams, self.requests_per_stream, self.timeout_s,
            )?;
        } else {
            writeln!(
                f,
                "schedule    {:.1} req/s open-loop ({}), {} connections, warm-up {:.1} s ({} req), timeout {:.1} s{connection}{cancelled}",
                self.rate,
                self.arrival,
                self.connections,
                self.warmup_s,
                self.warmup_requests,
                self.timeout_s,
            )?;
        }
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
                .map(|(name, e)| {
                    let mut item = format!(
                        "{name}: {} ({} 2xx, {:.1} %, peak {} in flight",
                        e.responses,
                        e.succeeded,
                        e.share * 100.0,
                        e.peak_in_flight
                    );
                    if e.confidence.count > 0 {
                        item.push_str(&format!(", confidence {:.3}", e.confidence.mean));
                    }
                    item.push(')');
                    item
                })
                .collect();
            writeln!(f, "executors   {}", list.join(", "))?;
        }
        if self.confidence.count > 0 {
            writeln!(
                f,
                "confidence  mean {:.3}  median {:.3}  min {:.3}  max {:.3}  ({} answers)",
                self.confidence.mean,
                self.confidence.median,
                self.confidence.min,
                self.confidence.max,
                self.confidence.count
            )?;
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
            confidence: None,
        }
    }

    fn params() -> ReportParams {
        ReportParams {
            target: "http://t".into(),
            method: "POST".into(),
            path: "/p".into(),
            mode: "open".into(),
            arrival: "uniform".into(),
            streams: 0,
            requests_per_stream: 0,
            new_connection_per_request: false,
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
    fn confidence_share_and_peak_in_flight_per_executor() {
        let with = |mut s: Sample, c: f64| {
            s.confidence = Some(c);
            s
        };
        let samples = vec![
            with(sample(1, 100, 400, Outcome::Status(200), Some("a")), 0.2),
            with(sample(2, 150, 300, Outcome::Status(200), Some("a")), 0.4),
            with(sample(3, 200, 250, Outcome::Status(200), Some("a")), 0.9),
            // Starts when the one above ends: not concurrent with it.
            with(sample(4, 250, 260, Outcome::Status(200), Some("b")), 0.5),
            sample(5, 260, 270, Outcome::Status(503), Some("b")),
        ];
        let p = ReportParams {
            scheduled: 5,
            ..params()
        };
        let r = LoadReport::build(&p, &samples, false);
        assert_eq!(r.confidence.count, 4);
        assert!((r.confidence.mean - 0.5).abs() < 1e-12);
        assert!((r.confidence.median - 0.45).abs() < 1e-12);
        assert_eq!((r.confidence.min, r.confidence.max), (0.2, 0.9));
        let a = &r.executors["a"];
        assert!((a.share - 0.6).abs() < 1e-12);
        assert_eq!(a.peak_in_flight, 3);
        assert!((a.confidence.median - 0.4).abs() < 1e-12);
        let b = &r.executors["b"];
        assert!((b.share - 0.4).abs() < 1e-12);
        assert_eq!(b.peak_in_flight, 1);
        assert_eq!(b.confidence.count, 1, "errors carry no confidence");
        let bucket = &r.timeline[1];
        assert!(bucket.all.mean_confidence.is_some());
        let table = r.to_string();
        assert!(table.contains("median 0.450"), "{table}");
        assert!(table.contains("60.0 %"), "{table}");
        let back: LoadReport = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn reports_without_the_new_fields_still_parse() {
        let mut v = serde_json::to_value(LoadReport::build(&params(), &[], false)).unwrap();
        let o = v.as_object_mut().unwrap();
        for k in [
            "mode",
            "arrival",
            "streams",
            "requests_per_stream",
            "new_connection_per_request",
            "confidence",
        ] {
            o.remove(k);
        }
        let r: LoadReport = serde_json::from_value(v).unwrap();
        assert_eq!((r.mode.as_str(), r.arrival.as_str()), ("open", "uniform"));
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
