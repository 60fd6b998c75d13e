//! The HTTP (REST) handler of one simulated executor.

use std::io::Read as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde::Deserialize;

use super::CONFIDENCE_HEADER;
use super::config::{Fault, ServiceTime};
use super::error::{ApiError, json_response};
use super::infer::{self, Computed, Outcome};
use super::json::parse_lenient;
use super::model::{self, Answer};
use super::route::{Inference, Route, route};
use super::state::ExecutorState;
use super::status;

/// Largest request body accepted (bigger ones get 413).
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Largest gzip-decompressed body (TF Serving's `ZLib::kMaxUncompressedBytes`); a body that
/// inflates beyond it is treated as empty, as TF Serving does.
pub const MAX_UNCOMPRESSED_BYTES: u64 = 100 * 1024 * 1024;

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
    // TF Serving matches its grammar against path and query together.
    let target = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path(), |pq| pq.as_str());
    let routed = match route(&parts.method, target) {
        Ok(r) => r,
        Err(e) => return Ok(e.into_response()),
    };
    let headers = parts.headers;
    let read_body = || async {
        let raw = match Limited::new(body, MAX_BODY_BYTES).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e)
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some() =>
            {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "Request body too large",
                ));
            }
            Err(_) => {
                return Err(ApiError::invalid_argument(
                    "Failed to read the request body",
                ));
            }
        };
        Ok(decode_content(&headers, raw))
    };
    match routed {
        Route::Control(path) => {
            let body = match read_body().await {
                Ok(b) => b,
                Err(e) => return Ok(e.into_response()),
            };
            Ok(control(&state, &parts.method, &path, &body))
        }
        Route::Preflight => Ok(preflight(&headers)),
        Route::Status { model, version } => Ok(json_or_error(status::status_json(
            &state.config,
            &model,
            &version,
            state.is_available(),
        ))),
        Route::Metadata { model, version } => Ok(json_or_error(status::metadata_json(
            &state.config,
            &model,
            &version,
        ))),
        Route::Inference {
            model,
            version,
            method,
        } => {
            let compute = async {
                let body = read_body().await?;
                let answer = compute(method, &body)?;
                let elements = answer.elements;
                Ok(Computed { answer, elements })
            };
            match infer::serve(&state, &model, &version, compute).await {
                Outcome::Answer(a, None) => Ok(json_response(StatusCode::OK, a.body)),
                Outcome::Answer(a, Some(confidence)) => {
                    let text = infer::format_confidence(confidence);
                    let mut response =
                        json_response(StatusCode::OK, with_confidence_field(a.body, &text));
                    if let Ok(value) = HeaderValue::from_str(&text) {
                        response.headers_mut().insert(CONFIDENCE_HEADER, value);
                    }
                    Ok(response)
                }
                Outcome::Error(e) => Ok(e.into_response()),
                Outcome::Drop => Err(DropConnection),
            }
        }
    }
}

/// Adds `"confidence": c` to a JSON object body (the answers of predict, classify and regress
/// are objects; TF Serving's clients read their own keys and ignore others).
fn with_confidence_field(mut body: String, confidence: &str) -> String {
    if body.ends_with('}') {
        body.pop();
        let empty = body.trim_end().ends_with('{');
        body.push_str(if empty { "" } else { ", " });
        body.push_str("\"confidence\": ");
        body.push_str(confidence);
        body.push('}');
    }
    body
}

/// Inflates a body whose `Content-Encoding` mentions gzip (TF Serving checks for the substring
/// "gzip"); a body that does not inflate, or inflates beyond [`MAX_UNCOMPRESSED_BYTES`], reads
/// as empty, as in TF Serving.
fn decode_content(headers: &HeaderMap, raw: Bytes) -> Bytes {
    let gzip = headers
        .get_all(header::CONTENT_ENCODING)
        .iter()
        .any(|v| v.as_bytes().windows(4).any(|w| w == b"gzip"));
    if !gzip {
        return raw;
    }
    let mut out = Vec::new();
    let mut decoder = flate2::read::GzDecoder::new(&raw[..]).take(MAX_UNCOMPRESSED_BYTES + 1);
    match decoder.read_to_end(&mut out) {
        Ok(n) if (n as u64) <= MAX_UNCOMPRESSED_BYTES => Bytes::from(out),
        _ => Bytes::new(),
    }
}

/// A CORS preflight (`OPTIONS` under `/v1/`), as TF Serving's HTTP server: 200 when the
/// `Origin` header contains `http://` or `https://`, otherwise 400 (FAILED_PRECONDITION); no body.
fn preflight(headers: &HeaderMap) -> Response<Full<Bytes>> {
    let origin_ok = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|o| o.contains("http://") || o.contains("https://"));
    let mut response = Response::new(Full::new(Bytes::new()));
    if !origin_ok {
        *response.status_mut() = StatusCode::BAD_REQUEST;
    }
    response
}

fn compute(method: Inference, body: &[u8]) -> Result<Answer, ApiError> {
    let doc = parse_lenient(body).map_err(|e| {
        ApiError::invalid_argument(match e {
            None => "JSON Parse error: The document is empty".to_owned(),
            Some(e) => format!(
                "JSON Parse error: {e} at offset: {}",
                offset_of(body, e.line(), e.column())
            ),
        })
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

/// The control endpoint: `GET /-/sim/state`, `GET /-/sim/inflight` (the in-flight count
/// alone, cheap enough to ask before every request), `POST /-/sim/fault` (a [`Fault`] JSON;
/// omitted fields take their defaults, so `{}` clears all faults), `POST /-/sim/timing` (a
/// [`ServiceTime`] JSON), `POST /-/sim/available` (`{"available": bool}`).
fn control(
    state: &ExecutorState,
    method: &Method,
    path: &str,
    body: &[u8],
) -> Response<Full<Bytes>> {
    if path == "inflight" && *method == Method::GET {
        let stats = state.stats();
        return json_response(
            StatusCode::OK,
            format!(
                "{{\"in_flight\": {}, \"inference\": {}}}",
                stats.in_flight, stats.inference
            ),
        );
    }
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
            (_, "state" | "inflight" | "fault" | "timing" | "available") => Err(ApiError::new(
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
        "confidence": state.config.confidence,
        "seed": state.draws.seed(),
        "stats": state.stats(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    #[test]
    fn confidence_is_added_to_object_bodies() {
        assert_eq!(
            with_confidence_field(r#"{"predictions": [2.5]}"#.into(), "0.25"),
            r#"{"predictions": [2.5], "confidence": 0.25}"#
        );
        assert_eq!(
            with_confidence_field("{}".into(), "1"),
            r#"{"confidence": 1}"#
        );
        assert_eq!(with_confidence_field("[1]".into(), "1"), "[1]");
    }

    #[test]
    fn parse_error_offsets() {
        assert_eq!(offset_of(b"{\n  x", 2, 3), 4);
        assert_eq!(offset_of(b"", 1, 0), 0);
    }

    #[test]
    fn gzip_bodies_inflate_and_bad_ones_read_as_empty() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(br#"{"instances": [1.0]}"#).unwrap();
        let gz = Bytes::from(gz.finish().unwrap());
        let mut headers = HeaderMap::new();
        assert_eq!(decode_content(&headers, gz.clone()), gz);
        // TF Serving looks for the substring (its own tests send "my_gzip").
        headers.insert(header::CONTENT_ENCODING, "my_gzip".parse().unwrap());
        assert_eq!(
            &decode_content(&headers, gz)[..],
            br#"{"instances": [1.0]}"#
        );
        assert!(decode_content(&headers, Bytes::from_static(b"abcde")).is_empty());
    }
}
