//! Utility: how good one answered request was for the client that sent it, defined once for
//! every selector, the oracle and the reports (docs/evaluation.md, "Utility").
//!
//! ```text
//! (wl, wa) = the client's (latency, accuracy) weights, normalised to sum 1
//! u        = wl · (1 − rtt_ms / R) + wa · confidence / C
//! ```
//!
//! `R` (a latency scale, ms) and `C` (a confidence scale) are fixed per scenario by
//! [`Normalisation`], never per selector, so every selector of a scenario is judged on the same
//! scale. `u` is linear in RTT and confidence on purpose: the mean utility of a run is then the
//! utility of its mean RTT and mean confidence, and the oracle's expected utility is exact
//! (no distribution needed, only expectations). It is not clamped: a request slower than `R`
//! has a negative latency term — a worse answer than none, as far as latency goes.

use serde::{Deserialize, Serialize};

use crate::sim::Profile;

/// An invalid utility parameter; the message names it and the refused value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid utility parameter: {0}")]
pub struct UtilityError(pub String);

/// A client's weighting of latency against accuracy, in mulambda's convention: both ≥ 0,
/// larger matters more (the prototype wrote latency weights negative; take their magnitude).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Weights {
    /// Weight of latency.
    pub latency: f64,
    /// Weight of accuracy (the answer's confidence).
    pub accuracy: f64,
}

// === impl Weights ===

impl Weights {
    /// Latency only (the reference's `scp`).
    pub const LATENCY_ONLY: Weights = Weights::new(1.0, 0.0);
    /// Accuracy only (`mda`).
    pub const ACCURACY_ONLY: Weights = Weights::new(0.0, 1.0);
    /// Balanced (`psa`).
    pub const BALANCED: Weights = Weights::new(0.5, 0.5);

    /// Weights as given.
    pub const fn new(latency: f64, accuracy: f64) -> Self {
        Self { latency, accuracy }
    }

    /// `(wl, wa)` summing to 1. Negative, NaN or infinite weights count as 0; two zero
    /// weights as equal weights (the proxy's rules, so no weighting is a trap).
    pub fn normalised(&self) -> (f64, f64) {
        let clean = |w: f64| if w.is_finite() && w > 0.0 { w } else { 0.0 };
        let (l, a) = (clean(self.latency), clean(self.accuracy));
        let sum = l + a;
        if sum > 0.0 {
            (l / sum, a / sum)
        } else {
            (0.5, 0.5)
        }
    }
}

/// The reference's use cases: fixed weights, or phases of equal length over a stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UseCase {
    /// Latency only: (1, 0).
    Scp,
    /// Accuracy only: (0, 1).
    Mda,
    /// Balanced: (0.5, 0.5).
    Psa,
    /// Five equal phases: (0.5, 0.5) → (0.2, 0.8) → (0, 1) → (0.8, 0.2) → (1, 0).
    Env,
}

/// The `env` use case's phases, in order.
pub const ENV_PHASES: [Weights; 5] = [
    Weights::new(0.5, 0.5),
    Weights::new(0.2, 0.8),
    Weights::new(0.0, 1.0),
    Weights::new(0.8, 0.2),
    Weights::new(1.0, 0.0),
];

// === impl UseCase ===

impl UseCase {
    /// A use case by its reference name (`scp`, `mda`, `psa`, `env`), case-insensitively.
    ///
    /// # Errors
    /// Names the refused value.
    pub fn by_name(name: &str) -> Result<Self, UtilityError> {
        match name.trim().to_ascii_lowercase().as_str() {
            "scp" => Ok(UseCase::Scp),
            "mda" => Ok(UseCase::Mda),
            "psa" => Ok(UseCase::Psa),
            "env" => Ok(UseCase::Env),
            _ => Err(UtilityError(format!(
                "use case {name:?} is not one of scp, mda, psa, env"
            ))),
        }
    }

    /// The weights of request `i` of a stream of `n` sequential requests: phase
    /// `⌊i / n · phases⌋`, as the prototype's streaming client chose them.
    pub fn weights_at(&self, i: usize, n: usize) -> Weights {
        match self {
            UseCase::Scp => Weights::LATENCY_ONLY,
            UseCase::Mda => Weights::ACCURACY_ONLY,
            UseCase::Psa => Weights::BALANCED,
            UseCase::Env => {
                let phase = (i.min(n.saturating_sub(1)) * ENV_PHASES.len())
                    .checked_div(n)
                    .unwrap_or(0);
                ENV_PHASES[phase]
            }
        }
    }
}

/// The normalisation constants of a scenario: `R`, the latency scale, and `C`, the confidence
/// scale. Fixed per scenario, never per selector.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Normalisation {
    /// `R`, milliseconds: an RTT of `R` has latency term 0.
    pub latency_scale_ms: f64,
    /// `C`: a confidence of `C` has accuracy term 1.
    pub confidence_scale: f64,
}

/// One path of a scenario: the network time of a request from a client to an executor and the
/// executor's profile.
#[derive(Debug, Clone, Copy)]
pub struct ScenarioPath<'a> {
    /// Network time of one request on this path, milliseconds (see [`network_rtt_ms`]).
    pub network_rtt_ms: f64,
    /// The executor's model profile.
    pub profile: &'a Profile,
}

// === impl Normalisation ===

impl Normalisation {
    /// Explicit constants.
    ///
    /// # Errors
    /// When either is not finite and > 0.
    pub fn new(latency_scale_ms: f64, confidence_scale: f64) -> Result<Self, UtilityError> {
        let n = Self {
            latency_scale_ms,
            confidence_scale,
        };
        n.validate()?;
        Ok(n)
    }

    /// Checks both constants are finite and > 0.
    ///
    /// # Errors
    /// Names the bad constant.
    pub fn validate(&self) -> Result<(), UtilityError> {
        for (name, x) in [
            ("latency_scale_ms", self.latency_scale_ms),
            ("confidence_scale", self.confidence_scale),
        ] {
            if !(x.is_finite() && x > 0.0) {
                return Err(UtilityError(format!("{name} = {x} must be finite and > 0")));
            }
        }
        Ok(())
    }

    /// A scenario's default constants, from its paths (every client × executor pair) and the
    /// request size: `R` = the largest expected RTT of an idle path (network time + the
    /// profile's expected service time with nothing in flight), `C` = the largest confidence
    /// any of its profiles can answer. Both depend only on the scenario, so every selector is
    /// judged on the same scale. `None` without paths.
    pub fn for_scenario<'a>(
        paths: impl IntoIterator<Item = ScenarioPath<'a>>,
        elements: usize,
    ) -> Option<Self> {
        let mut latency: Option<f64> = None;
        let mut confidence: f64 = 0.0;
        for p in paths {
            let rtt = p.network_rtt_ms + p.profile.expected_service_ms(elements, 0);
            latency = Some(latency.map_or(rtt, |l| l.max(rtt)));
            confidence = confidence.max(p.profile.confidence().max());
        }
        let n = Self {
            latency_scale_ms: latency?,
            confidence_scale: confidence,
        };
        n.validate().ok().map(|()| n)
    }
}

/// The utility of one request: its measured RTT (milliseconds, client side) and the confidence
/// of its answer, under the client's weights and the scenario's normalisation. A request that
/// failed (no answer, or not 2xx) counts with confidence 0 and the time until the failure was
/// known (a timeout's full wait).
pub fn utility(rtt_ms: f64, confidence: f64, weights: Weights, norm: &Normalisation) -> f64 {
    let (wl, wa) = weights.normalised();
    wl * (1.0 - rtt_ms / norm.latency_scale_ms) + wa * confidence / norm.confidence_scale
}

/// Network time of one request over a path whose one-way delay is `one_way_ms` in each
/// direction (as the network lab emulates it): one round trip on a kept-alive connection, two
/// with a new connection per request (the TCP handshake's round trip, then the request's).
pub fn network_rtt_ms(one_way_ms: f64, new_connection: bool) -> f64 {
    let round_trips = if new_connection { 2.0 } else { 1.0 };
    round_trips * 2.0 * one_way_ms
}

/// Regret of a selector against the oracle, from their mean utilities: the absolute gap and
/// the gap relative to the oracle's mean (`None` when the oracle's mean is not > 0).
pub fn regret(selector_mean: f64, oracle_mean: f64) -> (f64, Option<f64>) {
    let gap = oracle_mean - selector_mean;
    let relative = (oracle_mean > 0.0).then(|| gap / oracle_mean);
    (gap, relative)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm() -> Normalisation {
        Normalisation::new(1000.0, 0.5).unwrap()
    }

    #[test]
    fn utility_weighs_latency_and_confidence_on_the_scenario_scale() {
        let n = norm();
        assert_eq!(utility(0.0, 0.0, Weights::LATENCY_ONLY, &n), 1.0);
        assert_eq!(utility(250.0, 0.4, Weights::LATENCY_ONLY, &n), 0.75);
        assert_eq!(utility(250.0, 0.4, Weights::ACCURACY_ONLY, &n), 0.8);
        assert!((utility(250.0, 0.4, Weights::BALANCED, &n) - 0.775).abs() < 1e-12);
        // Slower than R: negative latency term, not clamped.
        assert_eq!(utility(2000.0, 0.0, Weights::LATENCY_ONLY, &n), -1.0);
        // Weights are normalised: (2, 2) is (0.5, 0.5).
        assert_eq!(
            utility(250.0, 0.4, Weights::new(2.0, 2.0), &n),
            utility(250.0, 0.4, Weights::BALANCED, &n)
        );
    }

    #[test]
    fn mean_utility_is_the_utility_of_the_means() {
        let n = norm();
        let samples = [(100.0, 0.1), (900.0, 0.5), (300.0, 0.3)];
        let w = Weights::new(0.2, 0.8);
        let mean_u = samples
            .iter()
            .map(|&(r, c)| utility(r, c, w, &n))
            .sum::<f64>()
            / 3.0;
        let u_mean = utility(1300.0 / 3.0, 0.3, w, &n);
        assert!((mean_u - u_mean).abs() < 1e-12);
    }

    #[test]
    fn weights_without_traps() {
        assert_eq!(Weights::new(0.0, 0.0).normalised(), (0.5, 0.5));
        assert_eq!(Weights::new(-1.0, 1.0).normalised(), (0.0, 1.0));
        assert_eq!(Weights::new(f64::NAN, 3.0).normalised(), (0.0, 1.0));
        assert_eq!(Weights::new(3.0, 1.0).normalised(), (0.75, 0.25));
    }

    #[test]
    fn env_moves_through_five_equal_phases() {
        let env = UseCase::by_name("ENV").unwrap();
        let phases: Vec<Weights> = (0..100)
            .step_by(20)
            .map(|i| env.weights_at(i, 100))
            .collect();
        assert_eq!(phases, ENV_PHASES.to_vec());
        assert_eq!(env.weights_at(19, 100), ENV_PHASES[0]);
        assert_eq!(env.weights_at(99, 100), ENV_PHASES[4]);
        assert_eq!(env.weights_at(500, 100), ENV_PHASES[4]);
        assert_eq!(UseCase::Psa.weights_at(3, 10), Weights::BALANCED);
        assert!(UseCase::by_name("fast").unwrap_err().0.contains("fast"));
    }

    #[test]
    fn scenario_normalisation_is_the_slowest_idle_path_and_the_best_confidence() {
        let fast = Profile::by_name("FastBad").unwrap();
        let slow = Profile::by_name("SlowGood").unwrap();
        let paths = [
            ScenarioPath {
                network_rtt_ms: network_rtt_ms(10.0, false),
                profile: &fast,
            },
            ScenarioPath {
                network_rtt_ms: network_rtt_ms(300.0, false),
                profile: &slow,
            },
        ];
        let n = Normalisation::for_scenario(paths, 10).unwrap();
        assert!((n.latency_scale_ms - (600.0 + 1030.0)).abs() < 1e-9);
        // FastBad's best, 0.5 / 3^0.1 ≈ 0.448, beats SlowGood's 1 / 3^0.9 ≈ 0.372.
        assert!((n.confidence_scale - 0.5 / 3f64.powf(0.1)).abs() < 1e-12);
        assert!(Normalisation::for_scenario([], 10).is_none());
        assert!(
            Normalisation::new(0.0, 1.0)
                .unwrap_err()
                .0
                .contains("latency_scale_ms")
        );
    }

    #[test]
    fn network_time_counts_the_handshake_of_a_new_connection() {
        assert_eq!(network_rtt_ms(10.0, false), 20.0);
        assert_eq!(network_rtt_ms(10.0, true), 40.0);
        let (gap, rel) = regret(0.45, 0.5);
        assert!((gap - 0.05).abs() < 1e-12 && (rel.unwrap() - 0.1).abs() < 1e-12);
        assert_eq!(regret(0.1, 0.0).1, None);
    }
}
