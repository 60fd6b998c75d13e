//! A client: one application pod with its proxy, as the proxy registers it.

use serde::{Deserialize, Serialize};

use crate::{Criteria, Endpoint, Error, Id};

/// A client's registration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Client {
    /// Unique id, usually the pod name.
    pub id: Id,
    /// Where companions reach the proxy's `/probe` (`host:port` of its admin listener).
    pub probe_addr: Endpoint,
    /// What the client wants.
    pub criteria: Criteria,
    /// Kubernetes node, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<Id>,
    /// Zone, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<Id>,
}

// === impl Client ===

impl Client {
    /// Checks the soft criteria's numbers.
    pub fn validate(&self) -> Result<(), Error> {
        self.criteria.soft.validate()
    }
}
