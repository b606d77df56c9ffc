//! Integration tests of `bop run`: real multi-process systems (our testbeds, a C program, a
//! Python program, a shell pipeline) run under the tracer, and what their traces, verdicts,
//! exit codes and messages must show.
//!
//! Every test uses its own temp directory and kernel-chosen ports, so they run in parallel.

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use bop_syscalls::SockAddr;
use bop_trace::{Event, Footer, Trace};
use common::*;

fn inet(s: &str) -> SockAddr {
    SockAddr::Inet(s.parse::<SocketAddr>().expect("socket address"))
}

fn syscalls<'a>(t: &'a Trace, node: &str, name: &str) -> Vec<&'a Event> {
    t.events
        .iter()
        .filter(|e| e.node == node && e.kind == "syscall" && e.syscall.as_deref() == Some(name))
        .collect()
}

fn sum_bytes(events: &[&Event]) -> u64 {
    events.iter().map(|e| e.bytes.unwrap_or(0)).sum()
}

/// The checks every passing testbed run must satisfy.
fn assert_passing_run(run: &BopRun) -> Trace {
    let t = run.trace();
    assert_pass_all_zero(run, &t);
    assert_complete(&t, &run.diag());
    assert_stats_match_footer(run);
    t
}

// ---------------------------------------------------------------------------------------------
// 1. The testbeds
// ---------------------------------------------------------------------------------------------

#[test]
fn testbed_echo_ipv4_is_traced_completely() {
    let sb = Sandbox::new();
    let port = free_port();
    let echo = tb("tb-echo");
    let run = sb.run_cluster(
        "echo",
        &format!(
            r#"
[[node]]
name = "server"
cmd = "'{echo}' server {port} 2"
ready = "tcp:127.0.0.1:{port}"

[[node]]
name = "client1"
cmd = "'{echo}' client {port} 1 5"

[[node]]
name = "client2"
cmd = "'{echo}' client {port} 2 5"

[run]
timeout = "20s"
"#
        ),
    );
    let t = assert_passing_run(&run);
    let diag = run.diag();
    assert_eq!(
        assert_inet_streams(&t, "inet", &diag),
        2,
        "two clients, two connections"
    );
    // every connection goes to the server's address, from each client node once
    let s = streams(&t, "inet");
    let server = inet(&format!("127.0.0.1:{port}"));
    assert!(s
        .accepts
        .iter()
        .all(|a| a.node == "server" && a.local == Some(server.clone())));
    let clients: BTreeSet<&str> = s.connects.iter().map(|c| &*c.node).collect();
    assert_eq!(clients, BTreeSet::from(["client1", "client2"]));
    for n in ["server", "client1", "client2"] {
        assert_eq!(pids_of(&t, n).len(), 1, "{n} is one process");
    }
    // the server echoes everything: it sent what the clients sent, and received it
    let f = run.footer();
    let (c1, c2, srv) = (
        node_outcome(&f, "client1"),
        node_outcome(&f, "client2"),
        node_outcome(&f, "server"),
    );
    assert!(c1.bytes_sent > 0 && c1.bytes_sent == c1.bytes_received);
    assert_eq!(srv.bytes_received, c1.bytes_sent + c2.bytes_sent);
    assert_eq!(srv.bytes_sent, c1.bytes_received + c2.bytes_received);
}

#[test]
fn testbed_echo_ipv6_is_traced_completely() {
    let sb = Sandbox::new();
    let port = free_port6();
    let echo = tb("tb-echo");
    let run = sb.run_cluster(
        "echo6",
        &format!(
            r#"
[[node]]
name = "server"
cmd = "'{echo}' server6 {port} 2"
ready = "tcp:[::1]:{port}"

[[node]]
name = "client1"
cmd = "'{echo}' client6 {port} 1 5"

[[node]]
name = "client2"
cmd = "'{echo}' client6 {port} 2 5"

[run]
timeout = "20s"
"#
        ),
    );
    let t = assert_passing_run(&run);
    let diag = run.diag();
    assert_eq!(assert_inet_streams(&t, "inet6", &diag), 2);
    let s = streams(&t, "inet6");
    let server = inet(&format!("[::1]:{port}"));
    assert!(
        s.accepts.iter().all(|a| a.local == Some(server.clone())),
        "accepts on [::1]:{port}: {:?}",
        s.accepts
    );
    assert!(
        streams(&t, "inet").connects.is_empty(),
        "no IPv4 traffic expected"
    );
}

#[test]
fn testbed_udp_every_datagram_is_received() {
    let sb = Sandbox::new();
    let port = free_udp_port();
    let udp = tb("tb-udp");
    let run = sb.run_cluster(
        "udp",
        &format!(
            r#"
[[node]]
name = "server"
cmd = "'{udp}' server {port} 12"

[[node]]
name = "client1"
cmd = "'{udp}' client {port} 6"
delay = "500ms"

[[node]]
name = "client2"
cmd = "'{udp}' client {port} 6"

[run]
timeout = "20s"
"#
        ),
    );
    let t = assert_passing_run(&run);
    let diag = run.diag();
    let server = inet(&format!("127.0.0.1:{port}"));
    // each client uses two sockets (connected and unconnected)
    assert_eq!(assert_datagrams_to(&t, "inet", &server, &diag), 4);
    let d = datagrams(&t, "inet");
    let requests: u64 = d
        .received
        .iter()
        .filter(|((_, dst), _)| *dst == server)
        .map(|(_, (n, _))| n)
        .sum();
    assert!(
        requests >= 12,
        "the server received {requests} requests, expected at least 12"
    );
    // both flavours are visible: send with an address (unconnected) and without (connected)
    for n in ["client1", "client2"] {
        let sends: Vec<&Event> = events_of(&t, n)
            .filter(|e| e.op.as_deref() == Some("send"))
            .collect();
        assert!(
            sends.iter().any(|e| e.addr == Some(server.clone())),
            "{n}: send_to"
        );
        assert!(
            sends.iter().any(|e| e.addr.is_none()
                && e.sock.as_ref().and_then(|s| s.peer.clone()) == Some(server.clone())),
            "{n}: connected send"
        );
    }
}

#[test]
fn testbed_unix_streams_and_datagrams_are_matched() {
    let sb = Sandbox::new();
    let path = sb.join("u.sock");
    let path = path.display();
    let unix = tb("tb-unix");
    let run = sb.run_cluster(
        "unix",
        &format!(
            r#"
[[node]]
name = "server"
cmd = "'{unix}' server '{path}' 2"
ready = "unix:{path}"

[[node]]
name = "client1"
cmd = "'{unix}' client '{path}' 4"

[[node]]
name = "client2"
cmd = "'{unix}' client '{path}' 4"

[run]
timeout = "20s"
"#
        ),
    );
    let t = assert_passing_run(&run);
    let diag = run.diag();
    assert_eq!(assert_unix_streams(&t, &diag), 2);
    let s = streams(&t, "unix");
    let listen = SockAddr::Unix(path.to_string());
    assert!(
        s.connects.iter().all(|c| c.peer == Some(listen.clone())),
        "{:?}",
        s.connects
    );
    assert!(s
        .accepts
        .iter()
        .all(|a| a.node == "server" && a.local == Some(listen.clone())));
    let dgram = SockAddr::Unix(format!("{path}.dgram"));
    assert_eq!(
        assert_datagrams_to(&t, "unix", &dgram, &diag),
        2,
        "one datagram socket per client"
    );
}

#[test]
fn testbed_threaded_every_thread_is_seen() {
    let sb = Sandbox::new();
    let port = free_port();
    let th = tb("tb-threaded");
    let run = sb.run_cluster(
        "threaded",
        &format!(
            r#"
[[node]]
name = "server"
cmd = "'{th}' server {port} 8"
ready = "tcp:127.0.0.1:{port}"

[[node]]
name = "client1"
cmd = "'{th}' client {port} 5"

[[node]]
name = "client2"
cmd = "'{th}' client {port} 5"

[run]
timeout = "20s"
"#
        ),
    );
    let t = assert_passing_run(&run);
    let diag = run.diag();
    assert_eq!(assert_inet_streams(&t, "inet", &diag), 8);
    let f = run.footer();
    for n in ["client1", "client2"] {
        let pids = pids_of(&t, n);
        assert_eq!(pids.len(), 1, "{n} is one process");
        let tids = tids_of(&t, n);
        assert_eq!(
            tids.len(),
            5,
            "{n}: main thread + 4 connection threads: {tids:?}"
        );
        assert_eq!(node_outcome(&f, n).threads, 5);
        // each of the 4 worker threads opened its own connection
        let main = *pids.iter().next().expect("pid");
        let connecting: BTreeSet<i32> = streams(&t, "inet")
            .connects
            .iter()
            .filter(|c| c.node == n)
            .map(|c| {
                events_of(&t, n)
                    .find(|e| {
                        e.op.as_deref() == Some("connect")
                            && e.sock.as_ref().map(|s| s.id) == Some(c.id)
                    })
                    .expect("connect event")
                    .tid
            })
            .collect();
        let workers: BTreeSet<i32> = tids.iter().copied().filter(|&x| x != main).collect();
        assert_eq!(connecting, workers, "{n}: the connecting threads");
        // each worker thread was announced by a thread event of the main thread
        let announced: BTreeSet<i32> = events_of(&t, n)
            .filter(|e| e.kind == "thread")
            .filter_map(|e| e.other)
            .collect();
        assert_eq!(announced, workers, "{n}: thread events");
    }
    assert_eq!(pids_of(&t, "server").len(), 1);
    assert_eq!(
        tids_of(&t, "server").len(),
        9,
        "server: main + one thread per connection"
    );
}

#[test]
fn testbed_forking_every_child_process_is_seen() {
    let sb = Sandbox::new();
    let port = free_port();
    let fk = tb("tb-forking");
    let clients = 3;
    let run = sb.run_cluster(
        "forking",
        &format!(
            r#"
[[node]]
name = "server"
cmd = "'{fk}' server {port} {clients}"
ready = "tcp:127.0.0.1:{port}"

[[node]]
name = "client1"
cmd = "'{fk}' client {port} 1 5"

[[node]]
name = "client2"
cmd = "'{fk}' client {port} 2 5"

[[node]]
name = "client3"
cmd = "'{fk}' client {port} 3 5"

[run]
timeout = "20s"
"#
        ),
    );
    let t = assert_passing_run(&run);
    let diag = run.diag();
    assert_eq!(assert_inet_streams(&t, "inet", &diag), clients);
    let pids = pids_of(&t, "server");
    assert_eq!(
        pids.len(),
        1 + clients,
        "server: parent + one child per client: {pids:?}"
    );
    let f = run.footer();
    assert_eq!(node_outcome(&f, "server").pids.len(), 1 + clients);
    let root = events_of(&t, "server")
        .find(|e| e.kind == "spawn")
        .expect("spawn")
        .pid;
    let forked: BTreeSet<i32> = events_of(&t, "server")
        .filter(|e| e.kind == "fork")
        .filter_map(|e| e.other)
        .collect();
    let children: BTreeSet<i32> = pids.iter().copied().filter(|&p| p != root).collect();
    assert_eq!(forked, children, "fork events name every child process");
    // each child serves exactly the connection its parent accepted just before forking it
    let accepted: BTreeSet<u64> = streams(&t, "inet").accepts.iter().map(|a| a.id).collect();
    for child in &children {
        let socks: BTreeSet<u64> = events_of(&t, "server")
            .filter(|e| e.pid == *child && matches!(e.op.as_deref(), Some("send") | Some("recv")))
            .filter_map(|e| e.sock.as_ref().map(|s| s.id))
            .collect();
        assert_eq!(
            socks.len(),
            1,
            "child {child} talks on one connection: {socks:?}"
        );
        assert!(
            accepted.is_superset(&socks),
            "child {child} uses an accepted socket"
        );
        // the parent's wait reaped it
        assert!(
            events_of(&t, "server").any(|e| e.pid == root
                && e.op.as_deref() == Some("wait")
                && e.other == Some(*child)),
            "no wait event reaping child {child}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 2. A C program: accept(l, NULL, NULL), a thread with readv/writev, a forked child
// ---------------------------------------------------------------------------------------------

#[test]
fn c_accept_null_thread_and_forked_child() {
    let sb = Sandbox::new();
    let bin = compile_prog(&sb, "accept_null");
    let port = free_port();
    let bin = bin.display();
    let run = sb.run_cluster(
        "accept_null",
        &format!(
            r#"
[[node]]
name = "server"
cmd = "'{bin}' {port}"
ready = "tcp:127.0.0.1:{port}"

[[node]]
name = "client"
cmd = "'{bin}' client {port}"

[run]
timeout = "10s"
"#
        ),
    );
    let t = assert_passing_run(&run);
    let diag = run.diag();
    // bop's readiness check did not connect: the server saw exactly the client's 2 connections
    assert_eq!(assert_inet_streams(&t, "inet", &diag), 2);

    let pids = pids_of(&t, "server");
    assert_eq!(pids.len(), 2, "server + its forked child: {pids:?}");
    assert!(tids_of(&t, "server").len() >= 2, "the server's thread");
    let root = events_of(&t, "server")
        .find(|e| e.kind == "spawn")
        .expect("spawn")
        .pid;
    let child = events_of(&t, "server")
        .find(|e| e.kind == "fork")
        .and_then(|e| e.other)
        .expect("a fork event");
    assert!(pids.contains(&child) && child != root);

    // accept(l, NULL, NULL): no address argument, but the connection's peer is known
    let accepts: Vec<&Event> = events_of(&t, "server")
        .filter(|e| e.op.as_deref() == Some("accept"))
        .collect();
    assert_eq!(accepts.len(), 2, "{accepts:?}");
    let client_ports: BTreeSet<SockAddr> = streams(&t, "inet")
        .connects
        .iter()
        .filter_map(|c| c.local.clone())
        .collect();
    for a in &accepts {
        assert_eq!(a.syscall.as_deref(), Some("accept"));
        assert_eq!(a.addr, None, "accept with NULL addr has no addr: {a:?}");
        let peer = a.sock.as_ref().and_then(|s| s.peer.clone());
        assert!(peer.is_some(), "the accepted socket's peer is known: {a:?}");
        assert!(
            client_ports.contains(&peer.expect("peer")),
            "the peer is a client socket"
        );
    }

    // the thread: readv and writev of 16 bytes, as recv and send
    let readv = syscalls(&t, "server", "readv");
    let writev = syscalls(&t, "server", "writev");
    assert!(
        !readv.is_empty() && !writev.is_empty(),
        "readv/writev traced"
    );
    assert!(readv.iter().all(|e| e.op.as_deref() == Some("recv")));
    assert!(writev.iter().all(|e| e.op.as_deref() == Some("send")));
    assert_eq!(sum_bytes(&readv), 16, "readv bytes: {readv:?}");
    assert_eq!(sum_bytes(&writev), 16, "writev bytes: {writev:?}");
    assert!(
        readv.iter().all(|e| e.tid != root && e.pid == root),
        "readv runs in the thread"
    );
    let first_sock = accepts[0].sock.as_ref().expect("sock").id;
    assert!(readv
        .iter()
        .chain(&writev)
        .all(|e| e.sock.as_ref().map(|s| s.id) == Some(first_sock)));

    // the child: read/write on the inherited descriptor of the second accept
    let second = accepts[1];
    let second_sock = second.sock.as_ref().expect("sock").id;
    let second_fd = second.ret.expect("accept result") as i32;
    let reads: Vec<&Event> = syscalls(&t, "server", "read")
        .into_iter()
        .filter(|e| e.pid == child && e.sock.is_some())
        .collect();
    let writes: Vec<&Event> = syscalls(&t, "server", "write")
        .into_iter()
        .filter(|e| e.pid == child && e.sock.is_some())
        .collect();
    assert!(
        !reads.is_empty() && !writes.is_empty(),
        "the child's read/write are traced"
    );
    for e in reads.iter().chain(&writes) {
        assert_eq!(
            e.sock.as_ref().map(|s| s.id),
            Some(second_sock),
            "same socket: {e:?}"
        );
        assert_eq!(e.fd, Some(second_fd), "the inherited fd: {e:?}");
    }
    assert!(reads.iter().all(|e| e.op.as_deref() == Some("recv")));
    assert!(writes.iter().all(|e| e.op.as_deref() == Some("send")));
    assert_eq!(sum_bytes(&reads), 16);
    assert_eq!(sum_bytes(&writes), 16);
    let f = run.footer();
    assert_eq!(node_outcome(&f, "server").bytes_sent, 32);
    assert_eq!(node_outcome(&f, "server").bytes_received, 32);
}

// ---------------------------------------------------------------------------------------------
// 3. Python: UDP and Unix datagrams
// ---------------------------------------------------------------------------------------------

/// The real python3 interpreter (not a version-manager shim script), or None.
fn python3() -> Option<String> {
    let out = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (!p.is_empty()).then_some(p)
}

#[test]
fn python_udp_and_unix_datagrams() {
    let Some(py) = python3() else {
        eprintln!("SKIPPED python_udp_and_unix_datagrams: python3 is not installed");
        return;
    };
    let sb = Sandbox::new();
    let script = progs_dir().join("pyudp.py");
    let script = script.display();
    let port = free_udp_port();
    let sock = sb.join("py.sock");
    let sock = sock.display();
    let run = sb.run_cluster(
        "pyudp",
        &format!(
            r#"
[[node]]
name = "server"
cmd = "'{py}' '{script}' server {port} '{sock}'"

[[node]]
name = "client"
cmd = "'{py}' '{script}' client {port} '{sock}'"

[run]
timeout = "15s"
"#
        ),
    );
    let t = assert_passing_run(&run);
    let diag = run.diag();
    let server = inet(&format!("127.0.0.1:{port}"));
    assert_eq!(assert_datagrams_to(&t, "inet", &server, &diag), 1);
    let unix_server = SockAddr::Unix(sock.to_string());
    assert_eq!(assert_datagrams_to(&t, "unix", &unix_server, &diag), 1);

    let with_addr = |node: &str, name: &str| {
        syscalls(&t, node, name)
            .into_iter()
            .filter(|e| e.errno.is_none() && e.bytes.unwrap_or(0) > 0)
            .partition::<Vec<&Event>, _>(|e| e.addr.is_some())
    };
    let (to, connected) = with_addr("client", "sendto");
    assert!(!to.is_empty(), "client sendto with an address");
    assert!(
        !connected.is_empty(),
        "client sendto without an address (connected send)"
    );
    let (from, plain) = with_addr("client", "recvfrom");
    assert!(!from.is_empty(), "client recvfrom with an address");
    assert!(
        !plain.is_empty(),
        "client recvfrom without an address (connected recv)"
    );
    let (from, _) = with_addr("server", "recvfrom");
    assert_eq!(
        from.len(),
        6,
        "server: 3 UDP + 3 Unix datagrams, each with its sender"
    );
    let (to, _) = with_addr("server", "sendto");
    assert_eq!(to.len(), 6, "server: 6 answers, each to an address");

    // totals per family: what the client sent is what the server received, and back
    for fam in ["inet", "unix"] {
        let total = |node: &str, op: &str| -> u64 {
            events_of(&t, node)
                .filter(|e| e.op.as_deref() == Some(op) && e.errno.is_none())
                .filter(|e| e.sock.as_ref().is_some_and(|s| s.family == fam))
                .map(|e| e.bytes.unwrap_or(0))
                .sum()
        };
        let sent = total("client", "send");
        assert!(sent > 0, "{fam}: the client sent nothing");
        assert_eq!(
            sent,
            total("server", "recv"),
            "{fam}: client sent vs server received"
        );
        assert_eq!(
            total("server", "send"),
            total("client", "recv"),
            "{fam}: answers"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Interrupting bop
// ---------------------------------------------------------------------------------------------

#[test]
fn sigint_stops_every_process_and_writes_interrupted() {
    let sb = Sandbox::new();
    let port = free_port();
    let echo = tb("tb-echo");
    let cluster = sb.write(
        "forever.toml",
        &format!(
            r#"
[[node]]
name = "server"
cmd = "'{echo}' server {port} 5"
ready = "tcp:127.0.0.1:{port}"

[[node]]
name = "sleepers"
cmd = "sh -c 'sleep 1000 & sleep 1000; wait'"

[run]
timeout = "60s"
grace = "2s"
"#
        ),
    );
    let trace = sb.join("forever.jsonl");
    let mut cmd = Command::new(bop_exe());
    cmd.arg("run")
        .arg(&cluster)
        .arg("--trace")
        .arg(&trace)
        .arg("-q");
    let (child, out, err) = sb.spawn_command("forever", &mut cmd);
    let bop_pid = child.id() as i32;
    // wait until both nodes are up: the server listens, the shell has forked its sleepers
    let up = wait_trace(&trace, Duration::from_secs(10), |t| {
        events_of(t, "server").any(|e| e.op.as_deref() == Some("listen"))
            && pids_of(t, "sleepers").len() >= 3
    });
    if up.is_none() {
        unsafe { libc::kill(bop_pid, libc::SIGKILL) };
        let st = wait_limit(child, Duration::from_secs(5), "forever");
        panic!(
            "the nodes did not come up\n{}",
            BopRun::collect(st, &out, &err, Some(trace)).diag()
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: signalling the bop we started.
    assert_eq!(unsafe { libc::kill(bop_pid, libc::SIGINT) }, 0);
    let started = Instant::now();
    let status = wait_limit(child, Duration::from_secs(10), "forever");
    let run = BopRun::collect(status, &out, &err, Some(trace));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "bop took too long to stop"
    );
    let t = assert_interrupted_by(&run, "SIGINT");
    let pids: BTreeSet<i32> = t.events.iter().map(|e| e.pid).collect();
    assert!(pids.len() >= 4, "server + shell + 2 sleepers: {pids:?}");
    let alive = wait_gone(&pids, Duration::from_secs(2));
    assert!(
        alive.is_empty(),
        "processes of the run still running after bop exited: {alive:?}"
    );
}

/// Runs `toml`, waits until the command it runs before or after the nodes has written the pid
/// of its `sleep 30` to `sleep.pid`, sends `sig` to bop. Asserts that bop ended at once, exit
/// 130, its footer's verdict interrupted and its reason naming the signal and `reason`, and
/// that the sleep is gone with it. Returns bop's run and its footer.
fn interrupted_while_waiting(name: &str, toml: &str, sig: i32, reason: &str) -> (BopRun, Footer) {
    let sb = Sandbox::new();
    let cluster = sb.write(&format!("{name}.toml"), toml);
    let trace = sb.join(&format!("{name}.jsonl"));
    let mut cmd = Command::new(bop_exe());
    cmd.arg("run")
        .arg(&cluster)
        .arg("--trace")
        .arg(&trace)
        .arg("-q");
    let (child, out, err) = sb.spawn_command(name, &mut cmd);
    let bop_pid = child.id() as i32;
    let deadline = Instant::now() + Duration::from_secs(10);
    let sleep_pid = loop {
        let text = std::fs::read_to_string(sb.join("sleep.pid")).unwrap_or_default();
        if let Ok(pid) = text.trim().parse::<i32>() {
            break pid;
        }
        if Instant::now() > deadline {
            unsafe { libc::kill(bop_pid, libc::SIGKILL) };
            let st = wait_limit(child, Duration::from_secs(5), name);
            panic!(
                "sleep.pid was not written\n{}",
                BopRun::collect(st, &out, &err, Some(trace)).diag()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // SAFETY: signalling the bop we started.
    assert_eq!(unsafe { libc::kill(bop_pid, sig) }, 0);
    // far less than the sleep's 30 s
    let status = wait_limit(child, Duration::from_secs(10), name);
    let run = BopRun::collect(status, &out, &err, Some(trace));
    run.expect_code(130);
    let f = run.footer();
    assert_eq!(f.verdict, "interrupted", "{}", run.diag());
    let sig_name = bop_syscalls::signal_name(sig);
    assert!(
        f.reason
            .as_deref()
            .is_some_and(|r| r.contains(sig_name) && r.contains(reason)),
        "the reason names {sig_name} and {reason:?}: {}",
        run.diag()
    );
    let alive = wait_gone(&BTreeSet::from([sleep_pid]), Duration::from_secs(2));
    assert!(alive.is_empty(), "{name}: the sleep still runs");
    (run, f)
}

/// SIGTERM while the `[run] setup` command runs stops it and what it started, and the run ends
/// as interrupted (exit 130) before any node starts.
#[test]
fn sigterm_during_setup_stops_it_and_the_run() {
    let (run, f) = interrupted_while_waiting(
        "setup",
        "[[node]]\nname = \"n\"\ncmd = \"true\"\n\n\
         [run]\nsetup = \"sleep 30 & echo $! > sleep.pid; wait\"\n",
        libc::SIGTERM,
        "stopped the run",
    );
    assert!(
        run.stderr.contains("during the [run] setup"),
        "{}",
        run.diag()
    );
    assert_eq!(node_outcome(&f, "n").events, 0, "no node started");
}

/// SIGINT while the `[check]` command runs stops it and what it started; the run ends as
/// interrupted (exit 130).
#[test]
fn sigint_during_the_check_stops_it_and_the_run() {
    let (_, f) = interrupted_while_waiting(
        "check",
        "[[node]]\nname = \"n\"\ncmd = \"true\"\n\n\
         [check]\ncmd = \"sh -c 'sleep 30 & echo $! > sleep.pid; wait'\"\n",
        libc::SIGINT,
        "during the check",
    );
    assert_eq!(node_outcome(&f, "n").exit, Some(0));
}

#[test]
fn sigkill_of_bop_kills_the_nodes() {
    let sb = Sandbox::new();
    let trace = sb.join("killed.jsonl");
    let mut cmd = Command::new(bop_exe());
    cmd.arg("run").arg("--trace").arg(&trace).arg("-q").args([
        "--",
        "sh",
        "-c",
        "sleep 1000 & sleep 1000; wait",
    ]);
    let (child, out, err) = sb.spawn_command("killed", &mut cmd);
    let bop_pid = child.id() as i32;
    let t = wait_trace(&trace, Duration::from_secs(10), |t| {
        t.events
            .iter()
            .map(|e| e.pid)
            .collect::<BTreeSet<_>>()
            .len()
            >= 3
    });
    // SAFETY: signalling the bop we started.
    unsafe { libc::kill(bop_pid, libc::SIGKILL) };
    let status = wait_limit(child, Duration::from_secs(10), "killed");
    let run = BopRun::collect(status, &out, &err, Some(trace.clone()));
    let t = t.unwrap_or_else(|| panic!("the shell and its sleepers did not start\n{}", run.diag()));
    let pids: BTreeSet<i32> = t.events.iter().map(|e| e.pid).collect();
    let alive = wait_gone(&pids, Duration::from_secs(2));
    assert!(
        alive.is_empty(),
        "node processes survived bop's SIGKILL: {alive:?}"
    );
    // the trace cut short is still readable: header and events, no footer
    let t = bop_trace::read_file(&trace).expect("the trace of a killed bop is readable");
    assert!(t.header.is_some());
    assert!(t.footer.is_none());
    assert!(t.events.iter().any(|e| e.kind == "spawn"));
}

// ---------------------------------------------------------------------------------------------
// 5. Bad input: exit code 2 and a message that says what is wrong
// ---------------------------------------------------------------------------------------------

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

#[test]
fn missing_program_is_named() {
    let sb = Sandbox::new();
    let trace = sb.join("t.jsonl");
    let run = sb.bop(
        "missing",
        &args(&[
            "run",
            "--trace",
            &trace.display().to_string(),
            "--",
            "/nonexistent/prog",
        ]),
        None,
    );
    run.expect_code(2);
    assert!(
        run.stderr.contains("\"/nonexistent/prog\"") && run.stderr.contains("not found"),
        "{}",
        run.diag()
    );
    assert!(!trace.exists(), "nothing was run, so no trace");
}

/// Asserts that `text` contains `PATH:LINE:COL:` with the given line and returns the column.
fn location_col(text: &str, path: &std::path::Path, line: u32) -> u32 {
    let prefix = format!("{}:{line}:", path.display());
    let at = text
        .find(&prefix)
        .unwrap_or_else(|| panic!("no {prefix}COL: in the message:\n{text}"));
    let rest = &text[at + prefix.len()..];
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    assert!(
        !digits.is_empty() && rest[digits.len()..].starts_with(':'),
        "no column after {prefix}:\n{text}"
    );
    digits.parse().expect("column")
}

#[test]
fn cluster_file_typo_in_key_is_located() {
    let sb = Sandbox::new();
    let path = sb.write("typo.toml", "[[node]]\nnmae = \"x\"\ncmd = \"true\"\n");
    let run = sb.bop("typo", &args(&["run", &path.display().to_string()]), None);
    run.expect_code(2);
    assert_eq!(location_col(&run.stderr, &path, 2), 1);
    assert!(run.stderr.contains("nmae"), "{}", run.stderr);
    assert!(
        run.stderr.contains("did you mean \"name\""),
        "{}",
        run.stderr
    );
}

#[test]
fn cluster_file_missing_value_is_located() {
    let sb = Sandbox::new();
    let path = sb.write("novalue.toml", "[[node]]\nname = \"x\"\ncmd = \n");
    let run = sb.bop(
        "novalue",
        &args(&["run", &path.display().to_string()]),
        None,
    );
    run.expect_code(2);
    let col = location_col(&run.stderr, &path, 3);
    assert!(
        col >= 5,
        "the column points after \"cmd =\": {col}\n{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("expected a value after \"cmd =\""),
        "{}",
        run.stderr
    );
}

#[test]
fn duplicate_node_name_is_located() {
    let sb = Sandbox::new();
    let path = sb.write(
        "dup.toml",
        "[[node]]\nname = \"srv\"\ncmd = \"true\"\n\n[[node]]\nname = \"srv\"\ncmd = \"true\"\n",
    );
    let run = sb.bop("dup", &args(&["run", &path.display().to_string()]), None);
    run.expect_code(2);
    assert_eq!(location_col(&run.stderr, &path, 6), 8);
    assert!(
        run.stderr.contains("\"srv\" is used twice")
            && run
                .stderr
                .contains(&format!("first at {}:2:8", path.display())),
        "{}",
        run.stderr
    );
}

#[test]
fn ready_port_already_in_use_is_refused() {
    let sb = Sandbox::new();
    let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = holder.local_addr().expect("addr").port();
    let trace = sb.join("inuse.jsonl");
    let path = sb.write(
        "inuse.toml",
        &format!("[[node]]\nname = \"srv\"\ncmd = \"sleep 5\"\nready = \"tcp:127.0.0.1:{port}\"\n"),
    );
    let started = Instant::now();
    let run = sb.bop(
        "inuse",
        &args(&[
            "run",
            &path.display().to_string(),
            "--trace",
            &trace.display().to_string(),
        ]),
        Some(trace.clone()),
    );
    run.expect_code(2);
    assert!(
        run.stderr.contains(&port.to_string()) && run.stderr.contains("in use"),
        "{}",
        run.diag()
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the node must not have run"
    );
    if let Ok(t) = bop_trace::read_file(&trace) {
        assert!(
            !t.events.iter().any(|e| e.kind == "spawn"),
            "a node was started"
        );
    }
    drop(holder);
}

#[test]
fn ptrace_not_permitted_is_explained() {
    if Command::new("strace").arg("-V").output().is_err() {
        eprintln!("SKIPPED ptrace_not_permitted_is_explained: strace is not installed");
        return;
    }
    let sb = Sandbox::new();
    let trace = sb.join("st.jsonl");
    let mut cmd = Command::new("strace");
    cmd.args(["-f", "-o", "/dev/null"])
        .arg(bop_exe())
        .args(["run", "-q", "--trace"])
        .arg(&trace)
        .args(["--", "/bin/true"]);
    let run = sb.run_command("strace", cmd, Some(trace));
    run.expect_code(2);
    assert!(
        run.output().contains("ptrace"),
        "the message should say that ptrace is not permitted\n{}",
        run.diag()
    );
}

#[test]
fn unknown_daemon_name_is_refused() {
    let sb = Sandbox::new();
    let run = sb.bop(
        "nodaemon",
        &args(&["run", "--node", "server=/bin/true", "--daemon", "srv"]),
        None,
    );
    run.expect_code(2);
    assert!(
        run.stderr.contains("srv") && run.stderr.contains("server"),
        "{}",
        run.diag()
    );
}

// ---------------------------------------------------------------------------------------------
// 6. Verdicts
// ---------------------------------------------------------------------------------------------

#[test]
fn failing_node_fails_the_run() {
    let sb = Sandbox::new();
    let run = sb.run_cluster(
        "exit3",
        "[[node]]\nname = \"worker\"\ncmd = \"sh -c 'exit 3'\"\n",
    );
    run.expect_code(1);
    let t = run.trace();
    assert_complete(&t, &run.diag());
    let f = t.footer.expect("footer");
    assert_eq!(f.verdict, "fail");
    let reason = f.reason.clone().unwrap_or_default();
    assert!(
        reason.contains("worker") && reason.contains("exited 3"),
        "reason: {reason:?}"
    );
    assert_eq!(node_outcome(&f, "worker").exit, Some(3));
    assert!(
        run.stdout.contains("exited 3"),
        "the user sees why: {}",
        run.stdout
    );
}

#[test]
fn daemon_is_stopped_by_bop_after_the_client() {
    let sb = Sandbox::new();
    let port = free_port();
    let echo = tb("tb-echo");
    let run = sb.run_cluster(
        "daemon",
        &format!(
            r#"
[[node]]
name = "server"
cmd = "'{echo}' server {port} 5"
daemon = true
ready = "tcp:127.0.0.1:{port}"

[[node]]
name = "client"
cmd = "'{echo}' client {port} 1 3"

[run]
timeout = "20s"
"#
        ),
    );
    run.expect_code(0);
    let t = run.trace();
    let diag = run.diag();
    assert_complete(&t, &diag);
    let f = t.footer.as_ref().expect("footer");
    assert_eq!(f.verdict, "pass", "{diag}");
    let server = node_outcome(f, "server");
    assert!(server.stopped_by_bop, "{server:?}");
    assert!(
        server.signal.as_deref() == Some("SIGTERM") || server.exit == Some(143),
        "the daemon ended by bop's SIGTERM: {server:?}"
    );
    let client = node_outcome(f, "client");
    assert_eq!(client.exit, Some(0));
    assert!(!client.stopped_by_bop);
    // the daemon was stopped only after the client had exited
    let client_exit = t
        .events
        .iter()
        .position(|e| e.node == "client" && e.kind == "exit")
        .expect("client exit");
    let server_signal = t
        .events
        .iter()
        .position(|e| e.node == "server" && (e.kind == "signal" || e.kind == "exit"))
        .expect("server signal/exit");
    assert!(
        client_exit < server_signal,
        "SIGTERM before the client finished\n{diag}"
    );
    assert_eq!(assert_inet_streams(&t, "inet", &diag), 1);
    assert_stats_match_footer(&run);
}

#[test]
fn failing_check_fails_the_run() {
    let sb = Sandbox::new();
    let run = sb.run_cluster(
        "check",
        "[[node]]\nname = \"c\"\ncmd = \"true\"\n\n[check]\ncmd = \"sh -c 'exit 1'\"\n",
    );
    run.expect_code(1);
    let f = run.footer();
    assert_eq!(f.verdict, "fail");
    assert!(
        f.reason.as_deref().is_some_and(|r| r.contains("check")),
        "reason: {:?}",
        f.reason
    );
    assert_eq!(f.check_status, Some(1));
    assert_eq!(node_outcome(&f, "c").exit, Some(0));
}

#[test]
fn passing_check_passes_the_run() {
    let sb = Sandbox::new();
    let run = sb.run_cluster(
        "okcheck",
        "[[node]]\nname = \"c\"\ncmd = \"true\"\n\n[check]\ncmd = \"sh -c 'exit 0'\"\n",
    );
    run.expect_code(0);
    let f = run.footer();
    assert_eq!(f.verdict, "pass", "{}", run.diag());
    assert_eq!(f.check_status, Some(0));
}

#[test]
fn check_sees_the_events_of_the_run() {
    let sb = Sandbox::new();
    let seen = sb.join("seen.jsonl");
    let run = sb.run_cluster(
        "seecheck",
        &format!(
            "[[node]]\nname = \"c\"\ncmd = \"sh -c 'echo hi | cat'\"\n\n\
             [check]\ncmd = \"sh -c 'cp \\\"$BOP_TRACE\\\" {}'\"\n",
            seen.display()
        ),
    );
    run.expect_code(0);
    let full = run.trace();
    let at_check = bop_trace::read_file(&seen).expect("the check copied the trace");
    assert!(
        at_check.header.is_some(),
        "the trace the check saw has no header\n{}",
        run.diag()
    );
    assert_eq!(
        at_check.events.len(),
        full.events.len(),
        "the check saw {} of the run's {} events",
        at_check.events.len(),
        full.events.len()
    );
}

fn run_hang(sb: &Sandbox) -> (BopRun, Duration) {
    let started = Instant::now();
    let run = sb.run_cluster(
        "hang",
        "[[node]]\nname = \"sleeper\"\ncmd = \"sleep 30\"\n\n[run]\ntimeout = \"1s\"\n",
    );
    (run, started.elapsed())
}

#[test]
fn run_timeout_is_a_hang() {
    let sb = Sandbox::new();
    let (run, took) = run_hang(&sb);
    run.expect_code(1);
    assert!(
        took < Duration::from_secs(6),
        "bop stopped the node late: {took:?}"
    );
    let t = run.trace();
    assert_complete(&t, &run.diag());
    let f = t.footer.expect("footer");
    assert_eq!(f.verdict, "hang");
    let n = node_outcome(&f, "sleeper");
    assert!(n.stopped_by_bop, "{n:?}");
    assert_eq!(n.exit, None, "sleep did not exit by itself: {n:?}");
    let pids: BTreeSet<i32> = n.pids.iter().copied().collect();
    assert!(wait_gone(&pids, Duration::from_secs(2)).is_empty());
}

#[test]
fn run_timeout_reason_names_the_running_node() {
    let sb = Sandbox::new();
    let (run, _) = run_hang(&sb);
    run.expect_code(1);
    let f = run.footer();
    assert_eq!(f.verdict, "hang");
    let reason = f.reason.unwrap_or_default();
    assert!(
        reason.contains("sleeper"),
        "the hang reason should name the node that did not finish: {reason:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// 7. --node options instead of a cluster file
// ---------------------------------------------------------------------------------------------

#[test]
fn node_options_work_like_the_cluster_file() {
    let sb = Sandbox::new();
    let port = free_port();
    let echo = tb("tb-echo");
    let server_cmd = format!("'{echo}' server {port} 5");
    let client_cmd = format!("'{echo}' client {port} 7 4");

    let trace_opts = sb.join("opts.jsonl");
    let by_opts = sb.bop(
        "opts",
        &[
            "run".into(),
            "--node".into(),
            format!("server={server_cmd}"),
            "--node".into(),
            format!("client={client_cmd}"),
            "--daemon".into(),
            "server".into(),
            "--trace".into(),
            trace_opts.display().to_string(),
            "-q".into(),
        ],
        Some(trace_opts),
    );
    let by_file = sb.run_cluster(
        "file",
        &format!(
            "[[node]]\nname = \"server\"\ncmd = \"{server_cmd}\"\ndaemon = true\n\n\
             [[node]]\nname = \"client\"\ncmd = \"{client_cmd}\"\n"
        ),
    );
    let mut footers = Vec::new();
    for run in [&by_opts, &by_file] {
        run.expect_code(0);
        let t = run.trace();
        let diag = run.diag();
        assert_complete(&t, &diag);
        let f = t.footer.clone().expect("footer");
        assert_eq!(f.verdict, "pass", "{diag}");
        let server = node_outcome(&f, "server");
        assert!(
            server.stopped_by_bop,
            "the daemon was stopped by bop: {server:?}"
        );
        assert_eq!(node_outcome(&f, "client").exit, Some(0));
        assert_eq!(assert_inet_streams(&t, "inet", &diag), 1);
        let h = t.header.expect("header");
        let nodes: Vec<(String, String, bool)> = h
            .nodes
            .iter()
            .map(|n| (n.name.clone(), n.cmd.clone(), n.daemon))
            .collect();
        assert_eq!(
            nodes,
            vec![
                ("server".to_string(), server_cmd.clone(), true),
                ("client".to_string(), client_cmd.clone(), false)
            ]
        );
        footers.push(f);
    }
    // the same system moved the same bytes either way
    let bytes = |f: &bop_trace::Footer| -> Vec<(String, u64, u64)> {
        f.nodes
            .iter()
            .map(|n| (n.name.clone(), n.bytes_sent, n.bytes_received))
            .collect()
    };
    assert_eq!(bytes(&footers[0]), bytes(&footers[1]));
    assert!(footers[0].nodes.iter().all(|n| n.bytes_sent > 0));
}

// ---------------------------------------------------------------------------------------------
// 8. A shell pipeline
// ---------------------------------------------------------------------------------------------

#[test]
fn shell_pipeline_forks_execs_and_uses_a_pipe() {
    let sb = Sandbox::new();
    let trace: PathBuf = sb.join("pipe.jsonl");
    let run = sb.bop(
        "pipe",
        &args(&[
            "run",
            "-q",
            "--trace",
            &trace.display().to_string(),
            "--",
            "sh",
            "-c",
            "echo hi | cat",
        ]),
        Some(trace),
    );
    let t = assert_passing_run(&run);
    let f = run.footer();
    assert_eq!(f.nodes.len(), 1);
    let node = f.nodes[0].name.clone();
    assert_eq!(node, "sh", "a node named after the program");

    let forks: Vec<i32> = events_of(&t, &node)
        .filter(|e| e.kind == "fork")
        .filter_map(|e| e.other)
        .collect();
    assert!(
        forks.len() >= 2,
        "the shell forks both sides of the pipe: {forks:?}"
    );
    let exec_cat = events_of(&t, &node).find(|e| {
        e.kind == "exec"
            && e.argv
                .as_ref()
                .and_then(|a| a.first())
                .is_some_and(|a| a == "cat" || a.ends_with("/cat"))
    });
    let exec_cat = exec_cat.unwrap_or_else(|| panic!("no exec of cat\n{}", run.diag()));
    assert!(forks.contains(&exec_cat.pid), "cat runs in a forked child");

    let pipe = events_of(&t, &node)
        .find(|e| e.op.as_deref() == Some("pipe"))
        .unwrap_or_else(|| panic!("no pipe event\n{}", run.diag()));
    assert_eq!(
        pipe.fds.as_ref().map(Vec::len),
        Some(2),
        "pipe ends: {pipe:?}"
    );
    let target = pipe.target.clone().expect("pipe target");
    let ino = target
        .strip_prefix("pipe:[")
        .and_then(|s| s.split(']').next())
        .unwrap_or_else(|| panic!("pipe target {target:?}"))
        .to_string();
    let on_pipe = |op: &str, end: &str| -> Vec<&Event> {
        events_of(&t, &node)
            .filter(|e| {
                e.op.as_deref() == Some(op)
                    && e.target.as_deref() == Some(&format!("pipe:[{ino}]{end}"))
            })
            .collect()
    };
    let writes = on_pipe("send", "w");
    let reads = on_pipe("recv", "r");
    assert_eq!(
        sum_bytes(&writes),
        3,
        "\"hi\\n\" written into the pipe: {writes:?}"
    );
    assert_eq!(
        sum_bytes(&reads),
        3,
        "\"hi\\n\" read from the pipe: {reads:?}"
    );
    assert!(
        writes.iter().all(|w| reads.iter().all(|r| r.pid != w.pid)),
        "the writer and the reader are different processes"
    );
    assert_eq!(
        f.nodes[0].bytes_sent, 3,
        "only the pipe counts, not bop's log pipes"
    );
    assert_eq!(f.nodes[0].bytes_received, 3);
    assert_eq!(f.nodes[0].pids.len(), 3, "sh + 2 children");
}

// ---------------------------------------------------------------------------------------------
// More stopping and start-up behaviour
// ---------------------------------------------------------------------------------------------

#[test]
fn daemon_ignoring_sigterm_is_killed_after_the_grace() {
    let Some(py) = python3() else {
        eprintln!("SKIPPED daemon_ignoring_sigterm_is_killed_after_the_grace: no python3");
        return;
    };
    let sb = Sandbox::new();
    let started = Instant::now();
    let run = sb.run_cluster(
        "stubborn",
        &format!(
            r#"
[[node]]
name = "stubborn"
cmd = "'{py}' -c 'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(100)'"
daemon = true

[[node]]
name = "client"
cmd = "sleep 0.3"

[run]
grace = "500ms"
timeout = "20s"
"#
        ),
    );
    let took = started.elapsed();
    run.expect_code(0);
    let t = run.trace();
    assert_complete(&t, &run.diag());
    let f = t.footer.expect("footer");
    assert_eq!(
        f.verdict, "pass",
        "being stopped by bop is normal for a daemon"
    );
    let d = node_outcome(&f, "stubborn");
    assert!(d.stopped_by_bop, "{d:?}");
    assert_eq!(
        d.signal.as_deref(),
        Some("SIGKILL"),
        "SIGTERM was ignored: {d:?}"
    );
    assert!(
        took >= Duration::from_millis(800),
        "SIGKILL came before the grace: {took:?}"
    );
    assert!(took < Duration::from_secs(8), "SIGKILL came late: {took:?}");
}

#[test]
fn node_exiting_before_ready_is_a_startup_error() {
    let sb = Sandbox::new();
    let port = free_port();
    let run = sb.run_cluster(
        "notready",
        &format!(
            "[[node]]\nname = \"early\"\ncmd = \"sh -c 'exit 4'\"\nready = \"tcp:127.0.0.1:{port}\"\n\n\
             [[node]]\nname = \"after\"\ncmd = \"true\"\n"
        ),
    );
    run.expect_code(2);
    let out = run.output();
    assert!(
        out.contains("early")
            && out.contains("exited 4")
            && out.contains(&format!("tcp:127.0.0.1:{port}")),
        "{}",
        run.diag()
    );
    let t = run.trace();
    assert!(
        events_of(&t, "after").next().is_none(),
        "the next node must not start"
    );
}

#[test]
fn the_check_gets_bop_trace_absolute_when_the_trace_path_is_relative() {
    // docs/cluster-file.md: the check runs in the cluster file's directory and gets BOP_TRACE,
    // the trace file; a relative --trace names it from bop's directory, not the check's
    let sb = Sandbox::new();
    std::fs::create_dir(sb.join("sys")).expect("mkdir sys");
    sb.write(
        "sys/c.toml",
        r#"[[node]]
name = "c"
cmd = "true"

[check]
cmd = 'sh -c "case $BOP_TRACE in /*) test -s $BOP_TRACE ;; *) exit 7 ;; esac"'
"#,
    );
    let args: Vec<String> = ["run", "sys/c.toml", "--trace", "out/t.jsonl", "-q"]
        .into_iter()
        .map(String::from)
        .collect();
    let run = sb.bop("relcheck", &args, Some(sb.join("out/t.jsonl")));
    run.expect_code(0);
    assert_eq!(run.footer().check_status, Some(0), "{}", run.diag());
}
