//! The simulator's REST API against a real server on 127.0.0.1:0, error cases and faults
//! included.

mod common;

use std::time::Duration;

use common::{get, post, post_h2, send};
use http::Method;
use mulambda_loadtest::sim::{Fault, ServiceTime, SimConfig, SimServer};

const PREDICT: &str = "/v1/models/half_plus_two:predict";

async fn sim() -> SimServer {
    let mut config =
        SimConfig::parse_spec("name=t,versions=1+2,labels=stable:1+canary:2,base-ms=0").unwrap();
    config.timing = ServiceTime {
        base_ms: 0.0,
        ..ServiceTime::default()
    };
    SimServer::start(config).await.unwrap()
}

#[tokio::test]
async fn predict_row_and_columnar() {
    let s = sim().await;
    let a = s.local_addr();
    let r = post(a, PREDICT, r#"{"instances": [1.0, 2.0, 5.0]}"#).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["content-type"], "application/json");
    assert_eq!(
        r.json(),
        serde_json::json!({"predictions": [2.5, 3.0, 4.5]})
    );
    let r = post(
        a,
        PREDICT,
        r#"{"signature_name": "serving_default", "inputs": [[1, 2], [3, 4]]}"#,
    )
    .await;
    assert_eq!(
        r.json(),
        serde_json::json!({"outputs": [[2.5, 3.0], [3.5, 4.0]]})
    );
    // A single output is answered without its name.
    let r = post(a, PREDICT, r#"{"inputs": {"x": [0.0], "z": 4}}"#).await;
    assert_eq!(r.json(), serde_json::json!({"outputs": [2.0]}));
    let r = post(a, PREDICT, r#"{"instances": [{"x": 6}]}"#).await;
    assert_eq!(r.json(), serde_json::json!({"predictions": [5.0]}));
    // Non-finite numbers in, non-finite tokens out (like TF Serving).
    let r = post(a, PREDICT, r#"{"instances": [NaN, -Infinity]}"#).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, r#"{"predictions": [NaN, -Infinity]}"#)
    );
    // Versions and labels address the same model.
    let r = post(
        a,
        "/v1/models/half_plus_two/versions/2:predict",
        r#"{"instances": [2]}"#,
    )
    .await;
    assert_eq!(r.json(), serde_json::json!({"predictions": [3.0]}));
    let r = post(
        a,
        "/v1/models/half_plus_two/labels/stable:predict",
        r#"{"instances": [2]}"#,
    )
    .await;
    assert_eq!(r.status, 200);
    // HTTP/2 prior knowledge on the same port.
    let r = post_h2(a, PREDICT, r#"{"instances": [1.0]}"#).await;
    assert_eq!(r.json(), serde_json::json!({"predictions": [2.5]}));
    assert_eq!(s.stats().inference_ok, 8);
    s.shutdown().await;
}

#[tokio::test]
async fn classify_and_regress() {
    let s = sim().await;
    let a = s.local_addr();
    let r = post(
        a,
        "/v1/models/half_plus_two:regress",
        r#"{"signature_name": "regress_x_to_y", "examples": [{"x": 1.0}, {"x": [4.0]}]}"#,
    )
    .await;
    assert_eq!(r.json(), serde_json::json!({"results": [2.5, 4.0]}));
    let r = post(
        a,
        "/v1/models/half_plus_two:classify",
        r#"{"signature_name": "classify_x_to_y", "context": {"c": -1}, "examples": [{"x": 2.0}]}"#,
    )
    .await;
    assert_eq!(r.json(), serde_json::json!({"results": [[["", 3.0]]]}));
    let r = post(
        a,
        "/v1/models/half_plus_two:classify",
        r#"{"instances": [1]}"#,
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(r.error().contains("'examples'"), "{}", r.body);
    s.shutdown().await;
}

#[tokio::test]
async fn status_labels_and_metadata() {
    let s = sim().await;
    let a = s.local_addr();
    let r = get(a, "/v1/models/half_plus_two").await;
    assert_eq!(r.status, 200);
    let all = r.json();
    let versions: Vec<&str> = all["model_version_status"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["2", "1"]);
    assert_eq!(all["model_version_status"][0]["state"], "AVAILABLE");
    assert_eq!(all["model_version_status"][0]["status"]["error_code"], "OK");
    let r = get(a, "/v1/models/half_plus_two/versions/2").await;
    assert_eq!(r.json()["model_version_status"][0]["version"], "2");
    let r = get(a, "/v1/models/half_plus_two/labels/canary").await;
    assert_eq!(r.json()["model_version_status"][0]["version"], "2");
    let r = get(a, "/v1/models/half_plus_two/metadata").await;
    let m = r.json();
    assert_eq!(m["model_spec"]["name"], "half_plus_two");
    assert_eq!(m["model_spec"]["version"], "2");
    let sig = &m["metadata"]["signature_def"]["signature_def"]["serving_default"];
    assert_eq!(sig["inputs"]["x"]["dtype"], "DT_FLOAT");
    assert_eq!(sig["inputs"]["x"]["tensor_shape"]["dim"][0]["size"], "-1");
    assert_eq!(sig["outputs"]["y"]["dtype"], "DT_FLOAT");
    let r = get(a, "/v1/models/half_plus_two/labels/stable/metadata").await;
    assert_eq!(r.json()["model_spec"]["version"], "1");
    s.shutdown().await;
}

#[tokio::test]
async fn not_found_and_bad_requests() {
    let s = sim().await;
    let a = s.local_addr();
    let cases: &[(Method, &str, &str, u16, &str)] = &[
        (
            Method::POST,
            "/v1/models/nope:predict",
            r#"{"instances": [1]}"#,
            404,
            "Servable not found for request: Latest(nope)",
        ),
        (
            Method::POST,
            "/v1/models/half_plus_two/versions/9:predict",
            r#"{"instances": [1]}"#,
            404,
            "Specific(half_plus_two, 9)",
        ),
        (
            Method::POST,
            "/v1/models/half_plus_two/labels/nope:predict",
            r#"{"instances": [1]}"#,
            400,
            "Unrecognized servable version label: nope",
        ),
        (
            Method::GET,
            "/v1/models/nope",
            "",
            404,
            "Could not find any versions of model nope",
        ),
        (
            Method::GET,
            "/v1/models/half_plus_two/versions/9",
            "",
            404,
            "Could not find version 9 of model half_plus_two",
        ),
        (
            Method::GET,
            "/v1/models/half_plus_two/labels/nope/metadata",
            "",
            400,
            "Unrecognized servable version label",
        ),
        (
            Method::GET,
            "/v1/models/nope/metadata",
            "",
            404,
            "Servable not found for request: Latest(nope)",
        ),
        (
            Method::POST,
            PREDICT,
            r#"{"instances": [1.0,"#,
            400,
            "JSON Parse error",
        ),
        (
            Method::POST,
            PREDICT,
            r#"{"instances": [1], "inputs": [1]}"#,
            400,
            "only one of 'inputs' or 'instances'",
        ),
        (
            Method::POST,
            PREDICT,
            r#"{"signature_name": "serving_default"}"#,
            400,
            "Missing 'inputs' or 'instances' key",
        ),
        (
            Method::POST,
            PREDICT,
            r#"{"instances": ["a", "b"]}"#,
            400,
            "not of expected type: float",
        ),
        (
            Method::POST,
            PREDICT,
            r#"{"inputs": {"x": [null]}}"#,
            400,
            "not of expected type: float",
        ),
        (
            Method::POST,
            PREDICT,
            r#"{"signature_name": "other", "instances": [1]}"#,
            400,
            "\"other\" not found in signature def",
        ),
        (
            Method::GET,
            PREDICT,
            "",
            400,
            "Malformed request: GET /v1/models/half_plus_two:predict",
        ),
        (
            Method::PUT,
            "/v1/models/half_plus_two",
            "",
            400,
            "Malformed request: PUT",
        ),
        (
            Method::POST,
            "/v1/models/half_plus_two:explain",
            "{}",
            400,
            "Malformed request",
        ),
        (Method::GET, "/nothing/here", "", 404, "Not found"),
    ];
    for (method, path, body, status, message) in cases {
        let r = common::call(a, method.clone(), path, body).await;
        assert_eq!(r.status, *status, "{method} {path} {body}: {}", r.body);
        assert!(
            r.error().contains(message),
            "{method} {path}: {:?} lacks {message:?}",
            r.error()
        );
    }
    s.shutdown().await;
}

#[tokio::test]
async fn fault_error_rate_and_recovery() {
    let s = sim().await;
    let a = s.local_addr();
    s.set_fault(Fault::always_error(500)).unwrap();
    for _ in 0..5 {
        let r = post(a, PREDICT, r#"{"instances": [1]}"#).await;
        assert_eq!(r.status, 500);
        assert!(r.error().contains("injected"));
    }
    // Status and metadata are never faulted.
    assert_eq!(get(a, "/v1/models/half_plus_two").await.status, 200);
    s.set_fault(Fault::none()).unwrap();
    assert_eq!(post(a, PREDICT, r#"{"instances": [1]}"#).await.status, 200);
    assert!(
        s.set_fault(Fault {
            error_rate: 2.0,
            ..Fault::none()
        })
        .is_err()
    );
    assert_eq!(s.stats().faults, 5);
    s.shutdown().await;
}

#[tokio::test]
async fn unavailable_executor() {
    let s = sim().await;
    let a = s.local_addr();
    s.set_available(false);
    let r = post(a, PREDICT, r#"{"instances": [1]}"#).await;
    assert_eq!(r.status, 503);
    let st = get(a, "/v1/models/half_plus_two").await.json();
    for v in st["model_version_status"].as_array().unwrap() {
        assert_ne!(v["state"], "AVAILABLE");
    }
    s.set_available(true);
    assert_eq!(post(a, PREDICT, r#"{"instances": [1]}"#).await.status, 200);
    s.shutdown().await;
}

#[tokio::test]
async fn dropped_connection() {
    let s = sim().await;
    s.set_fault(Fault::always_drop()).unwrap();
    let r = tokio::time::timeout(
        Duration::from_secs(10),
        send(
            s.local_addr(),
            Method::POST,
            PREDICT,
            r#"{"instances": [1]}"#,
        ),
    )
    .await
    .expect("a dropped connection must end the request, not hang");
    assert!(r.is_err(), "expected no response");
    s.shutdown().await;
}

#[tokio::test]
async fn stall_until_client_gives_up() {
    let s = sim().await;
    s.set_fault(Fault::always_stall()).unwrap();
    let r = tokio::time::timeout(
        Duration::from_millis(300),
        send(
            s.local_addr(),
            Method::POST,
            PREDICT,
            r#"{"instances": [1]}"#,
        ),
    )
    .await;
    assert!(r.is_err(), "a stalled request must not be answered");
    assert_eq!(s.stats().faults, 1);
    // Shutdown does not wait for stalled requests.
    tokio::time::timeout(Duration::from_secs(10), s.shutdown())
        .await
        .expect("shutdown hung");
}

#[tokio::test]
async fn control_endpoint() {
    let s = sim().await;
    let a = s.local_addr();
    let r = post(
        a,
        "/-/sim/fault",
        r#"{"error_rate": 1.0, "error_status": 503}"#,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["fault"]["error_rate"], 1.0);
    assert_eq!(post(a, PREDICT, r#"{"instances": [1]}"#).await.status, 503);
    assert_eq!(post(a, "/-/sim/fault", "{}").await.status, 200);
    assert_eq!(post(a, PREDICT, r#"{"instances": [1]}"#).await.status, 200);
    assert_eq!(
        post(a, "/-/sim/available", r#"{"available": false}"#)
            .await
            .status,
        200
    );
    assert!(
        !get(a, "/-/sim/state").await.json()["available"]
            .as_bool()
            .unwrap()
    );
    assert_eq!(
        post(a, "/-/sim/timing", r#"{"base_ms": 2, "jitter_ms": 1}"#)
            .await
            .json()["timing"]["base_ms"],
        2.0
    );
    assert_eq!(
        post(a, "/-/sim/fault", r#"{"error_rate": 3}"#).await.status,
        400
    );
    assert_eq!(post(a, "/-/sim/fault", r#"{"bogus": 1}"#).await.status, 400);
    assert_eq!(get(a, "/-/sim/fault").await.status, 405);
    assert_eq!(get(a, "/-/sim/nothing").await.status, 404);
    s.shutdown().await;
}

#[tokio::test]
async fn service_time_applies() {
    let s = sim().await;
    s.set_timing(ServiceTime {
        base_ms: 50.0,
        ..ServiceTime::default()
    })
    .unwrap();
    let start = std::time::Instant::now();
    assert_eq!(
        post(s.local_addr(), PREDICT, r#"{"instances": [1]}"#)
            .await
            .status,
        200
    );
    // A lower bound only: sleeping never ends early.
    assert!(start.elapsed() >= Duration::from_millis(50));
    s.shutdown().await;
}

#[tokio::test]
async fn kill_refuses_new_connections() {
    let s = sim().await;
    let a = s.local_addr();
    s.kill().await;
    assert!(
        send(a, Method::GET, "/v1/models/half_plus_two", "")
            .await
            .is_err()
    );
}

#[tokio::test]
async fn fleet_serves_several_executors() {
    let fleet = mulambda_loadtest::sim::SimFleet::start(vec![
        SimConfig::named("a"),
        SimConfig::parse_spec("name=b,model=other").unwrap(),
    ])
    .await
    .unwrap();
    let lines = fleet.listening_lines();
    assert_eq!(lines.len(), 2);
    assert_ne!(lines[0].addr, lines[1].addr);
    let b = fleet.get("b").unwrap().local_addr();
    assert_eq!(
        post(b, "/v1/models/other:predict", r#"{"instances": [0]}"#)
            .await
            .status,
        200
    );
    assert_eq!(post(b, PREDICT, r#"{"instances": [0]}"#).await.status, 404);
    fleet.shutdown().await;
}
