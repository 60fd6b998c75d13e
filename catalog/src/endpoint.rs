//! Network endpoints as stored in the catalog: `host:port`, where clients must reach a service.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A `host:port` endpoint. The host is an IP address (IPv6 in brackets) or a DNS name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    host: Box<str>,
    port: u16,
}

/// Why a string is not a `host:port` endpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// No `:port` suffix.
    #[error("expected host:port")]
    MissingPort,
    /// The port is not a number in 1..=65535.
    #[error("port must be a number in 1..=65535")]
    BadPort,
    /// The host is empty, too long or has characters a host name cannot have.
    #[error("host must be an IP address or a DNS name")]
    BadHost,
}

const HOST_MAX: usize = 253;

// === impl Endpoint ===

impl Endpoint {
    /// Parses `host:port` (`[v6]:port` for IPv6). A leading `http://` is tolerated and dropped,
    /// because operators paste URLs.
    pub fn parse(s: &str) -> Result<Endpoint, EndpointError> {
        let s = s.trim();
        let s = s.strip_prefix("http://").unwrap_or(s);
        let s = s.strip_suffix('/').unwrap_or(s);
        let (host, port) = s.rsplit_once(':').ok_or(EndpointError::MissingPort)?;
        let port: u16 = port.parse().map_err(|_| EndpointError::BadPort)?;
        if port == 0 {
            return Err(EndpointError::BadPort);
        }
        let host_ok = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            v6.parse::<std::net::Ipv6Addr>().is_ok()
        } else {
            !host.is_empty()
                && host.len() <= HOST_MAX
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        };
        if !host_ok {
            return Err(EndpointError::BadHost);
        }
        Ok(Endpoint {
            host: host.into(),
            port,
        })
    }

    /// The host part (brackets kept for IPv6).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl From<std::net::SocketAddr> for Endpoint {
    fn from(a: std::net::SocketAddr) -> Endpoint {
        let host = match a.ip() {
            std::net::IpAddr::V4(ip) => ip.to_string(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        };
        Endpoint {
            host: host.into(),
            port: a.port(),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

impl std::str::FromStr for Endpoint {
    type Err = EndpointError;
    fn from_str(s: &str) -> Result<Endpoint, EndpointError> {
        Endpoint::parse(s)
    }
}

impl Serialize for Endpoint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Endpoint {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Endpoint::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_forms() {
        assert_eq!(
            Endpoint::parse("10.0.0.7:8501").unwrap().to_string(),
            "10.0.0.7:8501"
        );
        assert_eq!(
            Endpoint::parse("http://tf.default.svc:8501/")
                .unwrap()
                .port(),
            8501
        );
        assert_eq!(Endpoint::parse("[::1]:9901").unwrap().host(), "[::1]");
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(
            Endpoint::parse("localhost"),
            Err(EndpointError::MissingPort)
        );
        assert_eq!(Endpoint::parse("h:0"), Err(EndpointError::BadPort));
        assert_eq!(Endpoint::parse("h:99999"), Err(EndpointError::BadPort));
        assert_eq!(Endpoint::parse(":80"), Err(EndpointError::BadHost));
        assert_eq!(Endpoint::parse("a b:80"), Err(EndpointError::BadHost));
        assert_eq!(Endpoint::parse("[zz]:80"), Err(EndpointError::BadHost));
    }
}
