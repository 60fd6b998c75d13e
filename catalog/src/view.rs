//! Reads: what a proxy, a companion or an operator sees of the catalog.
//!
//! A proxy's full refresh is one pipelined round trip — the store's clock, the generation,
//! every executor, and only its own latency row — so its cost grows with the catalog, never
//! with the number of clients. Records are decoded one by one: a bad record is reported and
//! skipped, never allowed to spoil the rest.

use std::collections::HashMap;

use crate::schema::{self, DecodeError};
use crate::store::{Store, StoreError, parse_generation, time_ms};
use crate::{Client, Executor, Id, LatencyMeasurement};

/// A record with its lease deadline.
#[derive(Debug, Clone, PartialEq)]
pub struct Leased<T> {
    /// The record.
    pub value: T,
    /// Lease deadline by the store's clock (ms since the epoch).
    pub lease_until_ms: u64,
}

/// Everything one proxy needs: live executors and its own latency row.
#[derive(Debug, Clone, Default)]
pub struct ClientView {
    /// The store's clock when the view was read (ms since the epoch).
    pub server_time_ms: u64,
    /// The registration generation read in the same round trip.
    pub generation: u64,
    /// Executors whose lease is still running, in no particular order.
    pub executors: Vec<Leased<Executor>>,
    /// This client's latency row: executor id → measurement.
    pub latencies: HashMap<Id, LatencyMeasurement>,
    /// Records that failed to decode (each names key and field); they were skipped.
    pub rejected: Vec<DecodeError>,
    /// How many records were skipped because their lease had run out.
    pub expired: usize,
}

impl ClientView {
    /// The earliest lease deadline among the executors: after it, a reader must reload even if
    /// the generation did not move, because that executor has vanished by lease.
    pub fn next_expiry_ms(&self) -> Option<u64> {
        self.executors.iter().map(|e| e.lease_until_ms).min()
    }
}

/// A cheap poll: the clock, the generation and the client's own latency row.
#[derive(Debug, Clone, Default)]
pub struct PollView {
    /// The store's clock (ms since the epoch).
    pub server_time_ms: u64,
    /// The registration generation.
    pub generation: u64,
    /// This client's latency row.
    pub latencies: HashMap<Id, LatencyMeasurement>,
    /// Latency entries that failed to decode.
    pub rejected: Vec<DecodeError>,
}

/// All live clients, for companions deciding whom to probe.
#[derive(Debug, Clone, Default)]
pub struct ClientsView {
    /// The store's clock (ms since the epoch).
    pub server_time_ms: u64,
    /// Clients whose lease is still running.
    pub clients: Vec<Leased<Client>>,
    /// Records that failed to decode.
    pub rejected: Vec<DecodeError>,
    /// Records skipped because their lease had run out.
    pub expired: usize,
}

/// All live executors (operators, tools, the demo).
#[derive(Debug, Clone, Default)]
pub struct ExecutorsView {
    /// The store's clock (ms since the epoch).
    pub server_time_ms: u64,
    /// The registration generation.
    pub generation: u64,
    /// Executors whose lease is still running.
    pub executors: Vec<Leased<Executor>>,
    /// Records that failed to decode.
    pub rejected: Vec<DecodeError>,
    /// Records skipped because their lease had run out.
    pub expired: usize,
}

type RawHash = HashMap<Vec<u8>, Vec<u8>>;

// === impl Store (reads) ===

impl Store {
    /// A proxy's full refresh in one round trip.
    pub async fn read_client_view(&self, client: &Id) -> Result<ClientView, StoreError> {
        let keys = self.keys();
        let row = keys.latency_row(client);
        let mut p = redis::pipe();
        p.cmd("TIME");
        p.cmd("GET").arg(keys.generation());
        p.cmd("HGETALL").arg(keys.executors());
        p.cmd("HGETALL").arg(&row);
        let (time, generation, executors, latencies): (
            (u64, u64),
            Option<Vec<u8>>,
            RawHash,
            RawHash,
        ) = self.query("read_client_view", &p).await?;
        let server_time_ms = time_ms(time);
        let mut view = ClientView {
            server_time_ms,
            generation: parse_generation(generation.as_deref()),
            ..ClientView::default()
        };
        decode_executors(
            self,
            executors,
            server_time_ms,
            &mut view.executors,
            &mut view.rejected,
            &mut view.expired,
        );
        view.latencies = decode_row(&row, latencies, &mut view.rejected);
        Ok(view)
    }

    /// A proxy's cheap poll in one round trip.
    pub async fn read_poll(&self, client: &Id) -> Result<PollView, StoreError> {
        let keys = self.keys();
        let row = keys.latency_row(client);
        let mut p = redis::pipe();
        p.cmd("TIME");
        p.cmd("GET").arg(keys.generation());
        p.cmd("HGETALL").arg(&row);
        let (time, generation, latencies): ((u64, u64), Option<Vec<u8>>, RawHash) =
            self.query("read_poll", &p).await?;
        let mut rejected = Vec::new();
        let latencies = decode_row(&row, latencies, &mut rejected);
        Ok(PollView {
            server_time_ms: time_ms(time),
            generation: parse_generation(generation.as_deref()),
            latencies,
            rejected,
        })
    }

    /// All live clients in one round trip.
    pub async fn read_clients(&self) -> Result<ClientsView, StoreError> {
        let keys = self.keys();
        let mut p = redis::pipe();
        p.cmd("TIME");
        p.cmd("HGETALL").arg(keys.clients());
        let (time, raw): ((u64, u64), RawHash) = self.query("read_clients", &p).await?;
        let now = time_ms(time);
        let mut view = ClientsView {
            server_time_ms: now,
            ..ClientsView::default()
        };
        for (field, value) in raw {
            match schema::decode_client(keys, &field, &value) {
                Ok((value, lease)) if lease > now => view.clients.push(Leased {
                    value,
                    lease_until_ms: lease,
                }),
                Ok(_) => view.expired += 1,
                Err(e) => view.rejected.push(e),
            }
        }
        Ok(view)
    }

    /// All live executors in one round trip.
    pub async fn read_executors(&self) -> Result<ExecutorsView, StoreError> {
        let keys = self.keys();
        let mut p = redis::pipe();
        p.cmd("TIME");
        p.cmd("GET").arg(keys.generation());
        p.cmd("HGETALL").arg(keys.executors());
        let (time, generation, raw): ((u64, u64), Option<Vec<u8>>, RawHash) =
            self.query("read_executors", &p).await?;
        let now = time_ms(time);
        let mut view = ExecutorsView {
            server_time_ms: now,
            generation: parse_generation(generation.as_deref()),
            ..ExecutorsView::default()
        };
        decode_executors(
            self,
            raw,
            now,
            &mut view.executors,
            &mut view.rejected,
            &mut view.expired,
        );
        Ok(view)
    }
}

fn decode_executors(
    store: &Store,
    raw: RawHash,
    now: u64,
    out: &mut Vec<Leased<Executor>>,
    rejected: &mut Vec<DecodeError>,
    expired: &mut usize,
) {
    out.reserve(raw.len());
    for (field, value) in raw {
        match schema::decode_executor(store.keys(), &field, &value) {
            Ok((value, lease)) if lease > now => out.push(Leased {
                value,
                lease_until_ms: lease,
            }),
            Ok(_) => *expired += 1,
            Err(e) => rejected.push(e),
        }
    }
}

fn decode_row(
    row: &str,
    raw: RawHash,
    rejected: &mut Vec<DecodeError>,
) -> HashMap<Id, LatencyMeasurement> {
    let mut out = HashMap::with_capacity(raw.len());
    for (field, value) in raw {
        match schema::decode_latency(row, &field, &value) {
            Ok((id, m)) => {
                out.insert(id, m);
            }
            Err(e) => rejected.push(e),
        }
    }
    out
}
