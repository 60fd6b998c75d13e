//! The Deployment and the Service the reconciler applies for a `ModelExecutor`.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Container, EmptyDirVolumeSource, EnvVar, PodSecurityContext, PodSpec, PodTemplateSpec,
    ResourceRequirements, SeccompProfile, Service, ServicePort, ServiceSpec, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use mulambda_catalog::names::{annotations, env, ports};

use crate::crd::Runtime;
use crate::executor::validate::ValidSpec;
use crate::podspec::{
    self, StoreEnv, downward_api_env, env_secret, env_value, http_probe,
    restricted_security_context,
};
use crate::webhook::sidecar::container_port;
use crate::well_known::{
    COMPANION_ADMIN_PORT_NAME, COMPANION_COMMAND, COMPANION_CONTAINER, DEFAULT_IMAGE,
    DEFAULT_KSERVE_IMAGE, DEFAULT_MLSERVER_IMAGE, DEFAULT_MODEL_FETCH_IMAGE, DEFAULT_SERVING_IMAGE,
    DEFAULT_TRITON_IMAGE, GRPC_PORT_NAME, MODEL_FETCH_CONTAINER, NONROOT_UID, PROTOCOLS_ENV,
    REST_PORT_NAME, labels, prometheus,
};

/// The executors' images on the command line.
#[derive(Debug, Clone, clap::Args)]
pub struct ImageArgs {
    /// Image of the executors' companion (`mulambda-companion` on its PATH).
    #[arg(long, env = "MULAMBDA_COMPANION_IMAGE", default_value = DEFAULT_IMAGE,
          value_name = "IMAGE", value_parser = podspec::image)]
    pub companion_image: String,

    /// TF Serving image of executors whose spec names none.
    #[arg(long, env = "MULAMBDA_SERVING_IMAGE", default_value = DEFAULT_SERVING_IMAGE,
          value_name = "IMAGE", value_parser = podspec::image)]
    pub serving_image: String,

    /// Triton image of `runtime: triton` executors whose spec names none.
    #[arg(long, env = "MULAMBDA_TRITON_IMAGE", default_value = DEFAULT_TRITON_IMAGE,
          value_name = "IMAGE", value_parser = podspec::image)]
    pub triton_image: String,

    /// MLServer image of `runtime: mlserver` executors whose spec names none.
    #[arg(long, env = "MULAMBDA_MLSERVER_IMAGE", default_value = DEFAULT_MLSERVER_IMAGE,
          value_name = "IMAGE", value_parser = podspec::image)]
    pub mlserver_image: String,

    /// KServe model server image of `runtime: kserve` executors whose spec names none (the
    /// framework's server, e.g. kserve/sklearnserver, started by its entrypoint).
    #[arg(long, env = "MULAMBDA_KSERVE_IMAGE", default_value = DEFAULT_KSERVE_IMAGE,
          value_name = "IMAGE", value_parser = podspec::image)]
    pub kserve_image: String,

    /// Image of the executors' init container that copies the model from S3 into the pod
    /// (the MinIO client: `mc` as its entrypoint, `mirror` and `MC_HOST_<alias>` support).
    #[arg(long, env = "MULAMBDA_MODEL_FETCH_IMAGE", default_value = DEFAULT_MODEL_FETCH_IMAGE,
          value_name = "IMAGE", value_parser = podspec::image)]
    pub model_fetch_image: String,
}

// === impl ImageArgs ===

impl ImageArgs {
    /// What every executor shares, with where companions find the store.
    pub fn template(self, store: StoreEnv) -> ExecutorTemplate {
        ExecutorTemplate {
            companion_image: self.companion_image,
            default_serving_image: self.serving_image,
            triton_image: self.triton_image,
            mlserver_image: self.mlserver_image,
            kserve_image: self.kserve_image,
            model_fetch_image: self.model_fetch_image,
            store,
        }
    }
}

/// What every executor shares (from the controller's flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutorTemplate {
    /// Companion image.
    pub companion_image: String,
    /// TF Serving image when the spec names none.
    pub default_serving_image: String,
    /// Triton image when the spec names none.
    pub triton_image: String,
    /// MLServer image when the spec names none.
    pub mlserver_image: String,
    /// KServe model server image when the spec names none.
    pub kserve_image: String,
    /// Image of the init container that copies the model from S3 (the MinIO client `mc`).
    pub model_fetch_image: String,
    /// Where companions find the store.
    pub store: StoreEnv,
}

// === impl ExecutorTemplate ===

impl ExecutorTemplate {
    /// The server image of `runtime` when a spec names none.
    pub fn default_image(&self, runtime: Runtime) -> &str {
        match runtime {
            Runtime::TfServing => &self.default_serving_image,
            Runtime::Triton => &self.triton_image,
            Runtime::MlServer => &self.mlserver_image,
            Runtime::KServe => &self.kserve_image,
        }
    }
}

/// Keys of the credentials Secret (also the names of the variables the model fetch gets them in).
pub const ACCESS_KEY_ID: &str = "AWS_ACCESS_KEY_ID";
/// See [`ACCESS_KEY_ID`].
pub const SECRET_ACCESS_KEY: &str = "AWS_SECRET_ACCESS_KEY";

/// Where executor pods hold their model: `/models/<modelName>` is TF Serving's
/// `--model_base_path` (TF Serving 2.7 and later cannot read `s3://` paths,
/// tensorflow/serving#1963, so the model is copied there first).
pub const MODELS_ROOT: &str = "/models";
/// The `emptyDir` volume the model is copied into.
pub const MODEL_VOLUME: &str = "model";
/// The `emptyDir` volume mounted at `/tmp` (TF Serving's temporary files, `mc`'s configuration).
pub const TMP_VOLUME: &str = "tmp";
/// `mc`'s configuration folder (it writes one at start-up; the root filesystem is read-only).
pub const MC_CONFIG_DIR: &str = "/tmp/.mc";
/// The `mc` alias of the model's S3 endpoint, defined by the variable `MC_HOST_source`.
pub const MC_ALIAS: &str = "source";

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

/// The Deployment: an init container copying the model from S3 into the pod, the model server
/// (TF Serving or another runtime) serving it from there, the companion beside it.
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
    let serving_image = serving_image.unwrap_or_else(|| template.default_image(spec.runtime));
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
                    init_containers: Some(vec![model_fetch_container(
                        spec,
                        &template.model_fetch_image,
                    )]),
                    containers: vec![
                        server_container(spec, serving_image, resources),
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
                    volumes: Some(vec![empty_dir(TMP_VOLUME), empty_dir(MODEL_VOLUME)]),
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        },
        status: None,
    }
}

fn empty_dir(name: &str) -> Volume {
    Volume {
        name: name.to_string(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Volume::default()
    }
}

fn mount(volume: &str, path: impl Into<String>, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: volume.to_string(),
        mount_path: path.into(),
        read_only: read_only.then_some(true),
        ..VolumeMount::default()
    }
}

/// Escapes `$` for a value Kubernetes expands `$(VAR)` references in (env values, args):
/// `$$` stands for a literal `$`. Used for every value that comes from the spec, so a storage
/// URI or endpoint can never pull another variable (a credential) into an argument or a log.
fn literal(value: &str) -> String {
    value.replace('$', "$$")
}

/// Where executor pods hold the model of `spec`: `/models/<modelName>`.
pub fn model_dir(spec: &ValidSpec) -> String {
    format!("{MODELS_ROOT}/{}", spec.model_name.as_str())
}

/// The value of `MC_HOST_source`: `http(s)://$(AWS_ACCESS_KEY_ID):$(AWS_SECRET_ACCESS_KEY)@host`.
/// The kubelet substitutes the two variables (defined just before it from the Secret), so the
/// keys are in the container's environment only, never in the pod spec or in arguments.
/// Without a credentials Secret, the alias has no keys (anonymous access).
fn mc_host(spec: &ValidSpec) -> String {
    let scheme = if spec.s3_https { "https" } else { "http" };
    let host = match (&spec.s3_endpoint, &spec.s3_region) {
        (Some(endpoint), _) => literal(endpoint),
        (None, Some(region)) => format!("s3.{region}.amazonaws.com"),
        (None, None) => "s3.amazonaws.com".to_string(),
    };
    match spec.credentials_secret {
        Some(_) => format!("{scheme}://$({ACCESS_KEY_ID}):$({SECRET_ACCESS_KEY})@{host}"),
        None => format!("{scheme}://{host}"),
    }
}

/// The init container: `mc mirror` of the storage URI's folder into the model volume.
fn model_fetch_container(spec: &ValidSpec, image: &str) -> Container {
    let mut env_vars = Vec::new();
    if let Some(secret) = &spec.credentials_secret {
        env_vars.push(env_secret(ACCESS_KEY_ID, secret, ACCESS_KEY_ID));
        env_vars.push(env_secret(SECRET_ACCESS_KEY, secret, SECRET_ACCESS_KEY));
    }
    if let Some(region) = &spec.s3_region {
        env_vars.push(env_value("AWS_REGION", region.clone()));
    }
    // mc looks up its home folder at start-up even with --config-dir.
    env_vars.push(env_value("HOME", "/tmp"));
    // After the keys: `$(VAR)` only refers to variables defined earlier.
    env_vars.push(env_value(&format!("MC_HOST_{MC_ALIAS}"), mc_host(spec)));

    let source = spec.storage_uri.strip_prefix("s3://").unwrap_or_default();
    let source = format!("{MC_ALIAS}/{}", literal(source.trim_end_matches('/')));
    let q = |s: &str| Quantity(s.to_string());
    Container {
        name: MODEL_FETCH_CONTAINER.to_string(),
        image: Some(image.to_string()),
        image_pull_policy: Some("IfNotPresent".to_string()),
        command: Some(vec!["mc".to_string()]),
        args: Some(vec![
            // Global flags before the subcommand: mc reads --config-dir before it runs one.
            format!("--config-dir={MC_CONFIG_DIR}"),
            "--quiet".to_string(),
            "--no-color".to_string(),
            "mirror".to_string(),
            // The volume outlives a restart of this container: make it an exact copy.
            "--overwrite".to_string(),
            "--remove".to_string(),
            source,
            model_dir(spec),
        ]),
        env: Some(env_vars),
        resources: Some(ResourceRequirements {
            requests: Some(BTreeMap::from([
                ("cpu".to_string(), q("50m")),
                ("memory".to_string(), q("64Mi")),
            ])),
            limits: Some(BTreeMap::from([("memory".to_string(), q("512Mi"))])),
            ..ResourceRequirements::default()
        }),
        security_context: Some(restricted_security_context(true)),
        volume_mounts: Some(vec![
            mount(TMP_VOLUME, "/tmp", false),
            mount(MODEL_VOLUME, model_dir(spec), false),
        ]),
        ..Container::default()
    }
}

/// The model server, per the spec's runtime (`executor::runtime`).
fn server_container(
    spec: &ValidSpec,
    image: &str,
    resources: Option<&ResourceRequirements>,
) -> Container {
    let runtime = spec.runtime;
    let (command, args) = runtime.command_and_args(spec.model_name.as_str());
    Container {
        name: runtime.container_name().to_string(),
        image: Some(image.to_string()),
        command,
        args: Some(args),
        env: runtime.env(),
        ports: Some(vec![
            container_port(REST_PORT_NAME, runtime.rest_port()),
            container_port(GRPC_PORT_NAME, runtime.grpc_port()),
        ]),
        resources: resources.cloned(),
        readiness_probe: Some(runtime.readiness_probe()),
        liveness_probe: runtime.liveness_probe(),
        // Servers may write temporary files; their root filesystem stays writable, /tmp is an
        // emptyDir.
        security_context: Some(restricted_security_context(false)),
        volume_mounts: Some(vec![
            mount(TMP_VOLUME, "/tmp", false),
            mount(MODEL_VOLUME, model_dir(spec), true),
        ]),
        ..Container::default()
    }
}

fn companion_container(spec: &ValidSpec, template: &ExecutorTemplate) -> Container {
    let mut env_vars: Vec<EnvVar> = downward_api_env();
    env_vars.extend(template.store.env());
    let runtime = spec.runtime;
    env_vars.extend([
        env_value(env::EXECUTOR_ID, format!("$({})", env::POD_NAME)),
        // Where the companion itself reaches the server.
        env_value(
            env::TFSERVING_URL,
            format!("http://127.0.0.1:{}", runtime.rest_port()),
        ),
    ]);
    // The REST endpoint defaults to <pod IP>:8501 in the companion, which also brackets IPv6
    // addresses; other ports are given (IPv4 pod addresses, like the gRPC endpoint).
    if runtime.rest_port() != ports::TFSERVING_REST {
        env_vars.push(env_value(
            env::REST_ENDPOINT,
            format!("$({}):{}", env::POD_IP, runtime.rest_port()),
        ));
    }
    env_vars.extend([
        env_value(
            env::GRPC_ENDPOINT,
            format!("$({}):{}", env::POD_IP, runtime.grpc_port()),
        ),
        // What the executor speaks, in the catalog's protocol names (schema 2).
        env_value(PROTOCOLS_ENV, runtime.protocols()),
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

/// The Service: the server's REST and gRPC ports on the executor's pods (proxies use pod IPs
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
                port(REST_PORT_NAME, spec.runtime.rest_port()),
                port(GRPC_PORT_NAME, spec.runtime.grpc_port()),
            ]),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{ModelExecutor, ModelExecutorSpec};
    use crate::executor::validate::validate;

    fn spec(f: impl FnOnce(&mut ModelExecutorSpec)) -> ValidSpec {
        let mut spec: ModelExecutorSpec = serde_json::from_value(serde_json::json!({
            "modelName": "resnet50", "storageUri": "s3://models/vision/resnet50/",
            "modelType": "classification", "inputFormat": "image", "outputFormat": "label",
            "accuracy": 0.76, "s3Endpoint": "http://minio.mulambda-system.svc:9000",
            "credentialsSecret": "s3-credentials"
        }))
        .unwrap();
        f(&mut spec);
        validate(&ModelExecutor::new("resnet", spec)).unwrap()
    }

    fn env_of(c: &Container) -> Vec<(String, serde_json::Value)> {
        c.env
            .iter()
            .flatten()
            .map(|e| {
                let v = match &e.value {
                    Some(v) => serde_json::json!(v),
                    None => serde_json::to_value(&e.value_from).unwrap(),
                };
                (e.name.clone(), v)
            })
            .collect()
    }

    #[test]
    fn the_fetch_mirrors_the_uri_folder_into_the_model_volume_with_keys_from_the_secret() {
        let s = spec(|_| {});
        let c = model_fetch_container(&s, "mc:pinned");
        assert_eq!(c.name, "model-fetch");
        assert_eq!(c.command, Some(vec!["mc".to_string()]));
        assert_eq!(
            c.args.clone().unwrap(),
            [
                "--config-dir=/tmp/.mc",
                "--quiet",
                "--no-color",
                "mirror",
                "--overwrite",
                "--remove",
                "source/models/vision/resnet50",
                "/models/resnet50",
            ]
        );
        let secret =
            |key: &str| serde_json::json!({"secretKeyRef": {"name": "s3-credentials", "key": key}});
        assert_eq!(
            env_of(&c),
            [
                ("AWS_ACCESS_KEY_ID".into(), secret("AWS_ACCESS_KEY_ID")),
                (
                    "AWS_SECRET_ACCESS_KEY".into(),
                    secret("AWS_SECRET_ACCESS_KEY")
                ),
                ("HOME".into(), serde_json::json!("/tmp")),
                (
                    "MC_HOST_source".into(),
                    serde_json::json!(
                        "http://$(AWS_ACCESS_KEY_ID):$(AWS_SECRET_ACCESS_KEY)@minio.mulambda-system.svc:9000"
                    )
                ),
            ]
        );
        let sc = c.security_context.unwrap();
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        assert_eq!(sc.run_as_non_root, Some(true));
        let mounts: Vec<_> = c
            .volume_mounts
            .unwrap()
            .into_iter()
            .map(|m| (m.name, m.mount_path, m.read_only))
            .collect();
        assert_eq!(
            mounts,
            [
                ("tmp".into(), "/tmp".into(), None),
                ("model".into(), "/models/resnet50".into(), None)
            ]
        );
    }

    #[test]
    fn without_endpoint_and_secret_it_reads_aws_s3_anonymously() {
        let s = spec(|s| {
            s.s3_endpoint = None;
            s.credentials_secret = None;
        });
        let env = env_of(&model_fetch_container(&s, "mc"));
        assert_eq!(
            env,
            [
                ("HOME".into(), serde_json::json!("/tmp")),
                (
                    "MC_HOST_source".into(),
                    serde_json::json!("https://s3.amazonaws.com")
                ),
            ]
        );
        let s = spec(|s| {
            s.s3_endpoint = None;
            s.s3_region = Some("eu-central-1".into());
        });
        let env = env_of(&model_fetch_container(&s, "mc"));
        assert_eq!(
            env[2],
            ("AWS_REGION".into(), serde_json::json!("eu-central-1"))
        );
        assert_eq!(
            env[4].1,
            "https://$(AWS_ACCESS_KEY_ID):$(AWS_SECRET_ACCESS_KEY)@s3.eu-central-1.amazonaws.com"
        );
    }

    #[test]
    fn dollar_signs_from_the_spec_are_escaped_against_variable_expansion() {
        let s = spec(|s| s.storage_uri = "s3://models/$(AWS_SECRET_ACCESS_KEY)/m".into());
        let args = model_fetch_container(&s, "mc").args.unwrap();
        assert_eq!(args[6], "source/models/$$(AWS_SECRET_ACCESS_KEY)/m");
    }

    #[test]
    fn tf_serving_reads_the_local_copy_read_only_and_has_no_s3_settings() {
        let s = spec(|_| {});
        let c = server_container(&s, "tensorflow/serving", None);
        assert_eq!(
            c.args.unwrap(),
            [
                "--model_name=resnet50",
                "--model_base_path=/models/resnet50",
                "--rest_api_port=8501",
                "--port=8500",
            ]
        );
        assert!(c.env.is_none());
        let model_mount = &c.volume_mounts.unwrap()[1];
        assert_eq!(
            (
                model_mount.name.as_str(),
                model_mount.mount_path.as_str(),
                model_mount.read_only
            ),
            ("model", "/models/resnet50", Some(true))
        );
    }
}
