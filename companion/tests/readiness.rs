//! Readiness and signature against a TF Serving stand-in and a real redis-server.

mod common;

use std::time::Duration;

use common::*;
use http::StatusCode;
use mulambda_catalog::{Executor, Store};
use mulambda_companion::Companion;
use mulambda_testkit::RedisServer;

async fn executor(store: &Store, id: &str) -> Option<Executor> {
    store
        .read_executors()
        .await
        .ok()?
        .executors
        .into_iter()
        .map(|l| l.value)
        .find(|e| e.id.as_str() == id)
}

async fn wait_ready(store: &Store, id: &str, ready: bool) -> Executor {
    wait_for(&format!("{id} ready={ready}"), SOON, || async {
        executor(store, id).await.filter(|e| e.ready == ready)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_tf_serving() {
    let redis = RedisServer::start();
    let store = store(&redis.url(), "ready");
    let tf = TfServingStub::start("resnet").await;
    tf.set_state("LOADING");
    let companion = Companion::start(config(
        &redis.url(),
        "ready",
        "exec-1",
        tf.addr,
        IMAGE_LABEL,
        &[],
    ))
    .await
    .unwrap();
    let admin = companion.admin_addr();

    // Registered at once, not ready while LOADING.
    let e = wait_for("registered", SOON, || executor(&store, "exec-1")).await;
    assert!(!e.ready);
    assert_eq!(e.model_name.as_str(), "resnet");
    assert_eq!(e.rest_endpoint.to_string(), tf.addr.to_string());
    let (status, body) = http_get(admin, "/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("\"error\""), "{body}");

    tf.set_state("AVAILABLE");
    wait_ready(&store, "exec-1", true).await;
    wait_for("/ready 200", SOON, || async {
        (http_get(admin, "/ready").await.0 == StatusCode::OK).then_some(())
    })
    .await;
    assert!(companion.is_ready());

    tf.set_state("END");
    wait_ready(&store, "exec-1", false).await;
    tf.set_state("AVAILABLE");
    wait_ready(&store, "exec-1", true).await;

    // A TF Serving that stops answering: not ready after the poll timeout.
    tf.set_hang(true);
    wait_ready(&store, "exec-1", false).await;
    assert!(!companion.is_ready());
    let metrics = http_get(admin, "/metrics").await.1;
    assert!(
        metrics.contains("mulambda_companion_executor_ready 0"),
        "{metrics}"
    );
    tf.set_hang(false);
    wait_ready(&store, "exec-1", true).await;

    let (status, body) = http_get(admin, "/live").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = http_get(admin, "/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("\"error\""));
    companion.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_tf_serving_is_not_ready() {
    let redis = RedisServer::start();
    let store = store(&redis.url(), "ready-gone");
    let companion = Companion::start(config(
        &redis.url(),
        "ready-gone",
        "exec-1",
        closed_port(),
        IMAGE_LABEL,
        &[],
    ))
    .await
    .unwrap();
    wait_for("registered", SOON, || executor(&store, "exec-1")).await;
    // Several polls later, still registered and still not ready.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let e = executor(&store, "exec-1").await.unwrap();
    assert!(!e.ready);
    assert!(e.signature.is_none());
    companion.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signature_is_published_and_checked() {
    let redis = RedisServer::start();
    let store = store(&redis.url(), "sig");
    let tf = TfServingStub::start("resnet").await;
    // A pinned version uses /versions/1 and /versions/1/metadata.
    let good = Companion::start(config(
        &redis.url(),
        "sig",
        "exec-good",
        tf.addr,
        IMAGE_LABEL,
        &["--model-version", "1"],
    ))
    .await
    .unwrap();
    let bad = Companion::start(config(
        &redis.url(),
        "sig",
        "exec-bad",
        tf.addr,
        ("classification", "text", "label"),
        &[],
    ))
    .await
    .unwrap();

    let e = wait_for("signature", SOON, || async {
        executor(&store, "exec-good")
            .await
            .filter(|e| e.ready && e.signature.is_some())
    })
    .await;
    assert_eq!(e.model_version, Some(1));
    let sig = e.signature.unwrap();
    assert_eq!(sig.name, "serving_default");
    assert_eq!(sig.inputs[0].name, "input_1");
    assert_eq!(sig.inputs[0].dtype, "DT_FLOAT");
    assert_eq!(sig.inputs[0].shape, Some(vec![-1, 224, 224, 3]));
    assert_eq!(sig.outputs[0].name, "predictions");
    assert_eq!(sig.outputs[0].shape, Some(vec![-1, 1000]));
    let metrics = http_get(good.admin_addr(), "/metrics").await.1;
    assert!(metrics.contains("mulambda_companion_signature_mismatch 0"));

    // Declared text input, but the signature takes a float image tensor: flagged, still served.
    let e = wait_for("bad signature", SOON, || async {
        executor(&store, "exec-bad")
            .await
            .filter(|e| e.signature.is_some())
    })
    .await;
    assert!(e.ready);
    let metrics = http_get(bad.admin_addr(), "/metrics").await.1;
    assert!(
        metrics.contains("mulambda_companion_signature_mismatch 1"),
        "{metrics}"
    );

    // The metadata is read once per set of available versions, not every poll.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let hits = tf.metadata_hits.load(std::sync::atomic::Ordering::Relaxed);
    assert!(hits <= 4, "metadata read {hits} times");
    good.shutdown().await;
    bad.shutdown().await;
}
