//! The simulator's REST answers where TF Serving's own tests (or, where it has none, its code)
//! pin the behaviour down; each test names its ground. docs/simulator.md lists them.

mod common;

use std::io::Write as _;

use common::{get, post, send_raw};
use http::Method;
use mulambda_loadtest::sim::{ServiceTime, SimConfig, SimServer};
use serde_json::json;

async fn sim(spec: &str) -> SimServer {
    let mut config = SimConfig::parse_spec(spec).unwrap();
    config.timing = ServiceTime {
        base_ms: 0.0,
        ..ServiceTime::default()
    };
    SimServer::start(config).await.unwrap()
}

async fn default_sim() -> SimServer {
    sim("name=f,versions=1+2,labels=stable:1+canary:2").await
}

const M: &str = "/v1/models/half_plus_two";

/// tensorflow_model_server_test.py: testPredictREST, testPredictColumnarREST, testRegressREST,
/// testClassifyREST (x = 2 → 3; classify answers one class without label).
#[tokio::test]
async fn answers_match_tf_servings_model_server_tests() {
    let s = default_sim().await;
    let a = s.local_addr();
    let r = post(
        a,
        &format!("{M}:predict"),
        r#"{"instances": [2.0, 3.0, 4.0]}"#,
    )
    .await;
    assert_eq!(r.json(), json!({"predictions": [3.0, 3.5, 4.0]}));
    let r = post(a, &format!("{M}:predict"), r#"{"inputs": [2.0, 3.0, 4.0]}"#).await;
    assert_eq!(r.json(), json!({"outputs": [3.0, 3.5, 4.0]}));
    let body = r#"{"signature_name": "regress_x_to_y", "examples": [{"x": 2.0}]}"#;
    assert_eq!(
        post(a, &format!("{M}:regress"), body).await.json(),
        json!({"results": [3.0]})
    );
    let body = r#"{"signature_name": "classify_x_to_y", "examples": [{"x": 2.0}]}"#;
    let r = post(a, &format!("{M}:classify"), body).await;
    assert_eq!(r.json(), json!({"results": [[["", 3.0]]]}));
    // http_rest_api_handler_test.cc, Classify / Regress: x = 20 → 12, x = 80 → 42, by label too.
    let body = r#"{"signature_name": "classify_x_to_y", "examples": [{"x": 20.0}]}"#;
    let r = post(a, &format!("{M}/labels/stable:classify"), body).await;
    assert_eq!(r.json(), json!({"results": [[["", 12.0]]]}));
    let body = r#"{"signature_name": "regress_x_to_y", "examples": [{"x": 80.0}]}"#;
    let r = post(a, &format!("{M}/versions/1:regress"), body).await;
    assert_eq!(r.json(), json!({"results": [42.0]}));
    s.shutdown().await;
}

/// json_tensor_test.cc FromJsonSingleTensor / FromJsonSingleScalarTensor: a single output is
/// written without its name, in both formats, whatever the request's form.
#[tokio::test]
async fn a_single_output_is_answered_without_its_name() {
    let s = default_sim().await;
    let a = s.local_addr();
    let r = post(
        a,
        &format!("{M}:predict"),
        r#"{"instances": [{"x": [1.0, 2.0]}, {"x": [3.0, 4.0]}]}"#,
    )
    .await;
    assert_eq!(r.json(), json!({"predictions": [[2.5, 3.0], [3.5, 4.0]]}));
    let r = post(
        a,
        &format!("{M}:predict"),
        r#"{"inputs": {"x": [[1.0], [2.0]]}}"#,
    )
    .await;
    assert_eq!(r.json(), json!({"outputs": [[2.5], [3.0]]}));
    s.shutdown().await;
}

/// json_tensor_test.cc MultipleNamedTensorErrors and json_tensor.cc (named instances must
/// name exactly the signature's inputs; a columnar object must contain them).
#[tokio::test]
async fn named_inputs_must_match_the_signature() {
    let s = default_sim().await;
    let a = s.local_addr();
    let cases = [
        (
            r#"{"instances": [{"z": 1.0}]}"#,
            "does not have named input: z",
        ),
        (
            r#"{"instances": [{"x": 1.0, "z": 1.0}]}"#,
            "does not have named input: z",
        ),
        (r#"{"instances": [{}]}"#, "keys must be equal to: x"),
        (
            r#"{"instances": [{"x": 1.0}, [1.0]]}"#,
            "Expecting object but got list",
        ),
        (
            r#"{"instances": [[1.0], {"x": 1.0}]}"#,
            "Expecting value/list but got object",
        ),
        (
            r#"{"instances": [{"x": [1.0, 2.0]}, {"x": [1.0]}]}"#,
            "Expecting tensor size",
        ),
        (
            r#"{"inputs": {"z": [1.0]}}"#,
            "Missing named input: x in 'inputs' object.",
        ),
        (
            r#"{"instances": ["x", "y"]}"#,
            "not of expected type: float",
        ),
    ];
    for (body, message) in cases {
        let r = post(a, &format!("{M}:predict"), body).await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert!(
            r.error().contains(message),
            "{body}: {:?} lacks {message:?}",
            r.error()
        );
    }
    s.shutdown().await;
}

/// classifier.cc / regressor.cc (GetClassificationSignatureDef): an empty signature name means
/// `serving_default`, a predict signature, so classify and regress refuse it; predict takes it
/// (http_rest_api_handler_test.cc Predict, "explicit signature_name").
#[tokio::test]
async fn serving_default_is_a_predict_signature() {
    let s = default_sim().await;
    let a = s.local_addr();
    let r = post(a, &format!("{M}:classify"), r#"{"examples": [{"x": 2.0}]}"#).await;
    assert_eq!(r.status, 400);
    assert!(r.error().contains("Expected classification signature method_name to be tensorflow/serving/classify. Was: tensorflow/serving/predict"), "{}", r.body);
    let r = post(
        a,
        &format!("{M}:regress"),
        r#"{"signature_name": "serving_default", "examples": [{"x": 2.0}]}"#,
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(
        r.error().contains("Expected regression signature"),
        "{}",
        r.body
    );
    let r = post(
        a,
        &format!("{M}:predict"),
        r#"{"signature_name": "serving_default", "instances": [3.0, 4.0]}"#,
    )
    .await;
    assert_eq!(r.json(), json!({"predictions": [3.5, 4.0]}));
    s.shutdown().await;
}

/// get_model_status_impl.cc with servable_state_monitor.h (versions in a map ordered by
/// std::greater: latest first) and get_model_status_impl_test.cc AllVersionsSuccess /
/// SingleVersionSuccess; GetModelStatus only looks at a version number, so a label path lists
/// every version (http_rest_api_handler_test.cc GetStatus, by label), even an unknown label.
/// Serving by an unknown label is INVALID_ARGUMENT (PredictRequestErrors).
#[tokio::test]
async fn status_lists_versions_latest_first_and_ignores_labels() {
    let s = sim("name=f,versions=1+3+2,labels=stable:1+canary:3").await;
    let a = s.local_addr();
    let versions = |v: serde_json::Value| -> Vec<String> {
        v["model_version_status"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["version"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(versions(get(a, M).await.json()), ["3", "2", "1"]);
    assert_eq!(
        versions(get(a, &format!("{M}/labels/stable")).await.json()),
        ["3", "2", "1"]
    );
    assert_eq!(
        versions(get(a, &format!("{M}/labels/unknown")).await.json()),
        ["3", "2", "1"]
    );
    assert_eq!(
        versions(get(a, &format!("{M}/versions/2")).await.json()),
        ["2"]
    );
    // Labels do select a version for serving.
    let r = get(a, &format!("{M}/labels/canary/metadata")).await;
    assert_eq!(r.json()["model_spec"]["version"], "3");
    let r = post(
        a,
        &format!("{M}/labels/unknown:predict"),
        r#"{"instances": [1.0]}"#,
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(r.error().contains("Unrecognized servable version label"));
    s.shutdown().await;
}

/// net_http evhttp_request.cc and evhttp_request_test.cc ValidGzipPost / InvalidGzipPost: a
/// Content-Encoding containing "gzip" is inflated; a body that does not inflate reads as empty
/// (json_tensor.cc: "JSON Parse error: The document is empty").
#[tokio::test]
async fn gzip_request_bodies_are_inflated() {
    let s = default_sim().await;
    let a = s.local_addr();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(br#"{"instances": [2.0]}"#).unwrap();
    let body = gz.finish().unwrap();
    let path = format!("{M}:predict");
    let r = send_raw(
        a,
        Method::POST,
        &path,
        &[("content-encoding", "gzip")],
        body,
    )
    .await;
    assert_eq!((r.status, r.json()), (200, json!({"predictions": [3.0]})));
    let r = send_raw(
        a,
        Method::POST,
        &path,
        &[("content-encoding", "gzip")],
        b"abcde".to_vec(),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(r.error().contains("The document is empty"), "{}", r.body);
    let r = send_raw(a, Method::POST, &path, &[], Vec::new()).await;
    assert!(
        r.error()
            .contains("JSON Parse error: The document is empty"),
        "{}",
        r.body
    );
    s.shutdown().await;
}

/// json_tensor.cc ParseJson: rapidjson with kParseStopWhenDoneFlag stops after the first JSON
/// value, so trailing bytes are ignored (json_tensor_test.cc TensorFromNonNullTerminatedBuffer
/// covers a buffer with a byte past the document).
#[tokio::test]
async fn trailing_bytes_after_the_json_are_ignored() {
    let s = default_sim().await;
    let r = post(
        s.local_addr(),
        &format!("{M}:predict"),
        r#"{"instances": [2.0]}X trailing"#,
    )
    .await;
    assert_eq!((r.status, r.json()), (200, json!({"predictions": [3.0]})));
    s.shutdown().await;
}

/// evhttp_request_test.cc RequestUri (uri_path() is path and query) with the FullMatch of
/// http_rest_api_util.cc's regexes: a query after the verb makes a POST malformed; after a
/// model name it becomes part of the name.
#[tokio::test]
async fn query_strings_are_part_of_the_matched_path() {
    let s = default_sim().await;
    let a = s.local_addr();
    let r = post(
        a,
        &format!("{M}:predict?debug=1"),
        r#"{"instances": [1.0]}"#,
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(
        r.error()
            .contains("Malformed request: POST /v1/models/half_plus_two:predict?debug=1"),
        "{}",
        r.body
    );
    let r = get(a, &format!("{M}?x=1")).await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.error(),
        "Could not find any versions of model half_plus_two?x=1"
    );
    s.shutdown().await;
}

/// http_rest_api_util.cc: the regexes start with (?i) (http_rest_api_handler_test.cc kPathRegex
/// for the /v1/ prefix).
#[tokio::test]
async fn the_v1_prefix_and_keywords_are_case_insensitive() {
    let s = default_sim().await;
    let a = s.local_addr();
    let r = post(
        a,
        "/V1/MODELS/half_plus_two/VERSIONS/1:PREDICT",
        r#"{"instances": [2.0]}"#,
    )
    .await;
    assert_eq!(r.json(), json!({"predictions": [3.0]}));
    let r = get(a, "/v1/Models/half_plus_two/Labels/canary/METADATA").await;
    assert_eq!(r.json()["model_spec"]["version"], "2");
    s.shutdown().await;
}

/// http_rest_api_util.cc: model names and labels are `[^/:]+`, then percent-decoded with curl
/// (`DecodeArg`), so a name may hold any character, '/' and ':' included when encoded, and has
/// no length limit.
#[tokio::test]
async fn model_names_take_any_character_and_are_percent_decoded() {
    let long = "m".repeat(4000);
    let s = sim("name=f,model=a b%c?é+,labels=stable:1").await;
    let a = s.local_addr();
    let r = post(
        a,
        "/v1/models/a%20b%25c%3F%C3%A9+:predict",
        r#"{"instances": [2.0]}"#,
    )
    .await;
    assert_eq!(
        (r.status, r.json()),
        (200, json!({"predictions": [3.0]})),
        "{}",
        r.body
    );
    let r = post(
        a,
        "/v1/models/a%20b%25c%3F%C3%A9+/labels/st%61ble:predict",
        r#"{"instances": [2.0]}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = post(a, "/v1/models/x%2Fy%3Az:predict", r#"{"instances": [2.0]}"#).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error(), "Servable not found for request: Latest(x/y:z)");
    s.shutdown().await;
    let s = sim(&format!("name=f,model={long}")).await;
    let r = post(
        s.local_addr(),
        &format!("/v1/models/{long}:predict"),
        r#"{"instances": [2.0]}"#,
    )
    .await;
    assert_eq!(r.status, 200);
    s.shutdown().await;
}

/// http_server.cc ProcessRequest: OPTIONS is a CORS preflight, OK when Origin names an http(s)
/// origin, FAILED_PRECONDITION (400) otherwise.
#[tokio::test]
async fn options_is_a_cors_preflight() {
    let s = default_sim().await;
    let a = s.local_addr();
    let path = format!("{M}:predict");
    let r = send_raw(
        a,
        Method::OPTIONS,
        &path,
        &[("origin", "https://app.example")],
        Vec::new(),
    )
    .await;
    assert_eq!((r.status, r.body.as_str()), (200, ""));
    let r = send_raw(a, Method::OPTIONS, &path, &[], Vec::new()).await;
    assert_eq!(r.status, 400);
    s.shutdown().await;
}
