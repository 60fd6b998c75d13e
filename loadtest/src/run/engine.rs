//! The open-loop engine: a dispatcher that releases requests on schedule into a queue, and one
//! worker per connection that takes them in order.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, header};
use http_body_util::Full;
use mulambda_catalog::names::headers::EXECUTOR;
use tokio::sync::{Mutex, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::client::{Connection, FailureKind};
use super::config::{LoadConfig, Target, due_offset};
use super::sample::{Outcome, Sample};

/// A request released by the dispatcher.
#[derive(Debug, Clone, Copy)]
struct Job {
    index: u64,
    due: Instant,
}

/// What every worker shares.
struct Shared {
    addr: SocketAddr,
    request: Request<Full<Bytes>>,
    timeout: Duration,
    t0: Instant,
    queue: Mutex<mpsc::UnboundedReceiver<Job>>,
}

/// Raw result of the engine.
pub struct EngineOutput {
    /// Every request's record, in no particular order.
    pub samples: Vec<Sample>,
    /// Whether the run was cancelled before the schedule ended.
    pub cancelled: bool,
}

/// Runs the schedule against `addr`.
pub async fn run(
    config: &LoadConfig,
    target: &Target,
    addr: SocketAddr,
    total: u64,
    cancel: CancellationToken,
) -> EngineOutput {
    let mut builder = Request::builder()
        .method(config.method.clone())
        .uri(config.path.as_str())
        .header(header::HOST, target.authority.as_str());
    if !config.body.is_empty() {
        builder = builder.header(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    let mut request = builder
        .body(Full::new(config.body.clone()))
        .unwrap_or_else(|_| Request::new(Full::new(config.body.clone())));
    for (name, value) in &config.headers {
        request.headers_mut().insert(name.clone(), value.clone());
    }

    // Open the connections before the clock starts, so the first requests do not pay for them.
    let mut opening = tokio::task::JoinSet::new();
    for _ in 0..config.connections {
        opening.spawn(async move {
            tokio::time::timeout(Duration::from_secs(5), Connection::open(addr))
                .await
                .ok()
                .and_then(Result::ok)
        });
    }
    let mut connections = Vec::with_capacity(config.connections);
    while let Some(conn) = opening.join_next().await {
        connections.push(conn.ok().flatten());
    }

    let (tx, rx) = mpsc::unbounded_channel();
    let t0 = Instant::now() + Duration::from_millis(5);
    let shared = Arc::new(Shared {
        addr,
        request,
        timeout: config.timeout,
        t0,
        queue: Mutex::new(rx),
    });
    let mut workers = tokio::task::JoinSet::new();
    for conn in connections {
        workers.spawn(worker(Arc::clone(&shared), conn, cancel.clone()));
    }

    // Dispatcher: release request i at t0 + i/rate, whatever the responses do.
    let mut cancelled = false;
    for index in 0..total {
        let due = t0 + due_offset(index, config.rate);
        if due > Instant::now() {
            tokio::select! {
                () = tokio::time::sleep_until(due) => {}
                () = cancel.cancelled() => { cancelled = true; break; }
            }
        }
        if tx.send(Job { index, due }).is_err() {
            break;
        }
    }
    drop(tx);

    let mut samples = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    while let Some(done) = workers.join_next().await {
        if let Ok(mut s) = done {
            samples.append(&mut s);
        }
    }
    EngineOutput {
        samples,
        cancelled: cancelled || cancel.is_cancelled(),
    }
}

/// Takes jobs in order and sends each on this worker's connection.
async fn worker(
    shared: Arc<Shared>,
    mut conn: Option<Connection>,
    cancel: CancellationToken,
) -> Vec<Sample> {
    let mut samples = Vec::new();
    let mut executors: HashMap<HeaderValue, Arc<str>> = HashMap::new();
    loop {
        let job = {
            let mut queue = shared.queue.lock().await;
            tokio::select! {
                job = queue.recv() => job,
                () = cancel.cancelled() => None,
            }
        };
        let Some(job) = job else { break };
        let deadline = job.due + shared.timeout;
        let since = |t: Instant| t.saturating_duration_since(shared.t0);
        let mut sample = Sample {
            index: job.index,
            due: since(job.due),
            sent: None,
            done: Duration::ZERO,
            outcome: Outcome::Failed(FailureKind::Timeout),
            executor: None,
        };
        if Instant::now() >= deadline {
            // Waited in the queue past its timeout: never sent.
            sample.done = since(Instant::now());
            samples.push(sample);
            continue;
        }
        let mut sent_at: Option<Instant> = None;
        let attempt = tokio::time::timeout_at(deadline, async {
            if !conn.as_ref().is_some_and(Connection::is_usable) {
                conn = None;
                conn = Some(Connection::open(shared.addr).await?);
            }
            let c = conn.as_mut().ok_or(FailureKind::Connect)?;
            let sent = Instant::now();
            sent_at = Some(sent);
            let result = c.send(clone_request(&shared.request)).await;
            Ok::<_, FailureKind>((sent, result))
        })
        .await;
        let now = Instant::now();
        sample.done = since(now);
        match attempt {
            Err(_elapsed) => {
                // The connection may still carry the late answer: discard it.
                conn = None;
                sample.sent = sent_at.map(since);
                sample.outcome = Outcome::Failed(FailureKind::Timeout);
            }
            Ok(Err(kind)) => {
                conn = None;
                sample.outcome = Outcome::Failed(kind);
            }
            Ok(Ok((sent, result))) => {
                sample.sent = Some(since(sent));
                match result {
                    Ok((response, _len)) => {
                        sample.outcome = Outcome::Status(response.status().as_u16());
                        if let Some(value) = response.headers().get(EXECUTOR) {
                            let name = executors.entry(value.clone()).or_insert_with(|| {
                                Arc::from(String::from_utf8_lossy(value.as_bytes()).as_ref())
                            });
                            sample.executor = Some(Arc::clone(name));
                        }
                    }
                    Err(kind) => {
                        conn = None;
                        sample.outcome = Outcome::Failed(kind);
                    }
                }
            }
        }
        samples.push(sample);
    }
    samples
}

fn clone_request(template: &Request<Full<Bytes>>) -> Request<Full<Bytes>> {
    let mut request = Request::new(template.body().clone());
    *request.method_mut() = template.method().clone();
    *request.uri_mut() = template.uri().clone();
    *request.headers_mut() = template.headers().clone();
    request
}
