//! The hot path: one scan over the table, fixed-size locals, no allocation, no lock.

use std::time::Instant;

use super::receipt::{NoCandidate, Receipt, ScoreTerms};
use super::score::{Cand, Prepared};
use super::table::Table;
use super::{Reason, Selection, SelectionRequest};

/// How many times a lost probation claim is retried with that executor skipped.
const MAX_CLAIM_RETRIES: usize = 4;

/// One decision before any probation claim.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pick {
    pub index: usize,
    pub reason: Reason,
    pub cand: Cand,
    pub receipt: Receipt,
    /// The best score (the chosen one may be below it after near-tie spreading or ramp-in).
    pub best_score: f64,
}

/// Scores of the first this-many executors are kept on the stack for the near-tie step (4 KiB);
/// beyond, they are recomputed.
const SCORE_BUF: usize = 512;

/// splitmix64's finaliser: a cheap, well-mixed hash of `x`.
#[inline]
pub(crate) fn mix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A uniform number in [0, 1) from `random`, independent of the keys.
fn unit(random: u64) -> f64 {
    (mix(random ^ 0x5851_f42d_4c95_7f2d) >> 11) as f64 / (1u64 << 53) as f64
}

/// Selects an executor for one request; see the module documentation of
/// [`selection`](super) for the algorithm. `exclude` lists indices already tried; `random` is
/// any random number (it spreads near-ties and drives the ramp-in). When the winner's breaker
/// is waiting for a probation request, this call claims it (one caller wins; the others choose
/// again without it).
// The error carries the wanted names inline so that even this path allocates nothing.
#[allow(clippy::result_large_err)]
pub fn select_executor(
    table: &Table,
    req: &SelectionRequest<'_>,
    exclude: &[usize],
    random: u64,
    now: Instant,
) -> Result<Selection, NoCandidate> {
    let prep = Prepared::new(table, req, now);
    let mut skip = [usize::MAX; MAX_CLAIM_RETRIES];
    let mut skipped = 0;
    loop {
        let pick = pick(table, req, &prep, exclude, &skip[..skipped], random)?;
        let raw = pick.cand.breaker_raw;
        if raw == 0 || table.health(pick.index).claim_probation(raw, prep.now_ns) {
            return Ok(selection(table, &prep, pick));
        }
        if skipped == MAX_CLAIM_RETRIES {
            // Lost every race: report the losers as breaker-open.
            let mut receipt = pick.receipt;
            receipt.winner = None;
            return Err(no_candidate(req, receipt));
        }
        skip[skipped] = pick.index;
        skipped += 1;
    }
}

pub(crate) fn selection(table: &Table, prep: &Prepared, pick: Pick) -> Selection {
    let mut receipt = pick.receipt;
    let c = &pick.cand;
    let e = &table.entries[pick.index];
    receipt.winner = Some(ScoreTerms {
        expected_latency_ms: c.expected_ms,
        cost_ms: c.cost_ms,
        latency_term: c.latency_term,
        accuracy_term: c.accuracy_term,
        latency_weight: prep.wl,
        accuracy_weight: prep.wa,
        colocation: c.colocation,
        score: c.score,
    });
    let since_build_ms = prep.now_ns.saturating_sub(table.built_at_ns) / 1_000_000;
    receipt.figure_age_ms = e.probe_age_ms.map(|a| a.saturating_add(since_build_ms));
    receipt.observed_age_ms = match c.observed_age_ns {
        Some(a) if c.observed_weight > 0.0 => Some(a / 1_000_000),
        _ => None,
    };
    Selection {
        index: pick.index,
        reason: pick.reason,
        receipt,
    }
}

fn no_candidate(req: &SelectionRequest<'_>, receipt: Receipt) -> NoCandidate {
    NoCandidate::new(
        receipt,
        req.hard,
        req.pinned_model,
        req.soft.max_latency_ms,
        req.soft.min_accuracy,
    )
}

/// The decision without side effects (no probation claim). Shared with `explain`.
// The index is the executor's identity across several parallel structures.
#[allow(clippy::needless_range_loop, clippy::result_large_err)]
pub(crate) fn pick(
    table: &Table,
    req: &SelectionRequest<'_>,
    prep: &Prepared,
    exclude: &[usize],
    skip: &[usize],
    random: u64,
) -> Result<Pick, NoCandidate> {
    let mut receipt = Receipt {
        total: u32::try_from(table.len()).unwrap_or(u32::MAX),
        ..Receipt::default()
    };
    // Pass 1: filters and scores; per tier (0 normal, 1 last resort) the best, the runner-up's
    // score and the best fully ramped-in one. Only indices and scores are kept; the first
    // SCORE_BUF scores go to a stack buffer for the near-tie step.
    let n = table.len();
    let mut scores = [f64::NEG_INFINITY; SCORE_BUF];
    let mut count = [0u32; 2];
    let mut best = [(usize::MAX, f64::NEG_INFINITY); 2];
    let mut second = [f64::NEG_INFINITY; 2];
    let mut settled = [(usize::MAX, f64::NEG_INFINITY); 2];
    for i in 0..n {
        match prep.eval(table, i, exclude, skip) {
            Err(f) => receipt.removed.add(f),
            Ok(c) => {
                let t = c.tier;
                count[t] += 1;
                if t == 0 && i < SCORE_BUF {
                    scores[i] = c.score;
                }
                if c.score > best[t].1 || best[t].0 == usize::MAX {
                    second[t] = best[t].1;
                    best[t] = (i, c.score);
                } else if c.score > second[t] {
                    second[t] = c.score;
                }
                if c.ramp >= 1.0 && (c.score > settled[t].1 || settled[t].0 == usize::MAX) {
                    settled[t] = (i, c.score);
                }
            }
        }
    }
    // Last-resort candidates only count when nothing else is left.
    let tier = usize::from(count[0] == 0);
    if tier == 0 {
        receipt.removed.unreachable = count[1];
    }
    receipt.candidates = count[tier];
    let (best_index, best_score) = best[tier];
    if best_index == usize::MAX {
        return Err(no_candidate(req, receipt));
    }
    let threshold = prep.threshold(best_score);
    let (mut index, mut reason) = (best_index, Reason::Best);

    // Near-tie: a uniformly random pair of the candidates within the margin; of the two, the
    // one with fewer requests in flight wins, then the co-located one, then the first drawn
    // (scores within the margin count as equal, so near-equal executors share the traffic).
    if second[tier] >= threshold {
        let in_margin = |i: usize| -> bool {
            if tier == 0 && i < SCORE_BUF {
                scores[i] >= threshold
            } else {
                matches!(prep.eval(table, i, exclude, skip), Ok(c) if c.tier == tier && c.score >= threshold)
            }
        };
        // One scan: the two in-margin candidates with the smallest random keys are a uniform
        // random pair.
        let (mut x, mut y) = ((u64::MAX, usize::MAX), (u64::MAX, usize::MAX));
        let mut ties = 0u32;
        for i in 0..n {
            if in_margin(i) {
                ties += 1;
                let k = mix(random ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
                if k < x.0 {
                    y = x;
                    x = (k, i);
                } else if k < y.0 {
                    y = (k, i);
                }
            }
        }
        receipt.near_tie = ties;
        if ties > 1 && x.1 != usize::MAX && y.1 != usize::MAX {
            let cx = prep.figures(table, x.1, table.health(x.1).breaker_raw());
            let cy = prep.figures(table, y.1, table.health(y.1).breaker_raw());
            let rank = |c: &Cand| (c.inflight, -c.colocation);
            index = if rank(&cy) < rank(&cx) { y.1 } else { x.1 };
            reason = Reason::NearTie;
        }
    }
    let mut cand = prep.figures(table, index, table.health(index).breaker_raw());

    // Ramp-in: a ramping winner keeps a win with probability `ramp`; otherwise the best fully
    // ramped-in candidate serves.
    if cand.ramp < 1.0 && unit(random) >= cand.ramp && settled[tier].0 != usize::MAX {
        index = settled[tier].0;
        cand = prep.figures(table, index, table.health(index).breaker_raw());
        reason = Reason::Best;
    }
    if req.pinned_model.is_some() {
        reason = Reason::Pinned;
    }
    if cand.breaker_raw != 0 {
        reason = Reason::Probation;
    }
    Ok(Pick {
        index,
        reason,
        cand,
        receipt,
        best_score,
    })
}
