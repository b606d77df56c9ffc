//! The backend against real processes: a shell pipeline is followed through fork, exec and
//! exit, and its syscalls are seen at entry and exit.

use std::ffi::CString;

use bop_ptrace::{block_signals, Action, Exit, Spawn, SpawnError, Stop, TaskKind, Tracer};

fn spec(argv: &[&str]) -> Spawn {
    let devnull = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .expect("/dev/null");
    let fd = std::os::fd::IntoRawFd::into_raw_fd(devnull);
    Spawn {
        program: CString::new(argv[0]).unwrap(),
        argv: argv.iter().map(|a| CString::new(*a).unwrap()).collect(),
        env: vec![CString::new("PATH=/usr/bin:/bin").unwrap()],
        cwd: CString::new("/").unwrap(),
        stdio: [fd, fd, 2],
        new_process_group: true,
        user: None,
    }
}

#[test]
fn follows_a_shell_pipeline() {
    block_signals();
    let mut t = Tracer::new();
    let pid = t
        .spawn(&spec(&["/bin/sh", "-c", "echo hello | cat; exit 3"]))
        .expect("spawn");
    let (mut procs, mut execs, mut writes, mut pipes) = (0, 0, 0, 0);
    let mut root_exit = None;
    loop {
        match t.next_event(None) {
            Stop::SyscallEntry { tid, nr, .. } => {
                if nr == libc::SYS_write || nr == libc::SYS_pipe2 || nr == libc::SYS_pipe {
                    t.resume(tid, Action::WatchExit)
                } else {
                    t.resume(tid, Action::Continue)
                }
            }
            Stop::SyscallExit { tid, nr, ret, .. } => {
                if nr == libc::SYS_write && ret > 0 {
                    writes += 1;
                }
                if nr != libc::SYS_write && ret == 0 {
                    pipes += 1;
                }
                t.resume(tid, Action::Continue)
            }
            Stop::NewTask { parent, kind, .. } => {
                if matches!(kind, TaskKind::Process { .. }) {
                    procs += 1;
                }
                t.resume(parent, Action::Continue)
            }
            Stop::Exec { tid, .. } => {
                execs += 1;
                t.resume(tid, Action::Continue)
            }
            Stop::Signal { tid, .. } | Stop::Exiting { tid, .. } => t.resume(tid, Action::Continue),
            Stop::Exited { tid, exit, .. } => {
                if tid == pid {
                    root_exit = Some(exit);
                }
            }
            Stop::NoTracees => break,
            e => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(root_exit, Some(Exit::Code(3)));
    assert!(procs >= 1, "the shell forked ({procs})");
    assert!(execs >= 1, "echo|cat exec'd ({execs})");
    assert!(pipes >= 1, "the pipe was made");
    assert!(writes >= 1, "echo wrote");
}

#[test]
fn a_missing_program_is_an_exec_error() {
    block_signals();
    let mut t = Tracer::new();
    let err = t.spawn(&spec(&["/nonexistent/prog"])).unwrap_err();
    assert_eq!(err, SpawnError::Exec(libc::ENOENT));
    // the failed child is reaped and nothing is left
    assert_eq!(t.next_event(None), Stop::NoTracees);
}

#[test]
fn a_failed_call_returns_the_injected_errno() {
    block_signals();
    let mut t = Tracer::new();
    // python is not needed: sh's `exec 3<>/dev/null` is untraced, but `echo` writes once.
    t.spawn(&spec(&["/bin/sh", "-c", "echo x || exit 9; exit 0"]))
        .expect("spawn");
    let mut code = None;
    loop {
        match t.next_event(None) {
            Stop::SyscallEntry { tid, nr, .. } if nr == libc::SYS_write => {
                t.resume(tid, Action::Fail(libc::EIO))
            }
            Stop::SyscallEntry { tid, .. }
            | Stop::SyscallExit { tid, .. }
            | Stop::Exec { tid, .. }
            | Stop::Signal { tid, .. }
            | Stop::Exiting { tid, .. } => t.resume(tid, Action::Continue),
            Stop::NewTask { parent, .. } => t.resume(parent, Action::Continue),
            Stop::Exited { exit, .. } => code = Some(exit),
            Stop::NoTracees => break,
            e => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(
        code,
        Some(Exit::Code(9)),
        "echo saw EIO and the shell exited 9"
    );
}

#[test]
fn a_deadline_already_passed_still_returns_the_waiting_stops() {
    // A caller whose deadline stays in the past (bop's run loop once, with a flush the disk
    // kept refusing) must still see the tracee's stops, or the tracee waits forever.
    block_signals();
    let mut t = Tracer::new();
    let pid = t
        .spawn(&spec(&["/bin/sh", "-c", "echo a; echo b; exit 4"]))
        .expect("spawn");
    let past = std::time::Instant::now();
    let (mut events, mut timeouts, mut root_exit) = (0, 0, None);
    while root_exit.is_none() {
        match t.next_event(Some(past)) {
            Stop::Timeout => {
                timeouts += 1;
                assert!(timeouts < 1_000_000, "the stops never came ({events} seen)");
            }
            Stop::SyscallEntry { tid, .. }
            | Stop::SyscallExit { tid, .. }
            | Stop::Exec { tid, .. }
            | Stop::Signal { tid, .. }
            | Stop::Exiting { tid, .. } => {
                events += 1;
                t.resume(tid, Action::Continue)
            }
            Stop::NewTask { parent, .. } => t.resume(parent, Action::Continue),
            Stop::Exited { tid, exit, .. } if tid == pid => root_exit = Some(exit),
            Stop::Exited { .. } => {}
            e => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(root_exit, Some(Exit::Code(4)));
    assert!(events > 0);
}
