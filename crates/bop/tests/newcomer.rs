//! What a newcomer sees: the demo, hints on mistyped options, the run summary's words.

mod common;

use std::process::Command;

use common::*;

/// `bop demo` works when the echo port is taken by another program, and every "What next"
/// command it prints runs as printed, though bop was called by its full path and is not on PATH.
#[test]
fn demo_survives_a_busy_port_and_its_hints_run_as_printed() {
    let sb = Sandbox::new();
    // the demo's port is the one of testbeds/echo.toml, which the docs' examples run
    let _ports = fixed_ports(true);
    // hold the demo's port (if another program already holds it, it is busy all the same)
    let _held = std::net::TcpListener::bind("127.0.0.1:7101");
    let mut cmd = Command::new(bop_exe());
    cmd.arg("demo").env("PATH", "/usr/bin:/bin");
    let run = sb.run_command("demo", cmd, None);
    run.expect_code(0);
    let out = run.output();
    assert!(
        out.contains("port 7101 is in use by another program"),
        "the demo says it moved to another port:\n{}",
        run.diag()
    );
    let hints: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("What next:"))
        .skip(1)
        .filter_map(|l| l.trim().split("   #").next())
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(hints.len(), 4, "four hints:\n{}", run.diag());
    for (i, hint) in hints.iter().enumerate() {
        let mut sh = Command::new("sh");
        sh.arg("-c").arg(hint).env("PATH", "/usr/bin:/bin");
        let r = sb.run_command(&format!("hint{i}"), sh, None);
        assert_eq!(
            r.code(),
            Some(0),
            "the hint `{hint}` runs as printed:\n{}",
            r.diag()
        );
    }
}

/// `--capture-payload 64` (a space, not `=`) says how to write it, whatever follows it.
#[test]
fn capture_payload_with_a_space_says_to_join_the_value() {
    let sb = Sandbox::new();
    for args in [
        vec!["run", "--capture-payload", "64", "--", "true"],
        vec!["run", "echo.toml", "--capture-payload", "64"],
    ] {
        let args: Vec<String> = args.into_iter().map(String::from).collect();
        let run = sb.bop("payload", &args, None);
        run.expect_code(2);
        assert!(
            run.stderr.contains("write `--capture-payload=64`"),
            "the error says how to write it:\n{}",
            run.diag()
        );
    }
    // after `--` the words are the program's own
    let args: Vec<String> = [
        "run",
        "-q",
        "--",
        "sh",
        "-c",
        "exit 0",
        "--capture-payload",
        "64",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    sb.bop("payload-after", &args, None).expect_code(0);
}

/// `bop run --help` lists the exit codes.
#[test]
fn run_help_lists_the_exit_codes() {
    let sb = Sandbox::new();
    let run = sb.bop("help", &["run".into(), "--help".into()], None);
    run.expect_code(0);
    for code in [
        "0 the run passed",
        "1 it failed or hung",
        "2 a usage error",
        "130 interrupted",
    ] {
        assert!(
            run.stdout.contains(code),
            "help says `{code}`:\n{}",
            run.diag()
        );
    }
}

/// A rule that fired says what it did; one that never fired says why.
#[test]
fn fault_summary_says_what_each_rule_did_and_why_not() {
    let sb = Sandbox::new();
    let port = free_port();
    let cluster = sb.write(
        "echo.toml",
        &format!(
            "[[node]]\nname = \"server\"\ncmd = \"{tb} server {port} 2\"\nready = \"tcp:127.0.0.1:{port}\"\n\
             [[node]]\nname = \"client1\"\ncmd = \"{tb} client {port} 1 5\"\n\
             [[node]]\nname = \"client2\"\ncmd = \"{tb} client {port} 2 5\"\n[run]\ntimeout = \"20s\"\n",
            tb = tb("tb-echo")
        ),
    );
    let args: Vec<String> = [
        "run",
        &cluster.display().to_string(),
        "-q",
        "--trace",
        "t.jsonl",
        "--fault",
        "partition {client1} | {server} after client1.send(server)#1",
        "--fault",
        "crash client2 at client2.send(server)#9",
        "--fault",
        "restart server after 5s",
        "--fault",
        "drop client2 -> server after 1h",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    let run = sb.bop("faults", &args, Some(sb.join("t.jsonl")));
    let out = run.output();
    let line = |rule: &str| {
        out.lines()
            .find(|l| l.contains(&format!("fault: {rule}  — ")))
            .unwrap_or_else(|| panic!("a summary line for {rule}:\n{}", run.diag()))
            .to_string()
    };
    let p = line("partition {client1} | {server} after client1.send(server)#1");
    assert!(
        p.ends_with("fired 2×: came into force, lost 1 message"),
        "{p}\n{}",
        run.diag()
    );
    // how many messages client2 got to send before the server died depends on timing
    let c = line("crash client2 at client2.send(server)#9");
    assert!(
        c.ends_with("never fired (its trigger client2.send(server)#9 never happened)")
            || c.contains(
                "never fired (its trigger client2.send(server)#9 needs 9 matching events; the run had "
            ),
        "{c}\n{}",
        run.diag()
    );
    assert!(line("restart server after 5s")
        .ends_with("never fired (server never crashed, so there was nothing to restart)"));
    assert!(line("drop client2 -> server after 1h").contains("never fired (the run ended at "));
    // and the trace's footer holds the same
    let f = run.footer();
    assert_eq!(f.faults[0].acts.get("start"), Some(&1));
    assert_eq!(f.faults[0].acts.get("partition"), Some(&1));
    assert!(f.faults[1]
        .note
        .as_deref()
        .is_some_and(|n| n.contains("needs 9")));
}

/// With `-q`, a node that fails the run shows its last line on stderr; the summary's columns
/// stay aligned with a long exit ("SIGTERM (stopped)").
#[test]
fn quiet_failure_shows_the_last_stderr_line_and_columns_align() {
    let sb = Sandbox::new();
    let run = sb.run_cluster(
        "fail",
        "[[node]]\nname = \"db\"\ncmd = \"sh -c 'echo starting; echo fatal: cannot open /nonexistent/db >&2; sleep 2; exit 3'\"\ndaemon = true\n\
         [[node]]\nname = \"sleeper\"\ncmd = \"sleep 30\"\ndaemon = true\n\
         [[node]]\nname = \"client\"\ncmd = \"sleep 3\"\n",
    );
    run.expect_code(1);
    assert!(
        run.stdout
            .contains("db's last line on stderr: fatal: cannot open /nonexistent/db"),
        "{}",
        run.diag()
    );
    let lines: Vec<&str> = run.stdout.lines().collect();
    let header = lines
        .iter()
        .position(|l| l.trim_start().starts_with("node ") && l.contains("events"))
        .expect("the table header");
    let end = lines[header].find("events").expect("events column") + "events".len();
    let rows = &lines[header + 1..header + 4];
    assert!(
        rows.iter().any(|r| r.contains("SIGTERM (stopped)")),
        "a daemon stopped by bop:\n{}",
        run.diag()
    );
    for r in rows {
        let b = r.as_bytes();
        assert!(
            b.len() > end && b[end - 1].is_ascii_digit() && b[end] == b' ',
            "the events column is aligned in `{r}`:\n{}",
            run.diag()
        );
    }
}

/// A failing node's last line on stderr is shown with its control characters escaped: its
/// escape sequences (clear the screen, set the terminal's title) never reach the terminal.
#[test]
fn last_words_show_escape_sequences_as_text() {
    let sb = Sandbox::new();
    let run = sb.run_cluster(
        "esc",
        r#"[[node]]
name = "n"
cmd = '''sh -c 'printf "boom \033[2J\033]0;pwned\007 end\n" >&2; exit 4' '''
"#,
    );
    run.expect_code(1);
    assert!(
        run.stdout
            .contains(r"n's last line on stderr: boom \x1b[2J\x1b]0;pwned\x07 end"),
        "{}",
        run.diag()
    );
    assert!(
        !run.output().contains(['\x1b', '\x07']),
        "no control character printed:\n{}",
        run.diag()
    );
}

/// Ctrl-C ends a command that only reads and prints (stats, verify, diff, faults check) while
/// it reads, as it ends any program: bop blocks the signals for its tracer, and these commands
/// must not inherit that. Each reads a FIFO the test keeps open, so the read never ends by
/// itself.
#[test]
fn ctrl_c_ends_a_reading_command_at_once() {
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::process::ExitStatusExt;
    let sb = Sandbox::new();
    let header = r#"{"type":"header","format":2,"bop_version":"0.1.0","start_unix_ms":0,"backend":"ptrace+seccomp","nodes":[{"name":"a","cmd":"a","daemon":false}]}"#;
    for (args, first) in [
        (vec!["stats", "in"], header),
        (vec!["verify", "in"], header),
        (vec!["diff", "in", "in"], header),
        (vec!["faults", "check", "in"], "crash a at a.recv(b)#2"),
    ] {
        let fifo = sb.join("in");
        let _ = std::fs::remove_file(&fifo);
        let c = std::ffi::CString::new(fifo.display().to_string()).expect("path");
        // SAFETY: mkfifo on a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
        let label = args.join("-");
        let mut cmd = Command::new(bop_exe());
        cmd.args(&args);
        let (child, out, err) = sb.spawn_command(&label, &mut cmd);
        // open the FIFO's write end once bop has opened its read end (ENXIO until then)
        let deadline = std::time::Instant::now() + RUN_LIMIT;
        let mut writer = loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&fifo)
            {
                Ok(w) => break w,
                Err(_) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(10))
                }
                Err(e) => panic!("{label}: bop never opened the FIFO: {e}"),
            }
        };
        std::io::Write::write_all(&mut writer, format!("{first}\n").as_bytes()).expect("write");
        std::thread::sleep(std::time::Duration::from_millis(100));
        // SAFETY: signalling the bop we started.
        assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
        // the write end stays open: the read can only end by the signal
        let status = wait_limit(child, std::time::Duration::from_secs(10), &label);
        drop(writer);
        let run = BopRun::collect(status, &out, &err, None);
        assert!(
            run.status.signal() == Some(libc::SIGINT) || run.code() == Some(130),
            "{label}: ended by SIGINT:\n{}",
            run.diag()
        );
    }
}

/// Counts of one are singular.
#[test]
fn a_count_of_one_is_singular() {
    let sb = Sandbox::new();
    let f = sb.write("one.faults", "crash a at a.recv(b)#2\n");
    let run = sb.bop(
        "check",
        &["faults".into(), "check".into(), f.display().to_string()],
        None,
    );
    run.expect_code(0);
    assert!(run.stdout.contains(": 1 rule, all valid"), "{}", run.diag());
}

/// `bop stats t.jsonl | head -1`: a reader that goes away ends bop quietly (SIGPIPE, as Unix
/// tools do), not with a panic and a backtrace.
#[test]
fn a_closed_pipe_ends_a_report_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let sb = Sandbox::new();
    let run = sb.bop(
        "run",
        &[
            "run".into(),
            "-q".into(),
            "--trace".into(),
            "t.jsonl".into(),
            "--".into(),
            "true".into(),
        ],
        None,
    );
    run.expect_code(0);
    for args in [
        vec!["stats", "t.jsonl"],
        vec!["export", "t.jsonl", "--format", "json", "-o", "-"],
        // a document is written beside the trace, and its path printed
        vec!["export", "t.jsonl", "--format", "html"],
        vec!["verify", "t.jsonl"],
    ] {
        // a pipe whose reader is gone before bop writes
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let out = Command::new(bop_exe())
            .args(&args)
            .current_dir(sb.path())
            .stdout(writer)
            .output()
            .expect("run bop");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        if args[0] == "export" {
            // export feeds Graphviz through a pipe, so it keeps SIGPIPE ignored and stops
            // writing at a closed stdout itself
            assert!(out.status.success(), "{args:?}: {stderr}");
            if args.contains(&"html") {
                assert!(sb.join("t.html").is_file(), "{args:?}: the file is written");
            }
        } else {
            assert_eq!(
                out.status.signal(),
                Some(13),
                "{args:?}: killed by SIGPIPE: {stderr}"
            );
        }
    }
}
