//! The injection decision for one admission request, and the JSON Patch that carries it out.
//!
//! Policy (see `docs/controller.md`):
//! - the MutatingWebhookConfiguration's `namespaceSelector` sends only pods of namespaces
//!   labelled `mulambda.io/inject=true` (an AdmissionReview carries no namespace labels);
//! - a pod annotated `mulambda.io/inject: "false"` is never injected (the opt-out wins);
//! - a pod annotated `mulambda.io/inject: "true"` is injected;
//! - a pod without the annotation is injected when `--inject-by-default` is on (the default:
//!   the namespace opted in for it);
//! - a pod that already has the proxy container or the `mulambda.io/injected` marker is
//!   admitted unchanged;
//! - a pod to inject whose criteria annotations are missing or invalid is denied, with a message
//!   naming each annotation and its value.

use std::collections::BTreeMap;

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation};
use k8s_openapi::api::core::v1::Pod;
use mulambda_catalog::names::{annotations, ports};
use serde_json::{Value, json};

use crate::podspec::{self, StoreEnv};
use crate::webhook::criteria::PodCriteria;
use crate::webhook::review::{AdmissionRequest, AdmissionResponse};
use crate::webhook::sidecar::SidecarTemplate;
use crate::well_known::{DEFAULT_IMAGE, PROXY_CONTAINER, prometheus};

/// The injection options on the command line.
#[derive(Debug, Clone, clap::Args)]
pub struct InjectArgs {
    /// Image of the injected proxy (`mulambda-proxy` on its PATH).
    #[arg(long, env = "MULAMBDA_PROXY_IMAGE", default_value = DEFAULT_IMAGE, value_name = "IMAGE",
          value_parser = podspec::image)]
    pub proxy_image: String,

    /// Inject pods that reach the webhook without a `mulambda.io/inject` annotation (the
    /// webhook configuration's namespaceSelector only sends pods of opted-in namespaces).
    /// `false`: only pods annotated `mulambda.io/inject: "true"`.
    #[arg(long, env = "MULAMBDA_INJECT_BY_DEFAULT", default_value_t = true,
          action = clap::ArgAction::Set, value_name = "BOOL")]
    pub inject_by_default: bool,
}

// === impl InjectArgs ===

impl InjectArgs {
    /// The injection settings, with where injected proxies find the store.
    pub fn config(self, store: StoreEnv) -> InjectConfig {
        InjectConfig {
            sidecar: SidecarTemplate {
                image: self.proxy_image,
                store,
            },
            inject_by_default: self.inject_by_default,
        }
    }
}

/// The webhook's injection settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InjectConfig {
    /// The proxy container's template.
    pub sidecar: SidecarTemplate,
    /// Inject pods that carry no `mulambda.io/inject` annotation.
    pub inject_by_default: bool,
}

/// What the webhook did with a request (the `outcome` label of
/// `mulambda_controller_webhook_requests_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The proxy was added.
    Injected,
    /// Admitted unchanged (not a pod creation, opted out, not opted in, already injected).
    Skipped,
    /// Refused: invalid criteria or `mulambda.io/inject` value.
    Denied,
    /// The review could not be answered normally (malformed review or object).
    Error,
}

/// A decision: the response to send and what it was.
#[derive(Debug, Clone)]
pub struct Decision {
    /// The response.
    pub response: AdmissionResponse,
    /// Its outcome.
    pub outcome: Outcome,
    /// Why (for logs): `opted out`, `already injected`, …
    pub reason: &'static str,
}

// === impl Outcome ===

impl Outcome {
    /// The metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Injected => "injected",
            Outcome::Skipped => "skipped",
            Outcome::Denied => "denied",
            Outcome::Error => "error",
        }
    }
}

/// Decides about one admission request.
pub fn decide(request: &AdmissionRequest, config: &InjectConfig) -> Decision {
    let uid = request.uid.as_str();
    let skip = |reason| Decision {
        response: AdmissionResponse::allow(uid),
        outcome: Outcome::Skipped,
        reason,
    };
    let is_pod = request.kind.group.is_empty() && request.kind.kind == "Pod";
    if !is_pod || request.operation != "CREATE" {
        return skip("not a pod creation");
    }
    let Some(object) = request.object.as_ref() else {
        return error(uid, "request.object is missing".to_string());
    };
    let pod: Pod = match serde_json::from_value(object.clone()) {
        Ok(pod) => pod,
        Err(e) => return error(uid, format!("request.object is not a valid Pod: {e}")),
    };
    let empty = BTreeMap::new();
    let pod_annotations = pod.metadata.annotations.as_ref().unwrap_or(&empty);

    if is_injected(&pod, pod_annotations) {
        return skip("already injected");
    }
    let opted_in = match pod_annotations.get(annotations::INJECT).map(|v| v.trim()) {
        None => config.inject_by_default,
        Some(v) if v.eq_ignore_ascii_case("true") => true,
        Some(v) if v.eq_ignore_ascii_case("false") => false,
        Some(v) => {
            return deny(
                uid,
                format!(
                    "annotation {} {:?}: must be \"true\" or \"false\"",
                    annotations::INJECT,
                    v.chars().take(64).collect::<String>()
                ),
            );
        }
    };
    if !opted_in {
        return skip(if pod_annotations.contains_key(annotations::INJECT) {
            "opted out"
        } else {
            "not opted in"
        });
    }
    let criteria = match PodCriteria::from_annotations(pod_annotations) {
        Ok(c) => c,
        Err(e) => {
            return deny(
                uid,
                format!(
                    "mulambda proxy injection: {e} (fix the annotations, or annotate the pod \
                     {}: \"false\" to opt out)",
                    annotations::INJECT
                ),
            );
        }
    };
    let patch = injection_patch(&pod, object, &config.sidecar, &criteria);
    match AdmissionResponse::patch(uid, &patch) {
        Ok(response) => Decision {
            response: response.with_warnings(port_warnings(&pod)),
            outcome: Outcome::Injected,
            reason: "injected",
        },
        Err(e) => error(uid, format!("could not encode the patch: {e}")),
    }
}

fn deny(uid: &str, message: String) -> Decision {
    Decision {
        response: AdmissionResponse::deny(uid, 403, message),
        outcome: Outcome::Denied,
        reason: "invalid annotations",
    }
}

fn error(uid: &str, message: String) -> Decision {
    Decision {
        response: AdmissionResponse::deny(uid, 400, message),
        outcome: Outcome::Error,
        reason: "bad object",
    }
}

/// Whether the pod already has the proxy (container, native sidecar or marker annotation).
pub fn is_injected(pod: &Pod, pod_annotations: &BTreeMap<String, String>) -> bool {
    let marked = pod_annotations
        .get(annotations::INJECTED)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let spec = pod.spec.as_ref();
    let has_container = spec.is_some_and(|s| {
        s.containers.iter().any(|c| c.name == PROXY_CONTAINER)
            || s.init_containers
                .iter()
                .flatten()
                .any(|c| c.name == PROXY_CONTAINER)
    });
    marked || has_container
}

/// The JSON Patch: the marker and Prometheus annotations, then the proxy container appended
/// to `spec.containers`.
pub fn injection_patch(
    pod: &Pod,
    object: &Value,
    sidecar: &SidecarTemplate,
    criteria: &PodCriteria,
) -> Patch {
    let mut added: Vec<(&str, String)> = vec![(annotations::INJECTED, "true".to_string())];
    let existing = pod.metadata.annotations.as_ref();
    if !existing.is_some_and(|a| a.contains_key(prometheus::SCRAPE)) {
        added.push((prometheus::SCRAPE, "true".to_string()));
        added.push((prometheus::PORT, ports::PROXY_ADMIN.to_string()));
    }
    let mut ops = Vec::new();
    // Test the raw object, not the typed pod: `annotations: null` and a missing map both need
    // the whole map added.
    let has_annotation_map = object
        .pointer("/metadata/annotations")
        .is_some_and(Value::is_object);
    if has_annotation_map {
        for (key, value) in added {
            ops.push(add(&["metadata", "annotations", key], json!(value)));
        }
    } else {
        let map: serde_json::Map<String, Value> = added
            .into_iter()
            .map(|(k, v)| (k.to_string(), Value::String(v)))
            .collect();
        if object.pointer("/metadata").is_some_and(Value::is_object) {
            ops.push(add(&["metadata", "annotations"], Value::Object(map)));
        } else {
            ops.push(add(&["metadata"], json!({ "annotations": map })));
        }
    }
    let container = sidecar.container(criteria);
    let container = serde_json::to_value(container).unwrap_or(Value::Null);
    if object
        .pointer("/spec/containers")
        .is_some_and(Value::is_array)
    {
        ops.push(add(&["spec", "containers", "-"], container));
    } else {
        // A pod without containers is refused by the API server's validation anyway; the
        // patch stays well-formed.
        ops.push(add(&["spec", "containers"], json!([container])));
    }
    Patch(ops)
}

fn add(tokens: &[&str], value: Value) -> PatchOperation {
    PatchOperation::Add(AddOperation {
        path: PointerBuf::from_tokens(tokens.iter().copied()),
        value,
    })
}

/// Warnings when an application container already uses the proxy's ports (both would fail to
/// bind the shared network namespace's port).
fn port_warnings(pod: &Pod) -> Vec<String> {
    let taken: Vec<(String, i32)> = pod
        .spec
        .iter()
        .flat_map(|s| s.containers.iter())
        .flat_map(|c| {
            c.ports
                .iter()
                .flatten()
                .map(move |p| (c.name.clone(), p.container_port))
        })
        .filter(|(_, port)| {
            *port == i32::from(ports::PROXY_APP) || *port == i32::from(ports::PROXY_ADMIN)
        })
        .collect();
    taken
        .into_iter()
        .map(|(container, port)| {
            format!(
                "container {container} declares port {port}, which the injected {PROXY_CONTAINER} \
                 listens on"
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::podspec::{StoreEnv, StoreUrlSource};
    use crate::webhook::review::GroupVersionKind;

    fn config() -> InjectConfig {
        InjectConfig {
            sidecar: SidecarTemplate {
                image: "img".into(),
                store: StoreEnv {
                    url: StoreUrlSource::Value("redis://store:6379".into()),
                    prefix: "mulambda".into(),
                },
            },
            inject_by_default: true,
        }
    }

    fn request(object: Value) -> AdmissionRequest {
        AdmissionRequest {
            uid: "u".into(),
            kind: GroupVersionKind {
                group: String::new(),
                version: "v1".into(),
                kind: "Pod".into(),
            },
            operation: "CREATE".into(),
            namespace: Some("ns".into()),
            name: None,
            object: Some(object),
            dry_run: None,
        }
    }

    fn pod(annotations: Value) -> Value {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"generateName": "app-", "annotations": annotations},
            "spec": {"containers": [{"name": "app", "image": "app"}]}
        })
    }

    #[test]
    fn a_pod_without_annotations_is_denied_naming_the_hard_criteria() {
        let object = json!({
            "metadata": {"name": "p", "annotations": null},
            "spec": {"containers": [{"name": "app"}]}
        });
        let d = decide(&request(object), &config());
        assert_eq!(d.outcome, Outcome::Denied);
        let message = d.response.status.unwrap().message;
        for a in ["model-type", "input-format", "output-format"] {
            assert!(
                message.contains(&format!("mulambda.io/{a} is required")),
                "{message}"
            );
        }
    }

    #[test]
    fn the_whole_annotation_map_is_added_when_there_is_none() {
        let object = json!({"metadata": {}, "spec": {"containers": []}});
        let pod: Pod = serde_json::from_value(object.clone()).unwrap();
        let criteria = PodCriteria::from_annotations(&BTreeMap::from([
            ("mulambda.io/model-type".to_string(), "c".to_string()),
            ("mulambda.io/input-format".to_string(), "i".to_string()),
            ("mulambda.io/output-format".to_string(), "o".to_string()),
        ]))
        .unwrap();
        let patch = injection_patch(&pod, &object, &config().sidecar, &criteria);
        let mut patched = object.clone();
        json_patch::patch(&mut patched, &patch).unwrap();
        assert_eq!(
            patched["metadata"]["annotations"]["mulambda.io/injected"],
            "true"
        );
        assert_eq!(patched["spec"]["containers"][0]["name"], "mulambda-proxy");
    }

    #[test]
    fn other_kinds_and_operations_are_skipped() {
        let mut req = request(pod(json!({})));
        req.operation = "UPDATE".into();
        assert_eq!(decide(&req, &config()).outcome, Outcome::Skipped);
        let mut req = request(pod(json!({})));
        req.kind.kind = "Service".into();
        assert_eq!(decide(&req, &config()).outcome, Outcome::Skipped);
    }

    #[test]
    fn inject_annotation_must_be_a_boolean() {
        let req = request(pod(json!({"mulambda.io/inject": "yes"})));
        let d = decide(&req, &config());
        assert_eq!(d.outcome, Outcome::Denied);
        assert!(d.response.status.unwrap().message.contains("\"yes\""));
    }

    #[test]
    fn without_default_injection_only_annotated_pods_are_injected() {
        let mut config = config();
        config.inject_by_default = false;
        let d = decide(&request(pod(json!({}))), &config);
        assert_eq!((d.outcome, d.reason), (Outcome::Skipped, "not opted in"));
    }

    #[test]
    fn a_bad_object_is_an_error_not_a_panic() {
        let d = decide(&request(json!({"spec": {"containers": "nope"}})), &config());
        assert_eq!(d.outcome, Outcome::Error);
        let d = decide(&request(json!(42)), &config());
        assert_eq!(d.outcome, Outcome::Error);
    }

    #[test]
    fn port_clashes_are_warned_about() {
        let mut object = pod(json!({
            "mulambda.io/model-type": "c", "mulambda.io/input-format": "i",
            "mulambda.io/output-format": "o"
        }));
        object["spec"]["containers"][0]["ports"] = json!([{"containerPort": 8501}]);
        let d = decide(&request(object), &config());
        assert_eq!(d.outcome, Outcome::Injected);
        assert_eq!(d.response.warnings.len(), 1);
    }
}
