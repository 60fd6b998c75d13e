//! The simulator's TF Serving gRPC API through a real tonic client over HTTP/2 on loopback:
//! every method, the status codes TF Serving gives, faults and deadlines. (The same paths with
//! TF Serving's official Python client: scripts/test-interop.sh.)

use std::net::SocketAddr;
use std::time::Duration;

use mulambda_loadtest::sim::{Fault, ServiceTime, SimConfig, SimServer};
use mulambda_wire::serving::model_service_client::ModelServiceClient;
use mulambda_wire::serving::model_spec::VersionChoice;
use mulambda_wire::serving::prediction_service_client::PredictionServiceClient;
use mulambda_wire::serving::{
    ClassificationRequest, ExampleList, ExampleListWithContext, GetModelMetadataRequest,
    GetModelStatusRequest, InferenceTask, Input, ModelSpec, MultiInferenceRequest, PredictRequest,
    RegressionRequest, SignatureDefMap, inference_result, input, model_version_status,
};
use mulambda_wire::tf::{self, DataType, Example, Feature, Features, TensorProto};
use prost::Message as _;
use tonic::Code;
use tonic::transport::Channel;

const MODEL: &str = "half_plus_two";

async fn sim() -> SimServer {
    let mut config =
        SimConfig::parse_spec("name=g,versions=1+2,labels=stable:1+canary:2,grpc-port=0").unwrap();
    config.timing = ServiceTime {
        base_ms: 0.0,
        ..ServiceTime::default()
    };
    SimServer::start(config).await.unwrap()
}

async fn channel(addr: SocketAddr) -> Channel {
    tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .timeout(Duration::from_secs(10))
        .connect()
        .await
        .unwrap()
}

async fn clients(
    s: &SimServer,
) -> (
    PredictionServiceClient<Channel>,
    ModelServiceClient<Channel>,
) {
    let ch = channel(s.grpc_addr().expect("gRPC listener")).await;
    (
        PredictionServiceClient::new(ch.clone()),
        ModelServiceClient::new(ch),
    )
}

fn spec(name: &str, version: Option<VersionChoice>, signature: &str) -> Option<ModelSpec> {
    Some(ModelSpec {
        name: name.into(),
        version_choice: version,
        signature_name: signature.into(),
    })
}

fn x_tensor(dims: &[i64], values: &[f32]) -> TensorProto {
    TensorProto {
        dtype: DataType::DtFloat as i32,
        tensor_shape: Some(tf::TensorShapeProto {
            dim: dims
                .iter()
                .map(|&size| tf::tensor_shape_proto::Dim {
                    size,
                    name: String::new(),
                })
                .collect(),
            unknown_rank: false,
        }),
        float_val: values.to_vec(),
        ..TensorProto::default()
    }
}

fn predict_request(model: &str, x: TensorProto) -> PredictRequest {
    PredictRequest {
        model_spec: spec(model, None, "serving_default"),
        inputs: [("x".to_owned(), x)].into(),
        output_filter: vec!["y".into()],
    }
}

fn example(x: f32) -> Example {
    Example {
        features: Some(Features {
            feature: [(
                "x".to_owned(),
                Feature {
                    kind: Some(tf::feature::Kind::FloatList(tf::FloatList {
                        value: vec![x],
                    })),
                },
            )]
            .into(),
        }),
    }
}

fn examples(xs: &[f32]) -> Option<Input> {
    Some(Input {
        kind: Some(input::Kind::ExampleList(ExampleList {
            examples: xs.iter().map(|x| example(*x)).collect(),
        })),
    })
}

#[tokio::test]
async fn predict_with_tensor_protos() {
    let s = sim().await;
    let (mut p, _) = clients(&s).await;
    // TF Serving's VerifyPredictRequest: x = [2.0], shape [1] → y = [3.0].
    let r = p
        .predict(predict_request(MODEL, x_tensor(&[1], &[2.0])))
        .await
        .unwrap()
        .into_inner();
    let y = &r.outputs["y"];
    assert_eq!(y.dtype, DataType::DtFloat as i32);
    assert_eq!(y.float_val, [3.0]);
    let answered = r.model_spec.unwrap();
    assert_eq!(answered.name, MODEL);
    assert_eq!(answered.signature_name, "serving_default");
    assert_eq!(answered.version_choice, Some(VersionChoice::Version(2)));
    // A batch in tensor_content, shape kept, a pinned version.
    let mut x = x_tensor(&[2, 2], &[]);
    x.tensor_content = [1.0f32, 2.0, 3.0, 4.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let mut req = predict_request(MODEL, x);
    req.model_spec = spec(MODEL, Some(VersionChoice::Version(1)), "");
    let r = p.predict(req).await.unwrap().into_inner();
    assert_eq!(r.outputs["y"].float_val, [2.5, 3.0, 3.5, 4.0]);
    let dims: Vec<i64> = r.outputs["y"]
        .tensor_shape
        .as_ref()
        .unwrap()
        .dim
        .iter()
        .map(|d| d.size)
        .collect();
    assert_eq!(dims, [2, 2]);
    assert_eq!(
        r.model_spec.unwrap().version_choice,
        Some(VersionChoice::Version(1))
    );
    // By label.
    let mut req = predict_request(MODEL, x_tensor(&[1], &[0.0]));
    req.model_spec = spec(
        MODEL,
        Some(VersionChoice::VersionLabel("stable".into())),
        "",
    );
    let r = p.predict(req).await.unwrap().into_inner();
    assert_eq!(
        r.model_spec.unwrap().version_choice,
        Some(VersionChoice::Version(1))
    );
    assert_eq!(s.stats().inference_ok, 3);
    s.shutdown().await;
}

#[tokio::test]
async fn classify_regress_and_multi_inference() {
    let s = sim().await;
    let (mut p, _) = clients(&s).await;
    // TF Serving's tests: x = 2 → one class, no label, score 3; regression 3.
    let r = p
        .classify(ClassificationRequest {
            model_spec: spec(MODEL, None, "classify_x_to_y"),
            input: examples(&[2.0, 20.0]),
        })
        .await
        .unwrap()
        .into_inner();
    let c = r.result.unwrap().classifications;
    assert_eq!(c.len(), 2);
    assert_eq!(c[0].classes.len(), 1);
    assert_eq!(
        (c[0].classes[0].label.as_str(), c[0].classes[0].score),
        ("", 3.0)
    );
    assert_eq!(c[1].classes[0].score, 12.0);
    assert_eq!(r.model_spec.unwrap().signature_name, "classify_x_to_y");
    let r = p
        .regress(RegressionRequest {
            model_spec: spec(MODEL, None, "regress_x_to_y2"),
            input: Some(Input {
                kind: Some(input::Kind::ExampleListWithContext(
                    ExampleListWithContext {
                        examples: vec![Example::default()],
                        context: Some(example(2.0)),
                    },
                )),
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.result.unwrap().regressions[0].value, 4.0);
    let task = |sig: &str, method: &str| InferenceTask {
        model_spec: spec(MODEL, None, sig),
        method_name: method.into(),
    };
    let r = p
        .multi_inference(MultiInferenceRequest {
            tasks: vec![
                task("regress_x_to_y", "tensorflow/serving/regress"),
                task("classify_x_to_y", "tensorflow/serving/classify"),
            ],
            input: examples(&[2.0]),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.results.len(), 2);
    match r.results[0].result.as_ref().unwrap() {
        inference_result::Result::RegressionResult(rr) => assert_eq!(rr.regressions[0].value, 3.0),
        other => panic!("expected a regression, got {other:?}"),
    }
    match r.results[1].result.as_ref().unwrap() {
        inference_result::Result::ClassificationResult(c) => {
            assert_eq!(c.classifications[0].classes[0].score, 3.0);
        }
        other => panic!("expected a classification, got {other:?}"),
    }
    assert_eq!(
        r.results[1].model_spec.as_ref().unwrap().signature_name,
        "classify_x_to_y"
    );
    // Tasks must name one model and distinct signatures; unknown methods are UNIMPLEMENTED.
    let err = |tasks: Vec<InferenceTask>| {
        let mut p = p.clone();
        async move {
            p.multi_inference(MultiInferenceRequest {
                tasks,
                input: examples(&[2.0]),
            })
            .await
            .unwrap_err()
        }
    };
    let mut other = task("regress_x_to_y2", "tensorflow/serving/regress");
    other.model_spec.as_mut().unwrap().name = "other".into();
    let e = err(vec![
        task("regress_x_to_y", "tensorflow/serving/regress"),
        other,
    ])
    .await;
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("same model name"), "{e:?}");
    let e = err(vec![
        task("regress_x_to_y", "tensorflow/serving/regress"),
        task("regress_x_to_y", "tensorflow/serving/regress"),
    ])
    .await;
    assert!(e.message().contains("Duplicate evaluation"), "{e:?}");
    let e = err(vec![task("regress_x_to_y", "tensorflow/serving/predict")]).await;
    assert_eq!(e.code(), Code::Unimplemented);
    s.shutdown().await;
}

#[tokio::test]
async fn metadata_and_status() {
    let s = sim().await;
    let (mut p, mut m) = clients(&s).await;
    let r = p
        .get_model_metadata(GetModelMetadataRequest {
            model_spec: spec(MODEL, None, ""),
            metadata_field: vec!["signature_def".into()],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        r.model_spec.unwrap().version_choice,
        Some(VersionChoice::Version(2))
    );
    let any = &r.metadata["signature_def"];
    assert_eq!(
        any.type_url,
        "type.googleapis.com/tensorflow.serving.SignatureDefMap"
    );
    let map = SignatureDefMap::decode(&any.value[..]).unwrap();
    assert_eq!(map.signature_def.len(), 5);
    let sig = &map.signature_def["serving_default"];
    assert_eq!(sig.method_name, "tensorflow/serving/predict");
    assert_eq!(sig.inputs["x"].dtype, DataType::DtFloat as i32);
    let e = p
        .get_model_metadata(GetModelMetadataRequest {
            model_spec: spec(MODEL, None, ""),
            metadata_field: vec![],
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);

    // Every version, latest first; a label is ignored by GetModelStatus.
    for version in [None, Some(VersionChoice::VersionLabel("whatever".into()))] {
        let r = m
            .get_model_status(GetModelStatusRequest {
                model_spec: spec(MODEL, version, ""),
            })
            .await
            .unwrap()
            .into_inner();
        let versions: Vec<i64> = r.model_version_status.iter().map(|v| v.version).collect();
        assert_eq!(versions, [2, 1]);
        let v = &r.model_version_status[0];
        assert_eq!(v.state, model_version_status::State::Available as i32);
        assert_eq!(v.status.as_ref().unwrap().error_code, 0);
    }
    let r = m
        .get_model_status(GetModelStatusRequest {
            model_spec: spec(MODEL, Some(VersionChoice::Version(1)), ""),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.model_version_status.len(), 1);
    s.set_available(false);
    let r = m
        .get_model_status(GetModelStatusRequest {
            model_spec: spec(MODEL, None, ""),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        r.model_version_status[0].state,
        model_version_status::State::End as i32
    );
    assert_eq!(
        r.model_version_status[0]
            .status
            .as_ref()
            .unwrap()
            .error_code,
        14
    );
    s.shutdown().await;
}

#[tokio::test]
async fn errors_carry_tf_servings_status_codes() {
    let s = sim().await;
    let (mut p, mut m) = clients(&s).await;
    let p2 = p.clone();
    let predict_err = |req: PredictRequest| {
        let mut p = p2.clone();
        async move { p.predict(req).await.unwrap_err() }
    };
    let e = predict_err(predict_request("nope", x_tensor(&[1], &[1.0]))).await;
    assert_eq!(e.code(), Code::NotFound);
    assert_eq!(e.message(), "Servable not found for request: Latest(nope)");
    let mut req = predict_request(MODEL, x_tensor(&[1], &[1.0]));
    req.model_spec = spec(MODEL, Some(VersionChoice::Version(9)), "");
    let e = predict_err(req).await;
    assert_eq!(e.code(), Code::NotFound);
    assert!(e.message().contains("Specific(half_plus_two, 9)"));
    let mut req = predict_request(MODEL, x_tensor(&[1], &[1.0]));
    req.model_spec = spec(MODEL, Some(VersionChoice::VersionLabel("nope".into())), "");
    assert_eq!(predict_err(req).await.code(), Code::InvalidArgument);
    let mut req = predict_request(MODEL, x_tensor(&[1], &[1.0]));
    req.model_spec = None;
    assert_eq!(predict_err(req).await.message(), "Missing ModelSpec");
    let mut req = predict_request(MODEL, x_tensor(&[1], &[1.0]));
    req.inputs = [("z".to_owned(), x_tensor(&[1], &[1.0]))].into();
    let e = predict_err(req).await;
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(
        e.message().contains("input tensor alias not found"),
        "{e:?}"
    );
    let mut x = x_tensor(&[1], &[]);
    x.dtype = DataType::DtDouble as i32;
    x.double_val = vec![1.0];
    let e = predict_err(predict_request(MODEL, x)).await;
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("float but double"), "{e:?}");
    let mut req = predict_request(MODEL, x_tensor(&[1], &[1.0]));
    req.model_spec = spec(MODEL, None, "nope");
    assert_eq!(predict_err(req).await.code(), Code::FailedPrecondition);
    let e = p
        .classify(ClassificationRequest {
            model_spec: spec(MODEL, None, ""),
            input: examples(&[1.0]),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(
        e.message().contains("Was: tensorflow/serving/predict"),
        "{e:?}"
    );
    let e = p
        .regress(RegressionRequest {
            model_spec: spec(MODEL, None, "regress_x_to_y"),
            input: None,
        })
        .await
        .unwrap_err();
    assert_eq!(e.message(), "Input is empty.");
    let e = m
        .get_model_status(GetModelStatusRequest {
            model_spec: spec("nope", None, ""),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    assert_eq!(e.message(), "Could not find any versions of model nope");
    s.set_available(false);
    let e = predict_err(predict_request(MODEL, x_tensor(&[1], &[1.0]))).await;
    assert_eq!(e.code(), Code::Unavailable);
    s.shutdown().await;
}

#[tokio::test]
async fn faults_and_deadlines_apply_to_grpc() {
    let s = sim().await;
    let (mut p, _) = clients(&s).await;
    let req = || predict_request(MODEL, x_tensor(&[1], &[1.0]));
    s.set_fault(Fault::always_error(503)).unwrap();
    let e = p.predict(req()).await.unwrap_err();
    assert_eq!(e.code(), Code::Unavailable);
    assert!(e.message().contains("injected"));
    s.set_fault(Fault::always_error(500)).unwrap();
    assert_eq!(p.predict(req()).await.unwrap_err().code(), Code::Internal);
    // Metadata is never faulted.
    p.get_model_metadata(GetModelMetadataRequest {
        model_spec: spec(MODEL, None, ""),
        metadata_field: vec!["signature_def".into()],
    })
    .await
    .unwrap();
    // A drop resets the stream: an error, not a hang (the channel's 10 s timeout bounds it).
    s.set_fault(Fault::always_drop()).unwrap();
    let e = p.predict(req()).await.unwrap_err();
    assert_ne!(e.code(), Code::Ok);
    assert!(!e.message().contains("injected"), "{e:?}");
    // A slow executor and a 200 ms deadline. tonic's client enforces the deadline itself
    // (and reports CANCELLED "Timeout expired"); the server side answers DEADLINE_EXCEEDED,
    // checked below with a raw HTTP/2 call that does not race it.
    s.set_fault(Fault::slow(1.0, 5_000.0)).unwrap();
    let started = std::time::Instant::now();
    let mut r = tonic::Request::new(req());
    r.set_timeout(Duration::from_millis(200));
    let e = p.predict(r).await.unwrap_err();
    assert!(
        matches!(e.code(), Code::DeadlineExceeded | Code::Cancelled),
        "{e:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(4));
    let (headers, _) = raw_grpc_call(s.grpc_addr().unwrap(), &req(), "200m").await;
    assert_eq!(headers["grpc-status"], "4", "{headers:?}");
    s.set_fault(Fault::none()).unwrap();
    p.predict(req()).await.unwrap();
    assert!(s.stats().faults >= 3);
    // A method TF Serving has but the simulator does not model.
    let mut raw = tonic::client::Grpc::new(channel(s.grpc_addr().unwrap()).await);
    raw.ready().await.unwrap();
    let e = raw
        .unary::<_, GetModelStatusRequest, _>(
            tonic::Request::new(GetModelStatusRequest::default()),
            http::uri::PathAndQuery::from_static(
                "/tensorflow.serving.ModelService/HandleReloadConfigRequest",
            ),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unimplemented);
    s.shutdown().await;
}

/// One gRPC call over a bare HTTP/2 connection: the response headers (a trailers-only error
/// answer carries `grpc-status` there) and body.
async fn raw_grpc_call(
    addr: SocketAddr,
    req: &PredictRequest,
    timeout: &str,
) -> (http::HeaderMap, bytes::Bytes) {
    use http_body_util::{BodyExt, Full};
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let msg = req.encode_to_vec();
    let mut framed = vec![0u8];
    framed.extend((msg.len() as u32).to_be_bytes());
    framed.extend(msg);
    let request = http::Request::post(format!(
        "http://{addr}/tensorflow.serving.PredictionService/Predict"
    ))
    .header("content-type", "application/grpc")
    .header("te", "trailers")
    .header("grpc-timeout", timeout)
    .body(Full::new(bytes::Bytes::from(framed)))
    .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(10), sender.send_request(request))
        .await
        .expect("the server must answer by the deadline")
        .unwrap();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (headers, body)
}

#[tokio::test]
async fn grpc_listener_is_optional_and_stops_with_the_executor() {
    let rest_only = SimServer::start(SimConfig::named("r")).await.unwrap();
    assert!(rest_only.grpc_addr().is_none());
    rest_only.shutdown().await;
    let s = sim().await;
    let addr = s.grpc_addr().unwrap();
    assert_ne!(addr, s.local_addr());
    s.kill().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
