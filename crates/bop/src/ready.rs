//! Whether a node's `ready` address is listening, read from /proc/net (bop never connects to
//! probe it, so a server that accepts exactly one connection is not disturbed).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

use bop_cluster::Ready;

/// TCP state LISTEN in /proc/net/tcp{,6}.
const TCP_LISTEN: &str = "0A";
/// `__SO_ACCEPTCON` in /proc/net/unix's Flags column.
const SO_ACCEPTCON: u32 = 0x0001_0000;

/// Whether something listens at `ready` now.
pub fn is_listening(ready: &Ready) -> bool {
    match ready {
        Ready::Tcp(addr) => tcp_listening(addr),
        Ready::Unix(path) => unix_listening(path),
    }
}

/// Whether a TCP socket listens on `addr` (or on the wildcard address of its port).
pub fn tcp_listening(addr: &SocketAddr) -> bool {
    let files = ["/proc/net/tcp", "/proc/net/tcp6"];
    files.iter().any(|f| {
        std::fs::read_to_string(f)
            .map(|text| {
                text.lines().skip(1).any(|line| {
                    let cols: Vec<&str> = line.split_whitespace().collect();
                    cols.len() > 3
                        && cols[3] == TCP_LISTEN
                        && parse_local(cols[1]).is_some_and(|(ip, port)| {
                            port == addr.port()
                                && (ip == addr.ip()
                                    || ip.is_unspecified()
                                    || same_v4(ip, addr.ip()))
                        })
                })
            })
            .unwrap_or(false)
    })
}

/// An IPv4-mapped IPv6 listener also accepts IPv4.
fn same_v4(a: IpAddr, b: IpAddr) -> bool {
    match (a, b) {
        (IpAddr::V6(a6), IpAddr::V4(b4)) => a6.to_ipv4_mapped() == Some(b4),
        _ => false,
    }
}

/// Parses `0100007F:1B58` (IPv4) or the 32-hex-digit IPv6 form.
fn parse_local(s: &str) -> Option<(IpAddr, u16)> {
    let (ip, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(
            u32::from_str_radix(ip, 16).ok()?.to_le_bytes(),
        )),
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                let word = u32::from_str_radix(&ip[i * 8..i * 8 + 8], 16).ok()?;
                bytes[i * 4..i * 4 + 4].copy_from_slice(&word.to_le_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some((ip, port))
}

/// Whether a Unix stream socket listens at `path`.
pub fn unix_listening(path: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string("/proc/net/unix") else {
        return false;
    };
    let want = path.to_string_lossy();
    text.lines().skip(1).any(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        cols.len() > 7
            && cols[7] == want
            && u32::from_str_radix(cols[3], 16).is_ok_and(|f| f & SO_ACCEPTCON != 0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_net_addresses() {
        assert_eq!(
            parse_local("0100007F:1B58"),
            Some((IpAddr::V4(Ipv4Addr::LOCALHOST), 7000))
        );
        assert_eq!(
            parse_local("00000000000000000000000001000000:0050"),
            Some((IpAddr::V6(Ipv6Addr::LOCALHOST), 80))
        );
        assert_eq!(parse_local("zz"), None);
    }

    #[test]
    fn sees_a_listener_and_not_a_free_port() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        assert!(tcp_listening(&addr));
        drop(l);
        assert!(!tcp_listening(&addr));
        let dir = std::env::temp_dir().join(format!("bop-ready-{}", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        let u = std::os::unix::net::UnixListener::bind(&dir).unwrap();
        assert!(unix_listening(&dir));
        drop(u);
        let _ = std::fs::remove_file(&dir);
    }
}
