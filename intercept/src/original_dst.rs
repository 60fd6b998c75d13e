//! The original destination of an accepted TCP connection that the init step's NAT redirect
//! sent to the proxy.
//!
//! A `redirect` in the `nat` `output` hook rewrites the destination of a locally generated
//! connection to loopback (127.0.0.1 for IPv4, ::1 for IPv6) and the listener's port; conntrack
//! keeps the address the application dialled. Linux hands it out as a socket option of the
//! accepted socket: `SO_ORIGINAL_DST` at `SOL_IP` for IPv4 (also on an IPv6 socket that accepted
//! an IPv4-mapped connection) and `IP6T_SO_ORIGINAL_DST` at `SOL_IPV6` for IPv6 (both option 80).
//! socket2 wraps both getsockopt calls (its `all` feature), so this crate needs no `unsafe`.
//!
//! A connection that was not redirected has either no conntrack entry (the kernel answers
//! `ENOENT`, or `ENOPROTOOPT` when conntrack is not loaded at all) or one whose original
//! destination is the local address itself; both mean "direct", reported as `None`.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsFd;

use socket2::SockRef;

/// The original destination of a redirected connection, with the listener address it was
/// redirected to. Obtained with [`OriginalDst::of`] on an accepted stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OriginalDst {
    original: SocketAddr,
    local: SocketAddr,
}

// === impl OriginalDst ===

impl OriginalDst {
    /// Reads the original destination of an accepted TCP connection: `Ok(None)` when it was not
    /// redirected (a direct call to the proxy's listener, or no NAT in this network namespace).
    ///
    /// Works on anything that owns a socket: `tokio::net::TcpStream`, `std::net::TcpStream`,
    /// `socket2::Socket`. IPv4-mapped addresses of a dual-stack listener are reported as IPv4.
    ///
    /// One getsockopt and one getsockname: cheap enough per connection, never per request.
    pub fn of<S: AsFd>(stream: &S) -> io::Result<Option<Self>> {
        let socket = SockRef::from(stream);
        let local = ip_addr(socket.local_addr()?)?;
        let original = match local {
            SocketAddr::V4(_) => socket.original_dst_v4(),
            SocketAddr::V6(_) => socket.original_dst_v6(),
        };
        match original {
            Ok(original) => Ok(Self::from_addrs(ip_addr(original)?, local)),
            Err(e) if is_untracked(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// An [`OriginalDst`] from addresses obtained elsewhere: `None` when `original` is `local`
    /// (the connection was not redirected). IPv4-mapped IPv6 addresses compare as IPv4.
    pub fn from_addrs(original: SocketAddr, local: SocketAddr) -> Option<Self> {
        let original = canonical(original);
        let local = canonical(local);
        (original != local).then_some(Self { original, local })
    }

    /// Where the application meant to connect (address and port).
    pub fn addr(&self) -> SocketAddr {
        self.original
    }

    /// The port the application dialled and the rules intercepted (e.g. 8501): the bounded
    /// value to use as a metric label, unlike the address.
    pub fn intercepted_port(&self) -> u16 {
        self.original.port()
    }

    /// The proxy's local address the connection was redirected to (loopback, the listener port).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }
}

impl fmt::Display for OriginalDst {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (redirected to {})", self.original, self.local)
    }
}

/// The socket address of an IP socket, IPv4-mapped addresses as IPv4.
fn ip_addr(addr: socket2::SockAddr) -> io::Result<SocketAddr> {
    addr.as_socket().map(canonical).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "not an IP socket: an original destination exists only for TCP over IPv4/IPv6",
        )
    })
}

fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

/// The kernel's answers for a connection conntrack knows nothing about.
fn is_untracked(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOENT) | Some(libc::ENOPROTOOPT)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn a_direct_loopback_connection_has_no_original_destination() {
        // Whether or not conntrack tracks loopback here, a direct connection is not redirected.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        assert_eq!(OriginalDst::of(&accepted).unwrap(), None);
        assert_eq!(OriginalDst::of(&client).unwrap(), None);
    }

    #[test]
    fn a_direct_ipv6_loopback_connection_has_no_original_destination() {
        let Ok(listener) = TcpListener::bind("[::1]:0") else {
            eprintln!("skipped: no IPv6 loopback on this machine");
            return;
        };
        let _client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        assert_eq!(OriginalDst::of(&accepted).unwrap(), None);
    }

    #[test]
    fn equal_addresses_mean_not_redirected_and_mapped_addresses_compare_as_ipv4() {
        let local: SocketAddr = "[::ffff:127.0.0.1]:18501".parse().unwrap();
        assert_eq!(
            OriginalDst::from_addrs("127.0.0.1:18501".parse().unwrap(), local),
            None
        );
        let dst = OriginalDst::from_addrs("[::ffff:10.1.2.3]:8501".parse().unwrap(), local)
            .expect("redirected");
        assert_eq!(dst.addr(), "10.1.2.3:8501".parse().unwrap());
        assert_eq!(dst.local_addr(), "127.0.0.1:18501".parse().unwrap());
        assert_eq!(dst.intercepted_port(), 8501);
        assert_eq!(
            dst.to_string(),
            "10.1.2.3:8501 (redirected to 127.0.0.1:18501)"
        );
    }
}
