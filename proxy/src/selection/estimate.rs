//! The latency estimate and the tuning shared by the table (built per snapshot) and the score
//! (per request): how a probe figure and this proxy's own observation of an executor combine
//! into one expected latency, and the [`ScoreConfig`] both read. Its own module so the order of
//! the selection's modules is one way: select → score → table → estimate → health.

use std::time::Duration;

use super::health::{ExecutorHealth, HealthConfig, decay};

/// Tuning of the score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreConfig {
    /// Latency assumed for an executor without a probe figure when no other executor has a fresh
    /// one either (otherwise the median of the fresh figures is the prior). Default 5 ms.
    pub prior_latency: Duration,
    /// A probe figure older than this (by the store's clock) decays toward the prior.
    /// Default 30 s.
    pub probe_stale_after: Duration,
    /// Half-life of that decay. Default 30 s.
    pub probe_half_life: Duration,
    /// Probe figure used when the companion could not reach this client. Default 1 s.
    pub unreachable_penalty: Duration,
    /// Candidates whose score is within this fraction of the best score are near-ties, spread
    /// by power of two choices. Default 0.05.
    pub near_tie_margin: f64,
    /// In-flight penalty: `cost = expected × (1 + inflight_penalty × in_flight)`. Default 1
    /// (PeakEWMA's `× (in_flight + 1)`).
    pub inflight_penalty: f64,
    /// Score bonus of an executor on the client's node. Default 0.002.
    pub same_node_bonus: f64,
    /// Score bonus of an executor in the client's zone (not on its node). Default 0.001.
    pub same_zone_bonus: f64,
    /// Lower bound of the latency scale. Default 50 µs.
    pub min_latency_ref: Duration,
}

impl Default for ScoreConfig {
    fn default() -> ScoreConfig {
        ScoreConfig {
            prior_latency: Duration::from_millis(5),
            probe_stale_after: Duration::from_secs(30),
            probe_half_life: Duration::from_secs(30),
            unreachable_penalty: Duration::from_secs(1),
            near_tie_margin: 0.05,
            inflight_penalty: 1.0,
            same_node_bonus: 0.002,
            same_zone_bonus: 0.001,
            min_latency_ref: Duration::from_micros(50),
        }
    }
}

/// How an own observation loses weight: full weight up to `stale_ns`, then halving every
/// `half_life_ns`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ObsDecay {
    pub stale_ns: u64,
    pub half_life_ns: u64,
}

impl ObsDecay {
    pub(crate) fn new(cfg: &HealthConfig) -> ObsDecay {
        ObsDecay {
            stale_ns: u64::try_from(cfg.stale_after.as_nanos()).unwrap_or(u64::MAX),
            half_life_ns: u64::try_from(cfg.ewma_half_life.as_nanos()).unwrap_or(u64::MAX),
        }
    }
}

/// The expected latency (ms) of an executor: its own observation blended with its probe figure,
/// with the observation's weight (1 while fresh, halving every `ewma_half_life` once older than
/// `stale_after`), its age and the raw EWMA.
#[inline(always)]
pub(crate) fn expected_latency(
    probe_ms: f64,
    h: &ExecutorHealth,
    now_ns: u64,
    d: ObsDecay,
) -> (f64, f64, Option<u64>, Option<f64>) {
    match h.observation() {
        None => (probe_ms, 0.0, None, None),
        Some((v, at)) => {
            let age = now_ns.saturating_sub(at);
            let w = if age <= d.stale_ns {
                1.0
            } else {
                decay(age - d.stale_ns, d.half_life_ns)
            };
            (w * v + (1.0 - w) * probe_ms, w, Some(age), Some(v))
        }
    }
}
