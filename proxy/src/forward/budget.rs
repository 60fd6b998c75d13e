//! A retry budget in the style of Finagle's and Linkerd's: within a sliding window, retries may
//! not exceed `ratio` × requests plus `min_per_sec` × window seconds. Retries then cannot
//! amplify an overload (at most `1 + ratio` times the offered load), while a quiet proxy can
//! still retry the odd failure.
//!
//! Lock-free and approximate: the window is ten slots of atomic counters; a slot is reset when
//! it is reused for a newer period (a race can lose a count, which only loosens the budget a
//! little for one slot).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mulambda_runtime::parse;

const SLOTS: usize = 10;

/// A retry budget's options: within `window`, retries ≤ `ratio` × requests + `min_per_sec` ×
/// window.
#[derive(Debug, Clone, Copy, PartialEq, clap::Args)]
pub struct BudgetConfig {
    /// Retry budget: retries allowed as a fraction of the requests in the window.
    #[arg(long = "retry-ratio", env = "MULAMBDA_RETRY_RATIO", default_value = "0.2",
          value_name = "X", value_parser = parse::number_in(0.0, 10.0))]
    pub ratio: f64,

    /// Retry budget: retries allowed per second on top of the ratio (so a quiet proxy can retry).
    #[arg(long = "retry-min-per-sec", env = "MULAMBDA_RETRY_MIN_PER_SEC", default_value = "10",
          value_name = "N", value_parser = parse::number_in(0.0, 1e6))]
    pub min_per_sec: f64,

    /// Retry budget: sliding window (at most 1h).
    #[arg(long = "retry-window", env = "MULAMBDA_RETRY_WINDOW", default_value = "10s",
          value_name = "DURATION", value_parser = window)]
    pub window: Duration,
}

fn window(text: &str) -> Result<Duration, String> {
    match parse::positive_duration(text)? {
        w if w > Duration::from_secs(3600) => Err("must be at most 1h".into()),
        w => Ok(w),
    }
}

/// The budget.
#[derive(Debug)]
pub struct RetryBudget {
    cfg: BudgetConfig,
    epoch: Instant,
    slot_ns: u64,
    slots: [Slot; SLOTS],
}

#[derive(Debug, Default)]
struct Slot {
    /// Period index + 1 the counters belong to; 0 = never used.
    stamp: AtomicU64,
    requests: AtomicU64,
    retries: AtomicU64,
}

// === impl RetryBudget ===

impl RetryBudget {
    /// An empty budget.
    pub fn new(cfg: BudgetConfig) -> RetryBudget {
        let slot_ns = u64::try_from((cfg.window / SLOTS as u32).as_nanos())
            .unwrap_or(u64::MAX)
            .max(1_000_000);
        RetryBudget {
            cfg,
            epoch: Instant::now(),
            slot_ns,
            slots: Default::default(),
        }
    }

    /// Counts a request (call once per client request, not per attempt).
    pub fn request(&self, now: Instant) {
        let (slot, _) = self.slot(now);
        slot.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Withdraws one retry if the budget allows it.
    pub fn try_retry(&self, now: Instant) -> bool {
        let (slot, period) = self.slot(now);
        let (mut requests, mut retries) = (0u64, 0u64);
        for s in &self.slots {
            let stamp = s.stamp.load(Ordering::Acquire);
            if stamp != 0 && stamp - 1 + (SLOTS as u64) > period {
                requests += s.requests.load(Ordering::Relaxed);
                retries += s.retries.load(Ordering::Relaxed);
            }
        }
        let window_secs = self.cfg.window.as_secs_f64();
        let allowed = self.cfg.ratio * requests as f64 + self.cfg.min_per_sec * window_secs;
        if (retries + 1) as f64 <= allowed {
            slot.retries.fetch_add(1, Ordering::Relaxed);
            true
        } else {
            false
        }
    }

    fn slot(&self, now: Instant) -> (&Slot, u64) {
        let elapsed =
            u64::try_from(now.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX);
        let period = elapsed / self.slot_ns;
        let slot = &self.slots[(period % SLOTS as u64) as usize];
        let stamp = slot.stamp.load(Ordering::Acquire);
        if stamp != period + 1
            && stamp < period + 1
            && slot
                .stamp
                .compare_exchange(stamp, period + 1, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            slot.requests.store(0, Ordering::Relaxed);
            slot.retries.store(0, Ordering::Relaxed);
        }
        (slot, period)
    }

    /// The window.
    pub fn window(&self) -> Duration {
        self.cfg.window
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(ratio: f64, min_per_sec: f64) -> RetryBudget {
        RetryBudget::new(BudgetConfig {
            ratio,
            min_per_sec,
            window: Duration::from_secs(10),
        })
    }

    #[test]
    fn ratio_bounds_retries() {
        let b = budget(0.2, 0.0);
        let now = Instant::now();
        for _ in 0..100 {
            b.request(now);
        }
        let granted = (0..100).filter(|_| b.try_retry(now)).count();
        assert_eq!(granted, 20);
    }

    #[test]
    fn floor_allows_a_quiet_proxy_to_retry() {
        let b = budget(0.0, 0.5);
        let now = Instant::now();
        let granted = (0..100).filter(|_| b.try_retry(now)).count();
        assert_eq!(granted, 5);
        assert!(!budget(0.0, 0.0).try_retry(now));
    }

    #[test]
    fn old_periods_leave_the_window() {
        let b = budget(0.0, 0.1);
        let t0 = Instant::now();
        assert!(b.try_retry(t0));
        assert!(!b.try_retry(t0));
        let later = t0 + Duration::from_secs(11);
        assert!(b.try_retry(later));
    }
}
