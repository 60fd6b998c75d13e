//! Responses of mulambda's own: errors in TF Serving's shape — a JSON object
//! `{"error": "<message>"}` — on every listener, JSON and plain-text bodies.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;

/// The body of every response mulambda writes itself.
pub type Body = Full<Bytes>;

/// `{"error": message}` with `status`.
pub fn error(status: StatusCode, message: &str) -> Response<Body> {
    json(status, serde_json::json!({ "error": message }).to_string())
}

/// A JSON body with `status`.
pub fn json(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    with_type(status, body.into(), "application/json")
}

/// A plain-text body with `status`.
pub fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    with_type(status, body.into(), "text/plain")
}

/// Prometheus' text exposition format.
pub fn metrics(body: impl Into<Bytes>) -> Response<Body> {
    with_type(StatusCode::OK, body.into(), "text/plain; version=0.0.4")
}

fn with_type(status: StatusCode, body: Bytes, content_type: &'static str) -> Response<Body> {
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn errors_are_escaped_json() {
        let r = error(StatusCode::BAD_REQUEST, "bad \"x\"\n");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
        let body = r.into_body().collect().await.unwrap().to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"], "bad \"x\"\n");
    }
}
