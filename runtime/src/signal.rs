//! Shutdown signals.

/// Completes on SIGTERM (what Kubernetes sends) or SIGINT (Ctrl-C). If the SIGTERM handler cannot
/// be installed, waits for SIGINT only.
pub async fn shutdown() {
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
