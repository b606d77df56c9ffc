//! The signals bop takes synchronously: which ones, blocking them, and taking one.
//!
//! bop blocks SIGCHLD, SIGINT, SIGTERM and SIGHUP in every thread ([`block_signals`]) and takes
//! them with `sigtimedwait` where it waits: the tracer (through its watcher thread), a wait for
//! a child ([`crate::children`]), `bop explore` between runs. Every such set is built by
//! [`sigset`] and every such wait is [`take_signal`].

use std::time::Duration;

/// The signals that ask bop to stop: SIGINT (Ctrl-C), SIGTERM, SIGHUP.
pub const STOP_SIGNALS: [i32; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// The signals [`block_signals`] blocks: [`STOP_SIGNALS`] and SIGCHLD.
const BLOCKED: [i32; 4] = [libc::SIGCHLD, libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// A signal set holding `signals`.
pub fn sigset(signals: &[i32]) -> libc::sigset_t {
    // SAFETY: sigset manipulation on a local value.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &s in signals {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

/// Waits up to `timeout` (zero: only looks) for one of the signals in `set`, pending for the
/// process or the calling thread, and takes it: its number, or `None` if none came (or the
/// wait was cut short). The signals must be blocked in the calling thread.
pub fn take_signal(set: &libc::sigset_t, timeout: Duration) -> Option<i32> {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs().min(i32::MAX as u64) as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: sigtimedwait only reads the set and the timeout.
    let sig = unsafe { libc::sigtimedwait(set, std::ptr::null_mut(), &ts) };
    (sig > 0).then_some(sig)
}

/// Waits up to `timeout` (zero: only looks) for SIGINT, SIGTERM or SIGHUP sent to bop, and
/// takes it: the signal's number, or `None` if none came. The signals must be blocked
/// ([`block_signals`]), as they are in bop.
pub fn take_interrupt(timeout: Duration) -> Option<i32> {
    take_signal(&sigset(&STOP_SIGNALS), timeout)
}

/// Blocks SIGCHLD, SIGINT, SIGTERM and SIGHUP in the calling thread (and every thread it
/// starts afterwards): the tracer receives them synchronously while it waits for stops.
/// Call it first thing in `main`.
pub fn block_signals() {
    // SAFETY: pthread_sigmask on a local set.
    unsafe {
        libc::pthread_sigmask(libc::SIG_BLOCK, &sigset(&BLOCKED), std::ptr::null_mut());
    }
}

/// Undoes [`block_signals`] in the calling thread, for a command that starts no tracer and no
/// child and waits for nothing but its own work (reading a trace): SIGINT, SIGTERM and SIGHUP
/// then end it at once, as they end any program (a signal already pending acts now). Call it
/// before any other thread starts.
pub fn unblock_signals() {
    // SAFETY: pthread_sigmask on a local set.
    unsafe {
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &sigset(&BLOCKED), std::ptr::null_mut());
    }
}
