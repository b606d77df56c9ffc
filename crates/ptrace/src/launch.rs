//! Starting a program under the tracer: fork, seize, install the seccomp filter, exec.
//!
//! The child waits on a pipe until the tracer has seized it, installs the filter (a traced
//! syscall with no tracer attached would fail with ENOSYS), then `execve`s. An exec failure is
//! sent back on a close-on-exec pipe, so [`crate::Tracer::spawn`] returns only once the program
//! really runs, or says why it could not.

use std::ffi::CString;
use std::fmt;
use std::os::fd::RawFd;

/// What to start and how.
#[derive(Debug, Clone)]
pub struct Spawn {
    /// The program to execute (a path; no PATH search is done here).
    pub program: CString,
    /// The argument vector, `argv[0]` included.
    pub argv: Vec<CString>,
    /// The whole environment, as `KEY=VALUE`.
    pub env: Vec<CString>,
    /// The working directory.
    pub cwd: CString,
    /// Descriptors for the child's stdin, stdout and stderr.
    pub stdio: [RawFd; 3],
    /// Put the child in a process group of its own (so a terminal's Ctrl-C reaches only bop,
    /// which then stops the nodes in order).
    pub new_process_group: bool,
    /// Switch to this uid/gid before exec (the filter is installed first, with bop's rights).
    pub user: Option<(u32, u32)>,
}

/// Why a program could not be started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpawnError {
    /// `fork` failed.
    Fork(i32),
    /// The kernel refused `PTRACE_SEIZE` (errno), e.g. EPERM under a strict Yama policy.
    Ptrace(i32),
    /// The child could not set itself up (step, errno): chdir, seccomp, setuid …
    Setup(&'static str, i32),
    /// `execve` failed with this errno.
    Exec(i32),
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = |n: &i32| std::io::Error::from_raw_os_error(*n);
        match self {
            SpawnError::Fork(n) => write!(f, "fork failed: {}", e(n)),
            SpawnError::Ptrace(n) => write!(
                f,
                "ptrace is not permitted here ({}): run bop as root, give it CAP_SYS_PTRACE, \
                 or lower /proc/sys/kernel/yama/ptrace_scope",
                e(n)
            ),
            SpawnError::Setup(step, n) => {
                write!(f, "setting up the child failed at {step}: {}", e(n))
            }
            SpawnError::Exec(n) => write!(f, "cannot execute: {}", e(n)),
        }
    }
}

impl std::error::Error for SpawnError {}

/// Steps the child reports by number on the error pipe.
const STEPS: [&str; 8] = [
    "exec", "dup2", "chdir", "setpgid", "sync", "seccomp", "setgid", "setuid",
];

/// Writes `step` and `errno` to `fd` and exits; async-signal-safe.
unsafe fn child_fail(fd: RawFd, step: usize, errno: i32) -> ! {
    let msg = [step as i32, errno];
    libc::write(fd, msg.as_ptr().cast(), std::mem::size_of_val(&msg));
    libc::_exit(127)
}

fn errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// Forks and sets up the child; returns its pid once it is seized and has exec'd.
/// `seize` is called in the parent with the child's pid while the child waits.
pub(crate) fn spawn(
    spec: &Spawn,
    filter: &[libc::sock_filter],
    seize: impl FnOnce(i32) -> Result<(), i32>,
) -> Result<i32, SpawnError> {
    // Everything the child touches is prepared before fork: it must not allocate.
    let mut argv: Vec<*const libc::c_char> = spec.argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = spec.env.iter().map(|a| a.as_ptr()).collect();
    envp.push(std::ptr::null());
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr() as *mut libc::sock_filter,
    };
    let mut sync = [0 as RawFd; 2];
    let mut errp = [0 as RawFd; 2];
    // SAFETY: plain pipe2 calls on arrays of two ints.
    unsafe {
        if libc::pipe2(sync.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
            return Err(SpawnError::Fork(errno()));
        }
        if libc::pipe2(errp.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
            libc::close(sync[0]);
            libc::close(sync[1]);
            return Err(SpawnError::Fork(errno()));
        }
    }
    let parent = std::process::id() as i32;
    // SAFETY: the child only calls async-signal-safe functions until execve or _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        let e = errno();
        unsafe {
            for fd in sync.iter().chain(errp.iter()) {
                libc::close(*fd);
            }
        }
        return Err(SpawnError::Fork(e));
    }
    if pid == 0 {
        // SAFETY: the child; see above.
        unsafe { child(spec, &prog, &argv, &envp, sync, errp, parent) }
    }
    // parent
    unsafe {
        libc::close(sync[0]);
        libc::close(errp[1]);
    }
    let seized = seize(pid);
    if let Err(e) = seized {
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::close(sync[1]);
            libc::close(errp[0]);
            let mut st = 0;
            libc::waitpid(pid, &mut st, libc::__WALL);
        }
        return Err(SpawnError::Ptrace(e));
    }
    // Release the child, then follow it (alone: it has no threads yet) until it has exec'd or
    // died. Its error-path `write` is a traced syscall, so the parent must keep resuming it.
    let one = 1u8;
    unsafe {
        libc::write(sync[1], (&one as *const u8).cast(), 1);
        libc::close(sync[1]);
    }
    let mut failure: Option<SpawnError> = None;
    let read_error = |failure: &mut Option<SpawnError>| {
        let mut msg = [0i32; 2];
        let n = unsafe {
            libc::read(
                errp[0],
                msg.as_mut_ptr().cast(),
                std::mem::size_of_val(&msg),
            )
        };
        if n == std::mem::size_of_val(&msg) as isize && failure.is_none() {
            let step = STEPS.get(msg[0] as usize).copied().unwrap_or("setup");
            *failure = Some(if msg[0] == 0 {
                SpawnError::Exec(msg[1])
            } else {
                SpawnError::Setup(step, msg[1])
            });
        }
    };
    // the read end must not block once the child has exec'd (close-on-exec closed it)
    unsafe { libc::fcntl(errp[0], libc::F_SETFL, libc::O_NONBLOCK) };
    loop {
        let mut st = 0;
        let r = unsafe { libc::waitpid(pid, &mut st, libc::__WALL) };
        if r < 0 {
            if errno() == libc::EINTR {
                continue;
            }
            read_error(&mut failure);
            unsafe { libc::close(errp[0]) };
            return Err(failure.unwrap_or(SpawnError::Exec(libc::ECHILD)));
        }
        if libc::WIFEXITED(st) || libc::WIFSIGNALED(st) {
            read_error(&mut failure);
            unsafe { libc::close(errp[0]) };
            return Err(failure.unwrap_or(SpawnError::Setup("start", libc::ECHILD)));
        }
        let event = st >> 16;
        let sig = libc::WSTOPSIG(st);
        let deliver = match event {
            libc::PTRACE_EVENT_EXEC => {
                unsafe { libc::close(errp[0]) };
                return Ok(pid);
            }
            libc::PTRACE_EVENT_EXIT => {
                read_error(&mut failure);
                0
            }
            0 if sig != libc::SIGTRAP && sig != (libc::SIGTRAP | 0x80) => sig,
            _ => 0,
        };
        unsafe { libc::ptrace(libc::PTRACE_CONT, pid, 0, deliver as libc::c_long) };
    }
}

#[allow(clippy::too_many_arguments)]
unsafe fn child(
    spec: &Spawn,
    prog: &libc::sock_fprog,
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
    sync: [RawFd; 2],
    errp: [RawFd; 2],
    parent: i32,
) -> ! {
    let efd = errp[1];
    libc::close(sync[1]);
    libc::close(errp[0]);
    // Die with bop, even before the tracer has seized us.
    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
    if libc::getppid() != parent {
        libc::_exit(127);
    }
    if spec.new_process_group && libc::setpgid(0, 0) != 0 {
        child_fail(efd, 3, errno());
    }
    for (i, &fd) in spec.stdio.iter().enumerate() {
        if fd != i as RawFd && libc::dup2(fd, i as RawFd) < 0 {
            child_fail(efd, 1, errno());
        }
    }
    if libc::chdir(spec.cwd.as_ptr()) != 0 {
        child_fail(efd, 2, errno());
    }
    // bop blocks the signals its tracer waits for, and Rust ignores SIGPIPE: undo both.
    crate::children::reset_signals();
    // wait until the tracer has seized us
    let mut b = 0u8;
    loop {
        let n = libc::read(sync[0], (&mut b as *mut u8).cast(), 1);
        if n == 1 {
            break;
        }
        if n == 0 || errno() != libc::EINTR {
            child_fail(efd, 4, if n == 0 { libc::EPIPE } else { errno() });
        }
    }
    libc::close(sync[0]);
    // Install the filter with bop's rights; without CAP_SYS_ADMIN it needs no_new_privs.
    if libc::prctl(
        libc::PR_SET_SECCOMP,
        libc::SECCOMP_MODE_FILTER,
        prog as *const _,
    ) != 0
    {
        let e = errno();
        if e != libc::EACCES
            || libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
            || libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                prog as *const _,
            ) != 0
        {
            child_fail(efd, 5, errno());
        }
    }
    if let Some((uid, gid)) = spec.user {
        if libc::setgroups(0, std::ptr::null()) != 0 || libc::setgid(gid) != 0 {
            child_fail(efd, 6, errno());
        }
        if libc::setuid(uid) != 0 {
            child_fail(efd, 7, errno());
        }
    }
    libc::execve(spec.program.as_ptr(), argv.as_ptr(), envp.as_ptr());
    child_fail(efd, 0, errno())
}
