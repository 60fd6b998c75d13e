//! The process's effective capabilities, read from `/proc/self/status` (`CapEff`).
//!
//! Checked before running nft so that the most common mistake in a pod spec (an init container
//! without `NET_ADMIN`) gets a message that says exactly that, instead of nft's "Operation not
//! permitted (you must be root)", which is misleading in a container where the user *is* root.

use std::fmt;
use std::io;

/// Bit of `CAP_NET_ADMIN` (linux/capability.h): the only capability nftables needs.
pub const CAP_NET_ADMIN: u32 = 12;

/// The capabilities the init container needs, as a pod's `securityContext.capabilities.add`
/// names them: NET_ADMIN only (nft speaks netlink; NET_RAW, which iptables-based init
/// containers add, is not needed — tested).
pub const REQUIRED_CAPABILITIES: &[&str] = &["NET_ADMIN"];

/// A capability set as the kernel prints it in `/proc/<pid>/status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities(u64);

// === impl Capabilities ===

impl Capabilities {
    /// The effective capabilities of this process.
    pub fn effective() -> io::Result<Self> {
        let status = std::fs::read_to_string("/proc/self/status")?;
        Self::from_status(&status).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "/proc/self/status has no readable CapEff line",
            )
        })
    }

    /// The `CapEff` set of a `/proc/<pid>/status` text.
    pub fn from_status(status: &str) -> Option<Self> {
        status
            .lines()
            .find_map(|line| line.strip_prefix("CapEff:"))
            .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
            .map(Self)
    }

    /// Whether capability number `bit` is in the set.
    pub fn has(&self, bit: u32) -> bool {
        bit < 64 && self.0 & (1 << bit) != 0
    }

    /// Whether `CAP_NET_ADMIN` is in the set.
    pub fn net_admin(&self) -> bool {
        self.has(CAP_NET_ADMIN)
    }
}

impl fmt::Display for Capabilities {
    /// The kernel's own format: 16 hex digits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Name:\tcat\nUid:\t0\t0\t0\t0\nCapInh:\t0000000000000000\n\
                          CapPrm:\t000001fffeffffff\nCapEff:\t000001fffeffefff\n\
                          CapBnd:\t000001fffeffffff\n";

    #[test]
    fn the_effective_set_is_read_from_the_capeff_line() {
        let caps = Capabilities::from_status(STATUS).unwrap();
        assert_eq!(caps.to_string(), "000001fffeffefff");
        // 0x...efff: bit 12 cleared, the set `setpriv --bounding-set=-net_admin` leaves root.
        assert!(!caps.net_admin());
        assert!(caps.has(CAP_NET_ADMIN - 1));
    }

    #[test]
    fn only_net_admin_is_enough() {
        let caps = Capabilities::from_status("CapEff:\t0000000000001000\n").unwrap();
        assert!(caps.net_admin());
        assert!(!caps.has(13), "CAP_NET_RAW is not needed and not present");
    }

    #[test]
    fn a_status_without_capeff_is_not_guessed() {
        assert_eq!(Capabilities::from_status("Name:\tx\n"), None);
        assert_eq!(Capabilities::from_status("CapEff:\tzz\n"), None);
    }

    #[test]
    fn this_process_has_a_readable_effective_set() {
        Capabilities::effective().expect("Linux exposes CapEff");
    }
}
