//! The generated CRD and the binary: `mulambda-controller crd` prints exactly
//! `deploy/kubernetes/base/crd.yaml`, the deploy examples are valid `ModelExecutor`s, and
//! `run` serves its admin endpoints and stops cleanly on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mulambda_controller::ModelExecutor;

const BIN: &str = env!("CARGO_BIN_EXE_mulambda-controller");

fn repo_file(relative: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative)
}

#[test]
fn deploy_crd_yaml_is_the_generated_crd() {
    let output = Command::new(BIN).arg("crd").output().unwrap();
    assert!(output.status.success());
    let printed = String::from_utf8(output.stdout).unwrap();
    assert_eq!(printed, mulambda_controller::crd_yaml().unwrap());
    let on_disk = std::fs::read_to_string(repo_file("deploy/kubernetes/base/crd.yaml")).unwrap();
    assert!(
        on_disk == printed,
        "deploy/kubernetes/base/crd.yaml differs from `mulambda-controller crd`; regenerate it:\n  \
         cargo run -p mulambda-controller -- crd > deploy/kubernetes/base/crd.yaml"
    );
}

#[test]
fn deploy_examples_are_valid_model_executors() {
    let text = std::fs::read_to_string(repo_file("deploy/examples/model-executors.yaml")).unwrap();
    let mut count = 0;
    for mex in serde_saphyr::from_multiple::<ModelExecutor>(&text).unwrap() {
        mulambda_controller::executor::validate::validate(&mex).unwrap();
        count += 1;
    }
    assert!(count >= 1);
}

fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    (status, response)
}

#[test]
fn run_serves_admin_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    std::fs::write(dir.path().join("tls.crt"), cert.pem()).unwrap();
    std::fs::write(dir.path().join("tls.key"), key.serialize_pem()).unwrap();

    let mut child = Command::new(BIN)
        .args([
            "run",
            "--no-reconciler",
            "--admin-listen",
            "127.0.0.1:0",
            "--webhook-listen",
            "127.0.0.1:0",
        ])
        .arg("--tls-cert")
        .arg(dir.path().join("tls.crt"))
        .arg("--tls-key")
        .arg(dir.path().join("tls.key"))
        .args(["--store-url", "redis://store:6379"])
        .env("MULAMBDA_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    // The admin address is in the log line "admin listening".
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let admin: SocketAddr = loop {
        let line = lines.next().expect("log output").unwrap();
        if line.contains("admin listening") {
            let at = line.find("addr=").unwrap() + 5;
            let addr = line[at..].split_whitespace().next().unwrap();
            break addr.trim_matches('"').parse().unwrap();
        }
    };
    std::thread::spawn(move || for _ in lines {});

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _) = get(admin, "/ready");
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "never ready");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(get(admin, "/live").0, 200);
    let (status, metrics) = get(admin, "/metrics");
    assert_eq!(status, 200);
    assert!(metrics.contains("mulambda_controller_webhook_requests_total"));
    assert!(metrics.contains("mulambda_controller_reconciliations_total"));

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "did not stop after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
}

#[test]
fn configuration_errors_name_the_option() {
    let output = Command::new(BIN)
        .args([
            "run",
            "--no-reconciler",
            "--store-url",
            "redis://s:1",
            "--tls-reload-interval",
            "soon",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("--tls-reload-interval (MULAMBDA_TLS_RELOAD_INTERVAL) \"soon\""),
        "{stderr}"
    );

    let output = Command::new(BIN)
        .args([
            "run",
            "--no-reconciler",
            "--store-url",
            "redis://s:1",
            "--tls-cert",
            "/nonexistent/tls.crt",
        ])
        .args([
            "--admin-listen",
            "127.0.0.1:0",
            "--webhook-listen",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("/nonexistent/tls.crt"), "{stderr}");
}
