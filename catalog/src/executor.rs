//! An executor: one TF Serving instance serving one model, as its companion registers it.

use serde::{Deserialize, Serialize};

use crate::{Endpoint, Error, Id, ModelName, ModelTraits};

/// An executor's registration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Executor {
    /// Unique id, usually the pod name.
    pub id: Id,
    /// The model name TF Serving serves it under (what goes into `/v1/models/{name}`).
    pub model_name: ModelName,
    /// A pinned model version, when the executor serves one; `None` means the latest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_version: Option<u64>,
    /// The model's hard traits.
    pub traits: ModelTraits,
    /// Declared accuracy in [0, 1].
    pub accuracy: f64,
    /// Where clients reach TF Serving's REST API.
    pub rest_endpoint: Endpoint,
    /// Where clients reach TF Serving's gRPC API, when exposed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc_endpoint: Option<Endpoint>,
    /// Kubernetes node, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<Id>,
    /// Zone, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<Id>,
    /// Whether TF Serving reports a version of the model `AVAILABLE`.
    pub ready: bool,
    /// What TF Serving's metadata says the serving signature is, once read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<SignatureSummary>,
}

/// A compact summary of a model's serving signature, from TF Serving's `…/metadata`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SignatureSummary {
    /// Signature name (usually `serving_default`).
    pub name: String,
    /// Input tensors.
    pub inputs: Vec<TensorSummary>,
    /// Output tensors.
    pub outputs: Vec<TensorSummary>,
}

/// One tensor of a signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorSummary {
    /// Tensor name (the signature's key).
    pub name: String,
    /// Data type, e.g. `DT_FLOAT`.
    pub dtype: String,
    /// Shape; `-1` for an unknown dimension; `None` for unknown rank.
    pub shape: Option<Vec<i64>>,
}

/// Limits that keep a hostile signature summary small.
const MAX_TENSORS: usize = 64;
const MAX_DIMS: usize = 16;
const MAX_NAME: usize = 256;

// === impl Executor ===

impl Executor {
    /// Checks what the type system does not: accuracy in [0, 1] and a bounded signature.
    pub fn validate(&self) -> Result<(), Error> {
        if !(0.0..=1.0).contains(&self.accuracy) {
            return Err(Error::invalid(
                "accuracy",
                &self.accuracy.to_string(),
                "must be in [0, 1]",
            ));
        }
        if let Some(sig) = &self.signature {
            sig.validate()?;
        }
        Ok(())
    }
}

// === impl SignatureSummary ===

impl SignatureSummary {
    /// Checks sizes so a summary cannot grow without bound.
    pub fn validate(&self) -> Result<(), Error> {
        if self.name.len() > MAX_NAME {
            return Err(Error::invalid("signature.name", &self.name, "too long"));
        }
        for (field, tensors) in [
            ("signature.inputs", &self.inputs),
            ("signature.outputs", &self.outputs),
        ] {
            if tensors.len() > MAX_TENSORS {
                return Err(Error::invalid(
                    field,
                    &tensors.len().to_string(),
                    "too many tensors",
                ));
            }
            for t in tensors {
                if t.name.len() > MAX_NAME || t.dtype.len() > MAX_NAME {
                    return Err(Error::invalid(field, &t.name, "name or dtype too long"));
                }
                if t.shape.as_ref().is_some_and(|s| s.len() > MAX_DIMS) {
                    return Err(Error::invalid(field, &t.name, "too many dimensions"));
                }
            }
        }
        Ok(())
    }
}
