//! Socket addresses as read from the tracee's memory.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
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
        match self {
            // the common case, on every event of every TCP or UDP socket: without core::fmt
            SockAddr::Inet(SocketAddr::V4(a)) => {
                let mut buf = [0u8; 21];
                let n = format_v4(a, &mut buf);
                // only ASCII digits, dots and a colon were written
                s.serialize_str(std::str::from_utf8(&buf[..n]).unwrap_or_default())
            }
            _ => s.collect_str(self),
        }
    }
}

/// Writes `a.b.c.d:port` into `buf` (21 bytes hold the longest) and returns its length.
fn format_v4(a: &std::net::SocketAddrV4, buf: &mut [u8; 21]) -> usize {
    fn num(v: u32, buf: &mut [u8; 21], mut n: usize) -> usize {
        let mut digits = [0u8; 5];
        let mut len = 0;
        let mut v = v;
        loop {
            digits[len] = b'0' + (v % 10) as u8;
            len += 1;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        for i in (0..len).rev() {
            buf[n] = digits[i];
            n += 1;
        }
        n
    }
    let mut n = 0;
    for (i, o) in a.ip().octets().iter().enumerate() {
        if i > 0 {
            buf[n] = b'.';
            n += 1;
        }
        n = num(*o as u32, buf, n);
    }
    buf[n] = b':';
    n += 1;
    num(a.port() as u32, buf, n)
}

impl<'de> serde::Deserialize<'de> for SockAddr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The largest socket address the kernel accepts or returns (`sizeof(struct
/// sockaddr_storage)`); longer lengths are capped to it before reading tracee memory.
pub(crate) const SOCKADDR_MAX: usize = 128;

/// Parses a `struct sockaddr_*` of exactly `bytes.len()` bytes (the address length the caller
/// or the kernel gave), as laid out on x86_64 Linux.
///
/// - `AF_INET`: `sockaddr_in` (at least 8 bytes: family, big-endian port, address).
/// - `AF_INET6`: `sockaddr_in6` (at least 24 bytes; the scope id is kept when the 28-byte
///   form gives a non-zero one; the flow label is dropped). An IPv4-mapped address
///   (`::ffff:a.b.c.d`) becomes the IPv4 address, so that both ends of a connection between a
///   dual-stack and an IPv4 socket name it alike.
/// - `AF_UNIX`: 2 bytes (the family only) is the unnamed address `Unix("")`; a `sun_path`
///   starting with a NUL byte is an abstract name, `@` followed by all the remaining bytes up
///   to the length (invalid UTF-8 replaced by U+FFFD); otherwise the path up to the first NUL.
/// - Any other family: `Other(family)`.
///
/// Returns `None` when `bytes` is too short for its family (or for the family field).
pub fn parse_sockaddr(bytes: &[u8]) -> Option<SockAddr> {
    let family = u16::from_ne_bytes([*bytes.first()?, *bytes.get(1)?]);
    match i32::from(family) {
        libc::AF_INET => {
            let port = u16::from_be_bytes(bytes.get(2..4)?.try_into().ok()?);
            let ip: [u8; 4] = bytes.get(4..8)?.try_into().ok()?;
            Some(SockAddr::Inet(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(ip),
                port,
            ))))
        }
        libc::AF_INET6 => {
            let port = u16::from_be_bytes(bytes.get(2..4)?.try_into().ok()?);
            let ip: [u8; 16] = bytes.get(8..24)?.try_into().ok()?;
            let scope_id = bytes
                .get(24..28)
                .and_then(|b| b.try_into().ok())
                .map_or(0, u32::from_ne_bytes);
            let ip = Ipv6Addr::from(ip);
            // an IPv4-mapped address (a dual-stack socket talking IPv4, as Java's are) is
            // written in its IPv4 form, so both ends of a connection name it alike
            if let Some(v4) = ip.to_ipv4_mapped() {
                return Some(SockAddr::Inet(SocketAddr::V4(SocketAddrV4::new(v4, port))));
            }
            Some(SockAddr::Inet(SocketAddr::V6(SocketAddrV6::new(
                ip, port, 0, scope_id,
            ))))
        }
        libc::AF_UNIX => {
            let path = bytes.get(2..).unwrap_or_default();
            match path.split_first() {
                None => Some(SockAddr::Unix(String::new())),
                Some((0, name)) => Some(SockAddr::Unix(format!(
                    "@{}",
                    String::from_utf8_lossy(name)
                ))),
                Some(_) => {
                    let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
                    let p = path.get(..end).unwrap_or_default();
                    Some(SockAddr::Unix(String::from_utf8_lossy(p).into_owned()))
                }
            }
        }
        _ => Some(SockAddr::Other(family)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_ipv4_form_is_the_display_form() {
        for s in [
            "0.0.0.0:0",
            "127.0.0.1:7000",
            "255.255.255.255:65535",
            "10.0.200.9:80",
            "1.22.133.4:5",
        ] {
            let std::net::SocketAddr::V4(a) = s.parse().expect(s) else {
                unreachable!()
            };
            let mut buf = [0u8; 21];
            let n = format_v4(&a, &mut buf);
            assert_eq!(&buf[..n], s.as_bytes());
        }
    }

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
