//! Routing against a real redis-server and real HTTP backends speaking TF Serving REST.

mod support;

use bytes::Bytes;
use http::{Method, StatusCode};
use mulambda_proxy::Proxy;
use mulambda_testkit::RedisServer;
use support::*;

/// Hard criteria are never bent; latency-first and accuracy-first weights choose differently;
/// the path's model name is rewritten to the executor's and its version dropped.
#[tokio::test]
async fn hard_criteria_and_weights() {
    let redis = RedisServer::start();
    let store = store(&redis.url(), "t1");
    let fast = FakeTfServing::start("fast").await;
    let accurate = FakeTfServing::start("accurate").await;
    let wrong = FakeTfServing::start("wrong").await;
    accurate
        .delay_ms
        .store(40, std::sync::atomic::Ordering::SeqCst);
    register(
        &store,
        &executor("fast", "mobilenet", IMAGE, 0.6, fast.endpoint()),
    )
    .await;
    register(
        &store,
        &executor("accurate", "resnet", IMAGE, 0.99, accurate.endpoint()),
    )
    .await;
    // Better in every soft respect, but the wrong model type.
    register(
        &store,
        &executor("wrong", "regressor", NUMBER, 1.0, wrong.endpoint()),
    )
    .await;
    latency(&store, "fast", "app-1", 1.0).await;
    latency(&store, "accurate", "app-1", 40.0).await;
    latency(&store, "wrong", "app-1", 0.1).await;

    let proxy = start_proxy(config(
        &redis.url(),
        "t1",
        "app-1",
        IMAGE,
        &["--latency-weight", "1", "--accuracy-weight", "0"],
    ))
    .await;
    wait_until("three executors in the snapshot", || async {
        explain(&proxy, "").await["total"] == 3
    })
    .await;

    for _ in 0..5 {
        let r = predict(&proxy, &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert_eq!(r.header("x-mulambda-executor"), "fast");
        assert_eq!(r.header("x-mulambda-model"), "mobilenet");
        assert_eq!(r.json()["path"], "/v1/models/mobilenet:predict");
    }
    // Accuracy first, by request headers: the other executor.
    for _ in 0..3 {
        let r = predict(
            &proxy,
            &[
                ("x-mulambda-latency-weight", "0"),
                ("x-mulambda-accuracy-weight", "1"),
            ],
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.header("x-mulambda-executor"), "accurate");
        assert_eq!(r.json()["backend"], "accurate");
    }
    // A version in the path is dropped unless a model is pinned; a pinned request keeps it.
    let url = format!(
        "http://{}/v1/models/alias/versions/3:predict",
        proxy.app_addr()
    );
    let r = request(
        Method::POST,
        &url,
        &[],
        Bytes::from_static(b"{\"instances\":[1]}"),
    )
    .await;
    assert_eq!(r.json()["path"], "/v1/models/mobilenet:predict");
    let r = request(
        Method::POST,
        &url,
        &[("x-mulambda-model", "resnet")],
        Bytes::from_static(b"{\"instances\":[1]}"),
    )
    .await;
    assert_eq!(r.header("x-mulambda-executor"), "accurate");
    assert_eq!(r.json()["path"], "/v1/models/resnet/versions/3:predict");
    assert!(
        r.header("x-mulambda-reason").starts_with("cand=1/3"),
        "{}",
        r.header("x-mulambda-reason")
    );
    // Pinning a model of the wrong type never bends the hard criteria.
    let r = predict(&proxy, &[("x-mulambda-model", "regressor")]).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.json()["error"].as_str().unwrap().len() > 10);
    assert_eq!(wrong.requests(), 0);

    // Status and metadata go to the executor selection would choose, renamed.
    let r = request(
        Method::GET,
        &format!("http://{}/v1/models/anything", proxy.app_addr()),
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["path"], "/v1/models/mobilenet");
    assert_eq!(r.json()["model_version_status"][0]["state"], "AVAILABLE");
    let r = request(
        Method::GET,
        &format!("http://{}/v1/models/anything/metadata", proxy.app_addr()),
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(r.json()["model_spec"]["name"], "mobilenet");
    assert!(!r.header("x-request-id").is_empty());
    proxy.shutdown().await;
}

/// A latency row updated in the store changes routing within a refresh; `/explain` and the
/// receipt header agree with the choice actually made.
#[tokio::test]
async fn latency_update_changes_routing_and_receipt_agrees() {
    let redis = RedisServer::start();
    let store = store(&redis.url(), "t2");
    let a = FakeTfServing::start("a").await;
    let b = FakeTfServing::start("b").await;
    register(&store, &executor("exec-a", "m-a", IMAGE, 0.9, a.endpoint())).await;
    register(&store, &executor("exec-b", "m-b", IMAGE, 0.9, b.endpoint())).await;
    latency(&store, "exec-a", "app-2", 2.0).await;
    latency(&store, "exec-b", "app-2", 80.0).await;
    let proxy = start_proxy(config(&redis.url(), "t2", "app-2", IMAGE, &[])).await;
    wait_until("exec-a chosen", || async {
        chosen_id(&explain(&proxy, "").await) == "exec-a"
    })
    .await;

    // Flip the figures (no generation bump: only the poll sees it).
    latency(&store, "exec-a", "app-2", 80.0).await;
    latency(&store, "exec-b", "app-2", 2.0).await;
    wait_until("exec-b chosen after the latency update", || async {
        chosen_id(&explain(&proxy, "").await) == "exec-b"
    })
    .await;

    let e = explain(&proxy, "").await;
    let r = predict(&proxy, &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("x-mulambda-executor"), "exec-b");
    assert_eq!(r.json()["backend"], "b");
    assert_eq!(e["chosen"]["id"], "exec-b");
    assert_eq!(e["chosen"]["model"], "m-b");
    // The receipt's decision part (before the figure ages) is the same in both.
    let header = r.header("x-mulambda-reason");
    let explained = e["reason_header"].as_str().unwrap();
    let decision = |s: &str| s.split(";age=").next().unwrap_or("").to_string();
    assert_eq!(
        decision(&header),
        decision(explained),
        "{header} vs {explained}"
    );
    assert!(header.starts_with("cand=2/2"), "{header}");
    // /explain with other criteria: nothing matches, and it says why.
    let e = explain(
        &proxy,
        "model_type=regression&input_format=number&output_format=number",
    )
    .await;
    assert!(e["chosen"].is_null());
    assert!(e["error"].as_str().unwrap().contains("regression"), "{e}");
    let m = metrics(&proxy).await;
    assert!(
        m.contains("mulambda_proxy_snapshot_refreshes_total{trigger=\"poll\"}"),
        "{m}"
    );
    proxy.shutdown().await;
}

/// The store dies: the proxy keeps serving from its snapshot and says so; the store returns
/// (empty): the proxy re-registers and sees a newly registered executor.
#[tokio::test]
async fn store_outage_is_fail_static_and_recovers() {
    let mut redis = RedisServer::start();
    let url = redis.url();
    let store = store(&url, "t3");
    let one = FakeTfServing::start("one").await;
    register(&store, &executor("one", "m1", IMAGE, 0.8, one.endpoint())).await;
    let proxy = start_proxy(config(&url, "t3", "app-3", IMAGE, &[])).await;
    wait_until("one executor", || async {
        explain(&proxy, "").await["total"] == 1
    })
    .await;

    redis.stop();
    wait_until("store disconnected", || async {
        metrics(&proxy)
            .await
            .contains("mulambda_proxy_store_connected 0")
    })
    .await;
    for _ in 0..5 {
        let r = predict(&proxy, &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert_eq!(r.header("x-mulambda-executor"), "one");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (status, body) = get(&format!("http://{}/ready", proxy.admin_addr())).await;
    assert_eq!(status, StatusCode::OK);
    let ready: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready["store_connected"], false);
    assert!(
        ready["snapshot_age_seconds"].as_f64().unwrap() > 0.2,
        "{ready}"
    );

    redis.restart();
    // The restarted store is empty: the client lease re-registers by itself.
    wait_until("client registered again", || async {
        store
            .read_clients()
            .await
            .map(|v| v.clients.iter().any(|c| c.value.id.as_str() == "app-3"))
            .unwrap_or(false)
    })
    .await;
    let two = FakeTfServing::start("two").await;
    register(&store, &executor("two", "m2", IMAGE, 0.9, two.endpoint())).await;
    wait_until("the new executor serves", || async {
        predict(&proxy, &[]).await.header("x-mulambda-executor") == "two"
    })
    .await;
    assert!(
        metrics(&proxy)
            .await
            .contains("mulambda_proxy_store_connected 1")
    );
    proxy.shutdown().await;
}

/// A dead backend or one answering 503: the client sees no error; the request went to the
/// next-best executor, and the receipt says it was retried.
#[tokio::test]
async fn failed_executor_is_retried_on_the_next_best() {
    let (_redis, best, second, proxy) = best_and_second("t4").await;
    let r = predict(&proxy, &[]).await;
    assert_eq!(r.header("x-mulambda-executor"), "best");

    // 503 from the best: retried.
    best.force_status
        .store(503, std::sync::atomic::Ordering::SeqCst);
    let r = predict(&proxy, &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.header("x-mulambda-executor"), "second");
    assert!(
        r.header("x-mulambda-reason").ends_with(";retry=1"),
        "{}",
        r.header("x-mulambda-reason")
    );
    best.force_status
        .store(0, std::sync::atomic::Ordering::SeqCst);

    best.kill();
    // Killed: connect errors, retried.
    for _ in 0..3 {
        let r = predict(&proxy, &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert_eq!(r.header("x-mulambda-executor"), "second");
        assert_eq!(r.json()["backend"], "second");
    }
    let m = metrics(&proxy).await;
    assert!(
        m.contains("mulambda_proxy_retries_total{reason=\"unavailable\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("mulambda_proxy_retries_total{reason=\"connect_error\"}"),
        "{m}"
    );

    // The last executor dead too: a 502 in TF Serving's shape.
    second.kill();
    let r = predict(&proxy, &[]).await;
    assert!(
        r.status == StatusCode::BAD_GATEWAY || r.status == StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        r.status
    );
    assert!(r.json()["error"].is_string());
    proxy.shutdown().await;
}

#[tokio::test]
async fn executor_crash_with_a_request_in_flight_is_retried() {
    let (_redis, best, _second, proxy) = best_and_second("t4b").await;
    // Killed with a request in flight: the connection is lost before any answer; the call is
    // idempotent, so it is retried on the next-best executor and the client sees no error.
    best.delay_ms
        .store(3_000, std::sync::atomic::Ordering::SeqCst);
    let before = best.requests();
    let in_flight = {
        let url = format!("http://{}/v1/models/any:predict", proxy.app_addr());
        tokio::spawn(async move {
            request(
                Method::POST,
                &url,
                &[],
                Bytes::from_static(br#"{"instances":[1.0]}"#),
            )
            .await
        })
    };
    wait_until("the slow request reached best", || async {
        best.requests() > before
    })
    .await;
    best.kill();
    let r = in_flight.await.unwrap();
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.header("x-mulambda-executor"), "second");
    assert!(
        r.header("x-mulambda-reason").ends_with(";retry=1"),
        "{}",
        r.header("x-mulambda-reason")
    );

    let m = metrics(&proxy).await;
    assert!(
        m.contains("mulambda_proxy_retries_total{reason=\"connection_lost\"} 1"),
        "{m}"
    );
    proxy.shutdown().await;
}

/// A proxy choosing between `best` (accurate, 1 ms away) and `second` (30 ms away), with `best`
/// already chosen. The store server is returned so it lives as long as the test.
async fn best_and_second(prefix: &str) -> (RedisServer, FakeTfServing, FakeTfServing, Proxy) {
    let redis = RedisServer::start();
    let store = store(&redis.url(), prefix);
    let best = FakeTfServing::start("best").await;
    let second = FakeTfServing::start("second").await;
    register(
        &store,
        &executor("best", "m-best", IMAGE, 0.95, best.endpoint()),
    )
    .await;
    register(
        &store,
        &executor("second", "m-second", IMAGE, 0.7, second.endpoint()),
    )
    .await;
    latency(&store, "best", "app-4", 1.0).await;
    latency(&store, "second", "app-4", 30.0).await;
    let proxy = start_proxy(config(&redis.url(), prefix, "app-4", IMAGE, &[])).await;
    wait_until("best chosen", || async {
        chosen_id(&explain(&proxy, "").await) == "best"
    })
    .await;
    (redis, best, second, proxy)
}
