//! mulambda's process plumbing, shared by the proxy, the companion and the controller:
//!
//! - [`server`]: one HTTP server for every listener, with a connection cap, bounded header
//!   memory and time, hyper's own error answers in JSON, and a graceful drain;
//! - [`options`]: typed command-line options — value parsers, shared option groups
//!   ([`StoreArgs`], [`LeaseArgs`], [`PodArgs`], [`TraitArgs`], [`LogArgs`]) and one
//!   [`OptionError`] that names the flag, its `MULAMBDA_*` variable and the refused value;
//! - [`component`]: one way to start a binary ([`Component`], [`run`], [`main`]);
//! - [`signal`], [`logging`]: SIGTERM/SIGINT and the tracing subscriber;
//! - [`response`]: errors in TF Serving's `{"error": "..."}` shape, JSON and text bodies.
#![forbid(unsafe_code)]

pub mod component;
pub mod logging;
pub mod options;
pub mod response;
pub mod server;
pub mod signal;

pub use component::{Component, Threads, main, run};
pub use options::{
    LeaseArgs, LogArgs, OptionError, PodArgs, StoreArgs, TraitArgs, parse, parse_args,
};
pub use server::{Handshake, Limits, Listener, Peer};
