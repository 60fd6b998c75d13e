//! The store schema: key layout and record encoding, version 1.
//!
//! `docs/store-schema.md` documents every key; a test checks that document against
//! [`Keys::documented_patterns`] and against the keys the integration tests find in a real store.
//!
//! Records are JSON objects with two envelope fields, `v` (the schema version) and, for leased
//! records, `lease_until_ms`, next to the record's own fields. Decoding is total: any byte string
//! either decodes into a valid value or yields a [`DecodeError`] naming the key and the field.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Client, Executor, Id, LatencyMeasurement};

/// The schema version written into keys (`…:v1:…`) and records (`"v": 1`).
pub const SCHEMA_VERSION: u32 = 1;

/// The default key prefix.
pub const DEFAULT_PREFIX: &str = "mulambda";

/// Largest record accepted by readers. Real records are a few hundred bytes; the limit keeps a
/// hostile 10 MB value from being parsed at all.
pub const MAX_RECORD_BYTES: usize = 64 * 1024;

/// The names of every key of one installation (one prefix).
#[derive(Debug, Clone)]
pub struct Keys {
    executors: String,
    clients: String,
    generation: String,
    events: String,
    latency_prefix: String,
}

/// A record that could not be decoded: which key (and hash field), which record field, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: field {field}: {reason}")]
pub struct DecodeError {
    /// The key, with the hash field in brackets: `mulambda:v1:executors[fast-1]`.
    pub key: String,
    /// The record field at fault (`record` for the whole value).
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

// === impl Keys ===

impl Keys {
    /// The keys under `prefix` (see [`DEFAULT_PREFIX`]).
    pub fn new(prefix: &str) -> Keys {
        let base = format!("{prefix}:v{SCHEMA_VERSION}");
        Keys {
            executors: format!("{base}:executors"),
            clients: format!("{base}:clients"),
            generation: format!("{base}:generation"),
            events: format!("{base}:events"),
            latency_prefix: format!("{base}:latency:"),
        }
    }

    /// HASH: executor id → executor record (leased).
    pub fn executors(&self) -> &str {
        &self.executors
    }

    /// HASH: client id → client record (leased).
    pub fn clients(&self) -> &str {
        &self.clients
    }

    /// STRING (integer): the registration generation, incremented on every registration change.
    pub fn generation(&self) -> &str {
        &self.generation
    }

    /// Pub/sub channel: one message per registration change or latency publication.
    pub fn events(&self) -> &str {
        &self.events
    }

    /// HASH: executor id → latency measurement, for one client; expires as a whole.
    pub fn latency_row(&self, client: &Id) -> String {
        self.latency_row_raw(client.as_str())
    }

    fn latency_row_raw(&self, client: &str) -> String {
        format!("{}{client}", self.latency_prefix)
    }

    /// Every key and channel name pattern this schema uses, `{client_id}` standing for an id.
    /// The schema document must list exactly these.
    pub fn documented_patterns(&self) -> Vec<String> {
        vec![
            self.executors.clone(),
            self.clients.clone(),
            self.generation.clone(),
            self.events.clone(),
            self.latency_row_raw("{client_id}"),
        ]
    }

    /// Whether a concrete key belongs to this schema (used by tests that scan a real store).
    pub fn is_schema_key(&self, key: &str) -> bool {
        key == self.executors
            || key == self.clients
            || key == self.generation
            || key
                .strip_prefix(&self.latency_prefix)
                .is_some_and(|id| Id::parse(id).is_ok())
    }
}

// === record encoding ===

/// Encodes a record with its envelope. Leased records carry their deadline.
pub(crate) fn encode_record<T: Serialize>(body: &T, lease_until_ms: Option<u64>) -> String {
    let mut value = serde_json::to_value(body).expect("catalog types always serialise");
    if let Some(map) = value.as_object_mut() {
        map.insert("v".into(), SCHEMA_VERSION.into());
        if let Some(l) = lease_until_ms {
            map.insert("lease_until_ms".into(), l.into());
        }
    }
    value.to_string()
}

/// Decodes a record with its envelope; checks size, JSON, version and every field.
pub(crate) fn decode_record<T: DeserializeOwned>(
    key: &str,
    bytes: &[u8],
    leased: bool,
) -> Result<(T, Option<u64>), DecodeError> {
    let err = |field: &str, reason: String| DecodeError {
        key: key.to_string(),
        field: field.to_string(),
        reason,
    };
    if bytes.len() > MAX_RECORD_BYTES {
        return Err(err(
            "record",
            format!("{} bytes; at most {MAX_RECORD_BYTES} allowed", bytes.len()),
        ));
    }
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| err("record", format!("not JSON: {e}")))?;
    let Some(map) = value.as_object() else {
        return Err(err("record", "not a JSON object".into()));
    };
    match map.get("v").and_then(|v| v.as_u64()) {
        Some(v) if v == u64::from(SCHEMA_VERSION) => {}
        Some(v) => {
            return Err(err(
                "v",
                format!("unknown schema version {v}; this reader knows {SCHEMA_VERSION}"),
            ));
        }
        None => return Err(err("v", "missing or not an integer".into())),
    }
    let lease = if leased {
        match map.get("lease_until_ms").and_then(|v| v.as_u64()) {
            Some(l) => Some(l),
            None => return Err(err("lease_until_ms", "missing or not an integer".into())),
        }
    } else {
        None
    };
    let body: T = serde_path_to_error::deserialize(&value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "record".to_string()
        } else {
            path
        };
        err(&field, e.into_inner().to_string())
    })?;
    Ok((body, lease))
}

fn hash_key(key: &str, field: &[u8]) -> String {
    let shown: String = String::from_utf8_lossy(field).chars().take(80).collect();
    format!("{key}[{shown}]")
}

fn check_id(key: &str, field: &[u8], id: &Id) -> Result<(), DecodeError> {
    if field != id.as_str().as_bytes() {
        return Err(DecodeError {
            key: key.to_string(),
            field: "id".into(),
            reason: format!("record id {id:?} differs from its hash field"),
        });
    }
    Ok(())
}

fn invalid(key: &str, e: crate::Error) -> DecodeError {
    let crate::Error::Invalid { field, .. } = &e;
    DecodeError {
        key: key.to_string(),
        field: field.to_string(),
        reason: e.to_string(),
    }
}

/// Decodes one field of the executors hash into an executor and its lease deadline.
pub fn decode_executor(
    keys: &Keys,
    field: &[u8],
    bytes: &[u8],
) -> Result<(Executor, u64), DecodeError> {
    let key = hash_key(keys.executors(), field);
    let (e, lease): (Executor, _) = decode_record(&key, bytes, true)?;
    check_id(&key, field, &e.id)?;
    e.validate().map_err(|x| invalid(&key, x))?;
    Ok((e, lease.unwrap_or_default()))
}

/// Decodes one field of the clients hash into a client and its lease deadline.
pub fn decode_client(
    keys: &Keys,
    field: &[u8],
    bytes: &[u8],
) -> Result<(Client, u64), DecodeError> {
    let key = hash_key(keys.clients(), field);
    let (c, lease): (Client, _) = decode_record(&key, bytes, true)?;
    check_id(&key, field, &c.id)?;
    c.validate().map_err(|x| invalid(&key, x))?;
    Ok((c, lease.unwrap_or_default()))
}

/// Decodes one field of a latency row into the executor id and the measurement.
pub fn decode_latency(
    row_key: &str,
    field: &[u8],
    bytes: &[u8],
) -> Result<(Id, LatencyMeasurement), DecodeError> {
    let key = hash_key(row_key, field);
    let id = std::str::from_utf8(field)
        .ok()
        .and_then(|s| Id::parse(s).ok())
        .ok_or_else(|| DecodeError {
            key: key.clone(),
            field: "executor_id".into(),
            reason: "hash field is not a valid executor id".into(),
        })?;
    let (m, _): (LatencyMeasurement, _) = decode_record(&key, bytes, false)?;
    m.validate().map_err(|x| invalid(&key, x))?;
    Ok((id, m))
}

/// Encodes an executor record with its lease deadline.
pub fn encode_executor(e: &Executor, lease_until_ms: u64) -> String {
    encode_record(e, Some(lease_until_ms))
}

/// Encodes a client record with its lease deadline.
pub fn encode_client(c: &Client, lease_until_ms: u64) -> String {
    encode_record(c, Some(lease_until_ms))
}

/// Encodes a latency measurement.
pub fn encode_latency(m: &LatencyMeasurement) -> String {
    encode_record(m, None)
}
