//! Test support: a tiny fake TF Serving REST server, catalog helpers, an HTTP client and a
//! proxy started in-process on ephemeral ports.
#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use mulambda_catalog::{
    Endpoint, Executor, Id, LatencyMeasurement, ModelName, ModelTraits, Store, StoreConfig,
};
use mulambda_proxy::{Config, Proxy};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// A fake TF Serving: answers predict/classify/regress, status and metadata like TF Serving,
/// and reports which backend answered and which path it saw.
pub struct FakeTfServing {
    pub name: String,
    pub addr: SocketAddr,
    pub requests: Arc<AtomicU64>,
    pub last_path: Arc<Mutex<String>>,
    /// When non-zero, every request is answered with this status.
    pub force_status: Arc<AtomicU16>,
    /// Delay before answering, ms.
    pub delay_ms: Arc<AtomicU64>,
    cancel: CancellationToken,
}

impl FakeTfServing {
    pub async fn start(name: &str) -> FakeTfServing {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let fake = FakeTfServing {
            name: name.to_string(),
            addr,
            requests: Arc::new(AtomicU64::new(0)),
            last_path: Arc::new(Mutex::new(String::new())),
            force_status: Arc::new(AtomicU16::new(0)),
            delay_ms: Arc::new(AtomicU64::new(0)),
            cancel: CancellationToken::new(),
        };
        let (name, requests, last_path, force, delay, cancel) = (
            fake.name.clone(),
            fake.requests.clone(),
            fake.last_path.clone(),
            fake.force_status.clone(),
            fake.delay_ms.clone(),
            fake.cancel.clone(),
        );
        tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let (stream, _) = tokio::select! {
                    _ = cancel.cancelled() => break,
                    a = listener.accept() => match a { Ok(a) => a, Err(_) => continue },
                };
                let (name, requests, last_path, force, delay) = (
                    name.clone(),
                    requests.clone(),
                    last_path.clone(),
                    force.clone(),
                    delay.clone(),
                );
                let service = service_fn(move |req: Request<Incoming>| {
                    let (name, requests, last_path, force, delay) = (
                        name.clone(),
                        requests.clone(),
                        last_path.clone(),
                        force.clone(),
                        delay.clone(),
                    );
                    async move {
                        requests.fetch_add(1, Ordering::SeqCst);
                        Ok::<_, Infallible>(answer(&name, req, &last_path, &force, &delay).await)
                    }
                });
                conns.spawn(async move {
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            // Killed: drop the listener and every open connection.
            drop(listener);
            conns.abort_all();
        });
        fake
    }

    /// Kills the server: the port refuses connections and open connections are closed.
    pub fn kill(&self) {
        self.cancel.cancel();
    }

    pub fn endpoint(&self) -> Endpoint {
        Endpoint::from(self.addr)
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }

    pub fn last_path(&self) -> String {
        self.last_path.lock().unwrap().clone()
    }
}

async fn answer(
    name: &str,
    req: Request<Incoming>,
    last_path: &Mutex<String>,
    force: &AtomicU16,
    delay: &AtomicU64,
) -> Response<Full<Bytes>> {
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    *last_path.lock().unwrap() = path.clone();
    let method = req.method().clone();
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = req.into_body().collect().await.map(|b| b.to_bytes());
    let d = delay.load(Ordering::SeqCst);
    if d > 0 {
        tokio::time::sleep(Duration::from_millis(d)).await;
    }
    let forced = force.load(Ordering::SeqCst);
    if forced != 0 {
        return json(
            StatusCode::from_u16(forced).unwrap(),
            serde_json::json!({ "error": format!("forced {forced} by {name}") }),
        );
    }
    let Ok(body) = body else {
        return json(
            StatusCode::BAD_REQUEST,
            serde_json::json!({"error": "body"}),
        );
    };
    let p = path.split('?').next().unwrap_or("");
    let v = if method == Method::POST
        && (p.ends_with(":predict") || p.ends_with(":regress") || p.ends_with(":classify"))
    {
        serde_json::json!({
            "predictions": [2.5],
            "backend": name,
            "path": path,
            "body_len": body.len(),
            "request_id": request_id,
        })
    } else if method == Method::GET && p.ends_with("/metadata") {
        serde_json::json!({
            "model_spec": {"name": model_of(p), "signature_name": "", "version": "1"},
            "metadata": {"signature_def": {}},
            "backend": name,
            "path": path,
        })
    } else if method == Method::GET && p.starts_with("/v1/models/") {
        serde_json::json!({
            "model_version_status": [{"version": "1", "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""}}],
            "backend": name,
            "path": path,
        })
    } else {
        return json(
            StatusCode::NOT_FOUND,
            serde_json::json!({"error": "not found"}),
        );
    };
    json(StatusCode::OK, v)
}

fn model_of(p: &str) -> String {
    p.trim_start_matches("/v1/models/")
        .split(['/', ':'])
        .next()
        .unwrap_or("")
        .to_string()
}

fn json(status: StatusCode, v: serde_json::Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(v.to_string())));
    *r.status_mut() = status;
    r.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    r
}

/// An executor record for a fake.
pub fn executor(
    id: &str,
    model: &str,
    traits: (&str, &str, &str),
    accuracy: f64,
    at: Endpoint,
) -> Executor {
    Executor {
        id: Id::parse(id).unwrap(),
        model_name: ModelName::parse(model).unwrap(),
        model_version: None,
        traits: ModelTraits::parse(traits.0, traits.1, traits.2).unwrap(),
        accuracy,
        rest_endpoint: at,
        grpc_endpoint: None,
        node: None,
        zone: None,
        ready: true,
        signature: None,
    }
}

pub const IMAGE: (&str, &str, &str) = ("classification", "image", "label");
pub const NUMBER: (&str, &str, &str) = ("regression", "number", "number");

pub fn store(url: &str, prefix: &str) -> Store {
    Store::new(StoreConfig::new(url).with_prefix(prefix)).unwrap()
}

pub async fn register(store: &Store, e: &Executor) {
    store
        .register_executor(e, Duration::from_secs(120), true)
        .await
        .unwrap();
}

/// Publishes `ms` as the latency from executor `exec` to client `client`.
pub async fn latency(store: &Store, exec: &str, client: &str, ms: f64) {
    let now = store.server_time_ms().await.unwrap();
    store
        .publish_latencies(
            &Id::parse(exec).unwrap(),
            &[(
                Id::parse(client).unwrap(),
                LatencyMeasurement::reachable(ms, 5, now),
            )],
            Duration::from_secs(120),
        )
        .await
        .unwrap();
}

/// A proxy configuration for tests: ephemeral loopback ports, fast polling, no ramp-in.
pub fn config(
    store_url: &str,
    prefix: &str,
    client: &str,
    traits: (&str, &str, &str),
    extra: &[&str],
) -> Config {
    let mut args: Vec<String> = [
        "mulambda-proxy",
        "--store-url",
        store_url,
        "--store-prefix",
        prefix,
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        "127.0.0.1:0",
        "--client-id",
        client,
        "--model-type",
        traits.0,
        "--input-format",
        traits.1,
        "--output-format",
        traits.2,
        "--poll-interval",
        "100ms",
        "--heartbeat",
        "300ms",
        "--ramp-up",
        "0s",
        "--drain-timeout",
        "5s",
        "--store-timeout",
        "500ms",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    Config::try_parse_from(args).unwrap()
}

pub async fn start_proxy(config: Config) -> Proxy {
    let p = Proxy::start(config).await.unwrap();
    wait_until("proxy ready", || async {
        get(&format!("http://{}/ready", p.admin_addr())).await.0 == StatusCode::OK
    })
    .await;
    p
}

/// Polls `cond` every 50 ms for up to 15 s; panics naming `what` on timeout.
pub async fn wait_until<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while tokio::time::Instant::now() < deadline {
        if cond().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

fn client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    }
}

pub async fn request(method: Method, url: &str, headers: &[(&str, &str)], body: Bytes) -> Reply {
    let mut req = Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(body)).unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(20), client().request(req))
        .await
        .expect("request timed out")
        .expect("request failed");
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

pub async fn get(url: &str) -> (StatusCode, String) {
    let req = Request::get(url).body(Full::new(Bytes::new())).unwrap();
    match tokio::time::timeout(Duration::from_secs(10), client().request(req)).await {
        Ok(Ok(resp)) => {
            let status = resp.status();
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            (status, String::from_utf8_lossy(&body).into_owned())
        }
        _ => (StatusCode::from_u16(599).unwrap(), String::new()),
    }
}

pub async fn predict(proxy: &Proxy, headers: &[(&str, &str)]) -> Reply {
    request(
        Method::POST,
        &format!("http://{}/v1/models/anything:predict", proxy.app_addr()),
        headers,
        Bytes::from_static(b"{\"instances\": [1.0]}"),
    )
    .await
}

pub async fn explain(proxy: &Proxy, query: &str) -> serde_json::Value {
    let (status, body) = get(&format!("http://{}/explain?{query}", proxy.admin_addr())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    serde_json::from_str(&body).unwrap()
}

pub fn chosen_id(explanation: &serde_json::Value) -> String {
    explanation["chosen"]["id"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

pub async fn metrics(proxy: &Proxy) -> String {
    get(&format!("http://{}/metrics", proxy.admin_addr()))
        .await
        .1
}
