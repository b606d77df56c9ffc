//! Waking the tracer's blocking `wait4` for a deadline or a signal, without a race.
//!
//! The tracer waits for its tracees' stops with one blocking `wait4` per stop, as strace does:
//! a `WNOHANG` poll followed by a signal wait costs three system calls per stop when bop and
//! its tracee share a CPU. A blocking `wait4` cannot also wait for a timeout or for SIGINT, and
//! a signal handler that sets a flag races with the call (the signal can land just before it).
//!
//! So a watcher thread takes SIGINT, SIGTERM and SIGHUP with `sigtimedwait` and sleeps until
//! the tracer's deadline; when either comes it forks a child that exits at once. Its exit is a
//! child state change the tracer's `wait4` reports (a thread may reap its siblings' children),
//! and a zombie waits until reaped, so a wake sent before the tracer blocks is not lost.

use rustc_hash::FxHashSet as HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Instant;

/// What the tracer and the watcher share.
#[derive(Default)]
struct State {
    /// when the watcher must wake the tracer; cleared once it has
    deadline: Option<Instant>,
    /// wake children forked and not reaped yet
    children: HashSet<i32>,
    /// a SIGINT, SIGTERM or SIGHUP taken and not yet reported
    signal: Option<i32>,
    /// the tracer is gone: the watcher ends
    quit: bool,
}

/// The state, and a count of unreaped wake children readable without the lock (the tracer
/// checks it at every stop).
#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    children: AtomicUsize,
}

/// The tracer's side of the watcher thread.
pub(crate) struct Waker {
    shared: Arc<Shared>,
    /// the earliest deadline given to the watcher and not yet passed (the tracer's copy)
    armed: Option<Instant>,
    /// the watcher's thread id, for `tgkill`
    tid: i32,
    thread: Option<JoinHandle<()>>,
}

/// What a wake child's exit meant.
pub(crate) enum Wake {
    /// A signal to report.
    Signal(i32),
    /// Nothing but the deadline (which the caller checks) or a stale wake.
    Deadline,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // a panic in the watcher cannot leave the state half-written: use it as it is
    state.lock().unwrap_or_else(|p| p.into_inner())
}

/// The signals the watcher takes: the stop signals, and the tracer's nudge.
fn watcher_set() -> libc::sigset_t {
    let [int, term, hup] = crate::signals::STOP_SIGNALS;
    crate::signals::sigset(&[int, term, hup, libc::SIGUSR1])
}

impl Waker {
    /// Starts the watcher thread.
    pub(crate) fn start() -> Self {
        let shared = Arc::new(Shared::default());
        let theirs = shared.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("bop-waker".into())
            .spawn(move || {
                let set = watcher_set();
                // SAFETY: blocking signals in this thread only; SIGUSR1 (the tracer's nudge)
                // must stay pending for sigtimedwait rather than kill the process.
                unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
                // SAFETY: gettid has no preconditions.
                let _ = tx.send(unsafe { libc::gettid() });
                watch(&theirs, &set);
            })
            .ok();
        let tid = rx.recv().unwrap_or(0);
        Waker {
            shared,
            armed: None,
            tid,
            thread,
        }
    }

    /// Makes sure the watcher wakes the tracer by `deadline`. A later deadline than the one
    /// the watcher holds needs no nudge: at worst the tracer is woken early once.
    pub(crate) fn arm(&mut self, deadline: Option<Instant>) {
        match (self.armed, deadline) {
            (_, None) => return,
            (Some(old), Some(new)) if old <= new => return,
            _ => self.armed = deadline,
        }
        let nudge = {
            let mut s = lock(&self.shared.state);
            match (s.deadline, deadline) {
                (_, None) => false,
                (Some(old), Some(new)) if old <= new => false,
                (_, new) => {
                    s.deadline = new;
                    true
                }
            }
        };
        if nudge {
            self.nudge();
        }
    }

    /// A signal taken and not yet reported, if any (taking it).
    pub(crate) fn take_signal(&self) -> Option<i32> {
        lock(&self.shared.state).signal.take()
    }

    /// Whether `pid` is a wake child (forgetting it): the caller reaped it.
    pub(crate) fn reaped(&mut self, pid: i32) -> Option<Wake> {
        if self.shared.children.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut s = lock(&self.shared.state);
        if !s.children.remove(&pid) {
            return None;
        }
        self.shared.children.fetch_sub(1, Ordering::AcqRel);
        // the watcher clears a deadline it has woken us for: arm anew
        self.armed = None;
        Some(match s.signal.take() {
            Some(sig) => Wake::Signal(sig),
            None => Wake::Deadline,
        })
    }

    fn nudge(&self) {
        if self.tid > 0 {
            // SAFETY: a thread-directed signal to our own watcher thread, which blocks it.
            unsafe {
                libc::syscall(
                    libc::SYS_tgkill,
                    libc::getpid(),
                    self.tid,
                    libc::SIGUSR1 as libc::c_long,
                )
            };
        }
    }
}

impl Waker {
    /// Ends the watcher thread and reaps its wake children; returns a signal it took and did
    /// not report.
    pub(crate) fn stop(mut self) -> Option<i32> {
        self.end();
        let mut s = lock(&self.shared.state);
        for pid in s.children.drain() {
            // SAFETY: a wake child of ours, which exits at once.
            unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::__WALL) };
        }
        self.shared.children.store(0, Ordering::Release);
        s.signal.take()
    }

    /// Makes the watcher thread end, and waits for it.
    fn end(&mut self) {
        lock(&self.shared.state).quit = true;
        if let Some(t) = self.thread.take() {
            self.nudge();
            let _ = t.join();
        }
    }
}

impl Drop for Waker {
    fn drop(&mut self) {
        self.end();
    }
}

/// The watcher thread: waits for a signal or the deadline, and wakes the tracer.
fn watch(shared: &Shared, set: &libc::sigset_t) {
    let state = &shared.state;
    loop {
        let deadline = {
            let s = lock(state);
            if s.quit {
                return;
            }
            s.deadline
        };
        let now = Instant::now();
        let timeout = match deadline {
            Some(d) if d <= now => {
                let mut s = lock(state);
                if s.deadline == Some(d) {
                    s.deadline = None;
                    wake(shared, &mut s);
                }
                continue;
            }
            Some(d) => d - now,
            // nothing to wait for but signals and nudges; re-check now and then regardless
            None => std::time::Duration::from_secs(1),
        };
        let sig = crate::signals::take_signal(set, timeout);
        if let Some(sig) = sig.filter(|s| crate::signals::STOP_SIGNALS.contains(s)) {
            let mut s = lock(state);
            s.signal = Some(sig);
            wake(shared, &mut s);
        }
    }
}

/// Forks a child that exits at once; the tracer's `wait4` reports it.
fn wake(shared: &Shared, s: &mut State) {
    // counted before the fork: the tracer may reap the child before fork returns here, and
    // must then see a count above 0 (and wait for this lock to find the pid)
    shared.children.fetch_add(1, Ordering::AcqRel);
    // SAFETY: the child calls only _exit, which is async-signal-safe.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: leaving the forked child at once.
        unsafe { libc::_exit(0) };
    }
    if pid > 0 {
        s.children.insert(pid);
    } else {
        shared.children.fetch_sub(1, Ordering::AcqRel);
    }
}
