//! Redis under bop (systems/redis): a primary, two replicas, three sentinels and a client
//! workload, run without faults and then with systems/redis/faults (the primary crashes just
//! after the client's first write to it; the sentinels fail over and the client writes to the
//! new primary). See systems/redis/README.md.
//!
//! The system uses fixed ports (127.0.0.1:7311-7317), so both runs are in this one test, one
//! after the other. Needs redis-server and redis-cli: without them the test is skipped, unless
//! the environment variable CI is set (CI installs them), where it fails.

mod system;

use std::collections::BTreeSet;
use std::time::Duration;

use bop_syscalls::SockAddr;
use bop_trace::Event;
use system::*;

/// The system under test; one bop run of it may take at most `run_limit` (the cluster file's
/// own timeout is 90 s).
const SYSTEM: System = System {
    name: "redis",
    run_limit: Duration::from_secs(150),
    ports: &PORTS,
};

const PORTS: [u16; 6] = [7311, 7312, 7313, 7315, 7316, 7317];
const PRIMARY: &str = "127.0.0.1:7311";
const REPLICAS: [&str; 2] = ["127.0.0.1:7312", "127.0.0.1:7313"];
const RULE: &str = "crash primary after client.send(primary)#1";
/// MSG_PEEK: a receive that leaves the data in the socket (its bytes are received again).
const MSG_PEEK: i64 = 2;

/// What every run must show, with or without faults: it passed (the client's checks and the
/// [check] of the cluster file), no byte is unaccounted for, every receive between traced
/// nodes is attributed to the sends it came from, and every process and thread of every node
/// was followed from its creation to its end.
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
    for key in ["unmatched_bytes", "unmatched_datagrams", "external_bytes"] {
        assert_eq!(
            run.stats[key],
            serde_json::json!(0),
            "{label}: bop stats {key}\n{:#}\n{diag}",
            run.stats
        );
    }

    // every byte received on a connection between traced nodes (or on a pipe) comes from
    // traced sends: the receive's msg edges add up to its bytes, and nothing is unmatched
    let traced: BTreeSet<&SockAddr> = run
        .trace
        .events
        .iter()
        .filter_map(|e| e.sock.as_ref()?.local.as_ref())
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
            (Some(s), _) => s.peer.as_ref().is_some_and(|p| traced.contains(p)),
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
        checked > 50,
        "{label}: only {checked} receives between traced nodes\n{diag}"
    );

    // every pid and tid is introduced (spawn, fork, thread) before its other events, and ends
    // with an exit event
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

    // Redis's threads (bio, jemalloc) and the primary's fork for the replicas' sync are there
    for node in [
        "primary",
        "replica1",
        "replica2",
        "sentinel1",
        "sentinel2",
        "sentinel3",
    ] {
        assert!(
            run.node_events(node).any(|e| e.kind == "thread"),
            "{label}: no thread of {node} was seen\n{diag}"
        );
    }
    assert!(
        run.node_events("primary").any(|e| e.kind == "fork"),
        "{label}: the primary forked no child (the RDB transfer to the replicas)\n{diag}"
    );
    let (_, msgs, _) = pair(run, "primary", "primary");
    assert!(
        msgs > 0,
        "{label}: no bytes from the primary's RDB child to the primary over its pipe"
    );
    // the replicas synced: the primary sent them the RDB and the replication stream
    for r in ["replica1", "replica2"] {
        let (conns, _, _) = pair(run, r, "primary");
        let (_, msgs, _) = pair(run, "primary", r);
        assert!(
            conns >= 1 && msgs >= 1,
            "{label}: {r} <-> primary\n{:#}",
            run.stats
        );
    }
}

#[test]
fn redis_fails_over_when_the_primary_crashes() {
    let missing: Vec<&str> = ["redis-server", "redis-cli"]
        .into_iter()
        .filter(|p| !in_path(p))
        .collect();
    if !missing.is_empty() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but {missing:?} is not installed (.ci/run installs redis-server and \
             redis-tools)"
        );
        eprintln!("skipped: {missing:?} not installed (apt-get install redis-server redis-tools)");
        return;
    }
    let tmp = tempfile::Builder::new()
        .prefix("bop-redis-")
        .tempdir()
        .expect("tempdir");

    // ------------------------------------------------------------------ without faults
    SYSTEM.assert_ports_free();
    let plain = SYSTEM.run(tmp.path(), "redis", &[]);
    eprintln!("redis without faults: {:?}", plain.took);
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
    // the client wrote to the primary and read the key back (two connections, two commands)
    assert_eq!(
        sends_to(&plain, "client", PRIMARY).len(),
        2,
        "the client's SET and GET to the primary\n{diag}"
    );
    for n in &footer.nodes {
        assert_eq!(n.signal, None, "{} died of a signal\n{diag}", n.name);
    }
    // no failover: the replicas never talked to each other
    assert_eq!(
        pair(&plain, "replica1", "replica2").0,
        0,
        "{:#}",
        plain.stats
    );
    assert_eq!(
        pair(&plain, "replica2", "replica1").0,
        0,
        "{:#}",
        plain.stats
    );

    // ------------------------------------------------------------------ with the faults file
    SYSTEM.assert_ports_free();
    let faults = SYSTEM.dir().join("faults");
    let faulty = SYSTEM.run(
        tmp.path(),
        "redis-faults",
        &["--faults", faults.to_str().expect("utf-8 path")],
    );
    eprintln!("redis with faults: {:?}", faulty.took);
    assert_common(&faulty);
    let diag = faulty.diag();
    let footer = faulty.trace.footer.as_ref().expect("footer");
    assert_eq!(footer.faults.len(), 1, "one rule: {:?}", footer.faults);
    assert_eq!(footer.faults[0].rule, RULE);
    assert_eq!(footer.faults[0].fired, 1, "the crash fired once\n{diag}");

    // the crash of the primary
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
        detail.starts_with(RULE) && detail.contains("[crash primary]"),
        "the crash event names its rule and the primary: {crash:?}"
    );
    let primary = footer
        .nodes
        .iter()
        .find(|n| n.name == "primary")
        .expect("primary in the footer");
    assert_eq!(primary.signal.as_deref(), Some("SIGKILL"), "{diag}");
    assert!(
        !primary.stopped_by_bop,
        "a crash is not bop stopping a daemon"
    );

    // the trigger: the client's first (and only) send to the primary
    let triggers = sends_to(&faulty, "client", PRIMARY);
    assert_eq!(
        triggers.len(),
        1,
        "the client sends nothing to the primary but the triggering SET: {triggers:?}\n{diag}"
    );
    let trigger = triggers[0];
    assert!(trigger.bytes.unwrap_or(0) > 0, "{trigger:?}");

    // after the crash the primary does nothing but die; the one thing that may still show is
    // its receipt of the triggering message itself, which happens concurrently with the
    // crash's record ("after" = once the send completed; the message is delivered)
    let receipt_of_trigger = |e: &Event| {
        e.op.as_deref() == Some("recv")
            && e.from.as_ref().is_some_and(|f| {
                !f.is_empty()
                    && f.iter()
                        .all(|ed| ed.kind == "msg" && Some(ed.id) == trigger.id)
            })
    };
    let after: Vec<&Event> = faulty
        .node_events("primary")
        .filter(|e| id(e) > id(crash) && e.kind != "exit" && !receipt_of_trigger(e))
        .collect();
    assert!(
        after.is_empty(),
        "the primary acted after its crash: {after:?}\n{diag}"
    );
    // (its RDB children exited by themselves before, once the replicas had their copy)
    let exits: Vec<&Event> = faulty
        .node_events("primary")
        .filter(|e| e.kind == "exit" && id(e) > id(crash))
        .collect();
    assert!(
        exits.iter().all(|e| e.signal.as_deref() == Some("SIGKILL")),
        "every task of the primary alive at the crash was SIGKILLed: {exits:?}"
    );
    assert!(
        exits.iter().any(|e| e.tid == primary.pids[0]),
        "the primary's main thread died after the crash: {exits:?}\n{diag}"
    );

    // the client wrote to the new primary (a former replica) after the crash
    let later: Vec<&Event> = REPLICAS
        .iter()
        .flat_map(|r| sends_to(&faulty, "client", r))
        .filter(|e| id(e) > id(crash))
        .collect();
    assert!(
        !later.is_empty(),
        "no send of the client to a replica after the crash\n{diag}"
    );

    // the failover is in the trace: the sentinels talked to the replicas after the crash
    // (SLAVEOF NO ONE to one, SLAVEOF <it> to the other), and the remaining replica connected
    // to the new primary
    for (r, addr) in ["replica1", "replica2"].into_iter().zip(REPLICAS) {
        let talked = ["sentinel1", "sentinel2", "sentinel3"]
            .iter()
            .any(|s| sends_to(&faulty, s, addr).iter().any(|e| id(e) > id(crash)));
        assert!(
            talked,
            "no sentinel sent {r} anything after the crash\n{diag}"
        );
    }
    let between = pair(&faulty, "replica1", "replica2").0 + pair(&faulty, "replica2", "replica1").0;
    assert!(
        between >= 1,
        "after the failover one replica replicates from the other (a connection between them)\n{:#}",
        faulty.stats
    );

    // "after EVENT": the crash comes after the triggering send (bop once wrote the fault event
    // before it, see systems/redis/README.md)
    assert!(
        id(crash) > id(trigger),
        "the crash (id {}) should come after the client's triggering send (id {}) in the \
         trace: the rule is 'crash ... after client.send(primary)#1'\ncrash: {crash:?}\n\
         send: {trigger:?}",
        id(crash),
        id(trigger)
    );
}
