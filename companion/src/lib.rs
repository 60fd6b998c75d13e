//! mulambda's companion: runs beside TensorFlow Serving in every executor pod.
//!
//! - [`registration`]: registers the executor (model, traits, endpoints, node, zone) under a
//!   lease; readiness and signature changes are written and announced at once.
//! - [`readiness`]: polls TF Serving's model status; ready only while a version is `AVAILABLE`;
//!   reads the serving signature ([`signature`]) and checks it against the declared formats.
//! - [`probe`], [`round`], [`publish`]: every interval, measures the round-trip time to each
//!   client whose hard criteria match, and publishes all figures of a round in one write.
//! - [`admin`]: `/metrics`, `/live`, `/ready`; [`metrics`]: the `mulambda_companion_*` metrics.
//! - On SIGTERM/SIGINT: deregister at once and remove the latency entries
//!   ([`Companion::shutdown`]).
//!
//! Entry points: [`Config::try_parse_from`] (or [`config::Args`] with clap), then
//! [`Companion::start`] … [`Companion::shutdown`] (a [`mulambda_runtime::Component`]), or
//! [`run`] which waits for a signal future.
#![forbid(unsafe_code)]

pub mod admin;
mod companion;
pub mod config;
pub mod fetch;
pub mod metrics;
pub mod probe;
pub mod publish;
pub mod readiness;
pub mod registration;
pub mod round;
pub mod signature;

pub use companion::{Companion, ShutdownReport, StartError, run};
pub use config::Config;
pub use metrics::Metrics;
pub use probe::ProbeConfig;
