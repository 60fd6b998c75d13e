//! The load generator against the simulator: it holds its target rate and reports what
//! happened. Count-based assertions only; latencies are not asserted (noisy machines).

use std::time::Duration;

use mulambda_loadtest::run::{LoadConfig, run_load};
use mulambda_loadtest::sim::{Fault, ServiceTime, SimConfig, SimServer};

async fn sim(base_ms: f64) -> SimServer {
    let mut config = SimConfig::named("rate");
    config.timing = ServiceTime {
        base_ms,
        ..ServiceTime::default()
    };
    SimServer::start(config).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holds_target_rate() {
    let s = sim(1.0).await;
    let config = LoadConfig {
        rate: 500.0,
        duration: Some(Duration::from_secs(2)),
        warmup: Duration::from_millis(200),
        connections: 16,
        ..LoadConfig::new(s.url())
    };
    let report = run_load(config).await.unwrap();
    assert_eq!(report.warmup_requests, 100);
    assert_eq!(report.scheduled, 1000);
    assert_eq!(report.sent, 1000, "{report}");
    assert_eq!(report.completed, 1000, "{report}");
    assert_eq!(report.succeeded, 1000, "{report}");
    assert!((report.schedule_span_s - 2.0).abs() < 1e-9);
    // Achieved rates within ±5 % of the target.
    for (what, rps) in [
        ("send", report.send_rate_rps),
        ("throughput", report.throughput_rps),
    ] {
        assert!(
            (rps - 500.0).abs() <= 25.0,
            "{what} rate {rps:.1} not within 5 % of 500:\n{report}"
        );
    }
    assert!(report.errors.is_empty());
    assert_eq!(report.status_codes[&200], 1000);
    // Warm-up plus 2 s in 1 s buckets.
    assert!(report.timeline.len() >= 3, "{:?}", report.timeline.len());
    assert!(report.timeline[0].warmup);
    let in_timeline: u64 = report.timeline.iter().map(|b| b.all.requests).sum();
    assert_eq!(in_timeline, 1100);
    assert!(report.latency.p50_ms > 0.0);
    assert_eq!(s.stats().inference_ok, 1100);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_bound_and_errors_by_kind() {
    let s = sim(0.0).await;
    s.set_fault(Fault {
        error_rate: 1.0,
        error_status: 500,
        ..Fault::none()
    })
    .unwrap();
    let config = LoadConfig {
        rate: 200.0,
        duration: None,
        count: Some(50),
        warmup: Duration::ZERO,
        connections: 4,
        ..LoadConfig::new(s.url())
    };
    let report = run_load(config).await.unwrap();
    assert_eq!(report.scheduled, 50);
    assert_eq!(report.completed, 50);
    assert_eq!(report.succeeded, 0);
    assert_eq!(report.errors["http_5xx"], 50);
    assert_eq!(report.executors["(none)"].responses, 50);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_drops_and_connect_errors_are_counted() {
    let s = sim(0.0).await;
    s.set_fault(Fault::always_stall()).unwrap();
    let base = LoadConfig {
        rate: 100.0,
        duration: None,
        count: Some(10),
        warmup: Duration::ZERO,
        connections: 2,
        timeout: Duration::from_millis(200),
        ..LoadConfig::new(s.url())
    };
    let report = run_load(base.clone()).await.unwrap();
    assert_eq!(report.errors["timeout"], 10, "{report}");

    s.set_fault(Fault::always_drop()).unwrap();
    let report = run_load(LoadConfig {
        timeout: Duration::from_secs(5),
        ..base.clone()
    })
    .await
    .unwrap();
    assert_eq!(report.errors["connection"], 10, "{report}");

    let url = s.url();
    s.kill().await;
    let report = run_load(LoadConfig {
        timeout: Duration::from_secs(5),
        ..LoadConfig {
            target: url,
            ..base
        }
    })
    .await
    .unwrap();
    assert_eq!(report.errors["connect"], 10, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executor_header_is_counted() {
    // A tiny hyper server that names itself like the proxy does.
    use bytes::Bytes;
    use http_body_util::Full;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let svc = service_fn(|_req| async {
                    let mut resp = http::Response::new(Full::new(Bytes::from_static(b"{}")));
                    resp.headers_mut().insert(
                        mulambda_catalog::names::headers::EXECUTOR,
                        http::HeaderValue::from_static("exec-a"),
                    );
                    Ok::<_, std::convert::Infallible>(resp)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    let config = LoadConfig {
        rate: 100.0,
        duration: None,
        count: Some(20),
        warmup: Duration::ZERO,
        connections: 2,
        ..LoadConfig::new(format!("http://{addr}"))
    };
    let report = run_load(config).await.unwrap();
    assert_eq!(report.executors["exec-a"].responses, 20);
    assert_eq!(report.executors["exec-a"].succeeded, 20);
    assert!(
        report
            .timeline
            .iter()
            .all(|b| b.executors.contains_key("exec-a"))
    );
    server.abort();
}
