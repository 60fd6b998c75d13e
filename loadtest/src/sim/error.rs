//! TF Serving's error shape: `{"error": "<message>"}` with the HTTP status TF Serving maps from
//! the internal (gRPC-style) code.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;

use super::json::write_string;

/// An error answered in TF Serving's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Message placed under `"error"`.
    pub message: String,
}

// === impl ApiError ===

impl ApiError {
    /// INVALID_ARGUMENT → 400.
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// NOT_FOUND → 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// UNAVAILABLE → 503.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, message)
    }

    /// Any status with a message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// The JSON body `{"error": "..."}`.
    pub fn body(&self) -> String {
        let mut out = String::from("{\"error\": ");
        write_string(&mut out, &self.message);
        out.push('}');
        out
    }

    /// The HTTP response.
    pub fn into_response(self) -> Response<Full<Bytes>> {
        json_response(self.status, self.body())
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status, self.message)
    }
}

impl std::error::Error for ApiError {}

/// A response with a JSON body.
pub fn json_response(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_is_escaped_json() {
        let e = ApiError::not_found("Could not find \"x\"\n");
        let v: serde_json::Value = serde_json::from_str(&e.body()).unwrap();
        assert_eq!(v["error"], "Could not find \"x\"\n");
        assert_eq!(e.into_response().status(), 404);
    }
}
