//! ZooKeeper under bop (systems/zookeeper): a three-server ensemble (zk1, zk2, zk3) and a
//! client workload that uses zkCli, run without faults and then with systems/zookeeper/faults
//! (the leader, zk2, crashes just after the client's first message to it; zk1 and zk3 elect a
//! new leader and the client's next write and read succeed). See systems/zookeeper/README.md.
//!
//! The system uses fixed ports (127.0.0.1:7641-7649), so both runs are in this one test, one
//! after the other. Needs Debian's zookeeper package (a JVM and /usr/share/java/zookeeper.jar):
//! without it the test is skipped, unless the environment variable CI is set (CI installs it),
//! where it fails.

mod system;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use bop_syscalls::SockAddr;
use bop_trace::Event;
use system::*;

/// The system under test; one bop run of it may take at most `run_limit` (the cluster file's
/// own timeout is 180 s).
const SYSTEM: System = System {
    name: "zookeeper",
    run_limit: Duration::from_secs(240),
    ports: &PORTS,
};

const PORTS: [u16; 9] = [7641, 7642, 7643, 7644, 7645, 7646, 7647, 7648, 7649];
const SERVERS: [&str; 3] = ["zk1", "zk2", "zk3"];
/// The client ports of zk1, zk2 (the first leader) and zk3.
const ZK1: &str = "127.0.0.1:7641";
const ZK2: &str = "127.0.0.1:7642";
const ZK3: &str = "127.0.0.1:7643";
/// The quorum ports: only a leader listens on its own, its followers connect to it.
const QUORUM: [&str; 3] = ["127.0.0.1:7644", "127.0.0.1:7645", "127.0.0.1:7646"];
/// The leader-election ports.
const ELECTION: [&str; 3] = ["127.0.0.1:7647", "127.0.0.1:7648", "127.0.0.1:7649"];
const RULE: &str = "crash zk2 after client.send(zk2)#1";
/// MSG_PEEK: a receive that leaves the data in the socket (its bytes are received again).
const MSG_PEEK: i64 = 2;
/// What the package provides: the server and client classes, and the JVM to run them.
const ZOOKEEPER_JAR: &str = "/usr/share/java/zookeeper.jar";

/// What every run must show, with or without faults: it passed (the client's checks and the
/// [check] of the cluster file), no byte is unaccounted for, every receive between traced
/// nodes is attributed to the sends it came from, and every process and thread of every node
/// (dozens per JVM) was followed from its creation to its end.
fn assert_common(run: &SystemRun) {
    let diag = run.diag();
    let label = &run.label;
    assert_eq!(run.code, Some(0), "{label}: bop run should exit 0\n{diag}");
    assert!(!run.trace.truncated, "{label}: truncated trace\n{diag}");
    let footer = run
        .trace
        .footer
        .as_ref()
        .unwrap_or_else(|| panic!("{label}: the trace has no footer\n{diag}"));
    assert_eq!(footer.verdict, "pass", "{label}: verdict\n{diag}");
    assert_eq!(
        footer.check_status,
        Some(0),
        "{label}: the [check] ran and passed\n{diag}"
    );
    let client = footer
        .nodes
        .iter()
        .find(|n| n.name == "client")
        .expect("client in the footer");
    assert_eq!(client.exit, Some(0), "{label}: the client's exit\n{diag}");
    assert_eq!(
        footer.events,
        run.trace.events.len() as u64,
        "{label}: footer events"
    );

    // bop stats: nothing unmatched, nothing from outside the system
    for key in [
        "unmatched_bytes",
        "unmatched_datagrams",
        "external_bytes",
        "external_connections",
    ] {
        assert_eq!(
            run.stats[key],
            serde_json::json!(0),
            "{label}: bop stats {key}\n{:#}\n{diag}",
            run.stats
        );
    }

    // every byte received on a connection between traced nodes (or on a pipe) comes from
    // traced sends: the receive's msg edges add up to its bytes, and nothing is unmatched.
    // (Addresses are compared as the kernel does: an IPv4-mapped IPv6 address is its IPv4
    // address.)
    let traced: BTreeSet<SockAddr> = run
        .trace
        .events
        .iter()
        .filter_map(|e| e.sock.as_ref()?.local.as_ref().map(canonical))
        .collect();
    let mut checked = 0;
    for e in &run.trace.events {
        if e.kind != "syscall" || e.op.as_deref() != Some("recv") || e.bytes.unwrap_or(0) == 0 {
            continue;
        }
        if e.flags.unwrap_or(0) & MSG_PEEK != 0 {
            continue;
        }
        let between_traced = match (&e.sock, &e.target) {
            (Some(s), _) => s
                .peer
                .as_ref()
                .is_some_and(|p| traced.contains(&canonical(p))),
            (None, Some(t)) => t.starts_with("pipe:"),
            _ => false,
        };
        if !between_traced {
            continue;
        }
        checked += 1;
        let attributed: u64 = e
            .from
            .iter()
            .flatten()
            .filter(|edge| edge.kind == "msg")
            .map(|edge| edge.bytes.unwrap_or(0))
            .sum();
        assert!(
            e.unmatched.is_none() && attributed == e.bytes.unwrap_or(0),
            "{label}: a receive of {} bytes with {attributed} bytes attributed by msg edges \
             (unmatched {:?}): {e:?}",
            e.bytes.unwrap_or(0),
            e.unmatched
        );
    }
    assert!(
        checked > 100,
        "{label}: only {checked} receives between traced nodes\n{diag}"
    );

    // every pid and tid is introduced (spawn, fork, thread) before its other events, and ends
    // with an exit event: the JVMs' threads too, all of them
    let mut introduced: BTreeSet<i32> = BTreeSet::new();
    let mut exited: BTreeSet<i32> = BTreeSet::new();
    for e in &run.trace.events {
        if e.kind == "spawn" {
            introduced.insert(e.tid);
        }
        assert!(
            introduced.contains(&e.pid) && introduced.contains(&e.tid),
            "{label}: pid {} / tid {} of node {} appears without a spawn, fork or thread \
             event before it: {e:?}",
            e.pid,
            e.tid,
            e.node
        );
        assert!(
            !exited.contains(&e.tid),
            "{label}: an event of tid {} after its exit: {e:?}",
            e.tid
        );
        match &*e.kind {
            "fork" | "thread" => {
                introduced.insert(e.other.expect("fork/thread events name the new task"));
            }
            "exit" => {
                exited.insert(e.tid);
            }
            _ => {}
        }
    }
    let all: BTreeSet<i32> = run.trace.events.iter().map(|e| e.tid).collect();
    let no_exit: Vec<&i32> = all.difference(&exited).collect();
    assert!(
        no_exit.is_empty(),
        "{label}: tasks without an exit event: {no_exit:?}\n{diag}"
    );

    // each server is a JVM with dozens of threads (GC, compiler, NIO selectors and workers,
    // the election's and the quorum's senders and receivers, ...); each zkCli too
    for node in SERVERS.iter().copied().chain(["client"]) {
        let threads = run.node_events(node).filter(|e| e.kind == "thread").count();
        assert!(
            threads >= 20,
            "{label}: only {threads} threads of {node} were seen\n{diag}"
        );
    }

    // the election: every server connected to another's election port, and the servers
    // talked to each other
    for (s, addr) in SERVERS.iter().zip(ELECTION) {
        assert!(
            !connects_to(run, addr).is_empty(),
            "{label}: nobody connected to {s}'s election port {addr}\n{diag}"
        );
    }
    for a in SERVERS {
        for b in SERVERS {
            if a != b {
                let (_, msgs, _) = pair(run, a, b);
                assert!(msgs > 0, "{label}: {a} sent {b} nothing\n{:#}", run.stats);
            }
        }
    }
    // the first leader is zk2: zk1 and zk3 connected to its quorum port
    for f in ["zk1", "zk3"] {
        assert!(
            connects_to(run, QUORUM[1]).iter().any(|e| e.node == f),
            "{label}: {f} never connected to zk2's quorum port {}\n{diag}",
            QUORUM[1]
        );
    }
    // the client talked to zk1 and zk3 (the `srvr` polls, /bop/a, /bop/b)
    for addr in [ZK1, ZK3] {
        assert!(
            !sends_to(run, "client", addr).is_empty(),
            "{label}: the client sent nothing to {addr}\n{diag}"
        );
    }
}

#[test]
fn zookeeper_elects_a_new_leader_when_the_leader_crashes() {
    let missing: Vec<&str> = ["java"]
        .into_iter()
        .filter(|p| !in_path(p))
        .chain((!Path::new(ZOOKEEPER_JAR).is_file()).then_some(ZOOKEEPER_JAR))
        .collect();
    if !missing.is_empty() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but {missing:?} is not installed (.ci/run installs zookeeper)"
        );
        eprintln!("skipped: {missing:?} not installed (apt-get install zookeeper)");
        return;
    }
    let tmp = tempfile::Builder::new()
        .prefix("bop-zookeeper-")
        .tempdir()
        .expect("tempdir");

    // ------------------------------------------------------------------ without faults
    SYSTEM.assert_ports_free();
    let plain = SYSTEM.run(tmp.path(), "zookeeper", &[]);
    eprintln!("zookeeper without faults: {:?}", plain.took);
    assert_common(&plain);
    let diag = plain.diag();
    let footer = plain.trace.footer.as_ref().expect("footer");
    assert!(
        footer.faults.is_empty(),
        "no fault rules: {:?}",
        footer.faults
    );
    assert!(
        !plain.trace.events.iter().any(|e| e.kind == "fault"),
        "a fault event in a run without faults\n{diag}"
    );
    for n in &footer.nodes {
        assert_eq!(n.signal, None, "{} died of a signal\n{diag}", n.name);
    }
    // the client asked zk2 `srvr` and read /bop/b through it
    assert!(
        sends_to(&plain, "client", ZK2).len() >= 2,
        "the client's srvr and get /bop/b to zk2\n{diag}"
    );
    // one election only: no server ever connected to zk1's or zk3's quorum port (only a
    // leader listens there)
    for addr in [QUORUM[0], QUORUM[2]] {
        let c = connects_to(&plain, addr);
        assert!(
            c.is_empty(),
            "a connect to {addr}, the quorum port of a server that was not the leader: {c:?}\n\
             {diag}"
        );
    }

    // ------------------------------------------------------------------ with the faults file
    SYSTEM.assert_ports_free();
    let faults = SYSTEM.dir().join("faults");
    let faulty = SYSTEM.run(
        tmp.path(),
        "zookeeper-faults",
        &["--faults", faults.to_str().expect("utf-8 path")],
    );
    eprintln!("zookeeper with faults: {:?}", faulty.took);
    assert_common(&faulty);
    let diag = faulty.diag();
    let footer = faulty.trace.footer.as_ref().expect("footer");
    assert_eq!(footer.faults.len(), 1, "one rule: {:?}", footer.faults);
    assert_eq!(footer.faults[0].rule, RULE);
    assert_eq!(footer.faults[0].fired, 1, "the crash fired once\n{diag}");

    // the crash of zk2
    let crashes: Vec<&Event> = faulty
        .trace
        .events
        .iter()
        .filter(|e| e.kind == "fault" && e.op.as_deref() == Some("crash"))
        .collect();
    assert_eq!(crashes.len(), 1, "one crash event: {crashes:?}\n{diag}");
    let crash = crashes[0];
    let detail = crash.detail.as_deref().unwrap_or_default();
    assert!(
        detail.starts_with(RULE) && detail.contains("[crash zk2]"),
        "the crash event names its rule and zk2: {crash:?}"
    );
    let zk2 = footer
        .nodes
        .iter()
        .find(|n| n.name == "zk2")
        .expect("zk2 in the footer");
    assert_eq!(zk2.signal.as_deref(), Some("SIGKILL"), "{diag}");
    assert!(!zk2.stopped_by_bop, "a crash is not bop stopping a daemon");

    // the trigger: the client's first (and only) send to zk2, its `srvr`
    let triggers = sends_to(&faulty, "client", ZK2);
    assert_eq!(
        triggers.len(),
        1,
        "the client sends nothing to zk2 but the triggering srvr: {triggers:?}\n{diag}"
    );
    let trigger = triggers[0];
    assert_eq!(trigger.bytes, Some(4), "srvr is 4 bytes: {trigger:?}");
    // "after EVENT": the crash comes after the triggering send
    assert!(
        id(crash) > id(trigger),
        "the crash (id {}) should come after the client's triggering send (id {}) in the \
         trace: the rule is '{RULE}'\ncrash: {crash:?}\nsend: {trigger:?}",
        id(crash),
        id(trigger)
    );

    // after the crash zk2 does nothing but die: every one of its threads still alive (the
    // JVM's dozens) ends with SIGKILL
    // (its receipt of the triggering srvr itself may still show: it happens concurrently
    // with the crash's record — "after" = once the send completed; the message is delivered)
    let receipt_of_trigger = |e: &Event| {
        e.op.as_deref() == Some("recv")
            && e.from.as_ref().is_some_and(|f| {
                !f.is_empty()
                    && f.iter()
                        .all(|ed| ed.kind == "msg" && Some(ed.id) == trigger.id)
            })
    };
    let after: Vec<&Event> = faulty
        .node_events("zk2")
        .filter(|e| id(e) > id(crash) && e.kind != "exit" && !receipt_of_trigger(e))
        .collect();
    assert!(
        after.is_empty(),
        "zk2 acted after its crash: {after:?}\n{diag}"
    );
    let exits: Vec<&Event> = faulty
        .node_events("zk2")
        .filter(|e| e.kind == "exit" && id(e) > id(crash))
        .collect();
    assert!(
        exits.iter().all(|e| e.signal.as_deref() == Some("SIGKILL")),
        "every task of zk2 alive at the crash was SIGKILLed: {exits:?}"
    );
    assert!(
        exits.len() >= 20,
        "only {} tasks of zk2 (a JVM) died at the crash\n{diag}",
        exits.len()
    );
    let java = faulty
        .node_events("zk2")
        .find(|e| {
            e.kind == "exec"
                && e.argv
                    .as_ref()
                    .is_some_and(|a| a.first().map(String::as_str) == Some("java"))
        })
        .expect("zk2 execs java");
    assert!(
        exits.iter().any(|e| e.tid == java.pid),
        "zk2's JVM main thread died after the crash: {exits:?}\n{diag}"
    );

    // a new leader among the survivors: after the crash, one of them connected to the
    // other's quorum port
    let new_leader: Vec<&Event> = [QUORUM[0], QUORUM[2]]
        .iter()
        .flat_map(|a| connects_to(&faulty, a))
        .filter(|e| id(e) > id(crash) && (e.node == "zk1" || e.node == "zk3"))
        .collect();
    assert!(
        !new_leader.is_empty(),
        "neither zk1 nor zk3 connected to the other's quorum port after the crash (no new \
         leader?)\n{diag}"
    );

    // the client then talked to zk1 or zk3: the `srvr` polls, the write of /bop/b and its
    // read-back
    let later: Vec<&Event> = [ZK1, ZK3]
        .iter()
        .flat_map(|a| sends_to(&faulty, "client", a))
        .filter(|e| id(e) > id(crash))
        .collect();
    assert!(
        later.len() >= 4,
        "the client sent zk1 and zk3 only {} messages after the crash\n{diag}",
        later.len()
    );
}
