//! The open-loop engine: a dispatcher that releases requests on schedule into a queue, and one
//! worker per connection that takes them in order.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::client::{Connection, FailureKind};
use super::config::{LoadConfig, Schedule, Target};
use super::request::{Recorder, Templates, attempt};
use super::sample::{Outcome, Sample};

/// A request released by the dispatcher.
#[derive(Debug, Clone, Copy)]
struct Job {
    index: u64,
    due: Instant,
    phase: Option<usize>,
}

/// What every worker shares.
struct Shared {
    addr: SocketAddr,
    templates: Templates,
    timeout: Duration,
    new_connection: bool,
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

/// Runs the open-loop `schedule` against `addr`.
pub async fn run(
    config: &LoadConfig,
    target: &Target,
    addr: SocketAddr,
    schedule: &Schedule,
    cancel: CancellationToken,
) -> EngineOutput {
    let total = schedule.total();
    // Open the connections before the clock starts, so the first requests do not pay for them
    // (with a new connection per request, every request pays for its own instead).
    let mut connections = Vec::with_capacity(config.connections);
    if config.new_connection_per_request {
        connections.resize_with(config.connections, || None);
    } else {
        let mut opening = tokio::task::JoinSet::new();
        for _ in 0..config.connections {
            opening.spawn(async move {
                tokio::time::timeout(Duration::from_secs(5), Connection::open(addr))
                    .await
                    .ok()
                    .and_then(Result::ok)
            });
        }
        while let Some(conn) = opening.join_next().await {
            connections.push(conn.ok().flatten());
        }
    }

    let (tx, rx) = mpsc::unbounded_channel();
    let t0 = Instant::now() + Duration::from_millis(5);
    let shared = Arc::new(Shared {
        addr,
        templates: Templates::new(config, target),
        timeout: config.timeout,
        new_connection: config.new_connection_per_request,
        t0,
        queue: Mutex::new(rx),
    });
    let mut workers = tokio::task::JoinSet::new();
    for conn in connections {
        workers.spawn(worker(Arc::clone(&shared), conn, cancel.clone()));
    }

    // Dispatcher: release request i at its due time, whatever the responses do.
    let mut cancelled = false;
    for index in 0..total {
        let due = t0 + schedule.due(index);
        if due > Instant::now() {
            tokio::select! {
                () = tokio::time::sleep_until(due) => {}
                () = cancel.cancelled() => { cancelled = true; break; }
            }
        }
        // The warm-up takes the first phase; the measured schedule is split into the phases.
        let phase = config.phase_of(index.saturating_sub(schedule.warmup), schedule.measured);
        if tx.send(Job { index, due, phase }).is_err() {
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
    let mut recorder = Recorder::default();
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
            confidence: None,
        };
        if Instant::now() >= deadline {
            // Waited in the queue past its timeout: never sent.
            sample.done = since(Instant::now());
            samples.push(sample);
            continue;
        }
        let mut sent_at: Option<Instant> = None;
        let result = tokio::time::timeout_at(
            deadline,
            attempt(
                &mut conn,
                shared.addr,
                shared.templates.request(job.phase),
                shared.new_connection,
                &mut sent_at,
            ),
        )
        .await;
        sample.done = since(Instant::now());
        sample.sent = sent_at.map(since);
        match result {
            Err(_elapsed) => {
                // The connection may still carry the late answer: discard it.
                conn = None;
                sample.outcome = Outcome::Failed(FailureKind::Timeout);
            }
            Ok(Err(kind)) => {
                // A request whose connection could not be opened was never sent.
                if kind == FailureKind::Connect {
                    sample.sent = None;
                }
                sample.outcome = Outcome::Failed(kind);
            }
            Ok(Ok(response)) => recorder.record(&mut sample, &response),
        }
        samples.push(sample);
    }
    samples
}
