//! The webhook over real HTTPS: a self-signed certificate (rcgen) in a temporary directory, the
//! server on 127.0.0.1:0, a hyper client over rustls that trusts exactly that certificate, and
//! AdmissionReview fixtures (`tests/fixtures/*.json`, shaped like the API server's). Returned
//! patches are applied with the `json-patch` crate and the result must deserialise into a
//! k8s-openapi `Pod` with exactly the expected sidecar.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1::Pod;
use mulambda_controller::metrics::Metrics;
use mulambda_controller::podspec::{StoreEnv, StoreUrlSource};
use mulambda_controller::run::RunningWebhook;
use mulambda_controller::webhook::inject::{InjectConfig, Outcome};
use mulambda_controller::webhook::review::AdmissionReviewResponse;
use mulambda_controller::webhook::server::WebhookConfig;
use mulambda_controller::webhook::sidecar::{SidecarMode, SidecarTemplate};
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

const TIMEOUT: Duration = Duration::from_secs(10);

struct CertPair {
    cert_der: CertificateDer<'static>,
}

fn write_cert(dir: &Path) -> CertPair {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    let cert = params.self_signed(&key).unwrap();
    // Write to temporary names and rename, as the kubelet swaps Secret files atomically.
    std::fs::write(dir.join("tls.crt.tmp"), cert.pem()).unwrap();
    std::fs::write(dir.join("tls.key.tmp"), key.serialize_pem()).unwrap();
    std::fs::rename(dir.join("tls.key.tmp"), dir.join("tls.key")).unwrap();
    std::fs::rename(dir.join("tls.crt.tmp"), dir.join("tls.crt")).unwrap();
    CertPair {
        cert_der: cert.der().clone(),
    }
}

fn inject_config(inject_by_default: bool) -> InjectConfig {
    InjectConfig {
        sidecar: SidecarTemplate {
            image: "ghcr.io/mulambda/mulambda:0.1.0".into(),
            store: StoreEnv {
                url: StoreUrlSource::Secret {
                    name: "mulambda-store-url".into(),
                    key: "url".into(),
                },
                prefix: "mulambda".into(),
            },
            intercept_image: "ghcr.io/mulambda/mulambda-intercept:0.1.0".into(),
            proxy_uid: 2501,
            mode: SidecarMode::Native,
        },
        inject_by_default,
    }
}

struct Harness {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    webhook: RunningWebhook,
    metrics: Metrics,
    trusted: Vec<CertificateDer<'static>>,
}

impl Harness {
    async fn start(inject_by_default: bool) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let pair = write_cert(dir.path());
        let metrics = Metrics::new();
        let config = WebhookConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            tls_cert: dir.path().join("tls.crt"),
            tls_key: dir.path().join("tls.key"),
            reload_interval: Duration::from_millis(50),
        };
        let webhook =
            RunningWebhook::start(&config, inject_config(inject_by_default), metrics.clone())
                .await
                .unwrap();
        Harness {
            dir: dir.path().to_path_buf(),
            _dir: dir,
            webhook,
            metrics,
            trusted: vec![pair.cert_der],
        }
    }

    /// A new TLS connection to the webhook.
    async fn connect(&self) -> tokio_rustls::client::TlsStream<TcpStream> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in &self.trusted {
            roots.add(cert.clone()).unwrap();
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let connector = TlsConnector::from(Arc::new(config));
        let tcp = TcpStream::connect(self.webhook.local_addr).await.unwrap();
        tokio::time::timeout(
            TIMEOUT,
            connector.connect(ServerName::try_from("localhost").unwrap(), tcp),
        )
        .await
        .expect("handshake in time")
        .expect("handshake")
    }

    /// One request on a new TLS connection; returns the status, the body and the certificate
    /// the server presented.
    async fn request(
        &self,
        method: Method,
        path: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Vec<u8>, Vec<u8>) {
        let tls = self.connect().await;
        let presented = tls.get_ref().1.peer_certificates().unwrap()[0]
            .as_ref()
            .to_vec();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .unwrap();
        tokio::spawn(conn);
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        let response = tokio::time::timeout(TIMEOUT, sender.send_request(request))
            .await
            .expect("response in time")
            .unwrap();
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        (status, body, presented)
    }

    async fn review(&self, review: &Value) -> AdmissionReviewResponse {
        let (status, body, _) = self
            .request(Method::POST, "/mutate", serde_json::to_vec(review).unwrap())
            .await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        serde_json::from_slice(&body).unwrap()
    }
}

fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Applies the response's patch to the review's pod.
fn patched_pod(review: &Value, response: &AdmissionReviewResponse) -> Value {
    let patch = response
        .response
        .decoded_patch()
        .expect("a patch")
        .expect("a valid patch");
    let mut pod = review["request"]["object"].clone();
    json_patch::patch(&mut pod, &patch).unwrap();
    pod
}

/// The sidecar every injected pod must get (here with the fixtures' criteria), as a native
/// sidecar (the default) or a regular container.
fn expected_sidecar(criteria_env: Value, mode: SidecarMode) -> Value {
    let mut env = json!([
        {"name": "MULAMBDA_POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "MULAMBDA_POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "MULAMBDA_POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "MULAMBDA_NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "MULAMBDA_ZONE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['topology.kubernetes.io/zone']"}}},
        {"name": "MULAMBDA_STORE_URL", "valueFrom": {"secretKeyRef": {"name": "mulambda-store-url", "key": "url"}}},
        {"name": "MULAMBDA_STORE_PREFIX", "value": "mulambda"},
        {"name": "MULAMBDA_LISTEN", "value": "127.0.0.1:8501"},
        {"name": "MULAMBDA_ADMIN_LISTEN", "value": "0.0.0.0:9901"},
        {"name": "MULAMBDA_PROBE_ADDR", "value": "$(MULAMBDA_POD_IP):9901"}
    ]);
    env.as_array_mut()
        .unwrap()
        .extend(criteria_env.as_array().unwrap().iter().cloned());
    let mut sidecar = json!({
        "name": "mulambda-proxy",
        "image": "ghcr.io/mulambda/mulambda:0.1.0",
        "imagePullPolicy": "IfNotPresent",
        "command": ["mulambda-proxy"],
        "env": env,
        "ports": [
            {"name": "mulambda-app", "containerPort": 8501, "protocol": "TCP"},
            {"name": "mulambda-admin", "containerPort": 9901, "protocol": "TCP"}
        ],
        "resources": {
            "requests": {"cpu": "10m", "memory": "32Mi"},
            "limits": {"memory": "64Mi"}
        },
        "startupProbe": {
            "httpGet": {"path": "/live", "port": "mulambda-admin"},
            "periodSeconds": 1, "failureThreshold": 30, "timeoutSeconds": 1
        },
        "readinessProbe": {
            "httpGet": {"path": "/ready", "port": "mulambda-admin"},
            "periodSeconds": 5, "failureThreshold": 2, "timeoutSeconds": 1
        },
        "livenessProbe": {
            "httpGet": {"path": "/live", "port": "mulambda-admin"},
            "periodSeconds": 10, "failureThreshold": 3, "timeoutSeconds": 1
        },
        "securityContext": {
            "runAsNonRoot": true, "runAsUser": 65532, "runAsGroup": 65532,
            "readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"}
        }
    });
    if mode == SidecarMode::Native {
        sidecar["restartPolicy"] = json!("Always");
    }
    sidecar
}

/// The proxy of a patched pod: its native sidecar (an init container) or its container.
fn proxy_of(pod: &Pod) -> &k8s_openapi::api::core::v1::Container {
    let spec = pod.spec.as_ref().unwrap();
    let all: Vec<_> = spec
        .init_containers
        .iter()
        .flatten()
        .chain(spec.containers.iter())
        .filter(|c| c.name == "mulambda-proxy")
        .collect();
    assert_eq!(all.len(), 1, "exactly one proxy");
    all[0]
}

fn full_criteria_env() -> Value {
    json!([
        {"name": "MULAMBDA_MODEL_TYPE", "value": "classification"},
        {"name": "MULAMBDA_INPUT_FORMAT", "value": "image"},
        {"name": "MULAMBDA_OUTPUT_FORMAT", "value": "label"},
        {"name": "MULAMBDA_LATENCY_WEIGHT", "value": "0.7"},
        {"name": "MULAMBDA_ACCURACY_WEIGHT", "value": "0.3"},
        {"name": "MULAMBDA_MAX_LATENCY_MS", "value": "500"},
        {"name": "MULAMBDA_MIN_ACCURACY", "value": "0.6"}
    ])
}

#[tokio::test]
async fn opted_in_pod_gets_exactly_the_expected_sidecar() {
    let h = Harness::start(true).await;
    let review = fixture("opted-in.json");
    let response = h.review(&review).await;
    assert_eq!(response.api_version, "admission.k8s.io/v1");
    assert_eq!(response.kind, "AdmissionReview");
    assert_eq!(response.response.uid, "0c9a8d74-0001");
    assert!(response.response.allowed);
    assert_eq!(response.response.patch_type.as_deref(), Some("JSONPatch"));

    let patched = patched_pod(&review, &response);
    let pod: Pod = serde_json::from_value(patched.clone()).expect("a valid Pod");
    let spec = pod.spec.as_ref().unwrap();
    // A native sidecar: the only init container; the application's containers are untouched.
    assert_eq!(
        patched["spec"]["containers"],
        review["request"]["object"]["spec"]["containers"]
    );
    assert_eq!(spec.init_containers.as_ref().map(Vec::len), Some(1));
    assert_eq!(
        serde_json::to_value(proxy_of(&pod)).unwrap(),
        expected_sidecar(full_criteria_env(), SidecarMode::Native)
    );
    let annotations = pod.metadata.annotations.unwrap();
    assert_eq!(annotations["mulambda.io/injected"], "true");
    assert_eq!(annotations["prometheus.io/scrape"], "true");
    assert_eq!(annotations["prometheus.io/port"], "9901");
    // Everything else in the pod is unchanged.
    let mut rest = patched.clone();
    let mut original = review["request"]["object"].clone();
    for v in [&mut rest, &mut original] {
        v["spec"].as_object_mut().unwrap().remove("initContainers");
        v["metadata"].as_object_mut().unwrap().remove("annotations");
    }
    assert_eq!(rest, original);
    assert_eq!(h.metrics.webhook_requests(Outcome::Injected), 1);

    // Idempotent: the injected pod sent again is admitted unchanged.
    let mut again = review.clone();
    again["request"]["object"] = patched;
    let response = h.review(&again).await;
    assert!(response.response.allowed);
    assert!(response.response.patch.is_none());
    assert_eq!(h.metrics.webhook_requests(Outcome::Skipped), 1);
    h.webhook.shutdown().await;
}

#[tokio::test]
async fn namespace_opt_in_injects_unannotated_pods_with_default_soft_criteria() {
    let h = Harness::start(true).await;
    let review = fixture("namespace-opt-in.json");
    let response = h.review(&review).await;
    let pod: Pod = serde_json::from_value(patched_pod(&review, &response)).unwrap();
    let sidecar = proxy_of(&pod);
    let hard_only = json!([
        {"name": "MULAMBDA_MODEL_TYPE", "value": "classification"},
        {"name": "MULAMBDA_INPUT_FORMAT", "value": "image"},
        {"name": "MULAMBDA_OUTPUT_FORMAT", "value": "label"}
    ]);
    assert_eq!(
        serde_json::to_value(sidecar).unwrap(),
        expected_sidecar(hard_only, SidecarMode::Native)
    );
    let annotations = pod.metadata.annotations.unwrap();
    // The pod's own Prometheus choice is respected.
    assert_eq!(annotations["prometheus.io/scrape"], "false");
    assert!(!annotations.contains_key("prometheus.io/port"));
    h.webhook.shutdown().await;

    // With --inject-by-default=false the same pod is left alone.
    let h = Harness::start(false).await;
    let response = h.review(&review).await;
    assert!(response.response.allowed && response.response.patch.is_none());
    h.webhook.shutdown().await;
}

#[tokio::test]
async fn opted_out_and_already_injected_pods_are_admitted_unchanged() {
    let h = Harness::start(true).await;
    for name in ["opted-out.json", "already-injected.json"] {
        let response = h.review(&fixture(name)).await;
        assert!(response.response.allowed, "{name}");
        assert!(response.response.patch.is_none(), "{name}");
        assert!(response.response.status.is_none(), "{name}");
    }
    // A pod that carries the container (but not the marker) is not injected twice either.
    let mut review = fixture("opted-in.json");
    review["request"]["object"]["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "mulambda-proxy", "image": "x"}));
    let response = h.review(&review).await;
    assert!(response.response.allowed && response.response.patch.is_none());
    assert_eq!(h.metrics.webhook_requests(Outcome::Skipped), 3);
    h.webhook.shutdown().await;
}

#[tokio::test]
async fn invalid_annotations_are_denied_naming_annotation_and_value() {
    let h = Harness::start(true).await;
    let response = h.review(&fixture("invalid-annotations.json")).await;
    let r = response.response;
    assert!(!r.allowed);
    assert!(r.patch.is_none());
    let status = r.status.unwrap();
    assert_eq!(status.code, 403);
    for needle in [
        "mulambda.io/input-format \"Image Files\"",
        "mulambda.io/output-format is required",
        "mulambda.io/latency-weight \"-0.5\"",
        "mulambda.io/min-accuracy \"1.2\"",
    ] {
        assert!(
            status.message.contains(needle),
            "{needle:?} not in {:?}",
            status.message
        );
    }
    assert_eq!(h.metrics.webhook_requests(Outcome::Denied), 1);
    h.webhook.shutdown().await;
}

#[tokio::test]
async fn malformed_requests_get_400_json_and_the_server_keeps_serving() {
    let h = Harness::start(true).await;
    let no_request = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"});
    let wrong_version = json!({"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview",
                               "request": fixture("opted-in.json")["request"].clone()});
    let no_uid = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                        "request": {"kind": {"kind": "Pod"}}});
    let bodies: Vec<Vec<u8>> = vec![
        b"{not json".to_vec(),
        Vec::new(),
        b"[1,2,3]".to_vec(),
        vec![0xff, 0xfe, 0x00],
        serde_json::to_vec(&no_request).unwrap(),
        serde_json::to_vec(&wrong_version).unwrap(),
        serde_json::to_vec(&no_uid).unwrap(),
    ];
    for body in bodies {
        let (status, response, _) = h.request(Method::POST, "/mutate", body.clone()).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{}",
            String::from_utf8_lossy(&body)
        );
        let error: Value = serde_json::from_slice(&response).expect("a JSON error");
        assert!(
            error["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{error}"
        );
    }
    assert_eq!(h.metrics.webhook_requests(Outcome::Error), 7);

    // A pod object that is not a Pod: answered (denied, 400 in the status), not a crash.
    let mut review = fixture("opted-in.json");
    review["request"]["object"]["spec"]["containers"] = json!("not a list");
    let response = h.review(&review).await;
    assert!(!response.response.allowed);
    assert_eq!(response.response.status.unwrap().code, 400);

    let (status, _, _) = h.request(Method::GET, "/mutate", Vec::new()).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let (status, _, _) = h.request(Method::POST, "/elsewhere", Vec::new()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Still serving.
    let response = h.review(&fixture("opted-in.json")).await;
    assert!(response.response.allowed && response.response.patch.is_some());
    h.webhook.shutdown().await;
}

#[tokio::test]
async fn http2_is_negotiated_and_served() {
    let h = Harness::start(true).await;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(h.trusted[0].clone()).unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = TcpStream::connect(h.webhook.local_addr).await.unwrap();
    let tls = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        TokioIo::new(tls),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let body = serde_json::to_vec(&fixture("opted-in.json")).unwrap();
    let request = Request::post("https://localhost/mutate")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let response = tokio::time::timeout(TIMEOUT, sender.send_request(request))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let review: AdmissionReviewResponse = serde_json::from_slice(&bytes).unwrap();
    assert!(review.response.allowed && review.response.patch.is_some());
    h.webhook.shutdown().await;
}

#[tokio::test]
async fn new_connections_see_a_replaced_certificate() {
    let mut h = Harness::start(true).await;
    let (_, _, first) = h.request(Method::GET, "/nothing", Vec::new()).await;
    assert_eq!(first, h.trusted[0].as_ref());

    let second = write_cert(&h.dir);
    h.trusted.push(second.cert_der.clone());
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let (_, _, presented) = h.request(Method::GET, "/nothing", Vec::new()).await;
        if presented == second.cert_der.as_ref() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate was never served"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        h.webhook.cert.current_certificate(),
        second.cert_der.as_ref()
    );

    // A client that trusts only the new certificate can now review pods.
    h.trusted = vec![second.cert_der];
    let response = h.review(&fixture("opted-in.json")).await;
    assert!(response.response.allowed);

    // Broken files do not take the webhook down: the last good pair stays in service.
    std::fs::write(h.dir.join("tls.crt"), "not a certificate").unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let response = h.review(&fixture("opted-in.json")).await;
    assert!(response.response.allowed);
    h.webhook.shutdown().await;
}

#[tokio::test]
async fn malformed_http_over_tls_gets_a_json_error() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let h = Harness::start(true).await;
    let huge = format!(
        "POST /mutate HTTP/1.1\r\nHost: x\r\nx-pad: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    for (raw, want) in [
        (&b"NOT HTTP\r\n\r\n"[..], "HTTP/1.1 400 "),
        (huge.as_bytes(), "HTTP/1.1 431 "),
    ] {
        let mut tls = h.connect().await;
        let _ = tls.write_all(raw).await;
        let _ = tls.flush().await;
        let mut out = Vec::new();
        let _ = tokio::time::timeout(TIMEOUT, tls.read_to_end(&mut out)).await;
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with(want), "{text}");
        let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {text}"));
        assert!(v["error"].as_str().is_some_and(|m| !m.is_empty()), "{text}");
    }
    h.webhook.shutdown().await;
}

#[tokio::test]
async fn a_regular_container_is_injected_when_the_pod_asks_for_it() {
    let h = Harness::start(true).await;
    let mut review = fixture("opted-in.json");
    review["request"]["object"]["metadata"]["annotations"]["mulambda.io/sidecar-mode"] =
        json!("container");
    let response = h.review(&review).await;
    let patched = patched_pod(&review, &response);
    let pod: Pod = serde_json::from_value(patched.clone()).unwrap();
    let spec = pod.spec.as_ref().unwrap();
    assert!(spec.init_containers.is_none());
    assert_eq!(spec.containers.len(), 2);
    assert_eq!(
        patched["spec"]["containers"][0],
        review["request"]["object"]["spec"]["containers"][0]
    );
    assert_eq!(
        serde_json::to_value(&spec.containers[1]).unwrap(),
        expected_sidecar(full_criteria_env(), SidecarMode::Container)
    );
    h.webhook.shutdown().await;
}

/// The value of `name` in a container's environment.
fn env_value(c: &k8s_openapi::api::core::v1::Container, name: &str) -> String {
    c.env
        .iter()
        .flatten()
        .find(|e| e.name == name)
        .and_then(|e| e.value.clone())
        .unwrap_or_else(|| panic!("no {name} in {}", c.name))
}

#[tokio::test]
async fn an_intercepted_pod_gets_the_redirect_init_container_and_a_proxy_under_the_exempt_uid() {
    let h = Harness::start(true).await;
    let review = fixture("intercepted.json");
    let response = h.review(&review).await;
    assert!(response.response.allowed);
    assert!(response.response.warnings.is_empty());
    let patched = patched_pod(&review, &response);
    // A real Pod object: k8s-openapi reads it, and writes it back unchanged.
    let pod: Pod = serde_json::from_value(patched.clone()).expect("a valid Pod");
    let again: Pod = serde_json::from_value(serde_json::to_value(&pod).unwrap()).unwrap();
    assert_eq!(again, pod);

    let spec = pod.spec.as_ref().unwrap();
    let init: Vec<&str> = spec
        .init_containers
        .iter()
        .flatten()
        .map(|c| c.name.as_str())
        .collect();
    // The redirect first, then the proxy (native sidecar), then the pod's own init container,
    // which thus already runs intercepted.
    assert_eq!(
        init,
        ["mulambda-intercept", "mulambda-proxy", "wait-for-config"]
    );
    assert_eq!(
        patched["spec"]["initContainers"][0],
        json!({
            "name": "mulambda-intercept",
            "image": "ghcr.io/mulambda/mulambda-intercept:0.1.0",
            "imagePullPolicy": "IfNotPresent",
            "command": ["mulambda-intercept"],
            "env": [
                {"name": "MULAMBDA_PROXY_UID", "value": "2501"},
                {"name": "MULAMBDA_INTERCEPT_REDIRECT", "value": "8500=18500,8501=18501"}
            ],
            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}},
            // Root with NET_ADMIN as its only capability: what nft needs, nothing more.
            "securityContext": {
                "runAsUser": 0, "runAsGroup": 0, "runAsNonRoot": false,
                "readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false,
                "privileged": false,
                "capabilities": {"drop": ["ALL"], "add": ["NET_ADMIN"]},
                "seccompProfile": {"type": "RuntimeDefault"}
            }
        })
    );
    assert_eq!(
        patched["spec"]["initContainers"][2],
        review["request"]["object"]["spec"]["initContainers"][0]
    );
    assert_eq!(
        patched["spec"]["containers"],
        review["request"]["object"]["spec"]["containers"]
    );

    // The proxy: the exempt UID, the proxy ports, the same mapping as the init container.
    let proxy = proxy_of(&pod);
    assert_eq!(proxy.restart_policy.as_deref(), Some("Always"));
    let sc = proxy.security_context.as_ref().unwrap();
    assert_eq!((sc.run_as_user, sc.run_as_group), (Some(2501), Some(2501)));
    assert_eq!(sc.run_as_non_root, Some(true));
    assert_eq!(
        sc.capabilities.as_ref().unwrap().drop,
        Some(vec!["ALL".to_string()])
    );
    assert_eq!(env_value(proxy, "MULAMBDA_LISTEN"), "127.0.0.1:18501");
    assert_eq!(env_value(proxy, "MULAMBDA_GRPC_LISTEN"), "127.0.0.1:18500");
    let intercept = &spec.init_containers.as_ref().unwrap()[0];
    assert_eq!(
        env_value(proxy, "MULAMBDA_INTERCEPT_REDIRECT"),
        env_value(intercept, "MULAMBDA_INTERCEPT_REDIRECT")
    );
    assert_eq!(
        env_value(intercept, "MULAMBDA_PROXY_UID"),
        sc.run_as_user.unwrap().to_string()
    );
    let ports: Vec<(String, i32)> = proxy
        .ports
        .iter()
        .flatten()
        .map(|p| (p.name.clone().unwrap(), p.container_port))
        .collect();
    assert_eq!(
        ports,
        [
            ("mulambda-app".to_string(), 18501),
            ("mulambda-grpc".to_string(), 18500),
            ("mulambda-admin".to_string(), 9901)
        ]
    );
    // Nobody else runs as the exempt UID (the app runs as the pod's 10001).
    let others = spec
        .init_containers
        .iter()
        .flatten()
        .chain(spec.containers.iter())
        .filter(|c| c.name != "mulambda-proxy")
        .filter(|c| {
            c.security_context
                .as_ref()
                .and_then(|s| s.run_as_user)
                .or(spec.security_context.as_ref().and_then(|s| s.run_as_user))
                == Some(2501)
        })
        .count();
    assert_eq!(others, 0);

    // The annotation round trip: the pod keeps what it asked for, the mapping is the
    // annotation's ports, and the injected pod sent again is admitted unchanged.
    let annotations = pod.metadata.annotations.as_ref().unwrap();
    assert_eq!(annotations["mulambda.io/intercept-ports"], "8500,8501");
    assert_eq!(annotations["mulambda.io/injected"], "true");
    let mut resent = review.clone();
    resent["request"]["object"] = patched;
    let response = h.review(&resent).await;
    assert!(response.response.allowed && response.response.patch.is_none());
    h.webhook.shutdown().await;
}

#[tokio::test]
async fn a_pod_without_spec_gets_a_patch_that_applies() {
    let h = Harness::start(true).await;
    let mut review = fixture("opted-in.json");
    review["request"]["object"]
        .as_object_mut()
        .unwrap()
        .remove("spec");
    let response = h.review(&review).await;
    let patched = patched_pod(&review, &response);
    let pod: Pod = serde_json::from_value(patched).expect("a Pod");
    assert_eq!(
        proxy_of(&pod).restart_policy.as_deref(),
        Some("Always"),
        "the proxy, as a native sidecar"
    );
    h.webhook.shutdown().await;
}

/// Log lines written while the guard lives (this thread; the test runtime is single-threaded,
/// so the webhook's tasks log here too).
struct CapturedLogs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_malformed_reviews_content_never_appears_in_the_log_or_the_answer() {
    let logs = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = std::sync::Arc::clone(&logs);
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || CapturedLogs(std::sync::Arc::clone(&sink)))
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let h = Harness::start(true).await;
    const SECRET: &str = "SeCrEt-4711";
    let good = fixture("opted-in.json")["request"].clone();
    let mut bad_kind = good.clone();
    bad_kind["kind"] = json!(SECRET);
    let bodies: Vec<Vec<u8>> = vec![
        format!("\"{SECRET}\"").into_bytes(),
        format!("{{not json {SECRET}").into_bytes(),
        format!("{{\"apiVersion\": \"{SECRET}\", \"kind\": \"AdmissionReview\"}}").into_bytes(),
        serde_json::to_vec(&json!({"apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview", "request": bad_kind}))
        .unwrap(),
        serde_json::to_vec(&json!({"apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview", "request": {"uid": ["x", SECRET]}}))
        .unwrap(),
    ];
    for body in bodies {
        let (status, answer, _) = h.request(Method::POST, "/mutate", body.clone()).await;
        let answer = String::from_utf8_lossy(&answer).into_owned();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert!(answer.contains("not an AdmissionReview"), "{answer}");
        assert!(!answer.contains(SECRET), "{answer}");
    }
    // A review whose object is not a Pod: answered (denied), its content not logged either.
    let mut review = fixture("opted-in.json");
    review["request"]["object"]["spec"]["containers"] = json!(SECRET);
    let response = h.review(&review).await;
    assert!(!response.response.allowed);
    h.webhook.shutdown().await;

    let logs = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert_eq!(
        logs.matches("malformed admission request").count(),
        5,
        "every malformed review is logged:\n{logs}"
    );
    assert!(
        logs.contains("outcome=\"error\"") || logs.contains("outcome=error"),
        "{logs}"
    );
    assert!(!logs.contains(SECRET), "review content in the log:\n{logs}");
}
