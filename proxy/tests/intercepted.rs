//! Intercepted mode without root: the application listener binds both loopback addresses at
//! one port and serves direct calls on each exactly as localhost mode does (the redirect itself
//! needs a network namespace and nftables: `tests/intercepted_netns.rs`).

mod support;

use http::StatusCode;
use mulambda_testkit::RedisServer;
use support::*;

/// A port free on both 127.0.0.1 and ::1 a moment ago.
fn port_free_on_both_loopbacks() -> u16 {
    loop {
        let v4 = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = v4.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("::1", port)).is_ok() {
            return port;
        }
    }
}

#[tokio::test]
async fn intercepted_mode_listens_on_both_loopbacks_and_serves_direct_calls_unchanged() {
    let redis = RedisServer::start();
    let store = store(&redis.url(), "ic");
    let tf = FakeTfServing::start("tf").await;
    register(&store, &executor("tf", "resnet", IMAGE, 0.9, tf.endpoint())).await;

    let port = port_free_on_both_loopbacks();
    let listen = format!("127.0.0.1:{port}");
    let mapping = format!("8501={port},8500=18500");
    let mut config = config(
        &redis.url(),
        "ic",
        "app-ic",
        IMAGE,
        &["--intercept-redirect", &mapping],
    );
    config.listen = listen.parse().unwrap();
    let proxy = start_proxy(config).await;
    let addrs: Vec<String> = proxy.app_addrs().iter().map(|a| a.to_string()).collect();
    assert_eq!(addrs, [listen.clone(), format!("[::1]:{port}")]);

    wait_until("the executor in the snapshot", || async {
        explain(&proxy, "").await["total"] == 1
    })
    .await;
    for addr in &addrs {
        let r = request(
            http::Method::POST,
            &format!("http://{addr}/v1/models/anything:predict"),
            &[],
            bytes::Bytes::from_static(b"{\"instances\": [1.0]}"),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{addr}: {:?}", r.body);
        assert_eq!(r.header("x-mulambda-executor"), "tf", "{addr}");
        // Direct: no original destination.
        assert_eq!(r.header("x-mulambda-original-dst"), "", "{addr}");
    }
    let m = metrics(&proxy).await;
    for line in [
        "mulambda_proxy_intercepted_connections_total{outcome=\"served\",port=\"8501\"} 0",
        "mulambda_proxy_intercepted_connections_total{outcome=\"refused\",port=\"other\"} 0",
        "mulambda_proxy_intercepted_requests_total{port=\"8501\"} 0",
    ] {
        assert!(m.contains(line), "{line} not in\n{m}");
    }
    proxy.shutdown().await;
}

#[tokio::test]
async fn localhost_mode_binds_one_address_and_exports_no_interception_metrics() {
    let redis = RedisServer::start();
    let proxy = start_proxy(config(&redis.url(), "lh", "app-lh", IMAGE, &[])).await;
    assert_eq!(proxy.app_addrs().len(), 1);
    assert!(!metrics(&proxy).await.contains("intercepted"));
    proxy.shutdown().await;
}
