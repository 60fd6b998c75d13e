//! A TensorFlow Serving simulator: executors that answer like TF Serving for the
//! `half_plus_two` test model, over REST and (optionally) TF Serving's gRPC API, with
//! configurable service time and injectable faults shared by both.
//!
//! One process can run several executors, each on its own port ([`SimServer::start`] per
//! executor, or [`SimFleet::start`] for many). Tests and the demo control them in-process
//! through the handle; out-of-process scripts use the control endpoint on the same port
//! (`GET /-/sim/state`, `POST /-/sim/fault`, `POST /-/sim/timing`, `POST /-/sim/available`).
//! See `docs/simulator.md` for what of TF Serving's API is covered.

mod config;
mod error;
mod fleet;
mod grpc;
pub mod half_plus_two;
mod infer;
pub mod json;
pub mod model;
pub mod route;
mod server;
mod service;
mod state;
mod status;

pub use config::{ConfigError, Fault, FaultKind, ServiceTime, SimConfig};
pub use error::ApiError;
pub use fleet::SimFleet;
pub use server::{SHUTDOWN_GRACE, SimError, SimServer};
pub use service::MAX_BODY_BYTES;
pub use state::SimStats;
