//! The closed-loop engine: `streams` tasks, each sending its requests one after the other with
//! no think time — the next as soon as the previous one is answered (or has failed).
//!
//! There is no schedule, so a request's latency is measured from its actual start (its `due`
//! is its send time); with a new connection per request the connect counts, as in the original
//! prototype's clients. Request `r` of stream `s` has index `s · requests_per_stream + r`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::client::{Connection, FailureKind};
use super::config::{ClosedLoop, LoadConfig, Target};
use super::engine::EngineOutput;
use super::request::{Recorder, Templates, attempt};
use super::sample::{Outcome, Sample};

/// What every stream shares.
struct Shared {
    addr: SocketAddr,
    templates: Templates,
    timeout: Duration,
    new_connection: bool,
    t0: Instant,
}

/// Runs the closed loop against `addr`.
pub async fn run(
    config: &LoadConfig,
    closed: ClosedLoop,
    target: &Target,
    addr: SocketAddr,
    cancel: CancellationToken,
) -> EngineOutput {
    // Kept-alive connections are opened before the clock starts, as in the open loop.
    let mut connections = Vec::with_capacity(closed.streams);
    if config.new_connection_per_request {
        connections.resize_with(closed.streams, || None);
    } else {
        let mut opening = tokio::task::JoinSet::new();
        for _ in 0..closed.streams {
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
    let shared = Arc::new(Shared {
        addr,
        templates: Templates::new(config, target),
        timeout: config.timeout,
        new_connection: config.new_connection_per_request,
        t0: Instant::now(),
    });
    let mut streams = tokio::task::JoinSet::new();
    for (s, conn) in connections.into_iter().enumerate() {
        let phases: Vec<Option<usize>> = (0..closed.requests_per_stream)
            .map(|r| config.phase_of(r, closed.requests_per_stream))
            .collect();
        streams.spawn(stream(
            Arc::clone(&shared),
            s as u64 * closed.requests_per_stream,
            phases,
            conn,
            cancel.clone(),
        ));
    }
    let total = closed.streams as u64 * closed.requests_per_stream;
    let mut samples = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    while let Some(done) = streams.join_next().await {
        if let Ok(mut s) = done {
            samples.append(&mut s);
        }
    }
    EngineOutput {
        cancelled: cancel.is_cancelled(),
        samples,
    }
}

/// One stream: its requests in sequence, request `r` with phase `phases[r]`.
async fn stream(
    shared: Arc<Shared>,
    first_index: u64,
    phases: Vec<Option<usize>>,
    mut conn: Option<Connection>,
    cancel: CancellationToken,
) -> Vec<Sample> {
    let mut samples = Vec::with_capacity(phases.len());
    let mut recorder = Recorder::default();
    let since = |t: Instant| t.saturating_duration_since(shared.t0);
    for (r, phase) in phases.into_iter().enumerate() {
        if cancel.is_cancelled() {
            break;
        }
        let start = Instant::now();
        let mut sample = Sample {
            index: first_index + r as u64,
            due: since(start),
            sent: None,
            done: Duration::ZERO,
            outcome: Outcome::Failed(FailureKind::Timeout),
            executor: None,
            confidence: None,
        };
        let mut sent_at: Option<Instant> = None;
        let result = tokio::time::timeout(
            shared.timeout,
            attempt(
                &mut conn,
                shared.addr,
                shared.templates.request(phase),
                shared.new_connection,
                &mut sent_at,
            ),
        )
        .await;
        sample.done = since(Instant::now());
        sample.sent = sent_at.map(since);
        match result {
            Err(_elapsed) => {
                conn = None;
            }
            Ok(Err(kind)) => {
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
