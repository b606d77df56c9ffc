//! A real system under bop: the three-node RabbitMQ cluster of `systems/rabbitmq` (Erlang/OTP:
//! the BEAM VM, its port programs and the shell scripts that start it), its port mapper (epmd)
//! and a Python client that publishes to a quorum queue through r1 and consumes through r2;
//! run without and then with its fault scenario (`systems/rabbitmq/faults`: r3 crashes in the
//! middle of the publishing).
//!
//! The cluster file uses fixed ports (7670-7676), so both runs happen one after the other in
//! this one test. Without rabbitmq-server or python3-pika the test is skipped, except under CI
//! (env `CI`), which installs them (.ci/run).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use bop_trace::{Event, Trace};
use common::*;

/// The longest one bop run of the cluster may take here: a node boots in 10-20 s under bop on
/// an idle 2-CPU machine, much longer when the whole suite runs beside it; within the cluster
/// file's own `[run] timeout` of 240 s.
const RUN_LIMIT_RABBITMQ: Duration = Duration::from_secs(300);

/// The scenario's one rule (systems/rabbitmq/faults).
const RULE: &str = "crash r3 after client.send(r1)#40";

/// What the client prints once the consumer got every message, in order.
const CLIENT_DONE: &str = "client: received msg 1..msg 30 in order through r2";

const SERVERS: [&str; 3] = ["r1", "r2", "r3"];

fn system_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../systems/rabbitmq")
}

/// Whether rabbitmq-server and the client's AMQP library are installed.
fn installed() -> bool {
    Path::new("/usr/lib/rabbitmq/bin/rabbitmq-server").exists()
        && Command::new("/usr/bin/python3")
            .args(["-c", "import pika"])
            .output()
            .is_ok_and(|o| o.status.success())
}

/// No process of an earlier run (ours or anyone's) holds the cluster's ports.
fn assert_ports_free() {
    for port in 7670..=7676 {
        assert!(
            std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(),
            "port {port} of systems/rabbitmq is in use: is a RabbitMQ node or epmd still running \
             (pgrep -af 'beam|epmd')?"
        );
    }
}

/// `bop run systems/rabbitmq/cluster.toml --trace SANDBOX/LABEL.jsonl -q [EXTRA…]`; returns
/// the run and how long it took.
fn run_rabbitmq(sb: &Sandbox, label: &str, extra: &[String]) -> (BopRun, Duration) {
    let trace = sb.join(&format!("{label}.jsonl"));
    let mut cmd = Command::new(bop_exe());
    cmd.arg("run")
        .arg(system_dir().join("cluster.toml"))
        .arg("--trace")
        .arg(&trace)
        .arg("-q")
        .args(extra);
    let started = Instant::now();
    let (child, out, err) = sb.spawn_command(label, &mut cmd);
    let status = wait_limit(child, RUN_LIMIT_RABBITMQ, label);
    let took = started.elapsed();
    (BopRun::collect(status, &out, &err, Some(trace)), took)
}

/// The programs a node's processes ran: the node's command and every `exec` event's argv[0].
fn programs(t: &Trace, node: &str) -> Vec<String> {
    events_of(t, node)
        .filter(|e| matches!(&*e.kind, "spawn" | "exec"))
        .filter_map(|e| e.argv.as_ref().and_then(|a| a.first().cloned()))
        .collect()
}

/// A node's log beside the trace, as text.
fn log_of(run: &BopRun, node: &str, stream: &str) -> String {
    std::fs::read_to_string(node_log(run, node, stream)).unwrap_or_default()
}

/// The checks both runs must pass; returns the trace and its `bop stats --json`.
fn assert_good_run(run: &BopRun) -> (Trace, serde_json::Value) {
    let diag = run.diag();
    run.expect_code(0);
    let t = run.trace();
    let f = t.footer.as_ref().expect("footer");
    assert_eq!(f.verdict, "pass", "verdict\n{diag}");
    // every thread and process of every node announced before it acts, and ending in an exit
    assert_complete(&t, &diag);
    assert_stats_match_footer(run);
    let client = node_outcome(f, "client");
    assert_eq!(client.exit, Some(0), "the client exits 0 by itself\n{diag}");
    assert!(
        !client.stopped_by_bop,
        "the client was stopped by bop\n{diag}"
    );
    let out = log_of(run, "client", "stdout");
    assert!(
        out.contains(CLIENT_DONE),
        "the consumer did not get every message in order:\n{out}\n{}\n{diag}",
        log_of(run, "client", "stderr")
    );

    // each server is a process tree, all of it followed: the start-up scripts, the Erlang
    // VM (beam.smp, several threads: its schedulers and async pool) and its port helper
    for n in SERVERS {
        let progs = programs(&t, n);
        for want in ["beam.smp", "erl_child_setup"] {
            assert!(
                progs.iter().any(|p| p.ends_with(want)),
                "{n}: no process ran {want}: {progs:?}\n{diag}"
            );
        }
        assert!(
            pids_of(&t, n).len() > 3,
            "{n}: the scripts, the VM and its helpers are several processes\n{diag}"
        );
        assert!(
            tids_of(&t, n).len() > 20,
            "{n}: the VM runs many threads\n{diag}"
        );
    }

    let stats = stats_json(run.trace_path.as_ref().expect("trace path"));
    for key in ["unmatched_bytes", "external_bytes", "external_connections"] {
        assert_eq!(stats[key], 0, "{key}: {stats:#}\n{diag}");
    }
    let checked = assert_received_bytes_attributed(&t, &diag);
    assert!(checked > 0, "no bytes received at all\n{diag}");
    // the client's two AMQP connections, and the cluster: Erlang distribution between every
    // two servers, and every server registered with epmd
    for (from, to) in [
        ("client", "r1"),
        ("r1", "client"),
        ("client", "r2"),
        ("r2", "client"),
        ("r1", "r2"),
        ("r2", "r1"),
        ("r1", "r3"),
        ("r3", "r1"),
        ("r2", "r3"),
        ("r3", "r2"),
        ("r1", "epmd"),
        ("r2", "epmd"),
        ("r3", "epmd"),
    ] {
        assert!(
            stats_pair(&stats, from, to).0 > 0,
            "no messages {from} -> {to}: {stats:#}\n{diag}"
        );
    }
    (t, stats)
}

fn id(e: &Event) -> u64 {
    e.id.unwrap_or(u64::MAX)
}

#[test]
fn rabbitmq_cluster_keeps_a_quorum_queue_when_a_follower_crashes() {
    if !installed() {
        assert!(
            std::env::var_os("CI").is_none(),
            "no rabbitmq-server or python3-pika: .ci/run should have installed them"
        );
        eprintln!("skipped: apt-get install rabbitmq-server python3-pika");
        return;
    }
    let sb = Sandbox::new();

    // 1. Without faults.
    assert_ports_free();
    let (run, took) = run_rabbitmq(&sb, "rabbitmq", &[]);
    eprintln!("rabbitmq under bop: {took:?}");
    let (t, _) = assert_good_run(&run);
    let diag = run.diag();
    assert!(
        fault_events(&t, "").is_empty(),
        "fault events without faults\n{diag}"
    );
    for n in SERVERS {
        assert!(
            node_outcome(t.footer.as_ref().expect("footer"), n).stopped_by_bop,
            "{n} ran until bop stopped it\n{diag}"
        );
    }

    // 2. With the fault scenario: r3 crashes once the client has sent r1 its 40th message.
    assert_ports_free();
    let faults = system_dir().join("faults");
    let (run, took) = run_rabbitmq(
        &sb,
        "rabbitmq-faults",
        &["--faults".into(), faults.display().to_string()],
    );
    eprintln!("rabbitmq under bop with faults: {took:?}");
    let (t, stats) = assert_good_run(&run);
    let diag = run.diag();
    let footer = t.footer.as_ref().expect("footer");
    assert_eq!(footer.faults.len(), 1, "one rule: {:?}", footer.faults);
    assert_eq!(footer.faults[0].rule, RULE);
    assert_eq!(footer.faults[0].fired, 1, "the crash fired once\n{diag}");
    let crashes = fault_events(&t, "crash");
    assert_eq!(crashes.len(), 1, "one crash event: {crashes:?}\n{diag}");
    let crash = crashes[0];
    assert!(
        crash
            .detail
            .as_deref()
            .is_some_and(|d| d.starts_with(RULE) && d.contains("[crash r3]")),
        "the crash event names its rule and r3: {crash:?}"
    );
    let r3 = node_outcome(footer, "r3");
    assert_eq!(r3.signal.as_deref(), Some("SIGKILL"), "{diag}");
    assert!(!r3.stopped_by_bop, "a crash is not bop stopping a daemon");

    // where it was asked: right after the client's 40th send to r1
    let to_r1 = calls_between(&t, "client", "send", "r1");
    assert!(
        to_r1.len() > 40,
        "the client sent r1 {} messages: the 40th is in the middle of the publishing\n{diag}",
        to_r1.len()
    );
    let trigger = to_r1[39];
    assert!(
        id(crash) > id(trigger) && id(crash) < id(to_r1[40]),
        "the crash (#{}) comes between the client's 40th send to r1 (#{}) and its 41st (#{})\n{diag}",
        id(crash),
        id(trigger),
        id(to_r1[40])
    );
    // after the crash r3 does nothing but die: no event of r3 but its tasks' exits happened
    // after the crash (a call another of its threads completed as the crash was decided may
    // still be recorded after it, concurrent with it: its clock does not include the crash)
    let (crash_lane, crash_seq) = (crash.lane.expect("lane"), crash.seq);
    let after: Vec<&Event> = events_of(&t, "r3")
        .filter(|e| e.kind != "exit")
        .filter(|e| vc_of(e).get(&crash_lane).is_some_and(|&n| n > crash_seq))
        .collect();
    assert!(
        after.is_empty(),
        "r3 acted after its crash: {after:?}\n{diag}"
    );
    let exits: Vec<&Event> = events_of(&t, "r3")
        .filter(|e| e.kind == "exit" && id(e) > id(crash))
        .collect();
    assert!(
        !exits.is_empty() && exits.iter().all(|e| e.signal.as_deref() == Some("SIGKILL")),
        "every task of r3 alive at the crash was SIGKILLed: {exits:?}\n{diag}"
    );
    // the rest of the publishing went on through r1 and r2 alone: after the crash, r2 still
    // received r1's messages (the queue's Raft log) and r1 the client's publishes
    let received_after = |node: &str, from: &str| {
        events_of(&t, node)
            .filter(|e| id(e) > id(crash) && e.op.as_deref() == Some("recv"))
            .flat_map(|e| e.from.iter().flatten())
            .filter(|ed| ed.kind == "msg")
            .filter(|ed| {
                t.events
                    .get(ed.id as usize)
                    .is_some_and(|src| src.node == from)
            })
            .count()
    };
    assert!(
        received_after("r2", "r1") > 0,
        "r2 received nothing from r1 after r3's crash: {stats:#}\n{diag}"
    );
    assert!(
        received_after("r1", "client") > 0,
        "r1 received nothing from the client after r3's crash\n{diag}"
    );
}
