//! Readiness as a newcomer meets it: a server that binds a relative Unix path, `--ready` and
//! `--delay` for `--node` runs, and what bop says while it waits and when a node never gets
//! ready (docs/cluster-file.md, "ready").

mod common;

use common::*;

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
