//! The proxy's Prometheus metrics (`mulambda_proxy_*`), in a private registry. Label sets are
//! bounded: `model` is an executor's model name (bounded by the catalog), `outcome`, `reason`
//! and `trigger` come from the fixed sets below.

use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    Opts, Registry, TextEncoder,
};

/// Outcome label values of `mulambda_proxy_requests_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The executor answered (any status below 500, or a 5xx other than those below).
    Success,
    /// The executor answered 4xx, or the client sent something unreadable.
    ClientError,
    /// The executor failed (5xx) or could not be reached.
    BackendError,
    /// No executor matches the criteria.
    NoCandidate,
    /// No catalog snapshot loaded yet.
    NoSnapshot,
    /// The request timed out.
    Timeout,
    /// The body exceeded the limit.
    TooLarge,
    /// Unknown path.
    NotFound,
    /// Malformed path or header.
    BadRequest,
}

// === impl Outcome ===

impl Outcome {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::ClientError => "client_error",
            Outcome::BackendError => "backend_error",
            Outcome::NoCandidate => "no_candidate",
            Outcome::NoSnapshot => "no_snapshot",
            Outcome::Timeout => "timeout",
            Outcome::TooLarge => "too_large",
            Outcome::NotFound => "not_found",
            Outcome::BadRequest => "bad_request",
        }
    }
}

/// Reasons of `mulambda_proxy_retries_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryReason {
    /// The first executor could not be connected to.
    ConnectError,
    /// The first executor answered 503.
    Unavailable,
    /// A retry was wanted but the budget was spent.
    BudgetExhausted,
}

// === impl RetryReason ===

impl RetryReason {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            RetryReason::ConnectError => "connect_error",
            RetryReason::Unavailable => "unavailable",
            RetryReason::BudgetExhausted => "budget_exhausted",
        }
    }
}

/// Triggers of `mulambda_proxy_snapshot_refreshes_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// A pushed change event.
    Event,
    /// A poll.
    Poll,
    /// A (re)subscription after a disconnect, or the first load.
    Reconnect,
}

// === impl Trigger ===

impl Trigger {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Event => "event",
            Trigger::Poll => "poll",
            Trigger::Reconnect => "reconnect",
        }
    }
}

/// Every metric of the proxy.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// `mulambda_proxy_requests_total{outcome,model}`.
    pub requests: IntCounterVec,
    /// `mulambda_proxy_request_duration_seconds{model}`.
    pub duration: HistogramVec,
    /// `mulambda_proxy_selections_total{reason}`.
    pub selections: IntCounterVec,
    /// `mulambda_proxy_retries_total{reason}`.
    pub retries: IntCounterVec,
    /// `mulambda_proxy_inflight_requests`.
    pub inflight: IntGauge,
    /// `mulambda_proxy_snapshot_age_seconds`.
    pub snapshot_age: Gauge,
    /// `mulambda_proxy_snapshot_executors`.
    pub snapshot_executors: IntGauge,
    /// `mulambda_proxy_snapshot_refreshes_total{trigger}`.
    pub refreshes: IntCounterVec,
    /// `mulambda_proxy_store_connected`.
    pub store_connected: IntGauge,
    /// `mulambda_proxy_store_decode_errors_total`.
    pub decode_errors: IntCounter,
    /// `mulambda_proxy_breaker_open_executors`.
    pub breaker_open: IntGauge,
}

// === impl Metrics ===

impl Metrics {
    /// Creates and registers every metric in a new private registry.
    pub fn new() -> Metrics {
        let registry = Registry::new();
        // Names and label sets are constants: registration cannot fail except on a bug.
        let requests = IntCounterVec::new(
            Opts::new(
                "mulambda_proxy_requests_total",
                "Requests by outcome and chosen model.",
            ),
            &["outcome", "model"],
        )
        .expect("valid metric");
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "mulambda_proxy_request_duration_seconds",
                "Time from request to the executor's response headers, by chosen model.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0, 30.0,
            ]),
            &["model"],
        )
        .expect("valid metric");
        let selections = IntCounterVec::new(
            Opts::new(
                "mulambda_proxy_selections_total",
                "Selection outcomes by reason.",
            ),
            &["reason"],
        )
        .expect("valid metric");
        let retries = IntCounterVec::new(
            Opts::new("mulambda_proxy_retries_total", "Retries by reason."),
            &["reason"],
        )
        .expect("valid metric");
        let inflight = IntGauge::new("mulambda_proxy_inflight_requests", "Requests being served.")
            .expect("valid metric");
        let snapshot_age = Gauge::new(
            "mulambda_proxy_snapshot_age_seconds",
            "Seconds since the store last confirmed the snapshot (grows during a store outage).",
        )
        .expect("valid metric");
        let snapshot_executors = IntGauge::new(
            "mulambda_proxy_snapshot_executors",
            "Executors in the snapshot.",
        )
        .expect("valid metric");
        let refreshes = IntCounterVec::new(
            Opts::new(
                "mulambda_proxy_snapshot_refreshes_total",
                "Snapshot rebuilds by trigger.",
            ),
            &["trigger"],
        )
        .expect("valid metric");
        let store_connected = IntGauge::new(
            "mulambda_proxy_store_connected",
            "1 while the last store call succeeded, else 0.",
        )
        .expect("valid metric");
        let decode_errors = IntCounter::new(
            "mulambda_proxy_store_decode_errors_total",
            "Store records that could not be decoded (skipped).",
        )
        .expect("valid metric");
        let breaker_open = IntGauge::new(
            "mulambda_proxy_breaker_open_executors",
            "Executors whose breaker is open.",
        )
        .expect("valid metric");
        let m = Metrics {
            registry,
            requests,
            duration,
            selections,
            retries,
            inflight,
            snapshot_age,
            snapshot_executors,
            refreshes,
            store_connected,
            decode_errors,
            breaker_open,
        };
        let collectors: [Box<dyn prometheus::core::Collector>; 11] = [
            Box::new(m.requests.clone()),
            Box::new(m.duration.clone()),
            Box::new(m.selections.clone()),
            Box::new(m.retries.clone()),
            Box::new(m.inflight.clone()),
            Box::new(m.snapshot_age.clone()),
            Box::new(m.snapshot_executors.clone()),
            Box::new(m.refreshes.clone()),
            Box::new(m.store_connected.clone()),
            Box::new(m.decode_errors.clone()),
            Box::new(m.breaker_open.clone()),
        ];
        for c in collectors {
            m.registry.register(c).expect("unique metric names");
        }
        // Pre-create the fixed label values so dashboards see zeros, not gaps.
        for r in [
            "best",
            "near_tie",
            "probation",
            "pinned",
            "no_candidate",
            "no_snapshot",
        ] {
            m.selections.with_label_values(&[r]);
        }
        for r in [
            RetryReason::ConnectError,
            RetryReason::Unavailable,
            RetryReason::BudgetExhausted,
        ] {
            m.retries.with_label_values(&[r.as_str()]);
        }
        for t in [Trigger::Event, Trigger::Poll, Trigger::Reconnect] {
            m.refreshes.with_label_values(&[t.as_str()]);
        }
        m
    }

    /// Counts one request.
    pub fn request(&self, outcome: Outcome, model: &str) {
        self.requests
            .with_label_values(&[outcome.as_str(), model])
            .inc();
    }

    /// The duration histogram of one model.
    pub fn duration_of(&self, model: &str) -> Histogram {
        self.duration.with_label_values(&[model])
    }

    /// Counts one selection outcome.
    pub fn selection(&self, reason: &str) {
        self.selections.with_label_values(&[reason]).inc();
    }

    /// Counts one retry (or a refused one).
    pub fn retry(&self, reason: RetryReason) {
        self.retries.with_label_values(&[reason.as_str()]).inc();
    }

    /// Counts one snapshot rebuild.
    pub fn refresh(&self, trigger: Trigger) {
        self.refreshes.with_label_values(&[trigger.as_str()]).inc();
    }

    /// Renders the registry in Prometheus' text format.
    pub fn render(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(8 * 1024);
        // Encoding into a Vec cannot fail for well-formed metrics.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        buf
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_contract_names() {
        let m = Metrics::new();
        m.request(Outcome::Success, "resnet");
        m.duration_of("resnet").observe(0.01);
        m.inflight.set(0);
        m.snapshot_age.set(0.0);
        m.snapshot_executors.set(0);
        m.store_connected.set(1);
        m.decode_errors.inc();
        m.breaker_open.set(0);
        let text = String::from_utf8(m.render()).unwrap();
        for name in [
            "mulambda_proxy_requests_total{model=\"resnet\",outcome=\"success\"} 1",
            "mulambda_proxy_request_duration_seconds_bucket",
            "mulambda_proxy_selections_total{reason=\"near_tie\"} 0",
            "mulambda_proxy_retries_total{reason=\"budget_exhausted\"} 0",
            "mulambda_proxy_inflight_requests",
            "mulambda_proxy_snapshot_age_seconds",
            "mulambda_proxy_snapshot_executors",
            "mulambda_proxy_snapshot_refreshes_total{trigger=\"reconnect\"} 0",
            "mulambda_proxy_store_connected 1",
            "mulambda_proxy_store_decode_errors_total 1",
            "mulambda_proxy_breaker_open_executors",
        ] {
            assert!(text.contains(name), "{name} missing in\n{text}");
        }
    }
}
