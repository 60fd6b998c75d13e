//! Small builders for the pieces of container specs that the injected proxy and the executor
//! pods share: environment variables (plain, downward API, Secret keys), probes, the restricted
//! security context, and how containers reach the metadata store.

use k8s_openapi::api::core::v1::{
    Capabilities, EnvVar, EnvVarSource, HTTPGetAction, ObjectFieldSelector, Probe, SeccompProfile,
    SecretKeySelector, SecurityContext,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use mulambda_catalog::names::env;
use mulambda_runtime::parse::{self, Blankable};
use mulambda_runtime::{OptionError, StoreArgs};

use crate::executor::validate::is_dns_subdomain;
use crate::well_known::NONROOT_UID;

/// How the controller tells injected proxies and companions where the store is.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreEnvArgs {
    /// The URL (given to pods as a literal value, visible to whoever can read them) and prefix.
    #[command(flatten)]
    store: StoreArgs,

    /// Name of a Secret, in each injected or executor pod's own namespace, whose key
    /// (--store-url-secret-key) holds the store URL; takes precedence over --store-url.
    #[arg(long, env = "MULAMBDA_STORE_URL_SECRET", value_name = "NAME", default_value = "",
          hide_default_value = true, value_parser = parse::blank_or(secret_name))]
    store_url_secret: Blankable<String>,

    /// Key of --store-url-secret that holds the URL.
    #[arg(long, env = "MULAMBDA_STORE_URL_SECRET_KEY", default_value = "url", value_name = "KEY",
          value_parser = secret_key)]
    store_url_secret_key: String,
}

fn secret_name(text: &str) -> Result<String, String> {
    match text.trim() {
        t if is_dns_subdomain(t) => Ok(t.to_string()),
        _ => Err("must be the name of a Secret (a DNS subdomain)".into()),
    }
}

fn secret_key(text: &str) -> Result<String, String> {
    let key = text.trim();
    let ok = !key.is_empty()
        && key.len() <= 253
        && (key.chars()).all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(key.to_string())
    } else {
        Err("must be a Secret key (A-Z a-z 0-9 - _ .)".into())
    }
}

/// A container image reference (no spaces).
pub fn image(text: &str) -> Result<String, String> {
    match text.trim() {
        t if t.is_empty() || t.chars().any(char::is_whitespace) => {
            Err("must be an image reference without spaces".into())
        }
        t => Ok(t.to_string()),
    }
}

// === impl StoreEnvArgs ===

impl StoreEnvArgs {
    /// The store environment of pods: the Secret reference when one is named, else the URL.
    pub fn store_env(&self) -> Result<StoreEnv, OptionError> {
        let url = match (&self.store_url_secret, &self.store.store_url) {
            (Some(name), _) => StoreUrlSource::Secret {
                name: name.clone(),
                key: self.store_url_secret_key.clone(),
            },
            (None, Some(url)) => StoreUrlSource::Value(url.clone()),
            (None, None) => {
                let why = "required (or set --store-url-secret)";
                return Err(OptionError::of::<StoreArgs>("store-url", "", why));
            }
        };
        Ok(StoreEnv {
            url,
            prefix: self.store.store_prefix.clone(),
        })
    }
}

/// An environment variable with a literal value.
pub fn env_value(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: Some(value.into()),
        value_from: None,
    }
}

/// An environment variable from the downward API (`metadata.name`, `status.podIP`, …).
pub fn env_field(name: &str, field_path: &str) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: None,
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                api_version: None,
                field_path: field_path.to_string(),
            }),
            ..EnvVarSource::default()
        }),
    }
}

/// An environment variable from a key of a Secret in the pod's namespace.
pub fn env_secret(name: &str, secret: &str, key: &str) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: None,
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.to_string(),
                key: key.to_string(),
                optional: None,
            }),
            ..EnvVarSource::default()
        }),
    }
}

/// The downward-API variables every mulambda container gets: pod name, namespace, IP, node and
/// zone. They come first, so later values can refer to them as `$(MULAMBDA_POD_IP)`.
///
/// The zone is the pod label `topology.kubernetes.io/zone`, which Kubernetes copies from the
/// node when the `PodTopologyLabelsAdmission` plug-in is on; without it the value is empty, which
/// the proxy and the companion read as "unknown".
pub fn downward_api_env() -> Vec<EnvVar> {
    vec![
        env_field(env::POD_NAME, "metadata.name"),
        env_field(env::POD_NAMESPACE, "metadata.namespace"),
        env_field(env::POD_IP, "status.podIP"),
        env_field(env::NODE, "spec.nodeName"),
        env_field(env::ZONE, "metadata.labels['topology.kubernetes.io/zone']"),
    ]
}

/// An HTTP GET probe on a named port.
pub fn http_probe(path: &str, port: &str, period_seconds: i32, failure_threshold: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_string()),
            port: IntOrString::String(port.to_string()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period_seconds),
        failure_threshold: Some(failure_threshold),
        timeout_seconds: Some(1),
        ..Probe::default()
    }
}

/// The `restricted` Pod Security Standard for one container: non-root user 65532, read-only
/// root filesystem (when asked), no privilege escalation, no capabilities, `RuntimeDefault`
/// seccomp.
pub fn restricted_security_context(read_only_root: bool) -> SecurityContext {
    SecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(NONROOT_UID),
        run_as_group: Some(NONROOT_UID),
        read_only_root_filesystem: Some(read_only_root),
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".to_string()]),
            add: None,
        }),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".to_string(),
            localhost_profile: None,
        }),
        ..SecurityContext::default()
    }
}

/// How injected proxies and companions learn the store's URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrlSource {
    /// The URL as a literal value in the pod spec (simple; whoever can read the pod reads the
    /// password in it).
    Value(String),
    /// A key of a Secret in the pod's own namespace, resolved by the kubelet (the controller
    /// never reads it).
    Secret {
        /// Secret name.
        name: String,
        /// Key holding the URL.
        key: String,
    },
}

/// Where mulambda containers find the metadata store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreEnv {
    /// The URL, or where to read it.
    pub url: StoreUrlSource,
    /// The key prefix (`MULAMBDA_STORE_PREFIX`).
    pub prefix: String,
}

// === impl StoreEnv ===

impl StoreEnv {
    /// `MULAMBDA_STORE_URL` and `MULAMBDA_STORE_PREFIX`.
    pub fn env(&self) -> Vec<EnvVar> {
        let url = match &self.url {
            StoreUrlSource::Value(url) => env_value(env::STORE_URL, url.clone()),
            StoreUrlSource::Secret { name, key } => env_secret(env::STORE_URL, name, key),
        };
        vec![url, env_value(env::STORE_PREFIX, self.prefix.clone())]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_url_from_a_secret_is_a_secret_key_ref() {
        let store = StoreEnv {
            url: StoreUrlSource::Secret {
                name: "mulambda-store-url".into(),
                key: "url".into(),
            },
            prefix: "mulambda".into(),
        };
        let env = store.env();
        let reference = env[0]
            .value_from
            .as_ref()
            .and_then(|s| s.secret_key_ref.as_ref())
            .expect("secret ref");
        assert_eq!(env[0].name, "MULAMBDA_STORE_URL");
        assert_eq!(
            (reference.name.as_str(), reference.key.as_str()),
            ("mulambda-store-url", "url")
        );
        assert!(env[0].value.is_none());
        assert_eq!(env[1].value.as_deref(), Some("mulambda"));
    }

    #[test]
    fn downward_api_comes_with_pod_ip_before_anything_that_refers_to_it() {
        let names: Vec<_> = downward_api_env().into_iter().map(|e| e.name).collect();
        assert!(names.contains(&"MULAMBDA_POD_IP".to_string()));
        assert_eq!(names.len(), 5);
    }
}
