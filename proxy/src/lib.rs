//! mulambda's sidecar proxy: speaks TensorFlow Serving's REST API to the application beside it
//! and sends every request to the best model executor in the catalog.
//!
//! - [`config`]: flags and `MULAMBDA_*` environment, validated at start-up.
//! - [`paths`]: TF Serving REST paths, parsed by slicing and rewritten for the chosen executor.
//! - [`snapshot`]: the catalog snapshot behind an `ArcSwap`, rebuilt off the hot path by a
//!   refresher (change events + polling; fail-static during a store outage).
//! - [`selection`]: which executor serves a request (pure, lock-free, allocation-free).
//! - [`registration`]: the client record under a lease.
//! - [`forward`]: pooled client, timeouts, retry buffer and retry budget.
//! - [`app`]: the application listener; [`admin`]: `/metrics`, `/live`, `/ready`, `/probe`,
//!   `/explain`. Both are served by [`mulambda_runtime::server`] (HTTP/1.1 + HTTP/2, limits,
//!   graceful drain).
//! - [`intercepted`]: application listeners with intercepted mode (both loopback addresses, the
//!   original destination of redirected connections, refusal of unserved ports).
//! - [`header_names`]: parsed `x-mulambda-*` header names; [`metrics`]: the
//!   `mulambda_proxy_*` metrics.
//!
//! Entry points: [`Config::try_parse_from`], then [`Proxy::start`] … [`Proxy::shutdown`] (the
//! proxy is a [`mulambda_runtime::Component`]), or [`run`] which waits for a signal future. See
//! `docs/proxy.md`.
#![forbid(unsafe_code)]

pub mod admin;
pub mod app;
pub mod config;
pub mod forward;
pub mod header_names;
pub mod intercepted;
pub mod metrics;
pub mod paths;
mod proxy;
pub mod registration;
pub mod selection;
pub mod snapshot;

pub use config::Config;
pub use metrics::Metrics;
pub use proxy::{Proxy, ShutdownReport, StartError, run};
