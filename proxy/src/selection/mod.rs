//! Selection: which executor serves a request. Pure (no I/O), lock-free and allocation-free on
//! the hot path. The algorithm, its formulas and defaults are documented in `docs/selection.md`.
//!
//! - [`HealthRegistry`] / [`ExecutorHealth`] / [`InFlight`]: what this proxy observes per executor
//!   (service-time EWMA, in-flight requests, failures, breaker, first-seen time). Survives
//!   snapshot rebuilds.
//! - [`Table`]: the immutable ranking input of one snapshot, built off the hot path;
//!   [`ScoreConfig`] and the latency estimate it shares with the score (`estimate`).
//! - [`select_executor`]: one request's decision, with a [`Receipt`] of plain numbers;
//!   [`NoCandidate`] names the unmet criteria.
//! - [`explain`]: the full ranked table for a dry run (allocates; not for the hot path).
//!
//! In short: hard criteria (traits, pinned model) and readiness filter; breaker, accuracy floor
//! and latency ceiling filter; the survivors are scored
//! `score = wl · ref / (ref + cost) + wa · accuracy + colocation` with normalised weights,
//! `cost = expected latency × (1 + in_flight)`; near-ties within 5 % of the best are spread by
//! power of two choices; a newly seen executor keeps only a growing share of its wins.

mod estimate;
mod explain;
mod health;
mod receipt;
mod score;
mod select;
mod table;

#[cfg(test)]
mod tests;

use mulambda_catalog::{ModelTraits, SoftCriteria};

pub use estimate::ScoreConfig;
pub use explain::{
    ExplainedExecutor, ExplainedScore, Explanation, LatencyParts, explain, explain_with_random,
};
pub use health::{
    BreakerState, ExecutorHealth, HealthConfig, HealthRegistry, HealthSnapshot, InFlight,
};
pub use receipt::{Filter, NoCandidate, Receipt, Removed, ScoreTerms};
pub use select::select_executor;
pub use table::{ClientPlacement, ProbeSource, Table};

/// One request's criteria.
#[derive(Debug, Clone, Copy)]
pub struct SelectionRequest<'a> {
    /// Hard criteria (the client's, never bent).
    pub hard: &'a ModelTraits,
    /// Soft criteria (the client's, possibly overridden by request headers).
    pub soft: SoftCriteria,
    /// A pinned model name (header `x-mulambda-model`): an extra hard filter on the executor's
    /// model name.
    pub pinned_model: Option<&'a str>,
}

/// The decision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Selection {
    /// Index of the chosen executor in the [`Table`].
    pub index: usize,
    /// Why it was chosen.
    pub reason: Reason,
    /// The numbers behind the decision.
    pub receipt: Receipt,
}

/// Why an executor was chosen (a bounded metric label set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The best score (or the best fully ramped-in one when a ramping winner yielded).
    Best,
    /// Chosen by power of two choices among candidates within the near-tie margin.
    NearTie,
    /// The probation request of an executor whose breaker was open.
    Probation,
    /// The request pinned a model name.
    Pinned,
}

// === impl Reason ===

impl Reason {
    /// The metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Best => "best",
            Reason::NearTie => "near_tie",
            Reason::Probation => "probation",
            Reason::Pinned => "pinned",
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
