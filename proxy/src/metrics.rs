//! The proxy's Prometheus metrics (`mulambda_proxy_*`), in a private registry. Label sets are
//! bounded: `model` is an executor's model name (bounded by the catalog), `outcome`, `reason`
//! and `trigger` come from the fixed sets below.
//!
//! The request path does not look label values up per request (a hash and a lock in
//! `with_label_values`): the fixed `reason` children are resolved once here, and the
//! `requests_total` children of a model are resolved on first use and kept in a
//! [`RequestCounters`] (one per executor in the snapshot, one for "no model"). Children are
//! created lazily, exactly when the per-request lookup would have created them, so the
//! exported series are the same.

use std::sync::{Arc, OnceLock};

use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    Opts, Registry, TextEncoder,
};

use crate::selection::Reason;

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
    /// Every outcome, in [`Outcome::index`] order.
    pub const ALL: [Outcome; 9] = [
        Outcome::Success,
        Outcome::ClientError,
        Outcome::BackendError,
        Outcome::NoCandidate,
        Outcome::NoSnapshot,
        Outcome::Timeout,
        Outcome::TooLarge,
        Outcome::NotFound,
        Outcome::BadRequest,
    ];

    /// Position in [`Outcome::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

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
    /// The first executor's connection broke before a response arrived (e.g. it crashed with
    /// the request in flight). Every call the proxy forwards is idempotent — inference is a pure
    /// function of its input, status and metadata are reads — so it is retried.
    ConnectionLost,
    /// The first executor answered 503.
    Unavailable,
    /// A retry was wanted but the budget was spent.
    BudgetExhausted,
}

// === impl RetryReason ===

impl RetryReason {
    /// Every reason, in [`RetryReason::index`] order.
    pub const ALL: [RetryReason; 4] = [
        RetryReason::ConnectError,
        RetryReason::ConnectionLost,
        RetryReason::Unavailable,
        RetryReason::BudgetExhausted,
    ];

    /// Position in [`RetryReason::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            RetryReason::ConnectError => "connect_error",
            RetryReason::ConnectionLost => "connection_lost",
            RetryReason::Unavailable => "unavailable",
            RetryReason::BudgetExhausted => "budget_exhausted",
        }
    }
}

/// Reasons of `mulambda_proxy_selections_total`: why an executor was chosen, or why none was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelectionOutcome {
    /// An executor was chosen, for this reason.
    Chosen(Reason),
    /// No executor matches the criteria.
    NoCandidate,
    /// No catalog snapshot loaded yet.
    NoSnapshot,
}

// === impl SelectionOutcome ===

impl SelectionOutcome {
    /// Every outcome, in [`SelectionOutcome::index`] order.
    pub const ALL: [SelectionOutcome; 6] = [
        SelectionOutcome::Chosen(Reason::Best),
        SelectionOutcome::Chosen(Reason::NearTie),
        SelectionOutcome::Chosen(Reason::Probation),
        SelectionOutcome::Chosen(Reason::Pinned),
        SelectionOutcome::NoCandidate,
        SelectionOutcome::NoSnapshot,
    ];

    /// Position in [`SelectionOutcome::ALL`].
    pub fn index(self) -> usize {
        match self {
            SelectionOutcome::Chosen(Reason::Best) => 0,
            SelectionOutcome::Chosen(Reason::NearTie) => 1,
            SelectionOutcome::Chosen(Reason::Probation) => 2,
            SelectionOutcome::Chosen(Reason::Pinned) => 3,
            SelectionOutcome::NoCandidate => 4,
            SelectionOutcome::NoSnapshot => 5,
        }
    }

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            SelectionOutcome::Chosen(r) => r.as_str(),
            SelectionOutcome::NoCandidate => "no_candidate",
            SelectionOutcome::NoSnapshot => "no_snapshot",
        }
    }
}

impl From<Reason> for SelectionOutcome {
    fn from(r: Reason) -> SelectionOutcome {
        SelectionOutcome::Chosen(r)
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
    /// `selections_total` children of [`SelectionOutcome::ALL`], resolved once.
    selection_children: [IntCounter; 6],
    /// `retries_total` children of [`RetryReason::ALL`], resolved once.
    retry_children: [IntCounter; 4],
    /// `requests_total` children with an empty `model` (no executor chosen).
    no_model: Arc<RequestCounters>,
}

/// The `mulambda_proxy_requests_total{outcome, model}` children of one model, each resolved on
/// its first use and then incremented without a label lookup.
#[derive(Debug, Clone)]
pub struct RequestCounters {
    model: Arc<str>,
    children: [OnceLock<IntCounter>; 9],
}

// === impl RequestCounters ===

impl RequestCounters {
    /// The (not yet resolved) counters of `model`.
    pub fn new(model: &str) -> RequestCounters {
        RequestCounters {
            model: Arc::from(model),
            children: Default::default(),
        }
    }

    /// Counts one request of this model with `outcome`.
    pub fn inc(&self, metrics: &Metrics, outcome: Outcome) {
        self.children[outcome.index()]
            .get_or_init(|| {
                metrics
                    .requests
                    .with_label_values(&[outcome.as_str(), &self.model])
            })
            .inc();
    }
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
        let selection_children =
            SelectionOutcome::ALL.map(|r| selections.with_label_values(&[r.as_str()]));
        let retry_children = RetryReason::ALL.map(|r| retries.with_label_values(&[r.as_str()]));
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
            selection_children,
            retry_children,
            no_model: Arc::new(RequestCounters::new("")),
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
        // The fixed `reason` children were created above, so dashboards see zeros, not gaps.
        for t in [Trigger::Event, Trigger::Poll, Trigger::Reconnect] {
            m.refreshes.with_label_values(&[t.as_str()]);
        }
        m
    }

    /// Counts one request (by label lookup; the request path uses [`RequestCounters`]).
    pub fn request(&self, outcome: Outcome, model: &str) {
        if model.is_empty() {
            self.no_model.inc(self, outcome);
        } else {
            self.requests
                .with_label_values(&[outcome.as_str(), model])
                .inc();
        }
    }

    /// The duration histogram of one model.
    pub fn duration_of(&self, model: &str) -> Histogram {
        self.duration.with_label_values(&[model])
    }

    /// Counts one selection outcome.
    pub fn selection(&self, outcome: impl Into<SelectionOutcome>) {
        self.selection_children[outcome.into().index()].inc();
    }

    /// Removes the per-model children (`requests_total`, `request_duration_seconds`) of models
    /// that left the catalog, so a catalog that changes over time does not grow the exported
    /// series without bound. Children of a model that comes back start again from zero.
    pub fn forget_models<'a>(&self, gone: impl IntoIterator<Item = &'a str>) {
        for model in gone {
            for o in Outcome::ALL {
                // Absent children (never used) are not an error worth reporting.
                let _ = self.requests.remove_label_values(&[o.as_str(), model]);
            }
            let _ = self.duration.remove_label_values(&[model]);
        }
    }

    /// Counts one retry (or a refused one).
    pub fn retry(&self, reason: RetryReason) {
        self.retry_children[reason.index()].inc();
    }

    /// Counts one snapshot rebuild.
    pub fn refresh(&self, trigger: Trigger) {
        self.refreshes.with_label_values(&[trigger.as_str()]).inc();
    }

    /// Registers a metric of another module (intercepted mode's counters) in this registry, so
    /// that `/metrics` renders it.
    pub fn register(&self, c: Box<dyn prometheus::core::Collector>) -> prometheus::Result<()> {
        self.registry.register(c)
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
    fn indices_follow_all() {
        for (i, o) in Outcome::ALL.iter().enumerate() {
            assert_eq!(o.index(), i);
        }
        for (i, r) in RetryReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
    }

    #[test]
    fn cached_children_count_like_lookups() {
        let m = Metrics::new();
        let c = RequestCounters::new("resnet");
        c.inc(&m, Outcome::Success);
        c.inc(&m, Outcome::Success);
        m.request(Outcome::Success, "resnet");
        m.request(Outcome::NotFound, "");
        m.selection(Reason::NearTie);
        m.retry(RetryReason::Unavailable);
        let text = String::from_utf8(m.render()).unwrap();
        for line in [
            "mulambda_proxy_requests_total{model=\"resnet\",outcome=\"success\"} 3",
            "mulambda_proxy_requests_total{model=\"\",outcome=\"not_found\"} 1",
            "mulambda_proxy_selections_total{reason=\"near_tie\"} 1",
            "mulambda_proxy_retries_total{reason=\"unavailable\"} 1",
        ] {
            assert!(text.contains(line), "{line} missing in\n{text}");
        }
        // Children not used yet are not exported (as with per-request lookups).
        assert!(!text.contains("outcome=\"timeout\""), "{text}");
    }

    #[test]
    fn forgotten_models_are_no_longer_exported() {
        let m = Metrics::new();
        RequestCounters::new("gone").inc(&m, Outcome::Success);
        m.duration_of("gone").observe(0.01);
        RequestCounters::new("kept").inc(&m, Outcome::Timeout);
        m.forget_models(["gone", "never-seen"]);
        let text = String::from_utf8(m.render()).unwrap();
        assert!(!text.contains("model=\"gone\""), "{text}");
        assert!(text.contains("model=\"kept\""), "{text}");
        for (i, o) in SelectionOutcome::ALL.iter().enumerate() {
            assert_eq!(o.index(), i);
        }
    }

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
