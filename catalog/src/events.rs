//! Change events over pub/sub, with automatic resubscription.
//!
//! Pub/sub is the fast path only: messages published while a subscriber is disconnected are
//! lost. That is why every subscription (and every re-subscription after a reconnect) starts
//! with [`CatalogEvent::Subscribed`], on which a reader reloads fully, and why readers also poll
//! the generation counter.

use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::store::Store;

/// What a subscription reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogEvent {
    /// (Re)subscribed: anything may have changed meanwhile, reload fully.
    Subscribed,
    /// The subscription connection broke; it is being re-established.
    Disconnected,
    /// A change was announced.
    Changed(Change),
}

/// One announced change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// What changed.
    pub kind: ChangeKind,
    /// The id concerned (an executor's or a client's), as sent.
    pub id: String,
}

/// Kinds of change (the first word of an event message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// An executor registered (or reappeared).
    ExecutorUp,
    /// An executor deregistered.
    ExecutorDown,
    /// An executor's record changed (readiness, traits, signature).
    ExecutorChanged,
    /// A client registered (or reappeared).
    ClientUp,
    /// A client deregistered.
    ClientDown,
    /// A client's record changed.
    ClientChanged,
    /// An executor published a round of latencies.
    Latency,
    /// A message this reader does not know (a newer writer); treat as "something changed".
    Unknown,
}

/// A live subscription; dropping it stops the background task.
pub struct EventSubscription {
    rx: mpsc::Receiver<CatalogEvent>,
    task: tokio::task::JoinHandle<()>,
}

/// Longest wait between re-subscription attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

// === impl Change ===

impl Change {
    /// Parses an event message (`"<kind> <id>"`). Never fails: unknown kinds map to
    /// [`ChangeKind::Unknown`].
    pub fn parse(message: &str) -> Change {
        let (word, id) = message.split_once(' ').unwrap_or((message, ""));
        let kind = match word {
            "executor-up" => ChangeKind::ExecutorUp,
            "executor-down" => ChangeKind::ExecutorDown,
            "executor-changed" => ChangeKind::ExecutorChanged,
            "client-up" => ChangeKind::ClientUp,
            "client-down" => ChangeKind::ClientDown,
            "client-changed" => ChangeKind::ClientChanged,
            "latency" => ChangeKind::Latency,
            _ => ChangeKind::Unknown,
        };
        Change {
            kind,
            id: id.chars().take(253).collect(),
        }
    }
}

// === impl EventSubscription ===

impl EventSubscription {
    /// The next event; `None` only if the background task ended (it does not by itself).
    pub async fn recv(&mut self) -> Option<CatalogEvent> {
        self.rx.recv().await
    }

    /// A pending event without waiting, if any (for draining bursts).
    pub fn try_recv(&mut self) -> Option<CatalogEvent> {
        self.rx.try_recv().ok()
    }
}

impl Drop for EventSubscription {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// === impl Store (events) ===

impl Store {
    /// Subscribes to the events channel on a dedicated connection, re-subscribing forever with
    /// backoff after failures. Must be called inside a tokio runtime.
    pub fn subscribe(&self) -> EventSubscription {
        // Bounded: a reader reloads on *any* pending event, so when the queue is full the
        // dropped messages carry no information the queued ones do not.
        let (tx, rx) = mpsc::channel(64);
        let store = self.clone();
        let task = tokio::spawn(async move { run_subscription(store, tx).await });
        EventSubscription { rx, task }
    }
}

async fn run_subscription(store: Store, tx: mpsc::Sender<CatalogEvent>) {
    let mut backoff = Duration::from_millis(50);
    loop {
        match subscribe_once(&store, &tx).await {
            Ok(()) => backoff = Duration::from_millis(50),
            Err(e) => tracing::debug!(error = %e, "event subscription failed"),
        }
        if tx.is_closed() {
            return;
        }
        let _ = tx.try_send(CatalogEvent::Disconnected);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Subscribes and forwards messages until the connection ends. `Ok` means it was subscribed.
async fn subscribe_once(
    store: &Store,
    tx: &mpsc::Sender<CatalogEvent>,
) -> Result<(), redis::RedisError> {
    let deadline = store.connect_timeout() + store.call_timeout();
    let timed_out = || redis::RedisError::from((redis::ErrorKind::Io, "subscribe timed out"));
    let mut pubsub = tokio::time::timeout(deadline, store.client().get_async_pubsub())
        .await
        .map_err(|_| timed_out())??;
    tokio::time::timeout(deadline, pubsub.subscribe(store.keys().events()))
        .await
        .map_err(|_| timed_out())??;
    if tx.send(CatalogEvent::Subscribed).await.is_err() {
        return Ok(());
    }
    let mut messages = pubsub.on_message();
    while let Some(msg) = messages.next().await {
        let payload: Vec<u8> = msg.get_payload_bytes().to_vec();
        let change = Change::parse(&String::from_utf8_lossy(&payload));
        if tx.try_send(CatalogEvent::Changed(change)).is_err() && tx.is_closed() {
            return Ok(());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_messages_totally() {
        assert_eq!(
            Change::parse("executor-up fast-1").kind,
            ChangeKind::ExecutorUp
        );
        assert_eq!(Change::parse("latency e").id, "e");
        assert_eq!(Change::parse("").kind, ChangeKind::Unknown);
        assert_eq!(Change::parse("future-thing x y").kind, ChangeKind::Unknown);
        assert_eq!(Change::parse(&"x ".repeat(1000)).id.len(), 253);
    }
}
