//! The async store client: one multiplexed, self-reconnecting connection, a timeout on every
//! call, auth and TLS from the URL.
//!
//! The connection is opened lazily, so a component can start while the store is down and
//! serve from what it has (the proxy's fail-static mode); redis-rs's `ConnectionManager` then
//! reconnects by itself after any failure.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::schema::{DecodeError, Keys};

/// How to reach the store.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// `redis://[user:pass@]host:port[/db]`, `rediss://…` (TLS, rustls) or `redis+unix:///path`.
    pub url: String,
    /// Key prefix (see [`crate::schema::DEFAULT_PREFIX`]).
    pub prefix: String,
    /// Deadline for every call, round trip included.
    pub call_timeout: Duration,
    /// Deadline for opening a connection.
    pub connect_timeout: Duration,
    /// A PEM CA bundle to trust for `rediss://` instead of the system roots.
    pub ca_file: Option<PathBuf>,
}

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The configuration is unusable (bad URL, unreadable CA file).
    #[error("store configuration: {0}")]
    Config(String),
    /// No connection could be opened.
    #[error("cannot connect to the store at {url}: {source}")]
    Connect {
        /// The URL, password removed.
        url: String,
        /// The cause.
        source: redis::RedisError,
    },
    /// The call did not finish in time.
    #[error("store call {op} timed out after {after:?}")]
    Timeout {
        /// The operation.
        op: &'static str,
        /// The deadline that passed.
        after: Duration,
    },
    /// The store answered with an error, or the connection broke.
    #[error("store call {op} failed: {source}")]
    Command {
        /// The operation.
        op: &'static str,
        /// The cause.
        source: redis::RedisError,
    },
    /// A value that must be well-formed (not a record) was not, e.g. the server time.
    #[error("store call {op}: unexpected reply: {detail}")]
    Reply {
        /// The operation.
        op: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// A record the caller asked for by name could not be decoded.
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

/// A handle to the store; cheap to clone, shared by all tasks of a component.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    client: redis::Client,
    keys: Keys,
    config: StoreConfig,
    redacted_url: String,
    conn: tokio::sync::Mutex<Option<ConnectionManager>>,
}

// === impl StoreConfig ===

impl StoreConfig {
    /// A configuration with default timeouts (1 s per call, 2 s to connect) and prefix.
    pub fn new(url: impl Into<String>) -> StoreConfig {
        StoreConfig {
            url: url.into(),
            prefix: crate::schema::DEFAULT_PREFIX.to_string(),
            call_timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(2),
            ca_file: None,
        }
    }

    /// Sets the key prefix.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> StoreConfig {
        self.prefix = prefix.into();
        self
    }
}

// === impl Store ===

impl Store {
    /// Validates the configuration; does not connect yet (see the module docs).
    pub fn new(config: StoreConfig) -> Result<Store, StoreError> {
        // rustls needs a process-wide crypto provider; ring is the one this workspace builds.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let redacted_url = redact_url(&config.url);
        validate_prefix(&config.prefix)?;
        let bad_url = |e: redis::RedisError| {
            StoreError::Config(format!(
                "invalid store URL {redacted_url:?} (expected redis://[user:pass@]host:port[/db], rediss://… or redis+unix:///path): {e}"
            ))
        };
        let client = match &config.ca_file {
            None => redis::Client::open(config.url.as_str()).map_err(bad_url)?,
            Some(path) => {
                let pem = std::fs::read(path).map_err(|e| {
                    StoreError::Config(format!("cannot read CA file {}: {e}", path.display()))
                })?;
                let certs = redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem),
                };
                redis::Client::build_with_tls(config.url.as_str(), certs).map_err(bad_url)?
            }
        };
        Ok(Store {
            inner: Arc::new(Inner {
                client,
                keys: Keys::new(&config.prefix),
                config,
                redacted_url,
                conn: tokio::sync::Mutex::new(None),
            }),
        })
    }

    /// The key names of this store's prefix.
    pub fn keys(&self) -> &Keys {
        &self.inner.keys
    }

    /// The URL with any password removed, for logs.
    pub fn redacted_url(&self) -> &str {
        &self.inner.redacted_url
    }

    /// The configured per-call deadline.
    pub fn call_timeout(&self) -> Duration {
        self.inner.config.call_timeout
    }

    /// The redis client (for pub/sub connections, which are separate from the multiplexed one).
    pub(crate) fn client(&self) -> &redis::Client {
        &self.inner.client
    }

    /// The configured connect deadline.
    pub(crate) fn connect_timeout(&self) -> Duration {
        self.inner.config.connect_timeout
    }

    /// The shared connection, opened on first use.
    async fn connection(&self) -> Result<ConnectionManager, StoreError> {
        let mut slot = self.inner.conn.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let cfg = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.inner.config.connect_timeout))
            .set_response_timeout(Some(self.inner.config.call_timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let deadline = self.inner.config.connect_timeout + self.inner.config.call_timeout;
        let manager = tokio::time::timeout(
            deadline,
            ConnectionManager::new_with_config(self.inner.client.clone(), cfg),
        )
        .await
        .map_err(|_| StoreError::Timeout {
            op: "connect",
            after: deadline,
        })?
        .map_err(|source| StoreError::Connect {
            url: self.inner.redacted_url.clone(),
            source,
        })?;
        *slot = Some(manager.clone());
        Ok(manager)
    }

    /// Runs a pipeline (or a single command as a one-command pipeline) under the call deadline.
    pub(crate) async fn query<T: redis::FromRedisValue>(
        &self,
        op: &'static str,
        pipe: &redis::Pipeline,
    ) -> Result<T, StoreError> {
        let mut conn = self.connection().await?;
        let after = self.inner.config.call_timeout;
        tokio::time::timeout(after, pipe.query_async::<T>(&mut conn))
            .await
            .map_err(|_| StoreError::Timeout { op, after })?
            .map_err(|source| StoreError::Command { op, source })
    }

    /// `PING`: whether the store answers now.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut p = redis::pipe();
        p.cmd("PING");
        let (_pong,): (String,) = self.query("ping", &p).await?;
        Ok(())
    }

    /// The store's clock in milliseconds since the Unix epoch (`TIME`). Leases and measurement
    /// times use the store's clock so that skew between pods does not matter.
    pub async fn server_time_ms(&self) -> Result<u64, StoreError> {
        let mut p = redis::pipe();
        p.cmd("TIME");
        let (time,): ((u64, u64),) = self.query("time", &p).await?;
        Ok(time_ms(time))
    }

    /// The registration generation (0 when the key is absent or unreadable).
    pub async fn generation(&self) -> Result<u64, StoreError> {
        let mut p = redis::pipe();
        p.cmd("GET").arg(self.keys().generation());
        let (g,): (Option<Vec<u8>>,) = self.query("generation", &p).await?;
        Ok(parse_generation(g.as_deref()))
    }
}

/// Converts a `TIME` reply (seconds, microseconds) into milliseconds.
pub(crate) fn time_ms((secs, micros): (u64, u64)) -> u64 {
    secs.saturating_mul(1000).saturating_add(micros / 1000)
}

/// Parses the generation counter leniently: garbage counts as 0, which differs from any
/// generation a reader has seen before and so triggers a full reload rather than hiding changes.
pub(crate) fn parse_generation(raw: Option<&[u8]>) -> u64 {
    raw.and_then(|b| std::str::from_utf8(b).ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn validate_prefix(prefix: &str) -> Result<(), StoreError> {
    let ok = !prefix.is_empty()
        && prefix.len() <= 64
        && prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::Config(format!(
            "invalid store prefix {prefix:?}: 1 to 64 of A-Z a-z 0-9 - _ ."
        )))
    }
}

/// Removes the password from a store URL for logs and errors.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "<unparseable URL>".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("redis://:s3cret@h:6379/0"),
            "redis://:***@h:6379/0"
        );
        assert_eq!(redact_url("rediss://u:p@h:1/"), "rediss://u:***@h:1/");
        assert_eq!(redact_url("redis://h:1"), "redis://h:1");
        assert_eq!(redact_url("::"), "<unparseable URL>");
    }

    #[test]
    fn rejects_bad_config() {
        assert!(Store::new(StoreConfig::new("http://x")).is_err());
        assert!(Store::new(StoreConfig::new("redis://h:1").with_prefix("a b")).is_err());
        let e = Store::new(StoreConfig::new("redis://:pw@h:1/").with_prefix(""))
            .err()
            .unwrap();
        assert!(!e.to_string().contains("pw@"));
    }

    #[test]
    fn generation_parsing_is_total() {
        assert_eq!(parse_generation(Some(b"42")), 42);
        assert_eq!(parse_generation(Some(b"x")), 0);
        assert_eq!(parse_generation(None), 0);
        assert_eq!(time_ms((1, 999_999)), 1999);
    }
}
