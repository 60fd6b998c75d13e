//! What the proxy itself observes about each executor: service time, load, failures.
//!
//! One [`ExecutorHealth`] per executor id lives in the [`HealthRegistry`] and survives snapshot
//! rebuilds (a [`Table`](super::Table) only holds `Arc`s to them). Every field is an atomic, so the
//! request path records outcomes and the selection reads them without a lock. Concurrent updates
//! race benignly: an observation may lose part of its weight, never corrupt a value.
//!
//! - Service time: a time-weighted "peak" EWMA (Linkerd's PeakEWMA): a slower observation is
//!   taken at once, a faster one is blended in with weight `1 - 2^(-dt / ewma_half_life)`.
//! - Failures: each one feeds `max(failure_penalty, 2 × current EWMA)` into the EWMA, so an
//!   executor that fails fast never looks fast; `breaker_failures` consecutive failures open the
//!   breaker for `breaker_base_backoff × 2^(trips)` (capped at `breaker_max_backoff`). After the
//!   backoff the selection may claim one probation request (half-open); its success closes the
//!   breaker, its failure reopens it with a doubled backoff. A claimed probation whose outcome
//!   never arrives (request dropped) expires after `probation_timeout`.
//! - Ramp-in: the first-seen time of an executor, from which the selection derives its ramp.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use mulambda_catalog::Id;

/// Tuning of the proxy's own observations, the breaker and the ramp-in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HealthConfig {
    /// Half-life of the service-time EWMA (time-weighted), and of its decay toward the probe
    /// figure once it is stale. Default 2 s.
    pub ewma_half_life: Duration,
    /// An own observation older than this starts decaying toward the probe figure. Default 5 s.
    pub stale_after: Duration,
    /// Consecutive failures that open the breaker. Default 5.
    pub breaker_failures: u32,
    /// First breaker backoff; doubled on every re-open without a success in between. Default 1 s.
    pub breaker_base_backoff: Duration,
    /// Largest breaker backoff. Default 30 s.
    pub breaker_max_backoff: Duration,
    /// How long a newly seen executor is ramped in. Default 30 s.
    pub ramp_up: Duration,
    /// Share of the traffic a new executor may win at the very start of its ramp, in [0, 1];
    /// grows linearly to 1 over `ramp_up`. Default 0.1.
    pub ramp_floor: f64,
    /// Service time a failure counts as (at least; twice the current EWMA when that is larger).
    /// Default 500 ms.
    pub failure_penalty: Duration,
    /// A claimed probation request whose outcome is not reported within this time may be claimed
    /// again. Default 10 s.
    pub probation_timeout: Duration,
}

impl Default for HealthConfig {
    fn default() -> HealthConfig {
        HealthConfig {
            ewma_half_life: Duration::from_secs(2),
            stale_after: Duration::from_secs(5),
            breaker_failures: 5,
            breaker_base_backoff: Duration::from_secs(1),
            breaker_max_backoff: Duration::from_secs(30),
            ramp_up: Duration::from_secs(30),
            ramp_floor: 0.1,
            failure_penalty: Duration::from_millis(500),
            probation_timeout: Duration::from_secs(10),
        }
    }
}

/// Per-executor health records, keyed by executor id. Locked only off the hot path (when a
/// table is built or pruned), never per selection.
#[derive(Debug)]
pub struct HealthRegistry {
    cfg: HealthConfig,
    epoch: Instant,
    map: Mutex<HashMap<Id, Arc<ExecutorHealth>>>,
}

/// Breaker state of one executor, as read at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Requests flow.
    Closed,
    /// Open: not chosen until the backoff has run out.
    Open,
    /// The backoff ran out: the next selection that picks it claims the probation request.
    ProbationReady,
    /// A probation request is in flight: not chosen until it reports (or times out).
    HalfOpen,
}

/// What the proxy observed about one executor. Lock-free.
#[derive(Debug)]
#[repr(C)]
pub struct ExecutorHealth {
    // Hot fields first (read on every selection).
    /// 0: closed; else `deadline_ns + 1` (ns since the registry's epoch) with
    /// [`HALF_OPEN_BIT`] set while a probation request is in flight.
    breaker: AtomicU64,
    inflight: AtomicU32,
    consecutive_failures: AtomicU32,
    /// f64 bits of the EWMA in ms; [`NO_OBSERVATION`] when nothing was observed yet.
    ewma_ms: AtomicU64,
    /// ns since the epoch of the last observation.
    last_observed_ns: AtomicU64,
    /// Breaker openings since the last success (drives the exponential backoff).
    trips: AtomicU32,
    first_seen_ns: u64,
    epoch: Instant,
    cfg: HealthConfig,
}

/// A request in flight to one executor. Dropping it without reporting only ends the in-flight
/// count (e.g. the client went away).
#[derive(Debug)]
#[must_use = "report the outcome with succeeded() or failed()"]
pub struct InFlight {
    health: Arc<ExecutorHealth>,
}

/// A snapshot of one executor's health figures, for explanations and tests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HealthSnapshot {
    /// Service-time EWMA in ms, if anything was observed.
    pub ewma_ms: Option<f64>,
    /// Age of the last observation.
    pub observed_age: Option<Duration>,
    /// Requests in flight.
    pub inflight: u32,
    /// Consecutive failures since the last success.
    pub consecutive_failures: u32,
    /// Breaker state.
    pub breaker: BreakerState,
    /// Time since this proxy first saw the executor.
    pub seen_for: Duration,
}

const NO_OBSERVATION: u64 = u64::MAX;
/// Repeated failures double the penalty up to this (one minute), never to infinity.
const MAX_PENALTY_MS: f64 = 60_000.0;
/// Marks a claimed probation in [`ExecutorHealth::breaker`].
pub(crate) const HALF_OPEN_BIT: u64 = 1 << 63;

pub(crate) fn nanos_since(epoch: Instant, now: Instant) -> u64 {
    u64::try_from(now.saturating_duration_since(epoch).as_nanos()).unwrap_or(u64::MAX >> 2)
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX >> 2)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `2^(-elapsed / half_life)`, 0 for a zero half-life.
pub(crate) fn decay(elapsed_ns: u64, half_life_ns: u64) -> f64 {
    if half_life_ns == 0 {
        return 0.0;
    }
    let x = elapsed_ns as f64 / half_life_ns as f64;
    if x > 60.0 { 0.0 } else { (-x).exp2() }
}

// === impl HealthRegistry ===

impl HealthRegistry {
    /// An empty registry.
    pub fn new(cfg: HealthConfig) -> HealthRegistry {
        HealthRegistry {
            cfg,
            // Backdated so that "settled" executors (seen before the ramp could matter) can be
            // given a first-seen time before any `now` the caller passes.
            epoch: Instant::now()
                .checked_sub(Duration::from_secs(3600))
                .unwrap_or_else(Instant::now),
            map: Mutex::new(HashMap::new()),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &HealthConfig {
        &self.cfg
    }

    /// The record of `id`, created (first seen at `now`) when missing.
    pub fn get_or_insert(&self, id: &Id, now: Instant) -> Arc<ExecutorHealth> {
        self.get_or_insert_with_ramp(id, now, true)
    }

    /// Like [`get_or_insert`](Self::get_or_insert); a record created with `ramp == false` is
    /// treated as already ramped in (used for the executors of the very first snapshot: they
    /// are not new to the platform, only to this proxy).
    pub fn get_or_insert_with_ramp(
        &self,
        id: &Id,
        now: Instant,
        ramp: bool,
    ) -> Arc<ExecutorHealth> {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(h) = map.get(id) {
            return Arc::clone(h);
        }
        let now_ns = nanos_since(self.epoch, now);
        let first_seen_ns = if ramp {
            now_ns
        } else {
            now_ns.saturating_sub(nanos(self.cfg.ramp_up))
        };
        let h = Arc::new(ExecutorHealth::new(self.epoch, first_seen_ns, self.cfg));
        map.insert(id.clone(), Arc::clone(&h));
        h
    }

    /// Keeps only the records whose id satisfies `live` (call after a rebuild with the ids still
    /// in the catalog).
    pub fn retain(&self, live: impl Fn(&Id) -> bool) {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        map.retain(|id, _| live(id));
    }

    /// How many executors have a breaker that is not closed (open, waiting for or running a
    /// probation request).
    pub fn open_breakers(&self) -> usize {
        let map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        map.values()
            .filter(|h| h.breaker.load(Ordering::Relaxed) != 0)
            .count()
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether there is no record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn epoch(&self) -> Instant {
        self.epoch
    }
}

// === impl ExecutorHealth ===

impl ExecutorHealth {
    fn new(epoch: Instant, first_seen_ns: u64, cfg: HealthConfig) -> ExecutorHealth {
        ExecutorHealth {
            breaker: AtomicU64::new(0),
            inflight: AtomicU32::new(0),
            consecutive_failures: AtomicU32::new(0),
            ewma_ms: AtomicU64::new(NO_OBSERVATION),
            last_observed_ns: AtomicU64::new(0),
            trips: AtomicU32::new(0),
            first_seen_ns,
            epoch,
            cfg,
        }
    }

    /// Starts a request: counts it in flight until the returned guard is consumed or dropped.
    pub fn start(self: &Arc<Self>, _now: Instant) -> InFlight {
        self.inflight.fetch_add(1, Ordering::Relaxed);
        InFlight {
            health: Arc::clone(self),
        }
    }

    /// Requests in flight now.
    pub fn inflight(&self) -> u32 {
        self.inflight.load(Ordering::Relaxed)
    }

    /// Consecutive failures since the last success.
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures.load(Ordering::Relaxed)
    }

    /// The breaker state at `now`.
    pub fn breaker_state(&self, now: Instant) -> BreakerState {
        self.breaker_state_ns(nanos_since(self.epoch, now))
    }

    /// A snapshot of the figures at `now`.
    pub fn snapshot(&self, now: Instant) -> HealthSnapshot {
        let now_ns = nanos_since(self.epoch, now);
        let (ewma_ms, observed_age) = match self.observation() {
            Some((v, at)) => (
                Some(v),
                Some(Duration::from_nanos(now_ns.saturating_sub(at))),
            ),
            None => (None, None),
        };
        HealthSnapshot {
            ewma_ms,
            observed_age,
            inflight: self.inflight(),
            consecutive_failures: self.consecutive_failures(),
            breaker: self.breaker_state_ns(now_ns),
            seen_for: Duration::from_nanos(now_ns.saturating_sub(self.first_seen_ns)),
        }
    }

    pub(crate) fn first_seen_ns(&self) -> u64 {
        self.first_seen_ns
    }

    pub(crate) fn breaker_raw(&self) -> u64 {
        self.breaker.load(Ordering::Relaxed)
    }

    pub(crate) fn breaker_state_ns(&self, now_ns: u64) -> BreakerState {
        let raw = self.breaker_raw();
        if raw == 0 {
            return BreakerState::Closed;
        }
        let deadline = (raw & !HALF_OPEN_BIT) - 1;
        match (raw & HALF_OPEN_BIT != 0, now_ns < deadline) {
            (false, true) => BreakerState::Open,
            (true, true) => BreakerState::HalfOpen,
            (_, false) => BreakerState::ProbationReady,
        }
    }

    /// The EWMA (ms) and when it was last fed (ns since the epoch).
    pub(crate) fn observation(&self) -> Option<(f64, u64)> {
        let bits = self.ewma_ms.load(Ordering::Relaxed);
        if bits == NO_OBSERVATION {
            return None;
        }
        Some((
            f64::from_bits(bits),
            self.last_observed_ns.load(Ordering::Relaxed),
        ))
    }

    /// Claims the probation request if the breaker is ready for one (`raw` as read by the
    /// caller). True when this caller won it.
    pub(crate) fn claim_probation(&self, raw: u64, now_ns: u64) -> bool {
        if raw == 0 {
            return true;
        }
        let deadline = (raw & !HALF_OPEN_BIT) - 1;
        if now_ns < deadline {
            return false;
        }
        let until = now_ns.saturating_add(nanos(self.cfg.probation_timeout));
        self.breaker
            .compare_exchange(
                raw,
                (until + 1) | HALF_OPEN_BIT,
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_ok()
    }

    fn observe(&self, sample_ms: f64, now_ns: u64, peak: bool) {
        let half_life = nanos(self.cfg.ewma_half_life);
        let last = self.last_observed_ns.swap(now_ns, Ordering::Relaxed);
        let mut cur = self.ewma_ms.load(Ordering::Relaxed);
        loop {
            let next = if cur == NO_OBSERVATION {
                sample_ms
            } else {
                let old = f64::from_bits(cur);
                if peak && sample_ms > old {
                    sample_ms
                } else {
                    let w = decay(now_ns.saturating_sub(last), half_life);
                    w * old + (1.0 - w) * sample_ms
                }
            };
            match self.ewma_ms.compare_exchange_weak(
                cur,
                next.to_bits(),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }

    fn record_success(&self, service_time: Duration, now_ns: u64) {
        self.observe(ms(service_time), now_ns, true);
        self.consecutive_failures.store(0, Ordering::Relaxed);
        if self.breaker.swap(0, Ordering::AcqRel) != 0 {
            self.trips.store(0, Ordering::Relaxed);
        }
    }

    fn record_failure(&self, now_ns: u64) {
        let current = self.observation().map_or(0.0, |(v, _)| v);
        let penalty = ms(self.cfg.failure_penalty).max((2.0 * current).min(MAX_PENALTY_MS));
        self.observe(penalty, now_ns, true);
        let failures = self.consecutive_failures.fetch_add(1, Ordering::Relaxed) + 1;
        let raw = self.breaker_raw();
        let probation_failed = raw & HALF_OPEN_BIT != 0;
        if (raw == 0 && failures >= self.cfg.breaker_failures.max(1)) || probation_failed {
            let trips = self.trips.load(Ordering::Relaxed);
            let backoff = self
                .cfg
                .breaker_base_backoff
                .saturating_mul(1u32 << trips.min(20))
                .min(self.cfg.breaker_max_backoff);
            let until = now_ns.saturating_add(nanos(backoff));
            if self
                .breaker
                .compare_exchange(raw, until + 1, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                self.trips.fetch_add(1, Ordering::Relaxed);
                self.consecutive_failures.store(0, Ordering::Relaxed);
            }
        }
    }
}

// === impl InFlight ===

impl InFlight {
    /// The request succeeded after `service_time` (as the proxy measured it, end to end).
    pub fn succeeded(self, service_time: Duration, now: Instant) {
        let h = &self.health;
        h.record_success(service_time, nanos_since(h.epoch, now));
    }

    /// The request failed (connect error, 5xx, timeout): counts against the expected latency
    /// and toward the breaker.
    pub fn failed(self, now: Instant) {
        let h = &self.health;
        h.record_failure(nanos_since(h.epoch, now));
    }

    /// The executor's record.
    pub fn health(&self) -> &Arc<ExecutorHealth> {
        &self.health
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.health.inflight.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> Id {
        Id::parse(s).unwrap()
    }

    #[test]
    fn inflight_counts_and_drops() {
        let reg = HealthRegistry::new(HealthConfig::default());
        let now = Instant::now();
        let h = reg.get_or_insert(&id("a"), now);
        let a = h.start(now);
        let b = h.start(now);
        assert_eq!(h.inflight(), 2);
        a.succeeded(Duration::from_millis(3), now);
        drop(b);
        assert_eq!(h.inflight(), 0);
        assert_eq!(h.snapshot(now).ewma_ms, Some(3.0));
    }

    #[test]
    fn ewma_takes_peaks_and_decays_with_time() {
        let reg = HealthRegistry::new(HealthConfig::default());
        let t0 = Instant::now();
        let h = reg.get_or_insert(&id("a"), t0);
        h.start(t0).succeeded(Duration::from_millis(10), t0);
        h.start(t0).succeeded(Duration::from_millis(40), t0);
        assert_eq!(
            h.snapshot(t0).ewma_ms,
            Some(40.0),
            "a slower sample is taken at once"
        );
        // One half-life later a fast sample has half the weight.
        let t1 = t0 + Duration::from_secs(2);
        h.start(t1).succeeded(Duration::from_millis(10), t1);
        let v = h.snapshot(t1).ewma_ms.unwrap();
        assert!((v - 25.0).abs() < 1e-9, "{v}");
    }

    #[test]
    fn failures_penalise_and_open_the_breaker_then_one_probation() {
        let cfg = HealthConfig::default();
        let reg = HealthRegistry::new(cfg);
        let t0 = Instant::now();
        let h = reg.get_or_insert(&id("a"), t0);
        h.start(t0).succeeded(Duration::from_millis(1), t0);
        h.start(t0).failed(t0);
        assert!(
            h.snapshot(t0).ewma_ms.unwrap() >= 500.0,
            "a failure never looks fast"
        );
        for _ in 1..cfg.breaker_failures {
            h.start(t0).failed(t0);
        }
        assert_eq!(h.breaker_state(t0), BreakerState::Open);
        assert_eq!(reg.open_breakers(), 1);
        let t1 = t0 + cfg.breaker_base_backoff;
        assert_eq!(h.breaker_state(t1), BreakerState::ProbationReady);
        let now_ns = nanos_since(reg.epoch(), t1);
        let raw = h.breaker_raw();
        assert!(h.claim_probation(raw, now_ns));
        assert!(!h.claim_probation(raw, now_ns), "only one probation");
        assert_eq!(h.breaker_state(t1), BreakerState::HalfOpen);
        // The probation fails: reopened with a doubled backoff.
        h.start(t1).failed(t1);
        assert_eq!(
            h.breaker_state(t1 + cfg.breaker_base_backoff),
            BreakerState::Open
        );
        let t2 = t1 + 2 * cfg.breaker_base_backoff;
        assert_eq!(h.breaker_state(t2), BreakerState::ProbationReady);
        let raw = h.breaker_raw();
        assert!(h.claim_probation(raw, nanos_since(reg.epoch(), t2)));
        h.start(t2).succeeded(Duration::from_millis(1), t2);
        assert_eq!(h.breaker_state(t2), BreakerState::Closed);
        assert_eq!(reg.open_breakers(), 0);
    }

    #[test]
    fn unreported_probation_expires() {
        let cfg = HealthConfig::default();
        let reg = HealthRegistry::new(cfg);
        let t0 = Instant::now();
        let h = reg.get_or_insert(&id("a"), t0);
        for _ in 0..cfg.breaker_failures {
            h.start(t0).failed(t0);
        }
        let t1 = t0 + cfg.breaker_base_backoff;
        assert!(h.claim_probation(h.breaker_raw(), nanos_since(reg.epoch(), t1)));
        let t2 = t1 + cfg.probation_timeout;
        assert_eq!(h.breaker_state(t2), BreakerState::ProbationReady);
    }

    #[test]
    fn registry_retains_and_settles() {
        let reg = HealthRegistry::new(HealthConfig::default());
        let now = Instant::now();
        let a = reg.get_or_insert_with_ramp(&id("a"), now, false);
        let b = reg.get_or_insert(&id("b"), now);
        assert!(a.snapshot(now).seen_for >= reg.config().ramp_up);
        assert_eq!(b.snapshot(now).seen_for, Duration::ZERO);
        assert!(Arc::ptr_eq(&a, &reg.get_or_insert(&id("a"), now)));
        reg.retain(|i| i.as_str() == "a");
        assert_eq!(reg.len(), 1);
    }
}
