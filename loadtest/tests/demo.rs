//! The demo end to end, short: each proxy chooses as its preference says, and both move after
//! the event. Asserted from the demo's own report data (what `demo-report.json` holds).
//!
//! Needs the `mulambda-proxy` binary, which a workspace build (`cargo test --workspace`,
//! `cargo nextest run --workspace`) puts next to this test's directory.

use std::time::Duration;

use mulambda_loadtest::demo::{DemoConfig, run};
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_shows_preferences_and_failover() {
    if mulambda_loadtest::bench::find_program("mulambda-proxy").is_none() {
        // Run by `cargo test -p mulambda-loadtest` alone the proxy binary may not be built;
        // the workspace run (scripts/test.sh, CI) builds it. Fail loudly there.
        assert!(
            std::env::var_os("CI").is_none(),
            "mulambda-proxy binary not built; run the workspace tests"
        );
        eprintln!("skipping: mulambda-proxy not built (run `cargo build -p mulambda-proxy`)");
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let config = DemoConfig {
        phase: Duration::from_secs(4),
        warmup: Duration::from_secs(2),
        rate: 50.0,
        out_dir: out.path().to_path_buf(),
        interval: Duration::from_millis(250),
    };
    let report = run(config, CancellationToken::new())
        .await
        .expect("demo runs");

    // The report files exist and the JSON is the same data.
    for f in ["demo-report.md", "demo-report.json", "demo-latency.svg"] {
        assert!(out.path().join(f).is_file(), "{f} written");
    }
    let on_disk: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("demo-report.json")).unwrap())
            .unwrap();
    assert_eq!(on_disk["outcomes"].as_array().unwrap().len(), 2);

    let by = |name: &str| {
        report
            .outcomes
            .iter()
            .find(|o| o.proxy == name)
            .unwrap()
            .clone()
    };
    let latency_first = by("latency-first");
    let accuracy_first = by("accuracy-first");
    assert_eq!(
        latency_first.before.as_deref(),
        Some("fast"),
        "{latency_first:?}"
    );
    assert_eq!(
        accuracy_first.before.as_deref(),
        Some("accurate"),
        "{accuracy_first:?}"
    );
    // After the fast executor slowed down and the accurate one died, both moved away.
    assert_ne!(
        latency_first.after.as_deref(),
        Some("fast"),
        "{latency_first:?}"
    );
    assert_ne!(
        accuracy_first.after.as_deref(),
        Some("accurate"),
        "{accuracy_first:?}"
    );
    assert!(latency_first.switched_after_s.is_some());
    assert!(accuracy_first.switched_after_s.is_some());
    // The crash cost (almost) nothing: retries on the next-best executor saved the requests.
    let failed_share = accuracy_first.errors as f64 / accuracy_first.requests.max(1) as f64;
    assert!(failed_share < 0.02, "{accuracy_first:?}");
}
