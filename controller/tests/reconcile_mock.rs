//! The reconciler against a mocked API server (kube's documented `tower_test::mock::pair`
//! pattern): every request the reconciler makes is checked (method, path, field manager,
//! content type, body) and answered the way the API server would.

use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus};
use k8s_openapi::api::core::v1::Service;
use kube::Client;
use kube::client::Body;
use kube::runtime::controller::Action;
use mulambda_controller::crd::{ModelExecutor, ModelExecutorStatus};
use mulambda_controller::executor::reconcile::{Context, error_policy, reconcile};
use mulambda_controller::executor::resources::ExecutorTemplate;
use mulambda_controller::metrics::{Metrics, ReconcileResult};
use mulambda_controller::podspec::{StoreEnv, StoreUrlSource};
use serde_json::{Value, json};
use tower_test::mock::{self, Handle};

type ApiHandle = Handle<Request<Body>, Response<Body>>;

const RESYNC: Duration = Duration::from_secs(300);
const TIMEOUT: Duration = Duration::from_secs(10);

fn executor(status: Option<ModelExecutorStatus>) -> ModelExecutor {
    let mut mex: ModelExecutor = serde_json::from_value(json!({
        "apiVersion": "mulambda.io/v1alpha1",
        "kind": "ModelExecutor",
        "metadata": {
            "name": "resnet", "namespace": "models", "uid": "11111111-2222-3333-4444-555555555555",
            "generation": 2, "resourceVersion": "100"
        },
        "spec": {
            "modelName": "resnet50", "storageUri": "s3://models/resnet50",
            "modelType": "classification", "inputFormat": "image", "outputFormat": "label",
            "accuracy": 0.76, "replicas": 2,
            "s3Endpoint": "http://minio.mulambda-system.svc:9000",
            "credentialsSecret": "s3-credentials",
            "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}}
        }
    }))
    .unwrap();
    mex.status = status;
    mex
}

fn context(client: Client) -> Arc<Context> {
    Arc::new(Context::new(
        client,
        ExecutorTemplate {
            companion_image: "ghcr.io/mulambda/mulambda:0.1.0".into(),
            default_serving_image: "tensorflow/serving".into(),
            triton_image: "nvcr.io/nvidia/tritonserver:24.12-py3".into(),
            mlserver_image: "seldonio/mlserver:1.7.1".into(),
            kserve_image: "kserve/sklearnserver:v0.16.0".into(),
            model_fetch_image: "quay.io/minio/mc:RELEASE.2025-08-13T08-35-41Z".into(),
            store: StoreEnv {
                url: StoreUrlSource::Value("redis://:pw@dragonfly.mulambda-system.svc:6379".into()),
                prefix: "mulambda".into(),
            },
        },
        Metrics::new(),
        RESYNC,
    ))
}

/// One request the reconciler sent, decoded.
struct Seen {
    method: Method,
    path: String,
    query: String,
    content_type: String,
    body: Value,
}

async fn next(
    handle: &mut std::pin::Pin<&mut ApiHandle>,
) -> (Seen, tower_test::mock::SendResponse<Response<Body>>) {
    let (request, send) = tokio::time::timeout(TIMEOUT, handle.next_request())
        .await
        .expect("a request in time")
        .expect("the reconciler made a request");
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let query = request.uri().query().unwrap_or("").to_string();
    let content_type = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let bytes = request.into_body().collect_bytes().await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (
        Seen {
            method,
            path,
            query,
            content_type,
            body,
        },
        send,
    )
}

fn ok(value: &Value) -> Response<Body> {
    Response::new(Body::from(serde_json::to_vec(value).unwrap()))
}

/// The API server's answer to the Deployment apply: the object with a generation and status.
fn applied_deployment(body: &Value, ready: i32) -> Value {
    let mut d: Deployment = serde_json::from_value(body.clone()).unwrap();
    d.metadata.generation = Some(1);
    d.metadata.uid = Some("dep-uid".into());
    d.status = Some(DeploymentStatus {
        observed_generation: Some(1),
        replicas: Some(2),
        updated_replicas: Some(2),
        ready_replicas: Some(ready),
        ..DeploymentStatus::default()
    });
    serde_json::to_value(d).unwrap()
}

fn assert_apply(seen: &Seen, path: &str) {
    assert_eq!(seen.method, Method::PATCH);
    assert_eq!(seen.path, path);
    assert!(
        seen.query.contains("fieldManager=mulambda-controller"),
        "{}",
        seen.query
    );
    assert!(seen.query.contains("force=true"), "{}", seen.query);
    assert_eq!(seen.content_type, "application/apply-patch+yaml");
}

const DEPLOYMENT_PATH: &str = "/apis/apps/v1/namespaces/models/deployments/resnet";
const SERVICE_PATH: &str = "/api/v1/namespaces/models/services/resnet";
const STATUS_PATH: &str =
    "/apis/mulambda.io/v1alpha1/namespaces/models/modelexecutors/resnet/status";

/// Serves one reconciliation that applies both objects; returns what was applied and the status
/// patch, if one was sent.
async fn serve_reconcile(
    handle: &mut std::pin::Pin<&mut ApiHandle>,
    ready: i32,
    expect_status: bool,
) -> (Value, Value, Option<Seen>) {
    let (seen, send) = next(handle).await;
    assert_apply(&seen, DEPLOYMENT_PATH);
    send.send_response(ok(&applied_deployment(&seen.body, ready)));
    let deployment = seen.body;

    let (seen, send) = next(handle).await;
    assert_apply(&seen, SERVICE_PATH);
    send.send_response(ok(&seen.body));
    let service = seen.body;

    let status = if expect_status {
        let (seen, send) = next(handle).await;
        assert_eq!(seen.method, Method::PATCH);
        assert_eq!(seen.path, STATUS_PATH);
        assert_eq!(seen.content_type, "application/merge-patch+json");
        let mut mex = serde_json::to_value(executor(None)).unwrap();
        mex["status"] = seen.body["status"].clone();
        send.send_response(ok(&mex));
        Some(seen)
    } else {
        None
    };
    (deployment, service, status)
}

fn env_of(container: &Value) -> std::collections::BTreeMap<String, Value> {
    container["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let name = e["name"].as_str().unwrap().to_string();
            let value = e
                .get("value")
                .cloned()
                .unwrap_or_else(|| e["valueFrom"].clone());
            (name, value)
        })
        .collect()
}

#[tokio::test]
async fn applies_deployment_and_service_then_status_and_a_second_pass_changes_nothing() {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let ctx = context(Client::new(service, "default"));
    let mut handle = pin!(handle);

    // First reconciliation: nothing ready yet.
    let task = tokio::spawn(reconcile(Arc::new(executor(None)), Arc::clone(&ctx)));
    let (deployment, svc, status) = serve_reconcile(&mut handle, 0, true).await;
    assert_eq!(task.await.unwrap().unwrap(), Action::requeue(RESYNC));

    // --- The Deployment.
    let d: Deployment = serde_json::from_value(deployment.clone()).expect("a valid Deployment");
    assert_eq!(deployment["apiVersion"], "apps/v1");
    assert_eq!(deployment["kind"], "Deployment");
    assert_eq!(d.metadata.name.as_deref(), Some("resnet"));
    assert_eq!(d.metadata.namespace.as_deref(), Some("models"));
    let owner = &d.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (
            owner.api_version.as_str(),
            owner.kind.as_str(),
            owner.name.as_str(),
            owner.uid.as_str()
        ),
        (
            "mulambda.io/v1alpha1",
            "ModelExecutor",
            "resnet",
            "11111111-2222-3333-4444-555555555555"
        )
    );
    // controller=true; no blockOwnerDeletion (it would need `update` on
    // modelexecutors/finalizers where OwnerReferencesPermissionEnforcement is on).
    assert_eq!(
        (owner.controller, owner.block_owner_deletion),
        (Some(true), None)
    );
    let labels = d.metadata.labels.as_ref().unwrap();
    assert_eq!(labels["app.kubernetes.io/name"], "mulambda-executor");
    assert_eq!(
        labels["app.kubernetes.io/managed-by"],
        "mulambda-controller"
    );
    assert_eq!(labels["app.kubernetes.io/part-of"], "mulambda");
    assert_eq!(labels["mulambda.io/executor"], "resnet");
    assert_eq!(d.spec.replicas, Some(2));
    assert_eq!(
        deployment["spec"]["selector"],
        json!({"matchLabels": {"mulambda.io/executor": "resnet"}})
    );
    let template = &deployment["spec"]["template"];
    assert_eq!(
        template["metadata"]["labels"]["mulambda.io/executor"],
        "resnet"
    );
    assert_eq!(
        template["metadata"]["annotations"]["prometheus.io/port"],
        "9902"
    );
    assert_eq!(
        template["metadata"]["annotations"]["mulambda.io/inject"],
        "false"
    );
    // --- The model: copied from S3 into an emptyDir by an init container (TF Serving 2.7 and
    // later cannot read s3:// paths, tensorflow/serving#1963), served from there.
    assert_eq!(
        template["spec"]["volumes"],
        json!([{"name": "tmp", "emptyDir": {}}, {"name": "model", "emptyDir": {}}])
    );
    let secret = |key: &str| json!({"secretKeyRef": {"name": "s3-credentials", "key": key}});
    let restricted = |read_only_root: bool| {
        json!({
            "runAsNonRoot": true, "runAsUser": 65532, "runAsGroup": 65532,
            "readOnlyRootFilesystem": read_only_root, "allowPrivilegeEscalation": false,
            "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}
        })
    };
    assert_eq!(
        template["spec"]["initContainers"],
        json!([{
            "name": "model-fetch",
            "image": "quay.io/minio/mc:RELEASE.2025-08-13T08-35-41Z",
            "imagePullPolicy": "IfNotPresent",
            "command": ["mc"],
            "args": [
                "--config-dir=/tmp/.mc", "--quiet", "--no-color",
                "mirror", "--overwrite", "--remove",
                "source/models/resnet50", "/models/resnet50"
            ],
            // The keys come from the Secret; the alias URL refers to them, and the kubelet
            // substitutes them in the container's environment only (never in the spec or args).
            "env": [
                {"name": "AWS_ACCESS_KEY_ID", "valueFrom": secret("AWS_ACCESS_KEY_ID")},
                {"name": "AWS_SECRET_ACCESS_KEY", "valueFrom": secret("AWS_SECRET_ACCESS_KEY")},
                {"name": "HOME", "value": "/tmp"},
                {
                    "name": "MC_HOST_source",
                    "value": "http://$(AWS_ACCESS_KEY_ID):$(AWS_SECRET_ACCESS_KEY)@minio.mulambda-system.svc:9000"
                }
            ],
            "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "512Mi"}},
            "securityContext": restricted(true),
            "volumeMounts": [
                {"name": "tmp", "mountPath": "/tmp"},
                {"name": "model", "mountPath": "/models/resnet50"}
            ]
        }])
    );

    let containers = template["spec"]["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 2);

    let tf = &containers[0];
    assert_eq!(tf["name"], "tfserving");
    assert_eq!(tf["image"], "tensorflow/serving");
    assert_eq!(tf["command"], json!(["tensorflow_model_server"]));
    assert_eq!(
        tf["args"],
        json!([
            "--model_name=resnet50",
            "--model_base_path=/models/resnet50",
            "--rest_api_port=8501",
            "--port=8500"
        ])
    );
    assert_eq!(
        tf["resources"],
        json!({"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}})
    );
    // No S3 settings and no credentials in TF Serving: it only reads the local copy.
    assert_eq!(tf.get("env"), None);
    assert_eq!(
        tf["volumeMounts"],
        json!([
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "model", "mountPath": "/models/resnet50", "readOnly": true}
        ])
    );
    assert_eq!(tf["securityContext"], restricted(false));
    assert_eq!(
        tf["ports"],
        json!([
            {"name": "rest", "containerPort": 8501, "protocol": "TCP"},
            {"name": "grpc", "containerPort": 8500, "protocol": "TCP"}
        ])
    );

    let companion = &containers[1];
    assert_eq!(companion["name"], "mulambda-companion");
    assert_eq!(companion["image"], "ghcr.io/mulambda/mulambda:0.1.0");
    assert_eq!(companion["command"], json!(["mulambda-companion"]));
    let env = env_of(companion);
    assert_eq!(
        env["MULAMBDA_STORE_URL"],
        "redis://:pw@dragonfly.mulambda-system.svc:6379"
    );
    assert_eq!(env["MULAMBDA_STORE_PREFIX"], "mulambda");
    assert_eq!(env["MULAMBDA_EXECUTOR_ID"], "$(MULAMBDA_POD_NAME)");
    assert_eq!(env["MULAMBDA_TFSERVING_URL"], "http://127.0.0.1:8501");
    assert_eq!(env["MULAMBDA_GRPC_ENDPOINT"], "$(MULAMBDA_POD_IP):8500");
    assert_eq!(env["MULAMBDA_PROTOCOLS"], "tfserving");
    // TF Serving's REST endpoint is the companion's default (<pod IP>:8501, IPv6 bracketed).
    assert!(!env.contains_key("MULAMBDA_REST_ENDPOINT"));
    assert_eq!(
        tf["readinessProbe"],
        json!({"tcpSocket": {"port": "rest"}, "periodSeconds": 5})
    );
    assert_eq!(tf.get("livenessProbe"), None);
    assert_eq!(env["MULAMBDA_MODEL_NAME"], "resnet50");
    assert_eq!(env["MULAMBDA_MODEL_TYPE"], "classification");
    assert_eq!(env["MULAMBDA_INPUT_FORMAT"], "image");
    assert_eq!(env["MULAMBDA_OUTPUT_FORMAT"], "label");
    assert_eq!(env["MULAMBDA_ACCURACY"], "0.76");
    assert_eq!(env["MULAMBDA_ADMIN_LISTEN"], "0.0.0.0:9902");
    assert_eq!(
        env["MULAMBDA_POD_IP"],
        json!({"fieldRef": {"fieldPath": "status.podIP"}})
    );
    assert_eq!(
        env["MULAMBDA_NODE"],
        json!({"fieldRef": {"fieldPath": "spec.nodeName"}})
    );
    assert_eq!(
        env["MULAMBDA_POD_NAME"],
        json!({"fieldRef": {"fieldPath": "metadata.name"}})
    );
    // $(MULAMBDA_POD_IP) and $(MULAMBDA_POD_NAME) are defined before they are used.
    let names: Vec<_> = companion["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    let at = |n| names.iter().position(|x| *x == n).unwrap();
    assert!(at("MULAMBDA_POD_IP") < at("MULAMBDA_GRPC_ENDPOINT"));
    assert!(at("MULAMBDA_POD_NAME") < at("MULAMBDA_EXECUTOR_ID"));
    assert_eq!(
        companion["ports"],
        json!([{"name": "companion-admin", "containerPort": 9902, "protocol": "TCP"}])
    );
    assert_eq!(
        companion["readinessProbe"]["httpGet"],
        json!({"path": "/ready", "port": "companion-admin"})
    );
    assert_eq!(
        companion["livenessProbe"]["httpGet"],
        json!({"path": "/live", "port": "companion-admin"})
    );
    assert_eq!(companion["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(template["spec"]["securityContext"]["runAsNonRoot"], true);

    // --- The Service.
    let s: Service = serde_json::from_value(svc.clone()).expect("a valid Service");
    assert_eq!(
        s.metadata.owner_references.as_ref().unwrap()[0].uid,
        owner.uid
    );
    assert_eq!(
        svc["spec"]["selector"],
        json!({"mulambda.io/executor": "resnet"})
    );
    assert_eq!(
        svc["spec"]["ports"],
        json!([
            {"name": "rest", "port": 8501, "targetPort": "rest", "protocol": "TCP"},
            {"name": "grpc", "port": 8500, "targetPort": "grpc", "protocol": "TCP"}
        ])
    );

    // --- The status.
    let status_patch = status.expect("a status patch");
    let status: ModelExecutorStatus =
        serde_json::from_value(status_patch.body["status"].clone()).unwrap();
    assert_eq!(status.observed_generation, Some(2));
    assert_eq!((status.replicas, status.ready_replicas), (2, 0));
    let ready = &status.conditions[0];
    assert_eq!(
        (
            ready.type_.as_str(),
            ready.status.as_str(),
            ready.reason.as_str()
        ),
        ("Ready", "False", "ReplicasNotReady")
    );
    assert_eq!(ready.message, "0/2 replicas ready");
    let progressing = &status.conditions[1];
    assert_eq!(
        (
            progressing.type_.as_str(),
            progressing.status.as_str(),
            progressing.reason.as_str()
        ),
        ("Progressing", "True", "RollingOut")
    );

    // Second reconciliation of the object as stored now (with that status), nothing changed in
    // the cluster: the same two applies, byte for byte (a no-op for the API server: no new
    // resourceVersion, no rollout), and no status patch.
    let task = tokio::spawn(reconcile(
        Arc::new(executor(Some(status.clone()))),
        Arc::clone(&ctx),
    ));
    let (deployment2, svc2, status2) = serve_reconcile(&mut handle, 0, false).await;
    assert_eq!(task.await.unwrap().unwrap(), Action::requeue(RESYNC));
    assert_eq!(deployment2, deployment);
    assert_eq!(svc2, svc);
    assert!(status2.is_none());

    // Third: the pods became ready; only the status changes.
    let task = tokio::spawn(reconcile(
        Arc::new(executor(Some(status.clone()))),
        Arc::clone(&ctx),
    ));
    let (deployment3, _, status3) = serve_reconcile(&mut handle, 2, true).await;
    assert_eq!(task.await.unwrap().unwrap(), Action::requeue(RESYNC));
    assert_eq!(deployment3, deployment);
    let status3: ModelExecutorStatus =
        serde_json::from_value(status3.unwrap().body["status"].clone()).unwrap();
    assert_eq!(status3.ready_replicas, 2);
    assert_eq!(
        (
            status3.conditions[0].status.as_str(),
            status3.conditions[0].reason.as_str()
        ),
        ("True", "Available")
    );
    assert_eq!(
        (
            status3.conditions[1].status.as_str(),
            status3.conditions[1].reason.as_str()
        ),
        ("False", "RolloutComplete")
    );

    assert_eq!(ctx.metrics.reconciliations(ReconcileResult::Ok), 3);
    // No request beyond those checked above.
    drop(ctx);
    assert!(handle.next_request().await.is_none());
}

#[tokio::test]
async fn an_invalid_spec_only_writes_a_status_that_names_the_field() {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let ctx = context(Client::new(service, "default"));
    let mut handle = pin!(handle);
    let mut mex = executor(None);
    mex.spec.storage_uri = "gs://elsewhere/model".into();

    let task = tokio::spawn(reconcile(Arc::new(mex.clone()), Arc::clone(&ctx)));
    let (seen, send) = next(&mut handle).await;
    assert_eq!(seen.path, STATUS_PATH);
    let mut answer = serde_json::to_value(&mex).unwrap();
    answer["status"] = seen.body["status"].clone();
    send.send_response(ok(&answer));
    assert_eq!(task.await.unwrap().unwrap(), Action::await_change());
    let status: ModelExecutorStatus = serde_json::from_value(seen.body["status"].clone()).unwrap();
    for c in &status.conditions {
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("False", "InvalidSpec")
        );
        assert!(
            c.message
                .contains("spec.storageUri \"gs://elsewhere/model\""),
            "{}",
            c.message
        );
    }

    // Seen again unchanged: no request at all.
    mex.status = Some(status);
    let action = reconcile(Arc::new(mex), Arc::clone(&ctx)).await.unwrap();
    assert_eq!(action, Action::await_change());
    drop(ctx);
    assert!(handle.next_request().await.is_none());
}

#[tokio::test]
async fn api_errors_are_retried_with_growing_backoff() {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let ctx = context(Client::new(service, "default"));
    let mut handle = pin!(handle);
    let mex = Arc::new(executor(None));
    let forbidden = json!({
        "kind": "Status", "apiVersion": "v1", "status": "Failure",
        "message": "deployments.apps \"resnet\" is forbidden", "reason": "Forbidden", "code": 403
    });
    let mut delays = Vec::new();
    for _ in 0..2 {
        let task = tokio::spawn(reconcile(Arc::clone(&mex), Arc::clone(&ctx)));
        let (seen, send) = next(&mut handle).await;
        assert_eq!(seen.path, DEPLOYMENT_PATH);
        let mut response = Response::new(Body::from(serde_json::to_vec(&forbidden).unwrap()));
        *response.status_mut() = StatusCode::FORBIDDEN;
        send.send_response(response);
        let error = task.await.unwrap().unwrap_err();
        assert!(error.to_string().contains("forbidden"), "{error}");
        delays.push(error_policy(Arc::clone(&mex), &error, Arc::clone(&ctx)));
    }
    assert_eq!(
        delays,
        vec![
            Action::requeue(Duration::from_secs(5)),
            Action::requeue(Duration::from_secs(10))
        ]
    );
    assert_eq!(ctx.metrics.reconciliations(ReconcileResult::Error), 2);

    // A success resets the backoff.
    let task = tokio::spawn(reconcile(Arc::clone(&mex), Arc::clone(&ctx)));
    serve_reconcile(&mut handle, 2, true).await;
    task.await.unwrap().unwrap();
    let error = kube_error();
    assert_eq!(
        error_policy(mex, &error, ctx),
        Action::requeue(Duration::from_secs(5))
    );
}

fn kube_error() -> mulambda_controller::executor::reconcile::ReconcileError {
    mulambda_controller::executor::reconcile::ReconcileError::Missing("metadata.namespace")
}

#[tokio::test]
async fn each_runtime_sets_its_server_ports_probes_and_the_protocols_the_companion_registers() {
    let cases = [
        (
            "triton",
            "triton",
            "nvcr.io/nvidia/tritonserver:24.12-py3",
            json!(["tritonserver"]),
            json!([
                "--model-repository=/models",
                "--http-port=8000",
                "--grpc-port=8001"
            ]),
            (8000, 8001),
            "v2",
        ),
        (
            "mlserver",
            "mlserver",
            "seldonio/mlserver:1.7.1",
            json!(["mlserver"]),
            json!(["start", "/models/resnet50"]),
            (8080, 8081),
            "v2",
        ),
        (
            "kserve",
            "kserve",
            "kserve/sklearnserver:v0.16.0",
            Value::Null,
            json!([
                "--model_name=resnet50",
                "--model_dir=/models/resnet50",
                "--http_port=8080",
                "--grpc_port=8081"
            ]),
            (8080, 8081),
            "kserve-v1,v2",
        ),
    ];
    for (runtime, container, image, command, args, (rest, grpc), protocols) in cases {
        let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
        let ctx = context(Client::new(service, "default"));
        let mut handle = pin!(handle);
        let mut mex = executor(None);
        mex.spec.runtime = serde_json::from_value(json!(runtime)).unwrap();
        let task = tokio::spawn(reconcile(Arc::new(mex), Arc::clone(&ctx)));
        let (deployment, svc, _) = serve_reconcile(&mut handle, 0, true).await;
        task.await.unwrap().unwrap();

        let pod = &deployment["spec"]["template"]["spec"];
        // The same model fetch as TF Serving's: the runtime reads the same local copy.
        assert_eq!(pod["initContainers"][0]["name"], "model-fetch", "{runtime}");
        let server = &pod["containers"][0];
        assert_eq!(server["name"], container, "{runtime}");
        assert_eq!(server["image"], image, "{runtime}");
        assert_eq!(
            server.get("command").cloned().unwrap_or(Value::Null),
            command
        );
        assert_eq!(server["args"], args, "{runtime}");
        assert_eq!(
            server["ports"],
            json!([
                {"name": "rest", "containerPort": rest, "protocol": "TCP"},
                {"name": "grpc", "containerPort": grpc, "protocol": "TCP"}
            ]),
            "{runtime}"
        );
        assert_eq!(
            server["readinessProbe"]["httpGet"],
            json!({"path": "/v2/health/ready", "port": "rest"}),
            "{runtime}"
        );
        assert_eq!(
            server["livenessProbe"]["httpGet"],
            json!({"path": "/v2/health/live", "port": "rest"}),
            "{runtime}"
        );
        assert_eq!(
            server["volumeMounts"][1],
            json!({"name": "model", "mountPath": "/models/resnet50", "readOnly": true})
        );
        let env = env_of(&pod["containers"][1]);
        assert_eq!(env["MULAMBDA_PROTOCOLS"], protocols, "{runtime}");
        assert_eq!(
            env["MULAMBDA_TFSERVING_URL"],
            format!("http://127.0.0.1:{rest}"),
            "{runtime}"
        );
        assert_eq!(
            env["MULAMBDA_REST_ENDPOINT"],
            format!("$(MULAMBDA_POD_IP):{rest}"),
            "{runtime}"
        );
        assert_eq!(
            env["MULAMBDA_GRPC_ENDPOINT"],
            format!("$(MULAMBDA_POD_IP):{grpc}"),
            "{runtime}"
        );
        assert_eq!(
            svc["spec"]["ports"],
            json!([
                {"name": "rest", "port": rest, "targetPort": "rest", "protocol": "TCP"},
                {"name": "grpc", "port": grpc, "targetPort": "grpc", "protocol": "TCP"}
            ]),
            "{runtime}"
        );
    }

    // spec.servingImage wins over the runtime's default image.
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let ctx = context(Client::new(service, "default"));
    let mut handle = pin!(handle);
    let mut mex = executor(None);
    mex.spec.runtime = serde_json::from_value(json!("triton")).unwrap();
    mex.spec.serving_image = Some("registry.example/triton:custom".into());
    let task = tokio::spawn(reconcile(Arc::new(mex), Arc::clone(&ctx)));
    let (deployment, _, _) = serve_reconcile(&mut handle, 0, true).await;
    task.await.unwrap().unwrap();
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.example/triton:custom"
    );
}
