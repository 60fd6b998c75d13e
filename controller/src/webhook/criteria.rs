//! A pod's criteria, read from its `mulambda.io/*` annotations and turned into the proxy's
//! `MULAMBDA_*` environment.
//!
//! Hard criteria (model type, input format, output format) are required: a proxy without them
//! could never pick a model. Soft criteria are optional; the proxy has defaults. Every problem is
//! reported, each naming the annotation and the refused value.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::EnvVar;
use mulambda_catalog::names::{annotations, env};
use mulambda_catalog::{TraitValue, parse_number};

use crate::podspec::env_value;

/// Criteria read from a pod's annotations, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct PodCriteria {
    /// Hard: model type.
    pub model_type: TraitValue,
    /// Hard: input format.
    pub input_format: TraitValue,
    /// Hard: output format.
    pub output_format: TraitValue,
    /// Soft: latency weight (≥ 0).
    pub latency_weight: Option<f64>,
    /// Soft: accuracy weight (≥ 0).
    pub accuracy_weight: Option<f64>,
    /// Soft: latency ceiling in ms (> 0).
    pub max_latency_ms: Option<f64>,
    /// Soft: accuracy floor in [0, 1].
    pub min_accuracy: Option<f64>,
}

/// One refused annotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnotationProblem {
    /// The annotation.
    pub annotation: &'static str,
    /// Its value (cut to 64 characters); `None` when missing.
    pub value: Option<String>,
    /// Why it was refused.
    pub reason: String,
}

/// Every refused annotation of a pod (never empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CriteriaError(pub Vec<AnnotationProblem>);

const SHOWN_VALUE_MAX: usize = 64;

// === impl PodCriteria ===

impl PodCriteria {
    /// Reads and validates the criteria annotations.
    pub fn from_annotations(a: &BTreeMap<String, String>) -> Result<PodCriteria, CriteriaError> {
        let mut problems = Vec::new();
        let model_type = hard(a, annotations::MODEL_TYPE, &mut problems);
        let input_format = hard(a, annotations::INPUT_FORMAT, &mut problems);
        let output_format = hard(a, annotations::OUTPUT_FORMAT, &mut problems);
        let weight = "must be a finite number ≥ 0";
        let latency_weight = number(a, annotations::LATENCY_WEIGHT, &mut problems, weight, |v| {
            v >= 0.0
        });
        let accuracy_weight = number(
            a,
            annotations::ACCURACY_WEIGHT,
            &mut problems,
            weight,
            |v| v >= 0.0,
        );
        let max_latency_ms = number(
            a,
            annotations::MAX_LATENCY_MS,
            &mut problems,
            "must be a finite number of milliseconds > 0",
            |v| v > 0.0,
        );
        let min_accuracy = number(
            a,
            annotations::MIN_ACCURACY,
            &mut problems,
            "must be in [0, 1]",
            |v| (0.0..=1.0).contains(&v),
        );
        // The proxy's default weight is 1: both weights are 0 only when both are given as 0.
        if latency_weight == Some(0.0) && accuracy_weight == Some(0.0) {
            problems.push(AnnotationProblem {
                annotation: annotations::ACCURACY_WEIGHT,
                value: Some("0".to_string()),
                reason: format!(
                    "{} and {} must not both be 0",
                    annotations::LATENCY_WEIGHT,
                    annotations::ACCURACY_WEIGHT
                ),
            });
        }
        match (model_type, input_format, output_format) {
            (Some(model_type), Some(input_format), Some(output_format)) if problems.is_empty() => {
                Ok(PodCriteria {
                    model_type,
                    input_format,
                    output_format,
                    latency_weight,
                    accuracy_weight,
                    max_latency_ms,
                    min_accuracy,
                })
            }
            _ => Err(CriteriaError(problems)),
        }
    }

    /// The proxy's criteria environment (normalised values; soft criteria only when given).
    pub fn env(&self) -> Vec<EnvVar> {
        let mut out = vec![
            env_value(env::MODEL_TYPE, self.model_type.as_str()),
            env_value(env::INPUT_FORMAT, self.input_format.as_str()),
            env_value(env::OUTPUT_FORMAT, self.output_format.as_str()),
        ];
        let soft = [
            (env::LATENCY_WEIGHT, self.latency_weight),
            (env::ACCURACY_WEIGHT, self.accuracy_weight),
            (env::MAX_LATENCY_MS, self.max_latency_ms),
            (env::MIN_ACCURACY, self.min_accuracy),
        ];
        out.extend(
            soft.into_iter()
                .filter_map(|(name, v)| v.map(|v| env_value(name, v.to_string()))),
        );
        out
    }
}

fn shown(value: &str) -> String {
    if value.chars().count() <= SHOWN_VALUE_MAX {
        value.to_string()
    } else {
        let cut: String = value.chars().take(SHOWN_VALUE_MAX).collect();
        format!("{cut}…")
    }
}

fn hard(
    a: &BTreeMap<String, String>,
    annotation: &'static str,
    problems: &mut Vec<AnnotationProblem>,
) -> Option<TraitValue> {
    let Some(value) = a.get(annotation) else {
        problems.push(AnnotationProblem {
            annotation,
            value: None,
            reason: "is required (a hard criterion of the injected proxy)".to_string(),
        });
        return None;
    };
    match TraitValue::parse(value) {
        Ok(v) => Some(v),
        Err(e) => {
            problems.push(AnnotationProblem {
                annotation,
                value: Some(shown(value)),
                reason: format!("{e} (lower-case [a-z0-9][a-z0-9._-]*, at most 63 characters)"),
            });
            None
        }
    }
}

fn number(
    a: &BTreeMap<String, String>,
    annotation: &'static str,
    problems: &mut Vec<AnnotationProblem>,
    rule: &str,
    ok: impl Fn(f64) -> bool,
) -> Option<f64> {
    let value = a.get(annotation)?;
    match parse_number(annotation, value) {
        Ok(v) if ok(v) => Some(v),
        Ok(_) => {
            problems.push(AnnotationProblem {
                annotation,
                value: Some(shown(value)),
                reason: rule.to_string(),
            });
            None
        }
        Err(_) => {
            problems.push(AnnotationProblem {
                annotation,
                value: Some(shown(value)),
                reason: format!("not a number; {rule}"),
            });
            None
        }
    }
}

// === impl AnnotationProblem ===

impl fmt::Display for AnnotationProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(v) => write!(f, "annotation {} {:?}: {}", self.annotation, v, self.reason),
            None => write!(f, "annotation {} {}", self.annotation, self.reason),
        }
    }
}

// === impl CriteriaError ===

impl fmt::Display for CriteriaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CriteriaError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn annotations_of(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn hard_ok() -> Vec<(&'static str, &'static str)> {
        vec![
            (annotations::MODEL_TYPE, "Classification"),
            (annotations::INPUT_FORMAT, "image"),
            (annotations::OUTPUT_FORMAT, "label"),
        ]
    }

    #[test]
    fn reads_and_normalises_criteria() {
        let mut pairs = hard_ok();
        pairs.push((annotations::LATENCY_WEIGHT, " 0.7 "));
        pairs.push((annotations::MIN_ACCURACY, "0.6"));
        let c = PodCriteria::from_annotations(&annotations_of(&pairs)).unwrap();
        assert_eq!(c.model_type.as_str(), "classification");
        assert_eq!(c.latency_weight, Some(0.7));
        let env: Vec<_> = c
            .env()
            .into_iter()
            .map(|e| (e.name, e.value.unwrap()))
            .collect();
        assert!(env.contains(&("MULAMBDA_MODEL_TYPE".into(), "classification".into())));
        assert!(env.contains(&("MULAMBDA_LATENCY_WEIGHT".into(), "0.7".into())));
        assert!(env.contains(&("MULAMBDA_MIN_ACCURACY".into(), "0.6".into())));
        assert!(!env.iter().any(|(n, _)| n == "MULAMBDA_ACCURACY_WEIGHT"));
    }

    #[test]
    fn every_problem_names_its_annotation_and_value() {
        let pairs = vec![
            (annotations::MODEL_TYPE, "Bad Type"),
            (annotations::OUTPUT_FORMAT, "label"),
            (annotations::LATENCY_WEIGHT, "-1"),
            (annotations::ACCURACY_WEIGHT, "fast"),
            (annotations::MAX_LATENCY_MS, "0"),
            (annotations::MIN_ACCURACY, "1.5"),
        ];
        let e = PodCriteria::from_annotations(&annotations_of(&pairs)).unwrap_err();
        let text = e.to_string();
        for needle in [
            "mulambda.io/model-type \"Bad Type\"",
            "mulambda.io/input-format is required",
            "mulambda.io/latency-weight \"-1\"",
            "mulambda.io/accuracy-weight \"fast\": not a number",
            "mulambda.io/max-latency-ms \"0\"",
            "mulambda.io/min-accuracy \"1.5\"",
        ] {
            assert!(text.contains(needle), "{needle} not in {text}");
        }
        assert_eq!(e.0.len(), 6);
    }

    #[test]
    fn weights_must_not_both_be_zero_and_nan_is_refused() {
        let mut pairs = hard_ok();
        pairs.push((annotations::LATENCY_WEIGHT, "0"));
        pairs.push((annotations::ACCURACY_WEIGHT, "0"));
        let e = PodCriteria::from_annotations(&annotations_of(&pairs)).unwrap_err();
        assert!(e.to_string().contains("must not both be 0"));

        let mut pairs = hard_ok();
        pairs.push((annotations::LATENCY_WEIGHT, "NaN"));
        assert!(PodCriteria::from_annotations(&annotations_of(&pairs)).is_err());
    }

    #[test]
    fn long_values_are_cut_in_messages() {
        let long = "x".repeat(500);
        let mut pairs = hard_ok();
        pairs.push((annotations::LATENCY_WEIGHT, long.as_str()));
        let e = PodCriteria::from_annotations(&annotations_of(&pairs)).unwrap_err();
        assert!(e.to_string().len() < 200);
    }
}
