//! A real system under bop: the three-server nats-server cluster of `systems/nats`, with a
//! subscriber on n1 and a publisher on n3 (`tb-nats`, testbeds/nats.rs), run without and then
//! with its fault scenario (`systems/nats/faults`).
//!
//! The cluster file uses fixed ports (7531–7536), so both runs happen one after the other in
//! this one test. Without nats-server the test is skipped, except under CI (env `CI`), which
//! installs it (.ci/run).

mod common;

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use bop_trace::{Event, Trace};
use common::*;

/// The longest one bop run of the cluster may take here. Unloaded it takes well under a
/// second (2 s with the faults' delays), but nats-server's start-up under ptrace slows down a
/// lot when the CPUs are busy (as when the whole suite runs in parallel): more than
/// [`RUN_LIMIT`], within the cluster file's own `[run] timeout` of 90 s.
const RUN_LIMIT_NATS: Duration = Duration::from_secs(120);

/// What the subscriber prints once it has every message, in order.
const SUB_DONE: &str = "tb-nats sub: received msg 1..msg 10 in order on bop.test";

fn system_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../systems/nats")
}

/// Whether `prog` is a program in PATH.
fn in_path(prog: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| {
        std::env::split_paths(&p).any(|d| {
            let f = d.join(prog);
            std::fs::metadata(&f).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

/// `bop run systems/nats/cluster.toml --trace SANDBOX/LABEL.jsonl -q [EXTRA…]`, with the
/// directory of tb-nats first in PATH. Returns the run and how long it took.
fn run_nats(sb: &Sandbox, label: &str, extra: &[String]) -> (BopRun, Duration) {
    let path = path_with_dir_of(env!("CARGO_BIN_EXE_tb-nats"));
    let trace = sb.join(&format!("{label}.jsonl"));
    let mut cmd = Command::new(bop_exe());
    cmd.arg("run")
        .arg(system_dir().join("cluster.toml"))
        .arg("--trace")
        .arg(&trace)
        .arg("-q")
        .args(extra)
        .env("PATH", path);
    let started = Instant::now();
    let (child, out, err) = sb.spawn_command(label, &mut cmd);
    let status = wait_limit(child, RUN_LIMIT_NATS, label);
    let took = started.elapsed();
    (BopRun::collect(status, &out, &err, Some(trace)), took)
}

/// `bop stats --json` of the run's trace.
fn stats_json(run: &BopRun) -> serde_json::Value {
    let trace = run.trace_path.as_ref().expect("trace path");
    let out = Command::new(bop_exe())
        .arg("stats")
        .arg(trace)
        .arg("--json")
        .output()
        .expect("run bop stats");
    assert_eq!(
        out.status.code(),
        Some(0),
        "bop stats failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("bop stats --json prints JSON")
}

fn is_consuming_recv(e: &Event) -> bool {
    e.kind == "syscall"
        && e.op.as_deref() == Some("recv")
        && e.errno.is_none()
        && e.flags.unwrap_or(0) & 2 == 0 // not MSG_PEEK
}

/// Every byte received on an inet or unix socket or a pipe comes with `msg` edges from traced sends of exactly
/// that many bytes (and no `unmatched`). Returns the bytes so attributed.
fn assert_every_byte_attributed(t: &Trace, diag: &str) -> u64 {
    let by_id: HashMap<u64, &Event> = t
        .events
        .iter()
        .filter_map(|e| e.id.map(|id| (id, e)))
        .collect();
    let mut total = 0;
    for e in t.events.iter().filter(|e| is_consuming_recv(e)) {
        let bytes = e.bytes.unwrap_or(0);
        // sockets between processes (not netlink: Go asks the kernel for the interfaces) and
        // pipes (the Go runtime's own wake-up pipe too)
        let between = match &e.sock {
            Some(s) => matches!(&*s.family, "inet" | "inet6" | "unix"),
            None => e.target.as_deref().is_some_and(|t| t.starts_with("pipe:")),
        };
        if bytes == 0 || !between {
            continue;
        }
        assert_eq!(
            e.unmatched, None,
            "a receive of {bytes} bytes with unmatched bytes: {e:?}\n{diag}"
        );
        let mut attributed = 0;
        for edge in e.from.iter().flatten().filter(|ed| ed.kind == "msg") {
            let src = by_id
                .get(&edge.id)
                .unwrap_or_else(|| panic!("msg edge to a missing event {}: {e:?}", edge.id));
            assert_eq!(
                src.op.as_deref(),
                Some("send"),
                "a msg edge from something other than a send: {src:?} -> {e:?}"
            );
            attributed += edge.bytes.unwrap_or(0);
        }
        assert_eq!(
            attributed, bytes,
            "a receive of {bytes} bytes has msg edges for {attributed}: {e:?}\n{diag}"
        );
        total += bytes;
    }
    total
}

/// The checks both runs must pass; returns the trace and its `bop stats --json`.
fn assert_good_run(run: &BopRun) -> (Trace, serde_json::Value) {
    let diag = run.diag();
    run.expect_code(0);
    let t = run.trace();
    let f = t.footer.as_ref().expect("footer");
    assert_eq!(f.verdict, "pass", "verdict\n{diag}");
    assert_complete(&t, &diag);
    assert_stats_match_footer(run);
    for n in ["sub", "pub"] {
        let o = node_outcome(f, n);
        assert_eq!(o.exit, Some(0), "{n} exits 0 by itself\n{diag}");
        assert!(!o.stopped_by_bop, "{n} was stopped by bop\n{diag}");
    }
    for n in ["n1", "n2", "n3"] {
        assert_eq!(
            pids_of(&t, n).len(),
            1,
            "{n}: one nats-server process\n{diag}"
        );
        assert!(
            tids_of(&t, n).len() > 2,
            "{n}: nats-server runs several threads\n{diag}"
        );
    }
    let stats = stats_json(run);
    assert_eq!(
        stats["unmatched_bytes"], 0,
        "unmatched bytes: {stats:#}\n{diag}"
    );
    assert_eq!(
        stats["external_bytes"], 0,
        "bytes from outside: {stats:#}\n{diag}"
    );
    assert_eq!(
        stats["external_connections"], 0,
        "connections from outside: {stats:#}\n{diag}"
    );
    let attributed = assert_every_byte_attributed(&t, &diag);
    assert!(attributed > 0, "no bytes received at all\n{diag}");
    // the path of the messages: pub -> n3 -> (route) -> n1 -> sub
    for (from, to) in [
        ("pub", "n3"),
        ("n3", "n1"),
        ("n1", "sub"),
        ("sub", "n1"),
        ("n3", "pub"),
    ] {
        let (messages, bytes) = stats_pair(&stats, from, to);
        assert!(
            messages > 0 && bytes > 0,
            "no messages {from} -> {to}: {stats:#}\n{diag}"
        );
    }
    let sub_log = std::fs::read_to_string(node_log(run, "sub", "stdout")).unwrap_or_default();
    assert!(
        sub_log.contains(SUB_DONE),
        "the subscriber did not get every message:\n{sub_log}\n{diag}"
    );
    (t, stats)
}

#[test]
fn nats_cluster_passes_with_and_without_its_faults() {
    if !in_path("nats-server") {
        assert!(
            std::env::var_os("CI").is_none(),
            "no nats-server: .ci/run should have installed it"
        );
        eprintln!("skipped: nats-server is not installed (apt-get install nats-server)");
        return;
    }
    let sb = Sandbox::new();

    // 1. Without faults.
    let (run, took) = run_nats(&sb, "nats", &[]);
    eprintln!("nats under bop: {took:?}");
    let (t, _) = assert_good_run(&run);
    let diag = run.diag();
    assert!(
        !t.events.iter().any(|e| e.kind == "fault"),
        "fault events without faults\n{diag}"
    );

    // 2. With the fault scenario: n2 partitioned from n1 and n3, the publisher's link delayed.
    let faults = system_dir().join("faults");
    let (run, took) = run_nats(
        &sb,
        "nats-faults",
        &["--faults".into(), faults.display().to_string()],
    );
    eprintln!("nats under bop with faults: {took:?}");
    let (t, _) = assert_good_run(&run);
    let diag = run.diag();
    let faults: Vec<&Event> = t.events.iter().filter(|e| e.kind == "fault").collect();
    let fired = |op: &str| {
        faults
            .iter()
            .filter(|e| e.op.as_deref() == Some(op))
            .count()
    };
    assert!(fired("partition") > 0, "the partition never fired\n{diag}");
    // every write of the publisher to n3 was delayed
    let pub_sends = t
        .events
        .iter()
        .filter(|e| e.node == "pub" && e.kind == "syscall" && e.op.as_deref() == Some("send"))
        .count();
    assert!(pub_sends > 0, "the publisher sent nothing\n{diag}");
    assert_eq!(
        fired("delay"),
        pub_sends,
        "each of the publisher's sends to n3 is delayed once\n{diag}"
    );
    // the partition cut n2 off: a message (or connection) between n2 and n1 or n3 was lost.
    // The detail ends in what the injection did, e.g. "[partition n1 n2]" (a message of n1 to
    // n2 lost), "[partition n2 n3]", "[timeout n1 n2]" (a connect of n1 to n2 timed out).
    let touches_n2 = |e: &&&Event| {
        e.detail
            .as_deref()
            .and_then(|d| d.rsplit_once('['))
            .is_some_and(|(_, what)| {
                what.trim_end_matches(']')
                    .split_whitespace()
                    .skip(1)
                    .any(|n| n == "n2")
            })
    };
    assert!(
        faults.iter().any(|e| touches_n2(&e)),
        "nothing between n2 and the others was lost: {faults:#?}\n{diag}"
    );
}
