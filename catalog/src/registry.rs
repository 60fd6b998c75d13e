//! Writes: registrations under leases, deregistration, latency rows, and the sweep.
//!
//! Every registration change bumps the generation counter *and* publishes an event, in one
//! pipeline: pub/sub makes readers fast, the counter makes them correct when a message is lost.

use std::time::Duration;

use crate::schema::{self, Keys};
use crate::store::{Store, StoreError, time_ms};
use crate::{Client, Executor, Id, LatencyMeasurement};

/// What a registration write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Registered {
    /// The lease deadline written, by the store's clock (ms since the epoch).
    pub lease_until_ms: u64,
    /// Whether readers were told (generation bumped, event published).
    pub announced: bool,
}

/// The kinds of record under a lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecordKind {
    Executor,
    Client,
}

// === impl RecordKind ===

impl RecordKind {
    fn hash<'k>(&self, keys: &'k Keys) -> &'k str {
        match self {
            RecordKind::Executor => keys.executors(),
            RecordKind::Client => keys.clients(),
        }
    }

    fn word(&self) -> &'static str {
        match self {
            RecordKind::Executor => "executor",
            RecordKind::Client => "client",
        }
    }
}

// === impl Store (registrations) ===

impl Store {
    /// Writes (or renews) an executor's registration with a lease of `ttl`.
    ///
    /// `announce` tells readers something changed (new record, changed traits or readiness).
    /// A record that was absent before (first registration, swept after a lapse, or lost in a
    /// store restart) is announced regardless.
    pub async fn register_executor(
        &self,
        executor: &Executor,
        ttl: Duration,
        announce: bool,
    ) -> Result<Registered, StoreError> {
        let now = self.server_time_ms().await?;
        let lease = now.saturating_add(ttl.as_millis() as u64);
        let body = schema::encode_executor(executor, lease);
        self.put_leased(RecordKind::Executor, &executor.id, body, lease, announce)
            .await
    }

    /// Writes (or renews) a client's registration with a lease of `ttl`; see
    /// [`Store::register_executor`] for `announce`.
    pub async fn register_client(
        &self,
        client: &Client,
        ttl: Duration,
        announce: bool,
    ) -> Result<Registered, StoreError> {
        let now = self.server_time_ms().await?;
        let lease = now.saturating_add(ttl.as_millis() as u64);
        let body = schema::encode_client(client, lease);
        self.put_leased(RecordKind::Client, &client.id, body, lease, announce)
            .await
    }

    async fn put_leased(
        &self,
        kind: RecordKind,
        id: &Id,
        body: String,
        lease_until_ms: u64,
        announce: bool,
    ) -> Result<Registered, StoreError> {
        let keys = self.keys();
        let mut p = redis::pipe();
        p.cmd("HSET")
            .arg(kind.hash(keys))
            .arg(id.as_str())
            .arg(body);
        if announce {
            p.cmd("INCR").arg(keys.generation()).ignore();
            p.cmd("PUBLISH")
                .arg(keys.events())
                .arg(format!("{}-changed {id}", kind.word()))
                .ignore();
        }
        let (added,): (u64,) = self.query("register", &p).await?;
        if added == 1 && !announce {
            self.announce(&format!("{}-up {id}", kind.word())).await?;
            return Ok(Registered {
                lease_until_ms,
                announced: true,
            });
        }
        Ok(Registered {
            lease_until_ms,
            announced: announce,
        })
    }

    async fn announce(&self, message: &str) -> Result<(), StoreError> {
        let keys = self.keys();
        let mut p = redis::pipe();
        p.cmd("INCR").arg(keys.generation()).ignore();
        p.cmd("PUBLISH").arg(keys.events()).arg(message).ignore();
        self.query::<()>("announce", &p).await
    }

    /// Removes an executor at once (orderly shutdown) and tells readers.
    pub async fn deregister_executor(&self, id: &Id) -> Result<(), StoreError> {
        self.remove_leased(RecordKind::Executor, id).await
    }

    /// Removes a client at once (orderly shutdown) and tells readers.
    pub async fn deregister_client(&self, id: &Id) -> Result<(), StoreError> {
        self.remove_leased(RecordKind::Client, id).await
    }

    async fn remove_leased(&self, kind: RecordKind, id: &Id) -> Result<(), StoreError> {
        let keys = self.keys();
        let mut p = redis::pipe();
        p.cmd("HDEL").arg(kind.hash(keys)).arg(id.as_str()).ignore();
        p.cmd("INCR").arg(keys.generation()).ignore();
        p.cmd("PUBLISH")
            .arg(keys.events())
            .arg(format!("{}-down {id}", kind.word()))
            .ignore();
        self.query::<()>("deregister", &p).await
    }

    /// Publishes one probe round of an executor's measurements, one per client, in a single
    /// pipelined write. Each client's row expires `row_ttl` after its last write, so the row of a
    /// client that left (and is no longer probed by anyone) disappears by itself.
    ///
    /// Latency rows do not bump the generation: each proxy reads its own row on every poll.
    pub async fn publish_latencies(
        &self,
        executor: &Id,
        measurements: &[(Id, LatencyMeasurement)],
        row_ttl: Duration,
    ) -> Result<(), StoreError> {
        if measurements.is_empty() {
            return Ok(());
        }
        let keys = self.keys();
        let ttl_ms = row_ttl.as_millis().max(1) as u64;
        let mut p = redis::pipe();
        for (client, m) in measurements {
            let row = keys.latency_row(client);
            p.cmd("HSET")
                .arg(&row)
                .arg(executor.as_str())
                .arg(schema::encode_latency(m))
                .ignore();
            p.cmd("PEXPIRE").arg(&row).arg(ttl_ms).ignore();
        }
        p.cmd("PUBLISH")
            .arg(keys.events())
            .arg(format!("latency {executor}"))
            .ignore();
        self.query::<()>("publish_latencies", &p).await
    }

    /// Removes an executor's entries from the given clients' rows (orderly shutdown).
    pub async fn remove_latencies(&self, executor: &Id, clients: &[Id]) -> Result<(), StoreError> {
        if clients.is_empty() {
            return Ok(());
        }
        let keys = self.keys();
        let mut p = redis::pipe();
        for client in clients {
            p.cmd("HDEL")
                .arg(keys.latency_row(client))
                .arg(executor.as_str())
                .ignore();
        }
        self.query::<()>("remove_latencies", &p).await
    }

    /// Deletes registrations whose lease ran out more than `grace` ago. Readers already ignore
    /// them; this only keeps the hashes small. Returns how many fields were removed.
    ///
    /// Without a server-side script (which DragonflyDB restricts) the check and the delete are
    /// not atomic: an owner that renews in between loses its record until its next heartbeat,
    /// which re-adds and re-announces it. `grace` makes that race need a very late heartbeat.
    pub async fn sweep_expired(&self, grace: Duration) -> Result<usize, StoreError> {
        let keys = self.keys();
        let mut p = redis::pipe();
        p.cmd("TIME");
        p.cmd("HGETALL").arg(keys.executors());
        p.cmd("HGETALL").arg(keys.clients());
        type Hash = std::collections::HashMap<Vec<u8>, Vec<u8>>;
        let (time, executors, clients): ((u64, u64), Hash, Hash) =
            self.query("sweep_read", &p).await?;
        let cutoff = time_ms(time).saturating_sub(grace.as_millis() as u64);
        let mut doomed: Vec<(&str, &Vec<u8>)> = Vec::new();
        for (hash, map) in [(keys.executors(), &executors), (keys.clients(), &clients)] {
            for (field, value) in map {
                if lease_of(value).is_none_or(|l| l < cutoff) {
                    doomed.push((hash, field));
                }
            }
        }
        if doomed.is_empty() {
            return Ok(0);
        }
        let mut p = redis::pipe();
        for (hash, field) in &doomed {
            p.cmd("HDEL").arg(*hash).arg(field.as_slice()).ignore();
        }
        self.query::<()>("sweep_delete", &p).await?;
        Ok(doomed.len())
    }
}

/// The lease deadline of a raw record, if it has a readable one. Records without one (garbage)
/// are swept too: no reader can use them.
fn lease_of(raw: &[u8]) -> Option<u64> {
    if raw.len() > schema::MAX_RECORD_BYTES {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(raw).ok()?;
    v.get("lease_until_ms")?.as_u64()
}
