//! The proxy container the webhook adds to a pod.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, ContainerPort, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use mulambda_catalog::names::{env, ports};

use crate::podspec::{
    StoreEnv, downward_api_env, env_value, http_probe, restricted_security_context,
};
use crate::webhook::criteria::PodCriteria;
use crate::webhook::intercept::{InterceptPlan, intercept_env};
use crate::well_known::{
    GRPC_LISTEN_ENV, PROXY_ADMIN_PORT_NAME, PROXY_APP_PORT_NAME, PROXY_COMMAND, PROXY_CONTAINER,
    PROXY_GRPC_PORT_NAME,
};
use mulambda_intercept::{DEFAULT_PROXY_GRPC_PORT, DEFAULT_PROXY_REST_PORT};

/// How the proxy container is added to a pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SidecarMode {
    /// A native sidecar: an init container with `restartPolicy: Always` (Kubernetes >= 1.29,
    /// on by default since then). It starts, and passes its startup probe, before the
    /// application's containers (and the pod's own init containers) start, stops after them,
    /// and does not keep a Job's pod running.
    #[default]
    Native,
    /// A regular container beside the application's (any Kubernetes version); it starts
    /// together with them, and a Job's pod runs until it is stopped.
    Container,
}

// === impl SidecarMode ===

impl SidecarMode {
    /// The annotation value.
    pub fn as_str(self) -> &'static str {
        match self {
            SidecarMode::Native => "native",
            SidecarMode::Container => "container",
        }
    }

    /// Reads an annotation value (`native` or `container`, case-insensitive).
    pub fn parse(value: &str) -> Option<SidecarMode> {
        match value.trim().to_ascii_lowercase().as_str() {
            "native" => Some(SidecarMode::Native),
            "container" => Some(SidecarMode::Container),
            _ => None,
        }
    }
}

/// What every injected proxy shares (from the controller's flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SidecarTemplate {
    /// Proxy image.
    pub image: String,
    /// Where the proxy finds the store.
    pub store: StoreEnv,
    /// Image of the intercepted mode's init container (`mulambda-intercept` and `nft`).
    pub intercept_image: String,
    /// UID of the proxy in intercepted mode; the redirect exempts its traffic.
    pub proxy_uid: u32,
    /// How the proxy is added unless the pod's `mulambda.io/sidecar-mode` says otherwise.
    pub mode: SidecarMode,
}

// === impl SidecarTemplate ===

impl SidecarTemplate {
    /// The proxy container for a pod with these criteria, in localhost mode (`intercept`
    /// `None`) or intercepted mode, as a native sidecar or a regular container.
    ///
    /// Localhost mode: the proxy listens for the application on `127.0.0.1:8501` (TF Serving's
    /// REST port, only reachable from inside the pod) and runs as user 65532. Intercepted mode:
    /// it listens on the proxy ports the redirect sends to (`127.0.0.1:18501` REST,
    /// `127.0.0.1:18500` gRPC; the proxy adds `::1` itself), knows the mapping, and runs as the
    /// UID the redirect exempts. Both serve what others need on `0.0.0.0:9901`: `/metrics`
    /// (the scraper), `/live` and `/ready` (kubelet) and `/probe` (companions); `/explain` answers
    /// there only from loopback; `deploy/examples` has a NetworkPolicy for the port.
    pub fn container(
        &self,
        criteria: &PodCriteria,
        intercept: Option<&InterceptPlan>,
        mode: SidecarMode,
    ) -> Container {
        let mut env_vars = downward_api_env();
        env_vars.extend(self.store.env());
        let app_port = match intercept {
            None => ports::PROXY_APP,
            Some(_) => DEFAULT_PROXY_REST_PORT,
        };
        env_vars.push(env_value(env::LISTEN, format!("127.0.0.1:{app_port}")));
        if let Some(plan) = intercept {
            if plan.has_grpc() {
                env_vars.push(env_value(
                    GRPC_LISTEN_ENV,
                    format!("127.0.0.1:{DEFAULT_PROXY_GRPC_PORT}"),
                ));
            }
            env_vars.push(env_value(
                intercept_env::REDIRECT,
                plan.redirects().to_string(),
            ));
        }
        env_vars.push(env_value(
            env::ADMIN_LISTEN,
            format!("0.0.0.0:{}", ports::PROXY_ADMIN),
        ));
        // Kubernetes expands $(VAR) from variables defined earlier in the list.
        env_vars.push(env_value(
            env::PROBE_ADDR,
            format!("$({}):{}", env::POD_IP, ports::PROXY_ADMIN),
        ));
        env_vars.extend(criteria.env());

        let mut container_ports = vec![container_port(PROXY_APP_PORT_NAME, app_port)];
        if intercept.is_some_and(InterceptPlan::has_grpc) {
            container_ports.push(container_port(
                PROXY_GRPC_PORT_NAME,
                DEFAULT_PROXY_GRPC_PORT,
            ));
        }
        container_ports.push(container_port(PROXY_ADMIN_PORT_NAME, ports::PROXY_ADMIN));

        let mut security = restricted_security_context(true);
        if let Some(plan) = intercept {
            security.run_as_user = Some(i64::from(plan.proxy_uid()));
            security.run_as_group = Some(i64::from(plan.proxy_uid()));
        }
        // The admin listener answers /live once the application listeners are bound (they are
        // bound first): a native sidecar is "started" only then, so the application's first
        // call finds the proxy listening.
        let startup = http_probe("/live", PROXY_ADMIN_PORT_NAME, 1, 30);
        Container {
            name: PROXY_CONTAINER.to_string(),
            image: Some(self.image.clone()),
            image_pull_policy: Some("IfNotPresent".to_string()),
            command: Some(vec![PROXY_COMMAND.to_string()]),
            env: Some(env_vars),
            ports: Some(container_ports),
            resources: Some(proxy_resources()),
            startup_probe: Some(startup),
            readiness_probe: Some(http_probe("/ready", PROXY_ADMIN_PORT_NAME, 5, 2)),
            liveness_probe: Some(http_probe("/live", PROXY_ADMIN_PORT_NAME, 10, 3)),
            security_context: Some(security),
            restart_policy: (mode == SidecarMode::Native).then(|| "Always".to_string()),
            ..Container::default()
        }
    }
}

/// A TCP container port.
pub fn container_port(name: &str, port: u16) -> ContainerPort {
    ContainerPort {
        name: Some(name.to_string()),
        container_port: i32::from(port),
        protocol: Some("TCP".to_string()),
        ..ContainerPort::default()
    }
}

/// Requests 10m CPU and 32 MiB, limit 64 MiB of memory. No CPU limit: CFS throttling would add
/// latency to every request the proxy forwards.
pub fn proxy_resources() -> ResourceRequirements {
    let q = |s: &str| Quantity(s.to_string());
    ResourceRequirements {
        requests: Some(BTreeMap::from([
            ("cpu".to_string(), q("10m")),
            ("memory".to_string(), q("32Mi")),
        ])),
        limits: Some(BTreeMap::from([("memory".to_string(), q("64Mi"))])),
        ..ResourceRequirements::default()
    }
}
