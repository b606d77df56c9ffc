//! Learning what a tracee's fd is from the tracer side: `pidfd_getfd` gives bop its own
//! duplicate, on which `fstat`, `getsockopt`, `getsockname` and `getpeername` answer. Nothing
//! runs inside the tracee.
//!
//! Unix-domain sockets are often unnamed, so their addresses say nothing about who is at the
//! other end; for them bop also asks the kernel (`NETLINK_SOCK_DIAG`, as `ss -x` does) for
//! the inode of the peer socket.

use rustc_hash::FxHashMap as HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use bop_model::{Family, Probe, Probed, SockType, Socket};
use bop_syscalls::{parse_sockaddr, SockAddr};

/// A [`Probe`] over pidfds, one cached per process.
#[derive(Default)]
pub struct PidfdProbe {
    pidfds: HashMap<i32, OwnedFd>,
    /// Asks for Unix sockets' peers.
    diag: UnixDiag,
}

impl PidfdProbe {
    /// Forgets a process that is gone (its pid may be reused).
    pub fn forget(&mut self, pid: i32) {
        self.pidfds.remove(&pid);
    }

    fn pidfd(&mut self, pid: i32) -> Option<i32> {
        if let Some(fd) = self.pidfds.get(&pid) {
            return Some(fd.as_raw_fd());
        }
        // SAFETY: pidfd_open returns a new fd or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
        if fd < 0 {
            return None;
        }
        // SAFETY: `fd` is a fresh fd we own.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        self.pidfds.insert(pid, owned);
        Some(fd)
    }
}

fn sockaddr_of(fd: i32, peer: bool) -> Option<SockAddr> {
    let mut buf = [0u8; 128];
    let mut len = buf.len() as libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes into `buf`.
    let r = unsafe {
        let p = buf.as_mut_ptr().cast::<libc::sockaddr>();
        if peer {
            libc::getpeername(fd, p, &mut len)
        } else {
            libc::getsockname(fd, p, &mut len)
        }
    };
    if r != 0 {
        return None;
    }
    let addr = parse_sockaddr(&buf[..(len as usize).min(buf.len())])?;
    // an unbound inet socket reports 0.0.0.0:0: that is "no address"
    match &addr {
        SockAddr::Inet(a) if a.port() == 0 && a.ip().is_unspecified() => None,
        _ => Some(addr),
    }
}

fn int_opt(fd: i32, opt: i32) -> Option<i32> {
    let mut v: i32 = 0;
    let mut len = std::mem::size_of::<i32>() as libc::socklen_t;
    // SAFETY: the kernel writes one int.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            opt,
            (&mut v as *mut i32).cast(),
            &mut len,
        )
    };
    (r == 0).then_some(v)
}

impl Probe for PidfdProbe {
    fn probe(&mut self, pid: i32, fd: i32) -> Option<Probed> {
        if fd < 0 {
            return None;
        }
        let pidfd = self.pidfd(pid)?;
        // SAFETY: pidfd_getfd returns a new fd (a duplicate of the tracee's) or -1.
        let dup = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd, fd, 0) } as i32;
        if dup < 0 {
            return None;
        }
        // SAFETY: `dup` is ours; OwnedFd closes it.
        let dup = unsafe { OwnedFd::from_raw_fd(dup) };
        let fd = dup.as_raw_fd();
        // SAFETY: fstat into a zeroed stat.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        if unsafe { libc::fstat(fd, &mut st) } != 0 {
            return Some(Probed::Other);
        }
        Some(match st.st_mode & libc::S_IFMT {
            libc::S_IFSOCK => {
                let family = Family::from_raw(int_opt(fd, libc::SO_DOMAIN).unwrap_or(-1));
                Probed::Socket(Socket {
                    id: st.st_ino,
                    family,
                    ty: SockType::from_raw(int_opt(fd, libc::SO_TYPE).unwrap_or(-1)),
                    local: sockaddr_of(fd, false),
                    peer: sockaddr_of(fd, true),
                    peer_id: if family == Family::Unix {
                        self.diag.peer(st.st_ino)
                    } else {
                        None
                    },
                    listening: int_opt(fd, libc::SO_ACCEPTCONN) == Some(1),
                })
            }
            libc::S_IFIFO => {
                // SAFETY: F_GETFL on our own fd.
                let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
                Probed::Pipe {
                    id: st.st_ino,
                    write: fl >= 0 && fl & libc::O_ACCMODE == libc::O_WRONLY,
                }
            }
            _ => Probed::Other,
        })
    }
}

// ---- NETLINK_SOCK_DIAG for Unix sockets (linux/sock_diag.h, linux/unix_diag.h) ----

/// `SOCK_DIAG_BY_FAMILY`: the request (and reply) message type.
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// `UDIAG_SHOW_PEER`: report the peer's inode.
const UDIAG_SHOW_PEER: u32 = 0x4;
/// `UNIX_DIAG_PEER`: the reply attribute holding the peer's inode (a `u32`).
const UNIX_DIAG_PEER: u16 = 2;
/// `INET_DIAG_NOCOOKIE`: look the socket up by inode alone.
const NOCOOKIE: u32 = !0;
/// `sizeof(struct nlmsghdr)`.
const NLMSG_HDRLEN: usize = std::mem::size_of::<libc::nlmsghdr>();
/// `sizeof(struct unix_diag_msg)`: family, type, state, pad (1 byte each), ino, `cookie[2]`.
const UNIX_DIAG_MSG_LEN: usize = 16;
/// `sizeof(struct rtattr)`: `rta_len`, `rta_type` (2 bytes each).
const RTA_HDRLEN: usize = 4;
/// How long to wait for a reply (the kernel answers before `send` returns; this only guards
/// against a reply that never comes).
const DIAG_TIMEOUT_US: libc::suseconds_t = 200_000;
/// How many datagrams to read looking for the reply to a request before giving up.
const DIAG_MAX_RECVS: usize = 8;

/// `struct unix_diag_req`.
#[repr(C)]
struct UnixDiagReq {
    sdiag_family: u8,
    sdiag_protocol: u8,
    pad: u16,
    udiag_states: u32,
    udiag_ino: u32,
    udiag_show: u32,
    udiag_cookie: [u32; 2],
}

/// A `SOCK_DIAG_BY_FAMILY` request: the netlink header, then the `unix_diag_req`.
#[repr(C)]
struct DiagRequest {
    nlh: libc::nlmsghdr,
    req: UnixDiagReq,
}

/// A `NETLINK_SOCK_DIAG` socket, opened on first use and reopened after an I/O error.
#[derive(Default)]
struct UnixDiag {
    sock: Option<OwnedFd>,
    seq: u32,
}

impl UnixDiag {
    /// The inode of the peer of the Unix socket with inode `ino` (looked up in bop's network
    /// namespace); `None` when it has no peer or the kernel cannot say.
    fn peer(&mut self, ino: u64) -> Option<u64> {
        // unix_diag_req carries a 32-bit inode (socket inodes fit in one)
        let ino = u32::try_from(ino).ok().filter(|i| *i != 0)?;
        let fd = self.socket()?;
        self.seq = self.seq.wrapping_add(1);
        match ask_peer(fd, self.seq, ino) {
            Ok(peer) => peer,
            Err(()) => {
                // an unusable socket (or one with a stale reply queued): start afresh next time
                self.sock = None;
                None
            }
        }
    }

    fn socket(&mut self) -> Option<i32> {
        if let Some(s) = &self.sock {
            return Some(s.as_raw_fd());
        }
        // SAFETY: socket returns a new fd or -1.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_SOCK_DIAG,
            )
        };
        if fd < 0 {
            return None;
        }
        // SAFETY: `fd` is a fresh fd we own.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        let tv = libc::timeval {
            tv_sec: 0,
            tv_usec: DIAG_TIMEOUT_US,
        };
        // SAFETY: SO_RCVTIMEO reads one timeval.
        let r = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return None;
        }
        self.sock = Some(owned);
        Some(fd)
    }
}

/// Sends one request for the peer of `ino` on netlink socket `fd` and reads the reply.
/// `Err` when sending or receiving failed; `Ok(None)` when the kernel answered without a peer
/// (or with an error, such as ENOENT for a socket of another network namespace).
fn ask_peer(fd: i32, seq: u32, ino: u32) -> Result<Option<u64>, ()> {
    // SAFETY: nlmsghdr is plain data; every field is set below.
    let mut nlh: libc::nlmsghdr = unsafe { std::mem::zeroed() };
    nlh.nlmsg_len = std::mem::size_of::<DiagRequest>() as u32;
    nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    nlh.nlmsg_flags = libc::NLM_F_REQUEST as u16;
    nlh.nlmsg_seq = seq;
    nlh.nlmsg_pid = 0;
    let request = DiagRequest {
        nlh,
        req: UnixDiagReq {
            sdiag_family: libc::AF_UNIX as u8,
            sdiag_protocol: 0,
            pad: 0,
            udiag_states: !0,
            udiag_ino: ino,
            udiag_show: UDIAG_SHOW_PEER,
            udiag_cookie: [NOCOOKIE, NOCOOKIE],
        },
    };
    // SAFETY: sockaddr_nl is plain data; zero is "the kernel, no groups".
    let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    kernel.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    // SAFETY: sends the bytes of `request` (repr(C), no padding) to the kernel address.
    let sent = unsafe {
        libc::sendto(
            fd,
            (&request as *const DiagRequest).cast(),
            std::mem::size_of::<DiagRequest>(),
            0,
            (&kernel as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if sent < 0 {
        return Err(());
    }
    let mut buf = [0u8; 8192];
    for _ in 0..DIAG_MAX_RECVS {
        // SAFETY: sockaddr_nl is plain data, filled by the kernel.
        let mut from: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        let mut from_len = std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
        // SAFETY: the kernel writes at most `buf.len()` bytes and at most `from_len` bytes.
        let n = unsafe {
            libc::recvfrom(
                fd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                0,
                (&mut from as *mut libc::sockaddr_nl).cast(),
                &mut from_len,
            )
        };
        let Ok(n) = usize::try_from(n) else {
            return Err(());
        };
        if from.nl_pid != 0 {
            // not from the kernel
            continue;
        }
        if let Some(answer) = parse_diag_reply(&buf[..n.min(buf.len())], seq, ino) {
            return Ok(answer);
        }
    }
    // replies to other requests only: leave them to a fresh socket
    Err(())
}

/// Looks for the answer to request `seq` about socket `ino` in one received datagram:
/// `Some(Some(peer))` for a reply naming a peer, `Some(None)` for a reply without one or an
/// error, `None` when the datagram holds no answer to this request.
fn parse_diag_reply(buf: &[u8], seq: u32, ino: u32) -> Option<Option<u64>> {
    let u16_at = |b: &[u8], off: usize| -> Option<u16> {
        Some(u16::from_ne_bytes(b.get(off..off + 2)?.try_into().ok()?))
    };
    let u32_at = |b: &[u8], off: usize| -> Option<u32> {
        Some(u32::from_ne_bytes(b.get(off..off + 4)?.try_into().ok()?))
    };
    let mut off = 0usize;
    // each message: nlmsghdr { len u32, type u16, flags u16, seq u32, pid u32 }, payload
    while let Some(len) = u32_at(buf, off).and_then(|l| usize::try_from(l).ok()) {
        if len < NLMSG_HDRLEN {
            break;
        }
        let Some(msg) = off.checked_add(len).and_then(|end| buf.get(off..end)) else {
            break;
        };
        let ty = u16_at(msg, 4)?;
        if u32_at(msg, 8) == Some(seq) {
            if ty == libc::NLMSG_ERROR as u16 || ty == libc::NLMSG_DONE as u16 {
                return Some(None);
            }
            if ty == SOCK_DIAG_BY_FAMILY {
                let body = &msg[NLMSG_HDRLEN..];
                if u32_at(body, 4) != Some(ino) {
                    return Some(None);
                }
                return Some(peer_attr(body.get(UNIX_DIAG_MSG_LEN..).unwrap_or_default()));
            }
        }
        // NLMSG_ALIGN: the next message starts at the next multiple of 4
        match len
            .checked_add(3)
            .map(|l| l & !3)
            .and_then(|l| off.checked_add(l))
        {
            Some(next) => off = next,
            None => break,
        }
    }
    None
}

/// The `UNIX_DIAG_PEER` inode among the `rtattr`s in `attrs`.
fn peer_attr(attrs: &[u8]) -> Option<u64> {
    let mut off = 0usize;
    while let Some(head) = attrs.get(off..off.checked_add(RTA_HDRLEN)?) {
        let len = usize::from(u16::from_ne_bytes([head[0], head[1]]));
        let ty = u16::from_ne_bytes([head[2], head[3]]);
        if len < RTA_HDRLEN {
            break;
        }
        let data = attrs.get(off + RTA_HDRLEN..off.checked_add(len)?)?;
        if ty == UNIX_DIAG_PEER {
            let ino = u32::from_ne_bytes(data.get(..4)?.try_into().ok()?);
            return (ino != 0).then_some(u64::from(ino));
        }
        // RTA_ALIGN: the next attribute starts at the next multiple of 4
        off = off.checked_add(len.checked_add(3)? & !3)?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream};
    use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};

    fn ino(fd: &impl AsRawFd) -> u64 {
        // SAFETY: fstat into a zeroed stat.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) }, 0);
        st.st_ino
    }

    /// Probes one of this process's own fds.
    fn probe_own(p: &mut PidfdProbe, fd: &impl AsRawFd) -> Socket {
        match p.probe(std::process::id() as i32, fd.as_raw_fd()) {
            Some(Probed::Socket(s)) => s,
            other => panic!("fd {} probed as {other:?}", fd.as_raw_fd()),
        }
    }

    #[test]
    fn unix_pair_peers_are_each_other() {
        let mut p = PidfdProbe::default();
        let (a, b) = UnixStream::pair().unwrap();
        let (sa, sb) = (probe_own(&mut p, &a), probe_own(&mut p, &b));
        assert_eq!(sa.family, Family::Unix);
        assert_eq!((sa.id, sb.id), (ino(&a), ino(&b)));
        assert_eq!(sa.peer_id, Some(ino(&b)));
        assert_eq!(sb.peer_id, Some(ino(&a)));
        // connected datagram pairs too
        let (c, d) = UnixDatagram::pair().unwrap();
        assert_eq!(probe_own(&mut p, &c).peer_id, Some(ino(&d)));
        assert_eq!(probe_own(&mut p, &d).peer_id, Some(ino(&c)));
        // the netlink socket is reused across probes
        assert!(p.diag.sock.is_some());
    }

    #[test]
    fn unix_listener_connect_accept() {
        let mut p = PidfdProbe::default();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let client = UnixStream::connect(&path).unwrap();
        let (server, _) = listener.accept().unwrap();
        let (sc, ss) = (probe_own(&mut p, &client), probe_own(&mut p, &server));
        assert_eq!(sc.peer_id, Some(ino(&server)));
        assert_eq!(ss.peer_id, Some(ino(&client)));
        let sl = probe_own(&mut p, &listener);
        assert!(sl.listening);
        assert_eq!(sl.peer_id, None);
        // once the peer is closed the kernel reports inode 0 (an orphaned socket), which
        // is no peer; never anything else
        let server_ino = ino(&server);
        drop(server);
        let after = probe_own(&mut p, &client).peer_id;
        assert!(after.is_none() || after == Some(server_ino), "{after:?}");
    }

    #[test]
    fn unconnected_unix_and_tcp_have_no_peer_id() {
        let mut p = PidfdProbe::default();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        for s in [
            probe_own(&mut p, &listener),
            probe_own(&mut p, &client),
            probe_own(&mut p, &server),
        ] {
            assert_eq!(s.family, Family::Inet);
            assert_eq!(s.peer_id, None);
        }
        // TCP never opens the netlink socket
        assert!(p.diag.sock.is_none());
        let lone = UnixDatagram::unbound().unwrap();
        assert_eq!(probe_own(&mut p, &lone).peer_id, None);
    }

    /// One netlink message: header, then `payload`, padded to 4 bytes.
    fn nlmsg(ty: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let len = (NLMSG_HDRLEN + payload.len()) as u32;
        let mut b = len.to_ne_bytes().to_vec();
        b.extend(ty.to_ne_bytes());
        b.extend(0u16.to_ne_bytes());
        b.extend(seq.to_ne_bytes());
        b.extend(0u32.to_ne_bytes());
        b.extend(payload);
        b.resize(b.len().div_ceil(4) * 4, 0);
        b
    }

    /// A `unix_diag_msg` for `ino`, then `attrs`.
    fn diag_msg(ino: u32, attrs: &[(u16, &[u8])]) -> Vec<u8> {
        let mut b = vec![libc::AF_UNIX as u8, 1, 1, 0];
        b.extend(ino.to_ne_bytes());
        b.extend([0xffu8; 8]);
        for (ty, data) in attrs {
            b.extend(((RTA_HDRLEN + data.len()) as u16).to_ne_bytes());
            b.extend(ty.to_ne_bytes());
            b.extend(*data);
            b.resize(b.len().div_ceil(4) * 4, 0);
        }
        b
    }

    #[test]
    fn diag_replies() {
        let peer = 4242u32.to_ne_bytes();
        let ok = nlmsg(
            SOCK_DIAG_BY_FAMILY,
            7,
            &diag_msg(99, &[(0, b"@name"), (UNIX_DIAG_PEER, &peer)]),
        );
        assert_eq!(parse_diag_reply(&ok, 7, 99), Some(Some(4242)));
        // another request's reply, then ours, in one datagram
        let mut two = nlmsg(
            SOCK_DIAG_BY_FAMILY,
            6,
            &diag_msg(98, &[(UNIX_DIAG_PEER, &[1, 0, 0, 0])]),
        );
        two.extend(&ok);
        assert_eq!(parse_diag_reply(&two, 7, 99), Some(Some(4242)));
        // not ours at all
        assert_eq!(parse_diag_reply(&ok, 8, 99), None);
        // about another socket, or without a peer
        assert_eq!(parse_diag_reply(&ok, 7, 98), Some(None));
        let lone = nlmsg(SOCK_DIAG_BY_FAMILY, 7, &diag_msg(99, &[]));
        assert_eq!(parse_diag_reply(&lone, 7, 99), Some(None));
        // an error (ENOENT) ack
        let mut err = (-libc::ENOENT).to_ne_bytes().to_vec();
        err.extend([0u8; 16]);
        let err = nlmsg(libc::NLMSG_ERROR as u16, 7, &err);
        assert_eq!(parse_diag_reply(&err, 7, 99), Some(None));
        // truncated and malformed input never panics
        for cut in 0..ok.len() {
            let _ = parse_diag_reply(&ok[..cut], 7, 99);
        }
        let mut bad = ok.clone();
        bad[0..4].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert_eq!(parse_diag_reply(&bad, 7, 99), None);
        let bad_attr = nlmsg(SOCK_DIAG_BY_FAMILY, 7, &{
            let mut m = diag_msg(99, &[]);
            m.extend([2u8, 0, 2, 0]); // rta_len 2 < header
            m
        });
        assert_eq!(parse_diag_reply(&bad_attr, 7, 99), Some(None));
    }
}
