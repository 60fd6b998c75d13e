//! The Deployment and the Service the reconciler applies for a `ModelExecutor`.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Container, EmptyDirVolumeSource, EnvVar, PodSecurityContext, PodSpec, PodTemplateSpec, Probe,
    ResourceRequirements, SeccompProfile, Service, ServicePort, ServiceSpec, TCPSocketAction,
    Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use mulambda_catalog::names::{annotations, env, ports};

use crate::executor::validate::ValidSpec;
use crate::podspec::{
    StoreEnv, downward_api_env, env_secret, env_value, http_probe, restricted_security_context,
};
use crate::webhook::sidecar::container_port;
use crate::well_known::{
    COMPANION_ADMIN_PORT_NAME, COMPANION_COMMAND, COMPANION_CONTAINER, GRPC_PORT_NAME, NONROOT_UID,
    REST_PORT_NAME, TFSERVING_CONTAINER, labels, prometheus,
};

/// What every executor shares (from the controller's flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutorTemplate {
    /// Companion image.
    pub companion_image: String,
    /// TF Serving image when the spec names none.
    pub default_serving_image: String,
    /// Where companions find the store.
    pub store: StoreEnv,
}

/// Keys of the credentials Secret (the names TF Serving's S3 file system reads).
pub const ACCESS_KEY_ID: &str = "AWS_ACCESS_KEY_ID";
/// See [`ACCESS_KEY_ID`].
pub const SECRET_ACCESS_KEY: &str = "AWS_SECRET_ACCESS_KEY";

/// Labels of everything made for the executor `name`.
pub fn executor_labels(name: &str) -> BTreeMap<String, String> {
    BTreeMap::from(
        [
            (labels::NAME, labels::EXECUTOR_APP_NAME),
            (labels::INSTANCE, name),
            (labels::COMPONENT, "executor"),
            (labels::PART_OF, labels::PART_OF_VALUE),
            (labels::MANAGED_BY, labels::MANAGED_BY_VALUE),
            (labels::EXECUTOR, name),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
    )
}

/// The pod selector of the executor `name` (immutable in a Deployment: keep it minimal).
pub fn selector_labels(name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(labels::EXECUTOR.to_string(), name.to_string())])
}

fn metadata(spec: &ValidSpec, namespace: &str, owner: &OwnerReference) -> ObjectMeta {
    ObjectMeta {
        name: Some(spec.name.clone()),
        namespace: Some(namespace.to_string()),
        labels: Some(executor_labels(&spec.name)),
        owner_references: Some(vec![owner.clone()]),
        ..ObjectMeta::default()
    }
}

/// The Deployment: TF Serving loading the model from S3, the companion beside it.
pub fn deployment(
    spec: &ValidSpec,
    serving_image: Option<&str>,
    resources: Option<&ResourceRequirements>,
    namespace: &str,
    owner: &OwnerReference,
    template: &ExecutorTemplate,
) -> Deployment {
    let pod_annotations = BTreeMap::from(
        [
            (prometheus::SCRAPE, "true".to_string()),
            (prometheus::PORT, ports::COMPANION_ADMIN.to_string()),
            // Executors never get a proxy (the webhook's objectSelector skips them too).
            (annotations::INJECT, "false".to_string()),
        ]
        .map(|(k, v)| (k.to_string(), v)),
    );
    let serving_image = serving_image.unwrap_or(&template.default_serving_image);
    Deployment {
        metadata: metadata(spec, namespace, owner),
        spec: DeploymentSpec {
            replicas: Some(spec.replicas),
            revision_history_limit: Some(3),
            selector: LabelSelector {
                match_labels: Some(selector_labels(&spec.name)),
                match_expressions: None,
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(executor_labels(&spec.name)),
                    annotations: Some(pod_annotations),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![
                        tfserving_container(spec, serving_image, resources),
                        companion_container(spec, template),
                    ],
                    automount_service_account_token: Some(false),
                    enable_service_links: Some(false),
                    security_context: Some(PodSecurityContext {
                        run_as_non_root: Some(true),
                        run_as_user: Some(NONROOT_UID),
                        run_as_group: Some(NONROOT_UID),
                        seccomp_profile: Some(SeccompProfile {
                            type_: "RuntimeDefault".to_string(),
                            localhost_profile: None,
                        }),
                        ..PodSecurityContext::default()
                    }),
                    volumes: Some(vec![Volume {
                        name: "tmp".to_string(),
                        empty_dir: Some(EmptyDirVolumeSource::default()),
                        ..Volume::default()
                    }]),
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        },
        status: None,
    }
}

fn tfserving_container(
    spec: &ValidSpec,
    image: &str,
    resources: Option<&ResourceRequirements>,
) -> Container {
    let mut env_vars = vec![env_value("AWS_REGION", spec.s3_region.clone())];
    if let Some(endpoint) = &spec.s3_endpoint {
        env_vars.push(env_value("S3_ENDPOINT", endpoint.clone()));
    }
    let flag = if spec.s3_https { "1" } else { "0" };
    env_vars.push(env_value("S3_USE_HTTPS", flag));
    env_vars.push(env_value("S3_VERIFY_SSL", flag));
    if let Some(secret) = &spec.credentials_secret {
        env_vars.push(env_secret(ACCESS_KEY_ID, secret, ACCESS_KEY_ID));
        env_vars.push(env_secret(SECRET_ACCESS_KEY, secret, SECRET_ACCESS_KEY));
    }
    Container {
        name: TFSERVING_CONTAINER.to_string(),
        image: Some(image.to_string()),
        // The image's entrypoint script adds its own --model_name/--model_base_path flags.
        command: Some(vec!["tensorflow_model_server".to_string()]),
        args: Some(vec![
            format!("--model_name={}", spec.model_name),
            format!("--model_base_path={}", spec.storage_uri),
            format!("--rest_api_port={}", ports::TFSERVING_REST),
            format!("--port={}", ports::TFSERVING_GRPC),
        ]),
        env: Some(env_vars),
        ports: Some(vec![
            container_port(REST_PORT_NAME, ports::TFSERVING_REST),
            container_port(GRPC_PORT_NAME, ports::TFSERVING_GRPC),
        ]),
        resources: resources.cloned(),
        // TF Serving opens its ports once the server is up; whether the model is AVAILABLE is
        // the companion's readiness. No liveness probe: loading a large model must not be
        // mistaken for a hang.
        readiness_probe: Some(Probe {
            tcp_socket: Some(TCPSocketAction {
                port: IntOrString::String(REST_PORT_NAME.to_string()),
                host: None,
            }),
            period_seconds: Some(5),
            ..Probe::default()
        }),
        // TF Serving may write temporary files; its root filesystem stays writable, /tmp is
        // an emptyDir.
        security_context: Some(restricted_security_context(false)),
        volume_mounts: Some(vec![VolumeMount {
            name: "tmp".to_string(),
            mount_path: "/tmp".to_string(),
            ..VolumeMount::default()
        }]),
        ..Container::default()
    }
}

fn companion_container(spec: &ValidSpec, template: &ExecutorTemplate) -> Container {
    let mut env_vars: Vec<EnvVar> = downward_api_env();
    env_vars.extend(template.store.env());
    env_vars.extend([
        env_value(env::EXECUTOR_ID, format!("$({})", env::POD_NAME)),
        env_value(
            env::TFSERVING_URL,
            format!("http://127.0.0.1:{}", ports::TFSERVING_REST),
        ),
        // The REST endpoint defaults to <pod IP>:8501 in the companion, which also brackets
        // IPv6 addresses.
        env_value(
            env::GRPC_ENDPOINT,
            format!("$({}):{}", env::POD_IP, ports::TFSERVING_GRPC),
        ),
        env_value(env::MODEL_NAME, spec.model_name.as_str()),
        env_value(env::MODEL_TYPE, spec.model_type.as_str()),
        env_value(env::INPUT_FORMAT, spec.input_format.as_str()),
        env_value(env::OUTPUT_FORMAT, spec.output_format.as_str()),
        env_value(env::ACCURACY, spec.accuracy.to_string()),
        env_value(
            env::ADMIN_LISTEN,
            format!("0.0.0.0:{}", ports::COMPANION_ADMIN),
        ),
    ]);
    let q = |s: &str| Quantity(s.to_string());
    Container {
        name: COMPANION_CONTAINER.to_string(),
        image: Some(template.companion_image.clone()),
        image_pull_policy: Some("IfNotPresent".to_string()),
        command: Some(vec![COMPANION_COMMAND.to_string()]),
        env: Some(env_vars),
        ports: Some(vec![container_port(
            COMPANION_ADMIN_PORT_NAME,
            ports::COMPANION_ADMIN,
        )]),
        resources: Some(ResourceRequirements {
            requests: Some(BTreeMap::from([
                ("cpu".to_string(), q("10m")),
                ("memory".to_string(), q("32Mi")),
            ])),
            limits: Some(BTreeMap::from([("memory".to_string(), q("64Mi"))])),
            ..ResourceRequirements::default()
        }),
        readiness_probe: Some(http_probe("/ready", COMPANION_ADMIN_PORT_NAME, 5, 2)),
        liveness_probe: Some(http_probe("/live", COMPANION_ADMIN_PORT_NAME, 10, 3)),
        security_context: Some(restricted_security_context(true)),
        ..Container::default()
    }
}

/// The Service: TF Serving's REST and gRPC ports on the executor's pods (proxies use pod IPs
/// from the catalog; the Service is for direct use and debugging).
pub fn service(spec: &ValidSpec, namespace: &str, owner: &OwnerReference) -> Service {
    let port = |name: &str, number: u16| ServicePort {
        name: Some(name.to_string()),
        port: i32::from(number),
        target_port: Some(IntOrString::String(name.to_string())),
        protocol: Some("TCP".to_string()),
        ..ServicePort::default()
    };
    Service {
        metadata: metadata(spec, namespace, owner),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".to_string()),
            selector: Some(selector_labels(&spec.name)),
            ports: Some(vec![
                port(REST_PORT_NAME, ports::TFSERVING_REST),
                port(GRPC_PORT_NAME, ports::TFSERVING_GRPC),
            ]),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}
