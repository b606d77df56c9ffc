//! The torture suite: tracees that misbehave, and bop itself under faults. Each test runs a
//! hostile program from `tests/torture/progs` (compiled with gcc) under `bop run` and checks
//! that bop finishes, that the trace is complete and right, and that no process is left
//! behind. docs/reliability.md lists the scenarios, the load each reaches, and the result.

#[path = "../../crates/bop/tests/common/mod.rs"]
mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use bop_trace::{Event, Trace};
use common::*;

/// Compiles `tests/torture/progs/NAME.c` into the sandbox.
fn prog(sb: &Sandbox, name: &str) -> PathBuf {
    compile_c(
        sb,
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/torture/progs"),
        name,
    )
}

/// `bop run --trace T -q -- ARGV` in the sandbox.
fn run_argv(sb: &Sandbox, label: &str, argv: &[&str]) -> BopRun {
    let trace = sb.join(&format!("{label}.jsonl"));
    let mut args = vec![
        "run".to_string(),
        "--trace".into(),
        trace.display().to_string(),
        "-q".into(),
        "--".into(),
    ];
    args.extend(argv.iter().map(|a| a.to_string()));
    sb.bop(label, &args, Some(trace))
}

fn syscalls<'a>(t: &'a Trace, op: &'a str) -> impl Iterator<Item = &'a Event> + 'a {
    t.events
        .iter()
        .filter(move |e| e.kind == "syscall" && e.op.as_deref() == Some(op))
}

fn ok_calls(t: &Trace, op: &str) -> usize {
    syscalls(t, op).filter(|e| e.errno.is_none()).count()
}

fn with_errno(t: &Trace, errno: &str) -> usize {
    t.events
        .iter()
        .filter(|e| e.errno.as_deref() == Some(errno))
        .count()
}

fn signals(t: &Trace, sig: &str) -> usize {
    t.events
        .iter()
        .filter(|e| e.kind == "signal" && e.signal.as_deref() == Some(sig))
        .count()
}

fn all_pids(t: &Trace) -> BTreeSet<i32> {
    t.events.iter().map(|e| e.pid).collect()
}

/// Asserts that none of the run's processes is left.
fn assert_none_left(t: &Trace, diag: &str) {
    let alive = wait_gone(&all_pids(t), Duration::from_secs(3));
    assert!(alive.is_empty(), "processes left behind: {alive:?}\n{diag}");
}

// ---------------------------------------------------------------------------------------------
// Thread and process churn
// ---------------------------------------------------------------------------------------------

#[test]
fn two_thousand_threads_fifty_at_a_time_each_sending_a_datagram() {
    let sb = Sandbox::new();
    let bin = prog(&sb, "churn_threads");
    let run = run_argv(&sb, "churn", &[bin.to_str().expect("utf-8")]);
    let t = run.trace();
    let diag = run.diag();
    assert_pass_all_zero(&run, &t);
    assert_complete(&t, &diag);
    // the leader, the receiver and 2,000 senders, each announced and ended
    assert_eq!(tids_of(&t, "churn_threads").len(), 2002, "{diag}");
    assert_eq!(t.events.iter().filter(|e| e.kind == "thread").count(), 2001);
    // every datagram is a send, and a receive that names that send
    assert_eq!(ok_calls(&t, "send"), 2000, "{diag}");
    let sends: BTreeSet<u64> = syscalls(&t, "send").filter_map(|e| e.id).collect();
    let matched: BTreeSet<u64> = syscalls(&t, "recv")
        .flat_map(|e| e.from.iter().flatten())
        .filter(|ed| ed.kind == "msg")
        .map(|ed| ed.id)
        .collect();
    assert_eq!(matched, sends, "every send is matched to its receive");
    assert_none_left(&t, &diag);
}

#[test]
fn two_hundred_forked_children_each_connecting_back() {
    let sb = Sandbox::new();
    let bin = prog(&sb, "fork_children");
    let run = run_argv(&sb, "forks", &[bin.to_str().expect("utf-8")]);
    let t = run.trace();
    let diag = run.diag();
    assert_pass_all_zero(&run, &t);
    assert_complete(&t, &diag);
    assert_eq!(pids_of(&t, "fork_children").len(), 201, "{diag}");
    assert_eq!(t.events.iter().filter(|e| e.kind == "fork").count(), 200);
    assert_eq!(ok_calls(&t, "connect"), 200, "{diag}");
    assert_eq!(ok_calls(&t, "accept"), 200, "{diag}");
    // each child's 4 bytes reach the parent, matched to that child's send
    let parent = t
        .events
        .iter()
        .find(|e| e.kind == "spawn")
        .map(|e| e.pid)
        .expect("the spawn");
    let senders: std::collections::HashMap<u64, i32> = syscalls(&t, "send")
        .filter_map(|e| Some((e.id?, e.pid)))
        .collect();
    let mut from: BTreeSet<i32> = BTreeSet::new();
    for r in syscalls(&t, "recv").filter(|e| e.pid == parent && e.bytes == Some(4)) {
        let ed = r.from.iter().flatten().find(|ed| ed.kind == "msg");
        let pid = ed.and_then(|ed| senders.get(&ed.id)).copied();
        assert!(pid.is_some_and(|p| p != parent), "{r:?}\n{diag}");
        from.extend(pid);
    }
    assert_eq!(from.len(), 200, "one message from each child\n{diag}");
    assert_none_left(&t, &diag);
}

#[test]
fn ten_thousand_connections_opened_and_closed_by_one_node() {
    let sb = Sandbox::new();
    let bin = prog(&sb, "many_conns");
    let port = free_port();
    let b = bin.display();
    let run = sb.run_cluster(
        "conns",
        &format!(
            "[[node]]\nname = \"server\"\ncmd = \"{b} server {port} 10000\"\nready = \"tcp:127.0.0.1:{port}\"\n\n\
             [[node]]\nname = \"client\"\ncmd = \"{b} client {port} 10000\"\n\n[run]\ntimeout = \"25s\"\n"
        ),
    );
    let t = run.trace();
    let diag = run.diag();
    assert_pass_all_zero(&run, &t);
    assert_complete(&t, &diag);
    let connects = events_of(&t, "client")
        .filter(|e| e.op.as_deref() == Some("connect") && e.errno.is_none())
        .count();
    assert_eq!(connects, 10_000, "{diag}");
    // the server also accepted bop's readiness probe
    let accepts = events_of(&t, "server")
        .filter(|e| e.op.as_deref() == Some("accept") && e.errno.is_none())
        .count();
    assert!((10_000..=10_010).contains(&accepts), "{accepts}\n{diag}");
    assert_eq!(
        node_outcome(&run.footer(), "client").bytes_sent,
        10_000,
        "{diag}"
    );
}

// ---------------------------------------------------------------------------------------------
// exec
// ---------------------------------------------------------------------------------------------

#[test]
fn exec_from_a_thread_while_two_others_block() {
    let sb = Sandbox::new();
    let bin = prog(&sb, "exec_from_thread");
    let run = run_argv(
        &sb,
        "exec",
        &[bin.to_str().expect("utf-8"), "/bin/echo", "hi"],
    );
    let t = run.trace();
    let diag = run.diag();
    assert_pass_all_zero(&run, &t);
    let exec = t
        .events
        .iter()
        .find(|e| e.kind == "exec")
        .unwrap_or_else(|| panic!("no exec event\n{diag}"));
    // the exec'ing thread was not the leader: it took the leader's tid
    assert_eq!(exec.tid, exec.pid, "{diag}");
    assert!(
        exec.other.is_some_and(|tid| tid != exec.pid),
        "the former tid: {exec:?}"
    );
    assert_eq!(
        exec.argv.as_deref(),
        Some(&["/bin/echo".to_string(), "hi".to_string()][..])
    );
    assert!(
        std::fs::read_to_string(sb.join("exec.exec_from_thread.stdout"))
            .unwrap_or_default()
            .contains("hi"),
        "{diag}"
    );
    assert_none_left(&t, &diag);
}

#[test]
fn exec_of_a_missing_binary_from_a_thread_fails_and_the_program_goes_on() {
    let sb = Sandbox::new();
    let bin = prog(&sb, "exec_from_thread");
    let run = run_argv(
        &sb,
        "noexec",
        &[bin.to_str().expect("utf-8"), "/nonexistent/prog"],
    );
    let t = run.trace();
    let diag = run.diag();
    run.expect_code(1);
    assert_eq!(t.footer.as_ref().map(|f| f.verdict.as_str()), Some("fail"));
    assert_eq!(
        node_outcome(&run.footer(), "exec_from_thread").exit,
        Some(7)
    );
    assert!(!t.events.iter().any(|e| e.kind == "exec"), "{diag}");
    assert_complete(&t, &diag);
    assert_none_left(&t, &diag);
}

// ---------------------------------------------------------------------------------------------
// Signals
// ---------------------------------------------------------------------------------------------

#[test]
fn a_node_stopped_and_continued_by_another_process() {
    let sb = Sandbox::new();
    let bin = prog(&sb, "stop_me");
    let stopper = r#"sh -c 'f=\"$BOP_RUN_DIR/stop_me.pid\"; while [ ! -s \"$f\" ]; do sleep 0.05; done; p=$(cat \"$f\"); sleep 0.2; kill -STOP $p; sleep 0.6; kill -CONT $p'"#;
    let run = sb.run_cluster(
        "stop",
        &format!(
            "[[node]]\nname = \"worker\"\ncmd = \"{}\"\n\n[[node]]\nname = \"stopper\"\ncmd = \"{stopper}\"\n\n[run]\ntimeout = \"20s\"\n",
            bin.display()
        ),
    );
    let t = run.trace();
    let diag = run.diag();
    // the worker exits 0 only if it saw a gap of 300 ms or more: it was really stopped, and
    // went on after SIGCONT
    assert_pass_all_zero(&run, &t);
    assert_complete(&t, &diag);
    let of_worker = |sig: &str| {
        events_of(&t, "worker")
            .filter(|e| e.kind == "signal" && e.signal.as_deref() == Some(sig))
            .count()
    };
    assert_eq!(of_worker("SIGSTOP"), 1, "{diag}");
    assert_eq!(of_worker("SIGCONT"), 1, "{diag}");
}

#[test]
fn a_daemon_with_a_sigterm_handler_exits_cleanly_when_bop_stops_it() {
    let sb = Sandbox::new();
    let bin = prog(&sb, "term_handler");
    let port = free_udp_port();
    let b = bin.display();
    let run = sb.run_cluster(
        "term",
        &format!(
            "[[node]]\nname = \"daemon\"\ncmd = \"{b} {port}\"\ndaemon = true\n\n\
             [[node]]\nname = \"client\"\ncmd = \"{b} {port} 5\"\n\n[run]\ntimeout = \"20s\"\n"
        ),
    );
    let t = run.trace();
    let diag = run.diag();
    run.expect_code(0);
    let f = run.footer();
    let d = node_outcome(&f, "daemon");
    assert!(d.stopped_by_bop, "{diag}");
    assert_eq!(d.exit, Some(0), "its handler ran and it exited 0\n{diag}");
    assert_eq!(
        events_of(&t, "daemon")
            .filter(|e| e.kind == "signal" && e.signal.as_deref() == Some("SIGTERM"))
            .count(),
        1,
        "{diag}"
    );
    // the signal interrupted the daemon's blocking receive
    assert!(
        events_of(&t, "daemon")
            .any(|e| e.op.as_deref() == Some("recv") && e.errno.as_deref() == Some("ERESTARTSYS")),
        "{diag}"
    );
    let out = std::fs::read_to_string(sb.join("term.daemon.stdout")).unwrap_or_default();
    assert!(out.contains("SIGTERM after 5 datagrams"), "{out}\n{diag}");
    assert_complete(&t, &diag);
}

#[test]
fn a_process_that_kills_itself_in_the_middle_of_a_blocking_recv() {
    let sb = Sandbox::new();
    let bin = prog(&sb, "self_kill");
    let started = Instant::now();
    let run = run_argv(&sb, "selfkill", &[bin.to_str().expect("utf-8")]);
    let t = run.trace();
    let diag = run.diag();
    assert!(started.elapsed() < Duration::from_secs(10), "{diag}");
    run.expect_code(1);
    let f = run.footer();
    assert_eq!(f.verdict, "fail");
    assert_eq!(
        node_outcome(&f, "self_kill").signal.as_deref(),
        Some("SIGKILL"),
        "{diag}"
    );
    // both threads end, the blocked one included
    assert_complete(&t, &diag);
    assert_eq!(
        t.events.iter().filter(|e| e.kind == "exit").count(),
        2,
        "{diag}"
    );
    assert_none_left(&t, &diag);
}

#[test]
fn sigpipe_on_a_reset_connection() {
    let sb = Sandbox::new();
    let bin = prog(&sb, "sigpipe");
    let b = bin.to_str().expect("utf-8");
    // the default action: SIGPIPE kills it, right after the write that failed with EPIPE
    let run = run_argv(&sb, "pipe", &[b]);
    let t = run.trace();
    let diag = run.diag();
    run.expect_code(1);
    assert_eq!(
        node_outcome(&run.footer(), "sigpipe").signal.as_deref(),
        Some("SIGPIPE"),
        "{diag}"
    );
    assert_eq!(signals(&t, "SIGPIPE"), 1, "{diag}");
    assert_eq!(with_errno(&t, "ECONNRESET"), 1, "the first write: {diag}");
    assert_eq!(with_errno(&t, "EPIPE"), 1, "the second: {diag}");
    assert_complete(&t, &diag);
    // ignored: the write fails with EPIPE and the program goes on
    let run = run_argv(&sb, "ignored", &[b, "ignore"]);
    let t = run.trace();
    assert_pass_all_zero(&run, &t);
    assert_eq!(with_errno(&t, "EPIPE"), 1, "{}", run.diag());
}

#[test]
fn a_call_interrupted_by_a_signal_and_one_the_kernel_restarts() {
    let sb = Sandbox::new();
    let bin = prog(&sb, "eintr");
    let run = run_argv(&sb, "eintr", &[bin.to_str().expect("utf-8")]);
    let t = run.trace();
    let diag = run.diag();
    // the program checks both results itself
    assert_pass_all_zero(&run, &t);
    assert_complete(&t, &diag);
    assert_eq!(signals(&t, "SIGALRM"), 2, "{diag}");
    // both receives were interrupted; bop records them as the kernel reports them at that
    // moment (the first became EINTR, the second was restarted: the handler decides after)
    let recvs: Vec<&Event> = syscalls(&t, "recv").collect();
    assert_eq!(
        recvs
            .iter()
            .filter(|e| e.errno.as_deref() == Some("ERESTARTSYS"))
            .count(),
        2,
        "{diag}"
    );
    // the restarted receive is one call that returns the datagram, matched to its send
    let got: Vec<&&Event> = recvs.iter().filter(|e| e.bytes == Some(1)).collect();
    assert_eq!(got.len(), 1, "{diag}");
    assert!(got[0].from.as_ref().is_some_and(|f| f.len() == 1), "{diag}");
}

/// Untraced, a signal the process ignores (SIGCHLD) is discarded when it is sent; under ptrace
/// the kernel queues it for the tracer, and a `recv` with SO_RCVTIMEO or an `epoll_wait`
/// returned EINTR (2 runs in 3 before bop ran such calls again). Three runs, all clean.
#[test]
fn a_signal_the_process_ignores_interrupts_nothing() {
    let sb = Sandbox::new();
    let bin = prog(&sb, "ignored_signal");
    for i in 0..3 {
        let run = run_argv(&sb, &format!("ignored{i}"), &[bin.to_str().expect("utf-8")]);
        let t = run.trace();
        let diag = run.diag();
        assert_pass_all_zero(&run, &t);
        assert!(signals(&t, "SIGCHLD") >= 2, "{diag}");
        assert_eq!(with_errno(&t, "EINTR"), 0, "{diag}");
        assert_complete(&t, &diag);
    }
}

// ---------------------------------------------------------------------------------------------
// Bad buffers
// ---------------------------------------------------------------------------------------------

#[test]
fn null_unmapped_and_short_buffers_to_every_traced_call() {
    let sb = Sandbox::new();
    let bin = prog(&sb, "bad_buffers");
    let run = run_argv(&sb, "bad", &[bin.to_str().expect("utf-8")]);
    let t = run.trace();
    let diag = run.diag();
    assert_pass_all_zero(&run, &t);
    assert_complete(&t, &diag);
    // the kernel's answers are in the trace, and the exchange after them is matched
    assert!(with_errno(&t, "EFAULT") >= 20, "{diag}");
    let ok = syscalls(&t, "recv")
        .filter(|e| e.bytes == Some(2) && e.from.is_some())
        .count();
    assert_eq!(ok, 1, "{diag}");
}

// ---------------------------------------------------------------------------------------------
// bop itself under faults
// ---------------------------------------------------------------------------------------------

/// Starts `bop run` on a node that runs `thread_churn` (threads created and joined for ever)
/// and a shell with sleeping children, and waits until the churn is well under way.
fn start_churn(sb: &Sandbox, label: &str) -> (std::process::Child, PathBuf, PathBuf, PathBuf) {
    let churn = compile_prog(sb, "thread_churn");
    let cluster = sb.write(
        &format!("{label}.toml"),
        &format!(
            "[[node]]\nname = \"churn\"\ncmd = \"{}\"\n\n[[node]]\nname = \"sleepers\"\ncmd = \"sh -c 'sleep 1000 & sleep 1000; wait'\"\n\n[run]\ntimeout = \"60s\"\ngrace = \"2s\"\n",
            churn.display()
        ),
    );
    let trace = sb.join(&format!("{label}.jsonl"));
    let mut cmd = Command::new(bop_exe());
    cmd.arg("run")
        .arg(&cluster)
        .arg("--trace")
        .arg(&trace)
        .arg("-q");
    let (child, out, err) = sb.spawn_command(label, &mut cmd);
    let up = wait_trace(&trace, Duration::from_secs(15), |t| {
        tids_of(t, "churn").len() > 200 && pids_of(t, "sleepers").len() >= 3
    });
    assert!(up.is_some(), "the churn did not get going");
    (child, out, err, trace)
}

/// Every process whose command line names this sandbox, and its state letter.
fn sandbox_processes(sb: &Sandbox) -> Vec<(i32, char)> {
    let dir = sb.path().to_string_lossy().into_owned();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        if !String::from_utf8_lossy(&cmdline).contains(&dir) {
            continue;
        }
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        let state = stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.chars().next())
            .unwrap_or('?');
        out.push((pid, state));
    }
    out
}

#[test]
fn kill_9_of_bop_in_the_middle_of_thread_churn_leaves_no_process_behind() {
    let sb = Sandbox::new();
    let (child, out, err, trace) = start_churn(&sb, "kill9");
    let bop_pid = child.id() as i32;
    // SAFETY: signalling the bop we started.
    unsafe { libc::kill(bop_pid, libc::SIGKILL) };
    let status = wait_limit(child, Duration::from_secs(10), "kill9");
    let run = BopRun::collect(status, &out, &err, Some(trace.clone()));
    let diag = run.diag();
    // no process of the run is left: not running, not stopped, not a zombie of bop's
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut left = sandbox_processes(&sb);
    while !left.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        left = sandbox_processes(&sb);
    }
    assert!(
        left.is_empty(),
        "left behind (pid, state): {left:?}\n{diag}"
    );
    let t = bop_trace::read_file(&trace).expect("readable up to the last flushed event");
    assert!(t.footer.is_none());
    assert!(tids_of(&t, "churn").len() > 200, "{diag}");
    assert_none_left(&t, &diag);
    // bop stats reads it and says it is cut short
    bop_quick(&["stats".as_ref(), trace.as_os_str()], 0);
}

#[test]
fn sigterm_to_bop_stops_the_run_cleanly_in_the_middle_of_thread_churn() {
    let sb = Sandbox::new();
    let (child, out, err, trace) = start_churn(&sb, "term");
    let bop_pid = child.id() as i32;
    // SAFETY: signalling the bop we started.
    unsafe { libc::kill(bop_pid, libc::SIGTERM) };
    let started = Instant::now();
    let status = wait_limit(child, Duration::from_secs(15), "term");
    let run = BopRun::collect(status, &out, &err, Some(trace));
    let diag = run.diag();
    assert!(started.elapsed() < Duration::from_secs(8), "{diag}");
    // documented: 130 for a run stopped by SIGINT, SIGTERM or SIGHUP
    let t = assert_interrupted_by(&run, "SIGTERM");
    assert_none_left(&t, &diag);
    assert!(sandbox_processes(&sb).is_empty(), "{diag}");
}

#[test]
fn a_trace_cut_at_any_byte_is_read_up_to_its_last_whole_record() {
    let sb = Sandbox::new();
    let bin = prog(&sb, "eintr");
    let run = run_argv(&sb, "whole", &[bin.to_str().expect("utf-8")]);
    let path = run.trace_path.clone().expect("trace");
    let bytes = std::fs::read(&path).expect("the trace");
    let whole = run.trace();
    let cut = sb.join("cut.jsonl");
    for n in 0..bytes.len() {
        std::fs::write(&cut, &bytes[..n]).expect("write the cut trace");
        let t = bop_trace::read_file(&cut);
        if n == 0 {
            // nothing at all: an error or an empty trace, not a panic
            assert!(t.as_ref().map_or(true, |t| t.events.is_empty()), "{t:?}");
            continue;
        }
        let t = t.unwrap_or_else(|e| panic!("cut at {n} of {}: {e}", bytes.len()));
        // the records read are the whole ones before the cut, in order: every line, and the
        // last one when the cut left it whole but for its newline
        let last_nl = bytes[..n].iter().rposition(|&b| b == b'\n');
        let partial = &bytes[last_nl.map_or(0, |i| i + 1)..n];
        let partial_whole =
            !partial.is_empty() && serde_json::from_slice::<serde_json::Value>(partial).is_ok();
        let records = bytes[..n].iter().filter(|&&b| b == b'\n').count() + partial_whole as usize;
        let expect_events = records.saturating_sub(1).min(whole.events.len());
        assert_eq!(t.events.len(), expect_events, "cut at {n}");
        assert_eq!(t.events[..], whole.events[..expect_events], "cut at {n}");
        assert_eq!(
            t.truncated,
            !partial.is_empty() && !partial_whole,
            "cut at {n}"
        );
        // bop stats reads every 50th cut, and says when it is truncated
        if n % 50 == 0 {
            let said = bop_quick(&["stats".as_ref(), cut.as_os_str()], 0);
            if t.truncated {
                assert!(said.contains("truncated"), "cut at {n}: {said}");
            }
        }
    }
}

/// A small tmpfs at `dir` (root only), unmounted when dropped.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(dir: PathBuf, size: &str) -> Option<SmallDisk> {
        std::fs::create_dir_all(&dir).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(SmallDisk(dir))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// `bop run --trace DISK/t.jsonl -q -- ARGV` with the trace on a 64 KiB tmpfs of which `fill`
/// bytes are taken already; `None` where no tmpfs can be mounted (it needs root).
fn run_on_a_small_disk(
    sb: &Sandbox,
    label: &str,
    fill: usize,
    argv: &[String],
) -> Option<(BopRun, PathBuf, SmallDisk)> {
    let disk = SmallDisk::mount(sb.join("small"), "64k")?;
    if fill > 0 {
        std::fs::write(disk.0.join("filler"), vec![0u8; fill]).expect("fill the small disk");
    }
    let trace = disk.0.join("t.jsonl");
    let mut args = vec![
        "run".to_string(),
        "--trace".into(),
        trace.display().to_string(),
        "-q".into(),
        "--".into(),
    ];
    args.extend(argv.iter().cloned());
    let run = sb.bop(label, &args, Some(trace.clone()));
    Some((run, trace, disk))
}

#[test]
fn a_disk_that_fills_between_writes_stops_the_run_at_the_next_timed_flush() {
    // A node that sends slowly never fills the trace's buffer: the disk's refusal is met by
    // the timed flush (every 50 ms), not by a write, and must stop the run just the same.
    let sb = Sandbox::new();
    let bin = prog(&sb, "trickle");
    let marker = sb.join("trickle-finished");
    let argv = [
        bin.display().to_string(),
        "200".into(),
        marker.display().to_string(),
    ];
    // leave two pages (8 KiB) free: room for the header and a few dozen events
    let Some((run, trace, _disk)) = run_on_a_small_disk(&sb, "trickle", 56 * 1024, &argv) else {
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    };
    let diag = run.diag();
    assert_eq!(run.code(), Some(2), "a lost trace fails the run\n{diag}");
    assert!(run.stderr.contains("No space left on device"), "{diag}");
    assert!(
        !marker.exists(),
        "bop stopped the node when the trace was lost; it did not run its 4 s to the end\n{diag}"
    );
    let t = bop_trace::read_file(&trace).expect("the part written is readable");
    assert!(t.header.is_some(), "{diag}");
    assert!(sandbox_processes(&sb).is_empty(), "{diag}");
}

#[test]
fn a_full_disk_stops_the_run_with_a_clear_error() {
    let sb = Sandbox::new();
    let bin = prog(&sb, "churn_threads");
    let Some((run, trace, _disk)) =
        run_on_a_small_disk(&sb, "full", 0, &[bin.display().to_string()])
    else {
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    };
    let diag = run.diag();
    assert_ne!(run.code(), Some(0), "{diag}");
    assert!(
        run.stderr.contains("No space left on device"),
        "the error names the cause\n{diag}"
    );
    assert!(run.stderr.contains(&trace.display().to_string()), "{diag}");
    // what was written is readable, and the node did not outlive the run
    let t = bop_trace::read_file(&trace).expect("the part written is readable");
    assert!(t.header.is_some(), "{diag}");
    assert_none_left(&t, &diag);
    assert!(sandbox_processes(&sb).is_empty(), "{diag}");
}
