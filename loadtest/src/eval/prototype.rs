//! The original prototype's weighted selector, reproduced as a pure function so the proxy's
//! `prototype-weighted` policy (and the evaluation) can reuse or mirror it
//! (`shared/reference/seed-evaluation.md`; docs/evaluation.md, "The prototype's weighted
//! selector").
//!
//! For each candidate (already through the hard filter):
//!
//! ```text
//! latency estimate L_ms = companion-measured latency for this client
//!                       + last observed service time per element (from any client) · n
//! L = 1 − i/9 (rounded to 2 decimals) for the first bucket i of
//!     [10, 30, 60, 90, 150, 240, 390, 630, 1020] ms with L_ms ≤ bucket; 0 above 1,020 ms
//! A = accuracy / max accuracy of the candidates
//! score = w_lat · L + w_acc · A           (weights as the client gives them, not normalised)
//! ```
//!
//! and the first candidate with the highest score wins (Python's `max`). There is no load
//! awareness: the same inputs give the same choice, so concurrent streams all pick the same
//! executor until an observed service time moves its bucket.
//!
//! The prototype kept two figures per executor, shared by all clients, which
//! [`PrototypeObservations`] keeps the same way: the last observed service time per element
//! (a client's measured time minus *its* companion latency, floored at 0, divided by the
//! request's element count), and an accuracy that, after each answer, became the executor's
//! running mean of its last 10 confidences.

use std::collections::VecDeque;

use serde::Serialize;

use super::utility::Weights;

/// The latency buckets, milliseconds.
pub const LATENCY_BUCKETS_MS: [f64; 9] =
    [10.0, 30.0, 60.0, 90.0, 150.0, 240.0, 390.0, 630.0, 1020.0];

/// How many recent confidences the prototype's accuracy figure averaged.
pub const RECENT_CONFIDENCES: usize = 10;

/// The prototype's latency normalisation: `1 − i/9`, rounded to two decimals, for the first
/// bucket `i` with `latency_ms ≤ bucket`; 0 above the last bucket (and for NaN).
pub fn normalise_latency(latency_ms: f64) -> f64 {
    let n = LATENCY_BUCKETS_MS.len() as f64;
    LATENCY_BUCKETS_MS
        .iter()
        .position(|&b| latency_ms <= b)
        .map_or(0.0, |i| ((1.0 - i as f64 / n) * 100.0).round() / 100.0)
}

/// One candidate as the prototype saw it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WeightedCandidate {
    /// The companion's latest latency figure for this client, milliseconds.
    pub companion_latency_ms: f64,
    /// Last observed service time per input element, milliseconds, from any client; `None`
    /// before any observation (counted as 0: the prototype had no figure there).
    pub last_ms_per_element: Option<f64>,
    /// The executor's accuracy figure.
    pub accuracy: f64,
}

/// A candidate's terms, for explanation and tests.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct WeightedTerms {
    /// Latency estimate, milliseconds.
    pub latency_ms: f64,
    /// Normalised latency `L`.
    pub latency: f64,
    /// Normalised accuracy `A`.
    pub accuracy: f64,
    /// `w_lat · L + w_acc · A`.
    pub score: f64,
}

// === impl WeightedCandidate ===

impl WeightedCandidate {
    /// The latency estimate for a request of `elements` inputs, milliseconds.
    pub fn latency_estimate_ms(&self, elements: usize) -> f64 {
        self.companion_latency_ms + self.last_ms_per_element.unwrap_or(0.0) * elements as f64
    }
}

/// Every candidate's terms for a request of `elements` inputs under `weights`. Accuracy is
/// divided by the candidates' largest; when that is not > 0 every `A` is 0 (the prototype
/// divided by zero there). Weights are used as given, not normalised (the reference's use
/// cases sum to 1; mulambda's convention: ≥ 0, larger matters more); negative, NaN or
/// infinite weights and accuracies count as 0.
pub fn weighted_terms(
    candidates: &[WeightedCandidate],
    elements: usize,
    weights: Weights,
) -> Vec<WeightedTerms> {
    let max_accuracy = max_accuracy(candidates);
    let (wl, wa) = clean_weights(weights);
    candidates
        .iter()
        .map(|c| {
            let latency_ms = c.latency_estimate_ms(elements);
            let latency = normalise_latency(latency_ms);
            let accuracy = normalise_accuracy(c.accuracy, max_accuracy);
            WeightedTerms {
                latency_ms,
                latency,
                accuracy,
                score: wl * latency + wa * accuracy,
            }
        })
        .collect()
}

/// Non-finite or negative figures count as 0, so a bad figure never wins or poisons the rest.
fn clean(x: f64) -> f64 {
    if x.is_finite() && x > 0.0 { x } else { 0.0 }
}

fn clean_weights(w: Weights) -> (f64, f64) {
    (clean(w.latency), clean(w.accuracy))
}

fn max_accuracy(candidates: &[WeightedCandidate]) -> f64 {
    candidates
        .iter()
        .map(|c| clean(c.accuracy))
        .fold(0.0, f64::max)
}

fn normalise_accuracy(accuracy: f64, max_accuracy: f64) -> f64 {
    if max_accuracy > 0.0 {
        clean(accuracy) / max_accuracy
    } else {
        0.0
    }
}

/// The prototype's choice: the index of the first candidate with the highest score; `None`
/// without candidates. Allocation-free (the terms are recomputed per candidate).
pub fn weighted_select(
    candidates: &[WeightedCandidate],
    elements: usize,
    weights: Weights,
) -> Option<usize> {
    let max_accuracy = max_accuracy(candidates);
    let (wl, wa) = clean_weights(weights);
    let mut best: Option<(usize, f64)> = None;
    for (i, c) in candidates.iter().enumerate() {
        let l = normalise_latency(c.latency_estimate_ms(elements));
        let a = normalise_accuracy(c.accuracy, max_accuracy);
        let score = wl * l + wa * a;
        // Strictly greater: the first of equal scores stays (Python's max).
        if best.is_none_or(|(_, s)| score > s) {
            best = Some((i, score));
        }
    }
    best.map(|(i, _)| i)
}

/// What the prototype remembered about one executor, shared by all its clients.
#[derive(Debug, Clone, PartialEq)]
pub struct PrototypeObservations {
    /// Last observed service time per element, milliseconds.
    pub last_ms_per_element: Option<f64>,
    /// The accuracy the executor registered with (used until the first answer).
    pub registered_accuracy: f64,
    recent: VecDeque<f64>,
}

// === impl PrototypeObservations ===

impl PrototypeObservations {
    /// An executor registered with this accuracy, never observed.
    pub fn new(registered_accuracy: f64) -> Self {
        Self {
            last_ms_per_element: None,
            registered_accuracy,
            recent: VecDeque::with_capacity(RECENT_CONFIDENCES),
        }
    }

    /// Records one answer: the client's measured time (ms), the companion latency that client
    /// had for this executor (ms), the request's element count and the answer's confidence.
    pub fn observe(
        &mut self,
        measured_ms: f64,
        companion_latency_ms: f64,
        elements: usize,
        confidence: f64,
    ) {
        if elements > 0 {
            self.last_ms_per_element =
                Some((measured_ms - companion_latency_ms).max(0.0) / elements as f64);
        }
        if self.recent.len() == RECENT_CONFIDENCES {
            self.recent.pop_front();
        }
        self.recent.push_back(confidence);
    }

    /// The accuracy figure: the mean of the last 10 confidences, or the registered accuracy
    /// before any answer.
    pub fn accuracy(&self) -> f64 {
        if self.recent.is_empty() {
            self.registered_accuracy
        } else {
            self.recent.iter().sum::<f64>() / self.recent.len() as f64
        }
    }

    /// The candidate as the selector sees it for a client with this companion latency.
    pub fn candidate(&self, companion_latency_ms: f64) -> WeightedCandidate {
        WeightedCandidate {
            companion_latency_ms,
            last_ms_per_element: self.last_ms_per_element,
            accuracy: self.accuracy(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::Profile;

    #[test]
    fn buckets_map_to_one_minus_i_over_nine() {
        let cases = [
            (0.0, 1.0),
            (10.0, 1.0),
            (10.5, 0.89),
            (30.0, 0.89),
            (42.5, 0.78),
            (60.0, 0.78),
            (82.5, 0.67),
            (90.0, 0.67),
            (150.0, 0.56),
            (225.0, 0.44),
            (240.0, 0.44),
            (350.0, 0.33),
            (535.0, 0.22),
            (630.0, 0.22),
            (980.0, 0.11),
            (1020.0, 0.11),
            (1020.1, 0.0),
            (5000.0, 0.0),
            (f64::NAN, 0.0),
        ];
        for (ms, expected) in cases {
            assert_eq!(normalise_latency(ms), expected, "{ms} ms");
        }
    }

    /// The reference's testbed: nodes at 10, 30, 100, 300 ms of one-way egress delay, a new
    /// connection per request, so the companion measured ≈ 2·d; every executor observed idle
    /// (service time at n = 10, k = 0) with its mean confidence as accuracy.
    fn reference_candidates(placement: &[[usize; 4]; 4]) -> Vec<(String, WeightedCandidate)> {
        let delays = [10.0, 30.0, 100.0, 300.0];
        let mut out = Vec::new();
        for (node, models) in placement.iter().enumerate() {
            for &m in models {
                let p = crate::sim::REFERENCE_PROFILES[m];
                out.push((
                    format!("{}@{node}", p.name),
                    WeightedCandidate {
                        companion_latency_ms: 2.0 * delays[node],
                        last_ms_per_element: Some(p.expected_service_ms(10, 0) / 10.0),
                        accuracy: p.mean_confidence(),
                    },
                ));
            }
        }
        out
    }

    const LOGICAL: [[usize; 4]; 4] = [[0, 1, 5, 8], [3, 4, 5, 8], [5, 6, 7, 8], [0, 6, 7, 8]];
    const ARBITRARY: [[usize; 4]; 4] = [[2, 6, 1, 8], [4, 0, 7, 3], [6, 8, 1, 0], [3, 7, 6, 2]];

    fn pick(placement: &[[usize; 4]; 4], weights: Weights) -> String {
        let named = reference_candidates(placement);
        let c: Vec<WeightedCandidate> = named.iter().map(|(_, c)| *c).collect();
        let i = weighted_select(&c, 10, weights).unwrap();
        named[i].0.clone()
    }

    #[test]
    fn reference_worked_numbers_logical_placement() {
        let named = reference_candidates(&LOGICAL);
        let c: Vec<WeightedCandidate> = named.iter().map(|(_, c)| *c).collect();
        let t = weighted_terms(&c, 10, Weights::BALANCED);
        // Node 0 (20 ms): FastBad 42.5 ms → 0.78, FastOK 57.5 ms → 0.78, MidGood 535 ms → 0.22,
        // SlowGood 1050 ms → 0.
        let l: Vec<f64> = t[..4].iter().map(|t| t.latency).collect();
        assert_eq!(l, vec![0.78, 0.78, 0.22, 0.0]);
        assert!((t[0].latency_ms - 42.5).abs() < 1e-9);
        // Node 1 (60 ms): MidBad 225 ms → 0.44, MidOK 350 ms → 0.33.
        assert_eq!((t[4].latency, t[5].latency), (0.44, 0.33));
        // Accuracy ÷ max: FastOK's 0.428 is the largest.
        assert!((t[1].accuracy - 1.0).abs() < 1e-12);
        assert!((t[0].accuracy - 0.269 / 0.428).abs() < 0.002);
        // scp: FastBad and FastOK tie at 0.78; the first listed wins — "weighted always picks
        // FastBad" (median confidence .269).
        assert_eq!(pick(&LOGICAL, Weights::LATENCY_ONLY), "FastBad@0");
        // mda and psa: FastOK (psa 0.39 + 0.5 against FastBad's 0.39 + 0.31).
        assert_eq!(pick(&LOGICAL, Weights::ACCURACY_ONLY), "FastOK@0");
        assert_eq!(pick(&LOGICAL, Weights::BALANCED), "FastOK@0");
        assert!((t[1].score - 0.89).abs() < 1e-9);
    }

    #[test]
    fn reference_worked_numbers_arbitrary_placement() {
        // FastGood on node 0 (82.5 ms → 0.67, mean confidence .503, the best): mda and psa pick
        // it — the reference's median confidence .503 for weighted arbitrary mda/psa.
        assert_eq!(pick(&ARBITRARY, Weights::ACCURACY_ONLY), "FastGood@0");
        assert_eq!(pick(&ARBITRARY, Weights::BALANCED), "FastGood@0");
        // scp: FastOK on node 0, the only estimate in the 60 ms bucket.
        assert_eq!(pick(&ARBITRARY, Weights::LATENCY_ONLY), "FastOK@0");
    }

    #[test]
    fn no_load_awareness_herds_until_an_observed_time_moves_the_bucket() {
        let fast_bad = Profile::by_name("FastBad").unwrap();
        let fast_ok = Profile::by_name("FastOK").unwrap();
        let mut obs = [
            PrototypeObservations::new(fast_bad.mean_confidence()),
            PrototypeObservations::new(fast_ok.mean_confidence()),
        ];
        obs[0].observe(42.5, 20.0, 10, fast_bad.mean_confidence());
        obs[1].observe(57.5, 20.0, 10, fast_ok.mean_confidence());
        let candidates =
            |obs: &[PrototypeObservations; 2]| [obs[0].candidate(20.0), obs[1].candidate(20.0)];
        // Five concurrent streams ask at once: all get FastOK.
        for _ in 0..5 {
            assert_eq!(
                weighted_select(&candidates(&obs), 10, Weights::BALANCED),
                Some(1)
            );
        }
        // Its fifth request found 4 in flight: 37.5 + 4 · 350 ms of service, observed.
        obs[1].observe(20.0 + 37.5 + 1400.0, 20.0, 10, fast_ok.mean_confidence());
        let t = weighted_terms(&candidates(&obs), 10, Weights::BALANCED);
        assert_eq!(t[1].latency, 0.0);
        assert_eq!(
            weighted_select(&candidates(&obs), 10, Weights::BALANCED),
            Some(0)
        );
    }

    #[test]
    fn accuracy_is_the_running_mean_of_the_last_ten_confidences() {
        let mut o = PrototypeObservations::new(0.9);
        assert_eq!(o.accuracy(), 0.9);
        assert_eq!(o.last_ms_per_element, None);
        for i in 0..15 {
            o.observe(30.0, 50.0, 10, if i < 5 { 1.0 } else { 0.2 });
        }
        // Only the last ten (all 0.2) count; a measured time below the companion figure
        // floors at 0.
        assert!((o.accuracy() - 0.2).abs() < 1e-12);
        assert_eq!(o.last_ms_per_element, Some(0.0));
        o.observe(150.0, 50.0, 10, 0.2);
        assert_eq!(o.last_ms_per_element, Some(10.0));
    }

    #[test]
    fn degenerate_inputs_never_panic() {
        assert_eq!(weighted_select(&[], 10, Weights::BALANCED), None);
        let zero = WeightedCandidate {
            companion_latency_ms: 5.0,
            last_ms_per_element: None,
            accuracy: 0.0,
        };
        let t = weighted_terms(&[zero, zero], 10, Weights::ACCURACY_ONLY);
        assert_eq!((t[0].accuracy, t[0].score), (0.0, 0.0));
        assert_eq!(
            weighted_select(&[zero, zero], 10, Weights::ACCURACY_ONLY),
            Some(0)
        );
        let nan = WeightedCandidate {
            accuracy: f64::NAN,
            ..zero
        };
        let good = WeightedCandidate {
            accuracy: 0.5,
            ..zero
        };
        assert_eq!(
            weighted_select(&[nan, good], 10, Weights::ACCURACY_ONLY),
            Some(1)
        );
        let t = weighted_terms(&[nan, good], 10, Weights::new(f64::NAN, 1.0));
        assert_eq!((t[0].score, t[1].score), (0.0, 1.0));
    }
}
