//! A small HTTP/1 GET client over hyper-util's pooled client: kept-alive connections, `TCP_NODELAY`,
//! a deadline on the whole exchange and a cap on the body size.
//!
//! hyper-util's legacy client is used rather than a hand-written connection pool: it keeps idle
//! connections per host, reconnects transparently and is the client the hyper project maintains.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

/// A pooled HTTP/1 client.
pub type HttpClient = Client<HttpConnector, Empty<Bytes>>;

/// Why a GET failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// No complete answer within the deadline.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// Connecting, sending or receiving failed.
    #[error("request failed: {0}")]
    Transport(String),
    /// The body was larger than allowed.
    #[error("response body larger than {0} bytes")]
    TooLarge(usize),
}

/// Builds a pooled client. Idle connections are kept for `idle` so that they survive from one
/// round (or poll) to the next.
pub fn client(connect_timeout: Duration, idle: Duration) -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(connect_timeout));
    connector.enforce_http(true);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(idle)
        .pool_timer(TokioTimer::new())
        .build(connector)
}

/// `GET uri`, reading the whole body (at most `limit` bytes), all within `timeout`.
pub async fn get(
    client: &HttpClient,
    uri: Uri,
    timeout: Duration,
    limit: usize,
) -> Result<(StatusCode, Bytes), FetchError> {
    let exchange = async {
        let request = Request::get(uri)
            .body(Empty::<Bytes>::new())
            .map_err(|e| FetchError::Transport(e.to_string()))?;
        let response = client
            .request(request)
            .await
            .map_err(|e| FetchError::Transport(e.to_string()))?;
        let status = response.status();
        let body = Limited::new(response.into_body(), limit)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    FetchError::TooLarge(limit)
                } else {
                    FetchError::Transport(e.to_string())
                }
            })?
            .to_bytes();
        Ok((status, body))
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| FetchError::Timeout(timeout))?
}
