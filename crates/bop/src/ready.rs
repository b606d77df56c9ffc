//! Whether a node's `ready` address is listening, read from /proc (bop never connects to
//! probe it, so a server that accepts exactly one connection is not disturbed), and, when it is
//! not, what the node listens on instead.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bop_cluster::Ready;

/// TCP state LISTEN in /proc/net/tcp{,6}.
const TCP_LISTEN: &str = "0A";
/// `__SO_ACCEPTCON` in /proc/net/unix's Flags column.
const SO_ACCEPTCON: u32 = 0x0001_0000;
/// At most this many of a node's listening sockets are named in a not-ready error.
const SHOWN_LISTENERS: usize = 5;

/// Whether something listens at `ready` now. `pids` are the node's live processes: a Unix
/// socket bound at a relative path is listed by the kernel as bound (`up.sock`), and is
/// resolved against the working directory of the node's process that holds it.
pub fn is_listening(ready: &Ready, pids: &[i32]) -> bool {
    match ready {
        Ready::Tcp(addr) => tcp_listening(addr),
        Ready::Unix(path) => unix_listening(path, pids),
    }
}

/// Whether a TCP socket listens on `addr` (or on the wildcard address of its port).
pub fn tcp_listening(addr: &SocketAddr) -> bool {
    let files = ["/proc/net/tcp", "/proc/net/tcp6"];
    files.iter().any(|f| {
        std::fs::read_to_string(f)
            .map(|text| {
                tcp_listeners(&text).any(|(local, _)| {
                    local.port() == addr.port()
                        && (local.ip() == addr.ip()
                            || local.ip().is_unspecified()
                            || same_v4(local.ip(), addr.ip()))
                })
            })
            .unwrap_or(false)
    })
}

/// The listening sockets of a /proc/net/tcp{,6} text: local address and socket inode.
fn tcp_listeners(text: &str) -> impl Iterator<Item = (SocketAddr, u64)> + '_ {
    text.lines().skip(1).filter_map(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() <= 9 || cols[3] != TCP_LISTEN {
            return None;
        }
        let (ip, port) = parse_local(cols[1])?;
        Some((SocketAddr::new(ip, port), cols[9].parse().ok()?))
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

/// The listening sockets of a /proc/net/unix text: path as bound (`@…` for an abstract one)
/// and socket inode. The path is the rest of the line, so it may hold spaces.
fn unix_listeners(text: &str) -> impl Iterator<Item = (&str, u64)> + '_ {
    text.lines().skip(1).filter_map(|line| {
        // Num RefCount Protocol Flags Type St Inode Path
        let mut rest = line;
        let mut cols = [""; 7];
        for col in &mut cols {
            rest = rest.trim_start();
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            (*col, rest) = rest.split_at(end);
        }
        let path = rest.trim_start();
        let listening = u32::from_str_radix(cols[3], 16).is_ok_and(|f| f & SO_ACCEPTCON != 0);
        (listening && !path.is_empty()).then_some((path, cols[6].parse().ok()?))
    })
}

/// The socket inodes the processes `pids` hold open, each with one process holding it.
fn socket_inodes(pids: &[i32]) -> HashMap<u64, i32> {
    let mut out = HashMap::new();
    for &pid in pids {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(link) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let inode = link
                .to_str()
                .and_then(|l| l.strip_prefix("socket:["))
                .and_then(|l| l.strip_suffix(']'))
                .and_then(|n| n.parse::<u64>().ok());
            if let Some(inode) = inode {
                out.entry(inode).or_insert(pid);
            }
        }
    }
    out
}

/// Whether `a` and `b` name the same file (the same device and inode).
fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Where a Unix socket bound at the relative path `bound` is on disk: resolved against the
/// working directory of the process of `owners` that holds it (through /proc/PID/cwd, so it is
/// the same directory even in another mount namespace); None for an abstract socket, or one
/// no process of `owners` holds.
fn relative_file(bound: &str, inode: u64, owners: &HashMap<u64, i32>) -> Option<PathBuf> {
    if bound.starts_with('@') {
        return None;
    }
    let pid = owners.get(&inode)?;
    Some(Path::new(&format!("/proc/{pid}/cwd")).join(bound))
}

/// Whether a Unix stream socket listens at `path`, bound there by its absolute path or, by a
/// process of `pids`, by a relative one (or a path through a symbolic link): the socket file
/// is compared with `path` by device and inode.
pub fn unix_listening(path: &Path, pids: &[i32]) -> bool {
    let Ok(text) = std::fs::read_to_string("/proc/net/unix") else {
        return false;
    };
    let want = path.to_string_lossy();
    let mut owners: Option<HashMap<u64, i32>> = None;
    let found = unix_listeners(&text).any(|(bound, inode)| {
        if bound == want {
            return true;
        }
        // another path to the same file ends in the same name (hard links aside)
        if Path::new(bound).file_name() != path.file_name() {
            return false;
        }
        if bound.starts_with('/') {
            return same_file(Path::new(bound), path);
        }
        let owners = owners.get_or_insert_with(|| socket_inodes(pids));
        relative_file(bound, inode, owners).is_some_and(|file| same_file(&file, path))
    });
    found
}

/// A socket a node listens on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listener {
    /// A TCP socket listening at this local address.
    Tcp(SocketAddr),
    /// A Unix socket: the path as bound, and where that is on disk when it was bound
    /// relatively (from its process's working directory).
    Unix(String, Option<PathBuf>),
}

impl fmt::Display for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Listener::Tcp(addr) => write!(f, "tcp:{addr}"),
            Listener::Unix(bound, Some(file)) => {
                write!(f, "unix:{} (bound as \"{bound}\")", file.display())
            }
            Listener::Unix(bound, None) if bound.starts_with('@') => {
                write!(f, "unix:{bound} (an abstract socket, which has no path)")
            }
            Listener::Unix(bound, None) => write!(f, "unix:{bound}"),
        }
    }
}

/// The sockets the processes `pids` listen on: TCP ones (from their network namespace's
/// /proc/PID/net/tcp{,6}) and Unix ones, each once, in the kernel's order.
pub fn listeners(pids: &[i32]) -> Vec<Listener> {
    let Some(first) = pids.first() else {
        return Vec::new();
    };
    let owners = socket_inodes(pids);
    let mut out = Vec::new();
    for file in ["tcp", "tcp6"] {
        let text = std::fs::read_to_string(format!("/proc/{first}/net/{file}")).unwrap_or_default();
        for (addr, inode) in tcp_listeners(&text) {
            let l = Listener::Tcp(addr);
            if owners.contains_key(&inode) && !out.contains(&l) {
                out.push(l);
            }
        }
    }
    let text = std::fs::read_to_string(format!("/proc/{first}/net/unix")).unwrap_or_default();
    for (bound, inode) in unix_listeners(&text) {
        let Some(&pid) = owners.get(&inode) else {
            continue;
        };
        let file = (!bound.starts_with('/') && !bound.starts_with('@'))
            .then(|| std::fs::read_link(format!("/proc/{pid}/cwd")).ok())
            .flatten()
            .map(|cwd| cwd.join(bound));
        let l = Listener::Unix(bound.to_string(), file);
        if !out.contains(&l) {
            out.push(l);
        }
    }
    out
}

/// How to make bop wait longer for a node: the cluster file's key and the command-line option,
/// with twice `timeout` as the example.
fn longer(timeout: Duration, from_file: bool) -> String {
    let twice = humantime::format_duration(timeout.saturating_mul(2));
    if from_file {
        format!(
            "raise ready_timeout ([run] ready_timeout = \"{twice}\" in the cluster file, or bop run --ready-timeout {twice})"
        )
    } else {
        format!("raise the ready timeout (bop run --ready-timeout {twice})")
    }
}

/// The one line bop prints when node `name` has not listened on `ready` after a few seconds.
pub fn waiting_line(name: &str, ready: &Ready, timeout: Duration) -> String {
    format!(
        "bop: waiting for {name} to listen on {ready} (ready_timeout {})…",
        humantime::format_duration(timeout)
    )
}

/// Why node `name`, whose processes are `pids`, was not ready within `timeout`: what it
/// listens on instead, if anything, and how to wait longer. `from_file`: the node comes from a
/// cluster file (its address is `ready = …`), not from `--node` options (`--ready NAME=…`).
pub fn not_ready(
    name: &str,
    ready: &Ready,
    timeout: Duration,
    pids: &[i32],
    from_file: bool,
) -> String {
    let head = format!(
        "node {name} was not ready within {} (ready_timeout): nothing listened on {ready}",
        humantime::format_duration(timeout)
    );
    let found = listeners(pids);
    if found.is_empty() {
        return format!(
            "{head}, and the node listens on no TCP or Unix socket yet; if it needs longer to start, {}",
            longer(timeout, from_file)
        );
    }
    let mut shown: Vec<String> = found
        .iter()
        .take(SHOWN_LISTENERS)
        .map(ToString::to_string)
        .collect();
    if found.len() > SHOWN_LISTENERS {
        shown.push(format!("{} more", found.len() - SHOWN_LISTENERS));
    }
    let key = if from_file {
        "its \"ready\" address".to_string()
    } else {
        format!("--ready {name}=…")
    };
    let that = if found.len() == 1 {
        "that is"
    } else {
        "one of those is"
    };
    format!(
        "{head}, but the node listens on {}: if {that} its address, correct {key}; if it needs longer to start, {}",
        shown.join(", "),
        longer(timeout, from_file)
    )
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
    fn parses_proc_net_unix() {
        let text = "Num       RefCount Protocol Flags    Type St Inode Path\n\
                    0000000000000000: 00000002 00000000 00010000 0001 01 12345 up.sock\n\
                    0000000000000000: 00000002 00000000 00010000 0001 01    77 /tmp/a b.sock\n\
                    0000000000000000: 00000003 00000000 00000000 0001 03 23456 /run/x.sock\n\
                    0000000000000000: 00000002 00000000 00010000 0001 01 34567\n";
        let got: Vec<(&str, u64)> = unix_listeners(text).collect();
        assert_eq!(got, [("up.sock", 12345), ("/tmp/a b.sock", 77)]);
    }

    #[test]
    fn sees_a_listener_and_not_a_free_port() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        assert!(tcp_listening(&addr));
        let me = [std::process::id() as i32];
        assert!(listeners(&me).contains(&Listener::Tcp(addr)));
        drop(l);
        assert!(!tcp_listening(&addr));
        let dir = std::env::temp_dir().join(format!("bop-ready-{}", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        let u = std::os::unix::net::UnixListener::bind(&dir).unwrap();
        assert!(unix_listening(&dir, &[]));
        drop(u);
        let _ = std::fs::remove_file(&dir);
    }
}
