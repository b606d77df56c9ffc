//! The signal state of the programs bop starts, and waiting for them while staying
//! interruptible.
//!
//! bop blocks SIGINT, SIGTERM, SIGHUP and SIGCHLD in every thread ([`crate::block_signals`]),
//! and the Rust runtime ignores SIGPIPE. A child inherits both across `fork` and `execve`: a
//! program started as it is could not be stopped by Ctrl-C or `kill`, nor by a closed pipe.
//! So **every** child bop starts gets the state a program expects, through one place:
//! [`reset_signals`] in a forked child (the traced nodes, see `launch.rs`), [`clean_signals`]
//! for a [`Command`] (Graphviz, a cluster's setup and check commands, `bop explore`'s runs).
//!
//! While bop waits for such a child, the signals it blocks are still meant for bop:
//! [`wait_or_interrupt`] waits for the child or for SIGINT, SIGTERM or SIGHUP, whichever comes
//! first, and stops the child on a signal.

use std::io;
use std::process::{Child, Command, ExitStatus};
use std::time::Duration;

/// Sets the calling process's signal mask to empty and SIGPIPE to its default action.
///
/// # Safety
///
/// Async-signal-safe: meant for a forked child between `fork` and `execve`, where nothing may
/// allocate or take a lock.
pub unsafe fn reset_signals() {
    let mut set: libc::sigset_t = std::mem::zeroed();
    libc::sigemptyset(&mut set);
    libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    libc::signal(libc::SIGPIPE, libc::SIG_DFL);
}

/// Makes `cmd` start its program with no signal blocked and SIGPIPE at its default action
/// (see the module doc). Every [`Command`] bop spawns goes through here.
pub fn clean_signals(cmd: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: reset_signals is async-signal-safe, as pre_exec requires.
    unsafe {
        cmd.pre_exec(|| {
            reset_signals();
            Ok(())
        })
    }
}

/// The signals that ask bop to stop.
fn interrupt_set() -> libc::sigset_t {
    // SAFETY: sigset manipulation on a local value.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

/// Waits up to `timeout` (zero: only looks) for SIGINT, SIGTERM or SIGHUP sent to bop, and
/// takes it: the signal's number, or `None` if none came. The signals must be blocked
/// ([`crate::block_signals`]), as they are in bop.
pub fn take_interrupt(timeout: Duration) -> Option<i32> {
    let set = interrupt_set();
    let ts = libc::timespec {
        tv_sec: timeout.as_secs().min(i32::MAX as u64) as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: sigtimedwait on a local set with a local timeout.
    let sig = unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &ts) };
    (sig > 0).then_some(sig)
}

/// How a child that bop waited for ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waited {
    /// It ended by itself.
    Exited(ExitStatus),
    /// bop received this signal (SIGINT, SIGTERM or SIGHUP) first: the child was killed and
    /// reaped.
    Interrupted(i32),
}

/// Waits for `child` to end, or for SIGINT, SIGTERM or SIGHUP to reach bop; on a signal, kills
/// the child (SIGKILL), reaps it and says which signal came. A signal that arrives with the
/// child's end counts as an interruption: a terminal's Ctrl-C reaches the child too, and
/// its death is then the user's doing, not the child's failure.
pub fn wait_or_interrupt(child: &mut Child) -> io::Result<Waited> {
    loop {
        if let Some(sig) = take_interrupt(Duration::from_millis(50)) {
            let _ = child.kill();
            child.wait()?;
            return Ok(Waited::Interrupted(sig));
        }
        if let Some(status) = child.try_wait()? {
            return Ok(match take_interrupt(Duration::ZERO) {
                Some(sig) => Waited::Interrupted(sig),
                None => Waited::Exited(status),
            });
        }
    }
}
