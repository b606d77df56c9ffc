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
//! While bop waits for such a child, the signals it blocks are still meant for bop: every wait
//! for a child is [`wait_child`], which waits for the child, for SIGINT, SIGTERM or SIGHUP, or
//! for a deadline, whichever comes first, and then kills the child or passes the signal on.

use std::io;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use crate::signals::{sigset, take_interrupt, take_signal, STOP_SIGNALS};

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

/// What [`wait_child`] does when bop receives SIGINT, SIGTERM or SIGHUP while its child runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnSignal {
    /// Kill the child (SIGKILL) and reap it: its work is part of bop's and stops with it
    /// (Graphviz, a cluster's setup or check command). A child that leads a process group of
    /// its own (`CommandExt::process_group(0)`) is killed with its whole group, so a shell's
    /// children go too.
    Kill,
    /// Pass the signal on to the child and wait on until it ends: the child stops cleanly by
    /// itself (a `bop run` under `bop explore` or `bop census` stops its nodes).
    Forward,
}

/// How a child that bop waited for ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waited {
    /// It ended by itself.
    Exited(ExitStatus),
    /// bop received this signal (SIGINT, SIGTERM or SIGHUP; the first one) while the child
    /// ran or as it ended; the child has ended and is reaped (killed, with [`OnSignal::Kill`]).
    Interrupted(i32),
    /// The deadline passed first: the child was killed as [`OnSignal::Kill`] does, and reaped.
    TimedOut,
}

/// How often [`wait_child`] looks at its child at the least (SIGCHLD wakes it sooner).
const POLL: Duration = Duration::from_millis(50);

/// Waits for `child` to end, for SIGINT, SIGTERM or SIGHUP to reach bop (then does what
/// `on_signal` says), or for `deadline` to pass (then kills the child), whichever comes first.
/// A signal that arrives with the child's end counts as an interruption: a terminal's Ctrl-C
/// reaches the child too, and its death is then the user's doing, not the child's failure.
/// The signals must be blocked ([`crate::block_signals`]), as they are in bop.
pub fn wait_child(
    child: &mut Child,
    on_signal: OnSignal,
    deadline: Option<Instant>,
) -> io::Result<Waited> {
    let [int, term, hup] = STOP_SIGNALS;
    let set = sigset(&[libc::SIGCHLD, int, term, hup]);
    let mut got = None;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(match got.or_else(|| take_interrupt(Duration::ZERO)) {
                Some(sig) => Waited::Interrupted(sig),
                None => Waited::Exited(status),
            });
        }
        let now = Instant::now();
        if deadline.is_some_and(|d| d <= now) {
            kill(child);
            child.wait()?;
            return Ok(Waited::TimedOut);
        }
        let wait = deadline.map_or(POLL, |d| (d - now).min(POLL));
        match take_signal(&set, wait) {
            None | Some(libc::SIGCHLD) => {}
            Some(sig) => match on_signal {
                OnSignal::Kill => {
                    kill(child);
                    child.wait()?;
                    return Ok(Waited::Interrupted(sig));
                }
                OnSignal::Forward => {
                    got.get_or_insert(sig);
                    // SAFETY: signalling our own child, not reaped yet (try_wait saw it run).
                    unsafe { libc::kill(child.id() as libc::pid_t, sig) };
                }
            },
        }
    }
}

/// SIGKILL to a child not reaped yet, and to its process group when it leads one.
fn kill(child: &Child) {
    let pid = child.id() as libc::pid_t;
    // SAFETY: the child is not reaped, so its pid (and a group it leads) is still its own.
    unsafe {
        if libc::getpgid(pid) == pid {
            libc::kill(-pid, libc::SIGKILL);
        }
        libc::kill(pid, libc::SIGKILL);
    }
}
