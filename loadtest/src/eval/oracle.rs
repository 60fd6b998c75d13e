//! The oracle: the executor with the highest expected utility for one request, knowing what no
//! real selector knows — the true network time of every path, every executor's profile and the
//! live in-flight count at every executor (docs/evaluation.md, "Oracle").
//!
//! A pure function: the caller gathers the facts (the scenario gives delays and profiles; the
//! simulators' `GET /-/sim/inflight`, read over their control sockets, gives in-flight counts)
//! and routes the request to the returned index.
//!
//! Because [`utility`](super::utility::utility) is linear in RTT and confidence, the expected
//! utility of a candidate is the utility of its expected RTT (network time + the profile's
//! expected service time with the live in-flight count, `D + n·α + k·β + J/2`) and its mean
//! confidence — exact, no sampling. The oracle is greedy: it maximises this request's expected
//! utility given the load it sees now, not the run's total (it does not hold back a fast
//! executor for the requests to come), and the in-flight count it sees is the one when it
//! decides, not when the request arrives a one-way delay later.

use serde::Serialize;

use super::utility::{Normalisation, Weights, utility};
use crate::sim::Profile;

/// What the oracle knows about one executor.
#[derive(Debug, Clone, Copy)]
pub struct OracleCandidate<'a> {
    /// True network time of one request from this client to the executor, milliseconds (see
    /// [`network_rtt_ms`](super::utility::network_rtt_ms)).
    pub network_rtt_ms: f64,
    /// The executor's model profile.
    pub profile: &'a Profile,
    /// Requests in flight at the executor now (from every client).
    pub in_flight: usize,
}

/// The oracle's choice and why.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct OracleChoice {
    /// Index of the chosen candidate.
    pub index: usize,
    /// Its expected RTT, milliseconds.
    pub expected_rtt_ms: f64,
    /// Its mean confidence.
    pub expected_confidence: f64,
    /// Its expected utility.
    pub expected_utility: f64,
}

// === impl OracleCandidate ===

impl OracleCandidate<'_> {
    /// Expected RTT (ms) of a request of `elements` inputs sent now.
    pub fn expected_rtt_ms(&self, elements: usize) -> f64 {
        self.network_rtt_ms + self.profile.expected_service_ms(elements, self.in_flight)
    }

    /// Expected utility of a request of `elements` inputs sent now.
    pub fn expected_utility(&self, elements: usize, weights: Weights, norm: &Normalisation) -> f64 {
        utility(
            self.expected_rtt_ms(elements),
            self.profile.mean_confidence(),
            weights,
            norm,
        )
    }
}

/// The candidate with the highest expected utility for a request of `elements` inputs under
/// `weights`; on an exact tie the first. `None` without candidates.
pub fn choose(
    candidates: &[OracleCandidate<'_>],
    elements: usize,
    weights: Weights,
    norm: &Normalisation,
) -> Option<OracleChoice> {
    let mut best: Option<OracleChoice> = None;
    for (index, c) in candidates.iter().enumerate() {
        let expected_utility = c.expected_utility(elements, weights, norm);
        if best.is_none_or(|b| expected_utility > b.expected_utility) {
            best = Some(OracleChoice {
                index,
                expected_rtt_ms: c.expected_rtt_ms(elements),
                expected_confidence: c.profile.mean_confidence(),
                expected_utility,
            });
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::utility::network_rtt_ms;
    use crate::sim::draw::Draws;

    fn p(name: &str) -> Profile {
        Profile::by_name(name).unwrap()
    }

    fn norm() -> Normalisation {
        Normalisation::new(1630.0, 0.65).unwrap()
    }

    #[test]
    fn latency_only_takes_the_nearest_fast_executor_while_it_is_idle() {
        let (fast_bad, fast_ok, slow_good) = (p("FastBad"), p("FastOK"), p("SlowGood"));
        let c = [
            OracleCandidate {
                network_rtt_ms: 600.0,
                profile: &fast_bad,
                in_flight: 0,
            },
            OracleCandidate {
                network_rtt_ms: 20.0,
                profile: &fast_ok,
                in_flight: 0,
            },
            OracleCandidate {
                network_rtt_ms: 20.0,
                profile: &slow_good,
                in_flight: 0,
            },
        ];
        let choice = choose(&c, 10, Weights::LATENCY_ONLY, &norm()).unwrap();
        assert_eq!(choice.index, 1);
        assert!((choice.expected_rtt_ms - 57.5).abs() < 1e-9);
    }

    #[test]
    fn load_moves_the_choice_by_beta_per_request_in_flight() {
        let (fast_bad, fast_ok) = (p("FastBad"), p("FastOK"));
        let mut c = [
            OracleCandidate {
                network_rtt_ms: 20.0,
                profile: &fast_bad,
                in_flight: 0,
            },
            OracleCandidate {
                network_rtt_ms: 60.0,
                profile: &fast_ok,
                in_flight: 0,
            },
        ];
        let n = norm();
        assert_eq!(choose(&c, 10, Weights::LATENCY_ONLY, &n).unwrap().index, 0);
        // FastBad idle: 42.5 ms; FastOK idle: 97.5 ms. One request in flight at FastBad adds
        // β = 100 ms: 142.5 ms, so FastOK wins — the oracle never herds.
        c[0].in_flight = 1;
        let choice = choose(&c, 10, Weights::LATENCY_ONLY, &n).unwrap();
        assert_eq!(choice.index, 1);
        assert!((c[0].expected_rtt_ms(10) - 142.5).abs() < 1e-9);
    }

    #[test]
    fn accuracy_only_takes_the_best_mean_confidence_whatever_the_load() {
        let (fast_good, slow_good) = (p("FastGood"), p("SlowGood-g0"));
        let c = [
            OracleCandidate {
                network_rtt_ms: 20.0,
                profile: &fast_good,
                in_flight: 0,
            },
            OracleCandidate {
                network_rtt_ms: 600.0,
                profile: &slow_good,
                in_flight: 9,
            },
        ];
        let choice = choose(&c, 10, Weights::ACCURACY_ONLY, &norm()).unwrap();
        assert_eq!(choice.index, 1);
        assert!((choice.expected_confidence - 0.8).abs() < 1e-12);
        assert!(choose(&[], 10, Weights::BALANCED, &norm()).is_none());
    }

    #[test]
    fn the_choice_maximises_expected_utility_over_every_candidate() {
        let profiles: Vec<Profile> = crate::sim::REFERENCE_PROFILES.to_vec();
        let n = norm();
        for (seed, w) in [(1u64, 0.1), (2, 0.5), (3, 0.9)] {
            let weights = Weights::new(w, 1.0 - w);
            let c: Vec<OracleCandidate<'_>> = profiles
                .iter()
                .enumerate()
                .map(|(i, profile)| OracleCandidate {
                    network_rtt_ms: network_rtt_ms([10.0, 30.0, 100.0, 300.0][i % 4], false),
                    profile,
                    in_flight: ((seed as usize) * 7 + i * 3) % 5,
                })
                .collect();
            let choice = choose(&c, 10, weights, &n).unwrap();
            for other in &c {
                assert!(other.expected_utility(10, weights, &n) <= choice.expected_utility);
            }
        }
    }

    #[test]
    fn expected_utility_is_the_mean_of_simulated_requests() {
        // The oracle's closed form against the simulator's own model of time and confidence,
        // 20,000 seeded draws per profile: the sample mean is within 0.01.
        let n = norm();
        let weights = Weights::BALANCED;
        for profile in crate::sim::REFERENCE_PROFILES {
            let c = OracleCandidate {
                network_rtt_ms: 60.0,
                profile: &profile,
                in_flight: 2,
            };
            let (timing, confidence) = (profile.timing(), profile.confidence());
            let draws = Draws::new(11);
            let runs = 20_000;
            let mean = (0..runs)
                .map(|_| {
                    let d = draws.next();
                    let rtt = 60.0 + timing.millis(10, 3, d.jitter);
                    utility(rtt, confidence.draw(d.confidence), weights, &n)
                })
                .sum::<f64>()
                / f64::from(runs);
            let expected = c.expected_utility(10, weights, &n);
            assert!(
                (mean - expected).abs() < 0.01,
                "{}: simulated {mean} vs expected {expected}",
                profile.name
            );
        }
    }
}
