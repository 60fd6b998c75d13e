//! Shared pieces of the companion's integration tests: real HTTP servers on 127.0.0.1:0 (probe
//! targets and a TF Serving stand-in), a configuration with short intervals, and polling helpers.
#![allow(dead_code)]

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use mulambda_catalog::{
    Client, Criteria, Endpoint, Id, LatencyMeasurement, ModelTraits, SoftCriteria, Store,
    StoreConfig,
};
use mulambda_companion::Config;
use tokio::net::TcpListener;

type Handler = Arc<
    dyn Fn(Request<Incoming>) -> Pin<Box<dyn Future<Output = Response<Full<Bytes>>> + Send>>
        + Send
        + Sync,
>;

/// Serves `handler` on a fresh loopback port until the runtime ends.
pub async fn serve(handler: Handler) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let handler = handler.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let handler = handler.clone();
                    async move { Ok::<_, Infallible>(handler(req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

fn respond(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r
}

/// A `/probe` server answering after a fixed delay, counting hits.
pub struct ProbeTarget {
    pub addr: SocketAddr,
    pub hits: Arc<AtomicUsize>,
}

impl ProbeTarget {
    pub async fn start(delay: Duration) -> ProbeTarget {
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let addr = serve(Arc::new(move |req: Request<Incoming>| {
            let counter = counter.clone();
            Box::pin(async move {
                if req.uri().path() != "/probe" {
                    return respond(StatusCode::NOT_FOUND, "{\"error\": \"not found\"}");
                }
                counter.fetch_add(1, Ordering::Relaxed);
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                respond(StatusCode::OK, "ok")
            })
        }))
        .await;
        ProbeTarget { addr, hits }
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::Relaxed)
    }
}

/// What the TF Serving stand-in answers.
#[derive(Debug, Clone)]
pub struct StubState {
    /// The state reported for version 1.
    pub state: &'static str,
    /// Never answer (a hung TF Serving).
    pub hang: bool,
    /// The metadata body.
    pub metadata: String,
}

/// A TF Serving stand-in serving `/v1/models/{model}[/versions/1][/metadata]`.
pub struct TfServingStub {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<StubState>>,
    pub metadata_hits: Arc<AtomicUsize>,
}

pub const IMAGE_CLASSIFIER_METADATA: &str = r#"{
  "model_spec": {"name": "resnet", "signature_name": "", "version": "1"},
  "metadata": {"signature_def": {"signature_def": {
    "__saved_model_init_op": {"inputs": {}, "outputs": {"__saved_model_init_op":
        {"dtype": "DT_INVALID", "tensor_shape": {"dim": [], "unknown_rank": true}, "name": "NoOp"}},
        "method_name": ""},
    "serving_default": {
      "inputs": {"input_1": {"dtype": "DT_FLOAT", "tensor_shape": {"dim": [
          {"size": "-1", "name": ""}, {"size": "224", "name": ""},
          {"size": "224", "name": ""}, {"size": "3", "name": ""}], "unknown_rank": false},
          "name": "serving_default_input_1:0"}},
      "outputs": {"predictions": {"dtype": "DT_FLOAT", "tensor_shape": {"dim": [
          {"size": "-1", "name": ""}, {"size": "1000", "name": ""}], "unknown_rank": false},
          "name": "StatefulPartitionedCall:0"}},
      "method_name": "tensorflow/serving/predict"}}}}}"#;

impl TfServingStub {
    pub async fn start(model: &'static str) -> TfServingStub {
        let state = Arc::new(Mutex::new(StubState {
            state: "AVAILABLE",
            hang: false,
            metadata: IMAGE_CLASSIFIER_METADATA.to_string(),
        }));
        let metadata_hits = Arc::new(AtomicUsize::new(0));
        let (s, hits) = (state.clone(), metadata_hits.clone());
        let addr = serve(Arc::new(move |req: Request<Incoming>| {
            let (s, hits) = (s.clone(), hits.clone());
            Box::pin(async move {
                let now = s.lock().unwrap().clone();
                if now.hang {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                }
                let path = req.uri().path().to_string();
                let base = format!("/v1/models/{model}");
                let rest = path.strip_prefix(&base).unwrap_or("?");
                let rest = rest.strip_prefix("/versions/1").unwrap_or(rest);
                match rest {
                    "" => respond(
                        StatusCode::OK,
                        format!(
                            r#"{{"model_version_status": [{{"version": "1", "state": "{}",
                                "status": {{"error_code": "OK", "error_message": ""}}}}]}}"#,
                            now.state
                        ),
                    ),
                    "/metadata" => {
                        hits.fetch_add(1, Ordering::Relaxed);
                        respond(StatusCode::OK, now.metadata)
                    }
                    _ => respond(StatusCode::NOT_FOUND, r#"{"error": "Servable not found"}"#),
                }
            })
        }))
        .await;
        TfServingStub {
            addr,
            state,
            metadata_hits,
        }
    }

    pub fn set_state(&self, state: &'static str) {
        self.state.lock().unwrap().state = state;
    }

    pub fn set_hang(&self, hang: bool) {
        self.state.lock().unwrap().hang = hang;
    }
}

/// A configuration with short intervals for tests.
pub fn config(
    store_url: &str,
    prefix: &str,
    executor: &str,
    tfserving: SocketAddr,
    traits: (&str, &str, &str),
    extra: &[&str],
) -> Config {
    let tf = format!("http://{tfserving}");
    let mut args: Vec<String> = [
        "mulambda-companion",
        "--store-url",
        store_url,
        "--store-prefix",
        prefix,
        "--executor-id",
        executor,
        "--tfserving-url",
        &tf,
        "--rest-endpoint",
        &tfserving.to_string(),
        "--model-name",
        "resnet",
        "--model-type",
        traits.0,
        "--input-format",
        traits.1,
        "--output-format",
        traits.2,
        "--accuracy",
        "0.9",
        "--admin-listen",
        "127.0.0.1:0",
        "--heartbeat",
        "200ms",
        "--readiness-interval",
        "100ms",
        "--readiness-timeout",
        "300ms",
        "--probe-interval",
        "300ms",
        "--probe-timeout",
        "300ms",
        "--probe-ewma-alpha",
        "1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // Extra flags replace the defaults above.
    let mut i = 1;
    while i + 1 < args.len() {
        if extra.contains(&args[i].as_str()) {
            args.drain(i..i + 2);
        } else {
            i += 2;
        }
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    Config::try_parse_from(args).unwrap()
}

pub const IMAGE_LABEL: (&str, &str, &str) = ("classification", "image", "label");

pub fn store(url: &str, prefix: &str) -> Store {
    Store::new(StoreConfig::new(url).with_prefix(prefix)).unwrap()
}

pub fn id(s: &str) -> Id {
    Id::parse(s).unwrap()
}

/// Registers a client with a long lease.
pub async fn register_client(
    store: &Store,
    client: &str,
    probe_addr: SocketAddr,
    traits: (&str, &str, &str),
) {
    let c = Client {
        id: id(client),
        probe_addr: Endpoint::from(probe_addr),
        criteria: Criteria {
            hard: ModelTraits::parse(traits.0, traits.1, traits.2).unwrap(),
            soft: SoftCriteria::default(),
        },
        node: None,
        zone: None,
    };
    store
        .register_client(&c, Duration::from_secs(60), true)
        .await
        .unwrap();
}

/// This executor's entry in a client's latency row.
pub async fn latency(store: &Store, client: &str, executor: &str) -> Option<LatencyMeasurement> {
    store
        .read_poll(&id(client))
        .await
        .unwrap()
        .latencies
        .get(&id(executor))
        .copied()
}

/// Polls `check` every 25 ms until it returns `Some`, panicking with `what` after `within`.
pub async fn wait_for<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {within:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// GETs a path from a local server: (status, body).
pub async fn http_get(addr: SocketAddr, path: &str) -> (StatusCode, String) {
    let client = mulambda_companion::fetch::client(Duration::from_secs(2), Duration::from_secs(1));
    let uri = format!("http://{addr}{path}").parse().unwrap();
    let (status, body) =
        mulambda_companion::fetch::get(&client, uri, Duration::from_secs(5), 1 << 20)
            .await
            .unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// An address nothing listens on.
pub fn closed_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// Generous deadline for anything that should happen within a few rounds.
pub const SOON: Duration = Duration::from_secs(10);
