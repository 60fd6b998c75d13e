//! Hostile and malformed records in a real store: each is rejected with an error naming key and
//! field, counted, and skipped, and the rest of the snapshot is intact.

mod common;

use std::time::Duration;

use common::*;
use mulambda_catalog::schema;
use mulambda_testkit::RedisServer;

async fn raw(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

#[tokio::test]
async fn garbage_records_are_rejected_one_by_one() {
    let redis = RedisServer::start();
    let store = store(&redis.url());
    let good = executor("good", 0.8);
    store
        .register_executor(&good, Duration::from_secs(30), false)
        .await
        .unwrap();
    let lease = store.server_time_ms().await.unwrap() + 30_000;
    let valid = serde_json::from_str::<serde_json::Value>(&schema::encode_executor(
        &executor("x", 0.5),
        lease,
    ))
    .unwrap();
    let with = |id: &str, f: &dyn Fn(&mut serde_json::Map<String, serde_json::Value>)| {
        let mut v = valid.clone();
        let m = v.as_object_mut().unwrap();
        m.insert("id".into(), id.into());
        f(m);
        v.to_string()
    };
    let cases: Vec<(&str, String, &str)> = vec![
        ("notjson", "{{{".into(), "record"),
        ("array", "[1,2]".into(), "record"),
        (
            "nan",
            with("nan", &|m| {
                m.insert("accuracy".into(), serde_json::Value::String("NaN".into()));
            }),
            "accuracy",
        ),
        (
            "negative",
            with("negative", &|m| {
                m.insert("accuracy".into(), (-0.5).into());
            }),
            "accuracy",
        ),
        (
            "missing",
            with("missing", &|m| {
                m.remove("model_name");
            }),
            "record",
        ),
        (
            "wrongtype",
            with("wrongtype", &|m| {
                m.insert("ready".into(), "yes".into());
            }),
            "ready",
        ),
        (
            "future",
            with("future", &|m| {
                m.insert("v".into(), 99.into());
            }),
            "v",
        ),
        (
            "huge",
            with("huge", &|m| {
                m.insert("model_name".into(), "a".repeat(10 * 1024 * 1024).into());
            }),
            "record",
        ),
        (
            "badtrait",
            with("badtrait", &|m| {
                m["traits"]["input_format"] = "im age".into();
            }),
            "traits.input_format",
        ),
        (
            "noLease",
            with("noLease", &|m| {
                m.remove("lease_until_ms");
            }),
            "lease_until_ms",
        ),
        ("mismatch", with("other-id", &|_| {}), "id"),
        (
            "badendpoint",
            with("badendpoint", &|m| {
                m.insert("rest_endpoint".into(), "nowhere".into());
            }),
            "rest_endpoint",
        ),
    ];
    let mut conn = raw(&redis.url()).await;
    for (field, value, _) in &cases {
        let _: () = redis::cmd("HSET")
            .arg(store.keys().executors())
            .arg(*field)
            .arg(value)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    // A garbage latency entry and a garbage generation, too.
    let row = store.keys().latency_row(&id("app-1"));
    let _: () = redis::cmd("HSET")
        .arg(&row)
        .arg("good")
        .arg(r#"{"v":1,"latency_ms":-3,"samples":1,"measured_at_ms":1}"#)
        .query_async(&mut conn)
        .await
        .unwrap();
    let _: () = redis::cmd("HSET")
        .arg(&row)
        .arg("bad id!")
        .arg(r#"{"v":1,"latency_ms":3,"samples":1,"measured_at_ms":1}"#)
        .query_async(&mut conn)
        .await
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg(store.keys().generation())
        .arg("not-a-number")
        .query_async(&mut conn)
        .await
        .unwrap();

    let view = store.read_client_view(&id("app-1")).await.unwrap();
    assert_eq!(view.executors.len(), 1, "{:?}", view.rejected);
    assert_eq!(view.executors[0].value, good);
    assert_eq!(
        view.generation, 0,
        "a garbage generation reads as 0, forcing reloads"
    );
    assert!(view.latencies.is_empty());
    assert_eq!(view.rejected.len(), cases.len() + 2);
    for (field, _, bad_field) in &cases {
        let shown: String = field.chars().take(80).collect();
        let e = view
            .rejected
            .iter()
            .find(|e| e.key.ends_with(&format!("[{shown}]")))
            .unwrap_or_else(|| panic!("no rejection for {field}: {:?}", view.rejected));
        assert!(e.key.starts_with("mulambda:v1:executors["), "{e}");
        assert_eq!(e.field, *bad_field, "{field}: {e}");
        assert!(
            e.to_string().len() < 1000,
            "errors stay short: {}",
            e.to_string().len()
        );
    }
    assert!(view.rejected.iter().any(|e| e.field == "latency_ms"));
    assert!(view.rejected.iter().any(|e| e.field == "executor_id"));

    // The sweep removes what no reader can use.
    assert_eq!(
        store.sweep_expired(Duration::ZERO).await.unwrap(),
        4,
        "records without a readable lease: notjson, array, huge, noLease"
    );
}

#[tokio::test]
async fn a_wrongly_typed_key_is_an_error_not_a_panic() {
    let redis = RedisServer::start();
    let store = store(&redis.url());
    let mut conn = raw(&redis.url()).await;
    let _: () = redis::cmd("SET")
        .arg(store.keys().executors())
        .arg("oops")
        .query_async(&mut conn)
        .await
        .unwrap();
    let err = store.read_client_view(&id("app-1")).await.unwrap_err();
    assert!(err.to_string().contains("read_client_view"), "{err}");
}
