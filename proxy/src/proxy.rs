//! The running proxy: listeners, snapshot refresher and registration wired together.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use hyper::service::service_fn;
use mulambda_catalog::{Id, Store, StoreError};
use mulambda_runtime::server::BindError;
use mulambda_runtime::{Component, Limits, Listener};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::admin::AdminState;
use crate::app::AppState;
use crate::config::Config;
use crate::forward::Forwarder;
use crate::intercepted::{AppListener, Interception, Protocol};
use crate::metrics::Metrics;
use crate::registration::{Registration, client_record};
use crate::selection::{ClientPlacement, HealthRegistry};
use crate::snapshot::{Refresher, SnapshotState};

/// A running proxy. Dropping it without [`Proxy::shutdown`] leaves its tasks running until the
/// runtime ends; the client's lease then lapses by itself.
pub struct Proxy {
    app_addrs: Vec<SocketAddr>,
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

/// What [`Proxy::shutdown`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ShutdownReport {
    /// Whether every open connection finished before the drain deadline.
    pub drained: bool,
}

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listener could not be bound.
    #[error(transparent)]
    Bind(#[from] BindError),
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
        let store = Store::new(config.store.clone())?;
        let app_limits = Limits {
            drain_timeout: config.drain_timeout,
            ..Limits::APP
        };
        let metrics = Metrics::new();
        // Every application listener is an AppListener: intercepted mode applies to each.
        let interception = Interception::new(config.intercept.clone(), &metrics);
        let app_listener = AppListener::bind(
            "listen",
            config.listen,
            app_limits,
            Protocol::Rest,
            &interception,
        )
        .await?;
        let admin_listener =
            Listener::bind("admin-listen", config.admin_listen, Limits::ADMIN).await?;
        interception.check_listeners();
        let (app_addrs, admin_addr) = (app_listener.local_addrs(), admin_listener.local_addr());
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
        let app_task = tokio::spawn(app_listener.serve(
            move |_peer| {
                let state = Arc::clone(&app_state);
                service_fn(move |req| {
                    let resp = crate::app::handle(Arc::clone(&state), req);
                    async move { Ok::<_, std::convert::Infallible>(resp.await) }
                })
            },
            app_cancel.clone(),
        ));

        let admin_state = Arc::new(AdminState {
            snapshot: snapshot.clone(),
            metrics: metrics.clone(),
            health,
            hard: config.hard.clone(),
            soft: config.soft,
            draining: draining.clone(),
            lease: registration.state(),
            explain: config.explain,
        });
        let admin_task = tokio::spawn(admin_listener.serve(
            move |peer| {
                let state = Arc::clone(&admin_state);
                service_fn(move |req| {
                    let resp = crate::admin::handle(&state, &req, peer);
                    async move { Ok::<_, std::convert::Infallible>(resp) }
                })
            },
            background_cancel.clone(),
        ));

        tracing::info!(
            app_addrs = ?app_addrs,
            %admin_addr,
            intercept = %interception.redirects().map_or_else(|| "off (localhost mode)".to_string(), |r| r.to_string()),
            client_id = %config.client_id,
            %probe_addr,
            store = %store.redacted_url(),
            criteria = %config.hard,
            "mulambda-proxy started"
        );
        Ok(Proxy {
            app_addrs,
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

    /// The bound application listener address (the configured one).
    pub fn app_addr(&self) -> SocketAddr {
        self.app_addrs[0]
    }

    /// Every bound application listener address (in intercepted mode also the other loopback
    /// address at the same port).
    pub fn app_addrs(&self) -> &[SocketAddr] {
        &self.app_addrs
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

impl Component for Proxy {
    type Config = Config;
    type Report = ShutdownReport;
    type Error = StartError;

    async fn start(config: Config) -> Result<Proxy, StartError> {
        Proxy::start(config).await
    }

    async fn shutdown(self) -> ShutdownReport {
        Proxy::shutdown(self).await
    }
}

/// Starts the proxy, waits for `signal` (e.g. [`mulambda_runtime::signal::shutdown`]), then
/// shuts it down in order.
pub async fn run(
    config: Config,
    signal: impl Future<Output = ()>,
) -> Result<ShutdownReport, StartError> {
    mulambda_runtime::run::<Proxy>(config, signal).await
}
