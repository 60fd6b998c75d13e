//! `docs/store-schema.md` matches the code: the keys it documents are the keys the code builds,
//! and every key the code writes to a real store is a documented one.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use mulambda_catalog::{LatencyMeasurement, schema::Keys};
use mulambda_testkit::RedisServer;

fn documented_keys() -> BTreeSet<String> {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/store-schema.md"
    ))
    .expect("docs/store-schema.md exists");
    // Every backticked name in the key table's first column.
    doc.lines()
        .filter(|l| l.starts_with("| `mulambda:"))
        .filter_map(|l| l.split('`').nth(1).map(str::to_string))
        .collect()
}

#[test]
fn documented_keys_are_the_code_keys() {
    let code: BTreeSet<String> = Keys::new("mulambda")
        .documented_patterns()
        .into_iter()
        .collect();
    assert_eq!(documented_keys(), code);
}

#[tokio::test]
async fn every_key_written_is_documented() {
    let redis = RedisServer::start();
    let store = store(&redis.url());
    store
        .register_executor(&executor("e1", 0.5), Duration::from_secs(5), true)
        .await
        .unwrap();
    store
        .register_client(&client("c1"), Duration::from_secs(5), true)
        .await
        .unwrap();
    let now = store.server_time_ms().await.unwrap();
    store
        .publish_latencies(
            &id("e1"),
            &[(id("c1"), LatencyMeasurement::reachable(1.0, 1, now))],
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    let mut conn = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    // KEYS is fine in a test against a private server; the code itself never uses it.
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(keys.len(), 4, "{keys:?}");
    let schema = store.keys();
    for k in &keys {
        assert!(schema.is_schema_key(k), "undocumented key {k}");
    }
    // And the documented patterns cover them textually.
    let documented = documented_keys();
    for k in &keys {
        let covered = documented
            .iter()
            .any(|d| match d.strip_suffix("{client_id}") {
                Some(prefix) => k.starts_with(prefix),
                None => d == k,
            });
        assert!(covered, "{k} is not in docs/store-schema.md");
    }
}
