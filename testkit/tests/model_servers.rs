//! Real Open Inference Protocol servers, driven by real clients: MLServer and KServe's model
//! server (PyPI packages, started by testkit's harness) serving a scikit-learn model trained at
//! test time, answered through Triton's official client (tritonclient, HTTP and gRPC), through
//! mulambda's own generated V2 gRPC client (mulambda-wire), with requests rewritten by
//! mulambda-wire's zero-copy rewrite sent as raw bytes, and over plain HTTP.
//!
//! Every answer is compared with what the model itself answered at training time. The shapes
//! of MLServer's readiness and metadata answers (what a companion reads) are asserted here and
//! recorded in docs/protocols.md.
//!
//! Needs the V2 Python environment (`bash scripts/interop-env.sh v2`, built on first use);
//! without it each test prints SKIPPED and returns, unless MULAMBDA_REQUIRE_V2=1.

use std::net::SocketAddr;
use std::time::Instant;

use bytes::{Buf, BufMut, Bytes};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use mulambda_testkit::{IrisModel, KServeServer, MlServer, V2Python};
use mulambda_wire::RewrittenBytes;
use mulambda_wire::inference::grpc_inference_service_client::GrpcInferenceServiceClient;
use mulambda_wire::inference::model_infer_request::{InferInputTensor, InferRequestedOutputTensor};
use mulambda_wire::inference::{
    InferTensorContents, ModelInferRequest, ModelInferResponse, ModelMetadataRequest,
    ModelReadyRequest, ServerLiveRequest, ServerMetadataRequest, ServerReadyRequest,
};
use mulambda_wire::v2::grpc::{self as v2grpc, MessageKind, Method as V2Method, NameEdit};
use mulambda_wire::v2::rest::Route;
use prost::Message;
use serde_json::{Value, json};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::{Channel, Endpoint};

// === fixtures ===

/// What the model answered at training time.
struct Expected {
    inputs: Vec<[f32; 4]>,
    predictions: Vec<i64>,
    probabilities: Vec<Vec<f64>>,
}

impl Expected {
    fn of(model: &IrisModel) -> Expected {
        let v = model.expected().unwrap();
        let inputs = v["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| {
                let r: Vec<f32> = row
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_f64().unwrap() as f32)
                    .collect();
                [r[0], r[1], r[2], r[3]]
            })
            .collect();
        let predictions = v["predictions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_i64().unwrap())
            .collect();
        Expected {
            inputs,
            predictions,
            probabilities: probabilities(&v["probabilities"]),
        }
    }

    fn flat_inputs(&self) -> Vec<f32> {
        self.inputs.iter().flatten().copied().collect()
    }

    /// Probabilities equal the model's own up to rounding noise: the servers compute them from
    /// the same float32 rows with the same library, but nothing promises bit-identical sums.
    fn assert_probabilities(&self, got: &[Vec<f64>], context: &str) {
        assert_eq!(got.len(), self.probabilities.len(), "{context}: rows");
        for (g, e) in got.iter().zip(&self.probabilities) {
            assert_eq!(g.len(), e.len(), "{context}: classes");
            for (a, b) in g.iter().zip(e) {
                assert!((a - b).abs() <= 1e-9, "{context}: {g:?} vs {e:?}");
            }
        }
    }
}

fn probabilities(v: &Value) -> Vec<Vec<f64>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        })
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// One plain HTTP/1.1 request; the answer's status, headers and body.
async fn http(
    method: Method,
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (StatusCode, HeaderMap, Bytes) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = client
        .request(req.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    let (parts, body) = resp.into_parts();
    (
        parts.status,
        parts.headers,
        body.collect().await.unwrap().to_bytes(),
    )
}

fn json_body(body: &Bytes) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(body)))
}

async fn channel(addr: SocketAddr) -> Channel {
    Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// Runs testkit/python/v2_client.py (tritonclient) and parses its answer.
fn tritonclient(
    py: &V2Python,
    protocol: &str,
    addr: SocketAddr,
    model: &str,
    expected_file: &std::path::Path,
    extra: &[&str],
) -> Value {
    let addr = addr.to_string();
    let mut args = vec![
        protocol,
        addr.as_str(),
        model,
        expected_file.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = py
        .run_script("v2_client.py", &args)
        .unwrap_or_else(|e| panic!("tritonclient {protocol} {extra:?}: {e}"));
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("tritonclient output ({e}): {out}"))
}

/// A V2 inference request for the expected rows as one FP32 tensor, in `contents` or raw.
fn infer_request(model: &str, expected: &Expected, raw: bool) -> ModelInferRequest {
    let rows = expected.inputs.len() as i64;
    let data = expected.flat_inputs();
    let (contents, raw_input_contents) = if raw {
        let bytes = data.iter().flat_map(|x| x.to_le_bytes()).collect();
        (None, vec![bytes])
    } else {
        (
            Some(InferTensorContents {
                fp32_contents: data,
                ..InferTensorContents::default()
            }),
            vec![],
        )
    };
    ModelInferRequest {
        model_name: model.into(),
        id: "mulambda-test".into(),
        inputs: vec![InferInputTensor {
            name: "input-0".into(),
            datatype: "FP32".into(),
            shape: vec![rows, 4],
            contents,
            ..InferInputTensor::default()
        }],
        outputs: vec![
            InferRequestedOutputTensor {
                name: "predict".into(),
                ..Default::default()
            },
            InferRequestedOutputTensor {
                name: "predict_proba".into(),
                ..Default::default()
            },
        ],
        raw_input_contents,
        ..ModelInferRequest::default()
    }
}

/// Reads "predict" (INT64) and "predict_proba" (FP64, rows × 3) from a V2 gRPC response, raw
/// or in contents.
fn read_outputs(resp: &ModelInferResponse) -> (Vec<i64>, Vec<Vec<f64>>) {
    let mut predictions = Vec::new();
    let mut probabilities = Vec::new();
    for (i, out) in resp.outputs.iter().enumerate() {
        let raw = resp.raw_output_contents.get(i);
        match out.name.as_str() {
            "predict" => {
                predictions = match raw {
                    Some(r) => r
                        .chunks_exact(8)
                        .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
                        .collect(),
                    None => out.contents.clone().unwrap_or_default().int64_contents,
                }
            }
            "predict_proba" => {
                let flat: Vec<f64> = match raw {
                    Some(r) => r
                        .chunks_exact(8)
                        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
                        .collect(),
                    None => out.contents.clone().unwrap_or_default().fp64_contents,
                };
                let classes = *out.shape.last().unwrap_or(&1) as usize;
                probabilities = flat.chunks(classes.max(1)).map(<[f64]>::to_vec).collect();
            }
            _ => {}
        }
    }
    (predictions, probabilities)
}

/// Sends and receives gRPC messages as bytes, so a request rewritten by mulambda-wire goes on
/// the wire exactly as the rewrite produced it.
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;
#[derive(Debug, Clone, Copy, Default)]
struct RawEncoder;
#[derive(Debug, Clone, Copy, Default)]
struct RawDecoder;

impl Codec for RawCodec {
    type Encode = RewrittenBytes;
    type Decode = Bytes;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }

    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

impl Encoder for RawEncoder {
    type Item = RewrittenBytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: Self::Item, dst: &mut EncodeBuf<'_>) -> Result<(), Self::Error> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = Bytes;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Self::Error> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

// === MLServer ===

#[test]
fn mlserver_answers_tritonclient_over_http_and_grpc_with_the_models_predictions() {
    let Some(py) = V2Python::or_skip("mlserver tritonclient") else {
        return;
    };
    let model = IrisModel::train(&py).unwrap();
    let expected = Expected::of(&model);
    let server = MlServer::start(&py, &model, "iris").unwrap();
    eprintln!("MLServer ready in {:?}", server.startup_time());

    for (protocol, addr) in [("http", server.http_addr()), ("grpc", server.grpc_addr())] {
        let got = tritonclient(&py, protocol, addr, "iris", &model.expected_file(), &[]);
        let context = format!("MLServer {protocol}: {got}");
        assert_eq!(got["live"], true, "{context}");
        assert_eq!(got["ready"], true, "{context}");
        assert_eq!(got["model_ready"], true, "{context}");
        assert_eq!(got["model_name"], "iris", "{context}");
        assert_eq!(got["model_version"], MlServer::MODEL_VERSION, "{context}");
        assert_eq!(got["server_metadata"]["name"], "mlserver", "{context}");
        let predictions: Vec<i64> = serde_json::from_value(got["predictions"].clone()).unwrap();
        assert_eq!(predictions, expected.predictions, "{context}");
        expected.assert_probabilities(&probabilities(&got["probabilities"]), &context);
    }
    // The version in the request is honoured on both protocols.
    let versioned = tritonclient(
        &py,
        "grpc",
        server.grpc_addr(),
        "iris",
        &model.expected_file(),
        &["--version", MlServer::MODEL_VERSION],
    );
    assert_eq!(versioned["model_version"], MlServer::MODEL_VERSION);
    // MLServer does not implement the binary-tensor extension: a proxy must not send it one.
    let addr = server.http_addr().to_string();
    let expected_file = model.expected_file();
    let args = [
        "http",
        &addr,
        "iris",
        expected_file.to_str().unwrap(),
        "--binary",
    ];
    let refused = py.run_script("v2_client.py", &args).unwrap_err();
    assert!(refused.contains("[500]"), "{refused}");
}

#[test]
fn mlserver_answers_mulambdas_v2_grpc_client_and_raw_rewritten_requests() {
    let Some(py) = V2Python::or_skip("mlserver v2 grpc") else {
        return;
    };
    let model = IrisModel::train(&py).unwrap();
    let expected = Expected::of(&model);
    let server = MlServer::start(&py, &model, "iris").unwrap();

    runtime().block_on(async {
        let channel = channel(server.grpc_addr()).await;
        let mut client = GrpcInferenceServiceClient::new(channel.clone());
        assert!(
            client
                .server_live(ServerLiveRequest {})
                .await
                .unwrap()
                .into_inner()
                .live
        );
        assert!(
            client
                .server_ready(ServerReadyRequest {})
                .await
                .unwrap()
                .into_inner()
                .ready
        );
        let ready = |name: &str, version: &str| ModelReadyRequest {
            name: name.into(),
            version: version.into(),
        };
        assert!(
            client
                .model_ready(ready("iris", ""))
                .await
                .unwrap()
                .into_inner()
                .ready
        );
        assert!(
            client
                .model_ready(ready("iris", "1"))
                .await
                .unwrap()
                .into_inner()
                .ready
        );
        // An unknown model is an error status, not `ready: false`; MLServer 1.7.1 gives it no
        // gRPC code of its own (UNKNOWN, "Unexpected <class 'mlserver.errors.ModelNotFound'>:
        // …") where its REST side answers 404.
        let missing = client.model_ready(ready("nope", "")).await.unwrap_err();
        assert_eq!(missing.code(), tonic::Code::Unknown, "{missing:?}");
        assert!(missing.message().contains("ModelNotFound"), "{missing:?}");
        let meta = client
            .server_metadata(ServerMetadataRequest {})
            .await
            .unwrap()
            .into_inner();
        assert_eq!(meta.name, "mlserver");
        let meta = client
            .model_metadata(ModelMetadataRequest {
                name: "iris".into(),
                version: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(meta.name, "iris");
        assert_eq!(meta.versions, [MlServer::MODEL_VERSION]);
        assert_eq!(meta.inputs.len(), 1);
        assert_eq!(meta.inputs[0].name, "input-0");
        assert_eq!(meta.inputs[0].datatype, "FP32");
        assert_eq!(meta.inputs[0].shape, [-1, 4]);
        let outputs: Vec<(&str, &str)> = meta
            .outputs
            .iter()
            .map(|o| (o.name.as_str(), o.datatype.as_str()))
            .collect();
        assert_eq!(outputs, [("predict", "INT64"), ("predict_proba", "FP64")]);

        for raw in [false, true] {
            let resp = client
                .model_infer(infer_request("iris", &expected, raw))
                .await
                .unwrap_or_else(|e| panic!("ModelInfer raw={raw}: {e:?}"))
                .into_inner();
            assert_eq!(resp.model_name, "iris");
            assert_eq!(resp.id, "mulambda-test");
            let (predictions, probabilities) = read_outputs(&resp);
            assert_eq!(predictions, expected.predictions, "raw={raw}");
            expected.assert_probabilities(&probabilities, &format!("grpc raw={raw}"));
        }

        // What the proxy will do: a request for an alias, its name and version rewritten
        // without decoding the tensors, sent as the rewrite's bytes.
        let original = Bytes::from(infer_request("alias", &expected, true).encode_to_vec());
        let edit = NameEdit {
            name: Some("iris"),
            version: Some(MlServer::MODEL_VERSION),
        };
        let rewritten =
            v2grpc::rewrite_bytes(MessageKind::ModelInferRequest, &original, &edit).unwrap();
        let mut grpc = tonic::client::Grpc::new(channel);
        grpc.ready().await.unwrap();
        let path = http::uri::PathAndQuery::from_static(V2Method::ModelInfer.path());
        let answer = grpc
            .unary(tonic::Request::new(rewritten), path, RawCodec)
            .await
            .unwrap_or_else(|e| panic!("raw ModelInfer: {e:?}"))
            .into_inner();
        let named = v2grpc::read(MessageKind::ModelInferResponse, &answer).unwrap();
        assert_eq!(named.name, "iris");
        assert_eq!(named.version, MlServer::MODEL_VERSION);
        let (predictions, probabilities) =
            read_outputs(&ModelInferResponse::decode(answer.clone()).unwrap());
        assert_eq!(predictions, expected.predictions);
        expected.assert_probabilities(&probabilities, "raw rewritten request");
        // And the answer renamed back to the alias the client asked for.
        let back = v2grpc::rewrite_to_vec(
            MessageKind::ModelInferResponse,
            &answer,
            &NameEdit {
                name: Some("alias"),
                version: Some(""),
            },
        )
        .unwrap();
        let back = ModelInferResponse::decode(&back[..]).unwrap();
        assert_eq!(
            (back.model_name.as_str(), back.model_version.as_str()),
            ("alias", "")
        );
        assert_eq!(read_outputs(&back).0, expected.predictions);
    });
}

#[test]
fn mlserver_rest_readiness_and_metadata_shapes() {
    let Some(py) = V2Python::or_skip("mlserver rest shapes") else {
        return;
    };
    let model = IrisModel::train(&py).unwrap();
    let expected = Expected::of(&model);
    let server = MlServer::start(&py, &model, "iris").unwrap();
    let addr = server.http_addr();

    runtime().block_on(async {
        // Health and readiness: 200 with an empty body (MLServer answers no JSON here).
        for path in [
            "/v2/health/live",
            "/v2/health/ready",
            "/v2/models/iris/ready",
            "/v2/models/iris/versions/1/ready",
        ] {
            let (status, _, body) = http(Method::GET, addr, path, &[], vec![]).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert!(body.is_empty(), "{path}: {body:?}");
        }
        // Unknown model or version: 404 with V2's error shape.
        for (path, message) in [
            ("/v2/models/nope/ready", "Model nope not found"),
            (
                "/v2/models/iris/versions/9/ready",
                "Model iris with version 9 not found",
            ),
        ] {
            let (status, _, body) = http(Method::GET, addr, path, &[], vec![]).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
            assert_eq!(json_body(&body), json!({ "error": message }), "{path}");
        }
        let (status, _, body) = http(Method::GET, addr, "/v2", &[], vec![]).await;
        assert_eq!(status, StatusCode::OK);
        let server_meta = json_body(&body);
        assert_eq!(server_meta["name"], "mlserver");
        assert!(server_meta["version"].is_string() && server_meta["extensions"].is_array());
        // Model metadata: the declared signature, versions, and MLServer's extra parameters.
        let metadata = json!({
            "name": "iris",
            "versions": ["1"],
            "platform": "",
            "inputs": [{"name": "input-0", "datatype": "FP32", "shape": [-1, 4]}],
            "outputs": [
                {"name": "predict", "datatype": "INT64", "shape": [-1, 1]},
                {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 3]},
            ],
        });
        for path in ["/v2/models/iris", "/v2/models/iris/versions/1"] {
            let (status, _, body) = http(Method::GET, addr, path, &[], vec![]).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            let mut got = json_body(&body);
            for key in ["inputs", "outputs"] {
                for tensor in got[key].as_array_mut().into_iter().flatten() {
                    // Per-tensor parameters ({"content_type": ...} or empty) are MLServer's.
                    tensor.as_object_mut().unwrap().remove("parameters");
                }
            }
            assert!(got["parameters"].is_object(), "{path}: {got}");
            got.as_object_mut().unwrap().remove("parameters");
            assert_eq!(got, metadata, "{path}");
        }

        // An infer path for an alias, rewritten by mulambda-wire for the executor's model.
        let sent = "/v2/models/my%20alias/versions/7/infer";
        let route = Route::parse(sent).unwrap();
        let target = route.model().unwrap().rewrite_path_and_query(
            "iris",
            Some(MlServer::MODEL_VERSION),
            None,
        );
        assert_eq!(target, "/v2/models/iris/versions/1/infer");
        let body = json!({
            "id": "rest-1",
            "inputs": [{
                "name": "input-0", "datatype": "FP32",
                "shape": [expected.inputs.len(), 4], "data": expected.flat_inputs(),
            }],
            "outputs": [{"name": "predict"}],
        });
        let (status, _, answer) = http(
            Method::POST,
            addr,
            &target,
            &[("content-type", "application/json")],
            serde_json::to_vec(&body).unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{answer:?}");
        let answer = json_body(&answer);
        assert_eq!(answer["model_name"], "iris");
        assert_eq!(answer["model_version"], "1");
        assert_eq!(answer["id"], "rest-1");
        let data: Vec<i64> = serde_json::from_value(answer["outputs"][0]["data"].clone()).unwrap();
        assert_eq!(data, expected.predictions);
    });
}

// === KServe's model server ===

#[test]
fn kserve_answers_v1_predict_and_status_over_plain_http() {
    let Some(py) = V2Python::or_skip("kserve v1") else {
        return;
    };
    let model = IrisModel::train(&py).unwrap();
    let expected = Expected::of(&model);
    let server = KServeServer::start(&py, &model, "iris").unwrap();
    eprintln!("KServe ready in {:?}", server.startup_time());
    let addr = server.http_addr();

    runtime().block_on(async {
        let (status, _, body) = http(Method::GET, addr, "/v1/models/iris", &[], vec![]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(json_body(&body), json!({"name": "iris", "ready": true}));

        // The same body shape as TF Serving's row-format predict.
        let request = json!({ "instances": expected.inputs });
        let (status, _, body) = http(
            Method::POST,
            addr,
            "/v1/models/iris:predict",
            &[("content-type", "application/json")],
            serde_json::to_vec(&request).unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body:?}");
        assert_eq!(
            json_body(&body),
            json!({ "predictions": expected.predictions })
        );

        let (status, _, body) = http(
            Method::POST,
            addr,
            "/v1/models/nope:predict",
            &[("content-type", "application/json")],
            serde_json::to_vec(&request).unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(
            json_body(&body),
            json!({"error": "Model with name nope does not exist."})
        );
        let (status, _, body) = http(Method::GET, addr, "/v1/models/nope", &[], vec![]).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body:?}");
    });
}

#[test]
fn kserve_v2_answers_tritonclient_json_binary_and_grpc() {
    let Some(py) = V2Python::or_skip("kserve v2") else {
        return;
    };
    let model = IrisModel::train(&py).unwrap();
    let expected = Expected::of(&model);
    let server = KServeServer::start(&py, &model, "iris").unwrap();

    let runs = [
        ("http", server.http_addr(), &[][..]),
        ("http", server.http_addr(), &["--binary"][..]),
        ("grpc", server.grpc_addr(), &[][..]),
    ];
    for (protocol, addr, extra) in runs {
        let got = tritonclient(&py, protocol, addr, "iris", &model.expected_file(), extra);
        let context = format!("KServe {protocol} {extra:?}: {got}");
        assert_eq!(got["model_ready"], true, "{context}");
        assert_eq!(got["model_name"], "iris", "{context}");
        assert_eq!(got["server_metadata"]["name"], "kserve", "{context}");
        let predictions: Vec<i64> = serde_json::from_value(got["predictions"].clone()).unwrap();
        assert_eq!(predictions, expected.predictions, "{context}");
        expected.assert_probabilities(&probabilities(&got["probabilities"]), &context);
    }

    runtime().block_on(async {
        // KServe's model readiness answers JSON (MLServer's answers an empty body).
        let addr = server.http_addr();
        let (status, _, body) = http(Method::GET, addr, "/v2/models/iris/ready", &[], vec![]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(json_body(&body), json!({"name": "iris", "ready": true}));
        let (status, _, body) = http(Method::GET, addr, "/v2/models/iris", &[], vec![]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            json_body(&body),
            json!({"name": "iris", "versions": null, "platform": "", "inputs": [], "outputs": []})
        );
        for (path, answer) in [
            ("/v2/health/live", json!({"live": true})),
            ("/v2/health/ready", json!({"ready": true})),
        ] {
            let (status, _, body) = http(Method::GET, addr, path, &[], vec![]).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert_eq!(json_body(&body), answer, "{path}");
        }
        // A version in the path is refused on every model route: a proxy must not send one.
        let versioning = json!({"error": "Model versioning not supported yet."});
        for (method, path) in [
            (Method::GET, "/v2/models/iris/versions/1"),
            (Method::GET, "/v2/models/iris/versions/1/ready"),
            (Method::POST, "/v2/models/iris/versions/1/infer"),
        ] {
            let body = serde_json::to_vec(&json!({
                "inputs": [{"name": "input-0", "datatype": "FP32", "shape": [1, 4],
                            "data": expected.inputs[0]}]
            }))
            .unwrap();
            let headers = [("content-type", "application/json")];
            let (status, _, answer) = http(method, addr, path, &headers, body).await;
            assert_eq!(status, StatusCode::NOT_IMPLEMENTED, "{path}");
            assert_eq!(json_body(&answer), versioning, "{path}");
        }
    });
}

/// Both servers side by side, started from scratch: a measurement printed for the docs, not
/// a timing assertion.
#[test]
fn both_servers_start_and_stop_cleanly() {
    let Some(py) = V2Python::or_skip("start and stop") else {
        return;
    };
    let started = Instant::now();
    let model = IrisModel::train(&py).unwrap();
    let trained = started.elapsed();
    let mlserver = MlServer::start(&py, &model, "iris").unwrap();
    let kserve = KServeServer::start(&py, &model, "iris").unwrap();
    eprintln!(
        "trained in {trained:?}; MLServer ready in {:?}; KServe ready in {:?}",
        mlserver.startup_time(),
        kserve.startup_time()
    );
    let (m, k) = (mlserver.http_addr(), kserve.http_addr());
    drop(mlserver);
    drop(kserve);
    // Dropped means gone: nothing answers on their ports any more.
    assert_eq!(
        mulambda_testkit::model_server::http_get_status(m, "/v2/health/live"),
        None
    );
    assert_eq!(
        mulambda_testkit::model_server::http_get_status(k, "/v2/health/live"),
        None
    );
}
