//! A load generator, open-loop by default, closed-loop on request.
//!
//! Open loop: requests are due at `t0 + i / rate` (or at a seeded Poisson process's arrivals)
//! whatever the responses do; each request's latency is measured from its *due* time, so
//! waiting for a free connection counts (no coordinated omission). A fixed pool of HTTP/1.1
//! keep-alive connections carries them, one in flight per connection. Closed loop
//! ([`ClosedLoop`]): S streams × R sequential requests, no think time. Either can open a new
//! connection per request. The report ([`LoadReport`]) has HDR-histogram percentiles, errors
//! by kind, the executors that served (`x-mulambda-executor`) with their share, the answers'
//! confidence (`x-mulambda-confidence`) and a per-interval timeline.

mod client;
mod closed;
mod config;
mod engine;
mod report;
mod request;
mod sample;

use tokio_util::sync::CancellationToken;

pub use client::FailureKind;
pub use config::{
    Arrival, ClosedLoop, DEFAULT_BODY, DEFAULT_PATH, LoadConfig, LoadConfigError, Phases, Schedule,
    due_offset, instances_body, requests_before,
};
pub use report::{
    BucketStats, ConfidenceSummary, ExecutorSummary, LatencyHistogram, LoadReport, NO_EXECUTOR,
    Percentiles, ReportParams, TimelineBucket,
};
pub use sample::{Outcome, Sample};

/// Errors that prevent a run from starting.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] LoadConfigError),
    /// The target's host did not resolve.
    #[error("resolving {host}: {reason}")]
    Resolve {
        /// Host.
        host: String,
        /// Why.
        reason: String,
    },
}

/// Runs a load test to the end of its schedule.
///
/// # Errors
/// [`LoadError`] when the configuration is invalid or the target does not resolve; failures of
/// individual requests are in the report.
pub async fn run_load(config: LoadConfig) -> Result<LoadReport, LoadError> {
    run_load_cancellable(config, CancellationToken::new()).await
}

/// Runs a load test until its schedule ends or `cancel` fires. On cancellation no further
/// request is released, workers stop taking queued ones, requests already on the wire finish
/// (bounded by the timeout), and the report covers what was done, with `cancelled: true`.
///
/// # Errors
/// As [`run_load`].
pub async fn run_load_cancellable(
    config: LoadConfig,
    cancel: CancellationToken,
) -> Result<LoadReport, LoadError> {
    let target = config.validate()?;
    let addr = tokio::net::lookup_host((target.host.as_str(), target.port))
        .await
        .map_err(|e| LoadError::Resolve {
            host: target.host.clone(),
            reason: e.to_string(),
        })?
        .next()
        .ok_or_else(|| LoadError::Resolve {
            host: target.host.clone(),
            reason: "no address".into(),
        })?;
    let (output, params) = match config.closed_loop {
        Some(closed) => {
            tracing::info!(%addr, streams = closed.streams, requests_per_stream = closed.requests_per_stream, "closed-loop run starting");
            let output = closed::run(&config, closed, &target, addr, cancel).await;
            let params = ReportParams {
                mode: "closed".into(),
                rate: 0.0,
                connections: closed.streams,
                warmup: std::time::Duration::ZERO,
                warmup_requests: 0,
                scheduled: config.measured_requests(),
                streams: closed.streams,
                requests_per_stream: closed.requests_per_stream,
                ..ReportParams::of(&config)
            };
            (output, params)
        }
        None => {
            let schedule = config.schedule();
            tracing::info!(%addr, rate = config.rate, total = schedule.total(), "load run starting");
            let output = engine::run(&config, &target, addr, &schedule, cancel).await;
            let params = ReportParams {
                warmup_requests: schedule.warmup,
                scheduled: schedule.measured,
                ..ReportParams::of(&config)
            };
            (output, params)
        }
    };
    Ok(LoadReport::build(
        &params,
        &output.samples,
        output.cancelled,
    ))
}
