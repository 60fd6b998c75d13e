//! TF Serving's test model `half_plus_two` (`saved_model_half_plus_two_cpu`), independent of
//! the protocol: its signatures, its functions and its rules for tf.Example inputs. The REST
//! side (`model.rs`) and the gRPC side (`grpc.rs`) both compute through here.
//!
//! The real model (TF Serving's `saved_model_half_plus_two.py`, metadata in
//! `half_plus_two_model_metadata.json`) has five signatures:
//!
//! | signature | method | input | output |
//! |---|---|---|---|
//! | `serving_default` | predict | `x` DT_FLOAT | `y = 0.5·x + 2` |
//! | `classify_x_to_y` | classify | serialized tf.Example | `scores = y` (one class, no label) |
//! | `regress_x_to_y` | regress | serialized tf.Example | `outputs = y` |
//! | `regress_x_to_y2` | regress | serialized tf.Example | `outputs = 0.5·x + 3` |
//! | `regress_x2_to_y3` | regress | `x2` DT_FLOAT tensor | `outputs = 0.5·x2 + 3` |
//!
//! tf.Examples are parsed with the feature spec `x: FixedLenFeature([1], float32)` (required)
//! and `x2: FixedLenFeature([1], float32, default 0)`; other features are ignored.

use super::error::ApiError;

/// Default signature key (`serving_default`, a predict signature).
pub const DEFAULT_SIGNATURE: &str = "serving_default";
/// Method name of predict signatures.
pub const PREDICT_METHOD: &str = "tensorflow/serving/predict";
/// Method name of classify signatures.
pub const CLASSIFY_METHOD: &str = "tensorflow/serving/classify";
/// Method name of regress signatures.
pub const REGRESS_METHOD: &str = "tensorflow/serving/regress";
/// The predict signature's only input alias.
pub const INPUT: &str = "x";
/// The predict signature's only output alias.
pub const OUTPUT: &str = "y";

/// y = 0.5·x + 2.
pub fn half_plus_two(x: f64) -> f64 {
    0.5 * x + 2.0
}

/// One signature of the model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Signature {
    /// Key in the signature map.
    pub name: &'static str,
    /// Method name.
    pub method: &'static str,
    /// (alias, dtype, tensor name, shape; `None` = unknown rank).
    pub inputs: &'static [TensorSpec],
    /// Outputs, same shape.
    pub outputs: &'static [TensorSpec],
    /// For classify/regress signatures over tf.Examples, the intercept `b` of their function
    /// `0.5·x + b`; `None` for signatures that do not take examples.
    examples_intercept: Option<f32>,
}

/// A tensor of a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TensorSpec {
    /// Alias (the key in the signature's map).
    pub alias: &'static str,
    /// `DT_FLOAT` or `DT_STRING`.
    pub dtype: &'static str,
    /// Graph tensor name.
    pub name: &'static str,
    /// Dimensions (`-1`: any); `None`: unknown rank.
    pub shape: Option<&'static [i64]>,
}

const BATCH_OF_ONE: Option<&[i64]> = Some(&[-1, 1]);
const EXAMPLES: TensorSpec = TensorSpec {
    alias: "inputs",
    dtype: "DT_STRING",
    name: "tf_example:0",
    shape: None,
};
const fn float(alias: &'static str, name: &'static str) -> TensorSpec {
    TensorSpec {
        alias,
        dtype: "DT_FLOAT",
        name,
        shape: BATCH_OF_ONE,
    }
}

/// Every signature, in the order TF Serving's metadata test file lists them.
pub const SIGNATURES: [Signature; 5] = [
    Signature {
        name: "regress_x2_to_y3",
        method: REGRESS_METHOD,
        inputs: &[float("inputs", "x2:0")],
        outputs: &[float("outputs", "y3:0")],
        examples_intercept: None,
    },
    Signature {
        name: DEFAULT_SIGNATURE,
        method: PREDICT_METHOD,
        inputs: &[float(INPUT, "x:0")],
        outputs: &[float(OUTPUT, "y:0")],
        examples_intercept: None,
    },
    Signature {
        name: "classify_x_to_y",
        method: CLASSIFY_METHOD,
        inputs: &[EXAMPLES],
        outputs: &[float("scores", "y:0")],
        examples_intercept: Some(2.0),
    },
    Signature {
        name: "regress_x_to_y2",
        method: REGRESS_METHOD,
        inputs: &[EXAMPLES],
        outputs: &[float("outputs", "y2:0")],
        examples_intercept: Some(3.0),
    },
    Signature {
        name: "regress_x_to_y",
        method: REGRESS_METHOD,
        inputs: &[EXAMPLES],
        outputs: &[float("outputs", "y:0")],
        examples_intercept: Some(2.0),
    },
];

/// The signature with this key (empty: `serving_default`).
pub fn signature(name: &str) -> Option<&'static Signature> {
    let name = if name.is_empty() {
        DEFAULT_SIGNATURE
    } else {
        name
    };
    SIGNATURES.iter().find(|s| s.name == name)
}

/// Classify or regress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExampleMethod {
    /// Classify.
    Classify,
    /// Regress.
    Regress,
}

// === impl ExampleMethod ===

impl ExampleMethod {
    /// The method's name as it appears in REST paths.
    pub fn name(self) -> &'static str {
        match self {
            ExampleMethod::Classify => "classify",
            ExampleMethod::Regress => "regress",
        }
    }

    /// The signature method name it requires.
    pub fn method_name(self) -> &'static str {
        match self {
            ExampleMethod::Classify => CLASSIFY_METHOD,
            ExampleMethod::Regress => REGRESS_METHOD,
        }
    }

    /// The method for a signature method name (MultiInference's `method_name`).
    pub fn from_method_name(name: &str) -> Option<Self> {
        match name {
            CLASSIFY_METHOD => Some(ExampleMethod::Classify),
            REGRESS_METHOD => Some(ExampleMethod::Regress),
            _ => None,
        }
    }
}

/// The values of one tf.Example feature.
#[derive(Debug, Clone, PartialEq)]
pub enum FeatureValues {
    /// `float_list`.
    Float(Vec<f32>),
    /// `int64_list`.
    Int64(Vec<i64>),
    /// `bytes_list` (only the count matters here).
    Bytes(usize),
    /// A feature with no kind set.
    Empty,
}

// === impl FeatureValues ===

impl FeatureValues {
    fn len(&self) -> usize {
        match self {
            FeatureValues::Float(v) => v.len(),
            FeatureValues::Int64(v) => v.len(),
            FeatureValues::Bytes(n) => *n,
            FeatureValues::Empty => 0,
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            FeatureValues::Float(_) => "float",
            FeatureValues::Int64(_) => "int64",
            FeatureValues::Bytes(_) => "string",
            FeatureValues::Empty => "unknown",
        }
    }
}

/// One tf.Example: named features.
pub type Example = Vec<(String, FeatureValues)>;

/// The examples of a classify, regress or MultiInference request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExampleBatch {
    /// The examples.
    pub examples: Vec<Example>,
    /// The context example merged into each (`ExampleListWithContext`).
    pub context: Option<Example>,
}

// === impl ExampleBatch ===

impl ExampleBatch {
    /// Number of feature values (drives the per-element service time).
    pub fn elements(&self) -> usize {
        let count = |e: &Example| e.iter().map(|(_, v)| v.len()).sum::<usize>();
        let context = self.context.as_ref().map_or(0, count);
        self.examples.iter().map(|e| count(e) + context).sum()
    }

    /// The value of the required feature `x` of example `i` (the example's own feature first,
    /// then the context's), parsed like `FixedLenFeature([1], float32)`.
    fn x(&self, i: usize) -> Result<f32, ApiError> {
        let find = |e: &Example| e.iter().find(|(k, _)| k == "x").map(|(_, v)| v.clone());
        let value = find(&self.examples[i]).or_else(|| self.context.as_ref().and_then(find));
        match value {
            None | Some(FeatureValues::Empty) => Err(ApiError::invalid_argument(format!(
                "Name: <unknown>, Feature: x (data type: float) is required but could not be found. (example {i})"
            ))),
            Some(FeatureValues::Float(v)) if v.len() == 1 => Ok(v[0]),
            Some(FeatureValues::Float(v)) => Err(ApiError::invalid_argument(format!(
                "Name: <unknown>, Key: x, Index: {i}.  Number of float values != expected.  Values size: {} but output shape: [1]",
                v.len()
            ))),
            Some(other) => Err(ApiError::invalid_argument(format!(
                "Name: <unknown>, Key: x, Index: {i}.  Data types don't match. Data type: {} but expected type: float",
                other.type_name()
            ))),
        }
    }
}

/// Resolves the signature of a classify or regress request.
///
/// # Errors
/// INVALID_ARGUMENT as TF Serving's classifier/regressor: an unknown name (`No signature was
/// found with the name: s`), or a signature of another method — `serving_default` included,
/// since it is a predict signature (`Expected classification signature method_name to be
/// tensorflow/serving/classify. Was: tensorflow/serving/predict`).
pub fn example_signature(
    method: ExampleMethod,
    name: &str,
) -> Result<&'static Signature, ApiError> {
    let sig = signature(name).ok_or_else(|| {
        ApiError::invalid_argument(format!(
            "No signature was found with the name: {}",
            if name.is_empty() {
                DEFAULT_SIGNATURE
            } else {
                name
            }
        ))
    })?;
    if sig.method != method.method_name() {
        let what = match method {
            ExampleMethod::Classify => "classification",
            ExampleMethod::Regress => "regression",
        };
        return Err(ApiError::invalid_argument(format!(
            "Expected {what} signature method_name to be {}. Was: {}",
            method.method_name(),
            sig.method
        )));
    }
    Ok(sig)
}

/// Runs a classify or regress signature over a batch: one score (classify, class label "")
/// or value (regress) per example.
///
/// # Errors
/// INVALID_ARGUMENT for an empty batch (`Input is empty.`), a signature that does not take
/// serialized examples, or an example without a single float `x`.
pub fn run_examples(sig: &Signature, batch: &ExampleBatch) -> Result<Vec<f32>, ApiError> {
    let Some(b) = sig.examples_intercept else {
        return Err(ApiError::invalid_argument(format!(
            "Expects arg[0] to be float but string is provided (signature {} takes a DT_FLOAT tensor, not serialized tf.Examples)",
            sig.name
        )));
    };
    if batch.examples.is_empty() {
        return Err(ApiError::invalid_argument("Input is empty."));
    }
    (0..batch.examples.len())
        .map(|i| batch.x(i).map(|x| 0.5 * x + b))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(x: FeatureValues) -> ExampleBatch {
        ExampleBatch {
            examples: vec![vec![
                ("x".into(), x),
                ("other".into(), FeatureValues::Bytes(1)),
            ]],
            context: None,
        }
    }

    #[test]
    fn signatures_follow_the_real_model() {
        assert_eq!(signature("").unwrap().method, PREDICT_METHOD);
        assert_eq!(
            signature("regress_x_to_y2").unwrap().outputs[0].name,
            "y2:0"
        );
        assert!(signature("nope").is_none());
        let e = example_signature(ExampleMethod::Classify, "").unwrap_err();
        assert!(e.message.contains("Was: tensorflow/serving/predict"), "{e}");
        let e = example_signature(ExampleMethod::Regress, "classify_x_to_y").unwrap_err();
        assert!(e.message.contains("Expected regression signature"), "{e}");
        let e = example_signature(ExampleMethod::Regress, "nope").unwrap_err();
        assert!(
            e.message
                .contains("No signature was found with the name: nope")
        );
    }

    #[test]
    fn examples_map_x_like_the_real_model() {
        let y = |sig: &str, x| {
            run_examples(
                signature(sig).unwrap(),
                &batch(FeatureValues::Float(vec![x])),
            )
            .unwrap()
        };
        // TF Serving's tests: x = 2 → 3; 20 → 12 (classify); 80 → 42 (regress).
        assert_eq!(y("classify_x_to_y", 2.0), [3.0]);
        assert_eq!(y("classify_x_to_y", 20.0), [12.0]);
        assert_eq!(y("regress_x_to_y", 80.0), [42.0]);
        assert_eq!(y("regress_x_to_y2", 2.0), [4.0]);
        let err = |x| {
            run_examples(signature("regress_x_to_y").unwrap(), &batch(x))
                .unwrap_err()
                .message
        };
        assert!(err(FeatureValues::Int64(vec![2])).contains("Data types don't match"));
        assert!(err(FeatureValues::Float(vec![1.0, 2.0])).contains("Values size: 2"));
        assert!(err(FeatureValues::Empty).contains("is required"));
        let ctx = ExampleBatch {
            examples: vec![vec![]],
            context: Some(vec![("x".into(), FeatureValues::Float(vec![4.0]))]),
        };
        assert_eq!(
            run_examples(signature("regress_x_to_y").unwrap(), &ctx).unwrap(),
            [4.0]
        );
        assert!(
            run_examples(signature("regress_x2_to_y3").unwrap(), &ctx)
                .unwrap_err()
                .message
                .contains("DT_FLOAT")
        );
    }
}
