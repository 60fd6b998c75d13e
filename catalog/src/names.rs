//! Names shared across components: environment variables, Kubernetes annotations, HTTP headers
//! and default ports.
//!
//! They live here, in one place, because three parties must agree on them: the controller's
//! webhook writes the annotations into the proxy's environment, the proxy and the companion read
//! that environment, and applications send the headers. A rename here is a rename everywhere.

/// Environment variables read by the binaries (each also has a `--flag`).
pub mod env {
    /// URL of the metadata store: `redis://[user:pass@]host:port[/db]` or `rediss://…` for TLS.
    pub const STORE_URL: &str = "MULAMBDA_STORE_URL";
    /// Key prefix (namespace) in the store; lets several installations share one store.
    pub const STORE_PREFIX: &str = "MULAMBDA_STORE_PREFIX";
    /// Deadline of one store call (proxy and companion).
    pub const STORE_TIMEOUT: &str = "MULAMBDA_STORE_TIMEOUT";
    /// Lease heartbeat of a registration; the lease lasts three heartbeats (proxy and companion).
    pub const HEARTBEAT: &str = "MULAMBDA_HEARTBEAT";
    /// Log filter in `tracing_subscriber::EnvFilter` syntax.
    pub const LOG: &str = "MULAMBDA_LOG";
    /// Address of the proxy's application listener (TF Serving REST), e.g. `127.0.0.1:8501`.
    pub const LISTEN: &str = "MULAMBDA_LISTEN";
    /// Address of a component's admin listener (`/metrics`, `/live`, `/ready`, `/probe`).
    pub const ADMIN_LISTEN: &str = "MULAMBDA_ADMIN_LISTEN";
    /// Client id of a proxy; defaults to the pod name, else a generated id.
    pub const CLIENT_ID: &str = "MULAMBDA_CLIENT_ID";
    /// Address (`host:port`) at which companions reach this proxy's `/probe`.
    pub const PROBE_ADDR: &str = "MULAMBDA_PROBE_ADDR";
    /// Pod name (downward API `metadata.name`).
    pub const POD_NAME: &str = "MULAMBDA_POD_NAME";
    /// Pod namespace (downward API `metadata.namespace`).
    pub const POD_NAMESPACE: &str = "MULAMBDA_POD_NAMESPACE";
    /// Pod IP (downward API `status.podIP`).
    pub const POD_IP: &str = "MULAMBDA_POD_IP";
    /// Node name (downward API `spec.nodeName`).
    pub const NODE: &str = "MULAMBDA_NODE";
    /// Zone (`topology.kubernetes.io/zone` of the node; empty when unknown).
    pub const ZONE: &str = "MULAMBDA_ZONE";
    /// Hard criterion / trait: model type, e.g. `classification`.
    pub const MODEL_TYPE: &str = "MULAMBDA_MODEL_TYPE";
    /// Hard criterion / trait: input format, e.g. `image`.
    pub const INPUT_FORMAT: &str = "MULAMBDA_INPUT_FORMAT";
    /// Hard criterion / trait: output format, e.g. `label`.
    pub const OUTPUT_FORMAT: &str = "MULAMBDA_OUTPUT_FORMAT";
    /// Soft criterion: weight of latency in the score (≥ 0).
    pub const LATENCY_WEIGHT: &str = "MULAMBDA_LATENCY_WEIGHT";
    /// Soft criterion: weight of accuracy in the score (≥ 0).
    pub const ACCURACY_WEIGHT: &str = "MULAMBDA_ACCURACY_WEIGHT";
    /// Soft criterion: latency ceiling in milliseconds (optional).
    pub const MAX_LATENCY_MS: &str = "MULAMBDA_MAX_LATENCY_MS";
    /// Soft criterion: accuracy floor in [0, 1] (optional).
    pub const MIN_ACCURACY: &str = "MULAMBDA_MIN_ACCURACY";
    /// Companion: executor id; defaults to the pod name.
    pub const EXECUTOR_ID: &str = "MULAMBDA_EXECUTOR_ID";
    /// Companion: TF Serving REST URL as the companion itself reaches it (e.g. `http://127.0.0.1:8501`).
    pub const TFSERVING_URL: &str = "MULAMBDA_TFSERVING_URL";
    /// Companion: TF Serving REST endpoint as clients must reach it (`host:port`, the pod IP).
    pub const REST_ENDPOINT: &str = "MULAMBDA_REST_ENDPOINT";
    /// Companion: optional TF Serving gRPC endpoint as clients must reach it.
    pub const GRPC_ENDPOINT: &str = "MULAMBDA_GRPC_ENDPOINT";
    /// Companion: name of the model TF Serving serves.
    pub const MODEL_NAME: &str = "MULAMBDA_MODEL_NAME";
    /// Companion: version of the model (optional; latest when absent).
    pub const MODEL_VERSION: &str = "MULAMBDA_MODEL_VERSION";
    /// Companion: declared accuracy of the model in [0, 1].
    pub const ACCURACY: &str = "MULAMBDA_ACCURACY";
}

/// Kubernetes annotations and labels under the `mulambda.io/` prefix.
pub mod annotations {
    /// Pod annotation or namespace label: `"true"` opts in to sidecar injection, `"false"` opts out
    /// (a pod's opt-out wins over its namespace's opt-in).
    pub const INJECT: &str = "mulambda.io/inject";
    /// Pod annotation the webhook sets once it injected the proxy (idempotence marker).
    pub const INJECTED: &str = "mulambda.io/injected";
    /// Hard criterion: model type.
    pub const MODEL_TYPE: &str = "mulambda.io/model-type";
    /// Hard criterion: input format.
    pub const INPUT_FORMAT: &str = "mulambda.io/input-format";
    /// Hard criterion: output format.
    pub const OUTPUT_FORMAT: &str = "mulambda.io/output-format";
    /// Soft criterion: latency weight (≥ 0).
    pub const LATENCY_WEIGHT: &str = "mulambda.io/latency-weight";
    /// Soft criterion: accuracy weight (≥ 0).
    pub const ACCURACY_WEIGHT: &str = "mulambda.io/accuracy-weight";
    /// Soft criterion: latency ceiling in milliseconds.
    pub const MAX_LATENCY_MS: &str = "mulambda.io/max-latency-ms";
    /// Soft criterion: accuracy floor in [0, 1].
    pub const MIN_ACCURACY: &str = "mulambda.io/min-accuracy";
    /// Intercepted mode: the TF Serving ports whose outbound calls are redirected to the proxy,
    /// e.g. `"8500,8501"` (`PORT/grpc` or `PORT/rest` names the protocol of another port).
    pub const INTERCEPT_PORTS: &str = "mulambda.io/intercept-ports";
    /// How the proxy is injected: `native` (a `restartPolicy: Always` init container,
    /// Kubernetes >= 1.29) or `container` (a regular container).
    pub const SIDECAR_MODE: &str = "mulambda.io/sidecar-mode";
}

/// HTTP headers the proxy reads from requests or writes on responses.
pub mod headers {
    /// Request: pin a model name (hard). Response: the model that served the request.
    pub const MODEL: &str = "x-mulambda-model";
    /// Response: the executor that served the request.
    pub const EXECUTOR: &str = "x-mulambda-executor";
    /// Response: compact decision receipt (why this executor).
    pub const REASON: &str = "x-mulambda-reason";
    /// Request: per-request latency weight override.
    pub const LATENCY_WEIGHT: &str = "x-mulambda-latency-weight";
    /// Request: per-request accuracy weight override.
    pub const ACCURACY_WEIGHT: &str = "x-mulambda-accuracy-weight";
    /// Request: per-request latency ceiling override, milliseconds.
    pub const MAX_LATENCY_MS: &str = "x-mulambda-max-latency-ms";
    /// Request: per-request accuracy floor override.
    pub const MIN_ACCURACY: &str = "x-mulambda-min-accuracy";
    /// Request: per-request timeout, milliseconds (bounded by the proxy's configured maximum).
    pub const TIMEOUT_MS: &str = "x-mulambda-timeout-ms";
    /// Request/response: request id for tracing.
    pub const REQUEST_ID: &str = "x-request-id";
}

/// Default ports.
pub mod ports {
    /// Proxy application listener: TF Serving's own REST port, so apps need no change.
    pub const PROXY_APP: u16 = 8501;
    /// Proxy admin listener (`/metrics`, `/live`, `/ready`, `/probe`, `/explain`).
    pub const PROXY_ADMIN: u16 = 9901;
    /// Companion admin listener (`/metrics`, `/live`, `/ready`).
    pub const COMPANION_ADMIN: u16 = 9902;
    /// Controller admin listener (`/metrics`, `/live`, `/ready`).
    pub const CONTROLLER_ADMIN: u16 = 9903;
    /// Controller webhook (HTTPS).
    pub const CONTROLLER_WEBHOOK: u16 = 8443;
    /// TF Serving REST.
    pub const TFSERVING_REST: u16 = 8501;
    /// TF Serving gRPC.
    pub const TFSERVING_GRPC: u16 = 8500;
}
