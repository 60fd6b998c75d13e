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
use k8s_openapi::api::core::v1::{Container, Pod};
use mulambda_catalog::names::{annotations, ports};
use serde_json::{Value, json};

use crate::podspec::{self, StoreEnv};
use crate::webhook::criteria::PodCriteria;
use crate::webhook::intercept::InterceptPlan;
use crate::webhook::review::{AdmissionRequest, AdmissionResponse};
use crate::webhook::sidecar::{SidecarMode, SidecarTemplate};
use crate::well_known::{DEFAULT_IMAGE, DEFAULT_INTERCEPT_IMAGE, PROXY_CONTAINER, prometheus};

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

    /// How the proxy is added to pods without a `mulambda.io/sidecar-mode` annotation: `native`
    /// (an init container with `restartPolicy: Always`, Kubernetes >= 1.29) or `container`.
    #[arg(
        long,
        env = "MULAMBDA_SIDECAR_MODE",
        default_value = "native",
        value_name = "MODE"
    )]
    pub sidecar_mode: SidecarMode,

    /// Image of the init container of intercepted pods (`mulambda-intercept` and `nft` on its
    /// PATH).
    #[arg(long, env = "MULAMBDA_INTERCEPT_IMAGE", default_value = DEFAULT_INTERCEPT_IMAGE,
          value_name = "IMAGE", value_parser = podspec::image)]
    pub intercept_image: String,

    /// UID the proxy runs as in intercepted pods; the redirect exempts its traffic. Not 0, and
    /// no other container of an intercepted pod may run as it.
    #[arg(long, env = mulambda_intercept::cli::env::PROXY_UID,
          default_value_t = mulambda_intercept::DEFAULT_PROXY_UID, value_name = "UID",
          value_parser = proxy_uid)]
    pub proxy_uid: u32,
}

fn proxy_uid(text: &str) -> Result<u32, String> {
    match text.trim().parse::<u32>() {
        Ok(0) => Err("must not be 0: the redirect would exempt every root process".into()),
        Ok(uid) => Ok(uid),
        Err(_) => Err("must be a numeric UID".into()),
    }
}

// === impl InjectArgs ===

impl InjectArgs {
    /// The injection settings, with where injected proxies find the store.
    pub fn config(self, store: StoreEnv) -> InjectConfig {
        InjectConfig {
            sidecar: SidecarTemplate {
                image: self.proxy_image,
                store,
                intercept_image: self.intercept_image,
                proxy_uid: self.proxy_uid,
                mode: self.sidecar_mode,
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
    // Every problem of the pod's annotations in one denial.
    let mut problems: Vec<String> = Vec::new();
    let criteria = PodCriteria::from_annotations(pod_annotations)
        .map_err(|e| problems.push(e.to_string()))
        .ok();
    let mode = match pod_annotations.get(annotations::SIDECAR_MODE) {
        None => config.sidecar.mode,
        Some(v) => SidecarMode::parse(v).unwrap_or_else(|| {
            problems.push(format!(
                "annotation {} {:?}: must be \"native\" or \"container\"",
                annotations::SIDECAR_MODE,
                v.chars().take(64).collect::<String>()
            ));
            config.sidecar.mode
        }),
    };
    let intercept = pod_annotations
        .get(annotations::INTERCEPT_PORTS)
        .and_then(
            |v| match InterceptPlan::from_annotation(v, config.sidecar.proxy_uid) {
                Ok(plan) => {
                    for refusal in plan.refusals(&pod) {
                        problems.push(format!(
                            "annotation {}: {refusal}",
                            annotations::INTERCEPT_PORTS
                        ));
                    }
                    Some(plan)
                }
                Err(e) => {
                    problems.push(format!(
                        "annotation {} {:?}: {e}",
                        annotations::INTERCEPT_PORTS,
                        v.chars().take(64).collect::<String>()
                    ));
                    None
                }
            },
        );
    let criteria = match criteria {
        Some(c) if problems.is_empty() => c,
        _ => {
            return deny(
                uid,
                format!(
                    "mulambda proxy injection: {} (fix the annotations, or annotate the pod \
                     {}: \"false\" to opt out)",
                    problems.join("; "),
                    annotations::INJECT
                ),
            );
        }
    };
    let injection = Injection {
        sidecar: &config.sidecar,
        criteria: &criteria,
        intercept: intercept.as_ref(),
        mode,
    };
    let patch = injection.patch(object);
    match AdmissionResponse::patch(uid, &patch) {
        Ok(response) => Decision {
            response: response.with_warnings(port_warnings(&pod, intercept.as_ref())),
            outcome: Outcome::Injected,
            reason: if intercept.is_some() {
                "injected, intercepted"
            } else {
                "injected"
            },
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

/// What is added to one pod.
pub struct Injection<'a> {
    /// The controller's settings.
    pub sidecar: &'a SidecarTemplate,
    /// The pod's criteria.
    pub criteria: &'a PodCriteria,
    /// Intercepted mode, when annotated.
    pub intercept: Option<&'a InterceptPlan>,
    /// Native sidecar or regular container.
    pub mode: SidecarMode,
}

// === impl Injection ===

impl Injection<'_> {
    /// The JSON Patch for `object` (the pod as the API server sent it): the marker and
    /// Prometheus annotations; in intercepted mode the init container first of all init
    /// containers; the proxy as a native sidecar right after it (so the pod's own init
    /// containers already find it) or appended to `spec.containers`. It applies to any object:
    /// a missing or `null` `metadata`, `annotations`, `spec`, `containers` or `initContainers`
    /// is added whole (a pod without containers is then refused by the API server's own
    /// validation, not by a patch that does not apply).
    pub fn patch(&self, object: &Value) -> Patch {
        let mut added: Vec<(&str, String)> = vec![(annotations::INJECTED, "true".to_string())];
        let has_scrape = object
            .pointer("/metadata/annotations")
            .and_then(Value::as_object)
            .is_some_and(|a| a.contains_key(prometheus::SCRAPE));
        if !has_scrape {
            added.push((prometheus::SCRAPE, "true".to_string()));
            added.push((prometheus::PORT, ports::PROXY_ADMIN.to_string()));
        }
        let mut ops = Vec::new();
        // Test the raw object, not the typed pod: `annotations: null` and a missing map both
        // need the whole map added.
        if is_object(object, "/metadata/annotations") {
            for (key, value) in added {
                ops.push(add(&["metadata", "annotations", key], json!(value)));
            }
        } else {
            let map: serde_json::Map<String, Value> = added
                .into_iter()
                .map(|(k, v)| (k.to_string(), Value::String(v)))
                .collect();
            if is_object(object, "/metadata") {
                ops.push(add(&["metadata", "annotations"], Value::Object(map)));
            } else {
                ops.push(add(&["metadata"], json!({ "annotations": map })));
            }
        }

        let proxy = to_value(
            self.sidecar
                .container(self.criteria, self.intercept, self.mode),
        );
        let mut init_front: Vec<Value> = Vec::new();
        if let Some(plan) = self.intercept {
            init_front.push(to_value(plan.init_container(&self.sidecar.intercept_image)));
        }
        let mut containers_end: Vec<Value> = Vec::new();
        match self.mode {
            SidecarMode::Native => init_front.push(proxy),
            SidecarMode::Container => containers_end.push(proxy),
        }

        if !is_object(object, "/spec") {
            let mut spec = serde_json::Map::new();
            if !init_front.is_empty() {
                spec.insert("initContainers".into(), Value::Array(init_front));
            }
            spec.insert("containers".into(), Value::Array(containers_end));
            ops.push(add(&["spec"], Value::Object(spec)));
            return Patch(ops);
        }
        if !init_front.is_empty() {
            if is_array(object, "/spec/initContainers") {
                // Inserted at the front, in order: the redirect before anything else runs.
                for (i, c) in init_front.into_iter().enumerate() {
                    let index = i.to_string();
                    ops.push(add(&["spec", "initContainers", &index], c));
                }
            } else {
                ops.push(add(&["spec", "initContainers"], Value::Array(init_front)));
            }
        }
        if is_array(object, "/spec/containers") {
            for c in containers_end {
                ops.push(add(&["spec", "containers", "-"], c));
            }
        } else {
            ops.push(add(&["spec", "containers"], Value::Array(containers_end)));
        }
        Patch(ops)
    }
}

fn is_object(v: &Value, pointer: &str) -> bool {
    v.pointer(pointer).is_some_and(Value::is_object)
}

fn is_array(v: &Value, pointer: &str) -> bool {
    v.pointer(pointer).is_some_and(Value::is_array)
}

fn to_value(c: Container) -> Value {
    serde_json::to_value(c).unwrap_or(Value::Null)
}

fn add(tokens: &[&str], value: Value) -> PatchOperation {
    PatchOperation::Add(AddOperation {
        path: PointerBuf::from_tokens(tokens.iter().copied()),
        value,
    })
}

/// Warnings when an application container already uses one of the proxy's ports (both would
/// fail to bind the shared network namespace's port).
fn port_warnings(pod: &Pod, intercept: Option<&InterceptPlan>) -> Vec<String> {
    let mut proxy_ports = vec![i32::from(ports::PROXY_ADMIN)];
    match intercept {
        None => proxy_ports.push(i32::from(ports::PROXY_APP)),
        Some(plan) => proxy_ports.extend(plan.redirects().proxy_ports().into_iter().map(i32::from)),
    }
    pod.spec
        .iter()
        .flat_map(|s| s.containers.iter())
        .flat_map(|c| {
            c.ports
                .iter()
                .flatten()
                .map(move |p| (c.name.clone(), p.container_port))
        })
        .filter(|(_, port)| proxy_ports.contains(port))
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
                intercept_image: "intercept-img".into(),
                proxy_uid: 2501,
                mode: SidecarMode::Native,
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

    fn criteria() -> PodCriteria {
        PodCriteria::from_annotations(&BTreeMap::from([
            ("mulambda.io/model-type".to_string(), "c".to_string()),
            ("mulambda.io/input-format".to_string(), "i".to_string()),
            ("mulambda.io/output-format".to_string(), "o".to_string()),
        ]))
        .unwrap()
    }

    /// Applies the patch for `object` and returns the result as a typed Pod.
    fn apply(object: &Value, mode: SidecarMode, intercept: Option<&InterceptPlan>) -> Pod {
        let config = config();
        let criteria = criteria();
        let patch = Injection {
            sidecar: &config.sidecar,
            criteria: &criteria,
            intercept,
            mode,
        }
        .patch(object);
        let mut patched = object.clone();
        json_patch::patch(&mut patched, &patch)
            .unwrap_or_else(|e| panic!("the patch must apply to {object}: {e}"));
        serde_json::from_value(patched).expect("a Pod")
    }

    fn names(containers: Option<&Vec<k8s_openapi::api::core::v1::Container>>) -> Vec<&str> {
        containers
            .into_iter()
            .flatten()
            .map(|c| c.name.as_str())
            .collect()
    }

    #[test]
    fn the_whole_annotation_map_is_added_when_there_is_none() {
        let object = json!({"metadata": {}, "spec": {"containers": []}});
        let pod = apply(&object, SidecarMode::Container, None);
        let annotations = pod.metadata.annotations.unwrap();
        assert_eq!(annotations["mulambda.io/injected"], "true");
        assert_eq!(
            names(Some(&pod.spec.unwrap().containers)),
            ["mulambda-proxy"]
        );
    }

    #[test]
    fn a_pod_without_spec_or_metadata_gets_a_patch_that_applies() {
        let plan = InterceptPlan::from_annotation("8501", 2501).unwrap();
        for object in [
            json!({}),
            json!({"metadata": null, "spec": null}),
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}),
            json!({"metadata": {"annotations": null}, "spec": {}}),
            json!({"spec": {"containers": null, "initContainers": null}}),
        ] {
            for mode in [SidecarMode::Native, SidecarMode::Container] {
                for intercept in [None, Some(&plan)] {
                    let pod = apply(&object, mode, intercept);
                    let spec = pod.spec.expect("a spec");
                    let (init, containers) = (
                        names(spec.init_containers.as_ref()),
                        names(Some(&spec.containers)),
                    );
                    let want_init: Vec<&str> = intercept
                        .map(|_| "mulambda-intercept")
                        .into_iter()
                        .chain((mode == SidecarMode::Native).then_some("mulambda-proxy"))
                        .collect();
                    assert_eq!(init, want_init, "{object} {mode:?}");
                    let want: &[&str] = match mode {
                        SidecarMode::Native => &[],
                        SidecarMode::Container => &["mulambda-proxy"],
                    };
                    assert_eq!(containers, want, "{object} {mode:?}");
                }
            }
        }
    }

    #[test]
    fn native_sidecars_and_the_redirect_come_before_the_pods_own_init_containers() {
        let object = json!({
            "metadata": {"annotations": {}},
            "spec": {
                "initContainers": [{"name": "migrate"}],
                "containers": [{"name": "app"}]
            }
        });
        let plan = InterceptPlan::from_annotation("8500,8501", 2501).unwrap();
        let pod = apply(&object, SidecarMode::Native, Some(&plan));
        let spec = pod.spec.unwrap();
        assert_eq!(
            names(spec.init_containers.as_ref()),
            ["mulambda-intercept", "mulambda-proxy", "migrate"]
        );
        assert_eq!(names(Some(&spec.containers)), ["app"]);
        let proxy = &spec.init_containers.as_ref().unwrap()[1];
        assert_eq!(proxy.restart_policy.as_deref(), Some("Always"));

        let pod = apply(&object, SidecarMode::Container, Some(&plan));
        let spec = pod.spec.unwrap();
        assert_eq!(
            names(spec.init_containers.as_ref()),
            ["mulambda-intercept", "migrate"]
        );
        assert_eq!(names(Some(&spec.containers)), ["app", "mulambda-proxy"]);
        assert_eq!(spec.containers[1].restart_policy, None);
    }

    #[test]
    fn sidecar_mode_and_intercept_ports_are_read_and_every_problem_is_reported() {
        let mut object = pod(json!({
            "mulambda.io/model-type": "c", "mulambda.io/input-format": "i",
            "mulambda.io/output-format": "o", "mulambda.io/sidecar-mode": "Container",
            "mulambda.io/intercept-ports": "8501"
        }));
        let d = decide(&request(object.clone()), &config());
        assert_eq!(
            (d.outcome, d.reason),
            (Outcome::Injected, "injected, intercepted")
        );

        object["metadata"]["annotations"] = json!({
            "mulambda.io/model-type": "c", "mulambda.io/input-format": "i",
            "mulambda.io/sidecar-mode": "sometimes",
            "mulambda.io/intercept-ports": "8501,http"
        });
        object["spec"]["hostNetwork"] = json!(true);
        let d = decide(&request(object), &config());
        assert_eq!(d.outcome, Outcome::Denied);
        let message = d.response.status.unwrap().message;
        for needle in [
            "mulambda.io/output-format is required",
            "mulambda.io/sidecar-mode \"sometimes\": must be \"native\" or \"container\"",
            "mulambda.io/intercept-ports \"8501,http\": `http`: not a port",
        ] {
            assert!(message.contains(needle), "{needle} not in {message}");
        }

        let mut object = pod(json!({
            "mulambda.io/model-type": "c", "mulambda.io/input-format": "i",
            "mulambda.io/output-format": "o", "mulambda.io/intercept-ports": "8501"
        }));
        object["spec"]["hostNetwork"] = json!(true);
        let d = decide(&request(object), &config());
        assert_eq!(d.outcome, Outcome::Denied);
        assert!(d.response.status.unwrap().message.contains("hostNetwork"));
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
