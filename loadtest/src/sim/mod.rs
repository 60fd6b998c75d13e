//! A TensorFlow Serving simulator: executors that answer like TF Serving for the
//! `half_plus_two` test model, over REST and (optionally) TF Serving's gRPC API, with
//! configurable service time and injectable faults shared by both.
//!
//! One process can run several executors, each on its own port ([`SimServer::start`] per
//! executor, or [`SimFleet::start`] for many). Tests and the demo control them in-process
//! through the handle; out-of-process scripts use the control endpoint on the same port
//! (`GET /-/sim/state`, `GET /-/sim/inflight`, `POST /-/sim/fault`, `POST /-/sim/timing`,
//! `POST /-/sim/available`), also served on an optional Unix socket.
//!
//! Executors can take the original prototype's model profiles ([`Profile`]): a service time
//! `D + n·α + k·β + U(0, J)` and a per-request confidence reported with every answer
//! ([`CONFIDENCE_HEADER`]).
//! See `docs/simulator.md` for what of TF Serving's API is covered.

mod config;
pub mod draw;
mod error;
mod fleet;
mod grpc;
pub mod half_plus_two;
mod infer;
pub mod json;
pub mod model;
pub mod profile;
pub mod route;
mod server;
mod service;
mod state;
mod status;

pub use config::{ConfigError, Fault, FaultKind, ServiceTime, SimConfig};
pub use error::ApiError;
pub use fleet::SimFleet;
pub use profile::{Confidence, Profile, REFERENCE_PROFILES};
pub use server::{SHUTDOWN_GRACE, SimError, SimServer};
pub use service::MAX_BODY_BYTES;
pub use state::SimStats;

/// Response header (REST) and response metadata key (gRPC) carrying the confidence of an
/// answer, when the executor has a confidence model.
pub const CONFIDENCE_HEADER: &str = "x-mulambda-confidence";
