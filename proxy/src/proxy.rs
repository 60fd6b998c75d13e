//! The running proxy: listeners, snapshot refresher and registration wired together.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mulambda_catalog::{Id, Store, StoreError};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::admin::AdminState;
use crate::app::AppState;
use crate::config::Config;
use crate::forward::Forwarder;
use crate::metrics::Metrics;
use crate::registration::{Registration, client_record};
use crate::selection::{ClientPlacement, HealthRegistry};
use crate::shutdown::ShutdownReport;
use crate::snapshot::{Refresher, SnapshotState};

/// A running proxy. Dropping it without [`Proxy::shutdown`] leaves its tasks running until the
/// runtime ends; the client's lease then lapses by itself.
pub struct Proxy {
    app_addr: SocketAddr,
    admin_addr: SocketAddr,
    client_id: Id,
    metrics: Metrics,
    snapshot: Arc<SnapshotState>,
    draining: Arc<AtomicBool>,
    app_cancel: CancellationToken,
    background_cancel: CancellationToken,
    app_task: JoinHandle<bool>,
    admin_task: JoinHandle<bool>,
    refresher_task: JoinHandle<()>,
    registration: Registration,
}

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listener could not be bound.
    #[error("cannot listen on {addr} ({what}): {source}")]
    Bind {
        /// Which listener.
        what: &'static str,
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The store configuration is invalid (the store itself is connected lazily: an unreachable
    /// store does not stop the proxy from starting).
    #[error(transparent)]
    Store(#[from] StoreError),
}

// === impl Proxy ===

impl Proxy {
    /// Binds both listeners, starts the snapshot refresher and the client registration, and
    /// serves. Returns once the listeners are bound (the first snapshot loads in the
    /// background; until then requests are answered 503 and `/ready` is 503).
    pub async fn start(config: Config) -> Result<Proxy, StartError> {
        let store = Store::new(config.store_config())?;
        let bind = |what: &'static str, addr: SocketAddr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|source| StartError::Bind { what, addr, source })
        };
        let app_listener = bind("application listener", config.listen).await?;
        let admin_listener = bind("admin listener", config.admin_listen).await?;
        let local = |l: &TcpListener, what: &'static str, addr: SocketAddr| {
            l.local_addr()
                .map_err(|source| StartError::Bind { what, addr, source })
        };
        let app_addr = local(&app_listener, "application listener", config.listen)?;
        let admin_addr = local(&admin_listener, "admin listener", config.admin_listen)?;

        let metrics = Metrics::new();
        let snapshot = Arc::new(SnapshotState::new());
        let health = Arc::new(HealthRegistry::new(config.health));
        let draining = Arc::new(AtomicBool::new(false));
        let app_cancel = CancellationToken::new();
        let background_cancel = CancellationToken::new();

        let probe_addr = config.probe_addr_for(admin_addr);
        let registration = Registration::start(
            store.clone(),
            client_record(&config, probe_addr.clone()),
            config.heartbeat,
        );

        let refresher = Refresher::new(
            store.clone(),
            config.client_id.clone(),
            ClientPlacement {
                node: config.node.clone(),
                zone: config.zone.clone(),
            },
            health.clone(),
            config.score,
            config.refresh,
            snapshot.clone(),
            metrics.clone(),
        );
        let refresher_task = tokio::spawn(refresher.run(background_cancel.clone()));

        let app_state = Arc::new(AppState {
            snapshot: snapshot.clone(),
            forwarder: Forwarder::new(config.forward),
            metrics: metrics.clone(),
            hard: config.hard.clone(),
            soft: config.soft,
        });
        let app_task = tokio::spawn(crate::server::serve(
            app_listener,
            move |req| crate::app::handle(app_state.clone(), req),
            app_cancel.clone(),
            config.drain_timeout,
        ));

        let admin_state = Arc::new(AdminState {
            snapshot: snapshot.clone(),
            metrics: metrics.clone(),
            health,
            hard: config.hard.clone(),
            soft: config.soft,
            draining: draining.clone(),
            lease: registration.state(),
        });
        let admin_task = tokio::spawn(crate::server::serve(
            admin_listener,
            move |req| {
                let state = admin_state.clone();
                async move { crate::admin::handle(&state, &req) }
            },
            background_cancel.clone(),
            Duration::from_secs(1),
        ));

        tracing::info!(
            %app_addr,
            %admin_addr,
            client_id = %config.client_id,
            %probe_addr,
            store = %store.redacted_url(),
            criteria = %config.hard,
            "mulambda-proxy started"
        );
        Ok(Proxy {
            app_addr,
            admin_addr,
            client_id: config.client_id,
            metrics,
            snapshot,
            draining,
            app_cancel,
            background_cancel,
            app_task,
            admin_task,
            refresher_task,
            registration,
        })
    }

    /// The bound application listener address.
    pub fn app_addr(&self) -> SocketAddr {
        self.app_addr
    }

    /// The bound admin listener address.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// This proxy's client id.
    pub fn client_id(&self) -> &Id {
        &self.client_id
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The snapshot slot.
    pub fn snapshot(&self) -> &Arc<SnapshotState> {
        &self.snapshot
    }

    /// Stops accepting, deregisters the client, drains in-flight requests (up to the drain
    /// timeout), then stops the refresher and the admin listener.
    pub async fn shutdown(self) -> ShutdownReport {
        self.draining.store(true, Ordering::Relaxed);
        self.app_cancel.cancel();
        let (drained, ()) = tokio::join!(
            async { self.app_task.await.unwrap_or(false) },
            self.registration.shutdown()
        );
        self.background_cancel.cancel();
        let _ = self.admin_task.await;
        let _ = self.refresher_task.await;
        tracing::info!(drained, "mulambda-proxy stopped");
        ShutdownReport { drained }
    }
}

/// Starts the proxy, waits for `signal` (e.g. [`crate::shutdown::wait_for_signal`]), then shuts
/// it down in order.
pub async fn run(
    config: Config,
    signal: impl Future<Output = ()>,
) -> Result<ShutdownReport, StartError> {
    let proxy = Proxy::start(config).await?;
    signal.await;
    Ok(proxy.shutdown().await)
}
