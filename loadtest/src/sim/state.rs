//! Runtime state of one simulated executor, shared by its connections and its handle.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use arc_swap::ArcSwap;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::config::{Fault, ServiceTime, SimConfig};
use super::draw::Draws;

/// Counters of one executor since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SimStats {
    /// Every request received, control requests included.
    pub requests: u64,
    /// Inference requests received (`:predict`, `:classify`, `:regress`).
    pub inference: u64,
    /// Inference requests answered 200.
    pub inference_ok: u64,
    /// Injected faults (errors, stalls, drops).
    pub faults: u64,
    /// Inference requests being served now.
    pub in_flight: u64,
}

/// Shared state of one executor.
#[derive(Debug)]
pub struct ExecutorState {
    /// Static configuration (name, model, versions, labels).
    pub config: SimConfig,
    /// Current service time.
    pub timing: ArcSwap<ServiceTime>,
    /// Current faults.
    pub fault: ArcSwap<Fault>,
    /// Whether the model is available.
    pub available: AtomicBool,
    /// Cancelled at shutdown: stalled requests give up.
    pub shutdown: CancellationToken,
    /// The random draws of inference requests (seeded by the configuration when it has a seed).
    pub draws: Draws,
    in_flight: AtomicUsize,
    requests: AtomicU64,
    inference: AtomicU64,
    inference_ok: AtomicU64,
    faults: AtomicU64,
}

// === impl ExecutorState ===

impl ExecutorState {
    /// State for a validated configuration.
    pub fn new(config: SimConfig) -> Arc<Self> {
        Arc::new(Self {
            timing: ArcSwap::from_pointee(config.timing.clone()),
            fault: ArcSwap::from_pointee(config.fault.clone()),
            available: AtomicBool::new(config.available),
            shutdown: CancellationToken::new(),
            draws: Draws::new(config.seed.unwrap_or_else(rand::random)),
            in_flight: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
            inference: AtomicU64::new(0),
            inference_ok: AtomicU64::new(0),
            faults: AtomicU64::new(0),
            config,
        })
    }

    /// Whether the model is available now.
    pub fn is_available(&self) -> bool {
        self.available.load(Ordering::Relaxed)
    }

    /// Counts a received request.
    pub fn count_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an inference request and marks it in flight until the guard drops; returns the
    /// number in flight, this one included.
    pub fn begin_inference(self: &Arc<Self>) -> (InFlight, usize) {
        self.inference.fetch_add(1, Ordering::Relaxed);
        let n = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        (InFlight(Arc::clone(self)), n)
    }

    /// Counts a successful inference answer.
    pub fn count_ok(&self) {
        self.inference_ok.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an injected fault.
    pub fn count_fault(&self) {
        self.faults.fetch_add(1, Ordering::Relaxed);
    }

    /// Current counters.
    pub fn stats(&self) -> SimStats {
        SimStats {
            requests: self.requests.load(Ordering::Relaxed),
            inference: self.inference.load(Ordering::Relaxed),
            inference_ok: self.inference_ok.load(Ordering::Relaxed),
            faults: self.faults.load(Ordering::Relaxed),
            in_flight: self.in_flight.load(Ordering::Relaxed) as u64,
        }
    }
}

/// Marks one inference request in flight while alive.
#[derive(Debug)]
pub struct InFlight(Arc<ExecutorState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}
