//! Model profiles: the original prototype's nine dummy models (service time and per-request
//! confidence), by name, and the confidence model they use.
//!
//! The prototype's dummy model took `D/1000 + n·α + k·β + U(0, J/1000)` seconds for a request
//! of `n` input elements arriving while `k` others were in flight at that executor, and answered
//! a confidence `conf[f] / 3^γ` with `f` uniform in {0, 1, 2} (`shared/reference/
//! seed-evaluation.md`). A [`Profile`] is those parameters; [`Profile::timing`] and
//! [`Profile::confidence`] turn it into the simulator's [`ServiceTime`] and [`Confidence`], and
//! the expectations ([`Profile::expected_service_ms`], [`Confidence::mean`]) are what the
//! evaluation's oracle uses.

use serde::{Deserialize, Serialize};

use super::config::{ConfigError, ServiceTime};

/// One model profile, in the reference's units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Profile {
    /// Name (`FastBad` … `SlowGood`; `-g0` appended for the γ = 0 variant).
    pub name: &'static str,
    /// D: fixed service time, milliseconds.
    pub base_ms: f64,
    /// α: seconds per input element.
    pub per_element_s: f64,
    /// β: seconds per request already in flight at the executor when this one arrives.
    pub per_inflight_s: f64,
    /// J: upper bound of the uniform jitter, milliseconds.
    pub jitter_ms: f64,
    /// conf[0..2]: the confidence levels before the γ discount.
    pub levels: [f64; 3],
    /// γ: the discount exponent (confidence = conf[f] / 3^γ).
    pub gamma: f64,
}

const fn profile(
    name: &'static str,
    base_ms: f64,
    per_element_s: f64,
    per_inflight_s: f64,
    jitter_ms: f64,
    levels: [f64; 3],
    gamma: f64,
) -> Profile {
    Profile {
        name,
        base_ms,
        per_element_s,
        per_inflight_s,
        jitter_ms,
        levels,
        gamma,
    }
}

/// The prototype's nine dummy models, numbered 0–8 as in its placements.
pub const REFERENCE_PROFILES: [Profile; 9] = [
    profile("FastBad", 10.0, 0.001, 0.1, 5.0, [0.5, 0.3, 0.1], 0.1),
    profile("FastOK", 15.0, 0.002, 0.35, 5.0, [0.8, 0.5, 0.3], 0.2),
    profile("FastGood", 20.0, 0.004, 0.7, 5.0, [0.9, 0.7, 0.5], 0.3),
    profile("MidBad", 50.0, 0.01, 0.1, 30.0, [0.55, 0.35, 0.15], 0.4),
    profile("MidOK", 75.0, 0.02, 0.3, 30.0, [0.85, 0.55, 0.35], 0.5),
    profile("MidGood", 100.0, 0.04, 0.7, 30.0, [0.95, 0.75, 0.55], 0.6),
    profile("SlowBad", 150.0, 0.06, 0.1, 60.0, [0.6, 0.4, 0.2], 0.7),
    profile("SlowMid", 175.0, 0.07, 0.35, 60.0, [0.9, 0.6, 0.4], 0.8),
    profile("SlowGood", 200.0, 0.08, 0.7, 60.0, [1.0, 0.8, 0.6], 0.9),
];

/// Names of the γ = 0 variants ("slow really means accurate"), in the same order.
const GAMMA_ZERO_NAMES: [&str; 9] = [
    "FastBad-g0",
    "FastOK-g0",
    "FastGood-g0",
    "MidBad-g0",
    "MidOK-g0",
    "MidGood-g0",
    "SlowBad-g0",
    "SlowMid-g0",
    "SlowGood-g0",
];

/// Suffix selecting the γ = 0 variant of a reference profile.
pub const GAMMA_ZERO_SUFFIX: &str = "-g0";

// === impl Profile ===

impl Profile {
    /// A reference profile by name, case-insensitively: `FastBad` … `SlowGood`, or the number
    /// 0–8; with the suffix `-g0` (`SlowGood-g0`, `8-g0`), the same model with γ = 0.
    ///
    /// # Errors
    /// Names the refused value and lists the known names.
    pub fn by_name(name: &str) -> Result<Self, ConfigError> {
        let trimmed = name.trim();
        let (base, gamma_zero) = match trimmed
            .len()
            .checked_sub(GAMMA_ZERO_SUFFIX.len())
            .filter(|&i| trimmed.is_char_boundary(i))
            .map(|i| trimmed.split_at(i))
        {
            Some((base, suffix)) if suffix.eq_ignore_ascii_case(GAMMA_ZERO_SUFFIX) => (base, true),
            _ => (trimmed, false),
        };
        let index = REFERENCE_PROFILES
            .iter()
            .position(|p| p.name.eq_ignore_ascii_case(base))
            .or_else(|| {
                base.parse::<usize>()
                    .ok()
                    .filter(|&i| i < REFERENCE_PROFILES.len())
            })
            .ok_or_else(|| {
                let names: Vec<&str> = REFERENCE_PROFILES.iter().map(|p| p.name).collect();
                ConfigError(format!(
                    "profile = {name:?} is not a known profile (known: {}, or 0-8; append {GAMMA_ZERO_SUFFIX} for γ = 0)",
                    names.join(", ")
                ))
            })?;
        let p = REFERENCE_PROFILES[index];
        Ok(if gamma_zero {
            Profile {
                name: GAMMA_ZERO_NAMES[index],
                gamma: 0.0,
                ..p
            }
        } else {
            p
        })
    }

    /// The simulator's service time for this profile (no multiplicative slowdown).
    pub fn timing(&self) -> ServiceTime {
        ServiceTime {
            base_ms: self.base_ms,
            per_element_us: self.per_element_s * 1e6,
            per_inflight_ms: self.per_inflight_s * 1e3,
            jitter_ms: self.jitter_ms,
            concurrency_slowdown: 0.0,
        }
    }

    /// The simulator's confidence model for this profile.
    pub fn confidence(&self) -> Confidence {
        Confidence {
            levels: self.levels.to_vec(),
            gamma: self.gamma,
        }
    }

    /// Expected service time in milliseconds of a request of `elements` inputs arriving while
    /// `in_flight_before` others are in flight: `D + n·α + k·β + J/2`.
    pub fn expected_service_ms(&self, elements: usize, in_flight_before: usize) -> f64 {
        self.base_ms
            + elements as f64 * self.per_element_s * 1e3
            + in_flight_before as f64 * self.per_inflight_s * 1e3
            + self.jitter_ms / 2.0
    }

    /// Mean confidence of its answers.
    pub fn mean_confidence(&self) -> f64 {
        self.confidence().mean()
    }
}

/// The per-request confidence of a simulated model: `levels[f] / len^γ`, with `f` drawn
/// uniformly from `0..len` for every answered inference request (the prototype's dummy model,
/// whose set had three levels, so the discount was `3^γ`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Confidence {
    /// The levels `conf[0..]`, each in [0, 1].
    pub levels: Vec<f64>,
    /// γ ≥ 0: the discount exponent.
    #[serde(default)]
    pub gamma: f64,
}

// === impl Confidence ===

impl Confidence {
    /// Checks the levels are a non-empty list of values in [0, 1] and γ is finite and ≥ 0.
    ///
    /// # Errors
    /// Names the bad field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.levels.is_empty() {
            return Err(ConfigError("confidence: levels is empty".into()));
        }
        if let Some(bad) = self.levels.iter().find(|l| !(0.0..=1.0).contains(*l)) {
            return Err(ConfigError(format!("confidence = {bad} must be in [0, 1]")));
        }
        if !(self.gamma.is_finite() && self.gamma >= 0.0) {
            return Err(ConfigError(format!(
                "confidence-gamma = {} must be finite and ≥ 0",
                self.gamma
            )));
        }
        Ok(())
    }

    /// The discount `len^γ`.
    fn discount(&self) -> f64 {
        (self.levels.len().max(1) as f64).powf(self.gamma)
    }

    /// The confidence of level `f` (clamped to the last level).
    pub fn value(&self, f: usize) -> f64 {
        match self.levels.get(f).or(self.levels.last()) {
            Some(level) => level / self.discount(),
            None => 0.0,
        }
    }

    /// The confidence for a uniform draw `u` in [0, 1): level `⌊u·len⌋`.
    pub fn draw(&self, u: f64) -> f64 {
        let len = self.levels.len();
        let f = ((u * len as f64) as usize).min(len.saturating_sub(1));
        self.value(f)
    }

    /// Mean confidence.
    pub fn mean(&self) -> f64 {
        if self.levels.is_empty() {
            return 0.0;
        }
        self.levels.iter().sum::<f64>() / self.levels.len() as f64 / self.discount()
    }

    /// Largest confidence it can answer.
    pub fn max(&self) -> f64 {
        self.levels.iter().copied().fold(0.0, f64::max) / self.discount()
    }

    /// Parses `+`-separated levels (`0.9+0.7+0.5`), γ = 0.
    ///
    /// # Errors
    /// Names the refused value.
    pub fn parse_levels(value: &str) -> Result<Self, ConfigError> {
        let levels = value
            .split('+')
            .map(|l| {
                l.trim().parse::<f64>().map_err(|_| {
                    ConfigError(format!(
                        "confidence = {value:?}: {l:?} is not a number (write levels as 0.9+0.7+0.5)"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { levels, gamma: 0.0 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::draw::Draws;

    /// The reference's table: service time at n = 10, k = 0 (ms) and mean confidence.
    const TABLE: [(&str, f64, f64); 9] = [
        ("FastBad", 22.5, 0.269),
        ("FastOK", 37.5, 0.428),
        ("FastGood", 62.5, 0.503),
        ("MidBad", 165.0, 0.226),
        ("MidOK", 290.0, 0.337),
        ("MidGood", 515.0, 0.388),
        ("SlowBad", 780.0, 0.185),
        ("SlowMid", 905.0, 0.263),
        ("SlowGood", 1030.0, 0.298),
    ];

    #[test]
    fn reference_profiles_reproduce_the_reference_table() {
        for (name, service_ms, mean_conf) in TABLE {
            let p = Profile::by_name(name).unwrap();
            assert!(
                (p.expected_service_ms(10, 0) - service_ms).abs() < 1e-9,
                "{name}: {} ms",
                p.expected_service_ms(10, 0)
            );
            // The reference rounds to three digits.
            assert!(
                (p.mean_confidence() - mean_conf).abs() < 0.0005,
                "{name}: {}",
                p.mean_confidence()
            );
        }
    }

    #[test]
    fn each_in_flight_request_adds_beta() {
        let p = Profile::by_name("MidOK").unwrap();
        let k0 = p.expected_service_ms(10, 0);
        assert!((p.expected_service_ms(10, 4) - k0 - 4.0 * 300.0).abs() < 1e-9);
        assert!((p.expected_service_ms(0, 0) - 75.0 - 15.0).abs() < 1e-9);
    }

    #[test]
    fn profiles_are_found_by_name_number_and_gamma_zero_suffix() {
        assert_eq!(Profile::by_name("fastgood").unwrap().name, "FastGood");
        assert_eq!(Profile::by_name("8").unwrap().name, "SlowGood");
        let g0 = Profile::by_name("SlowGood-G0").unwrap();
        assert_eq!((g0.name, g0.gamma), ("SlowGood-g0", 0.0));
        // γ = 0: slow really means accurate.
        assert!((g0.mean_confidence() - 0.8).abs() < 1e-12);
        assert_eq!(Profile::by_name("3-g0").unwrap().name, "MidBad-g0");
        let e = Profile::by_name("Fastest").unwrap_err().0;
        assert!(e.contains("Fastest") && e.contains("SlowGood"), "{e}");
        assert!(Profile::by_name("9").is_err());
        assert!(Profile::by_name("-g0").is_err());
    }

    #[test]
    fn profile_timing_matches_the_reference_formula() {
        // D/1000 + n·α + k·β + U(0, J/1000) seconds, at the jitter's extremes.
        for p in REFERENCE_PROFILES {
            let t = p.timing();
            for (n, k, u) in [(10, 0, 0.0), (10, 3, 0.5), (1, 7, 0.999)] {
                let reference_s = p.base_ms / 1000.0
                    + n as f64 * p.per_element_s
                    + k as f64 * p.per_inflight_s
                    + u * p.jitter_ms / 1000.0;
                let ms = t.millis(n, k + 1, u);
                assert!(
                    (ms / 1000.0 - reference_s).abs() < 1e-9,
                    "{} n={n} k={k}: {ms} ms vs {reference_s} s",
                    p.name
                );
            }
        }
    }

    #[test]
    fn confidence_levels_are_discounted_by_len_to_the_gamma() {
        let c = Profile::by_name("FastGood").unwrap().confidence();
        let d = 3f64.powf(0.3);
        assert!((c.value(0) - 0.9 / d).abs() < 1e-12);
        assert!((c.draw(0.0) - 0.9 / d).abs() < 1e-12);
        assert!((c.draw(0.34) - 0.7 / d).abs() < 1e-12);
        assert!((c.draw(0.9999) - 0.5 / d).abs() < 1e-12);
        assert!((c.max() - 0.9 / d).abs() < 1e-12);
        assert!(Confidence::parse_levels("0.9+x").is_err());
        let bad = Confidence {
            levels: vec![1.5],
            gamma: 0.0,
        };
        assert!(bad.validate().unwrap_err().0.contains("1.5"));
    }

    #[test]
    fn seeded_confidence_draws_have_the_profiles_mean_and_cover_every_level() {
        // Statistical, seeded: 30,000 draws; the sample mean's standard error is below 0.002.
        for p in REFERENCE_PROFILES {
            let c = p.confidence();
            let draws = Draws::new(42);
            let mut seen = [0u32; 3];
            let mut sum = 0.0;
            let n = 30_000;
            for _ in 0..n {
                let v = c.draw(draws.next().confidence);
                let level = (0..3).find(|&f| (c.value(f) - v).abs() < 1e-12).unwrap();
                seen[level] += 1;
                sum += v;
            }
            let mean = sum / f64::from(n);
            assert!(
                (mean - p.mean_confidence()).abs() < 0.01,
                "{}: sample mean {mean} vs {}",
                p.name,
                p.mean_confidence()
            );
            for count in seen {
                // Each level ≈ 1/3 of the draws.
                assert!((8_000..12_000).contains(&count), "{}: {seen:?}", p.name);
            }
        }
    }
}
