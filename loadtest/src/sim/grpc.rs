//! TF Serving's gRPC API for the simulated `half_plus_two`: `tensorflow.serving.PredictionService`
//! (Predict, Classify, Regress, MultiInference, GetModelMetadata) and
//! `tensorflow.serving.ModelService` (GetModelStatus), served with tonic's generated servers on
//! the executor's optional gRPC listener.
//!
//! The model, admission, faults and timing are the REST side's (`half_plus_two.rs`, `infer.rs`,
//! `status.rs`); this file only converts between protos and those computations and maps errors
//! to gRPC status codes as TF Serving does (NOT_FOUND for an unknown model or version,
//! INVALID_ARGUMENT for bad input or an unknown label, FAILED_PRECONDITION for an unknown
//! predict signature, UNIMPLEMENTED for an unknown MultiInference method, UNAVAILABLE for an
//! unavailable executor; an injected error's HTTP status maps to its code).
//!
//! A drop fault resets the HTTP/2 stream without an answer: the handler returns a status
//! carrying a private marker, which the connection's service turns into an error for hyper.

use std::collections::BTreeSet;
use std::sync::Arc;

use http::{Request, Response};
use hyper::body::Incoming;
use mulambda_wire::serving::model_service_server::{ModelService, ModelServiceServer};
use mulambda_wire::serving::model_spec::VersionChoice;
use mulambda_wire::serving::prediction_service_server::{
    PredictionService, PredictionServiceServer,
};
use mulambda_wire::serving::{
    Class, ClassificationRequest, ClassificationResponse, ClassificationResult, Classifications,
    GetModelMetadataRequest, GetModelMetadataResponse, GetModelStatusRequest,
    GetModelStatusResponse, InferenceResult, Input, ModelSpec, ModelVersionStatus,
    MultiInferenceRequest, MultiInferenceResponse, PredictRequest, PredictResponse, Regression,
    RegressionRequest, RegressionResponse, RegressionResult, SignatureDefMap, StatusProto,
    inference_result, input, model_version_status,
};
use mulambda_wire::tf::{self, DataType, TensorProto, TensorShapeProto, feature};
use mulambda_wire::{SIGNATURE_DEF_FIELD, SIGNATURE_DEF_MAP_TYPE_URL, method};
use prost::Message as _;
use tonic::Status;
use tower::ServiceExt as _;

use super::CONFIDENCE_HEADER;
use super::error::ApiError;
use super::half_plus_two::{
    self, DEFAULT_SIGNATURE, ExampleBatch, ExampleMethod, FeatureValues, INPUT, OUTPUT, SIGNATURES,
    TensorSpec, example_signature, run_examples,
};
use super::infer::{self, Computed, Outcome};
use super::route::VersionSelector;
use super::service::{DropConnection, MAX_BODY_BYTES};
use super::state::ExecutorState;
use super::status::{self, VersionState};

/// Metadata key of the private "drop this stream" marker (never sent: the stream is reset).
const DROP_MARKER: &str = "x-mulambda-sim-drop";

/// Largest element count of a predict input tensor (bounds memory on hostile shapes).
const MAX_ELEMENTS: u64 = (MAX_BODY_BYTES / 4) as u64;

/// The two tonic services of one executor, cheap to clone per connection.
#[derive(Clone)]
pub struct GrpcServices {
    state: Arc<ExecutorState>,
    prediction: PredictionServiceServer<GrpcSim>,
    model: ModelServiceServer<GrpcSim>,
}

// === impl GrpcServices ===

impl GrpcServices {
    /// The services for one executor.
    pub fn new(state: Arc<ExecutorState>) -> Self {
        let sim = GrpcSim {
            state: Arc::clone(&state),
        };
        Self {
            state,
            prediction: PredictionServiceServer::new(sim.clone())
                .max_decoding_message_size(MAX_BODY_BYTES),
            model: ModelServiceServer::new(sim).max_decoding_message_size(MAX_BODY_BYTES),
        }
    }

    /// Serves one HTTP/2 request.
    ///
    /// # Errors
    /// [`DropConnection`] when a drop fault (or a stall cut short by shutdown) hits: hyper then
    /// resets the stream.
    pub async fn handle(
        self,
        req: Request<Incoming>,
    ) -> Result<Response<tonic::body::Body>, DropConnection> {
        self.state.count_request();
        let path = req.uri().path().to_owned();
        let service_of = |name: &str| {
            path.strip_prefix('/')
                .and_then(|p| p.strip_prefix(name))
                .is_some_and(|p| p.starts_with('/'))
        };
        let deadline = req
            .headers()
            .get("grpc-timeout")
            .and_then(|v| parse_grpc_timeout(v.as_bytes()));
        let call = async {
            let response = if service_of(method::PREDICTION_SERVICE) {
                self.prediction.oneshot(req).await
            } else if service_of(method::MODEL_SERVICE) {
                self.model.oneshot(req).await
            } else {
                Ok(Status::unimplemented(format!("unknown service or method {path}")).into_http())
            };
            match response {
                Ok(r) => r,
                Err(never) => match never {},
            }
        };
        // The server side of a gRPC deadline: past `grpc-timeout`, DEADLINE_EXCEEDED.
        let response = match deadline {
            Some(d) => tokio::time::timeout(d, call)
                .await
                .unwrap_or_else(|_| Status::deadline_exceeded("Deadline Exceeded").into_http()),
            None => call.await,
        };
        if response.headers().contains_key(DROP_MARKER) {
            return Err(DropConnection);
        }
        Ok(response)
    }
}

/// Parses a `grpc-timeout` header value: up to 8 digits and a unit (`H`, `M`, `S`, `m`, `u`,
/// `n`). `None` for anything else (the header is then ignored).
fn parse_grpc_timeout(value: &[u8]) -> Option<std::time::Duration> {
    use std::time::Duration;
    let (&unit, digits) = value.split_last()?;
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(match unit {
        b'H' => Duration::from_secs(n * 3600),
        b'M' => Duration::from_secs(n * 60),
        b'S' => Duration::from_secs(n),
        b'm' => Duration::from_millis(n),
        b'u' => Duration::from_micros(n),
        b'n' => Duration::from_nanos(n),
        _ => return None,
    })
}

/// The service implementations.
#[derive(Clone)]
struct GrpcSim {
    state: Arc<ExecutorState>,
}

fn drop_status() -> Status {
    let mut status = Status::unavailable("simulated fault: stream dropped");
    status.metadata_mut().insert(
        DROP_MARKER,
        tonic::metadata::MetadataValue::from_static("1"),
    );
    status
}

/// The gRPC answer of an outcome; an answer's confidence goes into the response metadata
/// ([`CONFIDENCE_HEADER`]), since TF Serving's response messages have no field for it.
fn respond<T>(outcome: Outcome<T>) -> Result<tonic::Response<T>, Status> {
    match outcome {
        Outcome::Answer(a, confidence) => {
            let mut response = tonic::Response::new(a);
            if let Some(Ok(value)) = confidence.map(|c| infer::format_confidence(c).parse()) {
                response.metadata_mut().insert(CONFIDENCE_HEADER, value);
            }
            Ok(response)
        }
        Outcome::Error(e) => Err(e.into_status()),
        Outcome::Drop => Err(drop_status()),
    }
}

fn missing_spec() -> Status {
    Status::invalid_argument("Missing ModelSpec")
}

fn selector(spec: &ModelSpec) -> VersionSelector {
    match &spec.version_choice {
        None => VersionSelector::Latest,
        Some(VersionChoice::Version(v)) => VersionSelector::Number(*v),
        Some(VersionChoice::VersionLabel(l)) => VersionSelector::Label(l.clone()),
    }
}

/// The spec of a response, as TF Serving's `MakeModelSpec`: an empty signature name is
/// written as `serving_default`.
fn response_spec(name: &str, signature_name: Option<&str>, version: i64) -> ModelSpec {
    ModelSpec {
        name: name.to_owned(),
        signature_name: signature_name
            .map(|s| if s.is_empty() { DEFAULT_SIGNATURE } else { s })
            .unwrap_or_default()
            .to_owned(),
        version_choice: Some(VersionChoice::Version(version)),
    }
}

#[tonic::async_trait]
impl PredictionService for GrpcSim {
    async fn predict(
        &self,
        request: tonic::Request<PredictRequest>,
    ) -> Result<tonic::Response<PredictResponse>, Status> {
        let req = request.into_inner();
        let spec = req.model_spec.as_ref().ok_or_else(missing_spec)?;
        let version = selector(spec);
        let state = &self.state;
        let compute = async {
            let v = status::resolve(&state.config, &version)?;
            let (outputs, elements) = predict(&req)?;
            Ok(Computed {
                answer: PredictResponse {
                    model_spec: Some(response_spec(&spec.name, Some(&spec.signature_name), v)),
                    outputs,
                },
                elements,
            })
        };
        respond(infer::serve(state, &spec.name, &version, compute).await)
    }

    async fn classify(
        &self,
        request: tonic::Request<ClassificationRequest>,
    ) -> Result<tonic::Response<ClassificationResponse>, Status> {
        let req = request.into_inner();
        let spec = req.model_spec.as_ref().ok_or_else(missing_spec)?;
        let version = selector(spec);
        let state = &self.state;
        let compute = async {
            let v = status::resolve(&state.config, &version)?;
            let (result, elements) = classify(&spec.signature_name, req.input.as_ref())?;
            Ok(Computed {
                answer: ClassificationResponse {
                    model_spec: Some(response_spec(&spec.name, Some(&spec.signature_name), v)),
                    result: Some(result),
                },
                elements,
            })
        };
        respond(infer::serve(state, &spec.name, &version, compute).await)
    }

    async fn regress(
        &self,
        request: tonic::Request<RegressionRequest>,
    ) -> Result<tonic::Response<RegressionResponse>, Status> {
        let req = request.into_inner();
        let spec = req.model_spec.as_ref().ok_or_else(missing_spec)?;
        let version = selector(spec);
        let state = &self.state;
        let compute = async {
            let v = status::resolve(&state.config, &version)?;
            let (result, elements) = regress(&spec.signature_name, req.input.as_ref())?;
            Ok(Computed {
                answer: RegressionResponse {
                    model_spec: Some(response_spec(&spec.name, Some(&spec.signature_name), v)),
                    result: Some(result),
                },
                elements,
            })
        };
        respond(infer::serve(state, &spec.name, &version, compute).await)
    }

    async fn multi_inference(
        &self,
        request: tonic::Request<MultiInferenceRequest>,
    ) -> Result<tonic::Response<MultiInferenceResponse>, Status> {
        let req = request.into_inner();
        // TF Serving looks the servable up with the first task's spec, then checks the tasks.
        let first = req
            .tasks
            .first()
            .and_then(|t| t.model_spec.clone())
            .unwrap_or_default();
        let version = selector(&first);
        let state = &self.state;
        let compute = async {
            let v = status::resolve(&state.config, &version)?;
            multi_inference(&req, v)
        };
        respond(infer::serve(state, &first.name, &version, compute).await)
    }

    async fn get_model_metadata(
        &self,
        request: tonic::Request<GetModelMetadataRequest>,
    ) -> Result<tonic::Response<GetModelMetadataResponse>, Status> {
        let req = request.into_inner();
        let spec = req.model_spec.as_ref().ok_or_else(missing_spec)?;
        if req.metadata_field.is_empty() {
            return Err(Status::invalid_argument(
                "GetModelMetadataRequest must specify at least one metadata_field",
            ));
        }
        if let Some(f) = req
            .metadata_field
            .iter()
            .find(|f| *f != SIGNATURE_DEF_FIELD)
        {
            return Err(Status::invalid_argument(format!(
                "Metadata field {f} is not supported"
            )));
        }
        let v = status::metadata_version(&self.state.config, &spec.name, &selector(spec))
            .map_err(ApiError::into_status)?;
        let map = SignatureDefMap {
            signature_def: SIGNATURES
                .iter()
                .map(|s| (s.name.to_owned(), signature_def(s)))
                .collect(),
        };
        Ok(tonic::Response::new(GetModelMetadataResponse {
            model_spec: Some(response_spec(&self.state.config.model, None, v)),
            metadata: [(
                SIGNATURE_DEF_FIELD.to_owned(),
                prost_types::Any {
                    type_url: SIGNATURE_DEF_MAP_TYPE_URL.to_owned(),
                    value: map.encode_to_vec(),
                },
            )]
            .into(),
        }))
    }
}

#[tonic::async_trait]
impl ModelService for GrpcSim {
    async fn get_model_status(
        &self,
        request: tonic::Request<GetModelStatusRequest>,
    ) -> Result<tonic::Response<GetModelStatusResponse>, Status> {
        let req = request.into_inner();
        let spec = req.model_spec.as_ref().ok_or_else(missing_spec)?;
        let entries = status::status(
            &self.state.config,
            &spec.name,
            &selector(spec),
            self.state.is_available(),
        )
        .map_err(ApiError::into_status)?;
        Ok(tonic::Response::new(GetModelStatusResponse {
            model_version_status: entries
                .into_iter()
                .map(|s| ModelVersionStatus {
                    version: s.version,
                    state: match s.state {
                        VersionState::Available => model_version_status::State::Available,
                        VersionState::End => model_version_status::State::End,
                    } as i32,
                    status: Some(StatusProto {
                        error_code: if s.error.is_some() {
                            tf::error::Code::Unavailable as i32
                        } else {
                            tf::error::Code::Ok as i32
                        },
                        error_message: s.error.unwrap_or_default().to_owned(),
                    }),
                })
                .collect(),
        }))
    }
}

// === predict ===

fn sorted(keys: impl Iterator<Item = impl AsRef<str>>) -> String {
    let set: BTreeSet<String> = keys.map(|k| k.as_ref().to_owned()).collect();
    set.into_iter().collect::<Vec<_>>().join(",")
}

/// Runs the predict signature on a request's tensors, as TF Serving's `RunPredict`: the
/// signature must exist (FAILED_PRECONDITION otherwise), the inputs must be exactly `x`,
/// the output filter may only name `y`, `x` must be a DT_FLOAT tensor.
fn predict(
    req: &PredictRequest,
) -> Result<(std::collections::BTreeMap<String, TensorProto>, usize), ApiError> {
    let name = req
        .model_spec
        .as_ref()
        .map_or("", |s| s.signature_name.as_str());
    match half_plus_two::signature(name) {
        None => {
            let name = if name.is_empty() {
                DEFAULT_SIGNATURE
            } else {
                name
            };
            return Err(ApiError::failed_precondition(format!(
                "Serving signature key \"{name}\" not found."
            )));
        }
        Some(s) if s.name != DEFAULT_SIGNATURE => {
            return Err(ApiError::invalid_argument(format!(
                "simulator: predict through signature \"{}\" (input {} {}) is not simulated; use {DEFAULT_SIGNATURE}",
                s.name, s.inputs[0].alias, s.inputs[0].dtype
            )));
        }
        Some(_) => {}
    }
    if req.inputs.len() != 1 {
        let sent: BTreeSet<&str> = req.inputs.keys().map(String::as_str).collect();
        let extra: Vec<&str> = sent.iter().copied().filter(|k| *k != INPUT).collect();
        let missing = if sent.contains(INPUT) { "" } else { INPUT };
        return Err(ApiError::invalid_argument(format!(
            "input size does not match signature: {}!=1 len({{{}}}) != len({{{INPUT}}}). Sent extra: {{{}}}. Missing but required: {{{missing}}}.",
            req.inputs.len(),
            sorted(sent.iter()),
            extra.join(",")
        )));
    }
    let (alias, tensor) = req.inputs.iter().next().expect("one input");
    if alias != INPUT {
        return Err(ApiError::invalid_argument(format!(
            "input tensor alias not found in signature: {alias}. Inputs expected to be in the set {{{INPUT}}}."
        )));
    }
    if let Some(bad) = req.output_filter.iter().find(|o| *o != OUTPUT) {
        return Err(ApiError::invalid_argument(format!(
            "output tensor alias not found in signature: {bad} Outputs expected to be in the set {{{OUTPUT}}}."
        )));
    }
    let (dims, values) = float_tensor(tensor)?;
    let y: Vec<f32> = values.iter().map(|x| 0.5 * x + 2.0).collect();
    let elements = y.len();
    let output = TensorProto {
        dtype: DataType::DtFloat as i32,
        tensor_shape: Some(TensorShapeProto {
            dim: dims
                .into_iter()
                .map(|size| tf::tensor_shape_proto::Dim {
                    size,
                    name: String::new(),
                })
                .collect(),
            unknown_rank: false,
        }),
        float_val: y,
        ..TensorProto::default()
    };
    Ok(([(OUTPUT.to_owned(), output)].into(), elements))
}

/// Reads a DT_FLOAT tensor like TensorFlow's `Tensor::FromProto`: `tensor_content` must hold
/// exactly the elements; otherwise `float_val` may be shorter than the shape (the last value
/// repeats; none at all means zeros) but not longer.
fn float_tensor(t: &TensorProto) -> Result<(Vec<i64>, Vec<f32>), ApiError> {
    if t.dtype != DataType::DtFloat as i32 {
        let name = DataType::try_from(t.dtype).map_or_else(
            |_| format!("type {}", t.dtype),
            |d| {
                d.as_str_name()
                    .trim_start_matches("DT_")
                    .to_ascii_lowercase()
            },
        );
        return Err(ApiError::invalid_argument(format!(
            "Expects arg[0] to be float but {name} is provided"
        )));
    }
    let cannot =
        |why: &str| ApiError::invalid_argument(format!("Cannot parse tensor from proto: {why}"));
    let shape = t.tensor_shape.clone().unwrap_or_default();
    if shape.unknown_rank {
        return Err(cannot("unknown rank"));
    }
    let dims: Vec<i64> = shape.dim.iter().map(|d| d.size).collect();
    let mut n: u64 = 1;
    for d in &dims {
        let d = u64::try_from(*d).map_err(|_| cannot("negative dimension"))?;
        n = n
            .checked_mul(d)
            .filter(|n| *n <= MAX_ELEMENTS)
            .ok_or_else(|| cannot("too many elements"))?;
    }
    let n = n as usize;
    let values = if !t.tensor_content.is_empty() {
        if t.tensor_content.len() != n * 4 {
            return Err(cannot("tensor_content does not match the shape"));
        }
        t.tensor_content
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    } else if t.float_val.len() > n {
        return Err(cannot("more float_val elements than the shape holds"));
    } else {
        let fill = t.float_val.last().copied().unwrap_or(0.0);
        let mut v = t.float_val.clone();
        v.resize(n, fill);
        v
    };
    Ok((dims, values))
}

// === classify / regress / multi-inference ===

fn example_batch(input: Option<&Input>) -> ExampleBatch {
    let convert = |e: &tf::Example| -> half_plus_two::Example {
        e.features
            .as_ref()
            .map(|f| {
                f.feature
                    .iter()
                    .map(|(k, v)| {
                        let values = match &v.kind {
                            None => FeatureValues::Empty,
                            Some(feature::Kind::FloatList(l)) => {
                                FeatureValues::Float(l.value.clone())
                            }
                            Some(feature::Kind::Int64List(l)) => {
                                FeatureValues::Int64(l.value.clone())
                            }
                            Some(feature::Kind::BytesList(l)) => {
                                FeatureValues::Bytes(l.value.len())
                            }
                        };
                        (k.clone(), values)
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    match input.and_then(|i| i.kind.as_ref()) {
        None => ExampleBatch::default(),
        Some(input::Kind::ExampleList(l)) => ExampleBatch {
            examples: l.examples.iter().map(convert).collect(),
            context: None,
        },
        Some(input::Kind::ExampleListWithContext(l)) => ExampleBatch {
            examples: l.examples.iter().map(convert).collect(),
            context: l.context.as_ref().map(convert),
        },
    }
}

fn classification(values: Vec<f32>) -> ClassificationResult {
    ClassificationResult {
        classifications: values
            .into_iter()
            .map(|score| Classifications {
                classes: vec![Class {
                    label: String::new(),
                    score,
                }],
            })
            .collect(),
    }
}

fn regression(values: Vec<f32>) -> RegressionResult {
    RegressionResult {
        regressions: values
            .into_iter()
            .map(|value| Regression { value })
            .collect(),
    }
}

fn classify(
    signature: &str,
    input: Option<&Input>,
) -> Result<(ClassificationResult, usize), ApiError> {
    let sig = example_signature(ExampleMethod::Classify, signature)?;
    let batch = example_batch(input);
    Ok((classification(run_examples(sig, &batch)?), batch.elements()))
}

fn regress(signature: &str, input: Option<&Input>) -> Result<(RegressionResult, usize), ApiError> {
    let sig = example_signature(ExampleMethod::Regress, signature)?;
    let batch = example_batch(input);
    Ok((regression(run_examples(sig, &batch)?), batch.elements()))
}

/// TF Serving's `TensorFlowMultiInferenceRunner::Infer`: every task names the same model and a
/// distinct classify/regress signature of the matching method; the shared input runs once.
fn multi_inference(
    req: &MultiInferenceRequest,
    version: i64,
) -> Result<Computed<MultiInferenceResponse>, ApiError> {
    let mut model: Option<&str> = None;
    let mut seen = BTreeSet::new();
    let mut plan = Vec::with_capacity(req.tasks.len());
    for task in &req.tasks {
        let spec = task.model_spec.clone().unwrap_or_default();
        if spec.name.is_empty() {
            return Err(ApiError::invalid_argument(
                "Found ModelSpec with an empty model name.",
            ));
        }
        match model {
            None => model = Some(task.model_spec.as_ref().map_or("", |s| s.name.as_str())),
            Some(m) if m != spec.name => {
                return Err(ApiError::invalid_argument(
                    "All ModelSpecs in a MultiInferenceRequest must access the same model name.",
                ));
            }
            Some(_) => {}
        }
        let name = if spec.signature_name.is_empty() {
            DEFAULT_SIGNATURE.to_owned()
        } else {
            spec.signature_name.clone()
        };
        if !seen.insert(name.clone()) {
            return Err(ApiError::invalid_argument(format!(
                "Duplicate evaluation of signature: {name}"
            )));
        }
        if half_plus_two::signature(&name).is_none() {
            return Err(ApiError::invalid_argument(format!(
                "Requested signature not found in model graph: {name}"
            )));
        }
        let method = ExampleMethod::from_method_name(&task.method_name).ok_or_else(|| {
            ApiError::unimplemented(format!(
                "Unsupported signature method_name: {}",
                task.method_name
            ))
        })?;
        plan.push((spec, method, example_signature(method, &name)?));
    }
    let batch = example_batch(req.input.as_ref());
    let mut results = Vec::with_capacity(plan.len());
    for (spec, method, sig) in plan {
        let values = run_examples(sig, &batch)?;
        results.push(InferenceResult {
            model_spec: Some(response_spec(
                &spec.name,
                Some(&spec.signature_name),
                version,
            )),
            result: Some(match method {
                ExampleMethod::Classify => {
                    inference_result::Result::ClassificationResult(classification(values))
                }
                ExampleMethod::Regress => {
                    inference_result::Result::RegressionResult(regression(values))
                }
            }),
        });
    }
    Ok(Computed {
        answer: MultiInferenceResponse { results },
        elements: batch.elements(),
    })
}

// === metadata ===

fn tensor_info(t: &TensorSpec) -> tf::TensorInfo {
    tf::TensorInfo {
        dtype: DataType::from_str_name(t.dtype).unwrap_or(DataType::DtInvalid) as i32,
        tensor_shape: Some(match t.shape {
            Some(dims) => TensorShapeProto {
                dim: dims
                    .iter()
                    .map(|&size| tf::tensor_shape_proto::Dim {
                        size,
                        name: String::new(),
                    })
                    .collect(),
                unknown_rank: false,
            },
            None => TensorShapeProto {
                dim: Vec::new(),
                unknown_rank: true,
            },
        }),
        encoding: Some(tf::tensor_info::Encoding::Name(t.name.to_owned())),
    }
}

fn signature_def(s: &half_plus_two::Signature) -> tf::SignatureDef {
    let map = |ts: &[TensorSpec]| {
        ts.iter()
            .map(|t| (t.alias.to_owned(), tensor_info(t)))
            .collect()
    };
    tf::SignatureDef {
        inputs: map(s.inputs),
        outputs: map(s.outputs),
        method_name: s.method.to_owned(),
        defaults: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn grpc_timeouts_parse_every_unit_and_refuse_garbage() {
        assert_eq!(
            parse_grpc_timeout(b"200m"),
            Some(Duration::from_millis(200))
        );
        assert_eq!(parse_grpc_timeout(b"1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_grpc_timeout(b"5n"), Some(Duration::from_nanos(5)));
        assert_eq!(parse_grpc_timeout(b"123456789S"), None);
        assert_eq!(parse_grpc_timeout(b"m"), None);
        assert_eq!(parse_grpc_timeout(b"1x"), None);
        assert_eq!(parse_grpc_timeout(b""), None);
    }

    fn tensor(dims: &[i64], float_val: Vec<f32>) -> TensorProto {
        TensorProto {
            dtype: DataType::DtFloat as i32,
            tensor_shape: Some(TensorShapeProto {
                dim: dims
                    .iter()
                    .map(|&size| tf::tensor_shape_proto::Dim {
                        size,
                        name: String::new(),
                    })
                    .collect(),
                unknown_rank: false,
            }),
            float_val,
            ..TensorProto::default()
        }
    }

    #[test]
    fn float_tensors_read_like_tensorflow() {
        assert_eq!(
            float_tensor(&tensor(&[3], vec![1.0])).unwrap().1,
            [1.0, 1.0, 1.0]
        );
        assert_eq!(float_tensor(&tensor(&[2], vec![])).unwrap().1, [0.0, 0.0]);
        assert_eq!(float_tensor(&tensor(&[], vec![4.0])).unwrap().1, [4.0]);
        assert!(float_tensor(&tensor(&[1], vec![1.0, 2.0])).is_err());
        assert!(float_tensor(&tensor(&[-1], vec![1.0])).is_err());
        assert!(float_tensor(&tensor(&[1 << 40, 1 << 40], vec![1.0])).is_err());
        let mut content = tensor(&[2], vec![]);
        content.tensor_content = [1.5f32, 2.0].iter().flat_map(|x| x.to_le_bytes()).collect();
        assert_eq!(float_tensor(&content).unwrap().1, [1.5, 2.0]);
        content.tensor_content.pop();
        assert!(float_tensor(&content).is_err());
        let mut double = tensor(&[1], vec![]);
        double.dtype = DataType::DtDouble as i32;
        let e = float_tensor(&double).unwrap_err();
        assert!(e.message.contains("float but double is provided"), "{e}");
    }
}
