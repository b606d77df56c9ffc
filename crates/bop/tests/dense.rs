//! The graph under dense, concurrent traffic: the dense key-value testbed in every runtime of
//! `testbeds/dense/`, and threads sharing one socket. Each run is checked against ground truth
//! with `bop verify` (every received byte against the send it is attributed to, from the
//! payload the trace captured), and must leave no byte unmatched, no event released by the
//! hold limit and no order guessed.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// The repository's root.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `bop verify TRACE`: its exit code and what it printed.
fn verify(trace: &Path) -> (Option<i32>, String) {
    let out = Command::new(bop_exe())
        .arg("verify")
        .arg(trace)
        .output()
        .expect("run bop verify");
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// What a user must see of a sound graph: the run passed, `bop verify` compared every
/// receive and found nothing wrong, nothing is unmatched, nothing was guessed.
fn assert_sound(run: &BopRun, trace: &Path) {
    run.expect_code(0);
    let f = run.footer();
    assert_eq!(
        (f.hold_limit_releases, f.order_guesses),
        (Some(0), Some(0)),
        "the graph guessed: {}",
        run.diag()
    );
    let (code, out) = verify(trace);
    assert_eq!(code, Some(0), "bop verify:\n{out}\n{}", run.diag());
    assert!(out.contains("verdict: verified"), "{out}");
    assert!(
        !out.contains("on the captured prefix only") && !out.contains("without payload"),
        "every receive must be compared whole: {out}"
    );
    let stats = stats_json(trace);
    assert_eq!(stats["unmatched_bytes"], 0, "{stats}");
    assert_eq!(stats["hold_limit_releases"], 0, "{stats}");
}

/// Runs the dense key-value testbed `program` (`server PORT 8 SERVER_ARGS`, `client PORT
/// --conns 8 CLIENT_ARGS`) under bop with the whole payload captured, and checks the graph.
fn dense(sb: &Sandbox, name: &str, program: &str, server_args: &str, client_args: &str) {
    let port = free_port();
    let toml = format!(
        "[[node]]\nname = \"server\"\ncmd = \"{program} server {port} 8 {server_args}\"\nready = \"tcp:127.0.0.1:{port}\"\n\n\
         [[node]]\nname = \"client\"\ncmd = \"{program} client {port} --conns 8 {client_args}\"\n\n\
         [run]\ntimeout = \"25s\"\n"
    );
    let run = sb.run_cluster_with(name, &toml, &["--capture-payload=70000".to_string()]);
    let trace = sb.join(&format!("{name}.jsonl"));
    assert_sound(&run, &trace);
    let out =
        std::fs::read_to_string(sb.join(&format!("{name}.client.stdout"))).unwrap_or_default();
    assert!(
        out.starts_with("ok conns=8"),
        "the client's summary: {out:?}"
    );
}

fn tb_dense_rs() -> String {
    // built beside bop: its package's own test makes cargo build it
    let p = Path::new(bop_exe()).with_file_name("tb-dense-rs");
    assert!(
        p.exists(),
        "{} is missing: build the workspace (cargo build --release --workspace)",
        p.display()
    );
    p.display().to_string()
}

#[test]
fn tokio_tasks_migrating_between_workers_get_every_byte_right() {
    let sb = Sandbox::new();
    dense(
        &sb,
        "tokio",
        &tb_dense_rs(),
        "",
        "--rounds 200 --size 1-700 --pipeline",
    );
}

#[test]
fn tokio_with_64k_values_read_in_pieces_gets_every_byte_right() {
    let sb = Sandbox::new();
    dense(
        &sb,
        "tokio64k",
        &tb_dense_rs(),
        "--nagle on",
        "--rounds 10 --size 60000-65536 --nagle on",
    );
}

#[test]
fn rust_threads_on_blocking_sockets_get_every_byte_right() {
    let sb = Sandbox::new();
    dense(
        &sb,
        "threads",
        &tb_dense_rs(),
        "--mode blocking",
        "--mode blocking --rounds 200 --size 1-700",
    );
}

#[test]
fn python_asyncio_and_python_threads_get_every_byte_right() {
    let sb = Sandbox::new();
    let py = format!(
        "python3 {}",
        repo().join("testbeds/dense/python/dense.py").display()
    );
    dense(
        &sb,
        "asyncio",
        &py,
        "",
        "--rounds 100 --size 1-700 --pipeline",
    );
    dense(
        &sb,
        "pythreads",
        &py,
        "--mode blocking",
        "--mode blocking --rounds 100 --size 1-4000",
    );
}

#[test]
fn node_gets_every_byte_right() {
    let sb = Sandbox::new();
    let js = format!(
        "node {}",
        repo().join("testbeds/dense/node/dense.js").display()
    );
    dense(&sb, "node", &js, "", "--rounds 200 --size 1-700 --pipeline");
}

/// Runs `shared_socket server PORT MESSAGES` and `shared_socket CLIENT PORT …` (node `client`)
/// under bop, checks the graph, and returns the trace.
fn shared_socket(sb: &Sandbox, messages: u32, client: &str, client_args: &str) -> bop_trace::Trace {
    let bin = compile_c(sb, &progs_dir(), "shared_socket");
    let port = free_port();
    let b = bin.display();
    let toml = format!(
        "[[node]]\nname = \"server\"\ncmd = \"{b} server {port} {messages}\"\nready = \"tcp:127.0.0.1:{port}\"\n\n\
         [[node]]\nname = \"{client}\"\ncmd = \"{b} {client} {port} {client_args}\"\n\n[run]\ntimeout = \"15s\"\n"
    );
    let run = sb.run_cluster_with(client, &toml, &["--capture-payload=64".to_string()]);
    assert_sound(&run, &sb.join(&format!("{client}.jsonl")));
    run.trace()
}

/// Four threads read one blocking socket at once: their calls overlap, and only bop keeping
/// them from overlapping in its view makes the order it sees the kernel's. (Without it,
/// `bop verify` finds receives attributed to the wrong bytes in every run.)
#[test]
fn threads_reading_one_socket_at_once_each_get_their_own_bytes() {
    let t = shared_socket(&Sandbox::new(), 3000, "readers", "3000 4");
    let readers: std::collections::BTreeSet<i32> = events_of(&t, "readers")
        .filter(|e| e.op.as_deref() == Some("recv") && e.bytes.unwrap_or(0) > 0)
        .map(|e| e.tid)
        .collect();
    assert!(
        readers.len() >= 2,
        "several threads read the socket: {readers:?}"
    );
}

/// A thread blocks in recv() for a reply while another thread polls the same socket and only
/// then sends the request: holding the poll until the first recv returns would hang the
/// program. bop lets the poll go after its wait limit; the poll moved no bytes, so nothing
/// about the stream's order is a guess.
#[test]
fn a_poll_beside_a_blocked_reader_is_let_go_and_the_program_finishes() {
    let t = shared_socket(&Sandbox::new(), 0, "poller", "");
    let eagain = events_of(&t, "poller")
        .filter(|e| e.op.as_deref() == Some("recv") && e.errno.as_deref() == Some("EAGAIN"))
        .count();
    assert_eq!(eagain, 1, "the poll is recorded as the program saw it");
}

/// `javac` of the Java testbed into the sandbox: the class path to run it with.
fn java_classes(sb: &Sandbox) -> PathBuf {
    let dir = sb.join("java");
    let out = Command::new("javac")
        .arg("-d")
        .arg(&dir)
        .arg(repo().join("testbeds/dense/java/Dense.java"))
        .output()
        .expect("run javac (.ci/run installs default-jdk-headless)");
    assert!(
        out.status.success(),
        "javac: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

#[test]
fn java_nio_with_a_worker_pool_and_java_threads_get_every_byte_right() {
    let sb = Sandbox::new();
    let java = format!("java -cp {} Dense", java_classes(&sb).display());
    dense(
        &sb,
        "nio",
        &java,
        "",
        "--rounds 100 --size 1-700 --pipeline",
    );
    dense(
        &sb,
        "javathreads",
        &java,
        "--mode blocking",
        "--mode blocking --rounds 100 --size 1-4000",
    );
}

/// A trace whose footer counts guesses: `bop stats` and `bop verify` say the graph is unsure,
/// even though every byte they can compare is right.
#[test]
fn a_graph_with_guesses_is_called_unsure_by_stats_and_verify() {
    let sb = Sandbox::new();
    let sock = |local: &str, peer: &str| {
        format!(r#"{{"id":1,"family":"inet","type":"stream","local":"{local}","peer":"{peer}"}}"#)
    };
    let (c, s) = ("127.0.0.1:40000", "127.0.0.1:7000");
    let lines = [
        r#"{"type":"header","format":2,"bop_version":"test","start_unix_ms":0,"backend":"ptrace+seccomp","nodes":[{"name":"client","cmd":"c"},{"name":"server","cmd":"s"}]}"#.to_string(),
        format!(
            r#"{{"type":"event","node":"client","pid":1,"tid":1,"seq":0,"ts":1,"kind":"syscall","syscall":"write","op":"send","fd":3,"sock":{},"bytes":4,"off":0,"ret":4,"data":"ping","id":0,"lane":0,"vc":{{"0":1}}}}"#,
            sock(c, s)
        ),
        format!(
            r#"{{"type":"event","node":"server","pid":2,"tid":2,"seq":0,"ts":2,"kind":"syscall","syscall":"read","op":"recv","fd":4,"sock":{},"bytes":4,"off":0,"ret":4,"data":"ping","id":1,"lane":1,"vc":{{"0":1,"1":1}},"from":[{{"id":0,"kind":"msg","bytes":4}}]}}"#,
            sock(s, c)
        ),
        r#"{"type":"footer","verdict":"pass","duration_ms":5,"events":2,"nodes":[],"hold_limit_releases":2,"order_guesses":1}"#.to_string(),
    ];
    let trace = sb.write("unsure.jsonl", &(lines.join("\n") + "\n"));
    let out = Command::new(bop_exe())
        .arg("stats")
        .arg(&trace)
        .output()
        .expect("bop stats");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("graph: unsure: 2 events released without their cause")
            && text.contains("1 call let overlap another on the same stream"),
        "{text}"
    );
    let json = stats_json(&trace);
    assert_eq!(
        (&json["hold_limit_releases"], &json["order_guesses"]),
        (&serde_json::json!(2), &serde_json::json!(1))
    );
    let (code, text) = verify(&trace);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("UNSURE: 2 events") && text.contains("verdict: unsure"),
        "{text}"
    );
    assert!(text.contains("1 receives compared byte for byte"), "{text}");
}

#[test]
fn go_goroutines_moving_between_threads_get_every_byte_right() {
    let sb = Sandbox::new();
    let bin = sb.join("tb-dense-go");
    let out = Command::new("go")
        .args(["build", "-o"])
        .arg(&bin)
        .arg(".")
        .current_dir(repo().join("testbeds/dense/go"))
        .env("GOFLAGS", "-mod=mod")
        .env("GOCACHE", sb.join("gocache"))
        .env("GOPATH", sb.join("gopath"))
        .output()
        .expect("run go build (.ci/run installs golang-go)");
    assert!(
        out.status.success(),
        "go build: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let go = bin.display().to_string();
    dense(&sb, "go", &go, "", "--rounds 200 --size 1-700 --pipeline");
    dense(
        &sb,
        "go64k",
        &go,
        "--nagle on",
        "--rounds 10 --size 1-65536 --nagle on",
    );
}

/// A relay moves a connection's first 1000 bytes with splice (socket -> pipe -> socket), then
/// the rest with read and write. The bytes a splice takes out of a socket or pipe have their
/// place in that stream: without it, every later read on the connection is misplaced.
#[test]
fn bytes_a_splice_takes_from_a_socket_keep_their_place_in_its_stream() {
    let sb = Sandbox::new();
    let bin = compile_c(&sb, &progs_dir(), "splice_relay");
    let (relay, sink) = (free_port(), free_port());
    let b = bin.display();
    let toml = format!(
        "[[node]]\nname = \"sink\"\ncmd = \"{b} sink {sink} 3000\"\nready = \"tcp:127.0.0.1:{sink}\"\n\n\
         [[node]]\nname = \"relay\"\ncmd = \"{b} relay {relay} {sink} 1000\"\nready = \"tcp:127.0.0.1:{relay}\"\n\n\
         [[node]]\nname = \"client\"\ncmd = \"{b} client {relay} 3000\"\n"
    );
    let run = sb.run_cluster_with("splice", &toml, &["--capture-payload=64".to_string()]);
    run.expect_code(0);
    let trace = sb.join("splice.jsonl");
    let (code, out) = verify(&trace);
    assert_eq!(code, Some(0), "bop verify:\n{out}");
    assert_eq!(stats_json(&trace)["unmatched_bytes"], 0);
    let t = run.trace();
    let splices: Vec<&str> = events_of(&t, "relay")
        .filter(|e| e.syscall.as_deref() == Some("splice"))
        .filter_map(|e| e.op.as_deref())
        .take(4)
        .collect();
    assert_eq!(
        splices,
        ["recv", "send", "recv", "send"],
        "each splice is a receive, then a send"
    );
}
