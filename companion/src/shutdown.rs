//! Orderly shutdown: waiting for SIGTERM or SIGINT, and what shutting down did.

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

/// What [`crate::Companion::shutdown`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ShutdownReport {
    /// Latency entries removed from clients' rows.
    pub latency_entries_removed: usize,
    /// Whether removing the latency entries failed (they then expire by their TTL).
    pub latency_removal_failed: bool,
}
