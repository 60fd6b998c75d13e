//! The simulated model: TF Serving's test model `half_plus_two` (y = 0.5·x + 2), applied to
//! predict, classify and regress request bodies.
//!
//! Functions here are pure: they take a parsed body and return the response body or an
//! [`ApiError`]. Timing and faults live elsewhere.
//!
//! - **predict, row form** (`instances`): a non-empty list; each instance is a number, a nested
//!   list of numbers, or an object of named inputs. Numbers map elementwise; an object maps each
//!   named input elementwise and keeps its names. Answer: `{"predictions": [...]}`.
//! - **predict, columnar form** (`inputs`): a number, a nested list, or an object of named
//!   tensors, mapped the same way. Answer: `{"outputs": ...}`.
//! - **regress**: each example's score `s` is the sum of all its numeric feature values
//!   (context features included, booleans as 0/1, strings ignored); the result is
//!   `0.5·s + 2`, so an example `{"x": 1.0}` regresses to `2.5` like the real model's
//!   `regress_x_to_y` signature. Answer: `{"results": [v, ...]}`.
//! - **classify**: the same `s`; two classes, `"negative"` with score `1 − p` and `"positive"`
//!   with score `p = 1 / (1 + e^(−s))`. Answer: `{"results": [[["negative", 1−p], ["positive", p]], ...]}`.

use serde_json::{Map, Value};

use super::error::ApiError;
use super::json::{as_number, write_number, write_string};

/// Name of the default serving signature.
pub const DEFAULT_SIGNATURE: &str = "serving_default";
/// Signature name the simulator accepts for classify besides the default one.
pub const CLASSIFY_SIGNATURE: &str = "classify_x_to_y";
/// Signature name the simulator accepts for regress besides the default one.
pub const REGRESS_SIGNATURE: &str = "regress_x_to_y";

/// y = 0.5·x + 2.
pub fn half_plus_two(x: f64) -> f64 {
    0.5 * x + 2.0
}

/// Logistic function used by classify.
pub fn logistic(s: f64) -> f64 {
    1.0 / (1.0 + (-s).exp())
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
    /// Reads a dense numeric tensor from a JSON value; `what` names it in error messages.
    ///
    /// # Errors
    /// INVALID_ARGUMENT for non-numeric elements (strings, booleans, null, objects) and for
    /// ragged lists.
    pub fn from_json(value: &Value, what: &str) -> Result<Tensor, ApiError> {
        let tensor = Self::read(value, what)?;
        tensor.shape(what)?;
        Ok(tensor)
    }

    fn read(value: &Value, what: &str) -> Result<Tensor, ApiError> {
        if let Some(x) = as_number(value) {
            return Ok(Tensor::Scalar(x));
        }
        match value {
            Value::Array(items) => items
                .iter()
                .map(|v| Self::read(v, what))
                .collect::<Result<Vec<_>, _>>()
                .map(Tensor::List),
            other => Err(ApiError::invalid_argument(format!(
                "{what}: JSON {} is not a number (input x is DT_FLOAT)",
                json_type(other)
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
                                "Expecting tensor {what} to be dense: lists of shape {prev:?} and {s:?} at the same level"
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

    /// Appends the tensor as JSON (non-finite values as TF Serving writes them).
    pub fn write_json(&self, out: &mut String) {
        match self {
            Tensor::Scalar(x) => write_number(out, *x),
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

/// An input of a predict request: one tensor, or named tensors.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A single (unnamed) tensor: fed to the only input `x`.
    Single(Tensor),
    /// Named tensors, in request order.
    Named(Vec<(String, Tensor)>),
}

// === impl Input ===

impl Input {
    fn from_json(value: &Value, what: &str) -> Result<Input, ApiError> {
        match value {
            Value::Object(map) if map.contains_key("b64") && map.len() == 1 => {
                Err(ApiError::invalid_argument(format!(
                    "{what}: binary ({{\"b64\": ...}}) values are not accepted by DT_FLOAT input x"
                )))
            }
            Value::Object(map) => {
                if map.is_empty() {
                    return Err(ApiError::invalid_argument(format!(
                        "{what}: empty object of named inputs"
                    )));
                }
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), Tensor::from_json(v, &format!("{what}.{k}"))?)))
                    .collect::<Result<Vec<_>, ApiError>>()
                    .map(Input::Named)
            }
            other => Tensor::from_json(other, what).map(Input::Single),
        }
    }

    /// Names and shapes of the tensors (unnamed: an empty name).
    fn signature(&self, what: &str) -> Result<Vec<(String, Vec<usize>)>, ApiError> {
        match self {
            Input::Single(t) => Ok(vec![(String::new(), t.shape(what)?)]),
            Input::Named(named) => {
                let mut sig = named
                    .iter()
                    .map(|(k, t)| Ok((k.clone(), t.shape(what)?)))
                    .collect::<Result<Vec<_>, ApiError>>()?;
                sig.sort();
                Ok(sig)
            }
        }
    }

    fn len(&self) -> usize {
        match self {
            Input::Single(t) => t.len(),
            Input::Named(named) => named.iter().map(|(_, t)| t.len()).sum(),
        }
    }

    fn map(&self, f: &impl Fn(f64) -> f64) -> Input {
        match self {
            Input::Single(t) => Input::Single(t.map(f)),
            Input::Named(named) => {
                Input::Named(named.iter().map(|(k, t)| (k.clone(), t.map(f))).collect())
            }
        }
    }

    fn write_json(&self, out: &mut String) {
        match self {
            Input::Single(t) => t.write_json(out),
            Input::Named(named) => {
                out.push('{');
                for (i, (k, t)) in named.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write_string(out, k);
                    out.push_str(": ");
                    t.write_json(out);
                }
                out.push('}');
            }
        }
    }
}

/// A parsed predict request.
#[derive(Debug, Clone, PartialEq)]
pub enum PredictRequest {
    /// Row form: `instances`.
    Row(Vec<Input>),
    /// Columnar form: `inputs`.
    Columnar(Input),
}

/// A parsed predict request with its answer, ready to send once the service time elapsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// Response body (JSON).
    pub body: String,
    /// Number of scalar input elements (drives the per-element service time).
    pub elements: usize,
}

/// Checks the optional `signature_name` against the names a method accepts.
fn check_signature(doc: &Map<String, Value>, accepted: &[&str]) -> Result<(), ApiError> {
    match doc.get("signature_name") {
        None => Ok(()),
        Some(Value::String(s)) if s.is_empty() || accepted.contains(&s.as_str()) => Ok(()),
        Some(Value::String(s)) => Err(ApiError::invalid_argument(format!(
            "Serving signature name: \"{s}\" not found in signature def"
        ))),
        Some(other) => Err(ApiError::invalid_argument(format!(
            "'signature_name' key must be a string value. Got {}",
            json_type(other)
        ))),
    }
}

fn as_object(doc: &Value) -> Result<&Map<String, Value>, ApiError> {
    doc.as_object().ok_or_else(|| {
        ApiError::invalid_argument(format!(
            "Request body must be a JSON object but got JSON {}",
            json_type(doc)
        ))
    })
}

/// Parses a predict body (already JSON) into a [`PredictRequest`].
///
/// # Errors
/// INVALID_ARGUMENT for a non-object body, both or neither of `instances`/`inputs`, an empty or
/// non-list `instances`, non-numeric or ragged values, or an unknown signature.
pub fn parse_predict(doc: &Value) -> Result<PredictRequest, ApiError> {
    let doc = as_object(doc)?;
    check_signature(doc, &[DEFAULT_SIGNATURE])?;
    match (doc.get("instances"), doc.get("inputs")) {
        (Some(_), Some(_)) => Err(ApiError::invalid_argument(
            "Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist",
        )),
        (None, None) => Err(ApiError::invalid_argument(
            "Missing 'inputs' or 'instances' key",
        )),
        (Some(Value::Array(items)), None) => {
            if items.is_empty() {
                return Err(ApiError::invalid_argument("No values in 'instances' array"));
            }
            let instances = items
                .iter()
                .enumerate()
                .map(|(i, v)| Input::from_json(v, &format!("instances[{i}]")))
                .collect::<Result<Vec<_>, _>>()?;
            // Instances form one batch: all must have the same named inputs and shapes.
            let first = instances[0].signature("instances[0]")?;
            for (i, input) in instances.iter().enumerate().skip(1) {
                let what = format!("instances[{i}]");
                if input.signature(&what)? != first {
                    return Err(ApiError::invalid_argument(format!(
                        "Expecting all instances to have the same named inputs and shapes: {what} differs from instances[0]"
                    )));
                }
            }
            Ok(PredictRequest::Row(instances))
        }
        (Some(_), None) => Err(ApiError::invalid_argument(
            "Excepting 'instances' to be an list/array",
        )),
        (None, Some(inputs)) => Input::from_json(inputs, "inputs").map(PredictRequest::Columnar),
    }
}

/// Computes half_plus_two for a predict request.
pub fn predict(request: &PredictRequest) -> Answer {
    let mut body = String::with_capacity(64);
    match request {
        PredictRequest::Row(instances) => {
            body.push_str("{\"predictions\": [");
            for (i, input) in instances.iter().enumerate() {
                if i > 0 {
                    body.push_str(", ");
                }
                input.map(&half_plus_two).write_json(&mut body);
            }
            body.push_str("]}");
            Answer {
                body,
                elements: instances.iter().map(Input::len).sum(),
            }
        }
        PredictRequest::Columnar(input) => {
            body.push_str("{\"outputs\": ");
            input.map(&half_plus_two).write_json(&mut body);
            body.push('}');
            Answer {
                body,
                elements: input.len(),
            }
        }
    }
}

/// Which of classify and regress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExampleMethod {
    /// `:classify`.
    Classify,
    /// `:regress`.
    Regress,
}

// === impl ExampleMethod ===

impl ExampleMethod {
    /// The method's name as it appears in the path.
    pub fn name(self) -> &'static str {
        match self {
            ExampleMethod::Classify => "classify",
            ExampleMethod::Regress => "regress",
        }
    }
}

/// Sum of an example's numeric features (booleans count 0/1, strings 0).
fn feature_sum(example: &Value, what: &str) -> Result<(f64, usize), ApiError> {
    let Value::Object(features) = example else {
        return Err(ApiError::invalid_argument(format!(
            "Example must be JSON object but got JSON {}",
            json_type(example)
        )));
    };
    let mut sum = 0.0;
    let mut count = 0;
    for (name, content) in features {
        let values: &[Value] = match content {
            Value::Array(items) => items,
            single => std::slice::from_ref(single),
        };
        for v in values {
            count += 1;
            if let Some(x) = as_number(v) {
                sum += x;
                continue;
            }
            match v {
                Value::Bool(b) => sum += f64::from(u8::from(*b)),
                Value::String(_) => {}
                Value::Object(o) if o.contains_key("b64") => {}
                other => {
                    return Err(ApiError::invalid_argument(format!(
                        "Feature: {name} has element with unexpected JSON type: {} (in {what})",
                        json_type(other)
                    )));
                }
            }
        }
    }
    Ok((sum, count))
}

/// Answers a classify or regress body (already JSON).
///
/// # Errors
/// INVALID_ARGUMENT for a missing, non-list or empty `examples`, a non-object example or
/// context, nested lists or nulls in features, or an unknown signature.
pub fn examples(method: ExampleMethod, doc: &Value) -> Result<Answer, ApiError> {
    let doc = as_object(doc)?;
    let extra = match method {
        ExampleMethod::Classify => CLASSIFY_SIGNATURE,
        ExampleMethod::Regress => REGRESS_SIGNATURE,
    };
    check_signature(doc, &[DEFAULT_SIGNATURE, extra])?;
    let (context_sum, context_count) = match doc.get("context") {
        Some(ctx) => feature_sum(ctx, "context")?,
        None => (0.0, 0),
    };
    let examples = match doc.get("examples") {
        None => {
            return Err(ApiError::invalid_argument(format!(
                "When method is {}, key 'examples' is expected and was not found",
                method.name()
            )));
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
    let mut body = String::from("{\"results\": [");
    let mut elements = 0;
    for (i, example) in examples.iter().enumerate() {
        let (sum, count) = feature_sum(example, &format!("examples[{i}]"))?;
        let s = sum + context_sum;
        elements += count + context_count;
        if i > 0 {
            body.push_str(", ");
        }
        match method {
            ExampleMethod::Regress => write_number(&mut body, half_plus_two(s)),
            ExampleMethod::Classify => {
                let p = logistic(s);
                body.push_str("[[\"negative\", ");
                write_number(&mut body, 1.0 - p);
                body.push_str("], [\"positive\", ");
                write_number(&mut body, p);
                body.push_str("]]");
            }
        }
    }
    body.push_str("]}");
    Ok(Answer { body, elements })
}

/// JSON type name as rapidjson's `JsonTypeString` reports it.
pub fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
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
    fn half_plus_two_math() {
        assert_eq!(half_plus_two(1.0), 2.5);
        assert_eq!(half_plus_two(-4.0), 0.0);
        assert_eq!(logistic(0.0), 0.5);
    }

    #[test]
    fn row_form_maps_elementwise() {
        assert_eq!(
            answer(r#"{"instances": [1.0, 2.0, 5.0]}"#),
            r#"{"predictions": [2.5, 3.0, 4.5]}"#
        );
        assert_eq!(
            answer(r#"{"instances": [[1, 2], [3, 4]]}"#),
            r#"{"predictions": [[2.5, 3.0], [3.5, 4.0]]}"#
        );
        assert_eq!(
            answer(r#"{"signature_name": "serving_default", "instances": [{"x": 2}, {"x": 4}]}"#),
            r#"{"predictions": [{"x": 3.0}, {"x": 4.0}]}"#
        );
        assert_eq!(
            answer(r#"{"instances": [NaN, Infinity]}"#),
            r#"{"predictions": [NaN, Infinity]}"#
        );
    }

    #[test]
    fn columnar_form_maps_elementwise() {
        assert_eq!(
            answer(r#"{"inputs": [1.0, 2.0, 5.0]}"#),
            r#"{"outputs": [2.5, 3.0, 4.5]}"#
        );
        assert_eq!(answer(r#"{"inputs": 6}"#), r#"{"outputs": 5.0}"#);
        assert_eq!(
            answer(r#"{"inputs": {"x": [0, 2], "z": [[4]]}}"#),
            r#"{"outputs": {"x": [2.0, 3.0], "z": [[4.0]]}}"#
        );
    }

    #[test]
    fn predict_errors() {
        assert!(err(r#"{"instances": [1], "inputs": [1]}"#).contains("only one of"));
        assert!(err(r#"{"signature_name": ""}"#).contains("Missing 'inputs' or 'instances'"));
        assert!(err(r#"{"instances": []}"#).contains("No values"));
        assert!(err(r#"{"instances": 1}"#).contains("list/array"));
        assert!(err(r#"{"instances": ["a"]}"#).contains("not a number"));
        assert!(err(r#"{"instances": [true]}"#).contains("not a number"));
        assert!(err(r#"{"instances": [[[1, 2], [3]]]}"#).contains("dense"));
        assert!(err(r#"{"instances": [[1, 2], [3]]}"#).contains("same named inputs"));
        assert!(err(r#"{"instances": [{"x": 1}, {"z": 1}]}"#).contains("same named inputs"));
        assert!(err(r#"{"instances": [{"x": 1}, 1]}"#).contains("same named inputs"));
        assert!(err(r#"{"instances": [{"b64": "AA=="}]}"#).contains("binary"));
        assert!(
            err(r#"{"signature_name": "nope", "instances": [1]}"#).contains("\"nope\" not found")
        );
        assert!(err(r#"[1, 2]"#).contains("JSON object"));
    }

    #[test]
    fn element_counts() {
        let req =
            parse_predict(&parse_lenient(br#"{"instances": [[1, 2], [3, 4]]}"#).unwrap()).unwrap();
        assert_eq!(predict(&req).elements, 4);
    }

    #[test]
    fn regress_and_classify() {
        let doc =
            parse_lenient(br#"{"examples": [{"x": 1.0}, {"x": [1, 2], "tag": "a", "on": true}]}"#)
                .unwrap();
        let r = examples(ExampleMethod::Regress, &doc).unwrap();
        assert_eq!(r.body, r#"{"results": [2.5, 4.0]}"#);
        assert_eq!(r.elements, 5);
        let doc = parse_lenient(br#"{"context": {"b": -1}, "examples": [{"x": 1}]}"#).unwrap();
        let c = examples(ExampleMethod::Classify, &doc).unwrap();
        assert_eq!(
            c.body,
            r#"{"results": [[["negative", 0.5], ["positive", 0.5]]]}"#
        );
    }

    #[test]
    fn example_errors() {
        let e = |b: &str, m| {
            examples(m, &parse_lenient(b.as_bytes()).unwrap())
                .unwrap_err()
                .message
        };
        assert!(e(r#"{}"#, ExampleMethod::Regress).contains("When method is regress"));
        assert!(e(r#"{"examples": []}"#, ExampleMethod::Classify).contains("empty"));
        assert!(e(r#"{"examples": {}}"#, ExampleMethod::Classify).contains("list/array"));
        assert!(e(r#"{"examples": [1]}"#, ExampleMethod::Classify).contains("must be JSON object"));
        assert!(
            e(r#"{"examples": [{"x": null}]}"#, ExampleMethod::Classify)
                .contains("unexpected JSON type")
        );
        assert!(
            e(r#"{"examples": [{"x": [[1]]}]}"#, ExampleMethod::Classify)
                .contains("unexpected JSON type")
        );
    }
}
