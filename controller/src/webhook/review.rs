//! `admission.k8s.io/v1` `AdmissionReview` as it travels on the wire.
//!
//! Our own small types rather than `kube::core::admission`: kube's `AdmissionResponse`
//! serialises its patch as a JSON array of bytes, while the API's contract (Go `[]byte`) is a
//! base64 string (k8s-openapi's `ByteString` writes exactly that); and a webhook must read reviews whose object is not what it expects without
//! failing the whole review. Only the fields the webhook uses are modelled; unknown fields are
//! ignored.

use k8s_openapi::ByteString;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `apiVersion` of the reviews this webhook answers.
pub const API_VERSION: &str = "admission.k8s.io/v1";
/// `kind` of a review.
pub const KIND: &str = "AdmissionReview";

/// An incoming review: the API server's question.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionReviewRequest {
    /// Must be `admission.k8s.io/v1`.
    pub api_version: String,
    /// Must be `AdmissionReview`.
    pub kind: String,
    /// The request; a review without one is malformed.
    pub request: Option<AdmissionRequest>,
}

/// The question about one object.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionRequest {
    /// Copied into the response.
    pub uid: String,
    /// Kind of the object (`{group: "", version: "v1", kind: "Pod"}`).
    pub kind: GroupVersionKind,
    /// `CREATE`, `UPDATE`, `DELETE` or `CONNECT`.
    pub operation: String,
    /// Namespace of the object.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Name of the object (empty for pods of a ReplicaSet: they get `generateName`).
    #[serde(default)]
    pub name: Option<String>,
    /// The object as it would be stored.
    #[serde(default)]
    pub object: Option<Value>,
    /// Whether this is a dry run (the webhook has no side effects, so it answers the same).
    #[serde(default)]
    pub dry_run: Option<bool>,
}

/// A group, version and kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct GroupVersionKind {
    /// API group (`""` for the core group).
    #[serde(default)]
    pub group: String,
    /// API version.
    #[serde(default)]
    pub version: String,
    /// Kind.
    #[serde(default)]
    pub kind: String,
}

/// The answer: a review carrying a response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionReviewResponse {
    /// `admission.k8s.io/v1`.
    pub api_version: String,
    /// `AdmissionReview`.
    pub kind: String,
    /// The response.
    pub response: AdmissionResponse,
}

/// The answer about one object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionResponse {
    /// The request's uid.
    pub uid: String,
    /// Whether the object is admitted.
    pub allowed: bool,
    /// Why not (only for denials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ResponseStatus>,
    /// A JSON Patch (RFC 6902) document; base64 on the wire (k8s-openapi's `ByteString`, the
    /// API's Go `[]byte`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<ByteString>,
    /// `JSONPatch` when there is a patch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch_type: Option<String>,
    /// Warnings shown to the API client (`kubectl` prints them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// The `status` of a denial (a `metav1.Status` subset).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseStatus {
    /// HTTP-like code shown to the client (403 for a denial, 400 for a bad object).
    pub code: u16,
    /// Human-readable reason.
    pub message: String,
    /// `Failure`.
    #[serde(default)]
    pub status: String,
    /// Machine-readable reason (`Forbidden`, `BadRequest`).
    #[serde(default)]
    pub reason: String,
}

// === impl AdmissionResponse ===

impl AdmissionResponse {
    /// Admits the object unchanged.
    pub fn allow(uid: &str) -> AdmissionResponse {
        AdmissionResponse {
            uid: uid.to_string(),
            allowed: true,
            status: None,
            patch: None,
            patch_type: None,
            warnings: Vec::new(),
        }
    }

    /// Admits the object with a JSON Patch applied.
    pub fn patch(
        uid: &str,
        patch: &json_patch::Patch,
    ) -> Result<AdmissionResponse, serde_json::Error> {
        let bytes = serde_json::to_vec(patch)?;
        Ok(AdmissionResponse {
            patch: Some(ByteString(bytes)),
            patch_type: Some("JSONPatch".to_string()),
            ..AdmissionResponse::allow(uid)
        })
    }

    /// Refuses the object (HTTP-like `code`: 403 for a policy denial, 400 for a bad object).
    pub fn deny(uid: &str, code: u16, message: impl Into<String>) -> AdmissionResponse {
        AdmissionResponse {
            allowed: false,
            status: Some(ResponseStatus {
                code,
                message: message.into(),
                status: "Failure".to_string(),
                reason: if code == 400 {
                    "BadRequest"
                } else {
                    "Forbidden"
                }
                .to_string(),
            }),
            ..AdmissionResponse::allow(uid)
        }
    }

    /// Adds warnings for the API client.
    pub fn with_warnings(mut self, warnings: Vec<String>) -> AdmissionResponse {
        self.warnings = warnings;
        self
    }

    /// Wraps the response in a review.
    pub fn into_review(self) -> AdmissionReviewResponse {
        AdmissionReviewResponse {
            api_version: API_VERSION.to_string(),
            kind: KIND.to_string(),
            response: self,
        }
    }

    /// Decodes the patch (for tests and tools): `None` without a patch.
    pub fn decoded_patch(&self) -> Option<Result<json_patch::Patch, String>> {
        let bytes = &self.patch.as_ref()?.0;
        Some(serde_json::from_slice(bytes).map_err(|e| format!("patch is not a JSON Patch: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_travels_as_base64_and_decodes_back() {
        let patch: json_patch::Patch =
            serde_json::from_value(serde_json::json!([{"op": "add", "path": "/a", "value": 1}]))
                .unwrap();
        let response = AdmissionResponse::patch("u1", &patch).unwrap();
        let wire = serde_json::to_value(response.clone().into_review()).unwrap();
        assert!(wire["response"]["patch"].is_string());
        assert_eq!(wire["response"]["patchType"], "JSONPatch");
        assert_eq!(wire["apiVersion"], "admission.k8s.io/v1");
        assert_eq!(response.decoded_patch().unwrap().unwrap(), patch);
    }

    #[test]
    fn a_denial_carries_a_status() {
        let wire =
            serde_json::to_value(AdmissionResponse::deny("u", 403, "no").into_review()).unwrap();
        assert_eq!(wire["response"]["allowed"], false);
        assert_eq!(wire["response"]["status"]["message"], "no");
        assert_eq!(wire["response"]["status"]["code"], 403);
        assert!(wire["response"].get("patch").is_none());
    }
}
