//! Which original destination ports a proxy listener serves, and the refusal of the others.
//!
//! A NAT redirect carries no protocol: if the init step and the proxy disagree (a port
//! redirected to the REST listener that the proxy does not know, or gRPC's 8500 sent to the REST
//! listener), the proxy would otherwise forward bytes of one protocol as another. The proxy
//! checks every redirected connection against the ports it serves on that listener and refuses
//! the rest with [`NotServed`], which says what happened.

use std::fmt;
use std::net::SocketAddr;

use crate::original_dst::OriginalDst;

/// A small set of TCP ports (ascending, each once). Checked once per accepted connection; a
/// listener serves a handful of ports, so a sorted vector beats a hash set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ServedPorts {
    sorted: Vec<u16>,
}

/// A redirected connection whose original destination port is not served by the listener that
/// accepted it. Its message is meant for the application's error response and the proxy's log.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "connection to {original_dst} was redirected to this proxy, which serves TF Serving port(s) \
     {served} here, not {port}: refused rather than forwarded in the wrong protocol (the init \
     step's --redirect and the proxy's ports disagree)",
    port = original_dst.port()
)]
pub struct NotServed {
    /// Where the application meant to connect.
    pub original_dst: SocketAddr,
    /// What the listener serves.
    pub served: ServedPorts,
}

// === impl ServedPorts ===

impl ServedPorts {
    /// The ports, in any order, repetitions allowed.
    pub fn new(ports: impl IntoIterator<Item = u16>) -> Self {
        let mut sorted: Vec<u16> = ports.into_iter().collect();
        sorted.sort_unstable();
        sorted.dedup();
        Self { sorted }
    }

    /// Whether `port` is served.
    pub fn contains(&self, port: u16) -> bool {
        self.sorted.binary_search(&port).is_ok()
    }

    /// True when no port is served.
    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }

    /// The ports, ascending.
    pub fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        self.sorted.iter().copied()
    }

    /// Admits a redirected connection when its original destination port is served; a direct
    /// connection (no [`OriginalDst`]) needs no check.
    pub fn admit(&self, original_dst: &OriginalDst) -> Result<(), NotServed> {
        if self.contains(original_dst.intercepted_port()) {
            Ok(())
        } else {
            Err(NotServed {
                original_dst: original_dst.addr(),
                served: self.clone(),
            })
        }
    }
}

impl FromIterator<u16> for ServedPorts {
    fn from_iter<T: IntoIterator<Item = u16>>(iter: T) -> Self {
        Self::new(iter)
    }
}

impl fmt::Display for ServedPorts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.sorted.is_empty() {
            return f.write_str("none");
        }
        for (i, p) in self.sorted.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redirected(original: &str, local: &str) -> OriginalDst {
        OriginalDst::from_addrs(original.parse().unwrap(), local.parse().unwrap())
            .expect("a redirected connection")
    }

    #[test]
    fn a_connection_redirected_from_a_served_port_is_admitted() {
        let served = ServedPorts::new([8501, 8080]);
        assert_eq!(
            served.admit(&redirected("10.0.0.7:8501", "127.0.0.1:18501")),
            Ok(())
        );
        assert_eq!(
            served.admit(&redirected("[fd00::7]:8080", "[::1]:18501")),
            Ok(())
        );
    }

    #[test]
    fn a_connection_redirected_from_another_port_is_refused_with_both_ports_named() {
        let served = ServedPorts::new([8501]);
        let err = served
            .admit(&redirected("10.0.0.7:8500", "127.0.0.1:18501"))
            .unwrap_err();
        assert_eq!(err.original_dst, "10.0.0.7:8500".parse().unwrap());
        let msg = err.to_string();
        assert!(msg.contains("10.0.0.7:8500"), "{msg}");
        assert!(
            msg.contains("serves TF Serving port(s) 8501 here, not 8500"),
            "{msg}"
        );
    }

    #[test]
    fn ports_are_kept_ascending_and_once() {
        let served: ServedPorts = [8501, 8500, 8501].into_iter().collect();
        assert_eq!(served.iter().collect::<Vec<_>>(), [8500, 8501]);
        assert_eq!(served.to_string(), "8500, 8501");
        assert_eq!(ServedPorts::default().to_string(), "none");
    }
}
