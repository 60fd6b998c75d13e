//! mulambda-loadtest: the instrument that shows mulambda working and measures it.
//!
//! - [`sim`]: a TensorFlow Serving REST simulator (executors with configurable service time and
//!   faults), usable in-process and as `mulambda-loadtest sim`.
//! - [`run`]: an open-loop load generator with coordinated-omission-free latency in HDR
//!   histograms, usable in-process ([`run::run_load`]) and as `mulambda-loadtest run`.
//! - [`bench`]: `bench overhead`, the proxy's added latency against direct calls, nginx and
//!   haproxy, measured side by side.
//! - [`eval`]: the evaluation's definitions: utility, the oracle, the prototype's weighted
//!   selector.
//! - [`demo`]: the local stack (store, executors with companions, two proxies) showing selection
//!   and failover, with a report and a plot.
#![forbid(unsafe_code)]

pub mod bench;
pub mod demo;
pub mod eval;
pub mod run;
pub mod sim;
pub mod util;
