//! The local snapshot of the catalog: an [`ArcSwapOption<Snapshot>`](arc_swap::ArcSwapOption)
//! read lock-free by every request, rebuilt off the hot path by the [`Refresher`].
//!
//! The refresher subscribes to the catalog's change events and also polls:
//! - every poll (`--poll-interval`) reads the cheap [`PollView`](mulambda_catalog::PollView)
//!   (generation and this client's latency row); a changed generation, a lease that may have
//!   expired (`next_expiry_ms`) or every `--full-reload-every` polls triggers a full
//!   [`read_client_view`](mulambda_catalog::Store::read_client_view); a changed latency row
//!   rebuilds the table from the last view with the new row;
//! - executor events trigger a full read, latency events a poll (both debounced a few ms);
//! - `Subscribed` (after every (re)subscription) and the first success after a failed call
//!   trigger a full read (`reconnect`).
//!
//! A store outage keeps the last snapshot serving (fail-static); its age (time since the store
//! last confirmed it) grows and is exported; the refresher recovers by itself.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use bytes::Bytes;
use http::HeaderValue;
use http::uri::{Authority, PathAndQuery};
use mulambda_catalog::{CatalogEvent, ChangeKind, ClientView, Executor, Id, Store, StoreError};
use prometheus::Histogram;
use tokio_util::sync::CancellationToken;

use crate::metrics::{Metrics, RequestCounters, Trigger};
use crate::paths::{self, ModelPath, resolve_selector};
use crate::selection::{ClientPlacement, HealthRegistry, ScoreConfig, Table};

/// How the snapshot is kept fresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Args)]
pub struct RefreshConfig {
    /// Snapshot poll interval (the safety net beside pushed change events).
    #[arg(long, env = "MULAMBDA_POLL_INTERVAL", default_value = "1s", value_name = "DURATION",
          value_parser = mulambda_runtime::parse::positive_duration)]
    pub poll_interval: Duration,

    /// Read the whole catalog at least every this many polls, even without a change.
    #[arg(long, env = "MULAMBDA_FULL_RELOAD_EVERY", default_value = "30", value_name = "N",
          value_parser = mulambda_runtime::parse::whole_in(1u32..=1_000_000))]
    pub full_reload_every: u32,

    /// How long events are collected before one reload.
    #[arg(skip = Duration::from_millis(5))]
    pub debounce: Duration,
}

/// One immutable snapshot.
#[derive(Debug)]
pub struct Snapshot {
    /// The selection's ranking input.
    pub table: Table,
    /// Catalog generation it was built from.
    pub generation: u64,
    /// Store time of the read it was built from (ms since the epoch).
    pub server_time_ms: u64,
    /// When it was built (local clock).
    pub built_at: Instant,
    /// Per-executor data the forwarding path needs, in table order.
    pub executors: Vec<ExecutorInfo>,
}

/// What forwarding needs of an executor, prepared once per snapshot so the hot path does not
/// allocate, parse or look it up per request.
#[derive(Debug, Clone)]
pub struct ExecutorInfo {
    /// `x-mulambda-model` value: the executor's model name.
    pub model: HeaderValue,
    /// `x-mulambda-executor` value: the executor's id.
    pub id: HeaderValue,
    /// `host:port` of its REST endpoint.
    pub authority: String,
    /// The parsed endpoint; `None` when `authority` is not a valid URI authority.
    pub target: Option<Target>,
    /// The rewritten path of each [`paths::Action`] (in [`paths::Action::ALL`] order) when the executor's own
    /// version applies and there is no query string, the common case; built once.
    pub paths: Option<[PathAndQuery; 5]>,
    /// The duration histogram of its model.
    pub duration: Histogram,
    /// The `requests_total` children of its model.
    pub requests: RequestCounters,
}

/// An executor's endpoint, parsed once: the URI authority and the `Host` header value.
#[derive(Debug, Clone)]
pub struct Target {
    /// URI authority (`host:port`).
    pub authority: Authority,
    /// `Host` header value, as the pooled client would derive it from the URI (the port is
    /// left out when it is 80).
    pub host: HeaderValue,
}

// === impl ExecutorInfo ===

impl ExecutorInfo {
    /// Prepares the data of one executor.
    pub fn new(e: &Executor, metrics: &Metrics) -> ExecutorInfo {
        // Model names and ids are validated identifiers, always valid header values.
        let header = |s: &str| {
            HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
        };
        let authority = e.rest_endpoint.to_string();
        ExecutorInfo {
            model: header(e.model_name.as_str()),
            id: header(e.id.as_str()),
            target: Target::parse(&authority),
            paths: own_paths(e),
            authority,
            duration: metrics.duration_of(e.model_name.as_str()),
            requests: RequestCounters::new(e.model_name.as_str()),
        }
    }
}

/// The paths of every action of `e` with its own version (see [`ExecutorInfo::paths`]).
fn own_paths(e: &Executor) -> Option<[PathAndQuery; 5]> {
    let selector = resolve_selector(None, false, e.model_version);
    let paths = paths::Action::ALL.map(|action| {
        let path = ModelPath {
            name: "",
            selector: None,
            action,
        };
        PathAndQuery::from_maybe_shared(Bytes::from(path.rewrite_path_and_query(
            e.model_name.as_str(),
            selector,
            None,
        )))
        .ok()
    });
    if paths.iter().any(Option::is_none) {
        return None;
    }
    Some(paths.map(|p| p.unwrap_or_else(|| PathAndQuery::from_static("/"))))
}

// === impl Target ===

impl Target {
    /// Parses `host:port`; `None` when it is not a valid URI authority.
    pub fn parse(authority: &str) -> Option<Target> {
        let authority =
            Authority::from_maybe_shared(Bytes::copy_from_slice(authority.as_bytes())).ok()?;
        let host = match authority.port_u16() {
            Some(80) | None => HeaderValue::from_str(authority.host()),
            Some(port) => HeaderValue::from_str(&format!("{}:{port}", authority.host())),
        }
        .ok()?;
        Some(Target { authority, host })
    }
}

/// The shared snapshot slot and its freshness.
#[derive(Debug)]
pub struct SnapshotState {
    current: ArcSwapOption<Snapshot>,
    epoch: Instant,
    /// Nanoseconds since `epoch` + 1 of the last store confirmation; 0 = never.
    confirmed_ns: AtomicU64,
    connected: AtomicBool,
}

/// Rebuilds the snapshot from the store.
pub struct Refresher {
    store: Store,
    client_id: Id,
    placement: ClientPlacement,
    health: Arc<HealthRegistry>,
    score: ScoreConfig,
    cfg: RefreshConfig,
    state: Arc<SnapshotState>,
    metrics: Metrics,
    last: Option<ClientView>,
    /// Model names of the installed snapshot (whose metric children exist).
    models: HashSet<Box<str>>,
    polls_since_full: u32,
    failed: bool,
    last_error_log: Option<Instant>,
    last_decode_log: Option<Instant>,
}

const LOG_EVERY: Duration = Duration::from_secs(30);

// === impl SnapshotState ===

impl SnapshotState {
    /// An empty slot (no snapshot yet).
    pub fn new() -> SnapshotState {
        SnapshotState {
            current: ArcSwapOption::empty(),
            epoch: Instant::now(),
            confirmed_ns: AtomicU64::new(0),
            connected: AtomicBool::new(false),
        }
    }

    /// The current snapshot (one atomic load and reference count increment).
    pub fn load(&self) -> Option<Arc<Snapshot>> {
        self.current.load_full()
    }

    /// Whether a snapshot was loaded.
    pub fn is_loaded(&self) -> bool {
        self.current.load().is_some()
    }

    /// Time since the store last confirmed the snapshot; `None` before the first.
    pub fn age(&self) -> Option<Duration> {
        match self.confirmed_ns.load(Ordering::Relaxed) {
            0 => None,
            n => {
                let at = self.epoch + Duration::from_nanos(n - 1);
                Some(Instant::now().saturating_duration_since(at))
            }
        }
    }

    /// Whether the last store call succeeded.
    pub fn store_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    /// Installs a snapshot (tests and the refresher).
    pub fn install(&self, snapshot: Snapshot) {
        self.current.store(Some(Arc::new(snapshot)));
        self.confirm();
    }

    fn confirm(&self) {
        let n = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX - 1);
        self.confirmed_ns.store(n + 1, Ordering::Relaxed);
        self.connected.store(true, Ordering::Relaxed);
    }
}

impl Default for SnapshotState {
    fn default() -> SnapshotState {
        SnapshotState::new()
    }
}

// === impl Refresher ===

impl Refresher {
    /// A refresher for `client_id`'s view.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Store,
        client_id: Id,
        placement: ClientPlacement,
        health: Arc<HealthRegistry>,
        score: ScoreConfig,
        cfg: RefreshConfig,
        state: Arc<SnapshotState>,
        metrics: Metrics,
    ) -> Refresher {
        Refresher {
            store,
            client_id,
            placement,
            health,
            score,
            cfg,
            state,
            metrics,
            last: None,
            models: HashSet::new(),
            polls_since_full: 0,
            failed: false,
            last_error_log: None,
            last_decode_log: None,
        }
    }

    /// Runs until cancelled.
    pub async fn run(mut self, cancel: CancellationToken) {
        let mut events = self.store.subscribe();
        let mut events_open = true;
        let mut tick = tokio::time::interval(self.cfg.poll_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick fires at once: the first full load.
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tick.tick() => self.poll(Trigger::Poll).await,
                ev = events.recv(), if events_open => {
                    let Some(ev) = ev else {
                        events_open = false;
                        continue;
                    };
                    let mut action = Action::default();
                    action.add(&ev);
                    // Debounce: a burst of announcements makes one reload.
                    tokio::time::sleep(self.cfg.debounce).await;
                    while let Some(ev) = events.try_recv() {
                        action.add(&ev);
                    }
                    if action.disconnected {
                        self.state.connected.store(false, Ordering::Relaxed);
                        self.metrics.store_connected.set(0);
                    }
                    if action.resubscribed {
                        self.full(Trigger::Reconnect).await;
                    } else if action.full {
                        self.full(Trigger::Event).await;
                    } else if action.poll {
                        self.poll(Trigger::Event).await;
                    }
                }
            }
        }
    }

    /// One poll; escalates to a full read when needed.
    async fn poll(&mut self, trigger: Trigger) {
        let Some((generation, next_expiry)) = self
            .last
            .as_ref()
            .map(|l| (l.generation, l.next_expiry_ms()))
        else {
            return self.full(Trigger::Reconnect).await;
        };
        if self.failed {
            return self.full(Trigger::Reconnect).await;
        }
        if self.polls_since_full + 1 >= self.cfg.full_reload_every {
            return self.full(trigger).await;
        }
        match self.store.read_poll(&self.client_id).await {
            Ok(p) => {
                self.count_rejected(&p.rejected);
                let expired = next_expiry.is_some_and(|t| p.server_time_ms >= t);
                if p.generation != generation || expired {
                    return self.full(trigger).await;
                }
                self.polls_since_full += 1;
                let changed = self
                    .last
                    .as_ref()
                    .is_some_and(|l| l.latencies != p.latencies);
                if changed {
                    let mut view = self.last.take().unwrap_or_default();
                    view.latencies = p.latencies;
                    view.server_time_ms = p.server_time_ms;
                    self.install(view, trigger);
                } else {
                    self.state.confirm();
                    self.metrics.store_connected.set(1);
                }
            }
            Err(e) => self.store_failed(&e),
        }
    }

    /// A full read of the client's view.
    async fn full(&mut self, trigger: Trigger) {
        match self.store.read_client_view(&self.client_id).await {
            Ok(view) => {
                let trigger = if self.failed {
                    Trigger::Reconnect
                } else {
                    trigger
                };
                if self.failed {
                    tracing::info!(store = %self.store.redacted_url(), "store reachable again");
                }
                self.failed = false;
                self.polls_since_full = 0;
                self.count_rejected(&view.rejected);
                let live: HashSet<&Id> = view.executors.iter().map(|e| &e.value.id).collect();
                self.health.retain(|id| live.contains(id));
                self.install(view, trigger);
            }
            Err(e) => self.store_failed(&e),
        }
    }

    fn install(&mut self, view: ClientView, trigger: Trigger) {
        let now = Instant::now();
        let table = Table::build(&view, &self.placement, &self.health, &self.score, now);
        self.metrics.snapshot_executors.set(table.len() as i64);
        let executors = (0..table.len())
            .map(|i| ExecutorInfo::new(table.executor(i), &self.metrics))
            .collect();
        let models: HashSet<Box<str>> = (table.executors().iter())
            .map(|e| Box::from(e.model_name.as_str()))
            .collect();
        (self.metrics).forget_models(self.models.difference(&models).map(|m| &**m));
        self.models = models;
        self.state.install(Snapshot {
            executors,
            table,
            generation: view.generation,
            server_time_ms: view.server_time_ms,
            built_at: now,
        });
        self.metrics.store_connected.set(1);
        self.metrics.refresh(trigger);
        tracing::debug!(
            generation = view.generation,
            executors = view.executors.len(),
            trigger = trigger.as_str(),
            "snapshot rebuilt"
        );
        self.last = Some(view);
    }

    fn store_failed(&mut self, e: &StoreError) {
        self.failed = true;
        self.state.connected.store(false, Ordering::Relaxed);
        self.metrics.store_connected.set(0);
        if self.last_error_log.is_none_or(|t| t.elapsed() >= LOG_EVERY) {
            self.last_error_log = Some(Instant::now());
            tracing::warn!(
                store = %self.store.redacted_url(),
                error = %e,
                "store read failed; serving from the last snapshot"
            );
        }
    }

    fn count_rejected(&mut self, rejected: &[mulambda_catalog::DecodeError]) {
        if rejected.is_empty() {
            return;
        }
        self.metrics.decode_errors.inc_by(rejected.len() as u64);
        if self
            .last_decode_log
            .is_none_or(|t| t.elapsed() >= LOG_EVERY)
        {
            self.last_decode_log = Some(Instant::now());
            tracing::warn!(
                count = rejected.len(),
                first = %rejected[0],
                "store records skipped: cannot decode"
            );
        }
    }
}

/// What a burst of events asks for.
#[derive(Debug, Default)]
struct Action {
    resubscribed: bool,
    disconnected: bool,
    full: bool,
    poll: bool,
}

// === impl Action ===

impl Action {
    fn add(&mut self, ev: &CatalogEvent) {
        match ev {
            CatalogEvent::Subscribed => self.resubscribed = true,
            CatalogEvent::Disconnected => self.disconnected = true,
            CatalogEvent::Changed(c) => match c.kind {
                ChangeKind::ExecutorUp
                | ChangeKind::ExecutorDown
                | ChangeKind::ExecutorChanged
                | ChangeKind::Unknown => self.full = true,
                ChangeKind::Latency => self.poll = true,
                ChangeKind::ClientUp | ChangeKind::ClientDown | ChangeKind::ClientChanged => {}
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mulambda_catalog::Change;

    #[test]
    fn targets_match_the_clients_host_header() {
        let t = Target::parse("10.0.0.1:8501").unwrap();
        assert_eq!(t.authority.as_str(), "10.0.0.1:8501");
        assert_eq!(t.host, "10.0.0.1:8501");
        let t = Target::parse("exec.ns.svc:80").unwrap();
        assert_eq!(t.host, "exec.ns.svc");
        assert!(Target::parse("::1:8501").is_none());
    }

    #[test]
    fn events_map_to_actions() {
        let mut a = Action::default();
        a.add(&CatalogEvent::Changed(Change::parse("client-up x")));
        assert!(!a.full && !a.poll);
        a.add(&CatalogEvent::Changed(Change::parse("latency e")));
        assert!(a.poll && !a.full);
        a.add(&CatalogEvent::Changed(Change::parse("executor-down e")));
        assert!(a.full);
        a.add(&CatalogEvent::Subscribed);
        assert!(a.resubscribed);
    }

    #[test]
    fn age_before_and_after_install() {
        let s = SnapshotState::new();
        assert!(s.age().is_none() && !s.is_loaded());
        let h = HealthRegistry::new(Default::default());
        let table = Table::empty(&h, &ScoreConfig::default(), Instant::now());
        s.install(Snapshot {
            table,
            generation: 1,
            server_time_ms: 0,
            built_at: Instant::now(),
            executors: Vec::new(),
        });
        assert!(s.is_loaded());
        assert!(s.age().unwrap() < Duration::from_secs(5));
        assert!(s.store_connected());
    }
}
