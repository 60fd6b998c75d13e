//! Serving: one REST listener per simulated executor, HTTP/1.1 (keep-alive) and HTTP/2 (prior
//! knowledge) on the same port through hyper-util's auto connection builder, optionally a
//! second listener for TF Serving's gRPC API (HTTP/2), and optionally the REST API again on a
//! Unix socket (the control path that crosses no emulated link), all served by the same accept
//! loop.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use hyper::body::{Body, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::task::JoinHandle;

use super::config::{ConfigError, Fault, ServiceTime, SimConfig};
use super::grpc::GrpcServices;
use super::service::{DropConnection, handle};
use super::state::{ExecutorState, SimStats};

/// How long [`SimServer::shutdown`] lets in-flight requests finish before closing connections.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Errors starting a simulated executor.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The address could not be bound.
    #[error("binding {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The control socket could not be bound.
    #[error("binding control-socket {path}: {reason}")]
    BindSocket {
        /// The socket's path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// A running simulated executor. Dropping it without [`shutdown`](Self::shutdown) or
/// [`kill`](Self::kill) leaves it serving until the runtime ends.
#[derive(Debug)]
pub struct SimServer {
    state: Arc<ExecutorState>,
    local_addr: SocketAddr,
    grpc_addr: Option<SocketAddr>,
    control_socket: Option<PathBuf>,
    tasks: Vec<JoinHandle<()>>,
    stop: tokio::sync::watch::Sender<StopMode>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StopMode {
    Run,
    Graceful,
    Kill,
}

// === impl SimServer ===

impl SimServer {
    /// Validates `config`, binds its address (and its gRPC address, when set) and starts
    /// serving.
    ///
    /// # Errors
    /// [`SimError::Config`] for an invalid configuration, [`SimError::Bind`] when an address is
    /// taken or not local.
    pub async fn start(config: SimConfig) -> Result<Self, SimError> {
        config.validate()?;
        let (listener, local_addr) = bind(config.addr).await?;
        let grpc = match config.grpc_addr {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        let unix = match &config.control_socket {
            Some(path) => Some(bind_unix(path).await?),
            None => None,
        };
        let control_socket = config.control_socket.clone();
        let state = ExecutorState::new(config);
        let (stop, stop_rx) = tokio::sync::watch::channel(StopMode::Run);
        let rest_state = Arc::clone(&state);
        let mut tasks = vec![tokio::spawn(serve(
            listener,
            move |req| handle(Arc::clone(&rest_state), req),
            stop_rx.clone(),
        ))];
        if let Some(listener) = unix {
            let unix_state = Arc::clone(&state);
            tasks.push(tokio::spawn(serve(
                listener,
                move |req| handle(Arc::clone(&unix_state), req),
                stop_rx.clone(),
            )));
        }
        let grpc_addr = grpc.as_ref().map(|(_, a)| *a);
        if let Some((listener, _)) = grpc {
            let services = GrpcServices::new(Arc::clone(&state));
            tasks.push(tokio::spawn(serve(
                listener,
                move |req| services.clone().handle(req),
                stop_rx,
            )));
        }
        tracing::info!(name = %state.config.name, model = %state.config.model, %local_addr, grpc = ?grpc_addr, "simulated executor listening");
        Ok(Self {
            state,
            local_addr,
            grpc_addr,
            control_socket,
            tasks,
            stop,
        })
    }

    /// The bound REST address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The bound gRPC address, when the executor serves gRPC.
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.grpc_addr
    }

    /// The Unix socket serving the REST API (control and in-flight queries), when configured.
    pub fn control_socket(&self) -> Option<&Path> {
        self.control_socket.as_deref()
    }

    /// `http://{local_addr}`.
    pub fn url(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    /// The executor's configuration (as started).
    pub fn config(&self) -> &SimConfig {
        &self.state.config
    }

    /// Replaces the injected faults (takes effect for requests arriving from now on).
    ///
    /// # Errors
    /// When the fault is invalid (rates outside [0, 1], …); the current one stays.
    pub fn set_fault(&self, fault: Fault) -> Result<(), ConfigError> {
        fault.validate()?;
        self.state.fault.store(Arc::new(fault));
        Ok(())
    }

    /// The injected faults now.
    pub fn fault(&self) -> Fault {
        (*self.state.fault.load_full()).clone()
    }

    /// Replaces the service time.
    ///
    /// # Errors
    /// When a value is negative or not finite; the current one stays.
    pub fn set_timing(&self, timing: ServiceTime) -> Result<(), ConfigError> {
        timing.validate()?;
        self.state.timing.store(Arc::new(timing));
        Ok(())
    }

    /// Makes the model available or unavailable (status shows no `AVAILABLE` version;
    /// inference answers 503).
    pub fn set_available(&self, available: bool) {
        self.state.available.store(available, Ordering::Relaxed);
    }

    /// Counters since start.
    pub fn stats(&self) -> SimStats {
        self.state.stats()
    }

    /// Stops accepting, lets in-flight requests finish for up to [`SHUTDOWN_GRACE`] (stalled ones
    /// are dropped at once), then closes every connection.
    pub async fn shutdown(self) {
        self.stop_with(StopMode::Graceful).await;
    }

    /// Simulates a crash: stops accepting and closes every connection at once, without answers.
    pub async fn kill(self) {
        self.stop_with(StopMode::Kill).await;
    }

    async fn stop_with(self, mode: StopMode) {
        let _ = self.stop.send(mode);
        self.state.shutdown.cancel();
        for task in self.tasks {
            let _ = task.await;
        }
        if let Some(path) = &self.control_socket {
            let _ = std::fs::remove_file(path);
        }
        tracing::info!(name = %self.state.config.name, "simulated executor stopped");
    }
}

async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), SimError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| SimError::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| SimError::Bind { addr, source })?;
    Ok((listener, local))
}

/// Binds the control socket. A leftover socket file that nobody listens on (a previous run
/// that was killed) is replaced; a live one, or any other file, is refused.
async fn bind_unix(path: &Path) -> Result<UnixListener, SimError> {
    let fail = |reason: String| SimError::BindSocket {
        path: path.to_owned(),
        reason,
    };
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        use std::os::unix::fs::FileTypeExt as _;
        if !meta.file_type().is_socket() {
            return Err(fail("the path exists and is not a socket".into()));
        }
        if UnixStream::connect(path).await.is_ok() {
            return Err(fail("another process listens on it".into()));
        }
        std::fs::remove_file(path).map_err(|e| fail(format!("removing the stale socket: {e}")))?;
    }
    UnixListener::bind(path).map_err(|e| fail(e.to_string()))
}

/// A listener the accept loop can serve: TCP or a Unix socket.
trait Accept: Send + 'static {
    /// The accepted connection.
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// Accepts one connection; the string names the peer for logs.
    fn accept_io(&self) -> impl Future<Output = std::io::Result<(Self::Io, String)>> + Send;
}

impl Accept for TcpListener {
    type Io = TcpStream;
    async fn accept_io(&self) -> std::io::Result<(TcpStream, String)> {
        let (stream, peer) = self.accept().await?;
        let _ = stream.set_nodelay(true);
        Ok((stream, peer.to_string()))
    }
}

impl Accept for UnixListener {
    type Io = UnixStream;
    async fn accept_io(&self) -> std::io::Result<(UnixStream, String)> {
        let (stream, _) = self.accept().await?;
        Ok((stream, "unix".to_owned()))
    }
}

/// The accept loop of one listener: every connection is served by `handler` until the stop
/// signal (graceful: in-flight requests get [`SHUTDOWN_GRACE`]; kill: connections close).
async fn serve<L, H, F, B>(
    listener: L,
    handler: H,
    mut stop: tokio::sync::watch::Receiver<StopMode>,
) where
    L: Accept,
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Result<Response<B>, DropConnection>> + Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let builder = auto::Builder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept_io() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let service = service_fn(handler.clone());
                let conn = builder.serve_connection(TokioIo::new(stream), service).into_owned();
                let conn = graceful.watch(conn);
                connections.spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() != StopMode::Run {
                    break;
                }
            }
        }
    }
    drop(listener);
    let mode = *stop.borrow();
    if mode == StopMode::Graceful {
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await;
    }
    connections.shutdown().await;
}
