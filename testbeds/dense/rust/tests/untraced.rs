//! Runs `tb-dense-rs` untraced: a server and a client on 127.0.0.1, in both modes, pipelined and
//! not, and checks that both exit 0 and that the client prints its `ok …` line.

use std::net::TcpListener;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_tb-dense-rs");

/// A port that was free a moment ago (the client retries a refused connection, so the server
/// may bind it a little late).
fn free_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener
        .local_addr()
        .expect("local_addr")
        .port()
        .to_string()
}

/// Runs one server and one client with `--nagle nagle`, and `--pipeline` if `pipeline`.
fn run(mode: &str, conns: usize, rounds: u64, size: &str, pipeline: bool, nagle: &str) {
    let port = free_port();
    let conns_text = conns.to_string();
    let mut server = Command::new(BIN)
        .args([
            "server",
            &port,
            &conns_text,
            "--mode",
            mode,
            "--nagle",
            nagle,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the server");
    let rounds_text = rounds.to_string();
    let client = Command::new(BIN)
        .args([
            "client",
            &port,
            "--conns",
            &conns_text,
            "--rounds",
            &rounds_text,
            "--size",
            size,
        ])
        .args(["--mode", mode, "--nagle", nagle])
        .args(pipeline.then_some("--pipeline"))
        .output()
        .expect("run the client");
    if !client.status.success() {
        let _ = server.kill();
    }
    let server = server.wait_with_output().expect("wait for the server");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&client.stdout),
        String::from_utf8_lossy(&client.stderr),
    );
    let what = format!("mode {mode}, {conns} conns, {rounds} rounds, size {size}, pipeline {pipeline}, nagle {nagle}");
    assert!(
        client.status.success(),
        "{what}: client failed: {}\n{stderr}",
        client.status
    );
    assert!(
        server.status.success(),
        "{what}: server failed: {}\n{}",
        server.status,
        String::from_utf8_lossy(&server.stderr)
    );
    let line = stdout.trim_end();
    let rest = line
        .strip_prefix(&format!("ok conns={conns} rounds={rounds} sent="))
        .unwrap_or_else(|| panic!("{what}: unexpected client output {line:?}"));
    let (sent, received) = rest
        .split_once(" received=")
        .expect("`received=` in the ok line");
    let (sent, received): (u64, u64) = (
        sent.parse().expect("sent"),
        received.parse().expect("received"),
    );
    // Every round sends at least `SET cCkK 1\nx\nGET cCkK\n` and receives `OK\nVALUE 1\nx\n`.
    assert!(sent >= conns as u64 * rounds * 20, "{what}: sent={sent}");
    assert!(
        received >= conns as u64 * rounds * 13,
        "{what}: received={received}"
    );
}

#[test]
fn nonblocking_pipelined() {
    run("nonblocking", 8, 50, "1-700", true, "off");
}

#[test]
fn nonblocking_one_request_at_a_time() {
    run("nonblocking", 4, 20, "1-65536", false, "on");
}

#[test]
fn blocking_pipelined() {
    run("blocking", 8, 50, "1-700", true, "on");
}

#[test]
fn blocking_one_request_at_a_time() {
    run("blocking", 4, 20, "1-65536", false, "off");
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &[
            "client", "1", "--conns", "1", "--rounds", "1", "--size", "0-5",
        ][..],
        &["server", "1"],
        &["bogus"],
    ] {
        let status = Command::new(BIN)
            .args(args)
            .stderr(Stdio::null())
            .status()
            .expect("run");
        assert_eq!(status.code(), Some(2), "{args:?}");
    }
}
