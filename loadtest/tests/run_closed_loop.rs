//! The load tool's closed loop, Poisson arrivals, new connections per request, phases and
//! confidence recording, against the simulator and a small counting server. Counts only; no
//! latency is asserted.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use mulambda_loadtest::run::{Arrival, ClosedLoop, LoadConfig, instances_body, run_load};
use mulambda_loadtest::sim::{CONFIDENCE_HEADER, Profile, SimConfig, SimServer};

/// A server that counts accepted connections, names itself after the request's `x-phase`
/// header (as the proxy names the executor) and answers a fixed confidence.
struct Counting {
    url: String,
    accepted: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

async fn counting_server() -> Counting {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicU64::new(0));
    let count = Arc::clone(&accepted);
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            count.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                let svc = service_fn(|req: http::Request<hyper::body::Incoming>| async move {
                    let phase = req
                        .headers()
                        .get("x-phase")
                        .cloned()
                        .unwrap_or(http::HeaderValue::from_static("none"));
                    let mut resp = http::Response::new(Full::new(Bytes::from_static(b"{}")));
                    resp.headers_mut()
                        .insert(mulambda_catalog::names::headers::EXECUTOR, phase);
                    resp.headers_mut()
                        .insert(CONFIDENCE_HEADER, http::HeaderValue::from_static("0.25"));
                    Ok::<_, std::convert::Infallible>(resp)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Counting {
        url,
        accepted,
        task,
    }
}

fn closed(streams: usize, requests_per_stream: u64) -> Option<ClosedLoop> {
    Some(ClosedLoop {
        streams,
        requests_per_stream,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_loop_runs_streams_of_sequential_requests_and_records_confidence() {
    let mut sim = SimConfig::parse_spec("name=cl,profile=FastBad,seed=3").unwrap();
    // Quicker than the profile; its confidence stays.
    sim.timing.base_ms = 2.0;
    sim.timing.per_element_us = 0.0;
    sim.timing.per_inflight_ms = 0.0;
    let s = SimServer::start(sim).await.unwrap();
    let report = run_load(LoadConfig {
        closed_loop: closed(5, 40),
        body: instances_body(10, 1),
        ..LoadConfig::new(s.url())
    })
    .await
    .unwrap();
    assert_eq!(report.mode, "closed");
    assert_eq!((report.streams, report.requests_per_stream), (5, 40));
    assert_eq!((report.scheduled, report.completed), (200, 200), "{report}");
    assert_eq!(report.succeeded, 200, "{report}");
    assert_eq!(report.warmup_requests, 0);
    assert_eq!(s.stats().inference_ok, 200);
    // One request at a time per stream: never more than 5 in flight.
    let none = &report.executors["(none)"];
    assert!(
        (1..=5).contains(&none.peak_in_flight),
        "{}",
        none.peak_in_flight
    );
    assert!((none.share - 1.0).abs() < 1e-12);
    // Every answer's confidence, one of FastBad's levels; the mean near FastBad's (0.269);
    // seeded, with generous bounds.
    let fast_bad = Profile::by_name("FastBad").unwrap();
    assert_eq!(report.confidence.count, 200);
    assert!(
        (report.confidence.mean - fast_bad.mean_confidence()).abs() < 0.06,
        "{}",
        report.confidence.mean
    );
    assert!((report.confidence.max - fast_bad.confidence().max()).abs() < 1e-12);
    assert!(
        report
            .to_string()
            .contains("closed loop, 5 streams × 40 requests")
    );
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_connection_per_request_opens_one_per_request() {
    let server = counting_server().await;
    let report = run_load(LoadConfig {
        closed_loop: closed(2, 10),
        new_connection_per_request: true,
        ..LoadConfig::new(server.url.clone())
    })
    .await
    .unwrap();
    assert_eq!(report.succeeded, 20, "{report}");
    assert!(report.new_connection_per_request);
    assert_eq!(server.accepted.load(Ordering::Relaxed), 20);

    // Kept alive: one per stream.
    let before = server.accepted.load(Ordering::Relaxed);
    let report = run_load(LoadConfig {
        closed_loop: closed(2, 10),
        ..LoadConfig::new(server.url.clone())
    })
    .await
    .unwrap();
    assert_eq!(report.succeeded, 20, "{report}");
    assert_eq!(server.accepted.load(Ordering::Relaxed) - before, 2);

    // Open loop too.
    let before = server.accepted.load(Ordering::Relaxed);
    let report = run_load(LoadConfig {
        rate: 200.0,
        duration: None,
        count: Some(15),
        warmup: Duration::ZERO,
        connections: 3,
        new_connection_per_request: true,
        ..LoadConfig::new(server.url.clone())
    })
    .await
    .unwrap();
    assert_eq!(report.succeeded, 15, "{report}");
    assert_eq!(server.accepted.load(Ordering::Relaxed) - before, 15);
    server.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phases_split_each_stream_and_carry_their_headers() {
    let server = counting_server().await;
    let phase = |v: &'static str| {
        vec![(
            http::HeaderName::from_static("x-phase"),
            http::HeaderValue::from_static(v),
        )]
    };
    let report = run_load(LoadConfig {
        closed_loop: closed(3, 10),
        phases: vec![phase("a"), phase("b")],
        ..LoadConfig::new(server.url.clone())
    })
    .await
    .unwrap();
    // Each stream's first 5 requests in phase a, its last 5 in phase b.
    assert_eq!(report.executors["a"].responses, 15, "{report}");
    assert_eq!(report.executors["b"].responses, 15, "{report}");
    assert_eq!(report.confidence.count, 30);
    assert_eq!(report.confidence.median, 0.25);
    server.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poisson_arrivals_send_the_seeded_schedule() {
    let mut sim = SimConfig::named("poisson");
    sim.timing.base_ms = 0.0;
    let s = SimServer::start(sim).await.unwrap();
    let config = LoadConfig {
        rate: 300.0,
        duration: None,
        count: Some(150),
        warmup: Duration::from_millis(100),
        connections: 8,
        arrival: Arrival::Poisson { seed: 9 },
        ..LoadConfig::new(s.url())
    };
    let warmup = config.warmup_requests();
    let report = run_load(config).await.unwrap();
    assert_eq!(report.arrival, "poisson");
    assert_eq!(report.scheduled, 150);
    assert_eq!(report.warmup_requests, warmup);
    assert_eq!(report.completed, 150, "{report}");
    assert_eq!(s.stats().inference_ok, 150 + warmup);
    assert_eq!(
        report.confidence.count, 0,
        "no confidence model, none recorded"
    );
    s.shutdown().await;
}
