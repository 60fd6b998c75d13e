//! Intercepted mode for real, in a network namespace per test (root; skipped with a message
//! otherwise — CI runs as root): the real `mulambda-proxy` runs as the UID the rules exempt, a
//! real `redis-server`, two simulated TF Serving executors (`mulambda-loadtest sim`, on port
//! 8501 like real ones) with their `mulambda-companion`s, all inside the namespace on its
//! loopback only. The init binary installs the rules; an unmodified `curl` and Python's `urllib`
//! call `http://tf-serving.models.example:8501/v1/models/anything:predict` — a name that
//! resolves to an address of the namespace where nothing listens — and get the answer of the
//! executor mulambda selected (its `x-mulambda-*` headers, its own request counter, and the
//! original destination in the receipt, the log and the metrics). With the rules removed, the
//! same call is refused.
//!
//! The namespace, the clients and the init binary's runner are the intercept crate's test
//! support, included here as is.

#[allow(dead_code)]
#[path = "../../intercept/tests/support/lab.rs"]
mod lab;

#[allow(dead_code)]
#[path = "../../intercept/tests/support/clients.rs"]
mod clients;

use std::io::BufRead;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use clients::{Reply, curl, predict_url, urllib};
use lab::{Family, Lab, LabProcess, intercept_binary, root_or_skip, workspace_binary};
use serde_json::{Value, json};

/// The UID the proxy runs as, exempt from the redirect.
const PROXY_UID: u32 = 4242;
/// The proxy's REST listener port in intercepted mode (the init step's default mapping).
const PROXY_REST_PORT: u16 = 18501;
/// The proxy's admin port.
const ADMIN_PORT: u16 = 9901;
/// Generous: a loaded 2-core machine starts five processes.
const DEADLINE: Duration = Duration::from_secs(60);

/// The executors: name, model, address (TF Serving's own port, as in a real cluster, so that
/// the proxy's calls to them would loop back to it if its UID were not exempt), accuracy.
const EXECUTORS: [(&str, &str, &str, f64); 2] = [
    ("fast", "m-fast", "127.0.0.11:8501", 0.70),
    ("accurate", "m-accurate", "127.0.0.12:8501", 0.95),
];

/// The binaries the test runs; `None` (with a message) when a workspace build did not make them.
struct Binaries {
    proxy: PathBuf,
    intercept: PathBuf,
    loadtest: PathBuf,
    companion: PathBuf,
    redis: PathBuf,
}

fn binaries(test: &str) -> Option<Binaries> {
    let found = [
        ("mulambda-intercept", intercept_binary()),
        ("mulambda-loadtest", workspace_binary("mulambda-loadtest")),
        ("mulambda-companion", workspace_binary("mulambda-companion")),
    ];
    let missing: Vec<&str> = found
        .iter()
        .filter(|(_, p)| p.is_none())
        .map(|(n, _)| *n)
        .collect();
    if !missing.is_empty() {
        // `cargo nextest run -p mulambda-proxy` alone does not build other crates' binaries;
        // the workspace run (scripts/test.sh, CI) does. Fail loudly there.
        assert!(
            std::env::var_os("CI").is_none(),
            "{missing:?} not built; run the workspace tests"
        );
        eprintln!("skipped {test}: {missing:?} not built (run `cargo build --workspace`)");
        return None;
    }
    let [(_, intercept), (_, loadtest), (_, companion)] = found;
    let redis = std::env::var_os(mulambda_testkit::SERVER_BINARY_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("redis-server"));
    Some(Binaries {
        proxy: PathBuf::from(env!("CARGO_BIN_EXE_mulambda-proxy")),
        intercept: intercept?,
        loadtest: loadtest?,
        companion: companion?,
        redis,
    })
}

/// `bin` when `uid` may run it where it is (every directory above it searchable), else a copy
/// in `scratch` that it may run.
fn runnable_by(uid: u32, bin: &Path, scratch: &Path) -> PathBuf {
    let uid_s = uid.to_string();
    let ok = Command::new("setpriv")
        .args([
            "--reuid",
            &uid_s,
            "--regid",
            &uid_s,
            "--clear-groups",
            "test",
            "-x",
        ])
        .arg(bin)
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return bin.to_path_buf();
    }
    let copy = scratch.join(bin.file_name().expect("a file name"));
    std::fs::copy(bin, &copy).expect("copy the binary");
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    copy
}

/// Polls `probe` every 100 ms until it returns `Some`, or panics naming `what` after
/// [`DEADLINE`] with `context()`.
fn wait_for<T>(
    what: &str,
    mut probe: impl FnMut() -> Option<T>,
    context: impl Fn() -> String,
) -> T {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\n{}",
            context()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `GET url` with curl inside the lab, as `uid` when given (the exempt UID reaches port 8501
/// itself instead of being redirected): the body, or `None` on any failure.
fn get(lab: &Lab, url: &str, uid: Option<u32>) -> Option<String> {
    let uid_s = uid.map(|u| u.to_string());
    let mut args: Vec<&str> = Vec::new();
    let program = match &uid_s {
        Some(u) => {
            args.extend(["--reuid", u, "--regid", u, "--clear-groups", "curl"]);
            "setpriv"
        }
        None => "curl",
    };
    args.extend(["-sf", "--max-time", "10", url]);
    let out = lab.exec(program, &args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Everything running in one lab. Fields drop in order: processes before the namespace.
struct Stack {
    proxy: LabProcess,
    _others: Vec<LabProcess>,
    intercept: PathBuf,
    lab: Lab,
    _scratch: tempfile::TempDir,
}

// === impl Stack ===

impl Stack {
    fn start(family: Family, bins: &Binaries) -> Stack {
        let lab = Lab::new(family);
        let scratch = tempfile::tempdir().unwrap();
        std::fs::set_permissions(scratch.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let log = |name: &str| scratch.path().join(format!("{name}.log"));
        let mut others = Vec::new();

        // The store.
        let data = scratch.path().join("redis");
        std::fs::create_dir(&data).unwrap();
        others.push(lab.spawn(
            &bins.redis,
            &[
                "--port",
                "6379",
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                &data.to_string_lossy(),
            ],
            None,
            &[],
            &log("redis"),
            false,
        ));
        wait_for(
            "redis-server",
            || {
                let out = lab
                    .exec("redis-cli", &["-p", "6379", "ping"])
                    .output()
                    .ok()?;
                String::from_utf8_lossy(&out.stdout)
                    .contains("PONG")
                    .then_some(())
            },
            || others[0].log_text(),
        );

        // Two simulated executors in one process; it prints a line per executor once listening.
        let specs: Vec<String> = EXECUTORS
            .iter()
            .map(|(name, model, addr, _)| {
                format!("name={name},model={model},addr={addr},base-ms=1")
            })
            .collect();
        let mut sim_args = vec!["sim"];
        for s in &specs {
            sim_args.extend(["-e", s]);
        }
        let mut sim = lab.spawn(&bins.loadtest, &sim_args, None, &[], &log("sim"), true);
        let (tx, rx) = mpsc::channel();
        let stdout = sim.stdout();
        // Reads to the end, so the simulator never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                let _ = tx.send(line);
            }
        });
        for _ in EXECUTORS {
            let line = rx
                .recv_timeout(DEADLINE)
                .unwrap_or_else(|_| panic!("simulator did not listen:\n{}", sim.log_text()));
            assert!(line.contains("\"listening\""), "{line}");
        }
        others.push(sim);

        // A companion per executor. In a cluster they live in the executors' pods; here they
        // share the lab, so they run as the exempt UID too: their readiness checks of TF
        // Serving's port 8501 must reach the executor, not the proxy.
        let companion = runnable_by(PROXY_UID, &bins.companion, scratch.path());
        for (name, model, addr, accuracy) in EXECUTORS {
            let args = [
                "--store-url=redis://127.0.0.1:6379".to_string(),
                format!("--executor-id={name}"),
                format!("--rest-endpoint={addr}"),
                format!("--tfserving-url=http://{addr}"),
                format!("--model-name={model}"),
                "--model-type=classification".into(),
                "--input-format=image".into(),
                "--output-format=label".into(),
                format!("--accuracy={accuracy}"),
                "--admin-listen=127.0.0.1:0".into(),
                "--heartbeat=1s".into(),
                "--readiness-interval=250ms".into(),
                "--probe-interval=1s".into(),
            ];
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            others.push(lab.spawn(
                &companion,
                &args,
                Some(PROXY_UID),
                &[],
                &log(&format!("companion-{name}")),
                false,
            ));
        }

        // The proxy, configured through its environment as the webhook configures it.
        let proxy_bin = runnable_by(PROXY_UID, &bins.proxy, scratch.path());
        let env = [
            ("MULAMBDA_STORE_URL", "redis://127.0.0.1:6379".to_string()),
            ("MULAMBDA_LISTEN", format!("127.0.0.1:{PROXY_REST_PORT}")),
            ("MULAMBDA_ADMIN_LISTEN", format!("127.0.0.1:{ADMIN_PORT}")),
            ("MULAMBDA_PROBE_ADDR", format!("127.0.0.1:{ADMIN_PORT}")),
            ("MULAMBDA_CLIENT_ID", "app".to_string()),
            ("MULAMBDA_MODEL_TYPE", "classification".to_string()),
            ("MULAMBDA_INPUT_FORMAT", "image".to_string()),
            ("MULAMBDA_OUTPUT_FORMAT", "label".to_string()),
            (
                "MULAMBDA_INTERCEPT_REDIRECT",
                "8501=18501,8500=18500".to_string(),
            ),
            ("MULAMBDA_RAMP_UP", "0s".to_string()),
            ("MULAMBDA_POLL_INTERVAL", "200ms".to_string()),
            (
                "MULAMBDA_LOG",
                "info,mulambda_proxy::intercepted=debug".to_string(),
            ),
        ];
        let mut proxy = lab.spawn(&proxy_bin, &[], Some(PROXY_UID), &env, &log("proxy"), false);
        let explain = format!("http://127.0.0.1:{ADMIN_PORT}/explain");
        wait_for(
            "the proxy to see both executors eligible",
            || {
                let body = get(&lab, &explain, None)?;
                let v: Value = serde_json::from_str(&body).ok()?;
                (v["candidates"].as_u64() == Some(2)).then_some(())
            },
            || {
                format!(
                    "explain: {:?}\nproxy log:\n{}",
                    get(&lab, &explain, None),
                    proxy.log_text()
                )
            },
        );
        proxy.assert_running();
        Stack {
            proxy,
            _others: others,
            intercept: bins.intercept.clone(),
            lab,
            _scratch: scratch,
        }
    }

    fn intercept(&self, args: &[&str]) {
        let out = self
            .lab
            .exec(&self.intercept.to_string_lossy(), args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mulambda-intercept {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Inference requests each simulated executor has answered, by its own count.
    fn served_by_executors(&self) -> Vec<(String, u64)> {
        EXECUTORS
            .iter()
            .map(|(name, _, addr, _)| {
                let url = format!("http://{addr}/-/sim/state");
                let body = get(&self.lab, &url, Some(PROXY_UID))
                    .unwrap_or_else(|| panic!("state of {name}"));
                let v: Value = serde_json::from_str(&body).unwrap();
                (name.to_string(), v["stats"]["inference"].as_u64().unwrap())
            })
            .collect()
    }

    fn metrics(&self) -> String {
        get(
            &self.lab,
            &format!("http://127.0.0.1:{ADMIN_PORT}/metrics"),
            None,
        )
        .expect("metrics")
    }
}

/// Where the application meant to go: `port` at the address the TF host resolves to.
fn expected_dst(lab: &Lab, port: u16) -> String {
    std::net::SocketAddr::new(lab.tf_addr(), port).to_string()
}

/// One served call: the response came from the executor the proxy named, which counted it.
fn assert_served_by_the_selected_executor(client: &str, reply: Reply, original_dst: &str) {
    let (headers, body) = reply.ok_with_headers();
    let executor = headers
        .get("x-mulambda-executor")
        .unwrap_or_else(|| panic!("{client}: no x-mulambda-executor in {headers:?}"));
    let model = EXECUTORS
        .iter()
        .find(|(name, ..)| name == executor)
        .map(|(_, model, ..)| *model)
        .unwrap_or_else(|| panic!("{client}: unknown executor {executor}"));
    assert_eq!(headers["x-mulambda-model"], model, "{client}: {headers:?}");
    assert!(
        headers.contains_key("x-mulambda-reason"),
        "{client}: {headers:?}"
    );
    assert_eq!(
        headers.get("x-mulambda-original-dst").map(String::as_str),
        Some(original_dst),
        "{client}: {headers:?}"
    );
    // half_plus_two of the clients' [[1.0, 2.0]].
    assert_eq!(body["predictions"], json!([[2.5, 3.0]]), "{client}: {body}");
}

fn unmodified_clients_reach_the_selected_executor_through_the_real_proxy(family: Family) {
    let test = format!("{family:?} interception with the real proxy");
    if !root_or_skip(&test) {
        return;
    }
    let Some(bins) = binaries(&test) else {
        return;
    };
    let stack = Stack::start(family, &bins);
    let lab = &stack.lab;
    let url = predict_url(8501);

    // Nothing listens where the name resolves: without the rules the call is refused.
    curl(lab, &url, None).assert_refused();
    urllib(lab, &url).assert_refused();

    stack.intercept(&["--proxy-uid", &PROXY_UID.to_string()]);
    let dst = expected_dst(lab, 8501);
    let mut calls = 0;
    for client in ["curl", "urllib"] {
        let before = stack.served_by_executors();
        let reply = match client {
            "curl" => curl(lab, &url, None),
            _ => urllib(lab, &url),
        };
        let Reply::Http { headers, .. } = &reply else {
            panic!(
                "{client}: {reply:?}\nproxy log:\n{}",
                stack.proxy.log_text()
            );
        };
        let executor = headers
            .get("x-mulambda-executor")
            .cloned()
            .unwrap_or_default();
        assert_served_by_the_selected_executor(client, reply, &dst);
        calls += 1;
        // The executor the proxy named is the one that answered, and only it.
        let after = stack.served_by_executors();
        for ((name, b), (_, a)) in before.iter().zip(&after) {
            let expected = if *name == executor { b + 1 } else { *b };
            assert_eq!(*a, expected, "{client}: {name} served {b} then {a}");
        }
    }

    // An application in localhost mode is intercepted too (its original destination is then
    // loopback), and a call to the proxy's own port is direct: no original destination.
    let local = curl(
        lab,
        "http://127.0.0.1:8501/v1/models/anything:predict",
        None,
    );
    assert_served_by_the_selected_executor("curl localhost", local, "127.0.0.1:8501");
    calls += 1;
    let (headers, _) = curl(
        lab,
        &format!("http://127.0.0.1:{PROXY_REST_PORT}/v1/models/anything:predict"),
        None,
    )
    .ok_with_headers();
    assert!(headers.contains_key("x-mulambda-executor"), "{headers:?}");
    assert!(
        !headers.contains_key("x-mulambda-original-dst"),
        "{headers:?}"
    );

    // The original destination in the log and the port in the metrics.
    let log = stack.proxy.log_text();
    assert!(
        log.contains(&format!("original_dst={dst}")),
        "no original_dst={dst} in the proxy log:\n{log}"
    );
    let metrics = stack.metrics();
    assert!(
        metrics.contains(&format!(
            "mulambda_proxy_intercepted_requests_total{{port=\"8501\"}} {calls}"
        )),
        "{metrics}"
    );

    // Rules removed: the same calls are refused again.
    stack.intercept(&["--remove"]);
    curl(lab, &url, None).assert_refused();
    urllib(lab, &url).assert_refused();
}

#[test]
fn unmodified_clients_reach_the_selected_executor_over_ipv4_through_the_real_proxy() {
    unmodified_clients_reach_the_selected_executor_through_the_real_proxy(Family::V4);
}

#[test]
fn unmodified_clients_reach_the_selected_executor_over_ipv6_through_the_real_proxy() {
    unmodified_clients_reach_the_selected_executor_through_the_real_proxy(Family::V6);
}

#[test]
fn the_real_proxy_refuses_a_port_it_does_not_serve_and_forwards_nothing() {
    let test = "unserved port with the real proxy";
    if !root_or_skip(test) {
        return;
    }
    let Some(bins) = binaries(test) else {
        return;
    };
    let stack = Stack::start(Family::V4, &bins);
    let lab = &stack.lab;
    // The init step sends 9000 to the REST listener too; the proxy serves 8501 there only.
    stack.intercept(&[
        "--proxy-uid",
        &PROXY_UID.to_string(),
        "--redirect",
        "8501=18501,8500=18500,9000=18501",
    ]);
    let before = stack.served_by_executors();
    for reply in [
        curl(lab, &predict_url(9000), None),
        urllib(lab, &predict_url(9000)),
    ] {
        let Reply::Http {
            status: 421, body, ..
        } = reply
        else {
            panic!("expected 421 Misdirected Request, got {reply:?}");
        };
        let error = body["error"].as_str().expect("TF Serving's error shape");
        assert!(
            error.contains(&format!("connection to {}", expected_dst(lab, 9000))),
            "{error}"
        );
        assert!(
            error.contains("serves TF Serving port(s) 8501 here, not 9000"),
            "{error}"
        );
    }
    assert_eq!(stack.served_by_executors(), before, "nothing was forwarded");
    let metrics = stack.metrics();
    assert!(
        metrics.contains(
            "mulambda_proxy_intercepted_connections_total{outcome=\"refused\",port=\"other\"} 2"
        ),
        "{metrics}"
    );
    // The served port on the same listener still works.
    let reply = curl(lab, &predict_url(8501), None);
    assert_served_by_the_selected_executor("curl", reply, &expected_dst(lab, 8501));
}
