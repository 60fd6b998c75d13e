//! Response helpers shared by the webhook and the admin listener. Errors use TF Serving's
//! `{"error": "..."}` shape, like every mulambda HTTP endpoint.

use bytes::Bytes;
use http::{Response, StatusCode, header};
use http_body_util::Full;

/// The response body type of the controller's listeners.
pub type Body = Full<Bytes>;

/// A JSON body with a status.
pub fn json(status: StatusCode, body: Vec<u8>) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

/// `{"error": message}` with a status.
pub fn json_error(status: StatusCode, message: &str) -> Response<Body> {
    let body = serde_json::to_vec(&serde_json::json!({ "error": message }))
        .unwrap_or_else(|_| b"{\"error\":\"internal error\"}".to_vec());
    json(status, body)
}

/// A plain-text body with a status.
pub fn text(
    status: StatusCode,
    body: impl Into<Bytes>,
    content_type: &'static str,
) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    response
}
