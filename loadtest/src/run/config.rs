//! What a load run sends, to where, how fast and for how long.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Uri};

/// Default request path: TF Serving's example model.
pub const DEFAULT_PATH: &str = "/v1/models/half_plus_two:predict";
/// Default request body.
pub const DEFAULT_BODY: &str = r#"{"instances":[1.0,2.0,5.0]}"#;

/// An invalid load configuration; the message names the bad value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid load configuration: {0}")]
pub struct LoadConfigError(pub String);

/// A load run.
///
/// The schedule is open-loop: request `i` is due at `t0 + i / rate` whatever the responses do.
/// The first `warmup · rate` requests are the warm-up (sent, not counted); then `duration` and/or
/// `count` bound the measured part (the first bound reached ends it).
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

    /// Number of warm-up requests: those due before `warmup`.
    pub fn warmup_requests(&self) -> u64 {
        requests_before(self.warmup, self.rate)
    }

    /// Number of measured requests.
    pub fn measured_requests(&self) -> u64 {
        let by_duration = self.duration.map(|d| requests_before(d, self.rate));
        match (by_duration, self.count) {
            (Some(d), Some(c)) => d.min(c),
            (Some(d), None) => d,
            (None, Some(c)) => c,
            (None, None) => 0,
        }
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
