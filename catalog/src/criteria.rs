//! A client's criteria: hard traits that never bend, soft preferences that trade off.

use serde::{Deserialize, Serialize};

use crate::{Error, ModelTraits};

/// What a client wants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Criteria {
    /// Hard criteria: an executor must have exactly these traits.
    pub hard: ModelTraits,
    /// Soft criteria: how to rank the executors that pass the hard ones.
    pub soft: SoftCriteria,
}

/// Soft criteria. Weights are plain non-negative numbers: a larger weight means "this matters
/// more". There is no sign convention to remember (the original prototype made callers pass a
/// negative latency weight).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SoftCriteria {
    /// Weight of (low) latency, ≥ 0.
    pub latency_weight: f64,
    /// Weight of (high) accuracy, ≥ 0.
    pub accuracy_weight: f64,
    /// Executors whose expected latency exceeds this many milliseconds are not chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_latency_ms: Option<f64>,
    /// Executors whose accuracy is below this are not chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_accuracy: Option<f64>,
}

impl Default for SoftCriteria {
    fn default() -> SoftCriteria {
        SoftCriteria {
            latency_weight: 1.0,
            accuracy_weight: 1.0,
            max_latency_ms: None,
            min_accuracy: None,
        }
    }
}

// === impl SoftCriteria ===

impl SoftCriteria {
    /// Checks every number: finite, non-negative weights not both zero, a positive latency
    /// ceiling, an accuracy floor in [0, 1]. The error names the field.
    pub fn validate(&self) -> Result<(), Error> {
        let weight = |field: &'static str, w: f64| {
            if !w.is_finite() || w < 0.0 {
                Err(Error::invalid(
                    field,
                    &w.to_string(),
                    "must be a finite number ≥ 0",
                ))
            } else {
                Ok(())
            }
        };
        weight("latency_weight", self.latency_weight)?;
        weight("accuracy_weight", self.accuracy_weight)?;
        if self.latency_weight == 0.0 && self.accuracy_weight == 0.0 {
            return Err(Error::invalid(
                "accuracy_weight",
                "0",
                "latency_weight and accuracy_weight must not both be 0",
            ));
        }
        if let Some(ms) = self.max_latency_ms
            && (!ms.is_finite() || ms <= 0.0)
        {
            return Err(Error::invalid(
                "max_latency_ms",
                &ms.to_string(),
                "must be a finite number > 0",
            ));
        }
        if let Some(a) = self.min_accuracy
            && (!(0.0..=1.0).contains(&a))
        {
            return Err(Error::invalid(
                "min_accuracy",
                &a.to_string(),
                "must be in [0, 1]",
            ));
        }
        Ok(())
    }
}

/// Parses a number given as text (an env var, an annotation, a header), naming the field on error.
pub fn parse_number(field: &'static str, text: &str) -> Result<f64, Error> {
    let v: f64 = text
        .trim()
        .parse()
        .map_err(|_| Error::invalid(field, text, "not a number"))?;
    if !v.is_finite() {
        return Err(Error::invalid(field, text, "must be finite"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        SoftCriteria::default().validate().unwrap();
    }

    #[test]
    fn rejects_sign_traps_and_nonsense() {
        let bad = |f: fn(&mut SoftCriteria)| {
            let mut c = SoftCriteria::default();
            f(&mut c);
            c.validate().unwrap_err().to_string()
        };
        assert!(bad(|c| c.latency_weight = -1.0).contains("latency_weight"));
        assert!(bad(|c| c.accuracy_weight = f64::NAN).contains("accuracy_weight"));
        assert!(
            bad(|c| {
                c.latency_weight = 0.0;
                c.accuracy_weight = 0.0
            })
            .contains("both")
        );
        assert!(bad(|c| c.max_latency_ms = Some(0.0)).contains("max_latency_ms"));
        assert!(bad(|c| c.min_accuracy = Some(1.5)).contains("min_accuracy"));
    }

    #[test]
    fn parses_numbers_with_names() {
        assert_eq!(parse_number("w", " 2.5 ").unwrap(), 2.5);
        assert!(
            parse_number("w", "fast")
                .unwrap_err()
                .to_string()
                .contains("w")
        );
        assert!(parse_number("w", "inf").is_err());
    }
}
