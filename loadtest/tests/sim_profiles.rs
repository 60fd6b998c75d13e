//! The simulator's model profiles through real clients: requests in flight slow the next one
//! by β each (REST and gRPC share the count), every answer carries its confidence (REST header
//! and body field, gRPC metadata), a seed makes the answers reproducible, and the in-flight
//! count is readable on the control socket. Timing is asserted only as lower bounds (sleeps
//! are never shorter than asked); no upper bounds on a loaded machine.

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mulambda_loadtest::eval::inflight::InFlightReader;
use mulambda_loadtest::sim::{CONFIDENCE_HEADER, Profile, ServiceTime, SimConfig, SimServer};
use mulambda_wire::serving::prediction_service_client::PredictionServiceClient;
use mulambda_wire::serving::{ModelSpec, PredictRequest};
use mulambda_wire::tf::{DataType, TensorProto, TensorShapeProto, tensor_shape_proto};

const PREDICT: &str = "/v1/models/half_plus_two:predict";
const TEN: &str = r#"{"instances": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]}"#;

/// Waits until `cond` holds, polling, for at most 20 s.
async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn grpc_predict(n: usize) -> PredictRequest {
    let x = TensorProto {
        dtype: DataType::DtFloat as i32,
        tensor_shape: Some(TensorShapeProto {
            dim: [n as i64, 1]
                .iter()
                .map(|&size| tensor_shape_proto::Dim {
                    size,
                    name: String::new(),
                })
                .collect(),
            unknown_rank: false,
        }),
        float_val: (0..n).map(|i| i as f32).collect(),
        ..TensorProto::default()
    };
    PredictRequest {
        model_spec: Some(ModelSpec {
            name: "half_plus_two".into(),
            ..ModelSpec::default()
        }),
        inputs: [("x".to_owned(), x)].into_iter().collect(),
        output_filter: Vec::new(),
    }
}

async fn grpc_client(addr: SocketAddr) -> PredictionServiceClient<tonic::transport::Channel> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .timeout(Duration::from_secs(20))
        .connect()
        .await
        .unwrap();
    PredictionServiceClient::new(channel)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn k_requests_in_flight_slow_the_next_by_k_beta() {
    // Base 1 s keeps the first requests in flight long after the last one arrives; β = 400 ms.
    let mut config = SimConfig::parse_spec("name=beta,grpc-port=0,seed=1").unwrap();
    config.timing = ServiceTime {
        base_ms: 1000.0,
        per_inflight_ms: 400.0,
        ..ServiceTime::default()
    };
    let s = SimServer::start(config).await.unwrap();
    let addr = s.local_addr();
    let k = 3;
    let mut holders = Vec::new();
    for _ in 0..k {
        holders.push(tokio::spawn(async move {
            common::post(addr, PREDICT, "{\"instances\": [1.0]}").await
        }));
    }
    wait_for("3 requests in flight", || s.stats().in_flight == k).await;
    // The (k+1)-th, over gRPC: the count is shared by both protocols.
    let mut client = grpc_client(s.grpc_addr().unwrap()).await;
    let start = Instant::now();
    let reply = client.predict(grpc_predict(1)).await.unwrap();
    let took = start.elapsed();
    assert!(reply.get_ref().outputs.contains_key("y"));
    // Service time = 1000 + k · 400 ms (a sleep is never shorter than asked).
    let floor = Duration::from_millis(1000 + 400 * k);
    assert!(
        took >= floor,
        "the request after {k} in flight took {took:?}, less than {floor:?}"
    );
    for h in holders {
        assert_eq!(h.await.unwrap().status, 200);
    }
    // Alone again, a request still takes the base time.
    let start = Instant::now();
    assert_eq!(
        common::post(addr, PREDICT, "{\"instances\": [1.0]}")
            .await
            .status,
        200
    );
    let alone = start.elapsed();
    assert!(alone >= Duration::from_millis(1000), "{alone:?}");
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_carry_their_confidence_over_rest_and_grpc() {
    let mut config =
        SimConfig::parse_spec("name=conf,profile=FastGood,grpc-port=0,seed=5").unwrap();
    // Keep the test quick: no service time, the profile's confidence only.
    config.timing = ServiceTime {
        base_ms: 0.0,
        ..ServiceTime::default()
    };
    let s = SimServer::start(config).await.unwrap();
    let profile = Profile::by_name("FastGood").unwrap();
    let levels: Vec<f64> = (0..3).map(|f| profile.confidence().value(f)).collect();
    let is_level = |c: f64| levels.iter().any(|l| (l - c).abs() < 1e-12);

    let mut seen = BTreeSet::new();
    for _ in 0..30 {
        let r = common::post(s.local_addr(), PREDICT, TEN).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let header: f64 = r.headers[CONFIDENCE_HEADER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let body = r.json();
        assert_eq!(body["confidence"].as_f64().unwrap(), header, "{}", r.body);
        assert_eq!(body["predictions"].as_array().unwrap().len(), 10);
        assert!(is_level(header), "{header} is not one of {levels:?}");
        seen.insert(header.to_bits());
    }
    assert!(seen.len() >= 2, "30 answers used a single level");

    // Classify answers carry it too.
    let r = common::post(
        s.local_addr(),
        "/v1/models/half_plus_two:classify",
        r#"{"signature_name": "classify_x_to_y", "examples": [{"x": 2.0}]}"#,
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(is_level(r.json()["confidence"].as_f64().unwrap()));

    // gRPC: response metadata.
    let mut client = grpc_client(s.grpc_addr().unwrap()).await;
    let reply = client.predict(grpc_predict(10)).await.unwrap();
    let c: f64 = reply
        .metadata()
        .get(CONFIDENCE_HEADER)
        .expect("confidence metadata")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(is_level(c));

    // Errors carry none.
    let r = common::post(s.local_addr(), PREDICT, "{}").await;
    assert_eq!(r.status, 400);
    assert!(r.headers.get(CONFIDENCE_HEADER).is_none());
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executors_without_a_confidence_model_answer_as_tf_serving() {
    let mut config = SimConfig::named("plain");
    config.timing.base_ms = 0.0;
    let s = SimServer::start(config).await.unwrap();
    let r = common::post(s.local_addr(), PREDICT, r#"{"instances": [1.0]}"#).await;
    assert_eq!(r.status, 200);
    assert!(r.headers.get(CONFIDENCE_HEADER).is_none());
    assert_eq!(r.body, r#"{"predictions": [2.5]}"#);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_seed_answers_the_same_sequence() {
    let start = |name: &str| {
        let mut config =
            SimConfig::parse_spec(&format!("name={name},profile=MidOK,seed=1234")).unwrap();
        config.timing.base_ms = 0.0;
        config.timing.per_element_us = 0.0;
        config.timing.jitter_ms = 0.0;
        SimServer::start(config)
    };
    let (a, b) = (start("a").await.unwrap(), start("b").await.unwrap());
    let mut sequences = Vec::new();
    for s in [&a, &b] {
        let mut seq = Vec::new();
        for _ in 0..20 {
            let r = common::post(s.local_addr(), PREDICT, TEN).await;
            seq.push(r.headers[CONFIDENCE_HEADER].to_str().unwrap().to_owned());
        }
        sequences.push(seq);
    }
    assert_eq!(sequences[0], sequences[1]);
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_is_readable_on_the_control_socket() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("sim.sock");
    let mut config =
        SimConfig::parse_spec(&format!("name=sock,control-socket={}", socket.display())).unwrap();
    config.timing.base_ms = 60_000.0; // held until shutdown
    let s = SimServer::start(config).await.unwrap();
    assert_eq!(s.control_socket(), Some(socket.as_path()));
    let mut reader = InFlightReader::new(&socket);
    let idle = reader.read().await.unwrap();
    assert_eq!((idle.in_flight, idle.inference), (0, 0));

    let addr = s.local_addr();
    let held: Vec<_> = (0..2)
        .map(|_| {
            tokio::spawn(async move {
                common::send(addr, http::Method::POST, PREDICT, "{\"instances\": [1.0]}").await
            })
        })
        .collect();
    wait_for("2 in flight", || s.stats().in_flight == 2).await;
    // The same reader (a kept-alive connection) sees them.
    let busy = reader.read().await.unwrap();
    assert_eq!((busy.in_flight, busy.inference), (2, 2));
    // The TCP port answers the same endpoint.
    let r = common::get(addr, "/-/sim/inflight").await;
    assert_eq!(r.json()["in_flight"], 2);
    assert_eq!(
        common::post(addr, "/-/sim/inflight", "").await.status,
        405,
        "inflight is read-only"
    );

    s.shutdown().await;
    for h in held {
        // Cut off by the shutdown: no answer.
        assert!(h.await.unwrap().is_err());
    }
    assert!(!socket.exists(), "the socket file is removed at shutdown");
    assert!(reader.read().await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_control_socket_is_not_taken_over_but_a_stale_one_is() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("sim.sock");
    let spec = format!("control-socket={}", socket.display());
    let first = SimServer::start(SimConfig::parse_spec(&spec).unwrap())
        .await
        .unwrap();
    let e = SimServer::start(SimConfig::parse_spec(&spec).unwrap())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("control-socket") && e.contains("listens"), "{e}");
    first.kill().await;
    // A stale socket file (a killed run's) is replaced.
    let _stale = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    drop(_stale);
    assert!(socket.exists());
    let second = SimServer::start(SimConfig::parse_spec(&spec).unwrap())
        .await
        .unwrap();
    assert!(InFlightReader::new(&socket).read().await.is_ok());
    second.shutdown().await;
    // Any other file is refused.
    std::fs::write(&socket, b"not a socket").unwrap();
    let e = SimServer::start(SimConfig::parse_spec(&spec).unwrap())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a socket"), "{e}");
}
