//! Scoring one executor for one request: the filters, the cost, the score.
//!
//! The same function serves [`select_executor`](super::select_executor) and
//! [`explain`](super::explain), so the two cannot disagree.

use std::time::Instant;

use super::SelectionRequest;
use super::estimate::{ObsDecay, expected_latency};
use super::health::{HealthConfig, nanos_since};
use super::receipt::Filter;
use super::table::{NONE, Table};

/// A request's criteria resolved against one table (once per request).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Prepared {
    pub want_key: u64,
    pub want_model: Option<u32>,
    pub ref_ms: f64,
    pub wl: f64,
    pub wa: f64,
    pub max_latency_ms: f64,
    pub min_accuracy: f64,
    pub now_ns: u64,
    pub margin: f64,
    inflight_penalty: f64,
    hcfg: HealthConfig,
    pub obs_decay: ObsDecay,
}

/// A candidate's figures.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Cand {
    pub expected_ms: f64,
    pub cost_ms: f64,
    pub latency_term: f64,
    pub accuracy_term: f64,
    pub colocation: f64,
    pub score: f64,
    pub inflight: u32,
    /// Share of its wins a ramping executor keeps, in (0, 1].
    pub ramp: f64,
    /// Breaker word as read (non-zero: only eligible as the probation request).
    pub breaker_raw: u64,
    pub observed_age_ns: Option<u64>,
    pub observed_weight: f64,
    /// Tier: 0 normal, 1 last resort (unreachable by probe).
    pub tier: usize,
}

/// Normalises weights to sum to 1: negative, NaN or infinite weights count as 0, and two zero
/// weights as equal weights.
pub(crate) fn normalise_weights(latency: f64, accuracy: f64) -> (f64, f64) {
    let clean = |w: f64| if w.is_finite() && w > 0.0 { w } else { 0.0 };
    let (l, a) = (clean(latency), clean(accuracy));
    let sum = l + a;
    if sum > 0.0 && sum.is_finite() {
        (l / sum, a / sum)
    } else {
        (0.5, 0.5)
    }
}

// === impl Prepared ===

impl Prepared {
    pub(crate) fn new(table: &Table, req: &SelectionRequest<'_>, now: Instant) -> Prepared {
        let want_key = table.traits_key(req.hard);
        let (wl, wa) = normalise_weights(req.soft.latency_weight, req.soft.accuracy_weight);
        let cfg = &table.score_cfg;
        Prepared {
            want_key,
            want_model: req.pinned_model.map(|m| table.model_id(m)),
            ref_ms: table.ref_ms(want_key),
            wl,
            wa,
            max_latency_ms: req
                .soft
                .max_latency_ms
                .filter(|v| !v.is_nan())
                .unwrap_or(f64::INFINITY),
            min_accuracy: req
                .soft
                .min_accuracy
                .filter(|v| !v.is_nan())
                .unwrap_or(f64::NEG_INFINITY),
            now_ns: nanos_since(table.epoch, now),
            margin: if cfg.near_tie_margin.is_finite() {
                cfg.near_tie_margin.clamp(0.0, 1.0)
            } else {
                0.0
            },
            inflight_penalty: if cfg.inflight_penalty.is_finite() {
                cfg.inflight_penalty.max(0.0)
            } else {
                1.0
            },
            hcfg: table.health_cfg,
            obs_decay: ObsDecay::new(&table.health_cfg),
        }
    }

    /// Applies the filters to entry `i` and scores it. `Err` names the first filter that
    /// removed it.
    #[inline(always)]
    pub(crate) fn eval(
        &self,
        table: &Table,
        i: usize,
        exclude: &[usize],
        skip: &[usize],
    ) -> Result<Cand, Filter> {
        let e = &table.entries[i];
        if e.traits_key != self.want_key {
            let diff = e.traits_key ^ self.want_key;
            return Err(if diff & NONE != 0 {
                Filter::ModelType
            } else if diff & (NONE << 16) != 0 {
                Filter::InputFormat
            } else {
                Filter::OutputFormat
            });
        }
        if let Some(m) = self.want_model
            && e.model != m
        {
            return Err(Filter::Model);
        }
        if !e.ready {
            return Err(Filter::NotReady);
        }
        if exclude.contains(&i) {
            return Err(Filter::Excluded);
        }
        let h = table.health(i);
        let breaker_raw = h.breaker_raw();
        if breaker_raw != 0 && (skip.contains(&i) || !breaker_ready(breaker_raw, self.now_ns)) {
            return Err(Filter::Breaker);
        }
        if e.accuracy < self.min_accuracy {
            return Err(Filter::AccuracyFloor);
        }
        let c = self.figures(table, i, breaker_raw);
        if c.expected_ms > self.max_latency_ms {
            return Err(Filter::LatencyCeiling);
        }
        Ok(c)
    }

    /// The figures and score of entry `i`, without the filters.
    #[inline(always)]
    pub(crate) fn figures(&self, table: &Table, i: usize, breaker_raw: u64) -> Cand {
        let e = &table.entries[i];
        let h = table.health(i);
        let (expected_ms, observed_weight, observed_age_ns, _) =
            expected_latency(e.probe_ms, h, self.now_ns, self.obs_decay);
        let inflight = h.inflight();
        let cost_ms = expected_ms * (1.0 + self.inflight_penalty * f64::from(inflight));
        let latency_term = self.ref_ms / (self.ref_ms + cost_ms);
        let accuracy_term = e.accuracy;
        let score = self.wl * latency_term + self.wa * accuracy_term + e.colocation;
        let ramp = if self.now_ns >= e.ramp_end_ns {
            1.0
        } else {
            let span = e.ramp_end_ns - e.first_seen_ns;
            let done = self.now_ns.saturating_sub(e.first_seen_ns) as f64 / span as f64;
            let floor = self.hcfg.ramp_floor.clamp(0.0, 1.0);
            (floor + (1.0 - floor) * done).clamp(f64::MIN_POSITIVE, 1.0)
        };
        Cand {
            expected_ms,
            cost_ms,
            latency_term,
            accuracy_term,
            colocation: e.colocation,
            score,
            inflight,
            ramp,
            breaker_raw,
            observed_age_ns,
            observed_weight,
            tier: usize::from(e.last_resort),
        }
    }

    /// The lowest score still within the near-tie margin of `best`.
    pub(crate) fn threshold(&self, best: f64) -> f64 {
        best - self.margin * best.abs()
    }
}

/// Whether a non-zero breaker word allows a probation request at `now_ns`.
#[inline]
pub(crate) fn breaker_ready(raw: u64, now_ns: u64) -> bool {
    let deadline = (raw & !super::health::HALF_OPEN_BIT) - 1;
    now_ns >= deadline
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_have_no_sign_traps() {
        assert_eq!(normalise_weights(3.0, 1.0), (0.75, 0.25));
        assert_eq!(normalise_weights(0.0, 0.0), (0.5, 0.5));
        assert_eq!(normalise_weights(-1.0, 2.0), (0.0, 1.0));
        assert_eq!(normalise_weights(f64::NAN, f64::INFINITY), (0.5, 0.5));
        assert_eq!(normalise_weights(f64::MAX, f64::MAX), (0.5, 0.5));
    }
}
