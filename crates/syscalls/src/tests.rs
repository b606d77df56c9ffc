//! Decoding tests against fake tracee memory.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};

use crate::decode::scm_rights;
use crate::*;

/// Tracee memory made of mapped regions; reads must fall inside one region.
#[derive(Default)]
pub(crate) struct FakeMem {
    regions: Vec<(u64, Vec<u8>)>,
}

impl FakeMem {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Maps `bytes` at `addr`.
    pub(crate) fn put(&mut self, addr: u64, bytes: &[u8]) -> &mut Self {
        self.regions.push((addr, bytes.to_vec()));
        self
    }
}

impl Memory for FakeMem {
    fn read(&mut self, addr: u64, len: usize) -> Option<Vec<u8>> {
        self.regions.iter().find_map(|(base, bytes)| {
            let start = usize::try_from(addr.checked_sub(*base)?).ok()?;
            bytes
                .get(start..start.checked_add(len)?)
                .map(<[u8]>::to_vec)
        })
    }
}

// ---- Builders for C structures (x86_64 layouts) ----

fn sockaddr_in(ip: [u8; 4], port: u16) -> Vec<u8> {
    let mut b = (libc::AF_INET as u16).to_ne_bytes().to_vec();
    b.extend(port.to_be_bytes());
    b.extend(ip);
    b.extend([0u8; 8]);
    b
}

fn sockaddr_in6(ip: Ipv6Addr, port: u16, scope: u32) -> Vec<u8> {
    let mut b = (libc::AF_INET6 as u16).to_ne_bytes().to_vec();
    b.extend(port.to_be_bytes());
    b.extend(0x1234u32.to_ne_bytes()); // flowinfo: ignored
    b.extend(ip.octets());
    b.extend(scope.to_ne_bytes());
    b
}

/// A `sockaddr_un` holding exactly `path` after the family (the caller picks the length).
fn sockaddr_un(path: &[u8]) -> Vec<u8> {
    let mut b = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
    b.extend(path);
    b
}

fn msghdr(name: u64, namelen: u32, control: u64, controllen: u64) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(name.to_ne_bytes());
    b.extend(namelen.to_ne_bytes());
    b.extend([0u8; 4]);
    b.extend(0x7000u64.to_ne_bytes()); // msg_iov: never read
    b.extend(1u64.to_ne_bytes()); // msg_iovlen
    b.extend(control.to_ne_bytes());
    b.extend(controllen.to_ne_bytes());
    b.extend(0i32.to_ne_bytes()); // msg_flags
    b.extend([0u8; 4]);
    assert_eq!(b.len(), 56);
    b
}

fn mmsghdr(name: u64, namelen: u32, control: u64, controllen: u64, msg_len: u32) -> Vec<u8> {
    let mut b = msghdr(name, namelen, control, controllen);
    b.extend(msg_len.to_ne_bytes());
    b.extend([0u8; 4]);
    b
}

/// One control message, padded to the next multiple of 8 (`CMSG_SPACE`).
fn cmsg(level: i32, ty: i32, data: &[u8]) -> Vec<u8> {
    let len = 16 + data.len();
    let mut b = (len as u64).to_ne_bytes().to_vec();
    b.extend(level.to_ne_bytes());
    b.extend(ty.to_ne_bytes());
    b.extend(data);
    b.resize(len.div_ceil(8) * 8, 0);
    b
}

fn rights(fds: &[i32]) -> Vec<u8> {
    let data: Vec<u8> = fds.iter().flat_map(|f| f.to_ne_bytes()).collect();
    cmsg(libc::SOL_SOCKET, libc::SCM_RIGHTS, &data)
}

fn ints(v: &[i32]) -> Vec<u8> {
    v.iter().flat_map(|i| i.to_ne_bytes()).collect()
}

fn args(a: &[u64]) -> [u64; 6] {
    let mut r = [0u64; 6];
    r[..a.len()].copy_from_slice(a);
    r
}

fn dec(nr: i64, a: &[u64], ret: Option<i64>, mem: &mut FakeMem) -> Call {
    let s = decode(nr, args(a), ret, mem);
    assert_eq!(s.nr, nr);
    assert_eq!(s.ret, ret);
    assert_eq!(s.name, name(nr));
    s.call
}

fn v4(a: [u8; 4], port: u16) -> SockAddr {
    SockAddr::Inet(SocketAddr::from((Ipv4Addr::from(a), port)))
}

fn unix(s: &str) -> SockAddr {
    SockAddr::Unix(s.to_string())
}

const A: u64 = 0x1000; // a mapped buffer
const B: u64 = 0x2000; // another
const C: u64 = 0x3000;
const D: u64 = 0x4000;
const UNMAPPED: u64 = 0xdead_0000;
const MINUS_ONE_32: u64 = 0xffff_ffff;

// ---- Socket setup calls ----

#[test]
fn socket_and_socketpair() {
    let mut m = FakeMem::new();
    assert_eq!(
        dec(libc::SYS_socket, &[2, 0x80801, 6], Some(3), &mut m),
        Call::Socket {
            domain: 2,
            ty: 0x80801,
            protocol: 6
        }
    );
    m.put(A, &ints(&[5, 6]));
    let pair = |fds| Call::Socketpair {
        domain: 1,
        ty: 1,
        protocol: 0,
        fds,
    };
    assert_eq!(
        dec(libc::SYS_socketpair, &[1, 1, 0, A], None, &mut m),
        pair(None)
    );
    assert_eq!(
        dec(libc::SYS_socketpair, &[1, 1, 0, A], Some(0), &mut m),
        pair(Some([5, 6]))
    );
    assert_eq!(
        dec(libc::SYS_socketpair, &[1, 1, 0, A], Some(-24), &mut m),
        pair(None)
    );
    assert_eq!(
        dec(libc::SYS_socketpair, &[1, 1, 0, 0], Some(0), &mut m),
        pair(None)
    );
    assert_eq!(
        dec(libc::SYS_socketpair, &[1, 1, 0, UNMAPPED], Some(0), &mut m),
        pair(None)
    );
}

#[test]
fn connect_and_bind_addresses() {
    let mut m = FakeMem::new();
    m.put(A, &sockaddr_in([127, 0, 0, 1], 7000));
    let ip6: Ipv6Addr = "fe80::1".parse().unwrap();
    m.put(B, &sockaddr_in6(ip6, 443, 2));
    m.put(C, &sockaddr_un(b"/run/x.sock\0garbage"));
    m.put(D, &sockaddr_un(b"\0abs\xffname"));

    for nr in [libc::SYS_connect, libc::SYS_bind] {
        let call = |fd, addr| {
            if nr == libc::SYS_connect {
                Call::Connect { fd, addr }
            } else {
                Call::Bind { fd, addr }
            }
        };
        for ret in [None, Some(0), Some(-111)] {
            assert_eq!(
                dec(nr, &[3, A, 16], ret, &mut m),
                call(3, Some(v4([127, 0, 0, 1], 7000)))
            );
        }
        let six = SockAddr::Inet(SocketAddr::V6(SocketAddrV6::new(ip6, 443, 0, 2)));
        assert_eq!(dec(nr, &[3, B, 28], None, &mut m), call(3, Some(six)));
        assert_eq!(
            dec(nr, &[3, C, 19], None, &mut m),
            call(3, Some(unix("/run/x.sock")))
        );
        assert_eq!(
            dec(nr, &[3, D, 11], None, &mut m),
            call(3, Some(unix("@abs\u{fffd}name")))
        );
        // Abstract name: only the bytes up to the given length count.
        assert_eq!(
            dec(nr, &[3, D, 6], None, &mut m),
            call(3, Some(unix("@abs")))
        );
        // NULL pointer, zero or short length, unmapped memory, length past the mapping.
        assert_eq!(dec(nr, &[3, 0, 16], None, &mut m), call(3, None));
        assert_eq!(dec(nr, &[3, A, 0], None, &mut m), call(3, None));
        assert_eq!(dec(nr, &[3, A, 4], None, &mut m), call(3, None));
        assert_eq!(dec(nr, &[3, A, 1], None, &mut m), call(3, None));
        assert_eq!(dec(nr, &[3, UNMAPPED, 16], None, &mut m), call(3, None));
        assert_eq!(dec(nr, &[3, A, 17], None, &mut m), call(3, None));
        // The length register's upper half is ignored (socklen_t is 32 bits); the fd is the
        // low 32 bits too.
        assert_eq!(
            dec(nr, &[0xffff_ffff_0000_0003, A, 0x1_0000_0010], None, &mut m),
            call(3, Some(v4([127, 0, 0, 1], 7000)))
        );
    }
}

#[test]
fn oversized_addrlen_is_capped() {
    let mut m = FakeMem::new();
    let mut big = sockaddr_un(b"/p");
    big.resize(128, 0);
    m.put(A, &big);
    assert_eq!(
        dec(libc::SYS_connect, &[3, A, 100_000], None, &mut m),
        Call::Connect {
            fd: 3,
            addr: Some(unix("/p"))
        }
    );
}

#[test]
fn listen_shutdown() {
    let mut m = FakeMem::new();
    assert_eq!(
        dec(libc::SYS_listen, &[4, 128], None, &mut m),
        Call::Listen {
            fd: 4,
            backlog: 128
        }
    );
    assert_eq!(
        dec(libc::SYS_shutdown, &[4, 1], Some(0), &mut m),
        Call::Shutdown { fd: 4, how: 1 }
    );
}

#[test]
fn accept_peer_only_after_success() {
    let mut m = FakeMem::new();
    m.put(A, &sockaddr_in([10, 0, 0, 2], 5555));
    m.put(B, &16u32.to_ne_bytes());
    let acc = |flags, peer| Call::Accept { fd: 3, flags, peer };
    assert_eq!(
        dec(libc::SYS_accept, &[3, A, B], None, &mut m),
        acc(0, None)
    );
    assert_eq!(
        dec(libc::SYS_accept, &[3, A, B], Some(-11), &mut m),
        acc(0, None)
    );
    assert_eq!(
        dec(libc::SYS_accept, &[3, A, B], Some(7), &mut m),
        acc(0, Some(v4([10, 0, 0, 2], 5555)))
    );
    assert_eq!(
        dec(libc::SYS_accept4, &[3, A, B, 0x80800], Some(7), &mut m),
        acc(0x80800, Some(v4([10, 0, 0, 2], 5555)))
    );
    // NULL address or NULL length pointer: no peer.
    assert_eq!(
        dec(libc::SYS_accept, &[3, 0, B], Some(7), &mut m),
        acc(0, None)
    );
    assert_eq!(
        dec(libc::SYS_accept, &[3, A, 0], Some(7), &mut m),
        acc(0, None)
    );
    assert_eq!(
        dec(libc::SYS_accept, &[3, 0, 0], Some(7), &mut m),
        acc(0, None)
    );
    assert_eq!(
        dec(libc::SYS_accept, &[3, A, UNMAPPED], Some(7), &mut m),
        acc(0, None)
    );

    // A unix peer that never bound: the kernel writes length 2 (family only).
    let mut m = FakeMem::new();
    let mut buf = sockaddr_un(b"");
    buf.resize(110, 0xaa);
    m.put(A, &buf);
    m.put(B, &2u32.to_ne_bytes());
    assert_eq!(
        dec(libc::SYS_accept4, &[3, A, B, 0], Some(7), &mut m),
        acc(0, Some(unix("")))
    );
    // A length larger than sockaddr_storage is capped (the kernel reports the full length
    // when it truncated).
    let mut m = FakeMem::new();
    let mut buf = sockaddr_un(b"/very/long\0");
    buf.resize(128, 0);
    m.put(A, &buf);
    m.put(B, &4000u32.to_ne_bytes());
    assert_eq!(
        dec(libc::SYS_accept, &[3, A, B], Some(7), &mut m),
        acc(0, Some(unix("/very/long")))
    );
}

#[test]
fn getsockopt_int_value() {
    let mut m = FakeMem::new();
    m.put(A, &111i32.to_ne_bytes());
    m.put(B, &4u32.to_ne_bytes());
    m.put(C, &8u32.to_ne_bytes());
    let sol = libc::SOL_SOCKET as u64;
    let so_error = libc::SO_ERROR as u64;
    let opt = |level, value| Call::Getsockopt {
        fd: 3,
        level,
        optname: libc::SO_ERROR,
        value,
    };
    assert_eq!(
        dec(
            libc::SYS_getsockopt,
            &[3, sol, so_error, A, B],
            Some(0),
            &mut m
        ),
        opt(libc::SOL_SOCKET, Some(111))
    );
    assert_eq!(
        dec(
            libc::SYS_getsockopt,
            &[3, sol, so_error, A, B],
            None,
            &mut m
        ),
        opt(libc::SOL_SOCKET, None)
    );
    assert_eq!(
        dec(
            libc::SYS_getsockopt,
            &[3, sol, so_error, A, B],
            Some(-9),
            &mut m
        ),
        opt(libc::SOL_SOCKET, None)
    );
    // optlen not 4, other level, NULL pointers.
    assert_eq!(
        dec(
            libc::SYS_getsockopt,
            &[3, sol, so_error, A, C],
            Some(0),
            &mut m
        ),
        opt(libc::SOL_SOCKET, None)
    );
    assert_eq!(
        dec(
            libc::SYS_getsockopt,
            &[3, 6, so_error, A, B],
            Some(0),
            &mut m
        ),
        opt(6, None)
    );
    assert_eq!(
        dec(
            libc::SYS_getsockopt,
            &[3, sol, so_error, 0, B],
            Some(0),
            &mut m
        ),
        opt(libc::SOL_SOCKET, None)
    );
    assert_eq!(
        dec(
            libc::SYS_getsockopt,
            &[3, sol, so_error, A, 0],
            Some(0),
            &mut m
        ),
        opt(libc::SOL_SOCKET, None)
    );
}

// ---- Byte-moving calls ----

#[test]
fn plain_reads_and_writes() {
    let mut m = FakeMem::new();
    let with_len = |len| MsgInfo {
        len,
        ..MsgInfo::default()
    };
    for (nr, sends, plain) in [
        (libc::SYS_read, false, true),
        (libc::SYS_pread64, false, true),
        (libc::SYS_write, true, true),
        (libc::SYS_pwrite64, true, true),
        (libc::SYS_readv, false, false),
        (libc::SYS_preadv, false, false),
        (libc::SYS_preadv2, false, false),
        (libc::SYS_writev, true, false),
        (libc::SYS_pwritev, true, false),
        (libc::SYS_pwritev2, true, false),
    ] {
        let make = |len, msg| {
            if sends {
                Call::Send {
                    fd: 5,
                    len,
                    flags: 0,
                    msg,
                }
            } else {
                Call::Recv {
                    fd: 5,
                    len,
                    flags: 0,
                    msg,
                }
            }
        };
        let len = plain.then_some(4096);
        let a = [5, A, 4096, 0, 0, 8];
        assert_eq!(dec(nr, &a, None, &mut m), make(len, with_len(None)));
        assert_eq!(
            dec(nr, &a, Some(100), &mut m),
            make(len, with_len(Some(100)))
        );
        assert_eq!(dec(nr, &a, Some(0), &mut m), make(len, with_len(Some(0))));
        assert_eq!(dec(nr, &a, Some(-11), &mut m), make(len, with_len(None)));
    }
}

#[test]
fn sendto_and_recvfrom() {
    let mut m = FakeMem::new();
    m.put(A, &sockaddr_in([192, 168, 1, 1], 53));
    m.put(B, &16u32.to_ne_bytes());
    m.put(C, &0u32.to_ne_bytes());
    let dst = v4([192, 168, 1, 1], 53);
    let send = |addr, len| Call::Send {
        fd: 3,
        len: Some(512),
        flags: libc::MSG_NOSIGNAL,
        msg: MsgInfo {
            len,
            addr,
            fds: vec![],
        },
    };
    let nosig = libc::MSG_NOSIGNAL as u64;
    assert_eq!(
        dec(
            libc::SYS_sendto,
            &[3, 0x9000, 512, nosig, A, 16],
            None,
            &mut m
        ),
        send(Some(dst.clone()), None)
    );
    assert_eq!(
        dec(
            libc::SYS_sendto,
            &[3, 0x9000, 512, nosig, A, 16],
            Some(512),
            &mut m
        ),
        send(Some(dst.clone()), Some(512))
    );
    assert_eq!(
        dec(
            libc::SYS_sendto,
            &[3, 0x9000, 512, nosig, A, 16],
            Some(-1),
            &mut m
        ),
        send(Some(dst.clone()), None)
    );
    // send(): sendto with a NULL address.
    assert_eq!(
        dec(
            libc::SYS_sendto,
            &[3, 0x9000, 512, nosig, 0, 0],
            Some(512),
            &mut m
        ),
        send(None, Some(512))
    );

    let recv = |addr, len| Call::Recv {
        fd: 3,
        len: Some(512),
        flags: 0x40,
        msg: MsgInfo {
            len,
            addr,
            fds: vec![],
        },
    };
    assert_eq!(
        dec(
            libc::SYS_recvfrom,
            &[3, 0x9000, 512, 0x40, A, B],
            None,
            &mut m
        ),
        recv(None, None)
    );
    assert_eq!(
        dec(
            libc::SYS_recvfrom,
            &[3, 0x9000, 512, 0x40, A, B],
            Some(-11),
            &mut m
        ),
        recv(None, None)
    );
    assert_eq!(
        dec(
            libc::SYS_recvfrom,
            &[3, 0x9000, 512, 0x40, A, B],
            Some(20),
            &mut m
        ),
        recv(Some(dst.clone()), Some(20))
    );
    // Connected stream socket: the kernel reports an address length of 0.
    assert_eq!(
        dec(
            libc::SYS_recvfrom,
            &[3, 0x9000, 512, 0x40, A, C],
            Some(20),
            &mut m
        ),
        recv(None, Some(20))
    );
    // recv(): NULL address pointers.
    assert_eq!(
        dec(
            libc::SYS_recvfrom,
            &[3, 0x9000, 512, 0x40, 0, 0],
            Some(20),
            &mut m
        ),
        recv(None, Some(20))
    );
    assert_eq!(
        dec(
            libc::SYS_recvfrom,
            &[3, 0x9000, 512, 0x40, A, 0],
            Some(20),
            &mut m
        ),
        recv(None, Some(20))
    );
}

#[test]
fn sendmsg_with_name_and_rights_in_one_cmsg() {
    let mut m = FakeMem::new();
    let name = sockaddr_un(b"/tmp/s\0");
    m.put(A, &name);
    let control = rights(&[7, 8]);
    m.put(B, &control);
    m.put(C, &msghdr(A, name.len() as u32, B, control.len() as u64));
    let want = |len| Call::Send {
        fd: 3,
        len: None,
        flags: 0,
        msg: MsgInfo {
            len,
            addr: Some(unix("/tmp/s")),
            fds: vec![7, 8],
        },
    };
    assert_eq!(dec(libc::SYS_sendmsg, &[3, C, 0], None, &mut m), want(None));
    assert_eq!(
        dec(libc::SYS_sendmsg, &[3, C, 0], Some(10), &mut m),
        want(Some(10))
    );
    assert_eq!(
        dec(libc::SYS_sendmsg, &[3, C, 0], Some(-32), &mut m),
        want(None)
    );
}

#[test]
fn rights_in_two_cmsgs_among_others() {
    let mut control = rights(&[10]);
    // SCM_CREDENTIALS (pid, uid, gid): not fds.
    control.extend(cmsg(
        libc::SOL_SOCKET,
        libc::SCM_CREDENTIALS,
        &ints(&[1, 2, 3]),
    ));
    control.extend(rights(&[11, 12, 13]));
    // An IP-level message with type 1 (IP_TOS): not SCM_RIGHTS either.
    control.extend(cmsg(libc::IPPROTO_IP, 1, &[0x10]));
    assert_eq!(scm_rights(&control), vec![10, 11, 12, 13]);

    let mut m = FakeMem::new();
    m.put(B, &control);
    m.put(C, &msghdr(0, 0, B, control.len() as u64));
    assert_eq!(
        dec(libc::SYS_sendmsg, &[3, C, 0x4000], None, &mut m),
        Call::Send {
            fd: 3,
            len: None,
            flags: 0x4000,
            msg: MsgInfo {
                len: None,
                addr: None,
                fds: vec![10, 11, 12, 13],
            },
        }
    );
    // A controllen that covers only the first message.
    m.put(D, &msghdr(0, 0, B, 20));
    match dec(libc::SYS_sendmsg, &[3, D, 0], None, &mut m) {
        Call::Send { msg, .. } => assert_eq!(msg.fds, vec![10]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn malformed_cmsgs() {
    // Too short a cmsg_len stops the walk.
    let mut c = rights(&[1]);
    c.extend(cmsg(libc::SOL_SOCKET, libc::SCM_RIGHTS, &[]));
    c[24..32].copy_from_slice(&8u64.to_ne_bytes());
    assert_eq!(scm_rights(&c), vec![1]);
    // A cmsg_len past the buffer stops it too.
    let mut c = rights(&[1, 2]);
    c[0..8].copy_from_slice(&1000u64.to_ne_bytes());
    assert_eq!(scm_rights(&c), Vec::<i32>::new());
    let mut c = rights(&[1]);
    c[0..8].copy_from_slice(&u64::MAX.to_ne_bytes());
    assert_eq!(scm_rights(&c), Vec::<i32>::new());
    // A data length that is not a multiple of 4: the whole ints only.
    let c = cmsg(libc::SOL_SOCKET, libc::SCM_RIGHTS, &[5, 0, 0, 0, 9, 9]);
    assert_eq!(scm_rights(&c), vec![5]);
    // A header cut short.
    assert_eq!(scm_rights(&rights(&[4])[..12]), Vec::<i32>::new());
    assert_eq!(scm_rights(&[]), Vec::<i32>::new());
}

#[test]
fn recvmsg_reads_kernel_updated_lengths() {
    let mut m = FakeMem::new();
    // The buffer is larger than the address; the kernel wrote namelen 16.
    let mut name = sockaddr_in([1, 2, 3, 4], 99);
    name.resize(128, 0xee);
    m.put(A, &name);
    // Received: one SCM_RIGHTS with two fds; the buffer has stale bytes after it.
    let mut control = rights(&[20, 21]);
    let used = control.len() as u64;
    control.extend(rights(&[99]));
    m.put(B, &control);
    m.put(C, &msghdr(A, 16, B, used));
    let want = |len, addr, fds| Call::Recv {
        fd: 3,
        len: None,
        flags: libc::MSG_CMSG_CLOEXEC,
        msg: MsgInfo { len, addr, fds },
    };
    let flags = libc::MSG_CMSG_CLOEXEC as u64;
    assert_eq!(
        dec(libc::SYS_recvmsg, &[3, C, flags], None, &mut m),
        want(None, None, vec![])
    );
    assert_eq!(
        dec(libc::SYS_recvmsg, &[3, C, flags], Some(-11), &mut m),
        want(None, None, vec![])
    );
    assert_eq!(
        dec(libc::SYS_recvmsg, &[3, C, flags], Some(5), &mut m),
        want(Some(5), Some(v4([1, 2, 3, 4], 99)), vec![20, 21])
    );
    // NULL msghdr, unmapped msghdr, msghdr with NULL name and control.
    assert_eq!(
        dec(libc::SYS_recvmsg, &[3, 0, flags], Some(5), &mut m),
        want(Some(5), None, vec![])
    );
    assert_eq!(
        dec(libc::SYS_recvmsg, &[3, UNMAPPED, flags], Some(5), &mut m),
        want(Some(5), None, vec![])
    );
    m.put(D, &msghdr(0, 16, 0, 64));
    assert_eq!(
        dec(libc::SYS_recvmsg, &[3, D, flags], Some(5), &mut m),
        want(Some(5), None, vec![])
    );
    // Name and control pointing at unmapped memory.
    m.put(0x5000, &msghdr(UNMAPPED, 16, UNMAPPED + 0x100, 64));
    assert_eq!(
        dec(libc::SYS_recvmsg, &[3, 0x5000, flags], Some(5), &mut m),
        want(Some(5), None, vec![])
    );
}

#[test]
fn recvmmsg_three_messages() {
    let mut m = FakeMem::new();
    m.put(0x1000, &sockaddr_in([10, 0, 0, 1], 1001));
    m.put(0x1100, &sockaddr_in([10, 0, 0, 2], 1002));
    m.put(0x1200, &sockaddr_in([10, 0, 0, 3], 1003));
    let c = rights(&[30]);
    m.put(0x1300, &c);
    let mut vec = Vec::new();
    vec.extend(mmsghdr(0x1000, 16, 0, 0, 100));
    vec.extend(mmsghdr(0x1100, 16, 0x1300, c.len() as u64, 200));
    vec.extend(mmsghdr(0x1200, 16, 0, 0, 300));
    vec.extend(mmsghdr(0x1200, 16, 0, 0, 999)); // not received (ret is 3)
    assert_eq!(vec.len(), 4 * 64);
    m.put(0x8000, &vec);
    let msgs = vec![
        MsgInfo {
            len: Some(100),
            addr: Some(v4([10, 0, 0, 1], 1001)),
            fds: vec![],
        },
        MsgInfo {
            len: Some(200),
            addr: Some(v4([10, 0, 0, 2], 1002)),
            fds: vec![30],
        },
        MsgInfo {
            len: Some(300),
            addr: Some(v4([10, 0, 0, 3], 1003)),
            fds: vec![],
        },
    ];
    let want = |msgs| Call::RecvMmsg {
        fd: 3,
        flags: 0x10000,
        msgs,
    };
    let a = [3, 0x8000, 4, 0x10000, 0];
    assert_eq!(
        dec(libc::SYS_recvmmsg, &a, Some(3), &mut m),
        want(msgs.clone())
    );
    assert_eq!(dec(libc::SYS_recvmmsg, &a, None, &mut m), want(vec![]));
    assert_eq!(dec(libc::SYS_recvmmsg, &a, Some(-11), &mut m), want(vec![]));
    assert_eq!(dec(libc::SYS_recvmmsg, &a, Some(0), &mut m), want(vec![]));
    // A result larger than the readable array: the readable entries.
    assert_eq!(
        dec(libc::SYS_recvmmsg, &a, Some(50), &mut m),
        want({
            let mut v = msgs.clone();
            v.push(MsgInfo {
                len: Some(999),
                addr: Some(v4([10, 0, 0, 3], 1003)),
                fds: vec![],
            });
            v
        })
    );
    // NULL vector.
    assert_eq!(
        dec(libc::SYS_recvmmsg, &[3, 0, 4, 0x10000], Some(3), &mut m),
        want(vec![])
    );
}

#[test]
fn sendmmsg_before_and_after() {
    let mut m = FakeMem::new();
    m.put(0x1000, &sockaddr_in([10, 0, 0, 1], 1));
    m.put(0x1100, &sockaddr_in([10, 0, 0, 2], 2));
    let c = rights(&[40, 41]);
    m.put(0x1300, &c);
    let mut vec = Vec::new();
    vec.extend(mmsghdr(0x1000, 16, 0x1300, c.len() as u64, 0));
    vec.extend(mmsghdr(0x1100, 16, 0, 0, 0));
    m.put(0x8000, &vec);
    let a = [3, 0x8000, 2, 0];
    let first = MsgInfo {
        len: None,
        addr: Some(v4([10, 0, 0, 1], 1)),
        fds: vec![40, 41],
    };
    let second = MsgInfo {
        len: None,
        addr: Some(v4([10, 0, 0, 2], 2)),
        fds: vec![],
    };
    let want = |msgs| Call::SendMmsg {
        fd: 3,
        flags: 0,
        msgs,
    };
    assert_eq!(
        dec(libc::SYS_sendmmsg, &a, None, &mut m),
        want(vec![first.clone(), second.clone()])
    );
    assert_eq!(
        dec(libc::SYS_sendmmsg, &a, Some(-11), &mut m),
        want(vec![first.clone(), second.clone()])
    );
    // After success: the messages sent, with the msg_len the kernel wrote.
    m.regions.retain(|(base, _)| *base != 0x8000);
    let mut vec = Vec::new();
    vec.extend(mmsghdr(0x1000, 16, 0x1300, c.len() as u64, 77));
    vec.extend(mmsghdr(0x1100, 16, 0, 0, 0));
    m.put(0x8000, &vec);
    assert_eq!(
        dec(libc::SYS_sendmmsg, &a, Some(1), &mut m),
        want(vec![MsgInfo {
            len: Some(77),
            ..first.clone()
        }])
    );
    // A huge vlen reads at most the readable entries, never more than 1024.
    assert_eq!(
        dec(libc::SYS_sendmmsg, &[3, 0x8000, 1_000_000, 0], None, &mut m).clone(),
        want(vec![first.clone(), second.clone()])
    );
}

// ---- fd-table calls ----

#[test]
fn fd_calls() {
    let mut m = FakeMem::new();
    assert_eq!(
        dec(libc::SYS_sendfile, &[5, 6, 0, 1 << 20], Some(10), &mut m),
        Call::Sendfile {
            out_fd: 5,
            in_fd: 6,
            count: 1 << 20
        }
    );
    assert_eq!(
        dec(libc::SYS_splice, &[5, 0, 6, A, 65536, 3], None, &mut m),
        Call::Splice {
            fd_in: 5,
            fd_out: 6,
            len: 65536,
            flags: 3
        }
    );
    assert_eq!(
        dec(libc::SYS_close, &[9], Some(0), &mut m),
        Call::Close { fd: 9 }
    );
    assert_eq!(
        dec(
            libc::SYS_close_range,
            &[3, u32::MAX as u64, 4],
            None,
            &mut m
        ),
        Call::CloseRange {
            first: 3,
            last: u32::MAX,
            flags: 4
        }
    );
    assert_eq!(
        dec(libc::SYS_dup, &[3], Some(4), &mut m),
        Call::Dup {
            oldfd: 3,
            newfd: None,
            cloexec: false
        }
    );
    assert_eq!(
        dec(libc::SYS_dup2, &[3, 1], Some(1), &mut m),
        Call::Dup {
            oldfd: 3,
            newfd: Some(1),
            cloexec: false
        }
    );
    assert_eq!(
        dec(
            libc::SYS_dup3,
            &[3, 1, libc::O_CLOEXEC as u64],
            Some(1),
            &mut m
        ),
        Call::Dup {
            oldfd: 3,
            newfd: Some(1),
            cloexec: true
        }
    );
    assert_eq!(
        dec(libc::SYS_dup3, &[3, 1, 0], Some(1), &mut m),
        Call::Dup {
            oldfd: 3,
            newfd: Some(1),
            cloexec: false
        }
    );
    let dupfd = libc::F_DUPFD as u64;
    let dupfd_cloexec = libc::F_DUPFD_CLOEXEC as u64;
    assert_eq!(
        dec(libc::SYS_fcntl, &[3, dupfd, 10], Some(10), &mut m),
        Call::Dup {
            oldfd: 3,
            newfd: None,
            cloexec: false
        }
    );
    assert_eq!(
        dec(libc::SYS_fcntl, &[3, dupfd_cloexec, 0], Some(4), &mut m),
        Call::Dup {
            oldfd: 3,
            newfd: None,
            cloexec: true
        }
    );
    assert_eq!(
        dec(
            libc::SYS_fcntl,
            &[3, libc::F_SETFD as u64, libc::FD_CLOEXEC as u64],
            Some(0),
            &mut m
        ),
        Call::Fcntl {
            fd: 3,
            cmd: libc::F_SETFD,
            arg: libc::FD_CLOEXEC as u64
        }
    );
}

#[test]
fn pipes() {
    let mut m = FakeMem::new();
    m.put(A, &ints(&[3, 4]));
    assert_eq!(
        dec(libc::SYS_pipe, &[A], Some(0), &mut m),
        Call::Pipe {
            flags: 0,
            fds: Some([3, 4])
        }
    );
    assert_eq!(
        dec(libc::SYS_pipe, &[A], None, &mut m),
        Call::Pipe {
            flags: 0,
            fds: None
        }
    );
    let cloexec = libc::O_CLOEXEC as u64;
    assert_eq!(
        dec(libc::SYS_pipe2, &[A, cloexec], Some(0), &mut m),
        Call::Pipe {
            flags: libc::O_CLOEXEC,
            fds: Some([3, 4])
        }
    );
    assert_eq!(
        dec(libc::SYS_pipe2, &[A, cloexec], Some(-24), &mut m),
        Call::Pipe {
            flags: libc::O_CLOEXEC,
            fds: None
        }
    );
    assert_eq!(
        dec(libc::SYS_pipe2, &[0, 0], Some(0), &mut m),
        Call::Pipe {
            flags: 0,
            fds: None
        }
    );
    // Half of the int[2] mapped.
    m.put(0x9000, &ints(&[3]));
    assert_eq!(
        dec(libc::SYS_pipe2, &[0x9000, 0], Some(0), &mut m),
        Call::Pipe {
            flags: 0,
            fds: None
        }
    );
}

// ---- Processes ----

#[test]
fn wait4() {
    let mut m = FakeMem::new();
    m.put(A, &(3i32 << 8).to_ne_bytes());
    let w = |pid, reaped, status| Call::Wait {
        pid,
        options: libc::WNOHANG,
        reaped,
        status,
    };
    let nohang = libc::WNOHANG as u64;
    assert_eq!(
        dec(
            libc::SYS_wait4,
            &[MINUS_ONE_32, A, nohang, 0],
            Some(1234),
            &mut m
        ),
        w(-1, Some(1234), Some(0x300))
    );
    // Sign-extended -1 in the register.
    assert_eq!(
        dec(libc::SYS_wait4, &[u64::MAX, A, nohang, 0], None, &mut m),
        w(-1, None, None)
    );
    // WNOHANG with nothing to reap: ret 0, status untouched and unread.
    assert_eq!(
        dec(libc::SYS_wait4, &[77, A, nohang, 0], Some(0), &mut m),
        w(77, None, None)
    );
    assert_eq!(
        dec(libc::SYS_wait4, &[77, A, nohang, 0], Some(-10), &mut m),
        w(77, None, None)
    );
    assert_eq!(
        dec(libc::SYS_wait4, &[77, 0, nohang, 0], Some(77), &mut m),
        w(77, Some(77), None)
    );
    assert_eq!(
        dec(
            libc::SYS_wait4,
            &[77, UNMAPPED, nohang, 0],
            Some(77),
            &mut m
        ),
        w(77, Some(77), None)
    );
}

/// A `siginfo_t` (128 bytes) for a `SIGCHLD` from `pid` with `status`.
fn siginfo(pid: i32, status: i32) -> Vec<u8> {
    let mut b = vec![0u8; 128];
    b[0..4].copy_from_slice(&libc::SIGCHLD.to_ne_bytes());
    b[8..12].copy_from_slice(&libc::CLD_EXITED.to_ne_bytes());
    b[16..20].copy_from_slice(&pid.to_ne_bytes());
    b[20..24].copy_from_slice(&1000u32.to_ne_bytes());
    b[24..28].copy_from_slice(&status.to_ne_bytes());
    b
}

#[test]
fn waitid_siginfo() {
    let mut m = FakeMem::new();
    m.put(A, &siginfo(4321, 7));
    m.put(B, &siginfo(0, 0));
    let opts = (libc::WEXITED | libc::WNOHANG) as u64;
    let w = |pid, reaped, status| Call::Wait {
        pid,
        options: opts as i32,
        reaped,
        status,
    };
    let (p_all, p_pid, p_pgid) = (0, 1, 2);
    assert_eq!(
        dec(libc::SYS_waitid, &[p_all, 0, A, opts, 0], Some(0), &mut m),
        w(-1, Some(4321), Some(7))
    );
    assert_eq!(
        dec(libc::SYS_waitid, &[p_pid, 4321, A, opts, 0], None, &mut m),
        w(4321, None, None)
    );
    assert_eq!(
        dec(
            libc::SYS_waitid,
            &[p_pid, 4321, A, opts, 0],
            Some(-10),
            &mut m
        ),
        w(4321, None, None)
    );
    assert_eq!(
        dec(libc::SYS_waitid, &[p_pgid, 50, A, opts, 0], Some(0), &mut m),
        w(-50, Some(4321), Some(7))
    );
    assert_eq!(
        dec(libc::SYS_waitid, &[p_pgid, 0, A, opts, 0], Some(0), &mut m),
        w(0, Some(4321), Some(7))
    );
    // P_PIDFD: the raw id.
    assert_eq!(
        dec(libc::SYS_waitid, &[3, 9, A, opts, 0], Some(0), &mut m),
        w(9, Some(4321), Some(7))
    );
    // WNOHANG and no child: si_pid is 0.
    assert_eq!(
        dec(libc::SYS_waitid, &[p_all, 0, B, opts, 0], Some(0), &mut m),
        w(-1, None, None)
    );
    assert_eq!(
        dec(libc::SYS_waitid, &[p_all, 0, 0, opts, 0], Some(0), &mut m),
        w(-1, None, None)
    );
    assert_eq!(
        dec(
            libc::SYS_waitid,
            &[p_all, 0, UNMAPPED, opts, 0],
            Some(0),
            &mut m
        ),
        w(-1, None, None)
    );
}

#[test]
fn kills() {
    let mut m = FakeMem::new();
    assert_eq!(
        dec(libc::SYS_kill, &[100, 15], Some(0), &mut m),
        Call::Kill {
            pid: 100,
            tid: None,
            sig: 15
        }
    );
    assert_eq!(
        dec(libc::SYS_kill, &[u64::MAX, 9], None, &mut m),
        Call::Kill {
            pid: -1,
            tid: None,
            sig: 9
        }
    );
    assert_eq!(
        dec(libc::SYS_tkill, &[101, 10], None, &mut m),
        Call::Kill {
            pid: 101,
            tid: Some(101),
            sig: 10
        }
    );
    assert_eq!(
        dec(libc::SYS_tgkill, &[100, 102, 6], None, &mut m),
        Call::Kill {
            pid: 100,
            tid: Some(102),
            sig: 6
        }
    );
}

#[test]
fn io_uring_and_unknown() {
    let mut m = FakeMem::new();
    assert_eq!(
        dec(libc::SYS_io_uring_setup, &[256, A], Some(5), &mut m),
        Call::IoUringSetup { entries: 256 }
    );
    let a = [1, 2, 3, 4, 5, 6];
    assert_eq!(
        dec(libc::SYS_openat, &a, Some(3), &mut m),
        Call::Other { args: a }
    );
    let s = decode(100_000, a, None, &mut m);
    assert_eq!(s.name, "syscall");
    assert_eq!(s.call, Call::Other { args: a });
    let s = decode(-1, a, Some(-38), &mut m);
    assert_eq!(s.name, "syscall");
    assert_eq!(s.result(), Some(Err(38)));
}

// ---- NULL and unreadable pointers everywhere ----

/// Whether every field of `call` that comes from tracee memory is empty.
fn memory_fields_empty(call: &Call) -> bool {
    let msg_empty = |m: &MsgInfo| m.addr.is_none() && m.fds.is_empty();
    match call {
        Call::Socketpair { fds, .. } | Call::Pipe { fds, .. } => fds.is_none(),
        Call::Bind { addr, .. } | Call::Connect { addr, .. } => addr.is_none(),
        Call::Accept { peer, .. } => peer.is_none(),
        Call::Getsockopt { value, .. } => value.is_none(),
        Call::Send { msg, .. } | Call::Recv { msg, .. } => msg_empty(msg),
        Call::SendMmsg { msgs, .. } | Call::RecvMmsg { msgs, .. } => msgs.is_empty(),
        Call::Wait { status, .. } => status.is_none(),
        _ => true,
    }
}

#[test]
fn null_and_unmapped_pointers() {
    let mut m = FakeMem::new();
    for &nr in TRACED {
        for ptr in [0, UNMAPPED, u64::MAX - 3] {
            for ret in [None, Some(0), Some(1), Some(4096), Some(-14)] {
                // Every argument a "pointer", lengths included, and all-zero.
                for a in [[ptr; 6], [3, ptr, ptr, ptr, ptr, ptr], [0; 6]] {
                    let s = decode(nr, a, ret, &mut m);
                    assert!(memory_fields_empty(&s.call), "{nr} {a:?} {ret:?}: {s:?}");
                    assert_ne!(s.name, "syscall");
                }
            }
        }
    }
}

/// A [`Memory`] that never returns what was asked: always one byte short or long.
struct LyingMem;

impl Memory for LyingMem {
    fn read(&mut self, _addr: u64, len: usize) -> Option<Vec<u8>> {
        Some(vec![1; if len & 1 == 0 { len + 1 } else { len - 1 }])
    }
}

#[test]
fn wrong_length_reads_are_ignored() {
    let mut m = LyingMem;
    for &nr in TRACED {
        let s = decode(nr, [3, A, 16, B, C, D], Some(1), &mut m);
        assert!(memory_fields_empty(&s.call), "{s:?}");
    }
}

// ---- Socket address parsing ----

#[test]
fn parse_sockaddr_families() {
    assert_eq!(parse_sockaddr(&[]), None);
    assert_eq!(parse_sockaddr(&[2]), None);
    assert_eq!(parse_sockaddr(&sockaddr_in([1, 2, 3, 4], 80)[..7]), None);
    assert_eq!(
        parse_sockaddr(&sockaddr_in([1, 2, 3, 4], 80)[..8]),
        Some(v4([1, 2, 3, 4], 80))
    );
    let ip6: Ipv6Addr = "2001:db8::7".parse().unwrap();
    let full = sockaddr_in6(ip6, 8080, 0);
    assert_eq!(parse_sockaddr(&full[..23]), None);
    let want = SockAddr::Inet(SocketAddr::new(ip6.into(), 8080));
    assert_eq!(parse_sockaddr(&full[..24]), Some(want.clone()));
    assert_eq!(parse_sockaddr(&full), Some(want.clone()));
    assert_eq!(want.to_string(), "[2001:db8::7]:8080");
    // A scope id survives the string form.
    let scoped = parse_sockaddr(&sockaddr_in6("fe80::1".parse().unwrap(), 1, 3)).unwrap();
    assert_eq!(scoped.to_string(), "[fe80::1%3]:1");
    assert_eq!(scoped.to_string().parse::<SockAddr>(), Ok(scoped));

    assert_eq!(parse_sockaddr(&sockaddr_un(b"")), Some(unix("")));
    assert_eq!(parse_sockaddr(&sockaddr_un(b"/a/b")), Some(unix("/a/b")));
    assert_eq!(
        parse_sockaddr(&sockaddr_un(b"/a/b\0\0\0")),
        Some(unix("/a/b"))
    );
    assert_eq!(parse_sockaddr(&sockaddr_un(b"\0")), Some(unix("@")));
    assert_eq!(parse_sockaddr(&sockaddr_un(b"\0x\0y")), Some(unix("@x\0y")));
    assert_eq!(
        parse_sockaddr(&sockaddr_un(b"/p\xff\xfeq")),
        Some(unix("/p\u{fffd}\u{fffd}q"))
    );
    let mut netlink = (libc::AF_NETLINK as u16).to_ne_bytes().to_vec();
    netlink.extend([0u8; 10]);
    assert_eq!(
        parse_sockaddr(&netlink),
        Some(SockAddr::Other(libc::AF_NETLINK as u16))
    );
    assert_eq!(parse_sockaddr(&[0, 0]), Some(SockAddr::Other(0)));
    for a in [v4([1, 2, 3, 4], 80), unix("/x"), unix("@y"), unix("")] {
        assert_eq!(a.to_string().parse::<SockAddr>(), Ok(a));
    }
}

// ---- Names ----

#[test]
fn syscall_names_round_trip() {
    let mut known = 0;
    for nr in -5..600 {
        let n = name(nr);
        if n != "syscall" {
            known += 1;
            assert_eq!(number(n), Some(nr), "{n}");
        }
    }
    // Every number 0..=462 except the ones x86_64 never used (335..=423).
    assert_eq!(known, 463 - (424 - 335));
    assert_eq!(number("syscall"), None);
    assert_eq!(number(""), None);
    assert_eq!(number("CONNECT"), None);
    for &nr in TRACED {
        assert_ne!(name(nr), "syscall", "{nr}");
    }
    for (nr, n) in [
        (libc::SYS_read, "read"),
        (libc::SYS_connect, "connect"),
        (libc::SYS_clone, "clone"),
        (libc::SYS_clone3, "clone3"),
        (libc::SYS_fork, "fork"),
        (libc::SYS_vfork, "vfork"),
        (libc::SYS_execve, "execve"),
        (libc::SYS_execveat, "execveat"),
        (libc::SYS_exit, "exit"),
        (libc::SYS_exit_group, "exit_group"),
        (libc::SYS_open, "open"),
        (libc::SYS_openat, "openat"),
        (libc::SYS_poll, "poll"),
        (libc::SYS_epoll_wait, "epoll_wait"),
        (libc::SYS_nanosleep, "nanosleep"),
        (libc::SYS_restart_syscall, "restart_syscall"),
        (libc::SYS_recvmmsg, "recvmmsg"),
        (libc::SYS_io_uring_setup, "io_uring_setup"),
        (libc::SYS_close_range, "close_range"),
        (libc::SYS_newfstatat, "newfstatat"),
        (libc::SYS_mseal, "mseal"),
        (333, "io_pgetevents"),
        (451, "cachestat"),
    ] {
        assert_eq!(name(nr), n);
        assert_eq!(number(n), Some(nr));
    }
}

#[test]
fn errno_names_round_trip() {
    for e in (1..=133).chain(512..=516) {
        let n = errno_name(e);
        if e == 41 || e == 58 {
            assert_eq!(n, "E?");
            continue;
        }
        assert_ne!(n, "E?", "{e}");
        assert_eq!(errno_number(n), Some(e), "{n}");
    }
    for (e, n) in [
        (libc::ECONNREFUSED, "ECONNREFUSED"),
        (libc::EAGAIN, "EAGAIN"),
        (libc::EHWPOISON, "EHWPOISON"),
        (512, "ERESTARTSYS"),
        (516, "ERESTART_RESTARTBLOCK"),
    ] {
        assert_eq!(errno_name(e), n);
    }
    assert_eq!(errno_number("EWOULDBLOCK"), Some(libc::EAGAIN));
    assert_eq!(errno_number("ENOTSUP"), Some(libc::EOPNOTSUPP));
    assert_eq!(errno_number("econnreset"), Some(libc::ECONNRESET));
    assert_eq!(errno_number("E?"), None);
    assert_eq!(errno_number("NOPE"), None);
    assert_eq!(errno_name(0), "E?");
    assert_eq!(errno_name(-1), "E?");
    assert_eq!(errno_name(4096), "E?");
}

#[test]
fn signal_names_round_trip() {
    for s in 0..=64 {
        let n = signal_name(s);
        assert_ne!(n, "SIG?", "{s}");
        assert_eq!(signal_number(n), Some(s), "{n}");
        assert_eq!(signal_number(&n[3..]), Some(s), "{n}");
    }
    assert_eq!(signal_name(libc::SIGTERM), "SIGTERM");
    assert_eq!(signal_name(34), "SIG34");
    assert_eq!(signal_name(65), "SIG?");
    assert_eq!(signal_name(-1), "SIG?");
    assert_eq!(signal_number("TERM"), Some(15));
    assert_eq!(signal_number("sigkill"), Some(9));
    assert_eq!(signal_number("9"), Some(9));
    assert_eq!(signal_number("SIGIOT"), Some(6));
    assert_eq!(signal_number("SIGRTMIN"), Some(34));
    assert_eq!(signal_number("SIGRTMIN+3"), Some(37));
    assert_eq!(signal_number("RTMAX-2"), Some(62));
    assert_eq!(signal_number("RTMAX"), Some(64));
    for bad in [
        "",
        "SIG",
        "SIGFOO",
        "65",
        "SIG65",
        "-1",
        "RTMIN+31",
        "RTMAX-31",
        "RTMIN-1",
        "RTMIN+",
        "RTMINX",
        "99999999999999999999",
        "SIG?",
    ] {
        assert_eq!(signal_number(bad), None, "{bad}");
    }
}

// ---- Fuzz-ish: random registers against random memory ----

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A value biased towards the interesting: 0, small numbers, mapped-looking addresses,
    /// all ones, or anything.
    fn value(&mut self) -> u64 {
        match self.next() % 6 {
            0 => 0,
            1 => self.next() % 64,
            2 => 0x1000 + self.next() % 0x1000,
            3 => u64::MAX - self.next() % 4,
            4 => u64::from(self.next() as u32),
            _ => self.next(),
        }
    }
}

/// Memory full of random (biased) bytes; some reads fail.
struct RandomMem(XorShift);

impl Memory for RandomMem {
    fn read(&mut self, _addr: u64, len: usize) -> Option<Vec<u8>> {
        if len > 4096 || self.0.next() & 7 == 0 {
            return None;
        }
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            let word = match self.0.next() % 4 {
                0 => 0,
                1 => 16 + self.0.next() % 32, // plausible lengths
                2 => 0x0000_0001_0000_0001,   // SOL_SOCKET / SCM_RIGHTS
                _ => self.0.next(),
            };
            out.extend(word.to_ne_bytes());
        }
        out.truncate(len);
        Some(out)
    }
}

#[test]
fn fuzz_decode_never_panics() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut mem = RandomMem(XorShift(0x2545_f491_4f6c_dd1d));
    let mut nrs: Vec<i64> = TRACED.to_vec();
    nrs.extend([-1, 0, 462, 463, i64::MAX, i64::MIN]);
    for _ in 0..3000 {
        for &nr in &nrs {
            let a = [(); 6].map(|_| rng.value());
            let ret = match rng.next() % 4 {
                0 => None,
                1 => Some((rng.next() % 8) as i64),
                2 => Some(-((rng.next() % 4096) as i64)),
                _ => Some(rng.next() as i64),
            };
            let s = decode(nr, a, ret, &mut mem);
            if let Call::SendMmsg { msgs, .. } | Call::RecvMmsg { msgs, .. } = &s.call {
                assert!(msgs.len() <= 1024);
            }
        }
    }
}

#[test]
fn fuzz_parsers_never_panic() {
    let mut rng = XorShift(42);
    for _ in 0..20_000 {
        let len = (rng.next() % 160) as usize;
        let mut b: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if len >= 2 && rng.next() & 1 == 0 {
            let fam = [1u16, 2, 10][(rng.next() % 3) as usize];
            b[..2].copy_from_slice(&fam.to_ne_bytes());
        }
        let _ = parse_sockaddr(&b);
        if len >= 16 && rng.next() & 1 == 0 {
            b[..8].copy_from_slice(&(rng.next() % 64).to_ne_bytes());
        }
        let _ = scm_rights(&b);
    }
}
