//! An open-loop load generator.
//!
//! Requests are due at `t0 + i / rate` whatever the responses do; each request's latency is
//! measured from its *due* time, so waiting for a free connection counts (no coordinated
//! omission). A fixed pool of HTTP/1.1 keep-alive connections carries them, one in flight per
//! connection. The report ([`LoadReport`]) has HDR-histogram percentiles, errors by kind, the
//! executors that served (`x-mulambda-executor`) and a per-interval timeline.

mod client;
mod config;
mod engine;
mod report;
mod sample;

use tokio_util::sync::CancellationToken;

pub use client::FailureKind;
pub use config::{
    DEFAULT_BODY, DEFAULT_PATH, LoadConfig, LoadConfigError, due_offset, requests_before,
};
pub use report::{
    BucketStats, ExecutorSummary, LatencyHistogram, LoadReport, NO_EXECUTOR, Percentiles,
    ReportParams, TimelineBucket,
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
    let warmup_requests = config.warmup_requests();
    let scheduled = config.measured_requests();
    let total = warmup_requests + scheduled;
    tracing::info!(%addr, rate = config.rate, total, "load run starting");
    let output = engine::run(&config, &target, addr, total, cancel).await;
    let params = ReportParams {
        target: config.target.clone(),
        method: config.method.to_string(),
        path: config.path.clone(),
        rate: config.rate,
        connections: config.connections,
        warmup: config.warmup,
        timeout: config.timeout,
        warmup_requests,
        scheduled,
        interval: config.timeline_interval,
    };
    Ok(LoadReport::build(
        &params,
        &output.samples,
        output.cancelled,
    ))
}
