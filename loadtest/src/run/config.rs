//! What a load run sends, to where, how fast and for how long.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Uri};
use rand::{Rng as _, SeedableRng as _};

/// Default request path: TF Serving's example model.
pub const DEFAULT_PATH: &str = "/v1/models/half_plus_two:predict";
/// Default request body.
pub const DEFAULT_BODY: &str = r#"{"instances":[1.0,2.0,5.0]}"#;

/// An invalid load configuration; the message names the bad value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid load configuration: {0}")]
pub struct LoadConfigError(pub String);

/// When the requests of an open-loop run are due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Arrival {
    /// Evenly spaced: request `i` at `i / rate`.
    #[default]
    Uniform,
    /// A Poisson process of mean `rate`: exponential gaps, from a seeded generator (the same
    /// seed gives the same schedule).
    Poisson {
        /// Seed of the gaps.
        seed: u64,
    },
}

/// A closed-loop workload: `streams` parallel streams, each sending `requests_per_stream`
/// requests one after the other, the next as soon as the previous one is answered (no think
/// time). The reference's workload is 5 × 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClosedLoop {
    /// Parallel streams.
    pub streams: usize,
    /// Sequential requests per stream.
    pub requests_per_stream: u64,
}

/// Extra request headers by phase: a run's requests are split into `phases.len()` equal
/// consecutive phases (per stream in a closed loop, over the measured schedule in an open
/// loop; the warm-up uses the first), and each request carries its phase's headers — e.g. the
/// reference's `env` use case, whose weights change five times.
pub type Phases = Vec<Vec<(HeaderName, HeaderValue)>>;

/// A load run.
///
/// Open loop (the default): request `i` is due at `t0 + i / rate` (or at a Poisson process's
/// arrivals, see [`Arrival`]) whatever the responses do. The requests due within `warmup` are
/// the warm-up (sent, not counted); then `duration` and/or `count` bound the measured part (the
/// first bound reached ends it). Closed loop (`closed_loop`): see [`ClosedLoop`]; `rate`,
/// `arrival`, `duration`, `count`, `warmup` and `connections` do not apply.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Base URL, `http://host:port` (a path in it is ignored; see `path`).
    pub target: String,
    /// Request method.
    pub method: Method,
    /// Request path and query.
    pub path: String,
    /// Request body (sent with `content-type: application/json` unless a header overrides it).
    pub body: Bytes,
    /// Extra request headers.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Arrival rate, requests per second.
    pub rate: f64,
    /// Measured duration (after warm-up).
    pub duration: Option<Duration>,
    /// Measured request count (after warm-up).
    pub count: Option<u64>,
    /// Warm-up before measuring.
    pub warmup: Duration,
    /// HTTP/1.1 keep-alive connections (at most one request in flight on each; requests wait
    /// for a free connection, and that wait counts in their latency).
    pub connections: usize,
    /// Per-request timeout, counted from the request's scheduled time.
    pub timeout: Duration,
    /// Width of the timeline's buckets.
    pub timeline_interval: Duration,
    /// Open loop: when requests are due.
    pub arrival: Arrival,
    /// A closed-loop workload instead of the open-loop schedule.
    pub closed_loop: Option<ClosedLoop>,
    /// Open a new connection for every request (its connect time counts in the latency), as
    /// the original prototype's clients did; otherwise connections are kept alive.
    pub new_connection_per_request: bool,
    /// Extra headers by phase (empty: none).
    pub phases: Phases,
}

impl Default for LoadConfig {
    fn default() -> Self {
        Self {
            target: "http://127.0.0.1:8501".into(),
            method: Method::POST,
            path: DEFAULT_PATH.into(),
            body: Bytes::from_static(DEFAULT_BODY.as_bytes()),
            headers: Vec::new(),
            rate: 100.0,
            duration: Some(Duration::from_secs(10)),
            count: None,
            warmup: Duration::from_secs(1),
            connections: 32,
            timeout: Duration::from_secs(10),
            timeline_interval: Duration::from_secs(1),
            arrival: Arrival::Uniform,
            closed_loop: None,
            new_connection_per_request: false,
            phases: Vec::new(),
        }
    }
}

/// The validated target: where to connect and what to send as `host`.
#[derive(Debug, Clone)]
pub struct Target {
    /// `host:port` (the `host` header).
    pub authority: String,
    /// Host name or address to resolve.
    pub host: String,
    /// Port.
    pub port: u16,
}

// === impl LoadConfig ===

impl LoadConfig {
    /// A configuration for `target` with defaults otherwise.
    pub fn new(target: impl Into<String>) -> Self {
        Self {
            target: target.into(),
            ..Self::default()
        }
    }

    /// Number of warm-up requests: those due before `warmup` (none in a closed loop).
    pub fn warmup_requests(&self) -> u64 {
        if self.closed_loop.is_some() {
            return 0;
        }
        match self.arrival {
            Arrival::Uniform => requests_before(self.warmup, self.rate),
            Arrival::Poisson { .. } => self.schedule().warmup,
        }
    }

    /// Number of measured requests.
    pub fn measured_requests(&self) -> u64 {
        if let Some(c) = self.closed_loop {
            return c.streams as u64 * c.requests_per_stream;
        }
        if let Arrival::Poisson { .. } = self.arrival {
            return self.schedule().measured;
        }
        let by_duration = self.duration.map(|d| requests_before(d, self.rate));
        match (by_duration, self.count) {
            (Some(d), Some(c)) => d.min(c),
            (Some(d), None) => d,
            (None, Some(c)) => c,
            (None, None) => 0,
        }
    }

    /// The open-loop schedule: every request's due offset from the start, warm-up first.
    /// Uniform arrivals are computed on demand ([`Schedule::due`]); Poisson arrivals are drawn
    /// here, once, from the seed.
    pub fn schedule(&self) -> Schedule {
        match self.arrival {
            Arrival::Uniform => {
                let warmup = requests_before(self.warmup, self.rate);
                let by_duration = self.duration.map(|d| requests_before(d, self.rate));
                let measured = match (by_duration, self.count) {
                    (Some(d), Some(c)) => d.min(c),
                    (Some(d), None) => d,
                    (None, Some(c)) => c,
                    (None, None) => 0,
                };
                Schedule {
                    rate: self.rate,
                    warmup,
                    measured,
                    poisson: None,
                }
            }
            Arrival::Poisson { seed } => {
                let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
                let mut t = 0.0;
                let mut due = Vec::new();
                let warmup_s = self.warmup.as_secs_f64();
                let end_s = self.duration.map(|d| warmup_s + d.as_secs_f64());
                let mut warmup = 0u64;
                let mut measured = 0u64;
                // Bounded by a duration or a count at a rate > 0 (what `validate` requires);
                // anything else is an empty schedule, never an endless loop.
                let bounded = end_s.is_some() || self.count.is_some();
                let rate_ok = self.rate.is_finite() && self.rate > 0.0;
                let more = |measured: u64, t: f64| {
                    !(self.count.is_some_and(|c| measured >= c) || end_s.is_some_and(|e| t >= e))
                };
                while bounded && rate_ok && more(measured, t) {
                    due.push(Duration::from_secs_f64(t));
                    if t < warmup_s {
                        warmup += 1;
                    } else {
                        measured += 1;
                    }
                    // Exponential gap of mean 1/rate; 1 − u is in (0, 1], so the log is finite.
                    let u: f64 = rng.random();
                    t += -(1.0 - u).ln() / self.rate;
                }
                Schedule {
                    rate: self.rate,
                    warmup,
                    measured,
                    poisson: Some(due),
                }
            }
        }
    }

    /// The phase (index into `phases`) of the request at `position` of `of` (its position in
    /// its stream, or in the measured schedule).
    pub fn phase_of(&self, position: u64, of: u64) -> Option<usize> {
        let n = self.phases.len() as u64;
        if n == 0 {
            return None;
        }
        let phase = (position.min(of.saturating_sub(1)) * n)
            .checked_div(of)
            .unwrap_or(0);
        usize::try_from(phase).ok()
    }

    /// Checks the configuration and parses the target.
    ///
    /// # Errors
    /// Names the first bad value.
    pub fn validate(&self) -> Result<Target, LoadConfigError> {
        let bad = |m: String| Err(LoadConfigError(m));
        if !(self.rate.is_finite() && self.rate > 0.0) {
            return bad(format!("rate = {} must be > 0", self.rate));
        }
        if self.duration.is_none() && self.count.is_none() {
            return bad("give a duration or a count".into());
        }
        if let Some(c) = self.closed_loop {
            if c.streams == 0 {
                return bad("streams = 0 must be ≥ 1".into());
            }
            if c.requests_per_stream == 0 {
                return bad("requests per stream = 0 must be ≥ 1".into());
            }
        }
        if self.connections == 0 {
            return bad("connections = 0 must be ≥ 1".into());
        }
        if self.timeout.is_zero() {
            return bad("timeout must be > 0".into());
        }
        if self.timeline_interval.is_zero() {
            return bad("timeline interval must be > 0".into());
        }
        if !self.path.starts_with('/') {
            return bad(format!("path = {:?} must start with '/'", self.path));
        }
        if self.path.parse::<Uri>().is_err() {
            return bad(format!(
                "path = {:?} is not a valid request path",
                self.path
            ));
        }
        let uri: Uri = self
            .target
            .parse()
            .map_err(|_| LoadConfigError(format!("target = {:?} is not a URL", self.target)))?;
        match uri.scheme_str() {
            Some("http") => {}
            _ => {
                return bad(format!(
                    "target = {:?} must be an http:// URL (https is not supported)",
                    self.target
                ));
            }
        }
        let authority = uri
            .authority()
            .ok_or_else(|| LoadConfigError(format!("target = {:?} has no host", self.target)))?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        Ok(Target {
            authority: authority.as_str().to_owned(),
            host: host.to_owned(),
            port: authority.port_u16().unwrap_or(80),
        })
    }
}

/// An open-loop schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// Mean arrival rate, requests per second.
    pub rate: f64,
    /// Warm-up requests (the first ones).
    pub warmup: u64,
    /// Measured requests (after the warm-up).
    pub measured: u64,
    /// Poisson arrivals' due offsets; `None`: uniform.
    poisson: Option<Vec<Duration>>,
}

// === impl Schedule ===

impl Schedule {
    /// All requests, warm-up included.
    pub fn total(&self) -> u64 {
        self.warmup + self.measured
    }

    /// Due offset of request `i` from the start.
    pub fn due(&self, i: u64) -> Duration {
        match &self.poisson {
            Some(due) => usize::try_from(i)
                .ok()
                .and_then(|i| due.get(i).copied())
                .unwrap_or(Duration::MAX),
            None => due_offset(i, self.rate),
        }
    }
}

/// A predict body of `elements` random values in [0, 100) with two decimals (the reference's
/// "10 random floats"), the same for the same seed: `{"instances":[12.34,…]}`. The simulator
/// counts each value as an input element.
pub fn instances_body(elements: usize, seed: u64) -> Bytes {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let values: Vec<String> = (0..elements)
        .map(|_| {
            let v: f64 = rng.random_range(0.0..100.0);
            format!("{:.2}", v)
        })
        .collect();
    Bytes::from(format!("{{\"instances\":[{}]}}", values.join(",")))
}

/// How many of the requests `i = 0, 1, …` are due at `i / rate < span`.
pub fn requests_before(span: Duration, rate: f64) -> u64 {
    let x = span.as_secs_f64() * rate;
    // Requests at i/rate < span: i < x, i.e. ceil(x); guard against 1000.0000001 → 1001.
    let rounded = x.round();
    if (x - rounded).abs() < 1e-9 {
        rounded as u64
    } else {
        x.ceil() as u64
    }
}

/// Offset of request `i` from `t0`.
pub fn due_offset(i: u64, rate: f64) -> Duration {
    Duration::from_secs_f64(i as f64 / rate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_counts() {
        assert_eq!(requests_before(Duration::from_secs(2), 500.0), 1000);
        assert_eq!(requests_before(Duration::from_millis(1500), 3.0), 5);
        assert_eq!(requests_before(Duration::from_millis(1400), 3.0), 5);
        assert_eq!(requests_before(Duration::ZERO, 3.0), 0);
        assert_eq!(due_offset(500, 1000.0), Duration::from_millis(500));
        let c = LoadConfig {
            rate: 100.0,
            duration: Some(Duration::from_secs(3)),
            count: Some(50),
            warmup: Duration::from_millis(500),
            ..LoadConfig::default()
        };
        assert_eq!(c.measured_requests(), 50);
        assert_eq!(c.warmup_requests(), 50);
    }

    #[test]
    fn poisson_arrivals_are_seeded_and_have_the_mean_rate() {
        let c = LoadConfig {
            rate: 200.0,
            duration: Some(Duration::from_secs(50)),
            warmup: Duration::from_secs(1),
            arrival: Arrival::Poisson { seed: 3 },
            ..LoadConfig::default()
        };
        let s = c.schedule();
        // 10,000 expected measured arrivals; the count's standard deviation is 100.
        assert!((9_500..10_500).contains(&s.measured), "{}", s.measured);
        assert!((140..260).contains(&s.warmup), "{}", s.warmup);
        assert_eq!(c.measured_requests(), s.measured);
        assert_eq!(c.warmup_requests(), s.warmup);
        // Ordered, starting at 0, within the bounds; the same seed, the same schedule.
        assert_eq!(s.due(0), Duration::ZERO);
        let due: Vec<Duration> = (0..s.total()).map(|i| s.due(i)).collect();
        assert!(due.windows(2).all(|w| w[0] <= w[1]));
        assert!(due[(s.total() - 1) as usize] < Duration::from_secs(51));
        assert!(due[s.warmup as usize] >= Duration::from_secs(1));
        let again = c.schedule();
        assert!((0..s.total()).all(|i| again.due(i) == s.due(i)));
        // Gaps: exponential, so their standard deviation equals their mean (1/rate = 5 ms).
        let gaps: Vec<f64> = due
            .windows(2)
            .map(|w| (w[1] - w[0]).as_secs_f64())
            .collect();
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        let sd = (gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64).sqrt();
        assert!((mean - 0.005).abs() < 0.0003, "{mean}");
        assert!((sd / mean - 1.0).abs() < 0.1, "{sd} vs {mean}");
        // A count bound.
        let c = LoadConfig {
            duration: None,
            count: Some(50),
            warmup: Duration::ZERO,
            ..c
        };
        assert_eq!((c.schedule().warmup, c.schedule().measured), (0, 50));
    }

    #[test]
    fn closed_loops_count_streams_times_requests_and_phases_split_them() {
        let c = LoadConfig {
            closed_loop: Some(ClosedLoop {
                streams: 5,
                requests_per_stream: 100,
            }),
            phases: vec![Vec::new(); 5],
            ..LoadConfig::default()
        };
        assert_eq!((c.measured_requests(), c.warmup_requests()), (500, 0));
        assert_eq!(c.phase_of(0, 100), Some(0));
        assert_eq!(c.phase_of(19, 100), Some(0));
        assert_eq!(c.phase_of(20, 100), Some(1));
        assert_eq!(c.phase_of(99, 100), Some(4));
        assert_eq!(c.phase_of(3, 0), Some(0));
        assert_eq!(LoadConfig::default().phase_of(3, 10), None);
        let e = |c: ClosedLoop| {
            LoadConfig {
                closed_loop: Some(c),
                ..LoadConfig::default()
            }
            .validate()
            .unwrap_err()
            .0
        };
        assert!(
            e(ClosedLoop {
                streams: 0,
                requests_per_stream: 1
            })
            .contains("streams")
        );
        assert!(
            e(ClosedLoop {
                streams: 1,
                requests_per_stream: 0
            })
            .contains("requests per stream")
        );
    }

    #[test]
    fn instances_bodies_have_the_asked_element_count() {
        let body = instances_body(10, 7);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let values = v["instances"].as_array().unwrap();
        assert_eq!(values.len(), 10);
        assert!(
            values
                .iter()
                .all(|x| (0.0..100.0).contains(&x.as_f64().unwrap()))
        );
        assert_eq!(instances_body(10, 7), body);
        assert_ne!(instances_body(10, 8), body);
    }

    #[test]
    fn validation_names_the_bad_value() {
        let e = |c: LoadConfig| c.validate().unwrap_err().0;
        assert!(
            e(LoadConfig {
                rate: 0.0,
                ..LoadConfig::default()
            })
            .contains("rate")
        );
        assert!(
            e(LoadConfig {
                connections: 0,
                ..LoadConfig::default()
            })
            .contains("connections")
        );
        assert!(e(LoadConfig::new("https://x:1")).contains("http://"));
        assert!(e(LoadConfig::new("not a url")).contains("target"));
        assert!(
            e(LoadConfig {
                duration: None,
                ..LoadConfig::default()
            })
            .contains("duration or a count")
        );
        assert!(
            e(LoadConfig {
                path: "x".into(),
                ..LoadConfig::default()
            })
            .contains("path")
        );
        let t = LoadConfig::new("http://localhost:9000").validate().unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.authority.as_str()),
            ("localhost", 9000, "localhost:9000")
        );
        let t = LoadConfig::new("http://[::1]").validate().unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 80));
    }
}
