//! etcd under bop: the three-member cluster of `systems/etcd` (etcd-server, Go) and its
//! etcdctl workload, run without faults and then with `systems/etcd/faults` (e3 partitioned
//! from e1 and e2). Both runs must pass, and their traces must account for every byte and
//! every thread; in the faulted run no byte may cross the partition once it is in force.
//!
//! The cluster uses fixed ports (7421-7426), so both runs happen one after the other in one
//! test function. Without etcd installed the test is skipped, unless `CI` is set: then it
//! fails.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bop_trace::{Event, Trace};

/// One bop run of the cluster may take this long at most (its own `[run] timeout` is 60 s).
const RUN_LIMIT: Duration = Duration::from_secs(150);

/// The ports of systems/etcd/member.sh: clients 7421-7423, peers 7424-7426.
const PORTS: [u16; 6] = [7421, 7422, 7423, 7424, 7425, 7426];

const MEMBERS: [&str; 3] = ["e1", "e2", "e3"];

/// `MSG_PEEK`: a receive that leaves the data in the socket.
const MSG_PEEK: i64 = 2;

fn bop_exe() -> &'static str {
    env!("CARGO_BIN_EXE_bop")
}

fn system_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../systems/etcd")
}

/// Whether `prog` is an executable file in a directory of PATH.
fn in_path(prog: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/bin:/usr/bin".into());
    std::env::split_paths(&path).any(|d| {
        std::fs::metadata(d.join(prog))
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    })
}

/// One `bop run` of the cluster.
struct Run {
    label: &'static str,
    code: Option<i32>,
    stdout: String,
    stderr: String,
    trace_path: PathBuf,
    elapsed: Duration,
}

impl Run {
    /// bop's output and the nodes' logs (etcd's warnings left out: there are many), for
    /// assertion messages.
    fn diag(&self) -> String {
        let mut s = format!(
            "run {}: bop exit {:?} after {:?}\n--- bop stdout ---\n{}\n--- bop stderr ---\n{}\n",
            self.label, self.code, self.elapsed, self.stdout, self.stderr
        );
        let stem = self.trace_path.file_stem().unwrap().to_string_lossy();
        let dir = self.trace_path.parent().unwrap();
        for node in ["client", "e1", "e2", "e3"] {
            for stream in ["stdout", "stderr"] {
                let p = dir.join(format!("{stem}.{node}.{stream}"));
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                let lines: Vec<&str> = text
                    .lines()
                    .filter(|l| node == "client" || !l.contains(r#""level":"warn""#))
                    .collect();
                if !lines.is_empty() {
                    s += &format!("--- {} ---\n{}\n", p.display(), lines.join("\n"));
                }
            }
        }
        s
    }

    fn client_output(&self) -> String {
        let stem = self.trace_path.file_stem().unwrap().to_string_lossy();
        let dir = self.trace_path.parent().unwrap();
        let mut s = String::new();
        for stream in ["stdout", "stderr"] {
            s += &std::fs::read_to_string(dir.join(format!("{stem}.client.{stream}")))
                .unwrap_or_default();
        }
        s
    }
}

/// `bop run systems/etcd/cluster.toml --trace DIR/LABEL.jsonl -q EXTRA...`, at most RUN_LIMIT.
fn run_cluster(dir: &Path, label: &'static str, extra: &[String]) -> Run {
    let trace_path = dir.join(format!("{label}.jsonl"));
    let out = dir.join(format!("{label}.bop-stdout"));
    let err = dir.join(format!("{label}.bop-stderr"));
    let mut cmd = Command::new(bop_exe());
    cmd.arg("run")
        .arg(system_dir().join("cluster.toml"))
        .arg("--trace")
        .arg(&trace_path)
        .arg("-q")
        .args(extra)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(File::create(&out).unwrap())
        .stderr(File::create(&err).unwrap());
    let started = Instant::now();
    let mut child = cmd.spawn().expect("start bop");
    let status = loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            break st;
        }
        if started.elapsed() > RUN_LIMIT {
            let state = process_state(child.id());
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "run {label}: bop did not finish within {RUN_LIMIT:?} (its run timeout is 60 s); \
                 the trace and logs are in {}\n--- bop and its processes then ---\n{state}",
                dir.display()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let run = Run {
        label,
        code: status.code(),
        stdout: std::fs::read_to_string(&out).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err).unwrap_or_default(),
        trace_path,
        elapsed: started.elapsed(),
    };
    eprintln!(
        "etcd run {label}: bop exit {:?} in {:?}",
        run.code, run.elapsed
    );
    run
}

/// bop's threads and the processes under it (`ps`), with the kernel function each one waits
/// in: what a hung run was doing.
fn process_state(bop: u32) -> String {
    let mut s = String::new();
    if let Ok(rd) = std::fs::read_dir(format!("/proc/{bop}/task")) {
        for t in rd.flatten() {
            let p = t.path();
            let stat = std::fs::read_to_string(p.join("stat")).unwrap_or_default();
            let wchan = std::fs::read_to_string(p.join("wchan")).unwrap_or_default();
            let state = stat.rsplit_once(')').map(|(_, r)| r.trim()).unwrap_or("");
            s += &format!(
                "bop task {}: {} wchan {wchan}\n",
                t.file_name().to_string_lossy(),
                state.split(' ').next().unwrap_or("?")
            );
        }
    }
    if let Ok(out) = Command::new("ps")
        .args(["-eo", "pid,ppid,stat,wchan:32,etime,args", "--forest"])
        .output()
    {
        // bop's subtree: the lines of bop and of every process with an ancestor that is bop
        let text = String::from_utf8_lossy(&out.stdout);
        let parent: HashMap<u32, u32> = text
            .lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                Some((w.next()?.parse().ok()?, w.next()?.parse().ok()?))
            })
            .collect();
        let under_bop = |mut pid: u32| loop {
            if pid == bop {
                return true;
            }
            match parent.get(&pid) {
                Some(&pp) if pp != 0 && pp != pid => pid = pp,
                _ => return false,
            }
        };
        for line in text.lines() {
            let pid = line.split_whitespace().next().and_then(|p| p.parse().ok());
            if pid.is_some_and(under_bop) {
                s += line;
                s += "\n";
            }
        }
    }
    s
}

/// `bop stats TRACE --json`.
fn stats_json(run: &Run) -> serde_json::Value {
    let out = Command::new(bop_exe())
        .arg("stats")
        .arg(&run.trace_path)
        .arg("--json")
        .output()
        .expect("run bop stats");
    assert_eq!(
        out.status.code(),
        Some(0),
        "bop stats failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "bop stats --json printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn is_send(e: &Event) -> bool {
    e.kind == "syscall" && e.op.as_deref() == Some("send") && e.errno.is_none()
}

fn is_consuming_recv(e: &Event) -> bool {
    e.kind == "syscall"
        && e.op.as_deref() == Some("recv")
        && e.errno.is_none()
        && e.flags.unwrap_or(0) & MSG_PEEK == 0
}

/// A receive whose bytes can only come from a traced process: a TCP or Unix socket, or a
/// pipe. (Not netlink: Go reads the interfaces from the kernel; not bop's log pipes.)
fn between_traced(e: &Event) -> bool {
    match (&e.sock, &e.target) {
        (Some(s), _) => matches!(&*s.family, "inet" | "inet6" | "unix"),
        (None, Some(t)) => t.starts_with("pipe:"),
        _ => false,
    }
}

/// The msg edges into an event: (send id, bytes).
fn msg_edges(e: &Event) -> impl Iterator<Item = (u64, u64)> + '_ {
    e.from
        .iter()
        .flatten()
        .filter(|x| x.kind == "msg")
        .map(|x| (x.id, x.bytes.unwrap_or(0)))
}

fn describe_fd(e: &Event) -> String {
    match (&e.sock, &e.target) {
        (Some(s), _) => format!(
            "{} {} {} <- {}",
            s.family,
            s.ty,
            s.local.as_ref().map(|a| a.to_string()).unwrap_or_default(),
            s.peer.as_ref().map(|a| a.to_string()).unwrap_or_default()
        ),
        (None, Some(t)) => t.clone(),
        _ => format!("fd {:?}", e.fd),
    }
}

/// For a receive on a TCP connection: the process at the other end, its program, and when
/// it exited (the sends bop missed were so far all made by a process that was exiting).
fn other_end(t: &Trace, e: &Event) -> String {
    let Some(sock) = &e.sock else {
        return String::new();
    };
    let (Some(local), Some(peer)) = (&sock.local, &sock.peer) else {
        return String::new();
    };
    let Some(o) = t.events.iter().find(|o| {
        o.sock
            .as_ref()
            .is_some_and(|s| s.local.as_ref() == Some(peer) && s.peer.as_ref() == Some(local))
    }) else {
        return "; no traced socket is the other end".to_string();
    };
    let prog = t
        .events
        .iter()
        .filter(|x| x.pid == o.pid && matches!(&*x.kind, "exec" | "spawn"))
        .filter_map(|x| x.argv.as_ref().and_then(|a| a.first()).cloned())
        .next_back()
        .unwrap_or_default();
    let exit = t
        .events
        .iter()
        .find(|x| x.tid == o.pid && x.kind == "exit")
        .map(|x| {
            format!(
                ", whose process exited {:.1} ms {} this receive",
                (x.ts as f64 - e.ts as f64).abs() / 1e6,
                if x.ts <= e.ts { "before" } else { "after" }
            )
        })
        .unwrap_or_default();
    format!("; the other end: {} pid {} ({prog}){exit}", o.node, o.pid)
}

/// The checks both runs must pass; returns the trace.
fn check_run(run: &Run) -> Trace {
    let diag = run.diag();
    assert_eq!(run.code, Some(0), "bop should exit 0 (pass)\n{diag}");
    let t = bop_trace::read_file(&run.trace_path)
        .unwrap_or_else(|e| panic!("cannot read the trace: {e}\n{diag}"));
    assert!(t.header.is_some(), "the trace has no header\n{diag}");
    assert!(!t.truncated, "the trace is truncated\n{diag}");
    let footer = t
        .footer
        .as_ref()
        .unwrap_or_else(|| panic!("the trace has no footer\n{diag}"));
    assert_eq!(footer.verdict, "pass", "verdict\n{diag}");
    assert_eq!(
        footer.events,
        t.events.len() as u64,
        "footer.events differs from the events in the trace"
    );
    for n in &footer.nodes {
        if n.name == "client" {
            assert_eq!(n.exit, Some(0), "the client's exit\n{diag}");
        } else {
            assert!(
                n.stopped_by_bop,
                "daemon {} should run until bop stops it: {n:?}\n{diag}",
                n.name
            );
        }
    }
    assert!(
        run.client_output().contains("all expectations held"),
        "the client did not report success\n{diag}"
    );
    for (i, e) in t.events.iter().enumerate() {
        assert_eq!(
            e.id,
            Some(i as u64),
            "event ids must be 0, 1, 2, … in file order"
        );
    }

    // 1. every byte received between traced processes is attributed to the sends it came from
    let by_id: HashMap<u64, &Event> = t.events.iter().map(|e| (e.id.unwrap(), e)).collect();
    let mut bad: Vec<String> = Vec::new();
    for e in &t.events {
        if !is_consuming_recv(e) || !between_traced(e) {
            continue;
        }
        let bytes = e.bytes.unwrap_or(0);
        let attributed: u64 = msg_edges(e).map(|(_, b)| b).sum();
        if attributed != bytes {
            bad.push(format!(
                "event {} ({} pid {} tid {}, {}): {bytes} bytes on {}, msg edges account for \
                 {attributed}{}",
                e.id.unwrap(),
                e.node,
                e.pid,
                e.tid,
                e.syscall.as_deref().unwrap_or("?"),
                describe_fd(e),
                other_end(&t, e)
            ));
        }
        for (sid, _) in msg_edges(e) {
            let s = by_id
                .get(&sid)
                .unwrap_or_else(|| panic!("msg edge from unknown event {sid}"));
            assert!(is_send(s), "a msg edge from a non-send {s:?} into {e:?}");
            assert!(
                sid < e.id.unwrap(),
                "a cause written after its effect: {e:?}"
            );
        }
    }
    assert!(
        bad.is_empty(),
        "{} receives between traced processes with bytes no traced send accounts for:\n{}\n\
         (a known cause: a Go etcdctl thread's last write, done while the process exits, whose \
         syscall exit bop never sees)\n{diag}",
        bad.len(),
        bad.join("\n")
    );

    // 2. bop stats: nothing unmatched between traced nodes, nothing from outside
    let stats = stats_json(run);
    assert_eq!(
        stats["complete"],
        serde_json::json!(true),
        "stats: {stats:#}"
    );
    assert_eq!(
        stats["unmatched_bytes"],
        serde_json::json!(0),
        "bop stats reports bytes received between traced nodes that no traced send accounts \
         for ({}): see the receives with \"unmatched\" in {}\n{diag}",
        stats["unmatched_bytes"],
        run.trace_path.display()
    );
    assert_eq!(
        stats["unmatched_datagrams"],
        serde_json::json!(0),
        "stats: {stats:#}"
    );
    assert_eq!(
        stats["external_bytes"],
        serde_json::json!(0),
        "stats: {stats:#}"
    );
    // the members talk raft with each other (peer ports), and the client with each member
    let pair = |from: &str, to: &str| -> u64 {
        stats["pairs"]
            .as_array()
            .expect("stats pairs")
            .iter()
            .filter(|p| p["from"] == from && p["to"] == to)
            .map(|p| p["bytes"].as_u64().unwrap_or(0))
            .sum()
    };
    for a in MEMBERS {
        for b in MEMBERS {
            if a != b {
                assert!(
                    pair(a, b) > 0,
                    "no bytes from {a} to {b} in bop stats: {stats:#}"
                );
            }
        }
        assert!(
            pair("client", a) > 0,
            "the client never sent to {a}: {stats:#}"
        );
        assert!(
            pair(a, "client") > 0,
            "{a} never answered the client: {stats:#}"
        );
    }

    // 3. every process and thread, of etcd's Go runtime and of the client's shell, etcdctl
    // and date children, was followed: announced (spawn, fork, thread) before its first
    // event, numbered without gaps, and ended by an exit event
    let mut next_seq: HashMap<i32, u64> = HashMap::new();
    let mut announced_pid: BTreeSet<i32> = BTreeSet::new();
    let mut announced_tid: BTreeSet<i32> = BTreeSet::new();
    let mut exited: BTreeSet<i32> = BTreeSet::new();
    for e in &t.events {
        let want = next_seq.entry(e.tid).or_insert(0);
        assert_eq!(
            e.seq, *want,
            "tid {}: lost or duplicated event {e:?}",
            e.tid
        );
        *want += 1;
        assert!(
            !exited.contains(&e.tid),
            "an event after its thread's exit: {e:?}"
        );
        if e.kind == "spawn" {
            assert_eq!(e.pid, e.tid, "a spawn of a non-main thread: {e:?}");
            announced_pid.insert(e.pid);
            announced_tid.insert(e.tid);
        } else {
            assert!(
                announced_pid.contains(&e.pid),
                "pid {} of node {} appears without an earlier spawn or fork event: {e:?}",
                e.pid,
                e.node
            );
            assert!(
                announced_tid.contains(&e.tid),
                "tid {} of node {} appears without an earlier spawn, fork or thread event: {e:?}",
                e.tid,
                e.node
            );
        }
        match &*e.kind {
            "fork" => {
                let c = e
                    .other
                    .unwrap_or_else(|| panic!("fork without other: {e:?}"));
                announced_pid.insert(c);
                announced_tid.insert(c);
            }
            "thread" => {
                let c = e
                    .other
                    .unwrap_or_else(|| panic!("thread without other: {e:?}"));
                announced_tid.insert(c);
            }
            "exit" => {
                exited.insert(e.tid);
            }
            _ => {}
        }
    }
    let all_tids: BTreeSet<i32> = t.events.iter().map(|e| e.tid).collect();
    let not_exited: Vec<&i32> = all_tids.difference(&exited).collect();
    assert!(
        not_exited.is_empty(),
        "threads without an exit event: {not_exited:?}\n{diag}"
    );
    let mut threads: BTreeMap<&str, BTreeSet<i32>> = BTreeMap::new();
    let mut pids: BTreeMap<&str, BTreeSet<i32>> = BTreeMap::new();
    for e in &t.events {
        threads.entry(&*e.node).or_default().insert(e.tid);
        pids.entry(&*e.node).or_default().insert(e.pid);
    }
    for n in &footer.nodes {
        let tids = threads.get(n.name.as_str()).cloned().unwrap_or_default();
        assert_eq!(n.threads, tids.len() as u64, "footer threads of {}", n.name);
        let fp: BTreeSet<i32> = n.pids.iter().copied().collect();
        assert_eq!(
            Some(&fp),
            pids.get(n.name.as_str()),
            "footer pids of {}",
            n.name
        );
    }
    for m in MEMBERS {
        // a Go program runs several OS threads (sysmon, GC workers, the Ps' Ms)
        let n = threads.get(m).map(|s| s.len()).unwrap_or(0);
        assert!(
            n >= 4,
            "etcd member {m} shows only {n} threads: are they followed?"
        );
        assert_eq!(
            pids[m].len(),
            1,
            "etcd member {m} is one process (sh exec'd it)"
        );
    }
    // the client: sh, and etcdctl and date processes, every one with its own Go threads
    let execs: Vec<&str> = t
        .events
        .iter()
        .filter(|e| e.node == "client" && e.kind == "exec")
        .filter_map(|e| e.argv.as_ref().and_then(|a| a.first()).map(|s| s.as_str()))
        .collect();
    let etcdctls = execs.iter().filter(|a| **a == "etcdctl").count();
    assert!(
        etcdctls >= 6,
        "the client ran etcdctl {etcdctls} times: {execs:?}"
    );
    eprintln!(
        "etcd run {}: {} events, {} processes, {} threads (e1 {}, e2 {}, e3 {}, client {}), \
         {etcdctls} etcdctl processes",
        run.label,
        t.events.len(),
        announced_pid.len(),
        all_tids.len(),
        threads["e1"].len(),
        threads["e2"].len(),
        threads["e3"].len(),
        threads["client"].len()
    );
    t
}

/// The faulted run: the partition fired, and from then on no byte crossed it.
fn check_partition(run: &Run, t: &Trace) {
    let diag = run.diag();
    let out = run.client_output();
    assert!(
        out.contains("failed as it must"),
        "the client did not see e3's linearizable read fail\n{diag}"
    );
    let footer = t.footer.as_ref().unwrap();
    assert!(
        footer
            .faults
            .iter()
            .any(|f| f.rule.starts_with("partition") && f.fired > 0),
        "the partition rule never fired: {:?}\n{diag}",
        footer.faults
    );
    let fault = t
        .events
        .iter()
        .find(|e| e.kind == "fault" && e.op.as_deref() == Some("partition"))
        .unwrap_or_else(|| panic!("no fault event with op \"partition\" in the trace\n{diag}"));
    let fid = fault.id.unwrap();
    // the trigger: right after the client's first receive from e3 (a TCP read from port 7423)
    assert_eq!(
        fault.node, "client",
        "the partition should start on the client: {fault:?}"
    );
    let before = t
        .events
        .iter()
        .rev()
        .find(|e| e.lane == fault.lane && e.seq + 1 == fault.seq)
        .unwrap_or_else(|| panic!("no event before the fault on its thread: {fault:?}"));
    let from_e3 = msg_edges(before).any(|(sid, _)| {
        t.events
            .iter()
            .find(|x| x.id == Some(sid))
            .is_some_and(|x| x.node == "e3")
    });
    assert!(
        is_consuming_recv(before) && from_e3,
        "the partition should start right after a receive from e3, not after {before:?}"
    );
    let by_id: HashMap<u64, &Event> = t.events.iter().map(|e| (e.id.unwrap(), e)).collect();
    // each lane's events in order, to find the event before a send
    let mut lanes: HashMap<u32, Vec<&Event>> = HashMap::new();
    for e in &t.events {
        lanes.entry(e.lane.unwrap()).or_default().push(e);
    }
    let crosses = |a: &str, b: &str| {
        (a == "e3" && (b == "e1" || b == "e2")) || (b == "e3" && (a == "e1" || a == "e2"))
    };
    let mut crossed: Vec<String> = Vec::new();
    let mut majority_after = 0u64;
    for e in &t.events {
        if !is_consuming_recv(e) {
            continue;
        }
        for (sid, bytes) in msg_edges(e) {
            let s = by_id[&sid];
            if sid > fid
                && s.node != e.node
                && s.node != "e3"
                && e.node != "e3"
                && s.node != "client"
                && e.node != "client"
            {
                majority_after += bytes;
            }
            if !crosses(&s.node, &e.node) || sid < fid {
                continue;
            }
            // A send written after the fault event may still have been under way when the
            // partition began: entered before, its exit seen after. That is so only if the
            // event before it on its thread was observed before the fault; a send whose
            // thread did anything after the fault began after the partition.
            let prev_ts = match s.seq {
                // a thread's first event: the one before it is the creating thread's event
                0 => s
                    .from
                    .iter()
                    .flatten()
                    .find(|x| x.kind == "fork")
                    .map(|x| by_id[&x.id].ts)
                    .unwrap_or(0),
                n => lanes[&s.lane.unwrap()][n as usize - 1].ts,
            };
            if prev_ts < fault.ts {
                eprintln!(
                    "etcd run {}: send {sid} of {} was under way when the partition began \
                     (its thread's previous event was before it); its {bytes} bytes reached {}",
                    run.label, s.node, e.node
                );
                continue;
            }
            crossed.push(format!(
                "send id {sid} ({} tid {}, ts {}) -> recv id {} ({} tid {}), {bytes} bytes",
                s.node,
                s.tid,
                s.ts,
                e.id.unwrap(),
                e.node,
                e.tid
            ));
        }
    }
    assert!(
        crossed.is_empty(),
        "bytes crossed the partition after the fault event (id {fid}, ts {}):\n{}\n{diag}",
        fault.ts,
        crossed.join("\n")
    );
    assert!(
        majority_after > 0,
        "e1 and e2 exchanged nothing after the partition began: the majority should go on\n{diag}"
    );
    eprintln!(
        "etcd run {}: the partition began at event {fid} ({:.3} s into the run); e1 and e2 \
         exchanged {majority_after} bytes after it, nothing crossed it",
        run.label,
        fault.ts as f64 / 1e9
    );
}

#[test]
fn etcd_three_members_and_a_partitioned_minority() {
    if !(in_path("etcd") && in_path("etcdctl")) {
        if std::env::var_os("CI").is_some() {
            panic!("etcd and etcdctl must be installed in CI (Debian: etcd-server, etcd-client)");
        }
        eprintln!(
            "SKIPPED etcd_three_members_and_a_partitioned_minority: etcd or etcdctl is not in \
             PATH (Debian: apt-get install etcd-server etcd-client)"
        );
        return;
    }
    for port in PORTS {
        if let Err(e) = TcpListener::bind(("127.0.0.1", port)) {
            panic!(
                "port {port} on 127.0.0.1, which systems/etcd uses, is taken ({e}): is another \
                 etcd (or this test) running?"
            );
        }
    }
    // kept when the test fails (the messages name it), removed at the end when it passes
    let dir = tempfile::Builder::new()
        .prefix("bop-etcd-")
        .disable_cleanup(true)
        .tempdir()
        .expect("tempdir");

    // without faults: every read and write succeeds, e3's linearizable read included
    let run = run_cluster(dir.path(), "nofaults", &[]);
    let t = check_run(&run);
    assert!(
        !t.events.iter().any(|e| e.kind == "fault"),
        "fault events in a run without faults"
    );
    assert!(
        run.client_output()
            .contains("linearizable get k2 through e3: v2"),
        "{}",
        run.diag()
    );

    // with e3 cut off from e1 and e2
    let faults = system_dir().join("faults");
    let run = run_cluster(
        dir.path(),
        "faults",
        &["--faults".to_string(), faults.display().to_string()],
    );
    let t = check_run(&run);
    check_partition(&run, &t);
    let _ = std::fs::remove_dir_all(dir.path());
}
