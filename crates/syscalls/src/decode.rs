//! Decoding raw syscall registers (and tracee memory) into [`Call`]s.
//!
//! All layouts are x86_64 Linux: pointers and `size_t` are 8 bytes, `int`, `socklen_t` and
//! `pid_t` 4. Integer arguments are taken from the low 32 bits of their register, as the
//! kernel does. Every read from tracee memory is bounded, so garbage arguments cost at most a
//! few small reads.

use crate::addr::{parse_sockaddr, SOCKADDR_MAX};
use crate::mem::{
    i32_at, read, read_i32, read_mmsg_headers, read_msghdr, read_u32, u64_at, MsgHdr,
};
use crate::{table, Call, Memory, MsgInfo, SockAddr, Syscall};

/// The most control-message bytes read from one `msghdr`.
const CONTROL_MAX: usize = 64 * 1024;
/// `sizeof(struct cmsghdr)`: `size_t cmsg_len`, `int cmsg_level`, `int cmsg_type`.
const CMSGHDR_SIZE: usize = 16;
/// The part of `siginfo_t` read for `waitid`: up to and including `si_status` (offset 24).
const SIGINFO_READ: usize = 28;
/// Offset of `si_pid` in `siginfo_t` (for `SIGCHLD`).
const SI_PID: usize = 16;
/// Offset of `si_status` in `siginfo_t` (for `SIGCHLD`).
const SI_STATUS: usize = 24;

/// `idtype_t` values of `waitid`.
const P_ALL: u32 = 0;
const P_PID: u32 = 1;
const P_PGID: u32 = 2;

/// Decodes syscall `nr` with argument registers `args`. `ret` is the raw return value at the
/// exit stop (`None` at the entry stop: outputs stay unread). Never fails: unreadable memory
/// leaves fields empty.
///
/// At the entry stop only inputs are read from memory (the address of `connect`, `bind`,
/// `sendto`; the `msghdr` name and `SCM_RIGHTS` fds of `sendmsg`/`sendmmsg`). At the exit stop
/// inputs are read again, and outputs too when the call succeeded (`ret >= 0`): peer and
/// source addresses, received fds, `pipe`/`socketpair` fds, wait statuses, `getsockopt`
/// values. [`MsgInfo::len`] of `Send`/`Recv` is the result after success.
///
/// For `waitid`, [`Call::Wait`]'s `pid` follows `wait4`'s convention: `-1` for `P_ALL`, the
/// pid for `P_PID`, minus the group id for `P_PGID` (0 for the caller's group), and the raw
/// id (a pidfd) for other id types. Its `status` is `si_status` (an exit code or signal
/// number), not a wait status.
pub fn decode(nr: i64, args: [u64; 6], ret: Option<i64>, mem: &mut dyn Memory) -> Syscall {
    Syscall {
        nr,
        name: table::name(nr),
        call: decode_call(nr, &args, ret, mem),
        ret,
    }
}

/// The low 32 bits of a register, as a C `int`.
fn int(reg: u64) -> i32 {
    reg as i32
}

/// The low 32 bits of a register, as a C `unsigned int`.
fn uint(reg: u64) -> u32 {
    reg as u32
}

fn decode_call(nr: i64, args: &[u64; 6], ret: Option<i64>, mem: &mut dyn Memory) -> Call {
    // The result when the call succeeded.
    let ok = ret.filter(|r| *r >= 0);
    let done = ok.is_some();
    let moved = ok.and_then(|r| u64::try_from(r).ok());
    let fd = int(args[0]);
    match nr {
        libc::SYS_socket => Call::Socket {
            domain: int(args[0]),
            ty: int(args[1]),
            protocol: int(args[2]),
        },
        libc::SYS_socketpair => Call::Socketpair {
            domain: int(args[0]),
            ty: int(args[1]),
            protocol: int(args[2]),
            fds: if done {
                read_fd_pair(mem, args[3])
            } else {
                None
            },
        },
        libc::SYS_bind => Call::Bind {
            fd,
            addr: read_sockaddr(mem, args[1], uint(args[2])),
        },
        libc::SYS_listen => Call::Listen {
            fd,
            backlog: int(args[1]),
        },
        libc::SYS_connect => Call::Connect {
            fd,
            addr: read_sockaddr(mem, args[1], uint(args[2])),
        },
        libc::SYS_accept | libc::SYS_accept4 => Call::Accept {
            fd,
            flags: if nr == libc::SYS_accept4 {
                int(args[3])
            } else {
                0
            },
            peer: if done {
                read_sockaddr_out(mem, args[1], args[2])
            } else {
                None
            },
        },
        libc::SYS_getsockopt => {
            let level = int(args[1]);
            let value = if done && level == libc::SOL_SOCKET && read_u32(mem, args[4]) == Some(4) {
                read_i32(mem, args[3])
            } else {
                None
            };
            Call::Getsockopt {
                fd,
                level,
                optname: int(args[2]),
                value,
            }
        }
        libc::SYS_shutdown => Call::Shutdown {
            fd,
            how: int(args[1]),
        },
        libc::SYS_read | libc::SYS_pread64 => Call::Recv {
            fd,
            len: Some(args[2]),
            flags: 0,
            msg: MsgInfo {
                len: moved,
                ..MsgInfo::default()
            },
        },
        libc::SYS_write | libc::SYS_pwrite64 => Call::Send {
            fd,
            len: Some(args[2]),
            flags: 0,
            msg: MsgInfo {
                len: moved,
                ..MsgInfo::default()
            },
        },
        libc::SYS_readv | libc::SYS_preadv | libc::SYS_preadv2 => Call::Recv {
            fd,
            len: None,
            flags: 0,
            msg: MsgInfo {
                len: moved,
                ..MsgInfo::default()
            },
        },
        libc::SYS_writev | libc::SYS_pwritev | libc::SYS_pwritev2 => Call::Send {
            fd,
            len: None,
            flags: 0,
            msg: MsgInfo {
                len: moved,
                ..MsgInfo::default()
            },
        },
        libc::SYS_sendto => Call::Send {
            fd,
            len: Some(args[2]),
            flags: int(args[3]),
            msg: MsgInfo {
                len: moved,
                addr: read_sockaddr(mem, args[4], uint(args[5])),
                fds: Vec::new(),
            },
        },
        libc::SYS_recvfrom => Call::Recv {
            fd,
            len: Some(args[2]),
            flags: int(args[3]),
            msg: MsgInfo {
                len: moved,
                addr: if done {
                    read_sockaddr_out(mem, args[4], args[5])
                } else {
                    None
                },
                fds: Vec::new(),
            },
        },
        libc::SYS_sendmsg => {
            let mut msg = read_msghdr(mem, args[1])
                .map(|h| h.info(mem))
                .unwrap_or_default();
            msg.len = moved;
            Call::Send {
                fd,
                len: None,
                flags: int(args[2]),
                msg,
            }
        }
        libc::SYS_recvmsg => {
            let mut msg = if done {
                read_msghdr(mem, args[1])
                    .map(|h| h.info(mem))
                    .unwrap_or_default()
            } else {
                MsgInfo::default()
            };
            msg.len = moved;
            Call::Recv {
                fd,
                len: None,
                flags: int(args[2]),
                msg,
            }
        }
        libc::SYS_sendmmsg => {
            // Before the call (or after a failure) every message to send; after success the
            // ones sent, with their byte counts.
            let (count, with_len) = match moved {
                Some(n) => (usize::try_from(n).unwrap_or(usize::MAX), true),
                None => (uint(args[2]) as usize, false),
            };
            Call::SendMmsg {
                fd,
                flags: int(args[3]),
                msgs: read_mmsgs(mem, args[1], count, with_len),
            }
        }
        libc::SYS_recvmmsg => {
            let count = moved.map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX));
            Call::RecvMmsg {
                fd,
                flags: int(args[3]),
                msgs: read_mmsgs(mem, args[1], count, true),
            }
        }
        libc::SYS_sendfile => Call::Sendfile {
            out_fd: int(args[0]),
            in_fd: int(args[1]),
            count: args[3],
        },
        libc::SYS_splice => Call::Splice {
            fd_in: int(args[0]),
            fd_out: int(args[2]),
            len: args[4],
            flags: uint(args[5]),
        },
        libc::SYS_close => Call::Close { fd },
        libc::SYS_close_range => Call::CloseRange {
            first: uint(args[0]),
            last: uint(args[1]),
            flags: uint(args[2]),
        },
        libc::SYS_dup => Call::Dup {
            oldfd: fd,
            newfd: None,
            cloexec: false,
        },
        libc::SYS_dup2 => Call::Dup {
            oldfd: fd,
            newfd: Some(int(args[1])),
            cloexec: false,
        },
        libc::SYS_dup3 => Call::Dup {
            oldfd: fd,
            newfd: Some(int(args[1])),
            cloexec: int(args[2]) & libc::O_CLOEXEC != 0,
        },
        libc::SYS_fcntl => match int(args[1]) {
            cmd @ (libc::F_DUPFD | libc::F_DUPFD_CLOEXEC) => Call::Dup {
                oldfd: fd,
                newfd: None,
                cloexec: cmd == libc::F_DUPFD_CLOEXEC,
            },
            cmd => Call::Fcntl {
                fd,
                cmd,
                arg: args[2],
            },
        },
        libc::SYS_pipe | libc::SYS_pipe2 => Call::Pipe {
            flags: if nr == libc::SYS_pipe2 {
                int(args[1])
            } else {
                0
            },
            fds: if done {
                read_fd_pair(mem, args[0])
            } else {
                None
            },
        },
        libc::SYS_wait4 => {
            let reaped = ok.filter(|r| *r > 0).map(|r| r as i32);
            Call::Wait {
                pid: i64::from(int(args[0])),
                options: int(args[2]),
                reaped,
                status: reaped.and_then(|_| read_i32(mem, args[1])),
            }
        }
        libc::SYS_waitid => {
            let id = uint(args[1]);
            let pid = match uint(args[0]) {
                P_ALL => -1,
                P_PID => i64::from(id as i32),
                P_PGID => -i64::from(id),
                _ => i64::from(id),
            };
            let (reaped, status) = if done {
                read_siginfo(mem, args[2])
            } else {
                (None, None)
            };
            Call::Wait {
                pid,
                options: int(args[3]),
                reaped,
                status,
            }
        }
        libc::SYS_kill => Call::Kill {
            pid: int(args[0]),
            tid: None,
            sig: int(args[1]),
        },
        libc::SYS_tkill => Call::Kill {
            pid: int(args[0]),
            tid: Some(int(args[0])),
            sig: int(args[1]),
        },
        libc::SYS_tgkill => Call::Kill {
            pid: int(args[0]),
            tid: Some(int(args[1])),
            sig: int(args[2]),
        },
        libc::SYS_io_uring_setup => Call::IoUringSetup {
            entries: uint(args[0]),
        },
        _ => Call::Other { args: *args },
    }
}

/// The `int[2]` at `addr` (`pipe`, `socketpair`).
fn read_fd_pair(mem: &mut dyn Memory, addr: u64) -> Option<[i32; 2]> {
    let b = read(mem, addr, 8)?;
    Some([i32_at(&b, 0)?, i32_at(&b, 4)?])
}

/// The socket address of `len` bytes at `addr` (an input, or an output whose length the
/// kernel wrote). Lengths over `sizeof(struct sockaddr_storage)` are capped to it.
fn read_sockaddr(mem: &mut dyn Memory, addr: u64, len: u32) -> Option<SockAddr> {
    let len = usize::try_from(len).ok()?.min(SOCKADDR_MAX);
    if len == 0 {
        return None;
    }
    parse_sockaddr(&read(mem, addr, len)?)
}

/// An output socket address: the buffer at `addr`, its length in the `socklen_t` at
/// `len_ptr` (as updated by the kernel). `None` when either pointer is NULL.
fn read_sockaddr_out(mem: &mut dyn Memory, addr: u64, len_ptr: u64) -> Option<SockAddr> {
    if addr == 0 || len_ptr == 0 {
        return None;
    }
    let len = read_u32(mem, len_ptr)?;
    read_sockaddr(mem, addr, len)
}

/// `waitid`'s `siginfo_t`: `(si_pid, si_status)`, both `None` when no child was reaped
/// (`si_pid` 0, as with `WNOHANG`).
fn read_siginfo(mem: &mut dyn Memory, addr: u64) -> (Option<i32>, Option<i32>) {
    let Some(b) = read(mem, addr, SIGINFO_READ) else {
        return (None, None);
    };
    match i32_at(&b, SI_PID) {
        Some(pid) if pid != 0 => (Some(pid), i32_at(&b, SI_STATUS)),
        _ => (None, None),
    }
}

impl MsgHdr {
    /// The address and `SCM_RIGHTS` fds this header points at (`len` left `None`).
    fn info(&self, mem: &mut dyn Memory) -> MsgInfo {
        MsgInfo {
            len: None,
            addr: if self.name == 0 {
                None
            } else {
                read_sockaddr(mem, self.name, self.namelen)
            },
            fds: read_scm_rights(mem, self.control, self.controllen),
        }
    }
}

/// The first `count` (at most 1024) entries of the `struct mmsghdr` array at `addr`,
/// stopping at the first unreadable one. With `with_len`, each entry's `len` is its `msg_len`.
fn read_mmsgs(mem: &mut dyn Memory, addr: u64, count: usize, with_len: bool) -> Vec<MsgInfo> {
    read_mmsg_headers(mem, addr, count)
        .into_iter()
        .map(|(h, msg_len)| {
            let mut info = h.info(mem);
            if with_len {
                info.len = Some(u64::from(msg_len));
            }
            info
        })
        .collect()
}

/// The fds of the `SCM_RIGHTS` control messages in the `controllen` bytes at `control`.
fn read_scm_rights(mem: &mut dyn Memory, control: u64, controllen: u64) -> Vec<i32> {
    let len = usize::try_from(controllen).map_or(CONTROL_MAX, |l| l.min(CONTROL_MAX));
    if control == 0 || len < CMSGHDR_SIZE {
        return Vec::new();
    }
    read(mem, control, len)
        .map(|buf| scm_rights(&buf))
        .unwrap_or_default()
}

/// Walks the `struct cmsghdr`s in `buf` and collects the ints of `SOL_SOCKET`/`SCM_RIGHTS`
/// ones. Stops at the first header that is too short or runs past the buffer, as the kernel
/// does.
pub(crate) fn scm_rights(buf: &[u8]) -> Vec<i32> {
    let mut fds = Vec::new();
    let mut off = 0usize;
    while let Some(cmsg_len) = u64_at(buf, off) {
        let (Some(level), Some(ty)) = (i32_at(buf, off + 8), i32_at(buf, off + 12)) else {
            break;
        };
        let Ok(cmsg_len) = usize::try_from(cmsg_len) else {
            break;
        };
        if cmsg_len < CMSGHDR_SIZE {
            break;
        }
        let Some(data) = off
            .checked_add(cmsg_len)
            .and_then(|end| buf.get(off + CMSGHDR_SIZE..end))
        else {
            break;
        };
        if level == libc::SOL_SOCKET && ty == libc::SCM_RIGHTS {
            fds.extend(
                data.chunks_exact(4)
                    .filter_map(|c| c.try_into().ok().map(i32::from_ne_bytes)),
            );
        }
        // CMSG_ALIGN: the next header starts at the next multiple of 8.
        match cmsg_len
            .checked_add(7)
            .map(|l| l & !7)
            .and_then(|l| off.checked_add(l))
        {
            Some(next) => off = next,
            None => break,
        }
    }
    fds
}
