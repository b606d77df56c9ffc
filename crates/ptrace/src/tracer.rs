//! The tracer: stops, events, resumption.

use std::collections::VecDeque;

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::time::Instant;

use crate::waker::{Wake, Waker};

use crate::launch::{self, Spawn, SpawnError};

const PTRACE_GET_SYSCALL_INFO: libc::c_uint = 0x420e;
const PTRACE_LISTEN: libc::c_uint = 0x4208;
const PTRACE_EVENT_STOP: i32 = 128;
const SYSCALL_INFO_ENTRY: u8 = 1;
const SYSCALL_INFO_EXIT: u8 = 2;
const SYSCALL_INFO_SECCOMP: u8 = 3;
/// `CLONE_THREAD`, `CLONE_FILES`, `CLONE_VFORK`.
const CLONE_THREAD: u64 = 0x0001_0000;
const CLONE_FILES: u64 = 0x0000_0400;
const CLONE_VFORK: u64 = 0x0000_4000;

/// `struct ptrace_syscall_info` (linux/ptrace.h).
#[repr(C)]
#[derive(Clone, Copy)]
struct SyscallInfo {
    op: u8,
    pad: [u8; 3],
    arch: u32,
    instruction_pointer: u64,
    stack_pointer: u64,
    /// entry/seccomp: nr, args[6], ret_data; exit: rval (i64), is_error (u8)
    data: [u64; 8],
}

/// How a task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this code.
    Code(i32),
    /// A signal killed it.
    Signal(i32),
}

/// What a new task is to its creator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskKind {
    /// A thread of the same process (`CLONE_THREAD`).
    Thread,
    /// A new process; `shares_files` when it shares the fd table (`CLONE_FILES`), `vfork`
    /// when its parent waits for it to exec or exit.
    Process { shares_files: bool, vfork: bool },
}

/// Something a tracee did. Unless said otherwise the tracee is stopped until
/// [`Tracer::resume`] is called for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// A thread is about to make a traced syscall.
    SyscallEntry { tid: i32, nr: i64, args: [u64; 6] },
    /// A syscall whose entry was resumed with [`Action::WatchExit`] (or [`Action::Fail`])
    /// returned `ret` (negative errno on failure).
    SyscallExit {
        tid: i32,
        nr: i64,
        args: [u64; 6],
        ret: i64,
    },
    /// `parent` created `child`. The parent is stopped; the child runs once the parent is
    /// resumed, so no event of the child comes before this one.
    NewTask {
        parent: i32,
        child: i32,
        kind: TaskKind,
    },
    /// Thread `tid` (now the process's leader) completed an execve; `former` was its tid
    /// before (different when a non-leader thread exec'd; the other threads are gone).
    Exec { tid: i32, former: i32 },
    /// A signal is about to be delivered to `tid`; resuming delivers it.
    Signal { tid: i32, sig: i32 },
    /// Thread `tid` of process `tgid` is about to exit (it has not released its files yet:
    /// peers have not seen its sockets close). Resume it to let it go.
    Exiting { tid: i32, tgid: i32, exit: Exit },
    /// Thread `tid` of process `tgid` is gone (not stopped; do not resume).
    Exited { tid: i32, tgid: i32, exit: Exit },
    /// bop itself received SIGINT, SIGTERM or SIGHUP.
    Interrupted { sig: i32 },
    /// The deadline given to [`Tracer::next_event`] passed.
    Timeout,
    /// No tracee is left (only returned when no deadline was given).
    NoTracees,
}

/// How a stopped tracee goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Run on (a pending signal is delivered).
    Continue,
    /// At a syscall entry: run the call and stop at its exit ([`Stop::SyscallExit`]).
    WatchExit,
    /// At a syscall entry: skip the call and make it fail with this errno (the exit is reported).
    Fail(i32),
    /// At a signal stop: do not deliver the signal.
    Suppress,
    /// At a signal stop: do not deliver the signal (one the process ignores), and if the
    /// thread is coming back from a system call that the signal made fail with EINTR, run
    /// the call again: untraced, an ignored signal is discarded when it is sent and never
    /// interrupts a call (ptrace makes the kernel queue it so that the tracer sees it).
    IgnoredSignal,
    /// At a syscall entry: skip the call and make it return this value (the exit is
    /// reported). At a syscall exit: replace the call's result with this value.
    Return(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StopKind {
    Running,
    Entry,
    Exit,
    Signal(i32),
    Other,
}

#[derive(Debug)]
struct Thread {
    tgid: i32,
    stop: StopKind,
    /// the syscall in progress (between a watched entry and its exit)
    pending: Option<(i64, [u64; 6])>,
    /// the result to set at the exit of a skipped call
    set_ret: Option<i64>,
    /// attach mode: the next syscall stop is an exit
    in_syscall: bool,
}

/// The ptrace backend. Must stay on the thread that created it.
pub struct Tracer {
    threads: HashMap<i32, Thread>,
    /// children announced by a parent's event whose first stop has not come yet: tgid
    expected: HashMap<i32, i32>,
    /// new tasks whose first stop came before their parent's event
    early: HashSet<i32>,
    queue: VecDeque<Stop>,
    filter: Vec<libc::sock_filter>,
    seccomp: bool,
    options: libc::c_long,
    /// threads kept stopped (a pause): how to resume each once released
    paused: HashMap<i32, Option<Action>>,
    /// wakes the blocking wait at a deadline or on a signal (started at the first wait)
    waker: Option<Waker>,
}

impl Default for Tracer {
    fn default() -> Self {
        Self::new()
    }
}

impl Tracer {
    /// A tracer that traps the syscalls in [`bop_syscalls::TRACED`].
    pub fn new() -> Self {
        let options = libc::PTRACE_O_TRACESYSGOOD
            | libc::PTRACE_O_TRACECLONE
            | libc::PTRACE_O_TRACEFORK
            | libc::PTRACE_O_TRACEVFORK
            | libc::PTRACE_O_TRACEEXEC
            | libc::PTRACE_O_TRACEEXIT
            | libc::PTRACE_O_TRACESECCOMP
            | libc::PTRACE_O_EXITKILL;
        Tracer {
            threads: HashMap::default(),
            expected: HashMap::default(),
            early: HashSet::default(),
            queue: VecDeque::new(),
            filter: crate::filter::build(bop_syscalls::TRACED),
            seccomp: true,
            options: options as libc::c_long,
            paused: HashMap::default(),
            waker: None,
        }
    }

    /// Stops the processes spawned from now on at these system calls too, beside
    /// [`bop_syscalls::TRACED`] (a fault rule that fails `openat` needs to see it; no run
    /// pays for calls no rule names).
    pub fn trace_also(&mut self, extra: &[i64]) {
        let new: Vec<i64> = extra
            .iter()
            .copied()
            .filter(|nr| !bop_syscalls::TRACED.contains(nr))
            .collect();
        if new.is_empty() {
            // the filter Tracer::new built covers them already
            return;
        }
        let mut all = bop_syscalls::TRACED.to_vec();
        all.extend(new);
        self.filter = crate::filter::build(&all);
    }

    /// Starts a program under the tracer and returns its pid once it has exec'd.
    pub fn spawn(&mut self, spec: &Spawn) -> Result<i32, SpawnError> {
        let options = self.options;
        let pid = launch::spawn(spec, &self.filter, |pid| {
            // SAFETY: PTRACE_SEIZE on our own child.
            let r = unsafe { libc::ptrace(libc::PTRACE_SEIZE, pid, 0, options) };
            if r == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error()
                    .raw_os_error()
                    .unwrap_or(libc::EPERM))
            }
        })?;
        self.threads.insert(
            pid,
            Thread {
                tgid: pid,
                stop: StopKind::Other,
                pending: None,
                set_ret: None,
                in_syscall: false,
            },
        );
        self.resume(pid, Action::Continue);
        Ok(pid)
    }

    /// Attaches to every thread of a running process (no seccomp filter can be installed:
    /// every syscall stops, and the untraced ones are resumed at once). Without EXITKILL: if
    /// bop dies, the process runs on.
    pub fn attach(&mut self, pid: i32) -> std::io::Result<Vec<i32>> {
        self.seccomp = false;
        let options = self.options & !(libc::PTRACE_O_EXITKILL as libc::c_long);
        let mut seized = Vec::new();
        // threads may come and go while we attach: repeat until no new one appears
        loop {
            let mut new = 0;
            for entry in std::fs::read_dir(format!("/proc/{pid}/task"))? {
                let Some(tid) = entry?
                    .file_name()
                    .to_str()
                    .and_then(|s| s.parse::<i32>().ok())
                else {
                    continue;
                };
                if self.threads.contains_key(&tid) {
                    continue;
                }
                // SAFETY: ptrace requests on a pid; failures are reported.
                unsafe {
                    if libc::ptrace(libc::PTRACE_SEIZE, tid, 0, options) != 0 {
                        let e = std::io::Error::last_os_error();
                        if e.raw_os_error() == Some(libc::ESRCH) {
                            continue;
                        }
                        return Err(e);
                    }
                    libc::ptrace(libc::PTRACE_INTERRUPT, tid, 0, 0);
                }
                self.threads.insert(
                    tid,
                    Thread {
                        tgid: pid,
                        stop: StopKind::Running,
                        pending: None,
                        set_ret: None,
                        in_syscall: false,
                    },
                );
                self.early.insert(tid); // its first stop is the interrupt: resume it
                seized.push(tid);
                new += 1;
            }
            if new == 0 {
                break;
            }
        }
        Ok(seized)
    }

    /// The process (thread group) of a traced thread.
    pub fn tgid(&self, tid: i32) -> Option<i32> {
        self.threads.get(&tid).map(|t| t.tgid)
    }

    /// How many threads are traced.
    pub fn thread_count(&self) -> usize {
        self.threads.len()
    }

    /// Ends the watcher thread [`Tracer::next_event`] starts (the next call starts a new
    /// one). Until then it takes every SIGINT, SIGTERM and SIGHUP; afterwards they stay pending
    /// for whoever waits for them (bop waiting for a command after the run,
    /// [`crate::wait_child`]). A signal it took and did not report is made pending again.
    pub fn stop_watching(&mut self) {
        if let Some(sig) = self.waker.take().and_then(Waker::stop) {
            // SAFETY: a signal to bop itself, which blocks it: it stays pending.
            unsafe { libc::kill(libc::getpid(), sig) };
        }
    }

    /// Waits for the next event, until `deadline` if given.
    ///
    /// One blocking `wait4` per stop; a watcher thread ([`crate::waker`]) ends the wait at the
    /// deadline or on SIGINT, SIGTERM or SIGHUP. With the deadline already passed it polls:
    /// a stop that is waiting is returned before [`Stop::Timeout`].
    pub fn next_event(&mut self, deadline: Option<Instant>) -> Stop {
        loop {
            if let Some(e) = self.queue.pop_front() {
                return e;
            }
            let waker = self.waker.get_or_insert_with(Waker::start);
            if let Some(sig) = waker.take_signal() {
                return Stop::Interrupted { sig };
            }
            // A deadline already passed still takes the stops that are waiting (a poll, not a
            // wait): a caller whose deadline stays in the past must not starve the tracees.
            let passed = deadline.is_some_and(|d| d <= Instant::now());
            let mut flags = libc::__WALL;
            if passed {
                flags |= libc::WNOHANG;
            } else {
                waker.arm(deadline);
            }
            let mut st = 0;
            // SAFETY: a wait4 for any child of any thread of bop: the tracees and the
            // watcher's wake children.
            let pid = unsafe { libc::waitpid(-1, &mut st, flags) };
            if pid == 0 || (pid < 0 && passed) {
                return Stop::Timeout;
            }
            if pid > 0 {
                match waker.reaped(pid) {
                    Some(Wake::Signal(sig)) => return Stop::Interrupted { sig },
                    Some(Wake::Deadline) => continue,
                    None => self.handle(pid, st),
                }
                continue;
            }
            let e = std::io::Error::last_os_error().raw_os_error();
            if e == Some(libc::ECHILD) {
                if self.threads.is_empty() && deadline.is_none() {
                    return Stop::NoTracees;
                }
                // no child at all (more may be started before the deadline): poll
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        }
    }

    fn thread(&mut self, tid: i32, tgid: i32) -> &mut Thread {
        self.threads.entry(tid).or_insert(Thread {
            tgid,
            stop: StopKind::Running,
            pending: None,
            set_ret: None,
            in_syscall: false,
        })
    }

    fn handle(&mut self, tid: i32, st: i32) {
        if libc::WIFEXITED(st) || libc::WIFSIGNALED(st) {
            let exit = if libc::WIFEXITED(st) {
                Exit::Code(libc::WEXITSTATUS(st))
            } else {
                Exit::Signal(libc::WTERMSIG(st))
            };
            self.paused.remove(&tid);
            if let Some(t) = self.threads.remove(&tid) {
                self.queue.push_back(Stop::Exited {
                    tid,
                    tgid: t.tgid,
                    exit,
                });
            }
            self.early.remove(&tid);
            return;
        }
        if !libc::WIFSTOPPED(st) {
            return;
        }
        let sig = libc::WSTOPSIG(st);
        let event = st >> 16;
        // A task we have not heard of: a new child whose parent's event has not come yet,
        // or one whose parent's event came first.
        if !self.threads.contains_key(&tid) {
            if let Some(tgid) = self.expected.remove(&tid) {
                self.thread(tid, tgid).stop = StopKind::Other;
                self.resume(tid, Action::Continue);
            } else if event == libc::PTRACE_EVENT_EXIT {
                // A new task killed before it ran an instruction (its process got SIGKILL as
                // it was being created): its first stop is its exit, and its creator's clone
                // event may never come (the creator died in it). Let it die now; waiting for
                // that event would leave it stopped for ever, and its process a zombie that
                // cannot be reaped (found by a campaign crashing a replica mid-clone).
                // SAFETY: PTRACE_CONT of a task of ours in a ptrace stop.
                unsafe {
                    libc::ptrace(libc::PTRACE_CONT, tid, 0, 0);
                }
            } else {
                self.early.insert(tid);
            }
            return;
        }
        if self.early.remove(&tid) {
            // attach mode: the PTRACE_INTERRUPT stop
            self.threads
                .entry(tid)
                .and_modify(|t| t.stop = StopKind::Other);
            self.resume(tid, Action::Continue);
            return;
        }
        match event {
            libc::PTRACE_EVENT_SECCOMP => self.syscall_stop(tid),
            0 if sig == libc::SIGTRAP | 0x80 => self.syscall_stop(tid),
            libc::PTRACE_EVENT_CLONE | libc::PTRACE_EVENT_FORK | libc::PTRACE_EVENT_VFORK => {
                self.new_task(tid, event)
            }
            libc::PTRACE_EVENT_EXEC => {
                let former = geteventmsg(tid).map(|m| m as i32).unwrap_or(tid);
                let tgid = self.threads.get(&tid).map(|t| t.tgid).unwrap_or(tid);
                // every other thread of the process is gone; the exec'ing one is now the leader
                let gone: Vec<i32> = self
                    .threads
                    .iter()
                    .filter(|(&t, th)| th.tgid == tgid && t != tid)
                    .map(|(&t, _)| t)
                    .collect();
                for t in gone {
                    self.threads.remove(&t);
                }
                let t = self.thread(tid, tgid);
                t.tgid = tid;
                t.stop = StopKind::Other;
                t.pending = None;
                t.in_syscall = false;
                self.queue.push_back(Stop::Exec { tid, former });
            }
            libc::PTRACE_EVENT_EXIT => {
                // The thread is dying (exit_group, a fatal signal). A call it was inside may
                // have done its work already: its exit stop will never come, but its result is
                // in rax (-ENOSYS: it never ran).
                let pending = self.threads.get_mut(&tid).and_then(|t| {
                    t.stop = StopKind::Other;
                    t.set_ret = None;
                    t.pending.take()
                });
                if let (Some((nr, args)), Some(regs)) = (pending, get_regs(tid)) {
                    let ret = regs.rax as i64;
                    if ret != -(libc::ENOSYS as i64) {
                        self.queue
                            .push_back(Stop::SyscallExit { tid, nr, args, ret });
                    }
                }
                let tgid = self.threads.get(&tid).map(|t| t.tgid).unwrap_or(tid);
                let status = geteventmsg(tid).map(|m| m as i32).unwrap_or(0);
                let exit = if libc::WIFSIGNALED(status) {
                    Exit::Signal(libc::WTERMSIG(status))
                } else {
                    Exit::Code(libc::WEXITSTATUS(status))
                };
                self.queue.push_back(Stop::Exiting { tid, tgid, exit });
            }
            PTRACE_EVENT_STOP => {
                if matches!(
                    sig,
                    libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU
                ) {
                    // group-stop: stay stopped but let SIGCONT wake the tracee
                    // SAFETY: PTRACE_LISTEN on a tracee in group-stop.
                    unsafe { libc::ptrace(PTRACE_LISTEN, tid, 0, 0) };
                } else {
                    self.threads
                        .entry(tid)
                        .and_modify(|t| t.stop = StopKind::Other);
                    self.resume(tid, Action::Continue);
                }
            }
            0 => {
                self.threads
                    .entry(tid)
                    .and_modify(|t| t.stop = StopKind::Signal(sig));
                self.queue.push_back(Stop::Signal { tid, sig });
            }
            _ => {
                self.threads
                    .entry(tid)
                    .and_modify(|t| t.stop = StopKind::Other);
                self.resume(tid, Action::Continue);
            }
        }
    }

    fn syscall_stop(&mut self, tid: i32) {
        let Some(info) = get_syscall_info(tid) else {
            // the tracee vanished (ESRCH): its exit will be reported
            return;
        };
        let Some(t) = self.threads.get_mut(&tid) else {
            return;
        };
        match info.op {
            SYSCALL_INFO_SECCOMP | SYSCALL_INFO_ENTRY => {
                let nr = info.data[0] as i64;
                let mut args = [0u64; 6];
                args.copy_from_slice(&info.data[1..7]);
                t.in_syscall = true;
                if info.op == SYSCALL_INFO_ENTRY && !bop_syscalls::is_traced(nr) {
                    // attach mode: not ours
                    t.stop = StopKind::Other;
                    self.resume(tid, Action::Continue);
                    return;
                }
                t.stop = StopKind::Entry;
                t.pending = Some((nr, args));
                self.queue.push_back(Stop::SyscallEntry { tid, nr, args });
            }
            SYSCALL_INFO_EXIT => {
                t.in_syscall = false;
                let mut ret = info.data[0] as i64;
                if let Some(r) = t.set_ret.take() {
                    ret = r;
                    set_return(tid, ret);
                }
                match t.pending.take() {
                    Some((nr, args)) => {
                        t.stop = StopKind::Exit;
                        self.queue
                            .push_back(Stop::SyscallExit { tid, nr, args, ret });
                    }
                    None => {
                        t.stop = StopKind::Other;
                        self.resume(tid, Action::Continue);
                    }
                }
            }
            _ => {
                t.stop = StopKind::Other;
                self.resume(tid, Action::Continue);
            }
        }
    }

    fn new_task(&mut self, tid: i32, event: i32) {
        let Some(child) = geteventmsg(tid).map(|m| m as i32) else {
            return;
        };
        let parent_tgid = self.threads.get(&tid).map(|t| t.tgid).unwrap_or(tid);
        let flags = clone_flags(tid).unwrap_or(0);
        let kind = match event {
            libc::PTRACE_EVENT_CLONE if flags & CLONE_THREAD != 0 => TaskKind::Thread,
            libc::PTRACE_EVENT_VFORK => TaskKind::Process {
                shares_files: flags & CLONE_FILES != 0,
                vfork: true,
            },
            _ => TaskKind::Process {
                shares_files: flags & CLONE_FILES != 0,
                vfork: flags & CLONE_VFORK != 0,
            },
        };
        let tgid = if kind == TaskKind::Thread {
            parent_tgid
        } else {
            child
        };
        if let Some(t) = self.threads.get_mut(&tid) {
            t.stop = StopKind::Other;
        }
        if self.paused.contains_key(&tid) {
            // a task made while its creator was being paused is paused too
            self.paused.insert(child, None);
        }
        self.queue.push_back(Stop::NewTask {
            parent: tid,
            child,
            kind,
        });
        if self.early.remove(&child) {
            // its first stop already came: it waits for the parent to be resumed
            self.thread(child, tgid).stop = StopKind::Other;
            self.resume(child, Action::Continue);
        } else {
            self.expected.insert(child, tgid);
        }
    }

    /// Keeps every thread of these processes from running until [`Tracer::unpause`]: running
    /// threads are interrupted (`PTRACE_INTERRUPT`: no signal, but a thread blocked in a call
    /// that has a timeout, such as a receive on a socket with `SO_RCVTIMEO`, sees it fail with
    /// EINTR), stopped ones are not resumed. Threads they create meanwhile are paused too.
    pub fn pause(&mut self, tgids: &[i32]) {
        self.pause_threads(tgids, true)
    }

    /// Keeps every thread of these processes from going on past its next stop until
    /// [`Tracer::unpause`], without interrupting any: a running thread runs on to its next
    /// traced call, a thread blocked in a call stays in it until the call completes, and there
    /// it waits (an interrupt would end a call that has a timeout with EINTR, which the program
    /// sees).
    pub fn hold_at_stops(&mut self, tgids: &[i32]) {
        self.pause_threads(tgids, false)
    }

    fn pause_threads(&mut self, tgids: &[i32], interrupt: bool) {
        let tids: Vec<(i32, StopKind)> = self
            .threads
            .iter()
            .filter(|(_, t)| tgids.contains(&t.tgid))
            .map(|(&tid, t)| (tid, t.stop))
            .collect();
        for (tid, stop) in tids {
            if self.paused.contains_key(&tid) {
                continue;
            }
            self.paused.insert(tid, None);
            if interrupt && stop == StopKind::Running {
                // SAFETY: PTRACE_INTERRUPT on a tracee; ESRCH means it is gone.
                unsafe { libc::ptrace(libc::PTRACE_INTERRUPT, tid, 0, 0) };
            }
        }
    }

    /// Whether thread `tid` is paused ([`Tracer::pause`]).
    pub fn is_paused(&self, tid: i32) -> bool {
        self.paused.contains_key(&tid)
    }

    /// Lets paused threads of these processes go on as they were going to.
    pub fn unpause(&mut self, tgids: &[i32]) {
        let tids: Vec<i32> = self
            .paused
            .keys()
            .copied()
            .filter(|tid| {
                self.threads
                    .get(tid)
                    .is_none_or(|t| tgids.contains(&t.tgid))
            })
            .collect();
        for tid in tids {
            // a thread without a remembered action is still the caller's to resume
            if let Some(action) = self.paused.remove(&tid).flatten() {
                self.resume(tid, action);
            }
        }
    }

    /// Lets a stopped tracee go on. Harmless on a tracee that has died meanwhile.
    pub fn resume(&mut self, tid: i32, action: Action) {
        if let Some(slot) = self.paused.get_mut(&tid) {
            // paused: remember how to go on
            *slot = Some(action);
            return;
        }
        let seccomp = self.seccomp;
        let Some(t) = self.threads.get_mut(&tid) else {
            return;
        };
        let stop = std::mem::replace(&mut t.stop, StopKind::Running);
        let (req, sig) = match (stop, action) {
            (StopKind::Entry, Action::WatchExit) => (libc::PTRACE_SYSCALL, 0),
            (StopKind::Entry, Action::Fail(errno)) => {
                // skip the call: number -1 at entry, the errno at exit
                set_syscall_nr(tid, -1);
                t.set_ret = Some(-(errno as i64));
                (libc::PTRACE_SYSCALL, 0)
            }
            (StopKind::Entry, Action::Return(r)) => {
                set_syscall_nr(tid, -1);
                t.set_ret = Some(r);
                (libc::PTRACE_SYSCALL, 0)
            }
            (StopKind::Exit, Action::Return(r)) => {
                set_return(tid, r);
                (cont(seccomp), 0)
            }
            (StopKind::Entry, _) => {
                t.pending = None;
                if seccomp {
                    (libc::PTRACE_CONT, 0)
                } else {
                    // attach mode: keep stopping on every syscall, but ignore this one's exit
                    (libc::PTRACE_SYSCALL, 0)
                }
            }
            (StopKind::Signal(s), Action::Continue) => (cont(seccomp), s),
            (StopKind::Signal(_), Action::IgnoredSignal) => {
                restart_if_eintr(tid);
                (cont(seccomp), 0)
            }
            (StopKind::Running, _) => {
                t.stop = StopKind::Running;
                return;
            }
            _ => (cont(seccomp), 0),
        };
        // SAFETY: resuming a stopped tracee; ESRCH (it died) is fine.
        unsafe { libc::ptrace(req, tid, 0, sig as libc::c_long) };
    }

    /// Detaches from every traced thread, leaving them running (used by `bop attach` at the
    /// end). Threads that are running are interrupted first: only a stopped tracee can be
    /// detached. A signal a thread was about to receive is delivered on detach.
    pub fn detach_all(&mut self) {
        let mut waiting: HashSet<i32> = HashSet::default();
        for (&tid, t) in self.threads.iter() {
            if t.stop == StopKind::Running {
                // SAFETY: PTRACE_INTERRUPT on a tracee; ESRCH means it is gone.
                if unsafe { libc::ptrace(libc::PTRACE_INTERRUPT, tid, 0, 0) } == 0 {
                    waiting.insert(tid);
                }
            }
        }
        let deadline = Instant::now() + std::time::Duration::from_secs(2);
        let mut signals: HashMap<i32, i32> = HashMap::default();
        while !waiting.is_empty() && Instant::now() < deadline {
            let mut st = 0;
            // SAFETY: waitpid on our tracees.
            let pid = unsafe {
                libc::waitpid(
                    -1,
                    &mut st,
                    libc::__WALL | libc::__WNOTHREAD | libc::WNOHANG,
                )
            };
            if pid <= 0 {
                std::thread::sleep(std::time::Duration::from_millis(1));
                continue;
            }
            waiting.remove(&pid);
            if libc::WIFEXITED(st) || libc::WIFSIGNALED(st) {
                self.threads.remove(&pid);
            } else if libc::WIFSTOPPED(st) && st >> 16 == 0 {
                let sig = libc::WSTOPSIG(st);
                if sig != (libc::SIGTRAP | 0x80) && sig != libc::SIGTRAP {
                    signals.insert(pid, sig);
                }
            }
        }
        for (&tid, t) in self.threads.iter() {
            let sig = match t.stop {
                StopKind::Signal(s) => s,
                _ => signals.get(&tid).copied().unwrap_or(0),
            };
            // SAFETY: detaching a stopped tracee; errors mean the thread is gone.
            unsafe { libc::ptrace(libc::PTRACE_DETACH, tid, 0, sig as libc::c_long) };
        }
        self.threads.clear();
        self.queue.clear();
        self.early.clear();
        self.expected.clear();
    }
}

fn cont(seccomp: bool) -> libc::c_uint {
    if seccomp {
        libc::PTRACE_CONT
    } else {
        libc::PTRACE_SYSCALL
    }
}

fn get_syscall_info(tid: i32) -> Option<SyscallInfo> {
    let mut info = SyscallInfo {
        op: 0,
        pad: [0; 3],
        arch: 0,
        instruction_pointer: 0,
        stack_pointer: 0,
        data: [0; 8],
    };
    // SAFETY: the kernel writes at most size_of::<SyscallInfo>() bytes into `info`.
    let r = unsafe {
        libc::ptrace(
            PTRACE_GET_SYSCALL_INFO,
            tid,
            std::mem::size_of::<SyscallInfo>(),
            &mut info as *mut SyscallInfo,
        )
    };
    (r > 0).then_some(info)
}

fn geteventmsg(tid: i32) -> Option<u64> {
    let mut msg: libc::c_ulong = 0;
    // SAFETY: the kernel writes one c_ulong.
    let r = unsafe { libc::ptrace(libc::PTRACE_GETEVENTMSG, tid, 0, &mut msg as *mut _) };
    (r == 0).then_some(msg as u64)
}

fn get_regs(tid: i32) -> Option<libc::user_regs_struct> {
    // SAFETY: zeroed POD, filled by the kernel.
    let mut regs: libc::user_regs_struct = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::ptrace(libc::PTRACE_GETREGS, tid, 0, &mut regs as *mut _) };
    (r == 0).then_some(regs)
}

fn set_regs(tid: i32, regs: &libc::user_regs_struct) {
    // SAFETY: the kernel reads one user_regs_struct.
    unsafe { libc::ptrace(libc::PTRACE_SETREGS, tid, 0, regs as *const _) };
}

/// At a signal stop: if the thread comes from a system call (its `orig_rax` is a syscall
/// number) that returned -EINTR, rewinds it to run the call again, as the kernel restarts a
/// call after a signal that runs no handler: the result register gets the call's number
/// back and the instruction pointer goes back over the 2-byte `syscall` instruction.
fn restart_if_eintr(tid: i32) {
    const EINTR: i64 = 4;
    if let Some(mut regs) = get_regs(tid) {
        if (regs.orig_rax as i64) >= 0 && regs.rax as i64 == -EINTR {
            regs.rax = regs.orig_rax;
            regs.rip = regs.rip.wrapping_sub(2);
            set_regs(tid, &regs);
        }
    }
}

fn set_syscall_nr(tid: i32, nr: i64) {
    if let Some(mut regs) = get_regs(tid) {
        regs.orig_rax = nr as u64;
        set_regs(tid, &regs);
    }
}

fn set_return(tid: i32, ret: i64) {
    if let Some(mut regs) = get_regs(tid) {
        regs.rax = ret as u64;
        set_regs(tid, &regs);
    }
}

/// The flags of the clone/clone3 the tracee is stopped in (at its clone event).
fn clone_flags(tid: i32) -> Option<u64> {
    let regs = get_regs(tid)?;
    match regs.orig_rax as i64 {
        libc::SYS_clone => Some(regs.rdi),
        libc::SYS_clone3 => {
            use bop_syscalls::Memory;
            let b = crate::TraceeMemory { tid }.read(regs.rdi, 8)?;
            Some(u64::from_ne_bytes(b.try_into().ok()?))
        }
        libc::SYS_vfork => Some(CLONE_VFORK),
        _ => Some(0), // fork
    }
}
