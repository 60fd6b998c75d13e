//! The lab's addresses: a random IPv6 unique local /48 per run (RFC 4193), one /64 on the
//! bridge, and host `i` (in [`Topology::hosts`](crate::Topology) order) at `PREFIX::(i + 1)`.

use std::fmt;
use std::net::Ipv6Addr;

/// A lab's /48, `fdXX:XXXX:XXXX::/48` with 40 random bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LabPrefix {
    /// The first three 16-bit groups.
    pub groups: [u16; 3],
}

impl fmt::Display for LabPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c] = self.groups;
        write!(f, "{a:x}:{b:x}:{c:x}::/48")
    }
}

impl LabPrefix {
    /// A random unique local /48.
    pub fn random() -> LabPrefix {
        let bits: u64 = rand::random::<u64>() & 0xff_ffff_ffff;
        LabPrefix {
            groups: [
                0xfd00 | (bits >> 32) as u16,
                (bits >> 16) as u16,
                bits as u16,
            ],
        }
    }

    /// Parses `a:b:c::/48` as printed by `ip -6 route`.
    pub fn parse(text: &str) -> Option<LabPrefix> {
        let (addr, len) = text.split_once('/')?;
        if len != "48" {
            return None;
        }
        let addr: Ipv6Addr = addr.parse().ok()?;
        let s = addr.segments();
        if s[3..].iter().any(|&g| g != 0) {
            return None;
        }
        Some(LabPrefix {
            groups: [s[0], s[1], s[2]],
        })
    }

    /// The address of host `index` on the lab's bridge subnet (`PREFIX:0::index+1`).
    pub fn host(&self, index: usize) -> Ipv6Addr {
        let [a, b, c] = self.groups;
        let i = index as u64 + 1;
        Ipv6Addr::new(
            a,
            b,
            c,
            0,
            (i >> 48) as u16,
            (i >> 32) as u16,
            (i >> 16) as u16,
            i as u16,
        )
    }

    /// The host index of an address on the lab's bridge subnet.
    pub fn index_of(&self, addr: &[u8; 16]) -> Option<usize> {
        let [a, b, c] = self.groups;
        let head = [
            (a >> 8) as u8,
            a as u8,
            (b >> 8) as u8,
            b as u8,
            (c >> 8) as u8,
            c as u8,
            0,
            0,
        ];
        if addr[..8] != head {
            return None;
        }
        let low = u64::from_be_bytes(addr[8..].try_into().expect("8 bytes"));
        (low as usize).checked_sub(1)
    }

    /// Whether this /48 overlaps a route's destination (`addr/len`), other than the default
    /// route: such a prefix could collide with a network the machine really uses.
    pub fn overlaps(&self, dst: &str) -> bool {
        let Some((addr, len)) = dst.split_once('/').or(Some((dst, "128"))) else {
            return false;
        };
        let (Ok(addr), Ok(len)) = (addr.parse::<Ipv6Addr>(), len.parse::<u32>()) else {
            return false;
        };
        if len == 0 || len > 128 {
            return false;
        }
        let ours = u128::from(self.host(0)) >> 80 << 80;
        let common = len.min(48);
        let mask = if common == 0 {
            0
        } else {
            u128::MAX << (128 - common)
        };
        (ours & mask) == (u128::from(addr) & mask)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_prefixes_are_unique_local() {
        for _ in 0..100 {
            let p = LabPrefix::random();
            assert_eq!(p.groups[0] & 0xff00, 0xfd00);
            assert_eq!(LabPrefix::parse(&p.to_string()), Some(p));
        }
    }

    #[test]
    fn host_addresses_map_back_to_their_index() {
        let p = LabPrefix {
            groups: [0xfd12, 0x3456, 0x789a],
        };
        assert_eq!(p.host(0).to_string(), "fd12:3456:789a::1");
        assert_eq!(p.host(9).to_string(), "fd12:3456:789a::a");
        for i in [0, 1, 7, 999] {
            assert_eq!(p.index_of(&p.host(i).octets()), Some(i));
        }
        let other = LabPrefix {
            groups: [0xfd12, 0x3456, 0x789b],
        };
        assert_eq!(p.index_of(&other.host(0).octets()), None);
        let zero: Ipv6Addr = "fd12:3456:789a::".parse().unwrap();
        assert_eq!(p.index_of(&zero.octets()), None);
        let off_subnet: Ipv6Addr = "fd12:3456:789a:1::1".parse().unwrap();
        assert_eq!(p.index_of(&off_subnet.octets()), None);
    }

    #[test]
    fn overlap_detects_routes_inside_and_around_the_prefix() {
        let p = LabPrefix {
            groups: [0xfd00, 0, 0],
        };
        assert!(p.overlaps("fd00::/64"));
        assert!(p.overlaps("fd00::2"));
        assert!(p.overlaps("fc00::/7"));
        assert!(!p.overlaps("default"));
        assert!(!p.overlaps("::/0"));
        assert!(!p.overlaps("fe80::/64"));
        assert!(!p.overlaps("fd00:0:1::/48"));
    }
}
