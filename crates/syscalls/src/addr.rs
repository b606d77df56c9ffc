//! Socket addresses as read from the tracee's memory.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

/// A socket address, parsed from a `struct sockaddr_*` in tracee memory.
///
/// Written in traces as a string: `127.0.0.1:7000`, `[::1]:7000`, `unix:/run/x.sock`,
/// `unix:@abstract-name`, `unix:` (unnamed), or `family:N` for other families.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SockAddr {
    /// An IPv4 or IPv6 address and port.
    Inet(SocketAddr),
    /// A Unix-domain address: a path, `@name` for the abstract namespace, empty when unnamed.
    Unix(String),
    /// Another address family, by number.
    Other(u16),
}

impl fmt::Display for SockAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SockAddr::Inet(a) => write!(f, "{a}"),
            SockAddr::Unix(p) => write!(f, "unix:{p}"),
            SockAddr::Other(fam) => write!(f, "family:{fam}"),
        }
    }
}

/// The error of parsing a [`SockAddr`] from its string form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseSockAddrError(pub String);

impl fmt::Display for ParseSockAddrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "not a socket address: {:?} (expected IP:PORT, [IPv6]:PORT, unix:PATH or family:N)",
            self.0
        )
    }
}

impl std::error::Error for ParseSockAddrError {}

impl FromStr for SockAddr {
    type Err = ParseSockAddrError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(p) = s.strip_prefix("unix:") {
            return Ok(SockAddr::Unix(p.to_string()));
        }
        if let Some(n) = s.strip_prefix("family:") {
            return n
                .parse()
                .map(SockAddr::Other)
                .map_err(|_| ParseSockAddrError(s.to_string()));
        }
        s.parse()
            .map(SockAddr::Inet)
            .map_err(|_| ParseSockAddrError(s.to_string()))
    }
}

impl serde::Serialize for SockAddr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for SockAddr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_form_round_trips() {
        for s in [
            "127.0.0.1:7000",
            "[::1]:9",
            "unix:/tmp/a.sock",
            "unix:@abs",
            "unix:",
            "family:16",
        ] {
            let a: SockAddr = s.parse().expect(s);
            assert_eq!(a.to_string(), s);
        }
        assert!("nonsense".parse::<SockAddr>().is_err());
    }
}
