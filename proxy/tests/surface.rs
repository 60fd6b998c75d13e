//! The proxy's surface: errors in TF Serving's shape, admin endpoints, bodies, HTTP/2, and a
//! graceful shutdown that deregisters the client.

mod support;

use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Full};
use mulambda_testkit::RedisServer;
use support::*;

#[tokio::test]
async fn errors_in_tf_serving_shape() {
    let redis = RedisServer::start();
    let store = store(&redis.url(), "s1");
    let fake = FakeTfServing::start("only").await;
    register(&store, &executor("only", "m", IMAGE, 0.8, fake.endpoint())).await;
    let proxy = start_proxy(config(
        &redis.url(),
        "s1",
        "app-s1",
        IMAGE,
        &["--max-body", "1KiB", "--retry-buffer", "256"],
    ))
    .await;
    let base = format!("http://{}", proxy.app_addr());

    let cases: [(Method, &str, StatusCode); 6] = [
        (Method::GET, "/", StatusCode::NOT_FOUND),
        (Method::POST, "/v2/models/m:predict", StatusCode::NOT_FOUND),
        (
            Method::POST,
            "/v1/models/m:explode",
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            "/v1/models/m/versions/x:predict",
            StatusCode::BAD_REQUEST,
        ),
        (Method::GET, "/v1/models/m:predict", StatusCode::BAD_REQUEST),
        (Method::POST, "/v1/models", StatusCode::BAD_REQUEST),
    ];
    for (method, path, status) in cases {
        let r = request(method, &format!("{base}{path}"), &[], Bytes::new()).await;
        assert_eq!(r.status, status, "{path}");
        assert!(r.json()["error"].is_string(), "{path}");
    }
    // Oversize body: 413, by content-length up front.
    let big = Bytes::from(vec![b'1'; 2048]);
    let r = request(
        Method::POST,
        &format!("{base}/v1/models/m:predict"),
        &[],
        big,
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(r.json()["error"].as_str().unwrap().contains("1024"));
    // A body above the retry buffer but within the limit is streamed through intact.
    let mid = Bytes::from(vec![b'1'; 900]);
    let r = request(
        Method::POST,
        &format!("{base}/v1/models/m:predict"),
        &[],
        mid,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["body_len"], 900);
    // Chunked (no content-length): counted while reading and while streaming.
    let r = chunked_post(&format!("{base}/v1/models/m:predict"), 8, 64).await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    let r = chunked_post(&format!("{base}/v1/models/m:predict"), 32, 64).await;
    assert_eq!(r.0, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.1);
    // Bad per-request headers.
    let r = predict(&proxy, &[("x-mulambda-latency-weight", "-2")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json()["error"].as_str().unwrap().contains("latency"));
    let r = predict(&proxy, &[("x-mulambda-timeout-ms", "soon")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // A request timeout: 504.
    fake.delay_ms
        .store(2000, std::sync::atomic::Ordering::SeqCst);
    let r = predict(&proxy, &[("x-mulambda-timeout-ms", "100")]).await;
    assert_eq!(r.status, StatusCode::GATEWAY_TIMEOUT);
    assert!(r.json()["error"].is_string());
    fake.delay_ms.store(0, std::sync::atomic::Ordering::SeqCst);
    // Request ids are propagated.
    let r = predict(&proxy, &[("x-request-id", "req-42")]).await;
    assert_eq!(r.header("x-request-id"), "req-42");
    assert_eq!(r.json()["request_id"], "req-42");

    let m = metrics(&proxy).await;
    for needle in [
        "mulambda_proxy_requests_total{model=\"\",outcome=\"not_found\"} 2",
        "mulambda_proxy_requests_total{model=\"\",outcome=\"bad_request\"}",
        "mulambda_proxy_requests_total{model=\"\",outcome=\"too_large\"} 1",
        "mulambda_proxy_requests_total{model=\"m\",outcome=\"timeout\"} 1",
        "mulambda_proxy_requests_total{model=\"m\",outcome=\"success\"}",
        "mulambda_proxy_request_duration_seconds_bucket{model=\"m\"",
        "mulambda_proxy_selections_total{reason=\"best\"}",
        "mulambda_proxy_snapshot_executors 1",
        "mulambda_proxy_inflight_requests 0",
    ] {
        assert!(m.contains(needle), "{needle} missing:\n{m}");
    }
    proxy.shutdown().await;
}

#[tokio::test]
async fn no_match_and_no_snapshot_are_503_with_a_message() {
    let redis = RedisServer::start();
    let store = store(&redis.url(), "s2");
    let fake = FakeTfServing::start("img").await;
    register(&store, &executor("img", "m", IMAGE, 0.8, fake.endpoint())).await;
    let proxy = start_proxy(config(&redis.url(), "s2", "app-s2", NUMBER, &[])).await;
    let r = predict(&proxy, &[]).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    let msg = r.json()["error"].as_str().unwrap().to_string();
    assert!(
        msg.contains("regression") || msg.contains("model type"),
        "{msg}"
    );
    proxy.shutdown().await;

    // A store nobody listens on: no snapshot ever.
    let port = mulambda_testkit::free_loopback_port();
    let cfg = config(
        &format!("redis://127.0.0.1:{port}"),
        "s2",
        "app-s2b",
        IMAGE,
        &[],
    );
    let proxy = mulambda_proxy::Proxy::start(cfg).await.unwrap();
    let r = predict(&proxy, &[]).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.json()["error"], "no catalog snapshot loaded yet");
    let (status, body) = get(&format!("http://{}/ready", proxy.admin_addr())).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let (status, _) = get(&format!("http://{}/live", proxy.admin_addr())).await;
    assert_eq!(status, StatusCode::OK);
    proxy.shutdown().await;
}

#[tokio::test]
async fn admin_endpoints() {
    let redis = RedisServer::start();
    let store = store(&redis.url(), "s3");
    let fake = FakeTfServing::start("x").await;
    register(&store, &executor("x", "m", IMAGE, 0.8, fake.endpoint())).await;
    let proxy = start_proxy(config(&redis.url(), "s3", "app-s3", IMAGE, &[])).await;
    let admin = format!("http://{}", proxy.admin_addr());
    assert_eq!(
        get(&format!("{admin}/probe")).await,
        (StatusCode::OK, "ok\n".into())
    );
    assert_eq!(get(&format!("{admin}/live")).await.0, StatusCode::OK);
    let (status, body) = get(&format!("{admin}/ready")).await;
    assert_eq!(status, StatusCode::OK);
    let ready: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready["ready"], true);
    assert_eq!(ready["executors"], 1);
    let (status, body) = get(&format!("{admin}/metrics")).await;
    assert_eq!(status, StatusCode::OK);
    for name in [
        "mulambda_proxy_snapshot_age_seconds",
        "mulambda_proxy_snapshot_executors 1",
        "mulambda_proxy_store_connected 1",
        "mulambda_proxy_store_decode_errors_total 0",
        "mulambda_proxy_breaker_open_executors 0",
        "mulambda_proxy_retries_total{reason=\"connect_error\"} 0",
    ] {
        assert!(body.contains(name), "{name} missing:\n{body}");
    }
    let (status, body) = get(&format!("{admin}/explain?colour=blue")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(get(&format!("{admin}/nope")).await.0, StatusCode::NOT_FOUND);
    // The client is registered with its probe address (the admin listener).
    let clients = store.read_clients().await.unwrap();
    let me = clients
        .clients
        .iter()
        .find(|c| c.value.id.as_str() == "app-s3")
        .expect("client registered");
    assert_eq!(
        me.value.probe_addr.to_string(),
        proxy.admin_addr().to_string()
    );
    assert_eq!(me.value.criteria.hard.model_type.as_str(), "classification");
    proxy.shutdown().await;
}

#[tokio::test]
async fn http2_prior_knowledge() {
    let redis = RedisServer::start();
    let store = store(&redis.url(), "s4");
    let fake = FakeTfServing::start("h2").await;
    register(&store, &executor("h2", "m", IMAGE, 0.8, fake.endpoint())).await;
    let proxy = start_proxy(config(&redis.url(), "s4", "app-s4", IMAGE, &[])).await;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http::<Full<Bytes>>();
    for _ in 0..3 {
        let req = http::Request::post(format!("http://{}/v1/models/m:predict", proxy.app_addr()))
            .body(Full::new(Bytes::from_static(b"{\"instances\":[1]}")))
            .unwrap();
        let resp = client.request(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.version(), http::Version::HTTP_2);
        assert_eq!(resp.headers()["x-mulambda-executor"], "h2");
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["predictions"][0], 2.5);
    }
    proxy.shutdown().await;
}

#[tokio::test]
async fn graceful_shutdown_drains_and_deregisters() {
    let redis = RedisServer::start();
    let store = store(&redis.url(), "s5");
    let fake = FakeTfServing::start("slow").await;
    fake.delay_ms
        .store(500, std::sync::atomic::Ordering::SeqCst);
    register(&store, &executor("slow", "m", IMAGE, 0.8, fake.endpoint())).await;
    let proxy = start_proxy(config(&redis.url(), "s5", "app-s5", IMAGE, &[])).await;
    let registered = || async {
        store
            .read_clients()
            .await
            .unwrap()
            .clients
            .iter()
            .any(|c| c.value.id.as_str() == "app-s5")
    };
    wait_until("client registered", registered).await;

    let url = format!("http://{}/v1/models/m:predict", proxy.app_addr());
    let in_flight = tokio::spawn(async move {
        request(
            Method::POST,
            &url,
            &[],
            Bytes::from_static(b"{\"instances\":[1]}"),
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    let app = proxy.app_addr();
    let report = proxy.shutdown().await;
    assert!(report.drained);
    let r = in_flight.await.unwrap();
    assert_eq!(r.status, StatusCode::OK, "the in-flight request finished");
    assert!(!registered().await, "client deregistered");
    assert!(
        tokio::net::TcpStream::connect(app).await.is_err(),
        "no longer accepting"
    );
}

/// POSTs `chunks` chunks of `size` bytes without a content-length (chunked encoding).
async fn chunked_post(url: &str, chunks: usize, size: usize) -> (StatusCode, String) {
    use http_body_util::StreamBody;
    let frames: Vec<Result<hyper::body::Frame<Bytes>, std::io::Error>> = (0..chunks)
        .map(|_| Ok(hyper::body::Frame::data(Bytes::from(vec![b'1'; size]))))
        .collect();
    let body = StreamBody::new(futures_util::stream::iter(frames));
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http();
    let req = http::Request::post(url).body(body).unwrap();
    match tokio::time::timeout(Duration::from_secs(10), client.request(req)).await {
        Ok(Ok(resp)) => {
            let status = resp.status();
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            (status, String::from_utf8_lossy(&body).into_owned())
        }
        Ok(Err(e)) => (StatusCode::from_u16(599).unwrap(), e.to_string()),
        Err(_) => (StatusCode::from_u16(598).unwrap(), "timeout".into()),
    }
}

/// Sends raw bytes and reads until the proxy closes the connection: status and body.
async fn raw_exchange(addr: std::net::SocketAddr, raw: &[u8]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    // The proxy may answer and close before everything is written.
    let _ = s.write_all(raw).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

#[tokio::test]
async fn malformed_http_gets_tf_serving_error_bodies_on_both_listeners() {
    let redis = RedisServer::start();
    let store = store(&redis.url(), "s7");
    let fake = FakeTfServing::start("x").await;
    register(&store, &executor("x", "m", IMAGE, 0.8, fake.endpoint())).await;
    let proxy = start_proxy(config(&redis.url(), "s7", "app-s7", IMAGE, &[])).await;
    let huge = format!(
        "POST /v1/models/m:predict HTTP/1.1\r\nHost: x\r\nx-pad: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let cases: [(&[u8], u16); 4] = [
        (b"NOT HTTP AT ALL\r\n\r\n", 400),
        (
            b"POST /v1/models/m:predict HTTP/1.1\r\nbroken header\r\n\r\n",
            400,
        ),
        (
            b"GET /v1/models/m HTTP/1.1\r\nHost: x\r\nContent-Length: x\r\n\r\n",
            400,
        ),
        (huge.as_bytes(), 431),
    ];
    for addr in [proxy.app_addr(), proxy.admin_addr()] {
        for (raw, want) in cases {
            let (status, body) = raw_exchange(addr, raw).await;
            assert_eq!(status, want, "{addr}: {body}");
            let v: serde_json::Value = serde_json::from_str(&body)
                .unwrap_or_else(|e| panic!("{addr}: body not JSON ({e}): {body:?}"));
            assert!(v["error"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
        }
    }
    proxy.shutdown().await;
}

#[tokio::test]
async fn metric_children_of_a_model_that_left_the_catalog_are_removed() {
    let redis = RedisServer::start();
    let store = store(&redis.url(), "s8");
    let (a, b) = (
        FakeTfServing::start("a").await,
        FakeTfServing::start("b").await,
    );
    register(&store, &executor("a", "stays", IMAGE, 0.8, a.endpoint())).await;
    register(&store, &executor("b", "leaves", IMAGE, 0.8, b.endpoint())).await;
    let proxy = start_proxy(config(&redis.url(), "s8", "app-s8", IMAGE, &[])).await;
    wait_until("both executors in the snapshot", || async {
        metrics(&proxy)
            .await
            .contains("mulambda_proxy_snapshot_executors 2")
    })
    .await;
    for model in ["stays", "leaves"] {
        let r = predict(&proxy, &[("x-mulambda-model", model)]).await;
        assert_eq!(r.status, StatusCode::OK, "{model}");
    }
    let m = metrics(&proxy).await;
    assert!(m.contains("model=\"leaves\""), "{m}");

    store
        .deregister_executor(&mulambda_catalog::Id::parse("b").unwrap())
        .await
        .unwrap();
    wait_until("the model's series removed", || async {
        !metrics(&proxy).await.contains("model=\"leaves\"")
    })
    .await;
    let m = metrics(&proxy).await;
    assert!(
        m.contains("mulambda_proxy_requests_total{model=\"stays\",outcome=\"success\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("mulambda_proxy_request_duration_seconds_count{model=\"stays\"} 1"),
        "{m}"
    );
    proxy.shutdown().await;
}
