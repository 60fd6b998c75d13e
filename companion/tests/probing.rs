//! Probing and publishing against a real redis-server and real HTTP probe targets.

mod common;

use std::time::Duration;

use common::*;
use mulambda_companion::Companion;
use mulambda_testkit::RedisServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latencies_are_ordered_and_close_to_the_truth() {
    let redis = RedisServer::start();
    let store = store(&redis.url(), "probe-order");
    let tf = TfServingStub::start("resnet").await;
    let fast = ProbeTarget::start(Duration::ZERO).await;
    let slow = ProbeTarget::start(Duration::from_millis(20)).await;
    let hung = ProbeTarget::start(Duration::from_secs(3600)).await;
    let other = ProbeTarget::start(Duration::ZERO).await;
    register_client(&store, "c-fast", fast.addr, IMAGE_LABEL).await;
    register_client(&store, "c-slow", slow.addr, IMAGE_LABEL).await;
    register_client(&store, "c-hung", hung.addr, IMAGE_LABEL).await;
    register_client(&store, "c-gone", closed_port(), IMAGE_LABEL).await;
    // Wants another kind of model: never probed.
    register_client(
        &store,
        "c-other",
        other.addr,
        ("classification", "text", "label"),
    )
    .await;

    let companion = Companion::start(config(
        &redis.url(),
        "probe-order",
        "exec-1",
        tf.addr,
        IMAGE_LABEL,
        &[],
    ))
    .await
    .unwrap();

    let (f, s) = wait_for("both latencies", SOON, || async {
        let f = latency(&store, "c-fast", "exec-1").await?;
        let s = latency(&store, "c-slow", "exec-1").await?;
        Some((f, s))
    })
    .await;
    let (f_ms, s_ms) = (f.latency_ms.unwrap(), s.latency_ms.unwrap());
    assert!(
        (20.0..200.0).contains(&s_ms),
        "slow client measured {s_ms} ms"
    );
    assert!(f_ms < s_ms, "fast {f_ms} ms, slow {s_ms} ms");
    assert_eq!(s.samples, 3);
    // The measurement time is by the store's clock, close to now.
    let now = store.server_time_ms().await.unwrap();
    assert!(s.measured_at_ms <= now && now - s.measured_at_ms < 5_000);

    // A hung client and one nobody listens for are published as unreachable.
    for client in ["c-hung", "c-gone"] {
        let m = wait_for(client, SOON, || latency(&store, client, "exec-1")).await;
        assert!(!m.is_reachable(), "{client}: {m:?}");
    }
    assert!(
        latency(&store, "c-other", "exec-1").await.is_none(),
        "a client with other hard criteria must not be probed"
    );
    assert_eq!(other.hits(), 0);

    // Connections are kept alive: the warm-up plus 3 samples per round, not more.
    let metrics = companion.metrics().render();
    assert!(
        metrics.contains("mulambda_companion_clients_probed 4"),
        "{metrics}"
    );
    assert!(metrics.contains("mulambda_companion_probe_failures_total"));
    companion.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_appear_are_probed_and_rows_of_those_that_leave_expire() {
    let redis = RedisServer::start();
    let store = store(&redis.url(), "probe-churn");
    let tf = TfServingStub::start("resnet").await;
    let a = ProbeTarget::start(Duration::ZERO).await;
    let b = ProbeTarget::start(Duration::ZERO).await;
    register_client(&store, "c-a", a.addr, IMAGE_LABEL).await;

    // Probe interval 300 ms, rows live 900 ms after their last write.
    let companion = Companion::start(config(
        &redis.url(),
        "probe-churn",
        "exec-1",
        tf.addr,
        IMAGE_LABEL,
        &[],
    ))
    .await
    .unwrap();
    wait_for("c-a probed", SOON, || latency(&store, "c-a", "exec-1")).await;

    // A client that appears is probed in one of the next rounds.
    register_client(&store, "c-b", b.addr, IMAGE_LABEL).await;
    wait_for("c-b probed", Duration::from_secs(3), || {
        latency(&store, "c-b", "exec-1")
    })
    .await;

    // A client that leaves stops being probed ...
    store.deregister_client(&id("c-b")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await; // a round in flight may finish
    let hits = b.hits();
    tokio::time::sleep(Duration::from_millis(1000)).await; // three more rounds
    assert_eq!(b.hits(), hits, "a departed client is still probed");
    // ... and its row has expired by its TTL, while the live client's row stays.
    wait_for("c-b row gone", SOON, || async {
        latency(&store, "c-b", "exec-1")
            .await
            .is_none()
            .then_some(())
    })
    .await;
    assert!(latency(&store, "c-a", "exec-1").await.is_some());
    assert!(a.hits() > 8);
    companion.shutdown().await;
}
