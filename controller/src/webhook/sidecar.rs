//! The proxy container the webhook adds to a pod.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, ContainerPort, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use mulambda_catalog::names::{env, ports};

use crate::podspec::{
    StoreEnv, downward_api_env, env_value, http_probe, restricted_security_context,
};
use crate::webhook::criteria::PodCriteria;
use crate::well_known::{
    PROXY_ADMIN_PORT_NAME, PROXY_APP_PORT_NAME, PROXY_COMMAND, PROXY_CONTAINER,
};

/// What every injected proxy shares (from the controller's flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SidecarTemplate {
    /// Proxy image.
    pub image: String,
    /// Where the proxy finds the store.
    pub store: StoreEnv,
}

// === impl SidecarTemplate ===

impl SidecarTemplate {
    /// The proxy container for a pod with these criteria.
    ///
    /// The proxy listens for the application on `127.0.0.1:8501` (TF Serving's REST port, only
    /// reachable from inside the pod) and serves what others need on `0.0.0.0:9901`: `/metrics`
    /// (the scraper), `/live` and `/ready` (kubelet) and `/probe` (companions). `/explain`
    /// answers there only from loopback (the proxy's default `--explain-from loopback`: reachable
    /// through `kubectl port-forward`); `deploy/examples` has a NetworkPolicy for the port.
    pub fn container(&self, criteria: &PodCriteria) -> Container {
        let mut env_vars = downward_api_env();
        env_vars.extend(self.store.env());
        env_vars.push(env_value(
            env::LISTEN,
            format!("127.0.0.1:{}", ports::PROXY_APP),
        ));
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

        Container {
            name: PROXY_CONTAINER.to_string(),
            image: Some(self.image.clone()),
            image_pull_policy: Some("IfNotPresent".to_string()),
            command: Some(vec![PROXY_COMMAND.to_string()]),
            env: Some(env_vars),
            ports: Some(vec![
                container_port(PROXY_APP_PORT_NAME, ports::PROXY_APP),
                container_port(PROXY_ADMIN_PORT_NAME, ports::PROXY_ADMIN),
            ]),
            resources: Some(proxy_resources()),
            readiness_probe: Some(http_probe("/ready", PROXY_ADMIN_PORT_NAME, 5, 2)),
            liveness_probe: Some(http_probe("/live", PROXY_ADMIN_PORT_NAME, 10, 3)),
            security_context: Some(restricted_security_context(true)),
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
