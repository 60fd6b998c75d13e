//! How a lab names what it creates, so leftovers of any run are recognisable.
//!
//! Every lab has a random [`LabId`]; its namespaces are `PREFIX-LABID` (the hub, holding the
//! bridge) and `PREFIX-LABID-HOST` (one per host). The prefix is `mlnl` unless a caller (a test
//! that must not disturb other labs) picks another.

use std::fmt;

/// The naming prefix of the lab's namespaces unless one is given.
pub const DEFAULT_PREFIX: &str = "mlnl";

/// Environment variable that sets the naming prefix of the `mulambda-netlab` binary.
pub const ENV_PREFIX: &str = "MULAMBDA_NETLAB_PREFIX";

/// Environment variable that sets the directory of the labs' lock files.
pub const ENV_STATE_DIR: &str = "MULAMBDA_NETLAB_STATE_DIR";

/// Environment variable that sets the emulator thread's real-time priority in the binary.
pub const ENV_EMULATOR_PRIORITY: &str = "MULAMBDA_NETLAB_EMULATOR_PRIORITY";

/// Where lock files live unless [`ENV_STATE_DIR`] says otherwise: a tmpfs, so a reboot (which
/// also removes every namespace) forgets them too.
pub const DEFAULT_STATE_DIR: &str = "/run/mulambda-netlab";

/// Interface names inside a lab's namespaces (local to each namespace, so they never clash).
pub mod iface {
    /// A host's end of its veth pair, on the lab's bridge.
    pub const VETH: &str = "lab0";
    /// A host's TUN device, the entry and exit of its delayed links.
    pub const TUN: &str = "tun0";
    /// The bridge, in the hub namespace.
    pub const BRIDGE: &str = "br0";
}

/// A lab run's random identity: 8 lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LabId(pub u32);

impl fmt::Display for LabId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

impl LabId {
    /// A fresh random id.
    pub fn random() -> LabId {
        LabId(rand::random())
    }

    /// Parses 8 lowercase hex digits.
    pub fn parse(text: &str) -> Option<LabId> {
        if text.len() == 8
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            u32::from_str_radix(text, 16).ok().map(LabId)
        } else {
            None
        }
    }
}

/// The naming scheme of one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Naming {
    prefix: String,
}

/// A naming prefix that was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid lab name prefix {0:?} (--prefix / {ENV_PREFIX}): 1 to 8 lowercase letters or digits, starting with a letter"
)]
pub struct PrefixError(pub String);

impl Default for Naming {
    fn default() -> Naming {
        Naming {
            prefix: DEFAULT_PREFIX.into(),
        }
    }
}

impl Naming {
    /// A naming scheme with this prefix.
    pub fn new(prefix: &str) -> Result<Naming, PrefixError> {
        let ok = (1..=8).contains(&prefix.len())
            && prefix.starts_with(|c: char| c.is_ascii_lowercase())
            && prefix
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if ok {
            Ok(Naming {
                prefix: prefix.into(),
            })
        } else {
            Err(PrefixError(prefix.into()))
        }
    }

    /// The prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The hub namespace of a lab (holds the bridge).
    pub fn hub(&self, id: LabId) -> String {
        format!("{}-{id}", self.prefix)
    }

    /// The namespace of one host of a lab.
    pub fn host(&self, id: LabId, host: &str) -> String {
        format!("{}-{id}-{host}", self.prefix)
    }

    /// The lock file name of a lab.
    pub fn lock_file(&self, id: LabId) -> String {
        format!("{}-{id}.lock", self.prefix)
    }

    /// The lab a namespace belongs to, if it is named by this scheme.
    pub fn lab_of_namespace(&self, ns: &str) -> Option<LabId> {
        let rest = ns.strip_prefix(&self.prefix)?.strip_prefix('-')?;
        let (id, tail) = rest.split_at_checked(8)?;
        if tail.is_empty() || tail.starts_with('-') {
            LabId::parse(id)
        } else {
            None
        }
    }

    /// The lab a lock file belongs to, if it is named by this scheme.
    pub fn lab_of_lock_file(&self, file: &str) -> Option<LabId> {
        let rest = file.strip_prefix(&self.prefix)?.strip_prefix('-')?;
        LabId::parse(rest.strip_suffix(".lock")?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_names_map_back_to_their_lab() {
        let n = Naming::default();
        let id = LabId(0x00ab_cdef);
        assert_eq!(n.hub(id), "mlnl-00abcdef");
        assert_eq!(n.host(id, "node0"), "mlnl-00abcdef-node0");
        assert_eq!(n.lab_of_namespace(&n.hub(id)), Some(id));
        assert_eq!(n.lab_of_namespace(&n.host(id, "client-1")), Some(id));
        assert_eq!(n.lab_of_lock_file(&n.lock_file(id)), Some(id));
    }

    #[test]
    fn foreign_names_are_not_ours() {
        let n = Naming::default();
        for other in [
            "mlnl",
            "mlnl-",
            "mlnl-xyz",
            "mlnl-00abcdefg",
            "mlnlx-00abcdef",
            "other-00abcdef",
            "mlnl-00ABCDEF",
        ] {
            assert_eq!(n.lab_of_namespace(other), None, "{other}");
        }
        let t = Naming::new("mlnt").unwrap();
        assert_eq!(t.lab_of_namespace("mlnl-00abcdef"), None);
    }

    #[test]
    fn prefixes_are_checked() {
        for bad in ["", "Mlnl", "1ab", "a-b", "toolongprefix"] {
            assert!(Naming::new(bad).is_err(), "{bad}");
        }
        assert!(Naming::new("t1").is_ok());
    }
}
