//! Raw syscall information to typed calls.
//!
//! This crate turns what a backend sees at a syscall stop — the syscall number, six argument
//! registers and (at the exit stop) the raw return value — into a [`Syscall`]: a typed [`Call`]
//! with its decoded arguments, including what lives in the tracee's memory (socket addresses,
//! `msghdr`s, `SCM_RIGHTS` file descriptors). Memory is read through the [`Memory`] trait, so
//! the crate knows nothing about processes or ptrace and is unit-tested with byte buffers.
//!
//! Every pointer may be NULL, short or unmapped: decoding never fails, it leaves the field
//! `None` (or empty) instead.

mod addr;
mod decode;
mod mem;
mod moves;
mod payload;
mod table;
#[cfg(test)]
mod tests;

pub use addr::{parse_sockaddr, ParseSockAddrError, SockAddr};
pub use decode::decode;
pub use moves::{moves, Moves};
pub use payload::{mmsg_payloads, payload, requested_len};
pub use table::{
    errno_name, errno_number, is_traced, name, number, signal_name, signal_number, TRACED,
};

/// Reads the tracee's memory. Implemented by a backend (process_vm_readv) or by tests.
pub trait Memory {
    /// Reads exactly `len` bytes at `addr`; `None` when any of them cannot be read.
    fn read(&mut self, addr: u64, len: usize) -> Option<Vec<u8>>;
}

/// A decoded system call: which one, its typed arguments, and its raw result if known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Syscall {
    /// The raw syscall number (x86_64 numbering).
    pub nr: i64,
    /// The syscall's name (`"recvfrom"`), or `"syscall"` for an unknown number.
    pub name: &'static str,
    /// The typed arguments and, when decoded at the exit stop, the outputs.
    pub call: Call,
    /// The raw return value (negative errno on failure); `None` when decoded at the entry stop.
    pub ret: Option<i64>,
}

impl Syscall {
    /// The result as `Ok(value)` or `Err(errno)`, when known.
    pub fn result(&self) -> Option<Result<i64, i32>> {
        self.ret.map(|r| {
            if (-4095..0).contains(&r) {
                Err((-r) as i32)
            } else {
                Ok(r)
            }
        })
    }
}

/// One message of a `sendmmsg`/`recvmmsg` call, or the message of `sendmsg`/`recvmsg`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MsgInfo {
    /// Bytes this message transferred (`msg_len` after the call); `None` before the call.
    pub len: Option<u64>,
    /// Destination (send) or source (receive) address, when one was given or returned.
    pub addr: Option<SockAddr>,
    /// File descriptors passed with `SCM_RIGHTS`: the sender's fds, or the receiver's new fds.
    pub fds: Vec<i32>,
}

/// The typed arguments (and outputs, once the call returned) of the syscalls bop traces.
///
/// Byte-moving calls share two variants, [`Call::Send`] and [`Call::Recv`], whatever their
/// flavour (`write`, `writev`, `pwrite64`, `send`, `sendto`, `sendmsg` …); the syscall name in
/// [`Syscall::name`] keeps the flavour. The number of bytes moved is the result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// `socket(domain, type, protocol)`; the result is the new fd.
    Socket { domain: i32, ty: i32, protocol: i32 },
    /// `socketpair(domain, type, protocol, sv)`; `fds` read from `sv` after success.
    Socketpair {
        domain: i32,
        ty: i32,
        protocol: i32,
        fds: Option<[i32; 2]>,
    },
    /// `bind(fd, addr, len)`.
    Bind { fd: i32, addr: Option<SockAddr> },
    /// `listen(fd, backlog)`.
    Listen { fd: i32, backlog: i32 },
    /// `connect(fd, addr, len)`.
    Connect { fd: i32, addr: Option<SockAddr> },
    /// `accept(fd, addr, len)` / `accept4(fd, addr, len, flags)`; `peer` read after success
    /// when the caller passed a buffer. The result is the new fd.
    Accept {
        fd: i32,
        flags: i32,
        peer: Option<SockAddr>,
    },
    /// `getsockopt(fd, level, optname, optval, optlen)`; `value` is the int read back after
    /// success for `SOL_SOCKET` int options (`SO_ERROR`, `SO_TYPE`, …).
    Getsockopt {
        fd: i32,
        level: i32,
        optname: i32,
        value: Option<i32>,
    },
    /// `shutdown(fd, how)`.
    Shutdown { fd: i32, how: i32 },
    /// Any call that sends bytes on one fd: write, writev, pwrite64, pwritev, pwritev2,
    /// sendto (send), sendmsg. `len` is the requested length when it is a plain argument
    /// (not for vectored calls). `msg` holds the destination and passed fds (sendto, sendmsg).
    Send {
        fd: i32,
        len: Option<u64>,
        flags: i32,
        msg: MsgInfo,
    },
    /// Any call that receives bytes on one fd: read, readv, pread64, preadv, preadv2,
    /// recvfrom (recv), recvmsg. `msg` holds the source address and received fds, read after
    /// the call.
    Recv {
        fd: i32,
        len: Option<u64>,
        flags: i32,
        msg: MsgInfo,
    },
    /// `sendmmsg(fd, msgvec, vlen, flags)`: one entry per message sent (the result counts them).
    SendMmsg {
        fd: i32,
        flags: i32,
        msgs: Vec<MsgInfo>,
    },
    /// `recvmmsg(fd, msgvec, vlen, flags, timeout)`: one entry per message received.
    RecvMmsg {
        fd: i32,
        flags: i32,
        msgs: Vec<MsgInfo>,
    },
    /// `sendfile(out_fd, in_fd, offset, count)`.
    Sendfile { out_fd: i32, in_fd: i32, count: u64 },
    /// `splice(fd_in, off_in, fd_out, off_out, len, flags)`.
    Splice {
        fd_in: i32,
        fd_out: i32,
        len: u64,
        flags: u32,
    },
    /// `close(fd)`.
    Close { fd: i32 },
    /// `close_range(first, last, flags)` (`CLOSE_RANGE_CLOEXEC` marks instead of closing).
    CloseRange { first: u32, last: u32, flags: u32 },
    /// `dup(old)`, `dup2(old, new)`, `dup3(old, new, flags)`, `fcntl(old, F_DUPFD[_CLOEXEC], min)`.
    /// `cloexec` is true for `dup3(…, O_CLOEXEC)` and `F_DUPFD_CLOEXEC`. The result is the new fd.
    Dup {
        oldfd: i32,
        newfd: Option<i32>,
        cloexec: bool,
    },
    /// `fcntl(fd, cmd, arg)` for commands other than the dup ones (`F_SETFD` sets close-on-exec).
    Fcntl { fd: i32, cmd: i32, arg: u64 },
    /// `pipe(fds)` / `pipe2(fds, flags)`; `fds` read after success (`[read end, write end]`).
    Pipe { flags: i32, fds: Option<[i32; 2]> },
    /// `wait4(pid, status, options, rusage)` / `waitid(idtype, id, infop, options)`:
    /// `reaped` is the child reaped (the result of wait4, `si_pid` of waitid) and `status`
    /// its wait status (wait4) or `si_status` (waitid), when they could be read.
    Wait {
        pid: i64,
        options: i32,
        reaped: Option<i32>,
        status: Option<i32>,
    },
    /// `kill(pid, sig)`, `tkill(tid, sig)`, `tgkill(tgid, tid, sig)`: `pid` is the process (or
    /// group) argument, `tid` the thread for tkill/tgkill.
    Kill {
        pid: i32,
        tid: Option<i32>,
        sig: i32,
    },
    /// `io_uring_setup(entries, params)`: bop cannot see what io_uring does.
    IoUringSetup { entries: u32 },
    /// Any other traced call: the raw arguments.
    Other { args: [u64; 6] },
}
