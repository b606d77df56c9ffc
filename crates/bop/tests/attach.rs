//! `bop attach --pid`: an already running server is traced from the moment bop attaches, its
//! connection from a client started afterwards is recorded, and Ctrl-C detaches without
//! harming it.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn wait_for(cond: impl Fn() -> bool, limit: Duration) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn listening(port: u16) -> bool {
    std::fs::read_to_string("/proc/net/tcp")
        .is_ok_and(|t| t.contains(&format!(":{port:04X} 00000000:0000 0A")))
}

#[test]
fn attach_traces_a_running_server_and_detaches_on_sigint() {
    let sb = Sandbox::new();
    let port = free_port();
    // a server that serves two clients, started without bop
    let mut server = Command::new(tb("tb-echo"))
        .args(["server", &port.to_string(), "2"])
        .stdout(Stdio::null())
        .spawn()
        .expect("start the server");
    assert!(
        wait_for(|| listening(port), Duration::from_secs(5)),
        "server listens"
    );
    let trace = sb.join("attach.jsonl");
    let mut cmd = Command::new(bop_exe());
    cmd.args([
        "attach",
        "--pid",
        &server.id().to_string(),
        "--trace",
        &trace.display().to_string(),
    ]);
    let (mut bop, _out, err) = sb.spawn_command("attach", &mut cmd);
    assert!(
        wait_for(
            || std::fs::read_to_string(&err).is_ok_and(|e| e.contains("attached")),
            Duration::from_secs(5)
        ),
        "bop attached"
    );
    // the first client, while bop is attached
    let st = Command::new(tb("tb-echo"))
        .args(["client", &port.to_string(), "1", "3"])
        .stdout(Stdio::null())
        .status()
        .expect("client");
    assert!(st.success());
    // Ctrl-C: bop detaches, the server runs on
    unsafe { libc::kill(bop.id() as i32, libc::SIGINT) };
    let bst = wait_limit_child(&mut bop, Duration::from_secs(10));
    assert_eq!(bst, Some(0), "bop attach exits 0 after detaching");
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", server.id())).unwrap_or_default();
    assert!(
        status.contains("TracerPid:\t0"),
        "the server is no longer traced"
    );
    // the second client is served by the still-running server
    let st = Command::new(tb("tb-echo"))
        .args(["client", &port.to_string(), "2", "3"])
        .stdout(Stdio::null())
        .status()
        .expect("client");
    assert!(st.success(), "the server survived bop's detach");
    assert!(server.wait().expect("server").success());

    let t = bop_trace::read_file(&trace).expect("trace");
    let f = t.footer.as_ref().expect("footer");
    assert_eq!(f.verdict, "detached");
    assert_eq!(
        t.header.as_ref().map(|h| h.backend.as_str()),
        Some("ptrace")
    );
    let accepts = t
        .events
        .iter()
        .filter(|e| e.op.as_deref() == Some("accept"))
        .count();
    assert_eq!(accepts, 1, "the connection made while attached is recorded");
    let received: u64 = t
        .events
        .iter()
        .filter(|e| e.op.as_deref() == Some("recv"))
        .filter_map(|e| e.bytes)
        .sum();
    let sent: u64 = t
        .events
        .iter()
        .filter(|e| e.op.as_deref() == Some("send") && e.sock.is_some())
        .filter_map(|e| e.bytes)
        .sum();
    assert!(
        received > 0 && received == sent,
        "echoed what it got: {received} vs {sent}"
    );
}

fn wait_limit_child(c: &mut std::process::Child, limit: Duration) -> Option<i32> {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if let Ok(Some(st)) = c.try_wait() {
            return st.code();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = c.kill();
    None
}
