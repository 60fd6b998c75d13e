//! Publishing: a round's measurements go to the store in one pipelined write
//! ([`Store::publish_latencies`]); each client's row then lives `row_ttl` after its last write,
//! so the row of a client nobody probes any more disappears by itself.
//!
//! The publisher remembers which rows carry this executor's entry (written within the last
//! `row_ttl`), so that an orderly shutdown can remove exactly those entries at once.

use std::collections::HashMap;
use std::time::Duration;

use mulambda_catalog::{Id, LatencyMeasurement, Store, StoreError};
use tokio::time::Instant;

/// Writes latency rows for one executor.
pub struct Publisher {
    store: Store,
    executor: Id,
    row_ttl: Duration,
    written: HashMap<Id, Instant>,
}

// === impl Publisher ===

impl Publisher {
    /// A publisher for `executor`'s entries.
    pub fn new(store: Store, executor: Id, row_ttl: Duration) -> Publisher {
        Publisher {
            store,
            executor,
            row_ttl,
            written: HashMap::new(),
        }
    }

    /// Writes one round in one pipelined call.
    pub async fn publish(&mut self, rows: &[(Id, LatencyMeasurement)]) -> Result<(), StoreError> {
        // Remember the rows before writing: a write that times out may still have landed.
        let now = Instant::now();
        for (client, _) in rows {
            self.written.insert(client.clone(), now);
        }
        let ttl = self.row_ttl;
        self.written.retain(|_, at| now.duration_since(*at) < ttl);
        self.store
            .publish_latencies(&self.executor, rows, self.row_ttl)
            .await
    }

    /// Clients whose row may still hold this executor's entry.
    pub fn rows_written(&self) -> Vec<Id> {
        let now = Instant::now();
        self.written
            .iter()
            .filter(|(_, at)| now.duration_since(**at) < self.row_ttl)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Removes this executor's entries from every row it may still be in (orderly shutdown).
    pub async fn remove_all(&mut self) -> Result<usize, StoreError> {
        let clients = self.rows_written();
        self.store
            .remove_latencies(&self.executor, &clients)
            .await?;
        self.written.clear();
        Ok(clients.len())
    }
}

/// A measurement's time by the store's clock: the store's time read at the round's start plus
/// the local time elapsed since then (monotonic, so immune to local clock steps).
pub fn measured_at_ms(base_ms: u64, base: Instant, at: Instant) -> u64 {
    base_ms.saturating_add(at.saturating_duration_since(base).as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measurement_time_follows_the_store_clock() {
        let base = Instant::now();
        assert_eq!(
            measured_at_ms(1_000, base, base + Duration::from_millis(250)),
            1_250
        );
        // An instant before the base (cannot happen, but must not underflow).
        assert_eq!(
            measured_at_ms(1_000, base + Duration::from_secs(1), base),
            1_000
        );
    }
}
