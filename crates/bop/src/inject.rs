//! Carrying out fault injections: the glue between the run loop, the fault engine (which
//! decides) and the tracer (which acts). Every injection becomes a `fault` event in the trace.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use bop_faults::{Fired, Step};
use bop_model::{Applied, Family, Model, SockType, Socket};
use bop_syscalls::{Call, SockAddr, Syscall};

/// What the engine needs to know of a call, owned (a [`Step`] borrows from it).
#[derive(Debug, Clone, Default)]
pub struct StepInfo {
    /// The caller's node.
    pub node: String,
    /// Generic operation.
    pub op: String,
    /// Syscall name.
    pub syscall: String,
    /// Peer node name.
    pub peer: Option<String>,
    /// Connection name (streams).
    pub conn: Option<String>,
    /// Datagram socket.
    pub dgram: bool,
    /// Success at exit.
    pub ok: Option<bool>,
    /// Requested send length at entry.
    pub len: Option<u64>,
}

impl StepInfo {
    /// The engine's view, at run time `now`.
    pub fn step(&self, now: u64) -> Step<'_> {
        Step {
            node: &self.node,
            op: &self.op,
            syscall: &self.syscall,
            peer: self.peer.as_deref(),
            conn: self.conn.as_deref(),
            dgram: self.dgram,
            ok: self.ok,
            len: self.len,
            now,
        }
    }
}

/// The name both ends of a stream connection share.
pub fn conn_key(s: &Socket) -> Option<String> {
    if s.ty == SockType::Dgram {
        return None;
    }
    if s.family == Family::Unix {
        let id = match s.peer_id {
            Some(p) => s.id.min(p),
            None => s.id,
        };
        return Some(format!("unix:{id}"));
    }
    let (l, p) = (s.local.as_ref()?.to_string(), s.peer.as_ref()?.to_string());
    Some(if l < p {
        format!("{l}|{p}")
    } else {
        format!("{p}|{l}")
    })
}

/// Describes a call for the engine. `ret` is `None` at entry.
pub fn describe(
    model: &Model,
    node_names: &[&str],
    node: usize,
    sc: &Syscall,
    applied: &Applied,
    len: Option<u64>,
) -> StepInfo {
    let op = match crate::record::op(sc, applied) {
        // a read or write of a file, a tty or the node's own log is no message: only a rule
        // naming the syscall itself (`fail server.read`) matches it
        "send" | "recv" if !applied.record => "other",
        op => op,
    };
    let name = |n: usize| node_names.get(n).map(|s| s.to_string());
    let socket = applied.socket.as_ref();
    let arg_addr: Option<&SockAddr> = match &sc.call {
        Call::Connect { addr, .. } => addr.as_ref(),
        Call::Send { msg, .. } | Call::Recv { msg, .. } => msg.addr.as_ref(),
        _ => None,
    };
    let peer = arg_addr
        .and_then(|a| model.addr_node(a))
        .or_else(|| socket.and_then(|s| model.peer_node(s)))
        .and_then(name);
    let result = sc.result();
    StepInfo {
        node: name(node).unwrap_or_default(),
        op: if op == "other" {
            sc.name.to_string()
        } else {
            op.to_string()
        },
        syscall: sc.name.to_string(),
        peer,
        conn: socket.and_then(conn_key),
        dgram: socket.is_some_and(|s| s.ty == SockType::Dgram),
        ok: result.map(|r| bop_faults::succeeded(op, r)),
        len,
    }
}

/// The trace event of an injection.
pub fn fault_event(
    f: &Fired,
    rule_text: &str,
    base: Option<bop_trace::Event>,
    lost: Option<u64>,
) -> bop_trace::Event {
    let mut e = base.unwrap_or_default();
    e.kind = "fault".into();
    e.op = Some(f.what.clone().into());
    e.detail = Some(match &f.peer {
        Some(p) => format!("{rule_text} [{} {} {p}]", f.what, f.node),
        None => format!("{rule_text} [{} {}]", f.what, f.node),
    });
    // an injected call did not happen: no result, no bytes moved (a lost send says, in
    // `bytes`, how many bytes it was to send)
    e.ret = None;
    e.errno = None;
    e.unmatched = None;
    e.bytes = lost;
    e
}

/// Wakes every thread blocked on the connection `conn` by shutting the socket down from bop's
/// side (through a duplicate taken with pidfd_getfd): their calls return, and the run loop
/// turns the result into the reset the fault asked for.
pub fn wake(model: &Model, conn: &str) {
    let ids: Vec<u64> = model
        .sockets()
        .filter(|s| conn_key(s).as_deref() == Some(conn))
        .map(|s| s.id)
        .collect();
    for id in ids {
        for (pid, fd) in model.holders(id) {
            shutdown_remote(pid, fd);
        }
    }
}

/// A duplicate of a tracee's fd, held by bop (pidfd_getfd).
pub fn take_copy(pid: i32, fd: i32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open/pidfd_getfd return new fds or -1; we own what they return.
    unsafe {
        let pidfd = libc::syscall(libc::SYS_pidfd_open, pid, 0) as i32;
        if pidfd < 0 {
            return None;
        }
        let pidfd = OwnedFd::from_raw_fd(pidfd);
        let dup = libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) as i32;
        (dup >= 0).then(|| OwnedFd::from_raw_fd(dup))
    }
}

/// Makes closing `fd` (the last reference to its socket) reset the connection.
pub fn reset_on_close(fd: &OwnedFd) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt with a valid linger struct on our own fd.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

fn shutdown_remote(pid: i32, fd: i32) {
    if let Some(dup) = take_copy(pid, fd) {
        // SAFETY: shutdown on our own duplicate: it acts on the shared socket.
        unsafe { libc::shutdown(dup.as_raw_fd(), libc::SHUT_RDWR) };
    }
}

/// The connections between nodes `a` and `b` (opened either way when `both`).
pub fn conns_between(model: &Model, a: usize, b: usize, both: bool) -> Vec<String> {
    let mut out: Vec<String> = model
        .sockets()
        .filter(|s| s.ty != SockType::Dgram && !s.listening)
        .filter(|s| {
            let (mine, theirs) = (model.socket_node(s.id), model.peer_node(s));
            // one way (`a -> b`): only the connections a opened, named by a's connecting end
            let opened = both || model.opened_by_connect(s.id);
            (opened && mine == Some(a) && theirs == Some(b))
                || (both && mine == Some(b) && theirs == Some(a))
        })
        .filter_map(conn_key)
        .collect();
    out.sort();
    out.dedup();
    out
}
