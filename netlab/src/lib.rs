//! mulambda's network lab: the hosts of an evaluation as network namespaces on one machine,
//! with real one-way delay between clients and nodes.
//!
//! - [`topology`]: the topology file (hosts, per-(client, node) delay, jitter, timed steps).
//! - [`Lab`]: builds it (namespaces, a bridge in a hub namespace, veth pairs, IPv6 ULA
//!   addresses from a random /48 with an `unreachable` guard route in the host namespace, a TUN
//!   device per delayed host), starts processes inside hosts ([`Lab::spawn`],
//!   [`Lab::thread_in`]), changes delays at run time ([`Lab::set_delay`]) and tears everything
//!   down again — on drop, on error, and (in the binary) on Ctrl-C and SIGTERM.
//! - [`emulator`]: the user-space link emulator (this kernel has no `netem`).
//! - [`state`]: running labs, leftovers of dead ones, `down`.
//! - [`measure`]: the emulator's delay accuracy, measured with timestamped UDP packets.
//!
//! See `docs/netlab.md`.
#![forbid(unsafe_code)]

pub mod addr;
pub mod clock;
mod cmd;
pub mod emulator;
mod error;
mod lab;
pub mod measure;
pub mod names;
pub mod netns;
pub mod privilege;
mod process;
pub mod state;
pub mod topology;

pub use addr::LabPrefix;
pub use emulator::EmulatorStats;
pub use error::Error;
pub use lab::{HostInfo, Lab, LabOptions};
pub use names::{LabId, Naming};
pub use process::{ENV_ADDR, ENV_HOST, LabCommand, LabProcess, Output};
pub use topology::{Delay, Host, Link, Role, Step, Topology, TopologyError, TopologySpec};
