//! Learning what a tracee's fd is from the tracer side: `pidfd_getfd` gives bop its own
//! duplicate, on which `fstat`, `getsockopt`, `getsockname` and `getpeername` answer. Nothing
//! runs inside the tracee.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use bop_model::{Family, Probe, Probed, SockType, Socket};
use bop_syscalls::{parse_sockaddr, SockAddr};

/// A [`Probe`] over pidfds, one cached per process.
#[derive(Default)]
pub struct PidfdProbe {
    pidfds: HashMap<i32, OwnedFd>,
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
            libc::S_IFSOCK => Probed::Socket(Socket {
                id: st.st_ino,
                family: Family::from_raw(int_opt(fd, libc::SO_DOMAIN).unwrap_or(-1)),
                ty: SockType::from_raw(int_opt(fd, libc::SO_TYPE).unwrap_or(-1)),
                local: sockaddr_of(fd, false),
                peer: sockaddr_of(fd, true),
                listening: int_opt(fd, libc::SO_ACCEPTCONN) == Some(1),
            }),
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
