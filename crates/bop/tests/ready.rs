//! Readiness as a newcomer meets it: a server that binds a relative Unix path, `--ready` and
//! `--delay` for `--node` runs, and what bop says while it waits and when a node never gets
//! ready (docs/cluster-file.md, "ready").

mod common;

use common::*;

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// How often `needle` occurs in `haystack`.
fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

#[test]
fn a_unix_ready_path_is_met_however_the_server_binds_it() {
    let sb = Sandbox::new();
    std::fs::create_dir(sb.join("data")).expect("mkdir data");
    let unix = tb("tb-unix");
    let abs = sb.join("data/up.sock").display().to_string();
    // (how the server binds, how `ready` names it): the nodes run in data/, where a relative
    // `ready` path is resolved too; the kernel lists a relatively bound socket as "up.sock"
    let cases = [
        ("up.sock", "unix:up.sock".to_string()),
        ("up.sock", format!("unix:{abs}")),
        (abs.as_str(), "unix:up.sock".to_string()),
    ];
    for (k, (bind, ready)) in cases.iter().enumerate() {
        let run = sb.run_cluster(
            &format!("unix{k}"),
            &format!(
                "[[node]]\nname = \"server\"\ncmd = \"'{unix}' server {bind} 1\"\ncwd = \"data\"\n\
                 ready = \"{ready}\"\n\n\
                 [[node]]\nname = \"client\"\ncmd = \"'{unix}' client up.sock 1\"\ncwd = \"data\"\n\n\
                 [run]\nready_timeout = \"10s\"\n"
            ),
        );
        assert_eq!(
            run.code(),
            Some(0),
            "server binding {bind}, ready = {ready}\n{}",
            run.diag()
        );
        assert!(!run.stderr.contains("waiting for"), "{}", run.diag());
    }
}

#[test]
fn a_node_not_ready_in_time_says_what_it_listens_on_once() {
    let sb = Sandbox::new();
    let port = free_port();
    let wrong = free_port();
    let echo = tb("tb-echo");
    let run = sb.run_cluster(
        "elsewhere",
        &format!(
            "[[node]]\nname = \"server\"\ncmd = \"'{echo}' server {port} 1\"\ndaemon = true\n\
             ready = \"tcp:127.0.0.1:{wrong}\"\n\n\
             [[node]]\nname = \"client\"\ncmd = \"true\"\n\n\
             [run]\nready_timeout = \"4s\"\n"
        ),
    );
    run.expect_code(2);
    let diag = run.diag();
    let out = run.output();
    // one line while waiting, after a few seconds
    assert_eq!(
        count(
            &run.stderr,
            &format!(
                "bop: waiting for server to listen on tcp:127.0.0.1:{wrong} (ready_timeout 4s)…"
            )
        ),
        1,
        "{diag}"
    );
    // the error, once, saying where the node does listen and how to wait longer
    assert_eq!(count(&out, "was not ready within"), 1, "{diag}");
    assert!(
        run.stderr.contains(&format!(
            "bop: error: start-up failed: node server was not ready within 4s (ready_timeout): \
             nothing listened on tcp:127.0.0.1:{wrong}, but the node listens on \
             tcp:127.0.0.1:{port}: if that is its address, correct its \"ready\" address; if it \
             needs longer to start, raise ready_timeout ([run] ready_timeout = \"8s\" in the \
             cluster file, or bop run --ready-timeout 8s)"
        )),
        "{diag}"
    );
    assert!(
        run.stdout
            .contains("bop: FAIL: start-up failed (the error is below)"),
        "{diag}"
    );
    // the waiting line comes before the error
    let waiting = run.stderr.find("waiting for").expect("waiting line");
    assert!(
        waiting < run.stderr.find("bop: error").expect("error"),
        "{diag}"
    );
}

#[test]
fn a_node_listening_nowhere_is_told_how_to_wait_longer() {
    let sb = Sandbox::new();
    let port = free_port();
    let ready = format!("server=tcp:127.0.0.1:{port}");
    let run = sb.bop(
        "nowhere",
        &args(&[
            "run",
            "-q",
            "--node",
            "server=sleep 20",
            "--ready",
            &ready,
            "--ready-timeout",
            "1s",
            "--node",
            "client=true",
            "--daemon",
            "server",
        ]),
        None,
    );
    run.expect_code(2);
    let diag = run.diag();
    assert_eq!(count(&run.output(), "was not ready within"), 1, "{diag}");
    assert!(
        run.stderr.contains(&format!(
            "node server was not ready within 1s (ready_timeout): nothing listened on \
             tcp:127.0.0.1:{port}, and the node listens on no TCP or Unix socket yet; if it \
             needs longer to start, raise the ready timeout (bop run --ready-timeout 2s)"
        )),
        "{diag}"
    );
    // under the 3 s after which bop says it is waiting
    assert!(!run.stderr.contains("waiting for"), "{diag}");
}

/// The README's `--node` example with a server that takes a second to listen, and a client
/// that connects once (no retry), with the extra options `extra`.
fn slow_server_run(sb: &Sandbox, label: &str, port: u16, extra: &[&str]) -> BopRun {
    let echo = tb("tb-echo");
    let server = format!("server=sh -c 'sleep 1; exec \"{echo}\" server {port} 1'");
    let client = format!("client=bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port}'");
    let mut a = args(&["run", "-q", "--node", &server, "--node", &client]);
    a.extend(args(&["--daemon", "server"]));
    a.extend(args(extra));
    let trace = sb.join(&format!("{label}.jsonl"));
    a.extend(args(&["--trace", &trace.display().to_string()]));
    sb.bop(label, &a, Some(trace))
}

#[test]
fn node_options_take_ready_and_delay() {
    let sb = Sandbox::new();
    // without either, the client races the server and loses
    let port = free_port();
    let run = slow_server_run(&sb, "race", port, &[]);
    run.expect_code(1);
    let log = std::fs::read_to_string(sb.join("race.client.stderr")).unwrap_or_default();
    assert!(log.contains("Connection refused"), "{}", run.diag());

    let port = free_port();
    let ready = format!("server=tcp:127.0.0.1:{port}");
    let run = slow_server_run(&sb, "ready", port, &["--ready", &ready]);
    run.expect_code(0);

    let port = free_port();
    let run = slow_server_run(&sb, "delay", port, &["--delay", "client=2500ms"]);
    run.expect_code(0);
    let f = run.footer();
    assert_eq!(node_outcome(&f, "client").exit, Some(0), "{}", run.diag());
}

#[test]
fn bad_ready_and_delay_options_are_explained() {
    let sb = Sandbox::new();
    let cases: [(&[&str], &str); 6] = [
        (
            &["--ready", "srv=tcp:127.0.0.1:7000"],
            "bop: error: --ready srv=tcp:127.0.0.1:7000: there is no node named \"srv\"; the \
             nodes are: server, client",
        ),
        (
            &["--ready", "server=7000"],
            "bop: error: --ready server=7000: invalid ready address \"7000\": expected \
             \"tcp:HOST:PORT\" or \"unix:PATH\", e.g. \"tcp:127.0.0.1:7000\"",
        ),
        (
            &["--ready", "server=udp:127.0.0.1:7000"],
            "give the next node a start delay instead, e.g. --delay client=200ms",
        ),
        (
            &["--ready", "server"],
            "bop: error: --ready \"server\": expected NAME=ADDRESS, the name of a --node and its \
             value, e.g. --ready server=tcp:127.0.0.1:7000",
        ),
        (
            &["--delay", "client=soon"],
            "bop: error: --delay client=soon: invalid duration \"soon\" for \"delay\"",
        ),
        (
            &["--delay", "cli=1s"],
            "bop: error: --delay cli=1s: there is no node named \"cli\"; the nodes are: server, \
             client",
        ),
    ];
    for (k, (extra, want)) in cases.iter().enumerate() {
        let mut a = args(&["run", "--node", "server=true", "--node", "client=true"]);
        a.extend(args(extra));
        let run = sb.bop(&format!("bad{k}"), &a, None);
        run.expect_code(2);
        assert!(run.stderr.contains(want), "{extra:?}: {}", run.diag());
    }
    let cluster = sb.write("c.toml", "[[node]]\nname = \"server\"\ncmd = \"true\"\n");
    let run = sb.bop(
        "file",
        &args(&[
            "run",
            &cluster.display().to_string(),
            "--ready",
            "server=tcp:127.0.0.1:7000",
        ]),
        None,
    );
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("--ready only applies to --node options; in a cluster file, give the node a ready address"),
        "{}",
        run.diag()
    );
    let run = sb.bop(
        "zero",
        &args(&["run", "--ready-timeout", "0s", "--", "true"]),
        None,
    );
    run.expect_code(2);
    assert!(
        run.stderr.contains("it must be longer than zero"),
        "{}",
        run.diag()
    );
}
