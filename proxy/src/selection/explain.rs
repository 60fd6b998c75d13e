//! A dry run: the full ranked table behind a decision, as JSON for the admin listener's
//! `/explain`. Built from the same scoring function as the hot path; allocates freely.

use std::time::Instant;

use serde::Serialize;

use super::health::BreakerState;
use super::receipt::{Filter, Receipt};
use super::score::Prepared;
use super::select::{pick, selection};
use super::table::{ProbeSource, Table};
use super::{Reason, SelectionRequest};

/// The ranked table and the decision.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// The criteria as applied (weights normalised).
    pub criteria: ExplainedCriteria,
    /// Latency scale `ref` (ms) of the latency term for these traits.
    pub latency_ref_ms: f64,
    /// Latency prior (ms) for executors without a probe figure.
    pub prior_ms: f64,
    /// Near-tie margin (fraction of the best score).
    pub near_tie_margin: f64,
    /// Executors in the table.
    pub total: usize,
    /// Executors that passed every filter.
    pub candidates: usize,
    /// Id of the best-scoring candidate.
    pub best: Option<String>,
    /// Ids of the candidates within the near-tie margin of the best (more than one: the choice
    /// among them is spread by power of two choices).
    pub near_tie: Vec<String>,
    /// What [`select_executor`](super::select_executor) chooses with `random` (no probation is
    /// claimed by a dry run).
    pub chosen: Option<ExplainedChoice>,
    /// The receipt of that choice.
    pub receipt: Receipt,
    /// The `x-mulambda-reason` header of that choice.
    pub reason_header: String,
    /// The no-candidate message, when nothing passed.
    pub error: Option<String>,
    /// Every executor, in table order.
    pub executors: Vec<ExplainedExecutor>,
}

/// The criteria of the explained request.
#[derive(Debug, Clone, Serialize)]
pub struct ExplainedCriteria {
    /// Wanted model type.
    pub model_type: String,
    /// Wanted input format.
    pub input_format: String,
    /// Wanted output format.
    pub output_format: String,
    /// Pinned model name.
    pub pinned_model: Option<String>,
    /// Normalised latency weight.
    pub latency_weight: f64,
    /// Normalised accuracy weight.
    pub accuracy_weight: f64,
    /// Latency ceiling (ms).
    pub max_latency_ms: Option<f64>,
    /// Accuracy floor.
    pub min_accuracy: Option<f64>,
}

/// The choice.
#[derive(Debug, Clone, Serialize)]
pub struct ExplainedChoice {
    /// Table index.
    pub index: usize,
    /// Executor id.
    pub id: String,
    /// Model name.
    pub model: String,
    /// Reason label.
    pub reason: Reason,
    /// The random value used.
    pub random: u64,
}

/// One executor's row.
#[derive(Debug, Clone, Serialize)]
pub struct ExplainedExecutor {
    /// Table index.
    pub index: usize,
    /// Executor id.
    pub id: String,
    /// Model name.
    pub model: String,
    /// Pinned model version, if any.
    pub model_version: Option<u64>,
    /// Declared accuracy.
    pub accuracy: f64,
    /// Rank among the candidates (1 = best); `None` when removed.
    pub rank: Option<usize>,
    /// Every filter that removes it (the receipt counts only the first).
    pub removed_by: Vec<Filter>,
    /// The latency figures.
    pub latency: LatencyParts,
    /// Score terms, for candidates.
    pub score: Option<ExplainedScore>,
    /// Within the near-tie margin of the best.
    pub near_tie: bool,
    /// The one chosen.
    pub chosen: bool,
}

/// How the expected latency of one executor is made.
#[derive(Debug, Clone, Serialize)]
pub struct LatencyParts {
    /// Probe figure used (ms).
    pub probe_ms: f64,
    /// Where it came from.
    pub probe_source: ProbeSource,
    /// Its age by the store's clock (ms), when measured.
    pub probe_age_ms: Option<u64>,
    /// This proxy's service-time EWMA (ms), if observed.
    pub observed_ewma_ms: Option<f64>,
    /// Age of the last observation (ms).
    pub observed_age_ms: Option<u64>,
    /// Weight of the observation in the blend (1 fresh, decays once stale).
    pub observed_weight: f64,
    /// `observed_weight × observed + (1 − observed_weight) × probe` (ms).
    pub expected_latency_ms: f64,
    /// Requests in flight.
    pub inflight: u32,
    /// `1 + inflight_penalty × inflight`.
    pub load_factor: f64,
    /// `expected × load_factor` (ms).
    pub cost_ms: f64,
    /// Breaker state: closed, open, probation_ready, half_open.
    pub breaker: &'static str,
    /// Consecutive failures.
    pub consecutive_failures: u32,
    /// Ramp-in share in (0, 1] (1: fully ramped in).
    pub ramp: f64,
    /// On the client's node.
    pub same_node: bool,
    /// In the client's zone.
    pub same_zone: bool,
}

/// Score terms of a candidate.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ExplainedScore {
    /// `ref / (ref + cost)`.
    pub latency_term: f64,
    /// Declared accuracy.
    pub accuracy_term: f64,
    /// Co-location bonus.
    pub colocation: f64,
    /// The score.
    pub score: f64,
}

/// Explains the decision for `req` as `select_executor` would make it with `random = 0`.
pub fn explain(table: &Table, req: &SelectionRequest<'_>, now: Instant) -> Explanation {
    explain_with_random(table, req, 0, now)
}

/// Explains the decision `select_executor` makes with this `random` value (no probation claim).
pub fn explain_with_random(
    table: &Table,
    req: &SelectionRequest<'_>,
    random: u64,
    now: Instant,
) -> Explanation {
    let prep = Prepared::new(table, req, now);
    let decision = pick(table, req, &prep, &[], &[], random);
    let (chosen_index, receipt, error, best_score) = match &decision {
        Ok(p) => (
            Some(p.index),
            selection(table, &prep, *p).receipt,
            None,
            Some(p.best_score),
        ),
        Err(e) => (None, e.receipt, Some(e.to_string()), None),
    };
    let threshold = best_score.map(|b| prep.threshold(b));
    let evals: Vec<_> = (0..table.len())
        .map(|i| prep.eval(table, i, &[], &[]))
        .collect();
    let has_reachable = evals.iter().any(|e| matches!(e, Ok(c) if c.tier == 0));
    let mut rows: Vec<ExplainedExecutor> = Vec::with_capacity(table.len());
    for (i, eval) in evals.iter().enumerate() {
        let exe = table.executor(i);
        let e = &table.entries[i];
        let h = table.health(i);
        let snap = h.snapshot(now);
        let eval = match *eval {
            Ok(c) if c.tier == 1 && has_reachable => Err(Filter::Unreachable),
            other => other,
        };
        let (expected_ms, observed_weight, _, _) =
            super::estimate::expected_latency(e.probe_ms, h, prep.now_ns, prep.obs_decay);
        let load_factor =
            1.0 + table.score_cfg.inflight_penalty.max(0.0) * f64::from(snap.inflight);
        let mut removed_by = Vec::new();
        if let Err(first) = eval {
            removed_by.push(first);
            for f in Filter::ALL {
                if f != first && fails(table, &prep, i, f, expected_ms) {
                    removed_by.push(f);
                }
            }
            removed_by.sort_by_key(|f| Filter::ALL.iter().position(|g| g == f));
        }
        let ramp = match eval {
            Ok(c) => c.ramp,
            Err(_) => {
                let cfg = &table.health_cfg;
                let span = e.ramp_end_ns.saturating_sub(e.first_seen_ns).max(1);
                let done = prep.now_ns.saturating_sub(e.first_seen_ns) as f64 / span as f64;
                if done >= 1.0 {
                    1.0
                } else {
                    cfg.ramp_floor + (1.0 - cfg.ramp_floor) * done
                }
            }
        };
        let since_build_ms = prep.now_ns.saturating_sub(table.built_at_ns) / 1_000_000;
        rows.push(ExplainedExecutor {
            index: i,
            id: exe.id.to_string(),
            model: exe.model_name.to_string(),
            model_version: exe.model_version,
            accuracy: e.accuracy,
            rank: None,
            removed_by,
            latency: LatencyParts {
                probe_ms: e.probe_ms,
                probe_source: e.probe_source,
                probe_age_ms: e.probe_age_ms.map(|a| a.saturating_add(since_build_ms)),
                observed_ewma_ms: snap.ewma_ms,
                observed_age_ms: snap.observed_age.map(|d| d.as_millis() as u64),
                observed_weight,
                expected_latency_ms: expected_ms,
                inflight: snap.inflight,
                load_factor,
                cost_ms: expected_ms * load_factor,
                breaker: match snap.breaker {
                    BreakerState::Closed => "closed",
                    BreakerState::Open => "open",
                    BreakerState::ProbationReady => "probation_ready",
                    BreakerState::HalfOpen => "half_open",
                },
                consecutive_failures: snap.consecutive_failures,
                ramp,
                same_node: e.same_node,
                same_zone: e.same_zone,
            },
            score: eval.ok().map(|c| ExplainedScore {
                latency_term: c.latency_term,
                accuracy_term: c.accuracy_term,
                colocation: c.colocation,
                score: c.score,
            }),
            near_tie: match (eval, threshold) {
                (Ok(c), Some(t)) => c.score >= t,
                _ => false,
            },
            chosen: chosen_index == Some(i),
        });
    }
    let mut ranked: Vec<usize> = (0..rows.len())
        .filter(|i| rows[*i].score.is_some())
        .collect();
    let score_of = |i: usize| rows[i].score.map_or(f64::NEG_INFINITY, |s| s.score);
    ranked.sort_by(|a, b| score_of(*b).total_cmp(&score_of(*a)).then(a.cmp(b)));
    for (rank, i) in ranked.iter().enumerate() {
        rows[*i].rank = Some(rank + 1);
    }
    let near_tie: Vec<String> = ranked
        .iter()
        .filter(|i| rows[**i].near_tie)
        .map(|i| rows[*i].id.clone())
        .collect();
    let mut reason_header = String::new();
    let _ = receipt.write_header(&mut reason_header);
    Explanation {
        criteria: ExplainedCriteria {
            model_type: req.hard.model_type.to_string(),
            input_format: req.hard.input_format.to_string(),
            output_format: req.hard.output_format.to_string(),
            pinned_model: req.pinned_model.map(str::to_string),
            latency_weight: prep.wl,
            accuracy_weight: prep.wa,
            max_latency_ms: req.soft.max_latency_ms,
            min_accuracy: req.soft.min_accuracy,
        },
        latency_ref_ms: prep.ref_ms,
        prior_ms: table.prior_ms(),
        near_tie_margin: prep.margin,
        total: table.len(),
        candidates: ranked.len(),
        best: ranked.first().map(|i| rows[*i].id.clone()),
        near_tie,
        chosen: decision.ok().map(|p| ExplainedChoice {
            index: p.index,
            id: table.executor(p.index).id.to_string(),
            model: table.executor(p.index).model_name.to_string(),
            reason: p.reason,
            random,
        }),
        receipt,
        reason_header,
        error,
        executors: rows,
    }
}

/// Whether filter `f` alone removes executor `i`.
fn fails(table: &Table, prep: &Prepared, i: usize, f: Filter, expected_ms: f64) -> bool {
    let e = &table.entries[i];
    let diff = e.traits_key ^ prep.want_key;
    match f {
        Filter::ModelType => diff & 0xFFFF != 0,
        Filter::InputFormat => diff & (0xFFFF << 16) != 0,
        Filter::OutputFormat => diff & (0xFFFF << 32) != 0,
        Filter::Model => prep.want_model.is_some_and(|m| m != e.model),
        Filter::NotReady => !e.ready,
        Filter::Excluded => false,
        Filter::Breaker => {
            let raw = table.health(i).breaker_raw();
            raw != 0 && !super::score::breaker_ready(raw, prep.now_ns)
        }
        Filter::AccuracyFloor => e.accuracy < prep.min_accuracy,
        Filter::LatencyCeiling => expected_ms > prep.max_latency_ms,
        // Depends on the other executors; reported only as the first filter.
        Filter::Unreachable => false,
    }
}
