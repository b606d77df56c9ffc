//! Unit tests of the model: synthetic calls, and a fake kernel as the probe.

use std::collections::HashMap;
use std::net::SocketAddr;

use bop_syscalls::{Call, MsgInfo, SockAddr, Syscall};

use crate::{Applied, Family, Model, Object, Probe, Probed, SockType, Socket, TaskKind};

// ---------------------------------------------------------------------------------------------
// The fake kernel

/// What the "kernel" says each fd of each process is, and how often the model asked.
#[derive(Default)]
struct Kernel {
    fds: HashMap<(i32, i32), Probed>,
    asked: Vec<(i32, i32)>,
}

impl Kernel {
    fn set(&mut self, pid: i32, fd: i32, what: Probed) {
        self.fds.insert((pid, fd), what);
    }

    fn unset(&mut self, pid: i32, fd: i32) {
        self.fds.remove(&(pid, fd));
    }

    /// Probes so far.
    fn count(&self) -> usize {
        self.asked.len()
    }

    /// Probes of one fd so far.
    fn count_of(&self, pid: i32, fd: i32) -> usize {
        self.asked.iter().filter(|&&k| k == (pid, fd)).count()
    }
}

impl Probe for Kernel {
    fn probe(&mut self, pid: i32, fd: i32) -> Option<Probed> {
        self.asked.push((pid, fd));
        self.fds.get(&(pid, fd)).cloned()
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers

fn addr(s: &str) -> SockAddr {
    s.parse().unwrap()
}

fn sock(id: u64, family: Family, ty: SockType) -> Socket {
    Socket {
        id,
        family,
        ty,
        local: None,
        peer: None,
        peer_id: None,
        listening: false,
    }
}

fn tcp(id: u64) -> Socket {
    sock(id, Family::Inet, SockType::Stream)
}

fn udp(id: u64) -> Socket {
    sock(id, Family::Inet, SockType::Dgram)
}

fn unix(id: u64) -> Socket {
    Socket {
        local: Some(addr("unix:")),
        peer: Some(addr("unix:")),
        ..sock(id, Family::Unix, SockType::Stream)
    }
}

fn pipe_end(id: u64, write: bool) -> Probed {
    Probed::Pipe { id, write }
}

/// A call that returned `ret`.
fn done(name: &'static str, call: Call, ret: i64) -> Syscall {
    Syscall {
        nr: bop_syscalls::number(name).unwrap_or(-1),
        name,
        call,
        ret: Some(ret),
    }
}

/// A call seen at its entry stop (no result yet).
fn entered(name: &'static str, call: Call) -> Syscall {
    Syscall {
        ret: None,
        ..done(name, call, 0)
    }
}

fn err(errno: i32) -> i64 {
    -i64::from(errno)
}

fn socket_call(domain: i32, ty: i32) -> Call {
    Call::Socket {
        domain,
        ty,
        protocol: 0,
    }
}

fn send(fd: i32) -> Call {
    Call::Send {
        fd,
        len: Some(5),
        flags: 0,
        msg: MsgInfo::default(),
    }
}

fn sendto(fd: i32, to: &str) -> Call {
    Call::Send {
        fd,
        len: Some(5),
        flags: 0,
        msg: MsgInfo {
            len: Some(5),
            addr: Some(addr(to)),
            fds: vec![],
        },
    }
}

fn recvmsg(fd: i32, flags: i32, fds: Vec<i32>) -> Call {
    Call::Recv {
        fd,
        len: None,
        flags,
        msg: MsgInfo {
            len: Some(10),
            addr: None,
            fds,
        },
    }
}

fn close(fd: i32) -> Call {
    Call::Close { fd }
}

fn dup(oldfd: i32, newfd: Option<i32>, cloexec: bool) -> Call {
    Call::Dup {
        oldfd,
        newfd,
        cloexec,
    }
}

fn pipe(flags: i32, fds: [i32; 2]) -> Call {
    Call::Pipe {
        flags,
        fds: Some(fds),
    }
}

fn fcntl(fd: i32, cmd: i32, arg: u64) -> Call {
    Call::Fcntl { fd, cmd, arg }
}

const PID: i32 = 100;

/// A model with one process, `PID`, of node 0.
fn model() -> (Model, Kernel) {
    let mut m = Model::new();
    m.add_process(PID, 0);
    (m, Kernel::default())
}

/// Makes `fd` of `pid` a socket through a `socket` call, the kernel saying it is `s`.
fn make_socket(m: &mut Model, k: &mut Kernel, pid: i32, fd: i32, ty: i32, s: Socket) -> Applied {
    k.set(pid, fd, Probed::Socket(s));
    m.apply(
        pid,
        &done("socket", socket_call(libc::AF_INET, ty), fd.into()),
        k,
    )
}

/// What the model says `fd` of `tid` is, and whether it had to probe to say it.
fn lookup(m: &mut Model, k: &mut Kernel, tid: i32, fd: i32) -> (Option<Object>, bool) {
    let before = k.count();
    let o = m.object(tid, fd, k);
    (o, k.count() > before)
}

/// Asserts the model knows `fd` of `tid` as `want` without asking the kernel.
#[track_caller]
fn assert_known(m: &mut Model, k: &mut Kernel, tid: i32, fd: i32, want: Object) {
    let (o, probed) = lookup(m, k, tid, fd);
    assert_eq!(o, Some(want), "fd {fd} of {tid}");
    assert!(!probed, "fd {fd} of {tid} should be known without probing");
}

/// Asserts the model does not know `fd` of `tid` (it asks the kernel, which says closed).
#[track_caller]
fn assert_forgotten(m: &mut Model, k: &mut Kernel, tid: i32, fd: i32) {
    let pid = m.tgid(tid).unwrap_or(tid);
    k.unset(pid, fd);
    let (o, probed) = lookup(m, k, tid, fd);
    assert_eq!(o, None, "fd {fd} of {tid}");
    assert!(
        probed,
        "fd {fd} of {tid} should have been forgotten (and probed)"
    );
}

// ---------------------------------------------------------------------------------------------
// Sockets, accept, pipes, logs

#[test]
fn socket_makes_its_fd_the_probed_socket() {
    let (mut m, mut k) = model();
    let a = make_socket(&mut m, &mut k, PID, 3, libc::SOCK_STREAM, tcp(1001));
    assert_eq!(a.object, Some(Object::Socket(1001)));
    assert_eq!(a.fd, Some(3));
    assert!(a.record);
    let s = a.socket.expect("the socket");
    assert_eq!(
        (s.id, s.family, s.ty),
        (1001, Family::Inet, SockType::Stream)
    );
    assert_eq!(k.asked, vec![(PID, 3)]);
    assert_eq!(m.socket(1001), Some(&tcp(1001)));
    assert_known(&mut m, &mut k, PID, 3, Object::Socket(1001));
    assert_eq!(m.sockets().count(), 1);
}

#[test]
fn bind_listen_and_connect_refresh_the_socket() {
    let (mut m, mut k) = model();
    make_socket(&mut m, &mut k, PID, 3, libc::SOCK_STREAM, tcp(1));
    let bound = Socket {
        local: Some(addr("127.0.0.1:7000")),
        ..tcp(1)
    };
    k.set(PID, 3, Probed::Socket(bound.clone()));
    let bind = Call::Bind {
        fd: 3,
        addr: Some(addr("127.0.0.1:7000")),
    };
    let a = m.apply(PID, &done("bind", bind, 0), &mut k);
    assert_eq!(a.socket.as_ref().and_then(|s| s.local.clone()), bound.local);
    assert!(a.record);
    let a = m.apply(
        PID,
        &done("listen", Call::Listen { fd: 3, backlog: 5 }, 0),
        &mut k,
    );
    assert!(a.record);
    assert!(m.socket(1).unwrap().listening);
    // a failed listen on another socket does not make it listening
    make_socket(&mut m, &mut k, PID, 4, libc::SOCK_STREAM, tcp(2));
    let listen = Call::Listen { fd: 4, backlog: 5 };
    m.apply(PID, &done("listen", listen, err(libc::EADDRINUSE)), &mut k);
    assert!(!m.socket(2).unwrap().listening);
    // connect: the kernel's addresses after success
    let connected = Socket {
        local: Some(addr("127.0.0.1:40000")),
        peer: Some(addr("127.0.0.1:7000")),
        ..tcp(2)
    };
    k.set(PID, 4, Probed::Socket(connected.clone()));
    let connect = Call::Connect {
        fd: 4,
        addr: Some(addr("127.0.0.1:7000")),
    };
    let a = m.apply(PID, &done("connect", connect, 0), &mut k);
    assert_eq!(a.socket, Some(connected));
    assert_eq!(a.fd, Some(4));
}

#[test]
fn a_failed_connect_does_not_probe_again_and_sets_no_peer() {
    let (mut m, mut k) = model();
    make_socket(&mut m, &mut k, PID, 3, libc::SOCK_STREAM, tcp(1));
    let before = k.count();
    let connect = Call::Connect {
        fd: 3,
        addr: Some(addr("127.0.0.1:7000")),
    };
    let a = m.apply(
        PID,
        &done("connect", connect, err(libc::ECONNREFUSED)),
        &mut k,
    );
    assert!(a.record);
    assert_eq!(k.count(), before);
    assert_eq!(m.socket(1).unwrap().peer, None);
}

#[test]
fn a_connect_in_progress_knows_its_peer_from_the_argument() {
    let (mut m, mut k) = model();
    make_socket(&mut m, &mut k, PID, 3, libc::SOCK_STREAM, tcp(1));
    // getpeername fails until the connection is made: the kernel knows only the local address
    let half = Socket {
        local: Some(addr("127.0.0.1:40000")),
        ..tcp(1)
    };
    k.set(PID, 3, Probed::Socket(half));
    let connect = Call::Connect {
        fd: 3,
        addr: Some(addr("127.0.0.1:7000")),
    };
    let a = m.apply(
        PID,
        &done("connect", connect, err(libc::EINPROGRESS)),
        &mut k,
    );
    let s = a.socket.unwrap();
    assert_eq!(s.local, Some(addr("127.0.0.1:40000")));
    assert_eq!(s.peer, Some(addr("127.0.0.1:7000")));
    // getsockopt(SO_ERROR) = 0 completes it: recorded, and the socket refreshed
    let full = Socket {
        local: Some(addr("127.0.0.1:40000")),
        peer: Some(addr("127.0.0.1:7000")),
        ..tcp(1)
    };
    k.set(PID, 3, Probed::Socket(full.clone()));
    let before = k.count();
    let so_error = Call::Getsockopt {
        fd: 3,
        level: libc::SOL_SOCKET,
        optname: libc::SO_ERROR,
        value: Some(0),
    };
    let a = m.apply(PID, &done("getsockopt", so_error, 0), &mut k);
    assert!(a.record);
    assert_eq!(k.count(), before + 1);
    assert_eq!(a.socket, Some(full));
    // other options are not recorded
    let so_type = Call::Getsockopt {
        fd: 3,
        level: libc::SOL_SOCKET,
        optname: libc::SO_TYPE,
        value: Some(libc::SOCK_STREAM),
    };
    let a = m.apply(PID, &done("getsockopt", so_type, 0), &mut k);
    assert!(!a.record);
}

#[test]
fn connect_af_unspec_dissolves_the_association() {
    let (mut m, mut k) = model();
    make_socket(&mut m, &mut k, PID, 3, libc::SOCK_DGRAM, udp(1));
    let assoc = Socket {
        local: Some(addr("127.0.0.1:40000")),
        peer: Some(addr("127.0.0.1:9000")),
        ..udp(1)
    };
    k.set(PID, 3, Probed::Socket(assoc));
    let connect = Call::Connect {
        fd: 3,
        addr: Some(addr("127.0.0.1:9000")),
    };
    m.apply(PID, &done("connect", connect, 0), &mut k);
    assert_eq!(m.socket(1).unwrap().peer, Some(addr("127.0.0.1:9000")));
    // connect(AF_UNSPEC): the kernel says no peer any more; the argument is family 0
    let unconnected = Socket {
        local: Some(addr("127.0.0.1:40000")),
        ..udp(1)
    };
    k.set(PID, 3, Probed::Socket(unconnected));
    let connect = Call::Connect {
        fd: 3,
        addr: Some(SockAddr::Other(libc::AF_UNSPEC as u16)),
    };
    let a = m.apply(PID, &done("connect", connect, 0), &mut k);
    assert_eq!(a.socket.unwrap().peer, None);
    assert_eq!(m.socket(1).unwrap().peer, None);
}

#[test]
fn accept_installs_the_new_connection() {
    let (mut m, mut k) = model();
    let listener = Socket {
        local: Some(addr("127.0.0.1:7000")),
        ..tcp(1)
    };
    make_socket(&mut m, &mut k, PID, 3, libc::SOCK_STREAM, listener);
    m.apply(
        PID,
        &done("listen", Call::Listen { fd: 3, backlog: 5 }, 0),
        &mut k,
    );
    let conn = Socket {
        local: Some(addr("127.0.0.1:7000")),
        peer: Some(addr("127.0.0.1:5555")),
        ..tcp(2)
    };
    k.set(PID, 4, Probed::Socket(conn.clone()));
    let accept = Call::Accept {
        fd: 3,
        flags: libc::SOCK_CLOEXEC,
        peer: Some(addr("127.0.0.1:5555")),
    };
    let a = m.apply(PID, &done("accept4", accept, 4), &mut k);
    assert_eq!(a.fd, Some(4));
    assert_eq!(a.object, Some(Object::Socket(2)));
    assert_eq!(a.socket, Some(conn));
    assert!(a.record);
    assert_known(&mut m, &mut k, PID, 4, Object::Socket(2));
    assert_known(&mut m, &mut k, PID, 3, Object::Socket(1));
    assert!(m.socket(1).unwrap().listening);
    assert!(!m.socket(2).unwrap().listening);
    // a failed accept is about the listening socket and installs nothing
    let before = k.count();
    let accept = Call::Accept {
        fd: 3,
        flags: 0,
        peer: None,
    };
    let a = m.apply(PID, &done("accept", accept, err(libc::EAGAIN)), &mut k);
    assert_eq!(a.fd, Some(3));
    assert_eq!(a.object, Some(Object::Socket(1)));
    assert!(a.record);
    assert_eq!(k.count(), before);
}

#[test]
fn a_listening_socket_learned_by_probing_is_listening() {
    let (mut m, mut k) = model();
    // inherited from somewhere: bop never saw its listen
    let s = Socket {
        local: Some(addr("0.0.0.0:7000")),
        listening: true,
        ..tcp(9)
    };
    k.set(PID, 5, Probed::Socket(s));
    let accept = Call::Accept {
        fd: 5,
        flags: 0,
        peer: None,
    };
    m.apply(PID, &done("accept", accept, err(libc::EAGAIN)), &mut k);
    assert!(m.socket(9).unwrap().listening);
    // and a refresh that says nothing about it does not forget it
    k.set(
        PID,
        5,
        Probed::Socket(Socket {
            listening: false,
            ..m.socket(9).unwrap().clone()
        }),
    );
    m.apply(
        PID,
        &done(
            "bind",
            Call::Bind {
                fd: 5,
                addr: Some(addr("0.0.0.0:7000")),
            },
            0,
        ),
        &mut k,
    );
    assert!(m.socket(9).unwrap().listening);
}

#[test]
fn a_pipe_has_a_read_end_and_a_write_end() {
    let (mut m, mut k) = model();
    k.set(PID, 3, pipe_end(77, false));
    k.set(PID, 4, pipe_end(77, true));
    let a = m.apply(PID, &done("pipe2", pipe(0, [3, 4]), 0), &mut k);
    assert_eq!(
        a.object,
        Some(Object::Pipe {
            id: 77,
            write: false
        })
    );
    assert_eq!(a.fd, Some(3));
    assert!(a.record);
    assert_eq!(a.socket, None);
    assert_known(
        &mut m,
        &mut k,
        PID,
        3,
        Object::Pipe {
            id: 77,
            write: false,
        },
    );
    assert_known(
        &mut m,
        &mut k,
        PID,
        4,
        Object::Pipe {
            id: 77,
            write: true,
        },
    );
    let a = m.apply(PID, &done("write", send(4), 5), &mut k);
    assert_eq!(
        a.object,
        Some(Object::Pipe {
            id: 77,
            write: true
        })
    );
    assert_eq!(a.fd, Some(4));
    assert!(a.record);
}

#[test]
fn socketpair_installs_both_ends() {
    let (mut m, mut k) = model();
    k.set(PID, 5, Probed::Socket(unix(10)));
    k.set(PID, 6, Probed::Socket(unix(11)));
    let call = Call::Socketpair {
        domain: libc::AF_UNIX,
        ty: libc::SOCK_STREAM,
        protocol: 0,
        fds: Some([5, 6]),
    };
    let a = m.apply(PID, &done("socketpair", call, 0), &mut k);
    assert_eq!(a.object, Some(Object::Socket(10)));
    assert_eq!(a.fd, Some(5));
    assert_eq!(a.socket.unwrap().family, Family::Unix);
    assert_known(&mut m, &mut k, PID, 6, Object::Socket(11));
}

#[test]
fn a_log_pipe_is_not_communication() {
    let (mut m, mut k) = model();
    m.mark_log_pipe(42);
    k.set(PID, 1, pipe_end(42, true));
    k.set(PID, 2, pipe_end(42, true));
    for fd in [1, 2, 1, 2] {
        let a = m.apply(PID, &done("write", send(fd), 5), &mut k);
        assert_eq!(a.object, Some(Object::Log));
        assert!(!a.record);
        assert_eq!(a.socket, None);
    }
    assert_eq!(k.count(), 2, "each log fd is probed once");
    // any other pipe is communication
    k.set(PID, 3, pipe_end(43, true));
    assert!(m.apply(PID, &done("write", send(3), 5), &mut k).record);
}

#[test]
fn an_unknown_fd_is_probed_once() {
    let (mut m, mut k) = model();
    let s = Socket {
        local: Some(addr("127.0.0.1:1")),
        peer: Some(addr("127.0.0.1:2")),
        ..tcp(5)
    };
    k.set(PID, 7, Probed::Socket(s.clone()));
    for _ in 0..3 {
        let a = m.apply(PID, &done("sendto", send(7), 5), &mut k);
        assert_eq!(a.socket.as_ref(), Some(&s));
        assert!(a.record);
    }
    assert_eq!(k.count_of(PID, 7), 1);
    // a regular file: probed once too, never recorded
    k.set(PID, 8, Probed::Other);
    for _ in 0..3 {
        let a = m.apply(PID, &done("write", send(8), 5), &mut k);
        assert_eq!(a.object, Some(Object::Other));
        assert!(!a.record);
    }
    assert_eq!(k.count_of(PID, 8), 1);
    // an fd that is not open is not remembered: it may be opened by a call bop does not see
    let a = m.apply(PID, &done("write", send(9), err(libc::EBADF)), &mut k);
    assert_eq!(a.object, None);
    assert!(!a.record);
    m.apply(PID, &done("write", send(9), err(libc::EBADF)), &mut k);
    assert_eq!(k.count_of(PID, 9), 2);
}

#[test]
fn the_first_send_of_an_unbound_datagram_socket_learns_its_address() {
    let (mut m, mut k) = model();
    make_socket(&mut m, &mut k, PID, 3, libc::SOCK_DGRAM, udp(1));
    assert_eq!(k.count(), 1);
    // a failed send does not bind it
    m.apply(
        PID,
        &done("sendto", sendto(3, "127.0.0.1:9000"), err(libc::EAGAIN)),
        &mut k,
    );
    assert_eq!(k.count(), 1);
    // the kernel binds it at its first successful send
    let bound = Socket {
        local: Some(addr("0.0.0.0:40001")),
        ..udp(1)
    };
    k.set(PID, 3, Probed::Socket(bound));
    let a = m.apply(PID, &done("sendto", sendto(3, "127.0.0.1:9000"), 5), &mut k);
    assert_eq!(k.count(), 2);
    assert_eq!(a.socket.and_then(|s| s.local), Some(addr("0.0.0.0:40001")));
    assert_eq!(m.socket(1).unwrap().local, Some(addr("0.0.0.0:40001")));
    // bound now: no more probing
    m.apply(PID, &done("sendto", sendto(3, "127.0.0.1:9000"), 5), &mut k);
    assert_eq!(k.count(), 2);
}

#[test]
fn an_inet_address_with_port_0_is_unbound_and_sendmmsg_refreshes_too() {
    let (mut m, mut k) = model();
    let half = Socket {
        local: Some(addr("127.0.0.1:0")),
        ..udp(1)
    };
    make_socket(&mut m, &mut k, PID, 3, libc::SOCK_DGRAM, half);
    let bound = Socket {
        local: Some(addr("127.0.0.1:40002")),
        ..udp(1)
    };
    k.set(PID, 3, Probed::Socket(bound));
    let call = Call::SendMmsg {
        fd: 3,
        flags: 0,
        msgs: vec![MsgInfo {
            len: Some(3),
            addr: Some(addr("127.0.0.1:9000")),
            fds: vec![],
        }],
    };
    let a = m.apply(PID, &done("sendmmsg", call, 1), &mut k);
    assert_eq!(a.socket.unwrap().local, Some(addr("127.0.0.1:40002")));
    assert_eq!(k.count(), 2);
}

// ---------------------------------------------------------------------------------------------
// Processes: fork, threads, CLONE_FILES, exec, exit, nodes

#[test]
fn fork_copies_the_fd_table() {
    let (mut m, mut k) = model();
    make_socket(&mut m, &mut k, PID, 3, libc::SOCK_STREAM, tcp(1));
    make_socket(&mut m, &mut k, PID, 4, libc::SOCK_STREAM, tcp(2));
    m.new_task(
        PID,
        200,
        TaskKind::Process {
            shares_files: false,
        },
    );
    assert_eq!(m.tgid(200), Some(200));
    // the child knows the parent's fds without probing
    assert_known(&mut m, &mut k, 200, 3, Object::Socket(1));
    // a close in the child does not affect the parent
    let a = m.apply(200, &entered("close", close(3)), &mut k);
    assert_eq!(a.object, Some(Object::Socket(1)));
    assert!(a.record);
    assert_forgotten(&mut m, &mut k, 200, 3);
    assert_known(&mut m, &mut k, PID, 3, Object::Socket(1));
    // nor one in the parent the child
    m.apply(PID, &done("close", close(4), 0), &mut k);
    assert_forgotten(&mut m, &mut k, PID, 4);
    assert_known(&mut m, &mut k, 200, 4, Object::Socket(2));
    // fds made after the fork are the maker's only
    make_socket(&mut m, &mut k, 200, 5, libc::SOCK_STREAM, tcp(3));
    assert_forgotten(&mut m, &mut k, PID, 5);
}

#[test]
fn threads_share_the_fd_table() {
    let (mut m, mut k) = model();
    make_socket(&mut m, &mut k, PID, 3, libc::SOCK_STREAM, tcp(1));
    m.new_task(PID, 101, TaskKind::Thread);
    assert_eq!(m.tgid(101), Some(PID));
    assert_known(&mut m, &mut k, 101, 3, Object::Socket(1));
    // a thread's probes are about its process
    k.set(PID, 4, Probed::Socket(tcp(2)));
    m.apply(101, &done("write", send(4), 5), &mut k);
    assert_eq!(k.asked.last(), Some(&(PID, 4)));
    assert_known(&mut m, &mut k, PID, 4, Object::Socket(2));
    // a close in the thread is seen by the leader, and the reverse
    m.apply(101, &entered("close", close(3)), &mut k);
    assert_forgotten(&mut m, &mut k, PID, 3);
    m.apply(PID, &entered("close", close(4)), &mut k);
    assert_forgotten(&mut m, &mut k, 101, 4);
    // a thread of a thread is a thread of the process
    m.new_task(101, 102, TaskKind::Thread);
    assert_eq!(m.tgid(102), Some(PID));
}

#[test]
fn clone_files_processes_share_the_fd_table() {
    let (mut m, mut k) = model();
    make_socket(&mut m, &mut k, PID, 3, libc::SOCK_STREAM, tcp(1));
    m.new_task(PID, 300, TaskKind::Process { shares_files: true });
    assert_eq!(m.tgid(300), Some(300));
    assert_known(&mut m, &mut k, 300, 3, Object::Socket(1));
    m.apply(300, &entered("close", close(3)), &mut k);
    assert_forgotten(&mut m, &mut k, PID, 3);
    // an fd made by the parent is the child's too
    make_socket(&mut m, &mut k, PID, 4, libc::SOCK_STREAM, tcp(2));
    assert_known(&mut m, &mut k, 300, 4, Object::Socket(2));
    // the parent's exit leaves the table to the child
    m.exit(PID);
    assert_eq!(m.tgid(PID), None);
    assert_known(&mut m, &mut k, 300, 4, Object::Socket(2));
}

#[test]
fn exec_unshares_a_clone_files_table() {
    let (mut m, mut k) = model();
    make_socket(&mut m, &mut k, PID, 3, libc::SOCK_STREAM, tcp(1));
    make_socket(&mut m, &mut k, PID, 4, libc::SOCK_STREAM, tcp(2));
    m.new_task(PID, 300, TaskKind::Process { shares_files: true });
    m.exec(300, 300);
    assert_known(&mut m, &mut k, 300, 3, Object::Socket(1));
    m.apply(300, &entered("close", close(3)), &mut k);
    assert_known(&mut m, &mut k, PID, 3, Object::Socket(1));
    m.apply(PID, &entered("close", close(4)), &mut k);
    assert_known(&mut m, &mut k, 300, 4, Object::Socket(2));
}

#[test]
fn close_range_unshare_unshares_first() {
    let (mut m, mut k) = model();
    make_socket(&mut m, &mut k, PID, 3, libc::SOCK_STREAM, tcp(1));
    m.new_task(PID, 300, TaskKind::Process { shares_files: true });
    let call = Call::CloseRange {
        first: 3,
        last: u32::MAX,
        flags: 2, // CLOSE_RANGE_UNSHARE
    };
    let a = m.apply(300, &done("close_range", call, 0), &mut k);
    assert!(a.record);
    assert_forgotten(&mut m, &mut k, 300, 3);
    assert_known(&mut m, &mut k, PID, 3, Object::Socket(1));
}

#[test]
fn dup_dup2_dup3_and_f_dupfd_copy_the_object() {
    let (mut m, mut k) = model();
    make_socket(&mut m, &mut k, PID, 3, libc::SOCK_STREAM, tcp(1));
    let before = k.count();
    let a = m.apply(PID, &done("dup", dup(3, None, false), 5), &mut k);
    assert_eq!(a.object, Some(Object::Socket(1)));
    assert_eq!(a.fd, Some(3));
    assert!(a.record);
    assert_known(&mut m, &mut k, PID, 5, Object::Socket(1));
    m.apply(PID, &done("dup2", dup(3, Some(6), false), 6), &mut k);
    assert_known(&mut m, &mut k, PID, 6, Object::Socket(1));
    m.apply(PID, &done("dup3", dup(3, Some(7), true), 7), &mut k);
    assert_known(&mut m, &mut k, PID, 7, Object::Socket(1));
    // fcntl(3, F_DUPFD, 10) decodes as a dup; the result is the new fd
    m.apply(PID, &done("fcntl", dup(3, None, false), 10), &mut k);
    assert_known(&mut m, &mut k, PID, 10, Object::Socket(1));
    assert_eq!(k.count(), before, "dups of a known fd need no probe");
    // the copy outlives the original
    m.apply(PID, &entered("close", close(3)), &mut k);
    assert_known(&mut m, &mut k, PID, 5, Object::Socket(1));
}

#[test]
fn dup_of_an_unknown_fd_probes_the_old_fd() {
    let (mut m, mut k) = model();
    k.set(PID, 3, Probed::Socket(tcp(1)));
    let a = m.apply(PID, &done("dup", dup(3, None, false), 4), &mut k);
    assert_eq!(a.object, Some(Object::Socket(1)));
    assert_eq!(k.asked, vec![(PID, 3)]);
    assert_known(&mut m, &mut k, PID, 4, Object::Socket(1));
    assert_known(&mut m, &mut k, PID, 3, Object::Socket(1));
}

#[test]
fn dup2_onto_an_open_fd_replaces_it() {
    let (mut m, mut k) = model();
    make_socket(&mut m, &mut k, PID, 3, libc::SOCK_STREAM, tcp(1));
    k.set(PID, 4, pipe_end(9, false));
    k.set(PID, 5, pipe_end(9, true));
    m.apply(PID, &done("pipe", pipe(0, [4, 5]), 0), &mut k);
    let a = m.apply(PID, &done("dup2", dup(3, Some(5), false), 5), &mut k);
    assert!(a.record);
    assert_known(&mut m, &mut k, PID, 5, Object::Socket(1));
    // a file over a pipe end: recorded, as it closes communication
    k.set(PID, 8, Probed::Other);
    m.apply(PID, &done("write", send(8), 1), &mut k);
    let a = m.apply(PID, &done("dup2", dup(8, Some(4), false), 4), &mut k);
    assert_eq!(a.object, Some(Object::Other));
    assert!(a.record);
    assert_known(&mut m, &mut k, PID, 4, Object::Other);
    // a file over a file: not communication
    k.set(PID, 9, Probed::Other);
    m.apply(PID, &done("write", send(9), 1), &mut k);
    let a = m.apply(PID, &done("dup2", dup(8, Some(9), false), 9), &mut k);
    assert!(!a.record);
}

#[test]
fn dup2_of_an_fd_onto_itself_changes_nothing() {
    let (mut m, mut k) = model();
    make_socket(
        &mut m,
        &mut k,
        PID,
        3,
        libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
        tcp(1),
    );
    let a = m.apply(PID, &done("dup2", dup(3, Some(3), false), 3), &mut k);
    assert_eq!(a.object, Some(Object::Socket(1)));
    assert_known(&mut m, &mut k, PID, 3, Object::Socket(1));
    // still close-on-exec: dup2(fd, fd) does not clear the flag
    m.exec(PID, PID);
    assert_forgotten(&mut m, &mut k, PID, 3);
}

#[test]
fn failed_calls_install_no_fd() {
    let (mut m, mut k) = model();
    for fd in 3..8 {
        k.set(PID, fd, Probed::Socket(tcp(fd as u64)));
    }
    let a = m.apply(
        PID,
        &done(
            "socket",
            socket_call(libc::AF_INET, libc::SOCK_STREAM),
            err(libc::EMFILE),
        ),
        &mut k,
    );
    assert_eq!((a.object.clone(), a.fd), (None, None));
    assert!(a.record, "a failed socket() is still recorded");
    let a = m.apply(
        PID,
        &done("pipe2", pipe(0, [3, 4]), err(libc::EMFILE)),
        &mut k,
    );
    assert_eq!(a.object, None);
    let call = Call::Socketpair {
        domain: libc::AF_UNIX,
        ty: libc::SOCK_STREAM,
        protocol: 0,
        fds: Some([3, 4]),
    };
    m.apply(PID, &done("socketpair", call, err(libc::EMFILE)), &mut k);
    assert_eq!(k.count(), 0, "nothing was probed");
    // a failed dup probes (and records) only its old fd
    m.apply(
        PID,
        &done("dup", dup(5, None, false), err(libc::EMFILE)),
        &mut k,
    );
    assert_eq!(k.asked, vec![(PID, 5)]);
    // nor does a failed recvmsg install what it lists
    m.apply(
        PID,
        &done("recvmsg", recvmsg(5, 0, vec![6, 7]), err(libc::EAGAIN)),
        &mut k,
    );
    assert_eq!(k.asked, vec![(PID, 5)]);
    // entry stops change nothing but close
    m.apply(PID, &entered("dup", dup(5, None, false)), &mut k);
    m.apply(PID, &entered("pipe", pipe(0, [3, 4])), &mut k);
    assert_eq!(k.asked, vec![(PID, 5)]);
}

#[test]
fn close_removes_the_fd() {
    let (mut m, mut k) = model();
    make_socket(&mut m, &mut k, PID, 3, libc::SOCK_STREAM, tcp(1));
    let a = m.apply(PID, &entered("close", close(3)), &mut k);
    assert_eq!(a.object, Some(Object::Socket(1)));
    assert_eq!(a.socket.map(|s| s.id), Some(1));
    assert_eq!(a.fd, Some(3));
    assert!(a.record);
    assert_forgotten(&mut m, &mut k, PID, 3);
    // closing an fd the model does not know is not probed nor recorded
    let before = k.count();
    let a = m.apply(PID, &entered("close", close(12)), &mut k);
    assert_eq!(a.object, None);
    assert!(!a.record);
    assert_eq!(k.count(), before);
    // the socket itself stays known (other processes may hold it)
    assert!(m.socket(1).is_some());
}

#[test]
fn close_range_removes_a_range() {
    let (mut m, mut k) = model();
    for fd in 2..=12 {
        make_socket(&mut m, &mut k, PID, fd, libc::SOCK_STREAM, tcp(fd as u64));
    }
    let call = Call::CloseRange {
        first: 3,
        last: 10,
        flags: 0,
    };
    let a = m.apply(PID, &done("close_range", call, 0), &mut k);
    assert!(a.record);
    assert_eq!(a.fd, None);
    for fd in 3..=10 {
        assert_forgotten(&mut m, &mut k, PID, fd);
    }
    assert_known(&mut m, &mut k, PID, 2, Object::Socket(2));
    assert_known(&mut m, &mut k, PID, 11, Object::Socket(11));
    assert_known(&mut m, &mut k, PID, 12, Object::Socket(12));
    // an empty range closes nothing: not recorded
    let call = Call::CloseRange {
        first: 3,
        last: 10,
        flags: 0,
    };
    assert!(!m.apply(PID, &done("close_range", call, 0), &mut k).record);
    // a failed one closes nothing
    let call = Call::CloseRange {
        first: 0,
        last: u32::MAX,
        flags: 0,
    };
    let a = m.apply(PID, &done("close_range", call, err(libc::EINVAL)), &mut k);
    assert!(!a.record);
    assert_known(&mut m, &mut k, PID, 11, Object::Socket(11));
    // up to ~0U
    let call = Call::CloseRange {
        first: 11,
        last: u32::MAX,
        flags: 0,
    };
    m.apply(PID, &done("close_range", call, 0), &mut k);
    assert_forgotten(&mut m, &mut k, PID, 11);
    assert_forgotten(&mut m, &mut k, PID, 12);
    assert_known(&mut m, &mut k, PID, 2, Object::Socket(2));
}

#[test]
fn close_range_cloexec_marks_instead() {
    let (mut m, mut k) = model();
    for fd in 3..=5 {
        make_socket(&mut m, &mut k, PID, fd, libc::SOCK_STREAM, tcp(fd as u64));
    }
    let call = Call::CloseRange {
        first: 4,
        last: u32::MAX,
        flags: 4, // CLOSE_RANGE_CLOEXEC
    };
    let a = m.apply(PID, &done("close_range", call, 0), &mut k);
    assert!(!a.record);
    assert_known(&mut m, &mut k, PID, 4, Object::Socket(4));
    assert_known(&mut m, &mut k, PID, 5, Object::Socket(5));
    m.exec(PID, PID);
    assert_known(&mut m, &mut k, PID, 3, Object::Socket(3));
    assert_forgotten(&mut m, &mut k, PID, 4);
    assert_forgotten(&mut m, &mut k, PID, 5);
}

#[test]
fn exec_drops_close_on_exec_fds_and_keeps_the_others() {
    let (mut m, mut k) = model();
    let cloexec = libc::SOCK_STREAM | libc::SOCK_CLOEXEC;
    make_socket(&mut m, &mut k, PID, 3, cloexec, tcp(3)); // dropped
    make_socket(&mut m, &mut k, PID, 4, libc::SOCK_STREAM, tcp(4)); // kept
    k.set(PID, 5, pipe_end(56, false));
    k.set(PID, 6, pipe_end(56, true));
    k.set(PID, 7, pipe_end(78, false));
    k.set(PID, 8, pipe_end(78, true));
    m.apply(
        PID,
        &done("pipe2", pipe(libc::O_CLOEXEC, [5, 6]), 0),
        &mut k,
    ); // dropped
    m.apply(PID, &done("pipe", pipe(0, [7, 8]), 0), &mut k); // kept
    m.apply(PID, &done("dup3", dup(4, Some(9), true), 9), &mut k); // dropped
    m.apply(PID, &done("dup2", dup(3, Some(10), false), 10), &mut k); // kept
    make_socket(&mut m, &mut k, PID, 11, libc::SOCK_STREAM, tcp(11));
    m.apply(
        PID,
        &done(
            "fcntl",
            fcntl(11, libc::F_SETFD, libc::FD_CLOEXEC as u64),
            0,
        ),
        &mut k,
    ); // dropped
    make_socket(&mut m, &mut k, PID, 12, cloexec, tcp(12));
    m.apply(PID, &done("fcntl", fcntl(12, libc::F_SETFD, 0), 0), &mut k); // kept
    make_socket(&mut m, &mut k, PID, 13, libc::SOCK_STREAM, tcp(13));
    // a failed F_SETFD changes nothing
    m.apply(
        PID,
        &done(
            "fcntl",
            fcntl(13, libc::F_SETFD, libc::FD_CLOEXEC as u64),
            err(libc::EBADF),
        ),
        &mut k,
    ); // kept
       // fcntl is never recorded (F_DUPFD is a dup)
    let a = m.apply(PID, &done("fcntl", fcntl(13, libc::F_GETFL, 0), 2), &mut k);
    assert!(!a.record);
    let accept = Call::Accept {
        fd: 4,
        flags: libc::SOCK_CLOEXEC,
        peer: None,
    };
    k.set(PID, 14, Probed::Socket(tcp(14)));
    m.apply(PID, &done("accept4", accept, 14), &mut k); // dropped
    k.set(PID, 15, Probed::Socket(tcp(15)));
    k.set(PID, 16, Probed::Socket(tcp(16)));
    m.apply(
        PID,
        &done("recvmsg", recvmsg(4, libc::MSG_CMSG_CLOEXEC, vec![15]), 10),
        &mut k,
    ); // dropped
    m.apply(PID, &done("recvmsg", recvmsg(4, 0, vec![16]), 10), &mut k); // kept
                                                                         // learned by probing, close-on-exec unknown: dropped
    let connected = Socket {
        local: Some(addr("127.0.0.1:40017")),
        peer: Some(addr("127.0.0.1:7000")),
        ..tcp(17)
    };
    k.set(PID, 17, Probed::Socket(connected));
    m.apply(PID, &done("write", send(17), 5), &mut k);

    m.exec(PID, PID);
    assert_eq!(m.tgid(PID), Some(PID));
    assert_eq!(m.node_of(PID), Some(0));
    for (fd, id) in [(4, 4), (10, 3), (12, 12), (13, 13), (16, 16)] {
        assert_known(&mut m, &mut k, PID, fd, Object::Socket(id));
    }
    assert_known(
        &mut m,
        &mut k,
        PID,
        7,
        Object::Pipe {
            id: 78,
            write: false,
        },
    );
    assert_known(
        &mut m,
        &mut k,
        PID,
        8,
        Object::Pipe {
            id: 78,
            write: true,
        },
    );
    for fd in [3, 5, 6, 9, 11, 14, 15] {
        assert_forgotten(&mut m, &mut k, PID, fd);
    }
    // the probed fd is probed again, once
    let before = k.count_of(PID, 17);
    for _ in 0..3 {
        let a = m.apply(PID, &done("write", send(17), 5), &mut k);
        assert_eq!(a.object, Some(Object::Socket(17)));
    }
    assert_eq!(k.count_of(PID, 17), before + 1);
}

#[test]
fn exec_from_a_non_leader_thread_keeps_the_process() {
    let (mut m, mut k) = model();
    m.add_process(500, 4);
    make_socket(&mut m, &mut k, 500, 3, libc::SOCK_STREAM, tcp(1));
    m.new_task(500, 501, TaskKind::Thread);
    m.new_task(500, 502, TaskKind::Thread);
    // thread 501 execs: it becomes the leader, 500
    m.exec(500, 501);
    assert_eq!(m.tgid(500), Some(500));
    assert_eq!(m.node_of(500), Some(4));
    assert_eq!(m.tgid(501), None);
    assert_eq!(m.tgid(502), None);
    assert_known(&mut m, &mut k, 500, 3, Object::Socket(1));
    // the same after the old leader was reported gone first
    m.new_task(500, 503, TaskKind::Thread);
    m.exit(500);
    assert_eq!(m.tgid(503), Some(500));
    m.exec(500, 503);
    assert_eq!(m.tgid(500), Some(500));
    assert_eq!(m.node_of(500), Some(4));
    assert_eq!(m.tgid(503), None);
    assert_known(&mut m, &mut k, 500, 3, Object::Socket(1));
}

#[test]
fn exec_of_a_task_bop_does_not_know_stays_unknown() {
    let (mut m, mut k) = model();
    m.exec(999, 998);
    assert_eq!(m.tgid(999), None);
    assert_eq!(m.node_of(999), None);
    let a = m.apply(999, &done("write", send(3), 5), &mut k);
    assert!(!a.record);
    assert_eq!(k.count(), 0);
}

#[test]
fn scm_rights_fds_are_installed() {
    let (mut m, mut k) = model();
    k.set(PID, 3, Probed::Socket(unix(1)));
    k.set(PID, 4, Probed::Socket(unix(2)));
    let call = Call::Socketpair {
        domain: libc::AF_UNIX,
        ty: libc::SOCK_STREAM,
        protocol: 0,
        fds: Some([3, 4]),
    };
    m.apply(PID, &done("socketpair", call, 0), &mut k);
    k.set(PID, 5, Probed::Socket(tcp(3003)));
    k.set(PID, 6, pipe_end(77, true));
    let a = m.apply(PID, &done("recvmsg", recvmsg(3, 0, vec![5, 6]), 10), &mut k);
    // the call is about the socket it received on
    assert_eq!(a.object, Some(Object::Socket(1)));
    assert_eq!(a.fd, Some(3));
    assert_known(&mut m, &mut k, PID, 5, Object::Socket(3003));
    assert_known(
        &mut m,
        &mut k,
        PID,
        6,
        Object::Pipe {
            id: 77,
            write: true,
        },
    );
    // recvmmsg too
    k.set(PID, 7, Probed::Socket(tcp(3004)));
    let call = Call::RecvMmsg {
        fd: 3,
        flags: 0,
        msgs: vec![
            MsgInfo::default(),
            MsgInfo {
                len: Some(1),
                addr: None,
                fds: vec![7],
            },
        ],
    };
    m.apply(PID, &done("recvmmsg", call, 2), &mut k);
    assert_known(&mut m, &mut k, PID, 7, Object::Socket(3004));
}

#[test]
fn splice_is_about_its_communication_end() {
    let (mut m, mut k) = model();
    make_socket(&mut m, &mut k, PID, 3, libc::SOCK_STREAM, tcp(1));
    k.set(PID, 4, Probed::Other);
    let call = Call::Splice {
        fd_in: 4,
        fd_out: 3,
        len: 10,
        flags: 0,
    };
    let a = m.apply(PID, &done("splice", call, 10), &mut k);
    assert_eq!((a.fd, a.object), (Some(3), Some(Object::Socket(1))));
    let call = Call::Splice {
        fd_in: 3,
        fd_out: 4,
        len: 10,
        flags: 0,
    };
    let a = m.apply(PID, &done("splice", call, 10), &mut k);
    assert_eq!((a.fd, a.object), (Some(3), Some(Object::Socket(1))));
    let call = Call::Sendfile {
        out_fd: 3,
        in_fd: 4,
        count: 10,
    };
    let a = m.apply(PID, &done("sendfile", call, 10), &mut k);
    assert_eq!((a.fd, a.record), (Some(3), true));
}

#[test]
fn wait_kill_and_io_uring_setup_are_recorded() {
    let (mut m, mut k) = model();
    let calls = [
        Call::Wait {
            pid: -1,
            options: 0,
            reaped: Some(200),
            status: Some(0),
        },
        Call::Kill {
            pid: 200,
            tid: None,
            sig: libc::SIGTERM,
        },
        Call::IoUringSetup { entries: 8 },
    ];
    for (name, call) in ["wait4", "kill", "io_uring_setup"].into_iter().zip(calls) {
        let a = m.apply(PID, &done(name, call, 0), &mut k);
        assert!(a.record);
        assert_eq!((a.fd, a.object), (None, None));
    }
    let a = m.apply(
        PID,
        &done("getpid", Call::Other { args: [0; 6] }, 1),
        &mut k,
    );
    assert!(!a.record);
    assert_eq!(k.count(), 0);
}

#[test]
fn exit_frees_the_process_and_its_table() {
    let (mut m, mut k) = model();
    make_socket(&mut m, &mut k, PID, 3, libc::SOCK_STREAM, tcp(1));
    m.new_task(PID, 101, TaskKind::Thread);
    // a thread's exit leaves the process
    m.exit(101);
    assert_eq!(m.tgid(101), None);
    assert_known(&mut m, &mut k, PID, 3, Object::Socket(1));
    // the leader's exit while a thread runs leaves it too
    m.new_task(PID, 102, TaskKind::Thread);
    m.exit(PID);
    assert_eq!(m.tgid(PID), None);
    assert_eq!(m.node_of(102), Some(0));
    assert_known(&mut m, &mut k, 102, 3, Object::Socket(1));
    // the last thread's exit ends it
    m.exit(102);
    assert_eq!(m.tgid(102), None);
    assert_eq!(m.node_of(102), None);
    let before = k.count();
    assert_eq!(m.object(PID, 3, &mut k), None);
    assert_eq!(m.object(102, 3, &mut k), None);
    assert_eq!(
        k.count(),
        before,
        "nothing to probe for a process that is gone"
    );
    let a = m.apply(PID, &done("write", send(3), 5), &mut k);
    assert!(!a.record);
    // a new process with the same pid starts with an empty table
    m.add_process(PID, 1);
    assert_eq!(m.node_of(PID), Some(1));
    k.set(PID, 3, Probed::Other);
    let (o, probed) = lookup(&mut m, &mut k, PID, 3);
    assert_eq!((o, probed), (Some(Object::Other), true));
    // exit of a task the model does not know is harmless
    m.exit(12345);
}

#[test]
fn children_and_threads_inherit_the_node_of_their_parent() {
    let mut m = Model::new();
    m.add_process(100, 3);
    m.add_process(500, 7);
    m.new_task(100, 101, TaskKind::Thread);
    m.new_task(
        101,
        200,
        TaskKind::Process {
            shares_files: false,
        },
    );
    m.new_task(200, 300, TaskKind::Process { shares_files: true });
    m.new_task(300, 301, TaskKind::Thread);
    m.new_task(
        500,
        600,
        TaskKind::Process {
            shares_files: false,
        },
    );
    for (tid, node) in [
        (100, 3),
        (101, 3),
        (200, 3),
        (300, 3),
        (301, 3),
        (500, 7),
        (600, 7),
    ] {
        assert_eq!(m.node_of(tid), Some(node), "tid {tid}");
    }
    assert_eq!(m.tgid(301), Some(300));
    assert_eq!(m.tgid(200), Some(200));
    m.exec(200, 200);
    assert_eq!(m.node_of(200), Some(3));
    // a task whose parent bop does not know is not part of the system
    m.new_task(
        999,
        1000,
        TaskKind::Process {
            shares_files: false,
        },
    );
    m.new_task(999, 1001, TaskKind::Thread);
    assert_eq!((m.node_of(1000), m.tgid(1000)), (None, None));
    assert_eq!((m.node_of(1001), m.tgid(1001)), (None, None));
}

// ---------------------------------------------------------------------------------------------
// Robustness

/// xorshift64*: small, deterministic, good enough to shake the model.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn fd(&mut self) -> i32 {
        if self.chance(3) {
            self.pick(&[-1, -100, i32::MAX, i32::MIN])
        } else {
            self.below(20) as i32
        }
    }

    fn addr(&mut self) -> Option<SockAddr> {
        match self.below(6) {
            0 => None,
            1 => Some(SockAddr::Inet(SocketAddr::from((
                [127, 0, 0, 1],
                self.below(3) as u16,
            )))),
            2 => Some(SockAddr::Inet("[::1]:7000".parse().unwrap())),
            3 => Some(SockAddr::Unix(String::new())),
            4 => Some(SockAddr::Unix("/tmp/x.sock".into())),
            _ => Some(SockAddr::Other(self.below(3) as u16)),
        }
    }

    fn msg(&mut self) -> MsgInfo {
        let n = self.below(3);
        MsgInfo {
            len: self.chance(50).then(|| self.below(100)),
            addr: self.addr(),
            fds: (0..n).map(|_| self.fd()).collect(),
        }
    }

    fn flags(&mut self) -> i32 {
        self.pick(&[
            0,
            libc::SOCK_CLOEXEC,
            libc::O_CLOEXEC | libc::O_NONBLOCK,
            libc::MSG_CMSG_CLOEXEC,
            -1,
        ])
    }

    fn call(&mut self) -> Call {
        match self.below(22) {
            0 => Call::Socket {
                domain: self.pick(&[libc::AF_INET, libc::AF_INET6, libc::AF_UNIX]),
                ty: self.pick(&[libc::SOCK_STREAM, libc::SOCK_DGRAM]) | self.flags(),
                protocol: 0,
            },
            1 => Call::Socketpair {
                domain: libc::AF_UNIX,
                ty: self.flags(),
                protocol: 0,
                fds: self.chance(80).then(|| [self.fd(), self.fd()]),
            },
            2 => Call::Bind {
                fd: self.fd(),
                addr: self.addr(),
            },
            3 => Call::Listen {
                fd: self.fd(),
                backlog: 5,
            },
            4 => Call::Connect {
                fd: self.fd(),
                addr: self.addr(),
            },
            5 => Call::Accept {
                fd: self.fd(),
                flags: self.flags(),
                peer: self.addr(),
            },
            6 => Call::Getsockopt {
                fd: self.fd(),
                level: self.pick(&[libc::SOL_SOCKET, libc::IPPROTO_TCP]),
                optname: self.pick(&[libc::SO_ERROR, libc::SO_TYPE]),
                value: self.chance(50).then(|| self.below(3) as i32),
            },
            7 => Call::Shutdown {
                fd: self.fd(),
                how: 1,
            },
            8 => Call::Send {
                fd: self.fd(),
                len: Some(self.below(100)),
                flags: self.flags(),
                msg: self.msg(),
            },
            9 => Call::Recv {
                fd: self.fd(),
                len: None,
                flags: self.flags(),
                msg: self.msg(),
            },
            10 => Call::SendMmsg {
                fd: self.fd(),
                flags: self.flags(),
                msgs: (0..self.below(3)).map(|_| self.msg()).collect(),
            },
            11 => Call::RecvMmsg {
                fd: self.fd(),
                flags: self.flags(),
                msgs: (0..self.below(3)).map(|_| self.msg()).collect(),
            },
            12 => Call::Sendfile {
                out_fd: self.fd(),
                in_fd: self.fd(),
                count: 10,
            },
            13 => Call::Splice {
                fd_in: self.fd(),
                fd_out: self.fd(),
                len: 10,
                flags: 0,
            },
            14 => Call::Close { fd: self.fd() },
            15 => Call::CloseRange {
                first: self.pick(&[0, 3, 10, u32::MAX]),
                last: self.pick(&[0, 5, 19, u32::MAX]),
                flags: self.pick(&[0, 2, 4, 6, u32::MAX]),
            },
            16 => Call::Dup {
                oldfd: self.fd(),
                newfd: self.chance(50).then(|| self.fd()),
                cloexec: self.chance(50),
            },
            17 => Call::Fcntl {
                fd: self.fd(),
                cmd: self.pick(&[libc::F_SETFD, libc::F_GETFD, libc::F_SETFL]),
                arg: self.below(3),
            },
            18 => Call::Pipe {
                flags: self.flags(),
                fds: self.chance(80).then(|| [self.fd(), self.fd()]),
            },
            19 => Call::Wait {
                pid: -1,
                options: 0,
                reaped: Some(self.below(1000) as i32),
                status: None,
            },
            20 => Call::Kill {
                pid: self.below(1000) as i32,
                tid: None,
                sig: 15,
            },
            _ => Call::Other { args: [0; 6] },
        }
    }

    fn ret(&mut self) -> Option<i64> {
        match self.below(10) {
            0 => None,
            1..=5 => Some(self.below(20) as i64),
            6 => Some(self.pick(&[i64::MAX, i64::MIN, 1 << 40, -4096, -5000])),
            _ => Some(
                -(self.pick(&[
                    libc::EINTR,
                    libc::EAGAIN,
                    libc::EBADF,
                    libc::EINPROGRESS,
                    libc::EMFILE,
                ]) as i64),
            ),
        }
    }
}

/// A kernel that answers at random, inconsistently.
struct ChaosKernel {
    rng: Rng,
    probes: u64,
}

impl Probe for ChaosKernel {
    fn probe(&mut self, _pid: i32, _fd: i32) -> Option<Probed> {
        self.probes += 1;
        let r = &mut self.rng;
        match r.below(5) {
            0 => None,
            1 => Some(Probed::Other),
            2 => Some(Probed::Pipe {
                id: r.below(6),
                write: r.chance(50),
            }),
            _ => Some(Probed::Socket(Socket {
                id: r.below(8),
                family: r.pick(&[Family::Inet, Family::Unix, Family::Other(16)]),
                ty: r.pick(&[SockType::Stream, SockType::Dgram]),
                local: r.addr(),
                peer: r.addr(),
                peer_id: r.chance(30).then(|| r.below(8)),
                listening: r.chance(20),
            })),
        }
    }
}

#[test]
fn random_calls_never_panic() {
    let tids = [100, 101, 102, 103, 200, 201, 202, 300, 301, 999];
    for seed in 1..=20u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let mut kernel = ChaosKernel {
            rng: Rng(seed ^ 0xdead_beef),
            probes: 0,
        };
        let mut m = Model::new();
        m.add_process(100, 0);
        m.add_process(200, 1);
        m.mark_log_pipe(1);
        for step in 0..3000 {
            let tid = rng.pick(&tids);
            match rng.below(100) {
                0..=84 => {
                    let ret = rng.ret();
                    let sc = Syscall {
                        nr: 0,
                        name: "random",
                        call: rng.call(),
                        ret,
                    };
                    let a = m.apply(tid, &sc, &mut kernel);
                    // what the model says is self-consistent
                    if let Some(Object::Socket(id)) = &a.object {
                        assert_eq!(a.socket.as_ref().map(|s| s.id), Some(*id), "{seed}/{step}");
                    } else {
                        assert_eq!(a.socket, None, "{seed}/{step}");
                    }
                }
                85..=89 => {
                    let parent = rng.pick(&tids);
                    let kind = match rng.below(3) {
                        0 => TaskKind::Thread,
                        1 => TaskKind::Process { shares_files: true },
                        _ => TaskKind::Process {
                            shares_files: false,
                        },
                    };
                    m.new_task(parent, tid, kind);
                }
                90..=93 => {
                    let former = rng.pick(&tids);
                    m.exec(tid, former);
                }
                94..=98 => {
                    m.exit(tid);
                }
                _ => m.mark_log_pipe(rng.below(6)),
            }
            for t in tids {
                // a task the model knows has a node, and the other way round
                assert_eq!(
                    m.tgid(t).is_some(),
                    m.node_of(t).is_some(),
                    "seed {seed} step {step} tid {t}"
                );
            }
            if step % 500 == 0 {
                // every socket the model knows answers by its id
                let ids: Vec<u64> = m.sockets().map(|s| s.id).collect();
                for id in ids {
                    assert_eq!(m.socket(id).map(|s| s.id), Some(id));
                }
            }
        }
        assert!(kernel.probes > 0);
    }
}

#[test]
fn exit_reports_the_sockets_whose_last_reference_it_closed() {
    let mut k = Kernel::default();
    let mut m = Model::new();
    m.add_process(10, 0);
    k.set(10, 3, Probed::Socket(tcp(100)));
    k.set(10, 4, Probed::Socket(tcp(101)));
    m.apply(
        10,
        &done("socket", socket_call(libc::AF_INET, libc::SOCK_STREAM), 3),
        &mut k,
    );
    m.apply(
        10,
        &done("socket", socket_call(libc::AF_INET, libc::SOCK_STREAM), 4),
        &mut k,
    );
    // a child gets a copy of the table; it closes 100 but keeps 101
    m.new_task(
        10,
        11,
        TaskKind::Process {
            shares_files: false,
        },
    );
    m.apply(11, &entered("close", Call::Close { fd: 3 }), &mut k);
    let ids = |v: Vec<Socket>| v.iter().map(|s| s.id).collect::<Vec<_>>();
    assert_eq!(ids(m.exit(10)), vec![100], "101 is still open in the child");
    assert_eq!(ids(m.exit(11)), vec![101]);
}
