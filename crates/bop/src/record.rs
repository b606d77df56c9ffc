//! Turning a decoded call and what the model made of it into a trace event.

use bop_model::{Applied, Object, Socket};
use bop_syscalls::{errno_name, signal_name, Call, Syscall};
use bop_trace::{Event, SockInfo};

/// The trace form of a model socket.
pub fn sock_info(s: &Socket) -> SockInfo {
    SockInfo {
        id: s.id,
        family: s.family.as_str().into(),
        ty: s.ty.as_str().into(),
        local: s.local.clone(),
        peer: s.peer.clone(),
        peer_id: s.peer_id,
    }
}

/// The normalised operation of a call: what it does to communication.
pub fn op(sc: &Syscall, applied: &Applied) -> &'static str {
    match &sc.call {
        Call::Socket { .. } => "socket",
        Call::Socketpair { .. } => "socketpair",
        Call::Pipe { .. } => "pipe",
        Call::Bind { .. } => "bind",
        Call::Listen { .. } => "listen",
        Call::Connect { .. } => "connect",
        Call::Accept { .. } => "accept",
        Call::Getsockopt { .. } => "getsockopt",
        Call::Shutdown { .. } => "shutdown",
        Call::Send { .. } | Call::SendMmsg { .. } | Call::Sendfile { .. } => "send",
        Call::Recv { .. } | Call::RecvMmsg { .. } => "recv",
        Call::Splice { fd_out, .. } => {
            if applied.fd == Some(*fd_out) {
                "send"
            } else {
                "recv"
            }
        }
        Call::Close { .. } => "close",
        Call::CloseRange { .. } => "close_range",
        Call::Dup { .. } => "dup",
        Call::Fcntl { .. } => "fcntl",
        Call::Wait { .. } => "wait",
        Call::Kill { .. } => "kill",
        Call::IoUringSetup { .. } => "io_uring_setup",
        Call::Other { .. } => "other",
    }
}

/// Fills the call-specific fields of a `kind = "syscall"` event.
pub fn syscall_event(sc: &Syscall, applied: &Applied) -> Event {
    let mut e = Event {
        kind: "syscall".into(),
        syscall: Some(sc.name.into()),
        op: Some(op(sc, applied).into()),
        fd: applied.fd,
        sock: applied.socket.as_ref().map(sock_info),
        ..Event::default()
    };
    match &applied.object {
        Some(Object::Pipe { id, write }) => {
            e.target = Some(format!("pipe:[{id}]{}", if *write { "w" } else { "r" }))
        }
        Some(Object::Log) => e.target = Some("log".into()),
        _ => {}
    }
    match sc.result() {
        Some(Ok(v)) => e.ret = Some(v),
        Some(Err(errno)) => e.errno = Some(errno_name(errno).to_string()),
        None => {}
    }
    let moved = sc.result().and_then(|r| r.ok()).map(|v| v as u64);
    let nonzero = |f: i64| (f != 0).then_some(f);
    match &sc.call {
        Call::Bind { addr, .. } | Call::Connect { addr, .. } => e.addr = addr.clone(),
        Call::Accept {
            fd, flags, peer, ..
        } => {
            // fd: the listening socket; ret: the new connection's fd; sock: the new connection
            e.fd = Some(*fd);
            e.addr = peer.clone();
            e.flags = nonzero(*flags as i64);
        }
        Call::Socketpair { fds, .. } | Call::Pipe { fds, .. } => e.fds = fds.map(|f| f.to_vec()),
        Call::Getsockopt { value, .. } => e.status = *value,
        Call::Shutdown { how, .. } => e.flags = Some(*how as i64),
        Call::Send { flags, msg, .. } | Call::Recv { flags, msg, .. } => {
            e.bytes = moved;
            e.flags = nonzero(*flags as i64);
            e.addr = msg.addr.clone();
            if !msg.fds.is_empty() {
                e.fds = Some(msg.fds.clone());
            }
        }
        Call::SendMmsg { flags, msgs, .. } | Call::RecvMmsg { flags, msgs, .. } => {
            e.flags = nonzero(*flags as i64);
            if moved.is_some() {
                let lens: Vec<u64> = msgs.iter().map(|m| m.len.unwrap_or(0)).collect();
                e.bytes = Some(lens.iter().sum());
                e.msgs = Some(lens);
                e.addr = msgs.iter().find_map(|m| m.addr.clone());
                let fds: Vec<i32> = msgs.iter().flat_map(|m| m.fds.iter().copied()).collect();
                if !fds.is_empty() {
                    e.fds = Some(fds);
                }
            }
        }
        Call::Sendfile { out_fd, in_fd, .. } => {
            e.bytes = moved;
            e.fds = Some(vec![*in_fd, *out_fd]);
        }
        Call::Splice {
            fd_in,
            fd_out,
            flags,
            ..
        } => {
            e.bytes = moved;
            e.fds = Some(vec![*fd_in, *fd_out]);
            e.flags = nonzero(*flags as i64);
        }
        Call::CloseRange { first, last, flags } => {
            e.fds = Some(vec![*first as i32, *last as i32]);
            e.flags = nonzero(*flags as i64);
        }
        Call::Dup { cloexec, .. } => e.flags = cloexec.then_some(libc::O_CLOEXEC as i64),
        Call::Wait { reaped, status, .. } => {
            e.other = *reaped;
            e.status = *status;
        }
        Call::Kill { pid, tid, sig } => {
            e.other = Some(tid.unwrap_or(*pid));
            e.signal = Some(signal_name(*sig).to_string());
        }
        Call::IoUringSetup { .. } => {
            e.detail = Some(
                "io_uring: bop cannot see the I/O done through it; this process's \
                 communication may be missing from the trace (bop run --refuse-io-uring makes \
                 io_uring_setup fail with ENOSYS, and most runtimes fall back to syscalls)"
                    .into(),
            )
        }
        _ => {}
    }
    e
}
