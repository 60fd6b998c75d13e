//! mulambda's Kubernetes controller.
//!
//! - [`webhook`]: the mutating admission webhook (HTTPS, rustls) that injects the mulambda proxy
//!   into pods that opt in, with their criteria from `mulambda.io/*` annotations;
//! - [`crd`]: the `ModelExecutor` custom resource;
//! - [`executor`]: its reconciler, which applies an owned Deployment (TF Serving + companion)
//!   and Service and writes the status;
//! - [`leader`]: the Lease that elects the replica that runs the reconciler;
//! - [`tls`]: the webhook certificate, reloaded when its files change;
//! - [`admin`], [`metrics`]: `/metrics`, `/live`, `/ready`;
//! - [`config`], [`run`]: command line and wiring.
//!
//! See `docs/controller.md`.
#![forbid(unsafe_code)]

pub mod admin;
pub mod config;
pub mod crd;
pub mod executor;
pub mod leader;
pub mod metrics;
pub mod podspec;
pub mod run;
pub mod tls;
pub mod webhook;
pub mod well_known;

pub use config::{Config, Invocation};
pub use crd::{ModelExecutor, ModelExecutorSpec, ModelExecutorStatus, crd_yaml};
