//! The lab's error type.

use std::io;

use crate::state::Leftovers;
use crate::topology::TopologyError;

/// Everything that can go wrong building, using or tearing down a lab.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not running as root.
    #[error(
        "mulambda-netlab needs root to create network namespaces, veth pairs and TUN devices \
         (running as uid {uid}); run it as root, e.g. with sudo"
    )]
    NotRoot {
        /// The effective user id.
        uid: u32,
    },
    /// The topology was refused.
    #[error(transparent)]
    Topology(#[from] TopologyError),
    /// A previous run left namespaces, routes or lock files behind.
    #[error("{0}")]
    Leftovers(Leftovers),
    /// An `ip` (or other) command failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// The command line.
        command: String,
        /// Its exit status.
        status: String,
        /// What it printed on stderr.
        stderr: String,
    },
    /// A system call or file operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: io::Error,
    },
    /// The build was cancelled (Ctrl-C or SIGTERM while it ran).
    #[error("cancelled by a signal while building the lab")]
    Cancelled,
    /// No host of that name.
    #[error("no host {name:?} in this lab (hosts: {known})")]
    UnknownHost {
        /// The name asked for.
        name: String,
        /// The lab's hosts.
        known: String,
    },
    /// The two hosts are not a (client, node) pair.
    #[error("{client:?} ↔ {node:?} is not a delayed link: links join a client and a node")]
    NotALink {
        /// The client asked for.
        client: String,
        /// The node asked for.
        node: String,
    },
    /// The lab was already torn down.
    #[error("the lab was already torn down")]
    TornDown,
    /// Teardown could not remove everything; each entry says what is left and why.
    #[error("teardown left things behind (remove them with `{command}`): {}", problems.join("; "))]
    Teardown {
        /// What went wrong.
        problems: Vec<String>,
        /// The command that removes what is left.
        command: String,
    },
}

// === impl Error ===

impl Error {
    /// Wraps an I/O error with what was being done.
    pub fn io(what: impl Into<String>, source: impl Into<io::Error>) -> Error {
        Error::Io {
            what: what.into(),
            source: source.into(),
        }
    }
}
