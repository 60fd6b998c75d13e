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
    /// The gRPC code, when it is not the one the HTTP status implies (see
    /// [`grpc_code`](Self::grpc_code)).
    pub code: Option<tonic::Code>,
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

    /// FAILED_PRECONDITION → 400 (gRPC keeps the code).
    pub fn failed_precondition(message: impl Into<String>) -> Self {
        Self {
            code: Some(tonic::Code::FailedPrecondition),
            ..Self::invalid_argument(message)
        }
    }

    /// UNIMPLEMENTED → 501.
    pub fn unimplemented(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_IMPLEMENTED, message)
    }

    /// Any status with a message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            code: None,
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

    /// The gRPC status code TF Serving's gRPC API gives for the same error: the inverse of TF
    /// Serving's code → HTTP mapping (`ToHTTPStatusCode`) for the statuses the simulator
    /// answers; an injected fault's HTTP status maps the same way (503 → UNAVAILABLE,
    /// 500 → INTERNAL, 429 → RESOURCE_EXHAUSTED, …).
    pub fn grpc_code(&self) -> tonic::Code {
        use tonic::Code;
        if let Some(code) = self.code {
            return code;
        }
        match self.status.as_u16() {
            400 => Code::InvalidArgument,
            401 => Code::Unauthenticated,
            403 => Code::PermissionDenied,
            404 => Code::NotFound,
            409 => Code::Aborted,
            413 | 429 => Code::ResourceExhausted,
            499 => Code::Cancelled,
            501 => Code::Unimplemented,
            503 => Code::Unavailable,
            504 => Code::DeadlineExceeded,
            other if (400..500).contains(&other) => Code::FailedPrecondition,
            _ => Code::Internal,
        }
    }

    /// The gRPC status with the same message.
    pub fn into_status(self) -> tonic::Status {
        tonic::Status::new(self.grpc_code(), self.message)
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
        assert_eq!(e.grpc_code(), tonic::Code::NotFound);
        assert_eq!(e.into_response().status(), 404);
        assert_eq!(
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "x").grpc_code(),
            tonic::Code::Internal
        );
        assert_eq!(
            ApiError::unavailable("x").grpc_code(),
            tonic::Code::Unavailable
        );
        assert_eq!(
            ApiError::invalid_argument("x").grpc_code(),
            tonic::Code::InvalidArgument
        );
    }
}
