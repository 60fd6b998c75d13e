//! Orderly shutdown: waiting for SIGTERM or SIGINT, and what shutting down did.
//!
//! On a signal the proxy stops accepting connections, deregisters its client (companions stop
//! probing it at once), lets in-flight requests finish up to `--drain-timeout`, then stops.

/// Waits for SIGTERM (what Kubernetes sends) or SIGINT (Ctrl-C). If the SIGTERM handler cannot
/// be installed, waits for SIGINT only.
pub async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM received"),
                _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot install a SIGTERM handler; waiting for SIGINT only");
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("SIGINT received");
        }
    }
}

/// What [`crate::Proxy::shutdown`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ShutdownReport {
    /// Whether every open connection finished before the drain deadline.
    pub drained: bool,
}
