//! Transparent interception for mulambda: an unmodified application's TF Serving calls
//! (`http://tf-serving.models:8501/...`, gRPC on `:8500`) reach the proxy through a NAT
//! redirect in the pod's network namespace, and the proxy recovers where they were going.
//!
//! Two halves, used by different processes:
//!
//! - **The init step** (the `mulambda-intercept` binary; [`cli`], [`init`], [`rules`], [`nft`],
//!   [`caps`]): installs, in one nftables transaction, an `inet` table with a `nat` `output`
//!   chain that redirects outbound TCP to the TF Serving ports to the proxy's listener ports,
//!   except the proxy UID's own traffic. [`Rules::table`] renders the rules for documentation
//!   (the webhook can show them) exactly as `nft list` prints them.
//! - **The proxy side** ([`OriginalDst`], [`ServedPorts`], [`Redirects::served_by`]): reads the
//!   original destination of an accepted connection (`None` for a direct one) and refuses a
//!   connection redirected from a port the listener does not serve.
//!
//! ```
//! use mulambda_intercept::{OriginalDst, Redirects};
//!
//! # fn handle(stream: std::net::TcpStream) -> std::io::Result<()> {
//! let redirects = Redirects::default(); // 8500=18500, 8501=18501
//! let rest_ports = redirects.served_by(18501); // {8501}
//! match OriginalDst::of(&stream)? {
//!     None => { /* direct call to the listener: localhost mode */ }
//!     Some(dst) => match rest_ports.admit(&dst) {
//!         Ok(()) => { /* serve; log dst.addr(), label metrics with dst.intercepted_port() */ }
//!         Err(refused) => { /* answer with `refused` as the error and close */ }
//!     },
//! }
//! # Ok(()) }
//! ```
//!
//! Documented in `docs/interception.md`.
#![forbid(unsafe_code)]

pub mod caps;
pub mod cli;
pub mod init;
pub mod nft;
mod original_dst;
mod redirect;
pub mod rules;
mod served;

pub use original_dst::OriginalDst;
pub use redirect::{
    DEFAULT_PROXY_GRPC_PORT, DEFAULT_PROXY_REST_PORT, DEFAULT_REDIRECTS, Redirect, RedirectError,
    Redirects, TF_SERVING_GRPC_PORT, TF_SERVING_REST_PORT,
};
pub use rules::{DEFAULT_PROXY_UID, Rules, RulesError};
pub use served::{NotServed, ServedPorts};
