//! The life of one inference request, shared by the REST and gRPC front ends: admission
//! (model, availability, version), the injected fault, the computation, the service time and
//! the answer's confidence. Both front ends go through [`serve`], so one model of timing (and
//! one in-flight count per executor) holds whichever protocol a request uses.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;

use super::config::{Fault, FaultKind, ServiceTime};
use super::error::ApiError;
use super::route::VersionSelector;
use super::state::ExecutorState;
use super::status;

/// How an inference request ends.
#[derive(Debug)]
pub enum Outcome<T> {
    /// The answer, after the service time, and its confidence (when the executor has a
    /// confidence model).
    Answer(T, Option<f64>),
    /// An error in TF Serving's terms (bad request, unknown model, injected error, …).
    Error(ApiError),
    /// No answer at all: the connection (HTTP/1.1) or stream (HTTP/2) is dropped.
    Drop,
}

/// A computed answer and the number of input elements it covered.
#[derive(Debug)]
pub struct Computed<T> {
    /// The answer.
    pub answer: T,
    /// Scalar input elements (drives the per-element service time).
    pub elements: usize,
}

/// Serves one inference request for `model` / `version`: counts it, admits it, applies the
/// injected fault, runs `compute` (which may read the body first) and waits the service time.
pub async fn serve<T>(
    state: &Arc<ExecutorState>,
    model: &str,
    version: &VersionSelector,
    compute: impl Future<Output = Result<Computed<T>, ApiError>>,
) -> Outcome<T> {
    let (_guard, in_flight) = state.begin_inference();
    // Every inference request takes its draws, admitted or not, so a seeded executor answers
    // the same sequence of requests the same way.
    let draws = state.draws.next();
    if let Err(e) = admit(state, model, version) {
        return Outcome::Error(e);
    }
    let fault = state.fault.load_full();
    match fault.pick(draws.fault) {
        Some(FaultKind::Drop) => {
            state.count_fault();
            return Outcome::Drop;
        }
        Some(FaultKind::Stall) => {
            state.count_fault();
            state.shutdown.cancelled().await;
            return Outcome::Drop;
        }
        Some(FaultKind::Error) => {
            state.count_fault();
            let status =
                StatusCode::from_u16(fault.error_status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            return Outcome::Error(ApiError::new(status, "simulated fault: injected error"));
        }
        None => {}
    }
    let computed = match compute.await {
        Ok(c) => c,
        Err(e) => return Outcome::Error(e),
    };
    // The in-flight count is the one at arrival: like the prototype's dummy model, a request's
    // service time is fixed when it arrives, by the requests already there.
    let delay = delay(
        &state.timing.load(),
        &fault,
        computed.elements,
        in_flight,
        draws.jitter,
    );
    if !delay.is_zero() {
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = state.shutdown.cancelled() => return Outcome::Drop,
        }
    }
    state.count_ok();
    let confidence = state
        .config
        .confidence
        .as_ref()
        .map(|c| c.draw(draws.confidence));
    Outcome::Answer(computed.answer, confidence)
}

/// Service time for one request, faults' slowdown included; `jitter` is a uniform draw in
/// [0, 1).
pub fn delay(
    timing: &ServiceTime,
    fault: &Fault,
    elements: usize,
    in_flight: usize,
    jitter: f64,
) -> Duration {
    let ms = timing.millis(elements, in_flight, jitter) * fault.slow_factor + fault.extra_ms;
    Duration::from_secs_f64((ms / 1000.0).clamp(0.0, 3600.0))
}

/// A confidence as written in the response header and body: the shortest decimal that reads
/// back as the same `f64`.
pub fn format_confidence(c: f64) -> String {
    format!("{c}")
}

/// Model, availability and version checks before an inference request is served.
fn admit(state: &ExecutorState, model: &str, version: &VersionSelector) -> Result<(), ApiError> {
    if model != state.config.model {
        return Err(status::servable_not_found(model, version));
    }
    if !state.is_available() {
        return Err(ApiError::unavailable(format!(
            "Servable not available for request: {model} (simulated executor {} is unavailable)",
            state.config.name
        )));
    }
    status::resolve(&state.config, version).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_combines_timing_and_fault() {
        let t = ServiceTime {
            base_ms: 2.0,
            ..ServiceTime::default()
        };
        assert_eq!(
            delay(&t, &Fault::slow(3.0, 4.0), 0, 1, 0.5),
            Duration::from_millis(10)
        );
        assert_eq!(
            delay(&t, &Fault::none(), 0, 1, 0.0),
            Duration::from_millis(2)
        );
        let t = ServiceTime {
            jitter_ms: 4.0,
            per_inflight_ms: 10.0,
            ..t
        };
        assert_eq!(
            delay(&t, &Fault::none(), 0, 3, 0.5),
            Duration::from_millis(24)
        );
    }
}
