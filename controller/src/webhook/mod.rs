//! The mutating admission webhook that injects the proxy into pods.
//!
//! - [`review`]: the `AdmissionReview` wire types;
//! - [`criteria`]: the pod's `mulambda.io/*` annotations, validated, as proxy environment;
//! - [`sidecar`]: the proxy container (native sidecar or regular container);
//! - [`intercept`]: intercepted mode: `mulambda.io/intercept-ports` and the init container;
//! - [`inject`]: the decision and its JSON Patch;
//! - [`server`]: the HTTPS listener.

pub mod criteria;
pub mod inject;
pub mod intercept;
pub mod review;
pub mod server;
pub mod sidecar;
