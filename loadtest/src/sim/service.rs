//! The HTTP handler of one simulated executor.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde::Deserialize;

use super::config::{Fault, FaultKind, ServiceTime};
use super::error::{ApiError, json_response};
use super::json::parse_lenient;
use super::model::{self, Answer};
use super::route::{Inference, Route, VersionSelector, route};
use super::state::ExecutorState;
use super::status;

/// Largest request body accepted (bigger ones get 413).
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Returned instead of a response to make hyper close the connection without answering
/// (HTTP/1.1: the socket closes; HTTP/2: the stream is reset).
#[derive(Debug, thiserror::Error)]
#[error("simulated fault: connection dropped without a response")]
pub struct DropConnection;

/// Handles one request.
///
/// # Errors
/// [`DropConnection`] when a drop fault (or a stall interrupted by shutdown) hits.
pub async fn handle(
    state: Arc<ExecutorState>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, DropConnection> {
    state.count_request();
    let (parts, body) = req.into_parts();
    let routed = match route(&parts.method, parts.uri.path()) {
        Ok(r) => r,
        Err(e) => return Ok(e.into_response()),
    };
    let read_body = || async {
        match Limited::new(body, MAX_BODY_BYTES).collect().await {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(e)
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some() =>
            {
                Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "Request body too large",
                ))
            }
            Err(_) => Err(ApiError::invalid_argument(
                "Failed to read the request body",
            )),
        }
    };
    match routed {
        Route::Control(path) => {
            let body = match read_body().await {
                Ok(b) => b,
                Err(e) => return Ok(e.into_response()),
            };
            Ok(control(&state, &parts.method, &path, &body))
        }
        Route::Status { model, version } => Ok(json_or_error(
            check_model(&state, &model, false)
                .and_then(|()| status::status(&state.config, &version, state.is_available())),
        )),
        Route::Metadata { model, version } => Ok(json_or_error(
            check_model(&state, &model, false)
                .and_then(|()| status::metadata(&state.config, &version)),
        )),
        Route::Inference {
            model,
            version,
            method,
        } => {
            let (_guard, in_flight) = state.begin_inference();
            if let Err(e) = admit(&state, &model, &version) {
                return Ok(e.into_response());
            }
            let fault = state.fault.load_full();
            match fault.pick(rand::random::<f64>()) {
                Some(FaultKind::Drop) => {
                    state.count_fault();
                    return Err(DropConnection);
                }
                Some(FaultKind::Stall) => {
                    state.count_fault();
                    state.shutdown.cancelled().await;
                    return Err(DropConnection);
                }
                Some(FaultKind::Error) => {
                    state.count_fault();
                    let status = StatusCode::from_u16(fault.error_status)
                        .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
                    return Ok(
                        ApiError::new(status, "simulated fault: injected error").into_response()
                    );
                }
                None => {}
            }
            let body = match read_body().await {
                Ok(b) => b,
                Err(e) => return Ok(e.into_response()),
            };
            let answer = match compute(method, &body) {
                Ok(a) => a,
                Err(e) => return Ok(e.into_response()),
            };
            let delay = delay(&state.timing.load(), &fault, answer.elements, in_flight);
            if !delay.is_zero() {
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = state.shutdown.cancelled() => return Err(DropConnection),
                }
            }
            state.count_ok();
            Ok(json_response(StatusCode::OK, answer.body))
        }
    }
}

/// Service time for one request, faults' slowdown included.
pub fn delay(timing: &ServiceTime, fault: &Fault, elements: usize, in_flight: usize) -> Duration {
    let u = if timing.jitter_ms > 0.0 {
        rand::random::<f64>()
    } else {
        0.0
    };
    let ms = timing.millis(elements, in_flight, u) * fault.slow_factor + fault.extra_ms;
    Duration::from_secs_f64((ms / 1000.0).clamp(0.0, 3600.0))
}

fn compute(method: Inference, body: &[u8]) -> Result<Answer, ApiError> {
    let doc = parse_lenient(body).map_err(|e| {
        ApiError::invalid_argument(format!(
            "JSON Parse error: {e} at offset: {}",
            offset_of(body, e.line(), e.column())
        ))
    })?;
    match method {
        Inference::Predict => model::parse_predict(&doc).map(|req| model::predict(&req)),
        Inference::Examples(m) => model::examples(m, &doc),
    }
}

/// Byte offset of a serde_json (line, column) position, for TF-like parse error messages.
fn offset_of(body: &[u8], line: usize, column: usize) -> usize {
    let line_start: usize = body
        .split(|b| *b == b'\n')
        .take(line.saturating_sub(1))
        .map(|l| l.len() + 1)
        .sum();
    (line_start + column.saturating_sub(1)).min(body.len())
}

fn check_model(state: &ExecutorState, model: &str, inference: bool) -> Result<(), ApiError> {
    if model == state.config.model {
        Ok(())
    } else {
        Err(status::unknown_model(model, inference))
    }
}

/// Model, availability and version checks before an inference request is served.
fn admit(state: &ExecutorState, model: &str, version: &VersionSelector) -> Result<(), ApiError> {
    check_model(state, model, true)?;
    if !state.is_available() {
        return Err(ApiError::unavailable(format!(
            "Servable not available for request: {model} (simulated executor {} is unavailable)",
            state.config.name
        )));
    }
    status::resolve(&state.config, version, true).map(|_| ())
}

fn json_or_error(result: Result<serde_json::Value, ApiError>) -> Response<Full<Bytes>> {
    match result {
        Ok(v) => json_response(StatusCode::OK, v.to_string()),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AvailableBody {
    available: bool,
}

/// The control endpoint: `GET /-/sim/state`, `POST /-/sim/fault` (a [`Fault`] JSON; omitted
/// fields take their defaults, so `{}` clears all faults), `POST /-/sim/timing` (a
/// [`ServiceTime`] JSON), `POST /-/sim/available` (`{"available": bool}`).
fn control(
    state: &ExecutorState,
    method: &Method,
    path: &str,
    body: &[u8],
) -> Response<Full<Bytes>> {
    let bad =
        |e: serde_json::Error| ApiError::invalid_argument(format!("invalid control body: {e}"));
    let result: Result<(), ApiError> =
        match (method, path) {
            (&Method::GET, "state") => Ok(()),
            (&Method::POST, "fault") => serde_json::from_slice::<Fault>(body)
                .map_err(bad)
                .and_then(|f| {
                    f.validate()
                        .map_err(|e| ApiError::invalid_argument(e.to_string()))?;
                    state.fault.store(Arc::new(f));
                    Ok(())
                }),
            (&Method::POST, "timing") => serde_json::from_slice::<ServiceTime>(body)
                .map_err(bad)
                .and_then(|t| {
                    t.validate()
                        .map_err(|e| ApiError::invalid_argument(e.to_string()))?;
                    state.timing.store(Arc::new(t));
                    Ok(())
                }),
            (&Method::POST, "available") => serde_json::from_slice::<AvailableBody>(body)
                .map_err(bad)
                .map(|b| state.available.store(b.available, Ordering::Relaxed)),
            (_, "state" | "fault" | "timing" | "available") => Err(ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("{method} not allowed on /-/sim/{path}"),
            )),
            _ => Err(ApiError::not_found(format!("Not found: /-/sim/{path}"))),
        };
    match result {
        Ok(()) => json_response(StatusCode::OK, state_json(state).to_string()),
        Err(e) => e.into_response(),
    }
}

/// The executor's current state as served by `GET /-/sim/state`.
pub fn state_json(state: &ExecutorState) -> serde_json::Value {
    serde_json::json!({
        "name": state.config.name,
        "model": state.config.model,
        "available": state.is_available(),
        "timing": *state.timing.load_full(),
        "fault": *state.fault.load_full(),
        "stats": state.stats(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_error_offsets() {
        assert_eq!(offset_of(b"{\n  x", 2, 3), 4);
        assert_eq!(offset_of(b"", 1, 0), 0);
    }

    #[test]
    fn delay_combines_timing_and_fault() {
        let t = ServiceTime {
            base_ms: 2.0,
            ..ServiceTime::default()
        };
        assert_eq!(
            delay(&t, &Fault::slow(3.0, 4.0), 0, 1),
            Duration::from_millis(10)
        );
        assert_eq!(delay(&t, &Fault::none(), 0, 1), Duration::from_millis(2));
    }
}
