//! mulambda's companion: runs beside TensorFlow Serving in every executor pod.
//!
//! - [`registration`]: registers the executor (model, traits, endpoints, node, zone) under a
//!   lease; readiness and signature changes are written and announced at once.
//! - [`readiness`]: polls TF Serving's model status; ready only while a version is `AVAILABLE`;
//!   reads the serving signature ([`signature`]) and checks it against the declared formats.
//! - [`probe`], [`round`], [`publish`]: every interval, measures the round-trip time to each
//!   client whose hard criteria match, and publishes all figures of a round in one write.
//! - [`admin`]: `/metrics`, `/live`, `/ready`; [`metrics`]: the `mulambda_companion_*` metrics.
//! - [`shutdown`]: on SIGTERM/SIGINT, deregister at once and remove the latency entries.
//!
//! Entry points: [`Config::try_parse_from`] (or [`config::Args`] with clap), then
//! [`Companion::start`] … [`Companion::shutdown`], or [`run`] which waits for a signal.
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
pub mod shutdown;
pub mod signature;

pub use companion::{Companion, StartError, run, run_until};
pub use config::{Config, ConfigError, ProbeConfig};
pub use metrics::Metrics;
pub use shutdown::ShutdownReport;
