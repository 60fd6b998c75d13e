//! The two facts the emulator reads from a packet: its IPv6 source and destination.

/// Length of the fixed IPv6 header.
pub const IPV6_HEADER: usize = 40;

/// The (source, destination) addresses of an IPv6 packet, or `None` for anything else
/// (too short, IPv4, garbage).
pub fn ipv6_endpoints(packet: &[u8]) -> Option<(&[u8; 16], &[u8; 16])> {
    if packet.len() < IPV6_HEADER || packet[0] >> 4 != 6 {
        return None;
    }
    let src = packet[8..24].try_into().ok()?;
    let dst = packet[24..40].try_into().ok()?;
    Some((src, dst))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_come_from_the_fixed_header() {
        let mut p = [0u8; 48];
        p[0] = 0x60;
        p[8..24].copy_from_slice(&[1; 16]);
        p[24..40].copy_from_slice(&[2; 16]);
        let (s, d) = ipv6_endpoints(&p).unwrap();
        assert_eq!(s, &[1; 16]);
        assert_eq!(d, &[2; 16]);
    }

    #[test]
    fn short_and_ipv4_packets_are_not_read() {
        assert!(ipv6_endpoints(&[0x60; 39]).is_none());
        let mut v4 = [0u8; 60];
        v4[0] = 0x45;
        assert!(ipv6_endpoints(&v4).is_none());
    }
}
