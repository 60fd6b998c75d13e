//! The REST (JSON) side of the simulated model: TF Serving's JSON request formats for
//! `half_plus_two`, turned into the protocol-independent computations of
//! [`half_plus_two`](super::half_plus_two), and the JSON answers.
//!
//! Functions here are pure: they take a parsed body and return the response body or an
//! [`ApiError`]. Timing and faults live elsewhere. The rules and messages follow TF Serving's
//! `util/json_tensor.cc` (and its tests, `json_tensor_test.cc`):
//!
//! - **predict, row form** (`instances`): a non-empty list. Plain values (numbers, nested lists)
//!   are rows of the only input `x`; objects must name exactly the inputs (`{"x": …}`), every
//!   element the same way. All rows must have the same shape. Answer: `{"predictions": [...]}`,
//!   one row per instance, **without the output name** (the signature has a single output `y`).
//! - **predict, columnar form** (`inputs`): a value/list for `x`, or an object that must contain
//!   `x` (other keys are ignored). Answer: `{"outputs": …}`, again unnamed.
//! - **classify / regress**: `examples` (objects of features) and an optional `context`; JSON
//!   numbers with a fraction or exponent are float features, integers and booleans int64
//!   features, strings and `{"b64": …}` bytes features. The signature must be a classify
//!   (regress) signature: `serving_default` is a predict signature and is refused. Answer:
//!   `{"results": [[["", score]], …]}` (classify, one class without label) or
//!   `{"results": [value, …]}` (regress).

use serde_json::{Map, Value};

use super::error::ApiError;
use super::half_plus_two::{
    self, DEFAULT_SIGNATURE, ExampleBatch, FeatureValues, INPUT, example_signature, run_examples,
};
use super::json::{as_number, write_f32, write_string};

pub use super::half_plus_two::ExampleMethod;

/// DT_FLOAT arithmetic of the real model: y = 0.5·x + 2 in `f32`.
fn y(x: f64) -> f64 {
    f64::from(0.5f32 * (x as f32) + 2.0)
}

/// A dense numeric tensor read from JSON: a scalar or nested lists of equal length.
#[derive(Debug, Clone, PartialEq)]
pub enum Tensor {
    /// A single number.
    Scalar(f64),
    /// A list of sub-tensors, all of the same shape.
    List(Vec<Tensor>),
}

// === impl Tensor ===

impl Tensor {
    /// Reads a dense numeric (DT_FLOAT) tensor from a JSON value; `what` names it in errors.
    ///
    /// # Errors
    /// INVALID_ARGUMENT for non-numeric elements (TF: `… is not of expected type: float`) and
    /// for ragged lists.
    pub fn from_json(value: &Value, what: &str) -> Result<Tensor, ApiError> {
        let tensor = Self::read(value)?;
        tensor.shape(what)?;
        Ok(tensor)
    }

    fn read(value: &Value) -> Result<Tensor, ApiError> {
        if let Some(x) = as_number(value) {
            return Ok(Tensor::Scalar(x));
        }
        match value {
            Value::Array(items) => items
                .iter()
                .map(Self::read)
                .collect::<Result<Vec<_>, _>>()
                .map(Tensor::List),
            other => Err(ApiError::invalid_argument(format!(
                "JSON Value: {other} Type: {} is not of expected type: float",
                rapidjson_type(other)
            ))),
        }
    }

    /// The shape of a dense tensor.
    ///
    /// # Errors
    /// INVALID_ARGUMENT when sibling lists differ in shape.
    pub fn shape(&self, what: &str) -> Result<Vec<usize>, ApiError> {
        match self {
            Tensor::Scalar(_) => Ok(Vec::new()),
            Tensor::List(items) => {
                let mut inner: Option<Vec<usize>> = None;
                for item in items {
                    let s = item.shape(what)?;
                    match &inner {
                        None => inner = Some(s),
                        Some(prev) if *prev != s => {
                            return Err(ApiError::invalid_argument(format!(
                                "Encountered list at unexpected size in {what}: lists of shape {prev:?} and {s:?} at the same level"
                            )));
                        }
                        Some(_) => {}
                    }
                }
                let mut shape = vec![items.len()];
                shape.extend(inner.unwrap_or_default());
                Ok(shape)
            }
        }
    }

    /// Number of scalar elements.
    pub fn len(&self) -> usize {
        match self {
            Tensor::Scalar(_) => 1,
            Tensor::List(items) => items.iter().map(Tensor::len).sum(),
        }
    }

    /// Whether the tensor holds no scalar.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Applies `f` elementwise.
    pub fn map(&self, f: &impl Fn(f64) -> f64) -> Tensor {
        match self {
            Tensor::Scalar(x) => Tensor::Scalar(f(*x)),
            Tensor::List(items) => Tensor::List(items.iter().map(|t| t.map(f)).collect()),
        }
    }

    /// Appends the tensor as JSON, elements as DT_FLOAT values (non-finite values as TF
    /// Serving writes them).
    pub fn write_json(&self, out: &mut String) {
        match self {
            Tensor::Scalar(x) => write_f32(out, *x as f32),
            Tensor::List(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.write_json(out);
                }
                out.push(']');
            }
        }
    }
}

/// A parsed predict request: the rows (row form) or the tensor (columnar form) of input `x`.
#[derive(Debug, Clone, PartialEq)]
pub enum PredictRequest {
    /// Row form: `instances`, one tensor per instance.
    Row(Vec<Tensor>),
    /// Columnar form: `inputs`.
    Columnar(Tensor),
}

/// A computed answer, ready to send once the service time elapsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// Response body (JSON).
    pub body: String,
    /// Number of scalar input elements (drives the per-element service time).
    pub elements: usize,
}

/// Reads the optional `signature_name`.
fn signature_name(doc: &Map<String, Value>) -> Result<&str, ApiError> {
    match doc.get("signature_name") {
        None => Ok(""),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(ApiError::invalid_argument(format!(
            "JSON Value: {other} not formatted correctly. 'signature_name' key must be a string value."
        ))),
    }
}

fn as_object(doc: &Value) -> Result<&Map<String, Value>, ApiError> {
    doc.as_object()
        .ok_or_else(|| ApiError::invalid_argument(format!("JSON Value: {doc} Is not object")))
}

/// Whether a JSON value is TF Serving's binary form `{"b64": "…"}`.
fn is_b64(value: &Value) -> bool {
    matches!(value, Value::Object(m) if m.len() == 1 && m.contains_key("b64"))
}

/// Parses a predict body (already JSON) into a [`PredictRequest`].
///
/// # Errors
/// INVALID_ARGUMENT with TF Serving's messages: a non-object body, both or neither of
/// `instances` / `inputs`, an empty or non-list `instances`, objects that do not name exactly
/// the input `x`, mixed objects and values, non-numeric values, rows of different shapes, an
/// unknown signature.
pub fn parse_predict(doc: &Value) -> Result<PredictRequest, ApiError> {
    let doc = as_object(doc)?;
    let sig = signature_name(doc)?;
    match half_plus_two::signature(sig) {
        None => {
            return Err(ApiError::invalid_argument(format!(
                "Serving signature name: \"{sig}\" not found in signature def"
            )));
        }
        Some(s) if s.name != DEFAULT_SIGNATURE => {
            return Err(ApiError::invalid_argument(format!(
                "simulator: predict through signature \"{sig}\" (input {} {}) is not simulated; use {DEFAULT_SIGNATURE}",
                s.inputs[0].alias, s.inputs[0].dtype
            )));
        }
        Some(_) => {}
    }
    match (doc.get("instances"), doc.get("inputs")) {
        (Some(_), Some(_)) => Err(ApiError::invalid_argument(
            "Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist",
        )),
        (None, None) => Err(ApiError::invalid_argument(
            "Missing 'inputs' or 'instances' key",
        )),
        (Some(Value::Array(items)), None) => parse_instances(items).map(PredictRequest::Row),
        (Some(_), None) => Err(ApiError::invalid_argument(
            "Expecting 'instances' to be an list/array",
        )),
        (None, Some(inputs)) => parse_inputs(inputs).map(PredictRequest::Columnar),
    }
}

fn parse_instances(items: &[Value]) -> Result<Vec<Tensor>, ApiError> {
    if items.is_empty() {
        return Err(ApiError::invalid_argument("No values in 'instances' array"));
    }
    let objects = items[0].is_object() && !is_b64(&items[0]);
    let mut rows = Vec::with_capacity(items.len());
    let mut first: Option<(usize, Vec<usize>)> = None;
    for (i, item) in items.iter().enumerate() {
        let value = if objects {
            let Value::Object(map) = item else {
                return Err(ApiError::invalid_argument(format!(
                    "Expecting object but got list at item {i} of input list"
                )));
            };
            if let Some(key) = map.keys().find(|k| *k != INPUT) {
                return Err(ApiError::invalid_argument(format!(
                    "Failed to process element: {i} key: {key} of 'instances' list. Error: INVALID_ARGUMENT: JSON object: does not have named input: {key}"
                )));
            }
            map.get(INPUT).ok_or_else(|| {
                ApiError::invalid_argument(format!(
                    "Failed to process element: {i} of 'instances' list. JSON object: {item} keys must be equal to: {INPUT}"
                ))
            })?
        } else {
            if item.is_object() && !is_b64(item) {
                return Err(ApiError::invalid_argument(format!(
                    "Expecting value/list but got object at item {i} of input list"
                )));
            }
            item
        };
        let tensor = Tensor::from_json(value, &format!("instances[{i}]")).map_err(|e| {
            ApiError::invalid_argument(format!(
                "Failed to process element: {i} of 'instances' list. Error: INVALID_ARGUMENT: {}",
                e.message
            ))
        })?;
        let shape = tensor.shape("instances")?;
        let size = tensor.len();
        match &first {
            None => first = Some((size, shape)),
            Some((s, _)) if *s != size => {
                return Err(ApiError::invalid_argument(format!(
                    "Failed to process element: {i} of 'instances' list. Error: INVALID_ARGUMENT: Expecting tensor size: {s} but got: {size}"
                )));
            }
            Some((_, sh)) if *sh != shape => {
                return Err(ApiError::invalid_argument(format!(
                    "Failed to process element: {i} of 'instances' list. Error: INVALID_ARGUMENT: Expecting shape {sh:?} but got: {shape:?}"
                )));
            }
            Some(_) => {}
        }
        rows.push(tensor);
    }
    Ok(rows)
}

fn parse_inputs(inputs: &Value) -> Result<Tensor, ApiError> {
    match inputs {
        Value::Object(map) if !is_b64(inputs) => {
            // Only the signature's inputs are read; other keys are ignored (as TF Serving).
            let x = map.get(INPUT).ok_or_else(|| {
                ApiError::invalid_argument(format!(
                    "Missing named input: {INPUT} in 'inputs' object."
                ))
            })?;
            Tensor::from_json(x, "inputs.x")
        }
        other => Tensor::from_json(other, "inputs"),
    }
}

/// Computes half_plus_two for a predict request.
pub fn predict(request: &PredictRequest) -> Answer {
    let mut body = String::with_capacity(64);
    match request {
        PredictRequest::Row(rows) => {
            body.push_str("{\"predictions\": [");
            for (i, row) in rows.iter().enumerate() {
                if i > 0 {
                    body.push_str(", ");
                }
                row.map(&y).write_json(&mut body);
            }
            body.push_str("]}");
            Answer {
                body,
                elements: rows.iter().map(Tensor::len).sum(),
            }
        }
        PredictRequest::Columnar(x) => {
            body.push_str("{\"outputs\": ");
            x.map(&y).write_json(&mut body);
            body.push('}');
            Answer {
                body,
                elements: x.len(),
            }
        }
    }
}

/// Reads a JSON example (TF Serving's `MakeExampleFromJsonObject`).
fn example_from_json(value: &Value) -> Result<half_plus_two::Example, ApiError> {
    let Value::Object(features) = value else {
        return Err(ApiError::invalid_argument(format!(
            "Example must be JSON object but got JSON {}",
            rapidjson_type(value)
        )));
    };
    features
        .iter()
        .map(|(name, content)| {
            let items: &[Value] = match content {
                Value::Array(items) => items,
                single => std::slice::from_ref(single),
            };
            let mut feature = FeatureValues::Empty;
            for v in items {
                add_feature_value(&mut feature, name, v)?;
            }
            Ok((name.clone(), feature))
        })
        .collect()
}

fn add_feature_value(feature: &mut FeatureValues, name: &str, v: &Value) -> Result<(), ApiError> {
    let unexpected = || {
        ApiError::invalid_argument(format!(
            "Feature: {name} has element with unexpected JSON type: {}",
            rapidjson_type(v)
        ))
    };
    let incompatible = |f: &FeatureValues| {
        let kind = match f {
            FeatureValues::Float(_) => "float",
            FeatureValues::Int64(_) => "int64",
            FeatureValues::Bytes(_) => "bytes",
            FeatureValues::Empty => "UNKNOWN",
        };
        ApiError::invalid_argument(format!(
            "Unexpected element type in feature: {name} expecting type: {kind}"
        ))
    };
    // A non-finite marker is a float (rapidjson parses NaN/Infinity as doubles).
    let float = match v {
        Value::Number(n) if n.is_f64() => n.as_f64(),
        Value::String(_) => as_number(v),
        _ => None,
    };
    if let Some(x) = float {
        match feature {
            FeatureValues::Empty => *feature = FeatureValues::Float(vec![x as f32]),
            FeatureValues::Float(values) => values.push(x as f32),
            other => return Err(incompatible(other)),
        }
        return Ok(());
    }
    let int = match v {
        Value::Bool(b) => Some(i64::from(*b)),
        Value::Number(n) if n.is_i64() => n.as_i64(),
        Value::Number(_) => {
            return Err(ApiError::invalid_argument(format!(
                "Feature: {name} has uint64_t element. Only int64_t is supported."
            )));
        }
        _ => None,
    };
    if let Some(i) = int {
        match feature {
            FeatureValues::Empty => *feature = FeatureValues::Int64(vec![i]),
            FeatureValues::Int64(values) => values.push(i),
            other => return Err(incompatible(other)),
        }
        return Ok(());
    }
    let bytes = matches!(v, Value::String(_)) || is_b64(v);
    if !bytes {
        return Err(unexpected());
    }
    match feature {
        FeatureValues::Empty => *feature = FeatureValues::Bytes(1),
        FeatureValues::Bytes(n) => *n += 1,
        other => return Err(incompatible(other)),
    }
    Ok(())
}

/// Answers a classify or regress body (already JSON).
///
/// # Errors
/// INVALID_ARGUMENT for a missing, non-list or empty `examples`, a non-object example or
/// context, unsupported feature values, a signature of another method (`serving_default`
/// included) or an example without a single float `x`.
pub fn examples(method: ExampleMethod, doc: &Value) -> Result<Answer, ApiError> {
    let doc = as_object(doc)?;
    let sig = signature_name(doc)?;
    let context = doc.get("context").map(example_from_json).transpose()?;
    let items = match doc.get("examples") {
        // TF Serving's message says "classify" for both methods.
        None => {
            return Err(ApiError::invalid_argument(
                "When method is classify, key 'examples' is expected and was not found",
            ));
        }
        Some(Value::Array(items)) if items.is_empty() => {
            return Err(ApiError::invalid_argument(
                "'examples' value is an empty array",
            ));
        }
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(ApiError::invalid_argument(
                "Expecting 'examples' value to be an list/array",
            ));
        }
    };
    let batch = ExampleBatch {
        examples: items
            .iter()
            .map(example_from_json)
            .collect::<Result<_, _>>()?,
        context,
    };
    let signature = example_signature(method, sig)?;
    let values = run_examples(signature, &batch)?;
    let mut body = String::from("{\"results\": [");
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            body.push_str(", ");
        }
        match method {
            ExampleMethod::Regress => write_f32(&mut body, *v),
            ExampleMethod::Classify => {
                body.push_str("[[");
                write_string(&mut body, "");
                body.push_str(", ");
                write_f32(&mut body, *v);
                body.push_str("]]");
            }
        }
    }
    body.push_str("]}");
    Ok(Answer {
        body,
        elements: batch.elements(),
    })
}

/// JSON type name as rapidjson's `JsonTypeString` reports it.
pub fn rapidjson_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "Null",
        Value::Bool(false) => "False",
        Value::Bool(true) => "True",
        Value::Number(_) => "Number",
        Value::String(_) => "String",
        Value::Array(_) => "Array",
        Value::Object(_) => "Object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::json::parse_lenient;

    fn answer(body: &str) -> String {
        predict(&parse_predict(&parse_lenient(body.as_bytes()).unwrap()).unwrap()).body
    }

    fn err(body: &str) -> String {
        parse_predict(&parse_lenient(body.as_bytes()).unwrap())
            .unwrap_err()
            .message
    }

    #[test]
    fn row_form_answers_unnamed_predictions() {
        // TF Serving's tests: testPredictREST, HttpRestApiHandlerTest.Predict.
        assert_eq!(
            answer(r#"{"instances": [2.0, 3.0, 4.0]}"#),
            r#"{"predictions": [3.0, 3.5, 4.0]}"#
        );
        assert_eq!(
            answer(r#"{"instances": [[1.0, 2.0], [3.0, 4.0]]}"#),
            r#"{"predictions": [[2.5, 3.0], [3.5, 4.0]]}"#
        );
        // Named instances: the single output stays unnamed.
        assert_eq!(
            answer(r#"{"signature_name": "serving_default", "instances": [{"x": 2}, {"x": 4}]}"#),
            r#"{"predictions": [3.0, 4.0]}"#
        );
        assert_eq!(
            answer(r#"{"instances": [NaN, Infinity]}"#),
            r#"{"predictions": [NaN, Infinity]}"#
        );
        // DT_FLOAT arithmetic, shortest f32 form.
        assert_eq!(
            answer(r#"{"instances": [1.1]}"#),
            r#"{"predictions": [2.55]}"#
        );
    }

    #[test]
    fn columnar_form_answers_unnamed_outputs() {
        assert_eq!(
            answer(r#"{"inputs": [2.0, 3.0, 4.0]}"#),
            r#"{"outputs": [3.0, 3.5, 4.0]}"#
        );
        assert_eq!(answer(r#"{"inputs": 6}"#), r#"{"outputs": 5.0}"#);
        // Other keys of an inputs object are ignored.
        assert_eq!(
            answer(r#"{"inputs": {"x": [0, 2], "z": "anything"}}"#),
            r#"{"outputs": [2.0, 3.0]}"#
        );
    }

    #[test]
    fn predict_errors() {
        assert!(err(r#"{"instances": [1], "inputs": [1]}"#).contains("only one of"));
        assert!(err(r#"{"signature_name": ""}"#).contains("Missing 'inputs' or 'instances'"));
        assert!(
            err(r#"{"signature_name": 100}"#)
                .contains("'signature_name' key must be a string value.")
        );
        assert!(err(r#"{"instances": []}"#).contains("No values"));
        assert!(err(r#"{"instances": 1}"#).contains("list/array"));
        assert!(err(r#"{"instances": ["x", "y"]}"#).contains("not of expected type: float"));
        assert!(err(r#"{"instances": [true]}"#).contains("not of expected type: float"));
        assert!(err(r#"{"instances": [[1, 2], [3]]}"#).contains("Expecting tensor size"));
        assert!(err(r#"{"instances": [[1, 2], [[3], [4]]]}"#).contains("Expecting shape"));
        assert!(err(r#"{"instances": [1, [1]]}"#).contains("Expecting"));
        assert!(
            err(r#"{"instances": [{"x": 1}, {"z": 1}]}"#).contains("does not have named input: z")
        );
        assert!(
            err(r#"{"instances": [{"x": 1, "z": 1}]}"#).contains("does not have named input: z")
        );
        assert!(err(r#"{"instances": [{}]}"#).contains("keys must be equal to: x"));
        assert!(err(r#"{"instances": [{"x": 1}, 1]}"#).contains("Expecting object but got list"));
        assert!(
            err(r#"{"instances": [1, {"x": 1}]}"#).contains("Expecting value/list but got object")
        );
        assert!(err(r#"{"instances": [{"b64": "AA=="}]}"#).contains("not of expected type: float"));
        assert!(
            err(r#"{"inputs": {"z": 1}}"#).contains("Missing named input: x in 'inputs' object.")
        );
        assert!(
            err(r#"{"signature_name": "nope", "instances": [1]}"#).contains("\"nope\" not found")
        );
        assert!(
            err(r#"{"signature_name": "regress_x_to_y", "instances": [1]}"#)
                .contains("not simulated")
        );
        assert!(err(r#"[1, 2]"#).contains("Is not object"));
    }

    #[test]
    fn element_counts() {
        let req =
            parse_predict(&parse_lenient(br#"{"instances": [[1, 2], [3, 4]]}"#).unwrap()).unwrap();
        assert_eq!(predict(&req).elements, 4);
    }

    #[test]
    fn classify_and_regress_follow_the_real_model() {
        let run = |m, b: &str| examples(m, &parse_lenient(b.as_bytes()).unwrap());
        // TF Serving's tests: classify x=20 → [[["", 12]]], regress x=80 → [42].
        let c = run(
            ExampleMethod::Classify,
            r#"{"signature_name": "classify_x_to_y", "examples": [{"x": 20.0}]}"#,
        )
        .unwrap();
        assert_eq!(c.body, r#"{"results": [[["", 12.0]]]}"#);
        let r = run(ExampleMethod::Regress, r#"{"signature_name": "regress_x_to_y", "examples": [{"x": 80.0}, {"x": [2.0], "tag": "a", "n": 7}]}"#).unwrap();
        assert_eq!(r.body, r#"{"results": [42.0, 3.0]}"#);
        assert_eq!(r.elements, 4);
        let r = run(
            ExampleMethod::Regress,
            r#"{"signature_name": "regress_x_to_y2", "context": {"x": 2.0}, "examples": [{}]}"#,
        )
        .unwrap();
        assert_eq!(r.body, r#"{"results": [4.0]}"#);
    }

    #[test]
    fn example_errors() {
        let e = |m, b: &str| {
            examples(m, &parse_lenient(b.as_bytes()).unwrap())
                .unwrap_err()
                .message
        };
        let r = ExampleMethod::Regress;
        let c = ExampleMethod::Classify;
        assert!(e(r, r#"{}"#).contains("When method is classify"));
        assert!(e(c, r#"{"examples": []}"#).contains("empty"));
        assert!(e(c, r#"{"examples": {}}"#).contains("list/array"));
        assert!(e(c, r#"{"examples": [1]}"#).contains("must be JSON object"));
        assert!(e(c, r#"{"examples": [{"x": null}]}"#).contains("unexpected JSON type: Null"));
        assert!(e(c, r#"{"examples": [{"x": [[1.0]]}]}"#).contains("unexpected JSON type: Array"));
        assert!(e(c, r#"{"examples": [{"x": [1.0, 2]}]}"#).contains("expecting type: float"));
        // serving_default is a predict signature.
        assert!(e(c, r#"{"examples": [{"x": 1.0}]}"#).contains("Was: tensorflow/serving/predict"));
        assert!(
            e(
                r,
                r#"{"signature_name": "classify_x_to_y", "examples": [{"x": 1.0}]}"#
            )
            .contains("Expected regression signature")
        );
        // An integer is an int64 feature: x is a float feature.
        assert!(
            e(
                r,
                r#"{"signature_name": "regress_x_to_y", "examples": [{"x": 1}]}"#
            )
            .contains("Data types don't match")
        );
        assert!(
            e(
                r,
                r#"{"signature_name": "regress_x_to_y", "examples": [{"y": 1.0}]}"#
            )
            .contains("is required")
        );
    }
}
