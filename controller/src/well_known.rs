//! Names the controller writes into Kubernetes objects (container names, labels, the field
//! manager). Names shared with other components live in [`mulambda_catalog::names`].

/// Name of the injected proxy container.
pub const PROXY_CONTAINER: &str = "mulambda-proxy";
/// Command of the injected proxy container (a binary on the image's `PATH`).
pub const PROXY_COMMAND: &str = "mulambda-proxy";
/// Name of the proxy's application port (TF Serving REST, 8501).
pub const PROXY_APP_PORT_NAME: &str = "mulambda-app";
/// Name of the proxy's admin port (9901); the PodMonitor selects it.
pub const PROXY_ADMIN_PORT_NAME: &str = "mulambda-admin";

/// Name of the proxy's gRPC port in intercepted mode (18500).
pub const PROXY_GRPC_PORT_NAME: &str = "mulambda-grpc";
/// The proxy's gRPC listener address variable (the proxy's `--grpc-listen`).
pub const GRPC_LISTEN_ENV: &str = "MULAMBDA_GRPC_LISTEN";
/// Name of the intercepted mode's init container.
pub const INTERCEPT_CONTAINER: &str = "mulambda-intercept";
/// Command of that init container (a binary on its image's `PATH`, beside `nft`).
pub const INTERCEPT_COMMAND: &str = "mulambda-intercept";

/// Name of the TF Serving container in executor pods.
pub const TFSERVING_CONTAINER: &str = "tfserving";
/// Name of the init container that copies the model from S3 in executor pods.
pub const MODEL_FETCH_CONTAINER: &str = "model-fetch";
/// Name of the companion container in executor pods.
pub const COMPANION_CONTAINER: &str = "mulambda-companion";
/// Command of the companion container.
pub const COMPANION_COMMAND: &str = "mulambda-companion";
/// Name of the companion's admin port (9902); the PodMonitor selects it.
pub const COMPANION_ADMIN_PORT_NAME: &str = "companion-admin";
/// Name of TF Serving's REST port.
pub const REST_PORT_NAME: &str = "rest";
/// Name of TF Serving's gRPC port.
pub const GRPC_PORT_NAME: &str = "grpc";

/// Field manager of the controller's server-side applies.
pub const FIELD_MANAGER: &str = "mulambda-controller";

/// Default image of the proxy and of the companion.
pub const DEFAULT_IMAGE: &str = "ghcr.io/mulambda/mulambda:0.1.0";
/// Default image of the intercepted mode's init container (`deploy/docker/Dockerfile`, target
/// `intercept`: Debian slim with `nftables` and `mulambda-intercept`).
pub const DEFAULT_INTERCEPT_IMAGE: &str = "ghcr.io/mulambda/mulambda-intercept:0.1.0";
/// Default TF Serving image when a `ModelExecutor` names none.
pub const DEFAULT_SERVING_IMAGE: &str = "tensorflow/serving";
/// Default Triton image of `runtime: triton` executors (NVIDIA NGC; CPU and GPU).
pub const DEFAULT_TRITON_IMAGE: &str = "nvcr.io/nvidia/tritonserver:24.12-py3";
/// Default MLServer image of `runtime: mlserver` executors (with all inference runtimes).
pub const DEFAULT_MLSERVER_IMAGE: &str = "seldonio/mlserver:1.7.1";
/// Default KServe model server image of `runtime: kserve` executors (scikit-learn).
pub const DEFAULT_KSERVE_IMAGE: &str = "kserve/sklearnserver:v0.16.0";
/// The companion's variable for the protocols the executor speaks (`tfserving`, `v2`,
/// `kserve-v1`, comma-separated), the catalog's schema-2 names.
pub const PROTOCOLS_ENV: &str = "MULAMBDA_PROTOCOLS";

/// Default image of the init container that copies a model from S3 into the executor pod (the
/// MinIO client `mc`; the same pinned release as `deploy/compose`).
pub const DEFAULT_MODEL_FETCH_IMAGE: &str = "quay.io/minio/mc:RELEASE.2025-08-13T08-35-41Z";

/// User (and group) the injected and created mulambda containers run as (distroless `nonroot`).
pub const NONROOT_UID: i64 = 65532;

/// Well-known label keys and the values the controller sets.
pub mod labels {
    /// `app.kubernetes.io/name`.
    pub const NAME: &str = "app.kubernetes.io/name";
    /// `app.kubernetes.io/instance`.
    pub const INSTANCE: &str = "app.kubernetes.io/instance";
    /// `app.kubernetes.io/component`.
    pub const COMPONENT: &str = "app.kubernetes.io/component";
    /// `app.kubernetes.io/part-of`; the webhook's objectSelector skips `mulambda`'s own pods.
    pub const PART_OF: &str = "app.kubernetes.io/part-of";
    /// `app.kubernetes.io/managed-by`.
    pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
    /// The executor a Deployment, Service or pod belongs to (the `ModelExecutor`'s name).
    pub const EXECUTOR: &str = "mulambda.io/executor";

    /// Value of `app.kubernetes.io/name` on everything made for a `ModelExecutor`.
    pub const EXECUTOR_APP_NAME: &str = "mulambda-executor";
    /// Value of `app.kubernetes.io/part-of`.
    pub const PART_OF_VALUE: &str = "mulambda";
    /// Value of `app.kubernetes.io/managed-by`.
    pub const MANAGED_BY_VALUE: &str = "mulambda-controller";
}

/// Prometheus discovery annotations (plain Prometheus `kubernetes_sd` configurations).
pub mod prometheus {
    /// `prometheus.io/scrape`.
    pub const SCRAPE: &str = "prometheus.io/scrape";
    /// `prometheus.io/port`.
    pub const PORT: &str = "prometheus.io/port";
}
