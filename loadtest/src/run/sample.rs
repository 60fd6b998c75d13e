//! One request's record, kept raw until the report is built.

use std::sync::Arc;
use std::time::Duration;

use super::client::FailureKind;

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// An HTTP response with this status.
    Status(u16),
    /// No response.
    Failed(FailureKind),
}

/// One request's record.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Index in the schedule.
    pub index: u64,
    /// Scheduled send time, from the start of the run.
    pub due: Duration,
    /// Actual send time (after waiting for a connection), from the start; `None` when the
    /// request timed out before it could be sent.
    pub sent: Option<Duration>,
    /// Completion time (response read, or failure noticed), from the start.
    pub done: Duration,
    /// How it ended.
    pub outcome: Outcome,
    /// The `x-mulambda-executor` response header, when present (or the executor the load
    /// tool chose itself, when it routes requests directly).
    pub executor: Option<Arc<str>>,
    /// The answer's confidence (`x-mulambda-confidence` response header), when present.
    pub confidence: Option<f64>,
}

// === impl Sample ===

impl Sample {
    /// Latency from the scheduled time (includes queueing: free of coordinated omission).
    pub fn latency(&self) -> Duration {
        self.done.saturating_sub(self.due)
    }

    /// Latency from the actual send (what a closed-loop tool would report).
    pub fn service_latency(&self) -> Option<Duration> {
        self.sent.map(|s| self.done.saturating_sub(s))
    }

    /// Whether the request got a 2xx response.
    pub fn is_success(&self) -> bool {
        matches!(self.outcome, Outcome::Status(s) if (200..300).contains(&s))
    }

    /// The error kind for reports (`None` for 2xx): `connect`, `timeout`, `connection`,
    /// `protocol`, `http_4xx`, `http_5xx`, `http_other`.
    pub fn error_kind(&self) -> Option<&'static str> {
        match self.outcome {
            Outcome::Status(s) if (200..300).contains(&s) => None,
            Outcome::Status(s) if (400..500).contains(&s) => Some("http_4xx"),
            Outcome::Status(s) if (500..600).contains(&s) => Some("http_5xx"),
            Outcome::Status(_) => Some("http_other"),
            Outcome::Failed(kind) => Some(kind.name()),
        }
    }
}
