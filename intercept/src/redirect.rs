//! The port mapping: which TF Serving ports are redirected to which of the proxy's listener ports.
//!
//! The same mapping serves both sides: the init step renders it into nftables rules, and the
//! proxy derives from it which original ports each of its listeners serves
//! ([`Redirects::served_by`]), so that a connection redirected to the wrong listener is refused
//! instead of being forwarded in the wrong protocol.

use std::fmt;
use std::str::FromStr;

use crate::served::ServedPorts;

/// TF Serving's gRPC port.
pub const TF_SERVING_GRPC_PORT: u16 = 8500;
/// TF Serving's REST port.
pub const TF_SERVING_REST_PORT: u16 = 8501;
/// The proxy's default REST listener port in intercepted mode (TF Serving's port + 10000, so
/// that neither a TF Serving in the same pod nor another mesh's capture port collides with it).
pub const DEFAULT_PROXY_REST_PORT: u16 = 18501;
/// The proxy's default gRPC listener port in intercepted mode.
pub const DEFAULT_PROXY_GRPC_PORT: u16 = 18500;
/// The default mapping, in the `--redirect` syntax.
pub const DEFAULT_REDIRECTS: &str = "8501=18501,8500=18500";

/// One redirect: outbound TCP to `tf_port` (any address) goes to `proxy_port` on loopback.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Redirect {
    tf_port: u16,
    proxy_port: u16,
}

/// A refused redirect or set of redirects. The binary adds the flag and variable names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedirectError {
    /// Not `TF_PORT=PROXY_PORT`.
    #[error("`{0}` is not TF_PORT=PROXY_PORT (e.g. 8501=18501)")]
    Syntax(String),
    /// A port outside 1..=65535.
    #[error("`{0}` is not a port (1-65535)")]
    Port(String),
    /// No redirect at all: the init step would install a table that does nothing.
    #[error("no redirect given: name at least one TF_PORT=PROXY_PORT")]
    Empty,
    /// One TF Serving port sent to two proxy ports: ambiguous.
    #[error("TF Serving port {tf_port} is redirected twice (to {first} and to {second})")]
    Duplicate {
        /// The TF Serving port named twice.
        tf_port: u16,
        /// Its first proxy port.
        first: u16,
        /// Its second proxy port.
        second: u16,
    },
    /// A proxy port that is also a redirected TF Serving port of another redirect. The rules
    /// leave loopback traffic to proxy ports alone, so an application's `localhost:<that port>`
    /// call would silently skip its own redirect.
    #[error(
        "proxy port {proxy_port} is also redirected itself (to {other}); a proxy port may equal \
         only its own TF Serving port"
    )]
    ProxyPortRedirected {
        /// The proxy port.
        proxy_port: u16,
        /// Where that port is redirected to.
        other: u16,
    },
}

// === impl Redirect ===

impl Redirect {
    /// A redirect of `tf_port` to `proxy_port`; both must be non-zero.
    pub fn new(tf_port: u16, proxy_port: u16) -> Result<Self, RedirectError> {
        if tf_port == 0 {
            return Err(RedirectError::Port(tf_port.to_string()));
        }
        if proxy_port == 0 {
            return Err(RedirectError::Port(proxy_port.to_string()));
        }
        Ok(Self {
            tf_port,
            proxy_port,
        })
    }

    /// The TF Serving port whose outbound connections are redirected.
    pub fn tf_port(&self) -> u16 {
        self.tf_port
    }

    /// The proxy's listener port they are redirected to (on 127.0.0.1 or ::1).
    pub fn proxy_port(&self) -> u16 {
        self.proxy_port
    }
}

impl FromStr for Redirect {
    type Err = RedirectError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (tf, proxy) = s
            .trim()
            .split_once('=')
            .ok_or_else(|| RedirectError::Syntax(s.to_owned()))?;
        let port = |p: &str| {
            p.trim()
                .parse::<u16>()
                .map_err(|_| RedirectError::Port(p.trim().to_owned()))
        };
        Self::new(port(tf)?, port(proxy)?)
    }
}

impl fmt::Display for Redirect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.tf_port, self.proxy_port)
    }
}

/// A validated, non-empty set of redirects, ordered by TF Serving port (so the rendered rules do
/// not depend on the order of the flags, and installing the same mapping twice is a no-op).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redirects {
    sorted: Vec<Redirect>,
}

// === impl Redirects ===

impl Redirects {
    /// Validates a set of redirects: at least one, each TF Serving port once, and no proxy port
    /// that is another redirect's TF Serving port.
    pub fn new(redirects: impl IntoIterator<Item = Redirect>) -> Result<Self, RedirectError> {
        let mut sorted: Vec<Redirect> = redirects.into_iter().collect();
        sorted.sort();
        sorted.dedup();
        if sorted.is_empty() {
            return Err(RedirectError::Empty);
        }
        for pair in sorted.windows(2) {
            if pair[0].tf_port == pair[1].tf_port {
                return Err(RedirectError::Duplicate {
                    tf_port: pair[0].tf_port,
                    first: pair[0].proxy_port,
                    second: pair[1].proxy_port,
                });
            }
        }
        for r in &sorted {
            if let Some(other) = sorted
                .iter()
                .find(|o| o.tf_port == r.proxy_port && o.tf_port != r.tf_port)
            {
                return Err(RedirectError::ProxyPortRedirected {
                    proxy_port: r.proxy_port,
                    other: other.proxy_port,
                });
            }
        }
        Ok(Self { sorted })
    }

    /// Parses the `--redirect` syntax: `TF_PORT=PROXY_PORT` items separated by commas.
    pub fn parse(list: &str) -> Result<Self, RedirectError> {
        Self::new(
            list.split(',')
                .filter(|s| !s.trim().is_empty())
                .map(str::parse)
                .collect::<Result<Vec<Redirect>, _>>()?,
        )
    }

    /// The redirects, ordered by TF Serving port.
    pub fn iter(&self) -> impl Iterator<Item = &Redirect> {
        self.sorted.iter()
    }

    /// The proxy's listener ports, ascending, each once.
    pub fn proxy_ports(&self) -> Vec<u16> {
        let mut ports: Vec<u16> = self.sorted.iter().map(|r| r.proxy_port).collect();
        ports.sort_unstable();
        ports.dedup();
        ports
    }

    /// The TF Serving ports a listener on `proxy_port` receives redirected connections for: what
    /// the proxy should accept as an original destination port on that listener.
    pub fn served_by(&self, proxy_port: u16) -> ServedPorts {
        self.sorted
            .iter()
            .filter(|r| r.proxy_port == proxy_port)
            .map(|r| r.tf_port)
            .collect()
    }
}

impl Default for Redirects {
    /// TF Serving REST 8501 → 18501 and gRPC 8500 → 18500.
    fn default() -> Self {
        Self {
            sorted: vec![
                Redirect {
                    tf_port: TF_SERVING_GRPC_PORT,
                    proxy_port: DEFAULT_PROXY_GRPC_PORT,
                },
                Redirect {
                    tf_port: TF_SERVING_REST_PORT,
                    proxy_port: DEFAULT_PROXY_REST_PORT,
                },
            ],
        }
    }
}

impl fmt::Display for Redirects {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.sorted.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_mapping_is_the_documented_one() {
        assert_eq!(
            Redirects::parse(DEFAULT_REDIRECTS),
            Ok(Redirects::default())
        );
        assert_eq!(Redirects::default().to_string(), "8500=18500,8501=18501");
    }

    #[test]
    fn a_redirect_parses_with_spaces_and_refuses_bad_ports() {
        assert_eq!(" 8501 = 18501 ".parse(), Redirect::new(8501, 18501));
        assert_eq!(
            "8501".parse::<Redirect>(),
            Err(RedirectError::Syntax("8501".into()))
        );
        assert_eq!(
            "8501=x".parse::<Redirect>(),
            Err(RedirectError::Port("x".into()))
        );
        assert_eq!(
            "0=18501".parse::<Redirect>(),
            Err(RedirectError::Port("0".into()))
        );
        assert_eq!(
            "8501=65536".parse::<Redirect>(),
            Err(RedirectError::Port("65536".into()))
        );
    }

    #[test]
    fn order_and_repetition_of_the_flags_do_not_change_the_mapping() {
        let a = Redirects::parse("8501=18501,8500=18500").unwrap();
        let b = Redirects::parse("8500=18500,8501=18501,8500=18500").unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn one_tf_port_sent_to_two_proxy_ports_is_refused() {
        assert_eq!(
            Redirects::parse("8501=18501,8501=18502"),
            Err(RedirectError::Duplicate {
                tf_port: 8501,
                first: 18501,
                second: 18502
            })
        );
    }

    #[test]
    fn a_proxy_port_may_equal_only_its_own_tf_port() {
        assert!(Redirects::parse("8501=8501,8500=8500").is_ok());
        assert_eq!(
            Redirects::parse("8501=8500,8500=18500"),
            Err(RedirectError::ProxyPortRedirected {
                proxy_port: 8500,
                other: 18500
            })
        );
    }

    #[test]
    fn an_empty_mapping_is_refused() {
        assert_eq!(Redirects::parse(""), Err(RedirectError::Empty));
        assert_eq!(Redirects::parse(" , "), Err(RedirectError::Empty));
    }

    #[test]
    fn a_listener_serves_the_tf_ports_redirected_to_it() {
        let r = Redirects::parse("8501=18501,8080=18501,8500=18500").unwrap();
        assert_eq!(r.served_by(18501).iter().collect::<Vec<_>>(), [8080, 8501]);
        assert_eq!(r.served_by(18500).iter().collect::<Vec<_>>(), [8500]);
        assert!(r.served_by(9).is_empty());
        assert_eq!(r.proxy_ports(), [18500, 18501]);
    }
}
