//! The `ModelExecutor` custom resource (`mulambda.io/v1alpha1`, namespaced): one model on a
//! model server (its [`Runtime`]) with its companion, as the administrator declares it.
//!
//! The CRD is generated from these types (`mulambda-controller crd`, [`crd_yaml`]); the copy in
//! `deploy/kubernetes/base/crd.yaml` is checked against it by a test.

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, CustomResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A model executor for one model (TF Serving by default, or another runtime), with the
/// companion that registers it in the catalog.
#[derive(CustomResource, Serialize, Deserialize, Debug, Clone, PartialEq, JsonSchema)]
#[kube(
    group = "mulambda.io",
    version = "v1alpha1",
    kind = "ModelExecutor",
    namespaced,
    status = "ModelExecutorStatus",
    derive = "PartialEq",
    shortname = "mex",
    category = "mulambda",
    doc = "A model executor for one model (loaded from S3-compatible storage): TF Serving, \
           Triton, MLServer or a KServe model server, with the mulambda companion that \
           registers it in the catalog. The controller makes an owned Deployment and Service.",
    printcolumn = r#"{"name": "Model", "type": "string", "jsonPath": ".spec.modelName"}"#,
    printcolumn = r#"{"name": "Runtime", "type": "string", "jsonPath": ".spec.runtime"}"#,
    printcolumn = r#"{"name": "Type", "type": "string", "jsonPath": ".spec.modelType"}"#,
    printcolumn = r#"{"name": "Input", "type": "string", "jsonPath": ".spec.inputFormat", "priority": 1}"#,
    printcolumn = r#"{"name": "Output", "type": "string", "jsonPath": ".spec.outputFormat", "priority": 1}"#,
    printcolumn = r#"{"name": "Accuracy", "type": "number", "jsonPath": ".spec.accuracy"}"#,
    printcolumn = r#"{"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"}"#,
    printcolumn = r#"{"name": "Ready", "type": "integer", "jsonPath": ".status.readyReplicas"}"#,
    printcolumn = r#"{"name": "Status", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ModelExecutorSpec {
    /// Name TF Serving serves the model under (`/v1/models/{modelName}`).
    #[schemars(
        length(min = 1, max = 128),
        regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    )]
    pub model_name: String,

    /// Where the SavedModel versions are: `s3://bucket/path`, the folder that holds the numbered
    /// version folders (TF Serving layout `<path>/<version>/saved_model.pb`). It is copied into
    /// the pod before TF Serving starts.
    #[schemars(regex(pattern = r"^s3://[^/]+(/.*)?$"))]
    pub storage_uri: String,

    /// Model type trait, e.g. `classification`.
    #[schemars(regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"))]
    pub model_type: String,

    /// Input format trait, e.g. `image`.
    #[schemars(regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"))]
    pub input_format: String,

    /// Output format trait, e.g. `label`.
    #[schemars(regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"))]
    pub output_format: String,

    /// Declared accuracy of the model, in [0, 1].
    #[schemars(range(min = 0.0, max = 1.0))]
    pub accuracy: f64,

    /// Number of executor pods.
    #[serde(default = "default_replicas")]
    #[schemars(range(min = 0))]
    pub replicas: i32,

    /// The model server: `tfserving` (TensorFlow Serving, the default), `triton` (NVIDIA Triton
    /// Inference Server), `mlserver` (Seldon MLServer) or `kserve` (a KServe Python model
    /// server image such as `kserve/sklearnserver`). It sets the server's image, command,
    /// ports and probes, and the protocols the companion registers (`tfserving`; `v2`;
    /// `kserve-v1` and `v2` for KServe).
    #[serde(default)]
    pub runtime: Runtime,

    /// The model server's image (default: the controller's image for the runtime:
    /// `--serving-image`, `--triton-image`, `--mlserver-image` or `--kserve-image`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serving_image: Option<String>,

    /// Compute resources of the model server container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,

    /// S3 endpoint for S3-compatible storage such as MinIO, e.g.
    /// `http://minio.mulambda-system.svc:9000` (the scheme chooses HTTP or HTTPS, default
    /// HTTPS; default endpoint: AWS S3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^(https?://)?[^/\s]+/?$"))]
    pub s3_endpoint: Option<String>,

    /// S3 region (`AWS_REGION` of the model fetch; default: the S3 client asks the endpoint for
    /// the bucket's region).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3_region: Option<String>,

    /// Name of a Secret in the executor's namespace with keys `AWS_ACCESS_KEY_ID` and
    /// `AWS_SECRET_ACCESS_KEY`, which the model fetch reads the model with (the kubelet
    /// resolves it; the controller never reads it). Unset: anonymous access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret: Option<String>,
}

/// The model server of an executor.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash, Default, JsonSchema)]
pub enum Runtime {
    /// TensorFlow Serving: TF Serving's REST and gRPC APIs.
    #[default]
    #[serde(rename = "tfserving")]
    TfServing,
    /// NVIDIA Triton Inference Server: the Open Inference Protocol (V2), REST and gRPC.
    #[serde(rename = "triton")]
    Triton,
    /// Seldon MLServer: the Open Inference Protocol (V2), REST and gRPC.
    #[serde(rename = "mlserver")]
    MlServer,
    /// A KServe Python model server: KServe's V1 REST (TF Serving's predict shape) and V2.
    #[serde(rename = "kserve")]
    KServe,
}

/// What the controller last observed.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelExecutorStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Executor pods that exist (any version).
    #[serde(default)]
    pub replicas: i32,
    /// Executor pods that are ready (TF Serving has the model `AVAILABLE` and the companion
    /// registered it).
    #[serde(default)]
    pub ready_replicas: i32,
    /// `Ready` and `Progressing`, each with a reason and a message.
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

fn default_replicas() -> i32 {
    1
}

/// The CRD as YAML, with a header that says where it comes from (what `mulambda-controller crd`
/// prints and `deploy/kubernetes/base/crd.yaml` holds).
pub fn crd_yaml() -> Result<String, serde_saphyr::SerializeError> {
    let body = serde_saphyr::to_string(&ModelExecutor::crd())?;
    Ok(format!(
        "# Generated by `mulambda-controller crd` from controller/src/crd.rs. Do not edit:\n\
         # regenerate with `cargo run -p mulambda-controller -- crd > deploy/kubernetes/base/crd.yaml`.\n\
         {body}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::Resource;

    #[test]
    fn the_crd_names_group_version_and_subresources() {
        let crd = ModelExecutor::crd();
        assert_eq!(
            crd.metadata.name.as_deref(),
            Some("modelexecutors.mulambda.io")
        );
        assert_eq!(crd.spec.scope, "Namespaced");
        let version = &crd.spec.versions[0];
        assert_eq!(version.name, "v1alpha1");
        assert!(version.subresources.as_ref().unwrap().status.is_some());
        assert_eq!(ModelExecutor::api_version(&()), "mulambda.io/v1alpha1");
        let columns: Vec<_> = version
            .additional_printer_columns
            .iter()
            .flatten()
            .map(|c| c.name.as_str())
            .collect();
        assert!(columns.contains(&"Ready") && columns.contains(&"Status"));
    }

    #[test]
    fn replicas_default_to_one_and_examples_parse() {
        let spec: ModelExecutorSpec = serde_json::from_value(serde_json::json!({
            "modelName": "m", "storageUri": "s3://models/m", "modelType": "classification",
            "inputFormat": "image", "outputFormat": "label", "accuracy": 0.7,
            "resources": {"requests": {"cpu": "250m"}}, "credentialsSecret": "s3"
        }))
        .unwrap();
        assert_eq!(spec.replicas, 1);
        assert_eq!(spec.runtime, Runtime::TfServing);
        let with: ModelExecutorSpec = serde_json::from_value(serde_json::json!({
            "modelName": "m", "storageUri": "s3://models/m", "modelType": "classification",
            "inputFormat": "image", "outputFormat": "label", "accuracy": 0.7,
            "runtime": "mlserver"
        }))
        .unwrap();
        assert_eq!(with.runtime, Runtime::MlServer);
        let yaml = crd_yaml().unwrap();
        assert!(
            yaml.contains("- tfserving") && yaml.contains("- kserve"),
            "{yaml}"
        );
        assert!(
            crd_yaml()
                .unwrap()
                .contains("kind: CustomResourceDefinition")
        );
    }
}
