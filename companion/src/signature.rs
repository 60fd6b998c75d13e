//! The serving signature: reading TF Serving's `…/metadata` answer into a compact
//! [`SignatureSummary`], and checking it against the declared input and output formats.
//!
//! The check is a heuristic over dtypes and ranks (documented in `docs/companion.md`): it
//! catches gross mistakes (an image model declared as `text`), not subtle ones. Formats it has no
//! rule for are not checked.

use mulambda_catalog::{ModelTraits, SignatureSummary, TensorSummary};
use serde_json::Value;

/// The signature TF Serving uses when a request names none.
pub const DEFAULT_SIGNATURE: &str = "serving_default";

/// Limits matching the catalog's [`SignatureSummary::validate`].
const MAX_TENSORS: usize = 64;
const MAX_DIMS: usize = 16;
const MAX_NAME: usize = 256;

/// The outcome of checking one side (inputs or outputs) of a signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The signature fits the declared format.
    Consistent,
    /// It does not; the text says why.
    Mismatch(String),
    /// No rule for this format.
    Unchecked,
}

/// The outcome of checking a signature against declared traits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureCheck {
    /// Inputs against the declared input format.
    pub input: Verdict,
    /// Outputs against the declared output format.
    pub output: Verdict,
}

// === impl SignatureCheck ===

impl SignatureCheck {
    /// Whether either side mismatches.
    pub fn is_mismatch(&self) -> bool {
        matches!(self.input, Verdict::Mismatch(_)) || matches!(self.output, Verdict::Mismatch(_))
    }
}

/// Reads TF Serving's metadata JSON into a summary of the signature `serving_default`, or else
/// of the first signature by name that is not internal (`__saved_model_init_op`), or else the
/// first. Large signatures are cut to the catalog's limits. Any malformed input is an error,
/// never a panic.
pub fn parse_metadata(body: &[u8]) -> Result<SignatureSummary, String> {
    let doc: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let defs = doc
        .pointer("/metadata/signature_def/signature_def")
        .and_then(Value::as_object)
        .ok_or("no metadata.signature_def.signature_def object")?;
    let mut names: Vec<&String> = defs.keys().collect();
    names.sort();
    let name = if defs.contains_key(DEFAULT_SIGNATURE) {
        DEFAULT_SIGNATURE
    } else {
        names
            .iter()
            .find(|n| !n.starts_with("__"))
            .or(names.first())
            .map(|n| n.as_str())
            .ok_or("the model has no signature")?
    };
    let def = &defs[name];
    Ok(SignatureSummary {
        name: cut(name),
        inputs: tensors(def.get("inputs")),
        outputs: tensors(def.get("outputs")),
    })
}

fn tensors(map: Option<&Value>) -> Vec<TensorSummary> {
    let Some(map) = map.and_then(Value::as_object) else {
        return Vec::new();
    };
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    keys.into_iter()
        .take(MAX_TENSORS)
        .map(|key| tensor(key, &map[key.as_str()]))
        .collect()
}

fn tensor(key: &str, info: &Value) -> TensorSummary {
    let dtype = info
        .get("dtype")
        .and_then(Value::as_str)
        .unwrap_or("DT_INVALID");
    let shape = info.get("tensor_shape");
    let unknown_rank = shape
        .and_then(|s| s.get("unknown_rank"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let dims = shape.and_then(|s| s.get("dim"));
    let shape = if unknown_rank {
        None
    } else {
        match dims {
            // Protobuf's JSON mapping writes int64 sizes as strings ("-1"); accept numbers too.
            Some(Value::Array(dims)) if dims.len() <= MAX_DIMS => Some(
                dims.iter()
                    .map(|d| match d.get("size") {
                        Some(Value::String(s)) => s.parse().unwrap_or(-1),
                        Some(Value::Number(n)) => n.as_i64().unwrap_or(-1),
                        _ => -1,
                    })
                    .collect(),
            ),
            // No `dim` means a scalar (rank 0).
            None | Some(Value::Null) => Some(Vec::new()),
            _ => None,
        }
    };
    TensorSummary {
        name: cut(key),
        dtype: cut(dtype),
        shape,
    }
}

fn cut(s: &str) -> String {
    if s.len() <= MAX_NAME {
        return s.to_string();
    }
    let mut end = MAX_NAME;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// Checks a signature against declared traits by the rules below (any one tensor satisfying the
/// rule is enough, since models may have auxiliary tensors; unknown rank passes rank rules):
///
/// | side | format | rule |
/// |---|---|---|
/// | input | `image` | numeric of rank ≥ 3, or `DT_STRING` (encoded images) |
/// | input | `text` | `DT_STRING` |
/// | input | `audio` | numeric of rank ≥ 2, or `DT_STRING` |
/// | input | `number`, `numeric`, `tabular` | numeric |
/// | output | `label`, `class`, `classes` | `DT_STRING`, integer (class ids), or floating of rank ≥ 2 (class scores) |
/// | output | `number`, `numeric`, `score` | floating |
/// | output | `text` | `DT_STRING` |
/// | output | `image` | numeric of rank ≥ 3, or `DT_STRING` |
pub fn check(traits: &ModelTraits, sig: &SignatureSummary) -> SignatureCheck {
    SignatureCheck {
        input: check_side(
            "input",
            traits.input_format.as_str(),
            &sig.inputs,
            input_rule,
        ),
        output: check_side(
            "output",
            traits.output_format.as_str(),
            &sig.outputs,
            output_rule,
        ),
    }
}

type Rule = fn(&TensorSummary) -> bool;

fn input_rule(format: &str) -> Option<(Rule, &'static str)> {
    Some(match format {
        "image" => (
            |t| is_string(t) || (is_numeric(t) && rank_at_least(t, 3)),
            "a numeric tensor of rank ≥ 3 or DT_STRING",
        ),
        "text" => (is_string, "a DT_STRING tensor"),
        "audio" => (
            |t| is_string(t) || (is_numeric(t) && rank_at_least(t, 2)),
            "a numeric tensor of rank ≥ 2 or DT_STRING",
        ),
        "number" | "numeric" | "tabular" => (is_numeric, "a numeric tensor"),
        _ => return None,
    })
}

fn output_rule(format: &str) -> Option<(Rule, &'static str)> {
    Some(match format {
        "label" | "class" | "classes" => (
            |t| is_string(t) || is_integer(t) || (is_floating(t) && rank_at_least(t, 2)),
            "DT_STRING, integer class ids or a floating class-score tensor of rank ≥ 2",
        ),
        "number" | "numeric" | "score" => (is_floating, "a floating-point tensor"),
        "text" => (is_string, "a DT_STRING tensor"),
        "image" => (
            |t| is_string(t) || (is_numeric(t) && rank_at_least(t, 3)),
            "a numeric tensor of rank ≥ 3 or DT_STRING",
        ),
        _ => return None,
    })
}

fn check_side(
    side: &str,
    format: &str,
    tensors: &[TensorSummary],
    rule: fn(&str) -> Option<(Rule, &'static str)>,
) -> Verdict {
    let Some((ok, wanted)) = rule(format) else {
        return Verdict::Unchecked;
    };
    if tensors.iter().any(ok) {
        return Verdict::Consistent;
    }
    let found: Vec<String> = tensors.iter().map(describe).collect();
    Verdict::Mismatch(format!(
        "declared {side} format {format} expects {wanted}; the signature has [{}]",
        found.join(", ")
    ))
}

fn describe(t: &TensorSummary) -> String {
    match &t.shape {
        Some(s) => format!("{} {} {:?}", t.name, t.dtype, s),
        None => format!("{} {} (unknown rank)", t.name, t.dtype),
    }
}

fn is_string(t: &TensorSummary) -> bool {
    t.dtype == "DT_STRING"
}

fn is_floating(t: &TensorSummary) -> bool {
    matches!(
        t.dtype.as_str(),
        "DT_FLOAT" | "DT_DOUBLE" | "DT_HALF" | "DT_BFLOAT16"
    )
}

fn is_integer(t: &TensorSummary) -> bool {
    matches!(
        t.dtype.as_str(),
        "DT_INT8"
            | "DT_INT16"
            | "DT_INT32"
            | "DT_INT64"
            | "DT_UINT8"
            | "DT_UINT16"
            | "DT_UINT32"
            | "DT_UINT64"
    )
}

fn is_numeric(t: &TensorSummary) -> bool {
    is_floating(t) || is_integer(t)
}

fn rank_at_least(t: &TensorSummary, n: usize) -> bool {
    t.shape.as_ref().is_none_or(|s| s.len() >= n)
}

#[cfg(test)]
mod tests {
    use super::*;

    const IMAGE_CLASSIFIER: &str = r#"{
      "model_spec": {"name": "resnet", "signature_name": "", "version": "1"},
      "metadata": {"signature_def": {"signature_def": {
        "__saved_model_init_op": {"inputs": {}, "outputs": {"__saved_model_init_op":
            {"dtype": "DT_INVALID", "tensor_shape": {"dim": [], "unknown_rank": true}, "name": "NoOp"}},
            "method_name": ""},
        "serving_default": {
          "inputs": {"input_1": {"dtype": "DT_FLOAT", "tensor_shape": {"dim": [
              {"size": "-1", "name": ""}, {"size": "224", "name": ""},
              {"size": "224", "name": ""}, {"size": "3", "name": ""}], "unknown_rank": false},
              "name": "serving_default_input_1:0"}},
          "outputs": {"predictions": {"dtype": "DT_FLOAT", "tensor_shape": {"dim": [
              {"size": "-1", "name": ""}, {"size": "1000", "name": ""}], "unknown_rank": false},
              "name": "StatefulPartitionedCall:0"}},
          "method_name": "tensorflow/serving/predict"}}}}}"#;

    fn traits(t: &str, i: &str, o: &str) -> ModelTraits {
        ModelTraits::parse(t, i, o).unwrap()
    }

    #[test]
    fn reads_serving_default() {
        let s = parse_metadata(IMAGE_CLASSIFIER.as_bytes()).unwrap();
        assert_eq!(s.name, "serving_default");
        assert_eq!(s.inputs.len(), 1);
        assert_eq!(s.inputs[0].name, "input_1");
        assert_eq!(s.inputs[0].dtype, "DT_FLOAT");
        assert_eq!(s.inputs[0].shape, Some(vec![-1, 224, 224, 3]));
        assert_eq!(s.outputs[0].shape, Some(vec![-1, 1000]));
        s.validate().unwrap();
    }

    #[test]
    fn falls_back_to_the_first_public_signature() {
        let body = r#"{"metadata": {"signature_def": {"signature_def": {
            "__saved_model_init_op": {"outputs": {}},
            "zeta": {"inputs": {}, "outputs": {}},
            "alpha": {"inputs": {"x": {"dtype": "DT_STRING",
                "tensor_shape": {"dim": [], "unknown_rank": true}}}, "outputs": {}}}}}}"#;
        let s = parse_metadata(body.as_bytes()).unwrap();
        assert_eq!(s.name, "alpha");
        assert_eq!(s.inputs[0].shape, None);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for body in [
            "",
            "null",
            "[]",
            "{\"metadata\": 1}",
            "{\"metadata\": {\"signature_def\": {\"signature_def\": {}}}}",
        ] {
            assert!(parse_metadata(body.as_bytes()).is_err(), "{body}");
        }
        // Odd tensor fields degrade, they do not fail.
        let body = r#"{"metadata": {"signature_def": {"signature_def": {"s": {
            "inputs": {"x": {"dtype": 7, "tensor_shape": {"dim": [{"size": "big"}, {}]}},
                       "y": 3}, "outputs": "nope"}}}}}"#;
        let s = parse_metadata(body.as_bytes()).unwrap();
        assert_eq!(s.inputs[0].dtype, "DT_INVALID");
        assert_eq!(s.inputs[0].shape, Some(vec![-1, -1]));
        assert!(s.outputs.is_empty());
    }

    #[test]
    fn oversized_signatures_are_cut() {
        let mut inputs = serde_json::Map::new();
        for i in 0..100 {
            inputs.insert(
                format!("{}{i:03}", "n".repeat(300)),
                serde_json::json!({"dtype": "DT_FLOAT",
                    "tensor_shape": {"dim": vec![serde_json::json!({"size": "1"}); 20]}}),
            );
        }
        let body = serde_json::json!({"metadata": {"signature_def": {"signature_def": {
            "serving_default": {"inputs": inputs, "outputs": {}}}}}});
        let s = parse_metadata(body.to_string().as_bytes()).unwrap();
        assert_eq!(s.inputs.len(), MAX_TENSORS);
        assert_eq!(s.inputs[0].shape, None);
        s.validate().unwrap();
    }

    #[test]
    fn heuristic() {
        let image = parse_metadata(IMAGE_CLASSIFIER.as_bytes()).unwrap();
        let ok = check(&traits("classification", "image", "label"), &image);
        assert_eq!(ok.input, Verdict::Consistent);
        assert_eq!(ok.output, Verdict::Consistent);
        assert!(!ok.is_mismatch());

        let bad = check(&traits("classification", "text", "number"), &image);
        assert!(matches!(bad.input, Verdict::Mismatch(ref m) if m.contains("input_1")));
        assert_eq!(bad.output, Verdict::Consistent);
        assert!(bad.is_mismatch());

        let unchecked = check(&traits("x", "video", "mask"), &image);
        assert_eq!(unchecked.input, Verdict::Unchecked);
        assert_eq!(unchecked.output, Verdict::Unchecked);

        let regression = SignatureSummary {
            name: "serving_default".into(),
            inputs: vec![TensorSummary {
                name: "x".into(),
                dtype: "DT_FLOAT".into(),
                shape: Some(vec![-1]),
            }],
            outputs: vec![TensorSummary {
                name: "y".into(),
                dtype: "DT_FLOAT".into(),
                shape: Some(vec![-1]),
            }],
        };
        let r = check(&traits("regression", "number", "number"), &regression);
        assert!(!r.is_mismatch());
        let r = check(&traits("regression", "image", "label"), &regression);
        assert!(matches!(r.input, Verdict::Mismatch(_)));
        assert!(matches!(r.output, Verdict::Mismatch(_)));
    }
}
