//! A stand-in for the proxy's listener inside the lab: it accepts on its ports, reads each
//! connection's original destination with the library (on a `tokio::net::TcpStream`, as the
//! proxy will), refuses connections redirected from a port it does not serve, and answers every
//! HTTP request with what it found, as JSON.

use std::net::TcpListener;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use mulambda_intercept::{OriginalDst, ServedPorts};

/// The running stand-in; stops when dropped.
pub struct FakeProxy {
    _runtime: tokio::runtime::Runtime,
}

impl FakeProxy {
    /// Serves each listener (bound in the lab) with the ports it serves.
    pub fn start(listeners: Vec<(TcpListener, ServedPorts)>) -> FakeProxy {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        for (listener, served) in listeners {
            let port = listener.local_addr().unwrap().port();
            runtime.spawn(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let (status, body) = describe(port, &served, &stream);
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                            let body = body.clone();
                            async move {
                                // Read the request fully before answering, as a proxy would.
                                let _ = req.into_body().collect().await;
                                Response::builder()
                                    .status(status)
                                    .header("content-type", "application/json")
                                    .body(Full::new(Bytes::from(body)))
                            }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
        }
        FakeProxy { _runtime: runtime }
    }
}

/// What the proxy will do with a connection: serve it (saying where it was going) or refuse it.
fn describe(
    listener_port: u16,
    served: &ServedPorts,
    stream: &tokio::net::TcpStream,
) -> (StatusCode, String) {
    match OriginalDst::of(stream) {
        Ok(None) => (
            StatusCode::OK,
            serde_json::json!({ "listener": listener_port, "original_dst": null }).to_string(),
        ),
        Ok(Some(dst)) => match served.admit(&dst) {
            Ok(()) => (
                StatusCode::OK,
                serde_json::json!({
                    "listener": listener_port,
                    "original_dst": dst.addr().to_string(),
                    "intercepted_port": dst.intercepted_port(),
                })
                .to_string(),
            ),
            // 421 Misdirected Request, in TF Serving's error shape.
            Err(refused) => (
                StatusCode::MISDIRECTED_REQUEST,
                serde_json::json!({ "error": refused.to_string() }).to_string(),
            ),
        },
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            serde_json::json!({ "error": format!("original destination: {e}") }).to_string(),
        ),
    }
}
