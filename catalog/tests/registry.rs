//! Registrations, leases, change detection and latency rows against a real redis-server.

mod common;

use std::time::{Duration, Instant};

use common::*;
use mulambda_catalog::{CatalogEvent, ChangeKind, LatencyMeasurement, Lease, LeaseConfig};
use mulambda_testkit::RedisServer;
use tokio::sync::watch;

#[tokio::test]
async fn register_read_and_deregister() {
    let redis = RedisServer::start();
    let store = store(&redis.url());
    let e = executor("fast-1", 0.7);
    let before = store.generation().await.unwrap();
    let reg = store
        .register_executor(&e, Duration::from_secs(5), false)
        .await
        .unwrap();
    assert!(
        reg.announced,
        "a new record is announced even without asking"
    );
    assert!(store.generation().await.unwrap() > before);

    let view = store.read_client_view(&id("app-1")).await.unwrap();
    assert_eq!(view.executors.len(), 1);
    assert_eq!(view.executors[0].value, e);
    assert_eq!(view.executors[0].lease_until_ms, reg.lease_until_ms);
    assert!(view.rejected.is_empty());

    // A renewal of an unchanged record is silent: readers are not disturbed by heartbeats.
    let g = store.generation().await.unwrap();
    let again = store
        .register_executor(&e, Duration::from_secs(5), false)
        .await
        .unwrap();
    assert!(!again.announced);
    assert_eq!(store.generation().await.unwrap(), g);

    store.deregister_executor(&e.id).await.unwrap();
    assert!(store.generation().await.unwrap() > g);
    let view = store.read_client_view(&id("app-1")).await.unwrap();
    assert!(view.executors.is_empty());
}

#[tokio::test]
async fn lease_lapses_within_three_heartbeats_and_shutdown_removes_at_once() {
    let redis = RedisServer::start();
    let store = store(&redis.url());
    let heartbeat = Duration::from_millis(200);
    let config = LeaseConfig::with_heartbeat(heartbeat);

    // A lease that is simply dropped (a crash: nobody deregisters).
    let (_tx, rx) = watch::channel(executor("crashy", 0.5));
    let lease = Lease::start(store.clone(), rx, config);
    assert!(
        eventually(Duration::from_secs(5), async || {
            store.read_executors().await.unwrap().executors.len() == 1
        })
        .await
    );
    // Let a few renewals happen, then crash.
    let renewals = lease.state();
    assert!(eventually(Duration::from_secs(5), async || renewals.renewals() >= 3).await);
    drop(lease);
    let crashed_at = Instant::now();
    let t_crash = store.server_time_ms().await.unwrap();
    let view = store.read_executors().await.unwrap();
    let last_lease = view.executors[0].lease_until_ms;
    // The last renewal promised at most three heartbeats from the crash...
    assert!(last_lease <= t_crash + 3 * heartbeat.as_millis() as u64);
    // ...and readers stop seeing the record once that deadline passes, without anyone deleting it.
    assert!(
        eventually(Duration::from_secs(5), async || {
            store.read_executors().await.unwrap().executors.is_empty()
        })
        .await
    );
    let view = store.read_executors().await.unwrap();
    assert!(view.server_time_ms >= last_lease);
    assert_eq!(
        view.expired, 1,
        "the lapsed record is still stored, only hidden"
    );
    assert!(crashed_at.elapsed() < heartbeat * 3 + Duration::from_millis(500));

    // An orderly shutdown removes the record at once.
    let (_tx, rx) = watch::channel(executor("orderly", 0.5));
    let lease = Lease::start(store.clone(), rx, config);
    assert!(
        eventually(Duration::from_secs(5), async || {
            store.read_executors().await.unwrap().executors.len() == 1
        })
        .await
    );
    lease.shutdown().await;
    let view = store.read_executors().await.unwrap();
    assert!(
        view.executors
            .iter()
            .all(|e| e.value.id.as_str() != "orderly")
    );

    // The sweep deletes the lapsed record for good.
    assert_eq!(store.sweep_expired(Duration::ZERO).await.unwrap(), 1);
    assert_eq!(store.read_executors().await.unwrap().expired, 0);
}

#[tokio::test]
async fn lease_announces_changes_at_once() {
    let redis = RedisServer::start();
    let store = store(&redis.url());
    let mut events = store.subscribe();
    assert_eq!(events.recv().await, Some(CatalogEvent::Subscribed));

    let (tx, rx) = watch::channel(executor("flippy", 0.5));
    let lease = Lease::start(
        store.clone(),
        rx,
        LeaseConfig::with_heartbeat(Duration::from_secs(30)),
    );
    let first = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .unwrap();
    let Some(CatalogEvent::Changed(change)) = first else {
        panic!("{first:?}")
    };
    assert_eq!(change.id, "flippy");
    let g = store.generation().await.unwrap();

    // The heartbeat is 30 s, yet a readiness flip reaches readers immediately.
    tx.send_modify(|e| e.ready = false);
    let next = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .unwrap();
    let Some(CatalogEvent::Changed(change)) = next else {
        panic!("{next:?}")
    };
    assert_eq!(change.kind, ChangeKind::ExecutorChanged);
    assert!(store.generation().await.unwrap() > g);
    let view = store.read_executors().await.unwrap();
    assert!(!view.executors[0].value.ready);
    lease.shutdown().await;
    let down = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .unwrap();
    let Some(CatalogEvent::Changed(change)) = down else {
        panic!("{down:?}")
    };
    assert_eq!(change.kind, ChangeKind::ExecutorDown);
}

#[tokio::test]
async fn a_missed_event_is_caught_by_polling_the_generation() {
    let redis = RedisServer::start();
    let store = store(&redis.url());
    let reader = id("app-1");
    let seen = store.read_client_view(&reader).await.unwrap();

    // Nobody is subscribed: the event of this registration is lost for good.
    store
        .register_executor(&executor("late", 0.9), Duration::from_secs(5), false)
        .await
        .unwrap();

    // A reader polling cheaply sees the generation move and reloads.
    let poll = store.read_poll(&reader).await.unwrap();
    assert_ne!(poll.generation, seen.generation);
    let view = store.read_client_view(&reader).await.unwrap();
    assert_eq!(view.executors.len(), 1);
    assert_eq!(view.generation, poll.generation);
}

#[tokio::test]
async fn subscription_survives_a_store_restart() {
    let mut redis = RedisServer::start();
    let store = store(&redis.url());
    let mut events = store.subscribe();
    assert_eq!(events.recv().await, Some(CatalogEvent::Subscribed));
    redis.stop();
    redis.restart();
    // After the outage the subscription says "Subscribed" again, so readers reload fully.
    let resubscribed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(CatalogEvent::Subscribed) = events.recv().await {
                return;
            }
        }
    })
    .await;
    assert!(resubscribed.is_ok());
    // And the ordinary connection recovers by itself too.
    assert!(
        eventually(Duration::from_secs(10), async || {
            store
                .register_executor(&executor("back", 0.5), Duration::from_secs(5), false)
                .await
                .is_ok()
        })
        .await
    );
    let next = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .unwrap();
    assert!(matches!(next, Some(CatalogEvent::Changed(_))), "{next:?}");
}

#[tokio::test]
async fn latency_rows_are_per_client_and_expire() {
    let redis = RedisServer::start();
    let store = store(&redis.url());
    let now = store.server_time_ms().await.unwrap();
    let rows = vec![
        (id("app-1"), LatencyMeasurement::reachable(1.5, 3, now)),
        (id("app-2"), LatencyMeasurement::unreachable(now)),
    ];
    store
        .publish_latencies(&id("exec-a"), &rows, Duration::from_millis(600))
        .await
        .unwrap();
    store
        .publish_latencies(
            &id("exec-b"),
            &[(id("app-1"), LatencyMeasurement::reachable(9.0, 3, now))],
            Duration::from_millis(600),
        )
        .await
        .unwrap();

    let mine = store.read_poll(&id("app-1")).await.unwrap();
    assert_eq!(mine.latencies.len(), 2);
    assert_eq!(mine.latencies[&id("exec-a")].latency_ms, Some(1.5));
    assert_eq!(mine.latencies[&id("exec-b")].latency_ms, Some(9.0));
    let other = store.read_client_view(&id("app-2")).await.unwrap();
    assert_eq!(other.latencies.len(), 1);
    assert!(!other.latencies[&id("exec-a")].is_reachable());

    store
        .remove_latencies(&id("exec-b"), &[id("app-1")])
        .await
        .unwrap();
    assert_eq!(
        store.read_poll(&id("app-1")).await.unwrap().latencies.len(),
        1
    );

    // Nobody publishes any more (the client left): the row expires by itself.
    assert!(
        eventually(Duration::from_secs(5), async || {
            store
                .read_poll(&id("app-1"))
                .await
                .unwrap()
                .latencies
                .is_empty()
        })
        .await
    );
}

#[tokio::test]
async fn clients_register_under_leases_too() {
    let redis = RedisServer::start();
    let store = store(&redis.url());
    let c = client("app-1");
    store
        .register_client(&c, Duration::from_millis(300), false)
        .await
        .unwrap();
    let view = store.read_clients().await.unwrap();
    assert_eq!(view.clients.len(), 1);
    assert_eq!(view.clients[0].value, c);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let view = store.read_clients().await.unwrap();
    assert!(view.clients.is_empty());
    assert_eq!(view.expired, 1);
    store
        .register_client(&c, Duration::from_secs(5), false)
        .await
        .unwrap();
    store.deregister_client(&c.id).await.unwrap();
    assert!(store.read_clients().await.unwrap().clients.is_empty());
}

#[tokio::test]
async fn auth_is_taken_from_the_url() {
    let redis = RedisServer::start_with(mulambda_testkit::RedisOptions {
        password: Some("s3cret".into()),
        ..Default::default()
    });
    let good = store(&redis.url());
    good.ping().await.unwrap();
    let bad = store(&format!("redis://:wrong@127.0.0.1:{}/", redis.port()));
    let err = bad.ping().await.unwrap_err().to_string();
    assert!(
        !err.contains("wrong@"),
        "passwords never appear in errors: {err}"
    );
}

#[tokio::test]
async fn calls_fail_fast_when_the_store_is_down() {
    let mut redis = RedisServer::start();
    let store = store(&redis.url());
    store.ping().await.unwrap();
    redis.stop();
    let started = Instant::now();
    assert!(store.read_executors().await.is_err());
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "every call has a deadline"
    );
    redis.restart();
    assert!(eventually(Duration::from_secs(10), async || store.ping().await.is_ok()).await);
}
