//! Orderly shutdown (what SIGTERM triggers) against a real redis-server.

mod common;

use std::time::Duration;

use common::*;
use mulambda_companion::{Companion, run};
use mulambda_testkit::RedisServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_removes_the_executor_and_its_latencies_at_once() {
    let redis = RedisServer::start();
    let store = store(&redis.url(), "stop");
    let tf = TfServingStub::start("resnet").await;
    let target = ProbeTarget::start(Duration::ZERO).await;
    register_client(&store, "c-1", target.addr, IMAGE_LABEL).await;
    // Long heartbeat and row TTL: only an explicit removal can make them vanish quickly.
    let companion = Companion::start(config(
        &redis.url(),
        "stop",
        "exec-1",
        tf.addr,
        IMAGE_LABEL,
        &["--heartbeat", "10s", "--row-ttl", "60s"],
    ))
    .await
    .unwrap();
    wait_for("ready and probed", SOON, || async {
        let view = store.read_executors().await.ok()?;
        let ready = view.executors.iter().any(|e| e.value.ready);
        let probed = latency(&store, "c-1", "exec-1").await.is_some();
        (ready && probed).then_some(())
    })
    .await;

    let report = companion.shutdown().await;
    assert_eq!(report.latency_entries_removed, 1);
    assert!(!report.latency_removal_failed);
    // Immediately: no executor, no latency entry.
    let view = store.read_executors().await.unwrap();
    assert!(view.executors.is_empty(), "{:?}", view.executors);
    assert!(latency(&store, "c-1", "exec-1").await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_until_a_signal_then_deregister() {
    let redis = RedisServer::start();
    let store = store(&redis.url(), "stop-run");
    let tf = TfServingStub::start("resnet").await;
    let config = config(
        &redis.url(),
        "stop-run",
        "exec-1",
        tf.addr,
        IMAGE_LABEL,
        &["--heartbeat", "10s"],
    );
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(run(config, async {
        let _ = stop_rx.await;
    }));
    wait_for("registered", SOON, || async {
        let view = store.read_executors().await.ok()?;
        (!view.executors.is_empty()).then_some(())
    })
    .await;
    stop_tx.send(()).unwrap();
    running.await.unwrap().unwrap();
    assert!(store.read_executors().await.unwrap().executors.is_empty());
}
