//! Intercepted mode in the webhook: the `mulambda.io/intercept-ports` annotation, the port
//! mapping it becomes, and the init container that installs the redirect
//! (`mulambda-intercept`, docs/interception.md).
//!
//! The annotation lists the TF Serving ports whose outbound calls are redirected to the proxy:
//! `"8500,8501"`. Each port goes to the proxy listener of its protocol — gRPC's 8500 to the gRPC
//! listener on `127.0.0.1:18500`, every other port to the REST listener on `127.0.0.1:18501` —
//! unless the item names the protocol (`9000/grpc`, `8080/rest`). The init container and the
//! proxy get the same mapping (`MULAMBDA_INTERCEPT_REDIRECT`), so they cannot disagree.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Capabilities, Container, Pod, ResourceRequirements, SeccompProfile, SecurityContext,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use mulambda_intercept::{
    DEFAULT_PROXY_GRPC_PORT, DEFAULT_PROXY_REST_PORT, Redirect, Redirects, Rules,
    TF_SERVING_GRPC_PORT,
};

use crate::podspec::env_value;
use crate::well_known::{INTERCEPT_COMMAND, INTERCEPT_CONTAINER};

/// The variables the init step reads (the proxy reads the mapping's too).
pub use mulambda_intercept::cli::env as intercept_env;

/// A validated `mulambda.io/intercept-ports`: the mapping and the UID the rules exempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterceptPlan {
    redirects: Redirects,
    proxy_uid: u32,
}

// === impl InterceptPlan ===

impl InterceptPlan {
    /// Reads the annotation's value: `PORT[/rest|/grpc]` items separated by commas. The error
    /// says what is wrong with which item (the caller names the annotation).
    pub fn from_annotation(value: &str, proxy_uid: u32) -> Result<InterceptPlan, String> {
        let mut redirects = Vec::new();
        for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (port, protocol) = match item.split_once('/') {
                Some((port, protocol)) => (port.trim(), Some(protocol.trim())),
                None => (item, None),
            };
            let port: u16 = port
                .parse()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("`{item}`: not a port (1-65535)"))?;
            let proxy_port = match protocol.map(str::to_ascii_lowercase).as_deref() {
                None if port == TF_SERVING_GRPC_PORT => DEFAULT_PROXY_GRPC_PORT,
                None | Some("rest") => DEFAULT_PROXY_REST_PORT,
                Some("grpc") => DEFAULT_PROXY_GRPC_PORT,
                Some(_) => {
                    return Err(format!(
                        "`{item}`: the protocol after `/` must be rest or grpc"
                    ));
                }
            };
            redirects.push(Redirect::new(port, proxy_port).map_err(|e| e.to_string())?);
        }
        if redirects.is_empty() {
            return Err("lists no port (e.g. \"8500,8501\")".to_string());
        }
        let redirects = Redirects::new(redirects).map_err(|e| e.to_string())?;
        // The same checks the init step makes (the UID is the controller's, validated at start).
        Rules::new(proxy_uid, redirects.clone()).map_err(|e| e.to_string())?;
        Ok(InterceptPlan {
            redirects,
            proxy_uid,
        })
    }

    /// The mapping, e.g. `8500=18500,8501=18501`.
    pub fn redirects(&self) -> &Redirects {
        &self.redirects
    }

    /// The UID the proxy runs as and the rules exempt.
    pub fn proxy_uid(&self) -> u32 {
        self.proxy_uid
    }

    /// Whether some port goes to the proxy's gRPC listener.
    pub fn has_grpc(&self) -> bool {
        self.redirects
            .iter()
            .any(|r| r.proxy_port() == DEFAULT_PROXY_GRPC_PORT)
    }

    /// Whether some port goes to the proxy's REST listener.
    pub fn has_rest(&self) -> bool {
        self.redirects
            .iter()
            .any(|r| r.proxy_port() == DEFAULT_PROXY_REST_PORT)
    }

    /// The init container: runs `mulambda-intercept` once, before every other container, with
    /// `NET_ADMIN` as its only capability.
    ///
    /// It runs as UID 0 because Kubernetes grants no ambient capabilities: a non-root process
    /// would get `NET_ADMIN` only through a file capability on `nft`, which
    /// `allowPrivilegeEscalation: false` (no_new_privs) disables. Root with a bounding set of
    /// `NET_ADMIN` alone, no privilege escalation and a read-only root filesystem holds exactly
    /// what nftables needs over the pod's network namespace (tested in the intercept crate's
    /// namespace tests, `setpriv` with the same settings). `NET_RAW` is not needed: `nft` speaks
    /// netlink, not raw sockets.
    pub fn init_container(&self, image: &str) -> Container {
        let q = |s: &str| Quantity(s.to_string());
        Container {
            name: INTERCEPT_CONTAINER.to_string(),
            image: Some(image.to_string()),
            image_pull_policy: Some("IfNotPresent".to_string()),
            command: Some(vec![INTERCEPT_COMMAND.to_string()]),
            env: Some(vec![
                env_value(intercept_env::PROXY_UID, self.proxy_uid.to_string()),
                env_value(intercept_env::REDIRECT, self.redirects.to_string()),
            ]),
            resources: Some(ResourceRequirements {
                requests: Some(BTreeMap::from([
                    ("cpu".to_string(), q("10m")),
                    ("memory".to_string(), q("16Mi")),
                ])),
                limits: Some(BTreeMap::from([("memory".to_string(), q("64Mi"))])),
                ..ResourceRequirements::default()
            }),
            security_context: Some(SecurityContext {
                run_as_user: Some(0),
                run_as_group: Some(0),
                run_as_non_root: Some(false),
                read_only_root_filesystem: Some(true),
                allow_privilege_escalation: Some(false),
                privileged: Some(false),
                capabilities: Some(Capabilities {
                    drop: Some(vec!["ALL".to_string()]),
                    add: Some(vec!["NET_ADMIN".to_string()]),
                }),
                seccomp_profile: Some(SeccompProfile {
                    type_: "RuntimeDefault".to_string(),
                    localhost_profile: None,
                }),
                ..SecurityContext::default()
            }),
            ..Container::default()
        }
    }

    /// Why this pod cannot be intercepted, if it cannot: a `hostNetwork` pod (the rules would
    /// apply to the node), or a container that runs as the proxy's UID (its calls would bypass
    /// the redirect).
    pub fn refusals(&self, pod: &Pod) -> Vec<String> {
        let Some(spec) = pod.spec.as_ref() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if spec.host_network == Some(true) {
            out.push(
                "the pod uses hostNetwork: the redirect would apply to the node's network \
                 namespace"
                    .to_string(),
            );
        }
        let pod_uid = spec.security_context.as_ref().and_then(|s| s.run_as_user);
        let uid = i64::from(self.proxy_uid);
        for c in spec
            .init_containers
            .iter()
            .flatten()
            .chain(spec.containers.iter())
        {
            let runs_as = c
                .security_context
                .as_ref()
                .and_then(|s| s.run_as_user)
                .or(pod_uid);
            if runs_as == Some(uid) {
                out.push(format!(
                    "container {} runs as UID {uid}, the proxy's UID, which the redirect \
                     exempts: its calls would bypass mulambda (change its runAsUser, or the \
                     controller's --proxy-uid)",
                    c.name
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(value: &str) -> Result<InterceptPlan, String> {
        InterceptPlan::from_annotation(value, 2501)
    }

    #[test]
    fn tf_serving_ports_go_to_the_listener_of_their_protocol() {
        let p = plan(" 8501 , 8500 ").unwrap();
        assert_eq!(p.redirects().to_string(), "8500=18500,8501=18501");
        assert!(p.has_grpc() && p.has_rest());
        let p = plan("9000/grpc,8080/REST,8501").unwrap();
        assert_eq!(
            p.redirects().to_string(),
            "8080=18501,8501=18501,9000=18500"
        );
        let p = plan("8501").unwrap();
        assert!(!p.has_grpc());
    }

    #[test]
    fn bad_values_are_refused_saying_why() {
        for (value, needle) in [
            ("", "lists no port"),
            (" , ", "lists no port"),
            ("http", "`http`: not a port"),
            ("0", "`0`: not a port"),
            ("70000", "not a port"),
            ("8501/http2", "must be rest or grpc"),
            ("18500,8500", "proxy port 18500 is also redirected"),
        ] {
            let e = plan(value).unwrap_err();
            assert!(e.contains(needle), "{value:?}: {e}");
        }
        let e = InterceptPlan::from_annotation("8501", 0).unwrap_err();
        assert!(e.contains("0"), "{e}");
    }

    #[test]
    fn the_init_container_holds_net_admin_only_and_the_shared_mapping() {
        let c = plan("8500,8501").unwrap().init_container("img:1");
        assert_eq!(c.name, "mulambda-intercept");
        assert_eq!(c.command, Some(vec!["mulambda-intercept".to_string()]));
        let env: Vec<_> = c
            .env
            .unwrap()
            .into_iter()
            .map(|e| (e.name, e.value.unwrap()))
            .collect();
        assert_eq!(
            env,
            [
                ("MULAMBDA_PROXY_UID".to_string(), "2501".to_string()),
                (
                    "MULAMBDA_INTERCEPT_REDIRECT".to_string(),
                    "8500=18500,8501=18501".to_string()
                )
            ]
        );
        let sc = c.security_context.unwrap();
        let caps = sc.capabilities.unwrap();
        assert_eq!(caps.add, Some(vec!["NET_ADMIN".to_string()]));
        assert_eq!(caps.drop, Some(vec!["ALL".to_string()]));
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(sc.read_only_root_filesystem, Some(true));
    }

    #[test]
    fn host_network_and_the_proxy_uid_in_the_pod_are_refused() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {},
            "spec": {
                "hostNetwork": true,
                "securityContext": {"runAsUser": 2501},
                "containers": [
                    {"name": "app"},
                    {"name": "other", "securityContext": {"runAsUser": 1000}}
                ]
            }
        }))
        .unwrap();
        let refusals = plan("8501").unwrap().refusals(&pod);
        assert_eq!(refusals.len(), 2, "{refusals:?}");
        assert!(refusals[0].contains("hostNetwork"));
        assert!(refusals[1].contains("container app runs as UID 2501"));
    }
}
