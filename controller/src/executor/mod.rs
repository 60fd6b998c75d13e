//! `ModelExecutor` reconciliation: validate the spec ([`validate`]), build the owned
//! Deployment and Service ([`resources`], the model server per [`runtime`]), apply them and write the status ([`status`],
//! [`reconcile`]).

pub mod reconcile;
pub mod resources;
pub mod runtime;
pub mod status;
pub mod validate;
