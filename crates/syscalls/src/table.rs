//! Syscall numbers, names and errno names (x86_64).

/// The syscalls bop stops a tracee on: the seccomp filter traps exactly these.
///
/// Process creation (clone, fork, vfork, execve) and exit are not in the list: ptrace reports
/// them as events without a seccomp stop.
pub const TRACED: &[i64] = &[
    libc::SYS_socket,
    libc::SYS_socketpair,
    libc::SYS_bind,
    libc::SYS_listen,
    libc::SYS_connect,
    libc::SYS_accept,
    libc::SYS_accept4,
    libc::SYS_getsockopt,
    libc::SYS_shutdown,
    libc::SYS_read,
    libc::SYS_write,
    libc::SYS_readv,
    libc::SYS_writev,
    libc::SYS_pread64,
    libc::SYS_pwrite64,
    libc::SYS_preadv,
    libc::SYS_pwritev,
    libc::SYS_preadv2,
    libc::SYS_pwritev2,
    libc::SYS_sendto,
    libc::SYS_recvfrom,
    libc::SYS_sendmsg,
    libc::SYS_recvmsg,
    libc::SYS_sendmmsg,
    libc::SYS_recvmmsg,
    libc::SYS_sendfile,
    libc::SYS_splice,
    libc::SYS_close,
    libc::SYS_close_range,
    libc::SYS_dup,
    libc::SYS_dup2,
    libc::SYS_dup3,
    libc::SYS_fcntl,
    libc::SYS_pipe,
    libc::SYS_pipe2,
    libc::SYS_wait4,
    libc::SYS_waitid,
    libc::SYS_kill,
    libc::SYS_tkill,
    libc::SYS_tgkill,
    libc::SYS_io_uring_setup,
];

/// Whether bop traces syscall `nr` (used by backends that stop on every syscall).
pub fn is_traced(nr: i64) -> bool {
    TRACED.contains(&nr)
}

/// The name of syscall `nr`, or `"syscall"` when bop does not know it.
pub fn name(nr: i64) -> &'static str {
    match nr {
        libc::SYS_read => "read",
        libc::SYS_write => "write",
        _ => "syscall",
    }
}

/// The symbolic name of an errno value (`ECONNREFUSED`), or `"E?"` when unknown.
pub fn errno_name(errno: i32) -> &'static str {
    match errno {
        libc::ECONNREFUSED => "ECONNREFUSED",
        _ => "E?",
    }
}
