//! What bop does to keep a run's secrets and rights apart: nodes run as another user while bop
//! keeps its rights to trace them, trace and log files are private and never written through
//! a symlink, and payload bytes never reach the trace (see docs/security.md).

mod common;

use std::os::unix::fs::PermissionsExt;

use common::*;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn a_node_runs_as_nobody_and_bop_still_traces_it() {
    if !is_root() {
        eprintln!("skipped: running a node as another user needs root");
        return;
    }
    let sb = Sandbox::new();
    let nobody = nix::unistd::User::from_name("nobody")
        .expect("lookup")
        .expect("this machine has a user nobody");
    // the sandbox is private to root: the node works in /
    let run = sb.run_cluster(
        "nobody",
        "[[node]]\nname = \"who\"\ncmd = \"sh -c 'id -u; id -g; exec sleep 0.1'\"\ncwd = \"/\"\nuser = \"nobody\"\n\n\
         [[node]]\nname = \"me\"\ncmd = \"id -u\"\ncwd = \"/\"\n",
    );
    let t = run.trace();
    assert_pass_all_zero(&run, &t);
    let out = std::fs::read_to_string(sb.join("nobody.who.stdout")).expect("the node's stdout");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            nobody.uid.as_raw().to_string(),
            nobody.gid.as_raw().to_string()
        ],
        "{}",
        run.diag()
    );
    // bop kept tracing it after the switch: the shell's children and its exec are there
    assert!(pids_of(&t, "who").len() >= 3, "{}", run.diag());
    assert!(
        t.events.iter().any(|e| e.node == "who" && e.kind == "exec"),
        "{}",
        run.diag()
    );
    // a node without a user runs as bop does
    let me = std::fs::read_to_string(sb.join("nobody.me.stdout")).expect("stdout");
    assert_eq!(me.trim(), "0");
}

#[test]
fn trace_and_log_files_are_private_and_never_written_through_a_symlink() {
    let sb = Sandbox::new();
    let trace = sb.join("t.jsonl");
    let run = sb.bop(
        "private",
        &[
            "run".to_string(),
            "--trace".into(),
            trace.display().to_string(),
            "-q".into(),
            "--".into(),
            "sh".into(),
            "-c".into(),
            "echo out; echo err >&2".into(),
        ],
        Some(trace.clone()),
    );
    run.expect_code(0);
    for f in [
        trace.clone(),
        sb.join("t.sh.stdout"),
        sb.join("t.sh.stderr"),
    ] {
        let m = std::fs::metadata(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        assert_eq!(m.permissions().mode() & 0o777, 0o600, "{}", f.display());
    }
    // a symlink where the trace goes: refused, and its target untouched
    let target = sb.write("victim", "precious\n");
    let link = sb.join("link.jsonl");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");
    let run = sb.bop(
        "symlink",
        &[
            "run".to_string(),
            "--trace".into(),
            link.display().to_string(),
            "-q".into(),
            "--".into(),
            "true".into(),
        ],
        None,
    );
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("is a symbolic link: bop does not write through one"),
        "{}",
        run.diag()
    );
    assert_eq!(
        std::fs::read_to_string(&target).expect("the target"),
        "precious\n"
    );
    assert_eq!(std::fs::read_link(&link).expect("still a link"), target);
    // an export: private, and not through a symlink either
    let dot = sb.join("t.dot");
    let export = |to: &std::path::Path, code: i32| {
        bop_quick(
            &[
                "export".as_ref(),
                trace.as_os_str(),
                "--format".as_ref(),
                "dot".as_ref(),
                "-o".as_ref(),
                to.as_os_str(),
            ],
            code,
        )
    };
    export(&dot, 0);
    let m = std::fs::metadata(&dot).expect("the export");
    assert_eq!(m.permissions().mode() & 0o777, 0o600);
    let err = export(&link, 2);
    assert!(err.contains("bop does not write through one"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&target).expect("the target"),
        "precious\n"
    );
}

/// The payload test's system: an echo server and a client that sends one message it reads
/// from a file (so the secret is on no command line).
fn secret_cluster(sb: &Sandbox) -> String {
    let port = free_port();
    let echo = tb("tb-echo");
    sb.write("secret", "SECRETPAYLOAD-4711");
    let client = format!(
        "import socket\n\
         m = open('secret', 'rb').read()\n\
         s = socket.create_connection(('127.0.0.1', {port}))\n\
         s.sendall(len(m).to_bytes(4, 'big') + m)\n\
         got = b''\n\
         while len(got) < 4 + len(m): got += s.recv(100)\n\
         assert got[4:] == m\n"
    );
    sb.write("client.py", &client);
    format!(
        "[[node]]\nname = \"server\"\ncmd = \"{echo} server {port} 1\"\nready = \"tcp:127.0.0.1:{port}\"\n\n\
         [[node]]\nname = \"client\"\ncmd = \"python3 client.py\"\ncwd = \"{}\"\n",
        sb.path().display()
    )
}

#[test]
fn payload_bytes_never_reach_the_trace() {
    let sb = Sandbox::new();
    let run = sb.run_cluster("payload", &secret_cluster(&sb));
    let t = run.trace();
    assert_pass_all_zero(&run, &t);
    let sends = t
        .events
        .iter()
        .filter(|e| e.op.as_deref() == Some("send") && e.bytes == Some(22))
        .count();
    assert_eq!(sends, 2, "the message and its echo\n{}", run.diag());
    let text = std::fs::read_to_string(run.trace_path.as_ref().expect("trace")).expect("read");
    assert!(!text.contains("SECRETPAYLOAD"), "payload in the trace");
    assert!(t.events.iter().all(|e| e.data.is_none()));
}

#[test]
fn capture_payload_puts_the_first_bytes_of_each_message_in_the_trace() {
    let sb = Sandbox::new();
    let cluster = secret_cluster(&sb);
    // every byte: the 4-byte length (18), then the message
    let run = sb.run_cluster_with("all", &cluster, &["--capture-payload".into()]);
    let t = run.trace();
    assert_pass_all_zero(&run, &t);
    let whole = "\\x00\\x00\\x00\\x12SECRETPAYLOAD-4711";
    let of = |t: &bop_trace::Trace, node: &str, op: &str| -> Vec<String> {
        t.events
            .iter()
            .filter(|e| e.node == node && e.op.as_deref() == Some(op))
            .filter(|e| e.sock.as_ref().is_some_and(|s| s.family == "inet"))
            .filter_map(|e| e.data.clone())
            .collect()
    };
    assert_eq!(of(&t, "client", "send"), [whole], "{}", run.diag());
    assert_eq!(of(&t, "server", "send"), [whole], "{}", run.diag());
    // the server reads the length, then the message
    assert_eq!(of(&t, "server", "recv").concat(), whole, "{}", run.diag());
    // at most 8 bytes an event
    let run = sb.run_cluster_with("eight", &cluster, &["--capture-payload=8".into()]);
    let t = run.trace();
    assert_pass_all_zero(&run, &t);
    assert_eq!(of(&t, "client", "send"), ["\\x00\\x00\\x00\\x12SECR"]);
}

#[test]
fn a_user_switch_without_root_is_explained() {
    if !is_root() {
        eprintln!("skipped: needs root to become nobody first");
        return;
    }
    let sb = Sandbox::new();
    // bop itself runs as nobody here, and the node asks for root
    std::fs::set_permissions(sb.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let cluster = sb.write(
        "root.toml",
        "[[node]]\nname = \"n\"\ncmd = \"true\"\ncwd = \"/\"\nuser = \"root\"\n",
    );
    std::fs::set_permissions(&cluster, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let nobody = nix::unistd::User::from_name("nobody")
        .expect("lookup")
        .expect("nobody");
    let mut cmd = std::process::Command::new("setpriv");
    cmd.arg(format!("--reuid={}", nobody.uid))
        .arg(format!("--regid={}", nobody.gid))
        .arg("--clear-groups")
        .arg(bop_exe())
        .args(["run", "-q", "--trace"])
        .arg(sb.join("t.jsonl"))
        .arg(&cluster);
    let run = sb.run_command("asnobody", cmd, None);
    run.expect_code(2);
    assert!(
        run.stderr.contains(&format!(
            "node n: cannot run it as user \"root\" (uid 0): switching users needs root, and bop runs as uid {}",
            nobody.uid
        )),
        "{}",
        run.diag()
    );
}
