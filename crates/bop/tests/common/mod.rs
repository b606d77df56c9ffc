//! Helpers for the `bop run` integration tests: running bop with a deadline, free ports, and
//! checks of what a trace must show about a multi-process system.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use bop_syscalls::SockAddr;
use bop_trace::{Event, Footer, Trace};

/// No single bop run in these tests may take longer than this; past it the run is killed and
/// the test fails (instead of hanging the suite).
pub const RUN_LIMIT: Duration = Duration::from_secs(30);

/// `MSG_PEEK`: a receive that leaves the data in the socket.
const MSG_PEEK: i64 = 2;

pub fn bop_exe() -> &'static str {
    env!("CARGO_BIN_EXE_bop")
}

/// A testbed binary by name: "tb-echo", "tb-udp", ...
pub fn tb(name: &str) -> &'static str {
    match name {
        "tb-echo" => env!("CARGO_BIN_EXE_tb-echo"),
        "tb-udp" => env!("CARGO_BIN_EXE_tb-udp"),
        "tb-unix" => env!("CARGO_BIN_EXE_tb-unix"),
        "tb-threaded" => env!("CARGO_BIN_EXE_tb-threaded"),
        "tb-forking" => env!("CARGO_BIN_EXE_tb-forking"),
        "tb-relay" => env!("CARGO_BIN_EXE_tb-relay"),
        other => panic!("unknown testbed {other}"),
    }
}

/// The repository's `tests/progs` directory.
pub fn progs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/progs")
}

/// A port that was free a moment ago on 127.0.0.1 (the kernel picked it).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

/// A port that was free a moment ago on [::1].
pub fn free_port6() -> u16 {
    let l = TcpListener::bind("[::1]:0").expect("bind [::1]:0 (is IPv6 loopback configured?)");
    l.local_addr().expect("local_addr").port()
}

/// A UDP port that was free a moment ago on 127.0.0.1.
pub fn free_udp_port() -> u16 {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind udp 127.0.0.1:0");
    s.local_addr().expect("local_addr").port()
}

/// A temp directory per test, with the trace and logs of its runs.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox {
            dir: tempfile::Builder::new()
                .prefix("bop-it-")
                .tempdir()
                .expect("tempdir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn join(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// Writes a file into the sandbox and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.join(name);
        std::fs::write(&p, text).expect("write file");
        p
    }

    /// `bop run CLUSTER --trace TRACE -q` with the cluster file text `toml`.
    pub fn run_cluster(&self, name: &str, toml: &str) -> BopRun {
        let cluster = self.write(&format!("{name}.toml"), toml);
        let trace = self.join(&format!("{name}.jsonl"));
        let args: Vec<String> = vec![
            "run".into(),
            cluster.display().to_string(),
            "--trace".into(),
            trace.display().to_string(),
            "-q".into(),
        ];
        self.bop(name, &args, Some(trace))
    }

    /// Runs bop with `args` (cwd: the sandbox), waits at most [`RUN_LIMIT`].
    pub fn bop(&self, label: &str, args: &[String], trace: Option<PathBuf>) -> BopRun {
        let mut cmd = Command::new(bop_exe());
        cmd.args(args);
        self.run_command(label, cmd, trace)
    }

    /// Runs any command (e.g. bop under strace) with output captured to files.
    pub fn run_command(&self, label: &str, mut cmd: Command, trace: Option<PathBuf>) -> BopRun {
        let (child, out, err) = self.spawn_command(label, &mut cmd);
        let status = wait_limit(child, RUN_LIMIT, label);
        BopRun::collect(status, &out, &err, trace)
    }

    /// Starts a command with stdout/stderr going to files in the sandbox.
    pub fn spawn_command(&self, label: &str, cmd: &mut Command) -> (Child, PathBuf, PathBuf) {
        let out = self.join(&format!("{label}.bop-stdout"));
        let err = self.join(&format!("{label}.bop-stderr"));
        cmd.current_dir(self.path())
            .stdin(Stdio::null())
            .stdout(File::create(&out).expect("create stdout file"))
            .stderr(File::create(&err).expect("create stderr file"));
        let child = cmd.spawn().expect("start bop");
        (child, out, err)
    }
}

/// Waits for a child for at most `limit`; kills it and panics past that.
pub fn wait_limit(mut child: Child, limit: Duration, label: &str) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            return st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{label}: bop did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// What one bop invocation did.
pub struct BopRun {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub trace_path: Option<PathBuf>,
}

impl BopRun {
    pub fn collect(status: ExitStatus, out: &Path, err: &Path, trace: Option<PathBuf>) -> BopRun {
        BopRun {
            status,
            stdout: std::fs::read_to_string(out).unwrap_or_default(),
            stderr: std::fs::read_to_string(err).unwrap_or_default(),
            trace_path: trace,
        }
    }

    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// bop's output and the nodes' logs, for assertion messages.
    pub fn diag(&self) -> String {
        let mut s = format!(
            "bop exit: {:?}\n--- bop stdout ---\n{}\n--- bop stderr ---\n{}\n",
            self.status, self.stdout, self.stderr
        );
        if let Some(t) = &self.trace_path {
            if let (Some(dir), Some(stem)) = (t.parent(), t.file_stem()) {
                let prefix = format!("{}.", stem.to_string_lossy());
                if let Ok(rd) = std::fs::read_dir(dir) {
                    let mut logs: Vec<PathBuf> = rd
                        .flatten()
                        .map(|e| e.path())
                        .filter(|p| {
                            let n = p.file_name().unwrap_or_default().to_string_lossy();
                            n.starts_with(&prefix)
                                && (n.ends_with(".stdout") || n.ends_with(".stderr"))
                        })
                        .collect();
                    logs.sort();
                    for l in logs {
                        let text = std::fs::read_to_string(&l).unwrap_or_default();
                        if !text.is_empty() {
                            s += &format!("--- {} ---\n{text}\n", l.display());
                        }
                    }
                }
            }
        }
        s
    }

    /// Asserts bop's exit code, showing everything on failure.
    pub fn expect_code(&self, code: i32) {
        assert_eq!(
            self.code(),
            Some(code),
            "bop should exit {code}\n{}",
            self.diag()
        );
    }

    /// stdout and stderr together.
    pub fn output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// Reads the trace.
    pub fn trace(&self) -> Trace {
        let p = self.trace_path.as_ref().expect("this run has a trace path");
        bop_trace::read_file(p)
            .unwrap_or_else(|e| panic!("cannot read the trace: {e}\n{}", self.diag()))
    }

    pub fn footer(&self) -> Footer {
        self.trace()
            .footer
            .unwrap_or_else(|| panic!("the trace has no footer\n{}", self.diag()))
    }
}

/// The footer entry of a node.
pub fn node_outcome<'a>(f: &'a Footer, name: &str) -> &'a bop_trace::NodeOutcome {
    f.nodes
        .iter()
        .find(|n| n.name == name)
        .unwrap_or_else(|| panic!("no node {name} in the footer: {f:?}"))
}

pub fn events_of<'a>(t: &'a Trace, node: &'a str) -> impl Iterator<Item = &'a Event> + 'a {
    t.events.iter().filter(move |e| e.node == node)
}

pub fn pids_of(t: &Trace, node: &str) -> BTreeSet<i32> {
    events_of(t, node).map(|e| e.pid).collect()
}

pub fn tids_of(t: &Trace, node: &str) -> BTreeSet<i32> {
    events_of(t, node).map(|e| e.tid).collect()
}

/// Whether a process is still running: /proc/PID exists and is not a zombie.
pub fn process_running(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(stat) => {
            // "pid (comm) S ..." : the state follows the last ')'
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.trim_start().chars().next());
            !matches!(state, Some('Z') | Some('X') | None)
        }
    }
}

/// Polls until none of `pids` runs, for at most `limit`; returns those still running.
pub fn wait_gone(pids: &BTreeSet<i32>, limit: Duration) -> Vec<i32> {
    let deadline = Instant::now() + limit;
    loop {
        let alive: Vec<i32> = pids
            .iter()
            .copied()
            .filter(|&p| process_running(p))
            .collect();
        if alive.is_empty() || Instant::now() > deadline {
            return alive;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls the trace file until `cond` holds (for at most `limit`); returns the trace read last.
pub fn wait_trace(path: &Path, limit: Duration, cond: impl Fn(&Trace) -> bool) -> Option<Trace> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(t) = bop_trace::read_file(path) {
            if cond(&t) {
                return Some(t);
            }
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A trace with its header and footer, whose footer agrees with its events, every thread of
/// which is numbered from 0 without gaps, was announced by a spawn/fork/thread event before
/// it appears, and ends with an exit event.
pub fn assert_complete(t: &Trace, diag: &str) {
    assert!(t.header.is_some(), "the trace has no header\n{diag}");
    assert!(!t.truncated, "the trace is truncated\n{diag}");
    let footer = t
        .footer
        .as_ref()
        .unwrap_or_else(|| panic!("the trace has no footer\n{diag}"));
    assert_eq!(
        footer.events,
        t.events.len() as u64,
        "footer.events differs from the events in the trace\n{diag}"
    );
    let header_nodes: Vec<&str> = t
        .header
        .as_ref()
        .map(|h| h.nodes.iter().map(|n| n.name.as_str()).collect())
        .unwrap_or_default();
    let footer_nodes: Vec<&str> = footer.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(
        header_nodes, footer_nodes,
        "header and footer list other nodes"
    );

    // per-thread sequence numbers: 0, 1, 2, ... in file order
    let mut next_seq: HashMap<i32, u64> = HashMap::new();
    // tasks announced so far (spawn: the node's process; fork: a process; thread: a thread)
    let mut announced_pid: BTreeSet<i32> = BTreeSet::new();
    let mut announced_tid: BTreeSet<i32> = BTreeSet::new();
    let mut exited: BTreeSet<i32> = BTreeSet::new();
    for (i, e) in t.events.iter().enumerate() {
        let want = next_seq.entry(e.tid).or_insert(0);
        assert_eq!(
            e.seq, *want,
            "event {i} of tid {} has seq {}, expected {} (a lost or duplicated event): {e:?}",
            e.tid, e.seq, want
        );
        *want += 1;
        assert!(
            !exited.contains(&e.tid),
            "event {i} of tid {} comes after that thread's exit event: {e:?}",
            e.tid
        );
        match &*e.kind {
            "spawn" => {
                assert_eq!(e.pid, e.tid, "a spawn event of a non-main thread: {e:?}");
                announced_pid.insert(e.pid);
                announced_tid.insert(e.tid);
            }
            _ => {
                assert!(
                    announced_pid.contains(&e.pid),
                    "event {i}: pid {} of node {} appears without an earlier spawn or fork \
                     event naming it: {e:?}",
                    e.pid,
                    e.node
                );
                assert!(
                    announced_tid.contains(&e.tid),
                    "event {i}: tid {} of node {} appears without an earlier spawn, fork or \
                     thread event naming it: {e:?}",
                    e.tid,
                    e.node
                );
            }
        }
        match &*e.kind {
            "fork" => {
                let child = e
                    .other
                    .unwrap_or_else(|| panic!("fork without other: {e:?}"));
                announced_pid.insert(child);
                announced_tid.insert(child);
            }
            "thread" => {
                let child = e
                    .other
                    .unwrap_or_else(|| panic!("thread without other: {e:?}"));
                announced_tid.insert(child);
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
        "threads without an exit event in a finished run: {not_exited:?}\n{diag}"
    );

    for n in &footer.nodes {
        let count = events_of(t, &n.name).count() as u64;
        assert_eq!(n.events, count, "footer events of node {}", n.name);
        let pids: BTreeSet<i32> = n.pids.iter().copied().collect();
        assert_eq!(
            pids,
            pids_of(t, &n.name),
            "footer pids of node {} differ from the pids in its events",
            n.name
        );
        assert_eq!(
            n.threads,
            tids_of(t, &n.name).len() as u64,
            "footer threads of node {} differ from the distinct tids in its events",
            n.name
        );
    }
}

/// Asserts verdict "pass" and that every node exited 0 by itself.
pub fn assert_pass_all_zero(run: &BopRun, t: &Trace) {
    let diag = run.diag();
    run.expect_code(0);
    let f = t.footer.as_ref().expect("footer");
    assert_eq!(f.verdict, "pass", "verdict\n{diag}");
    assert_eq!(f.reason, None, "a passing run has no reason");
    for n in &f.nodes {
        assert_eq!(n.exit, Some(0), "node {} exit\n{diag}", n.name);
        assert_eq!(n.signal, None, "node {} signal", n.name);
        assert!(!n.stopped_by_bop, "node {} was stopped by bop", n.name);
        assert!(!n.pids.is_empty(), "node {} has no pids", n.name);
    }
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

/// One end of a stream connection as a connect or accept event shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct End {
    /// The node.
    pub node: String,
    /// The socket id (for accept: the new connection's).
    pub id: u64,
    pub local: Option<SockAddr>,
    pub peer: Option<SockAddr>,
}

impl End {
    fn of(e: &Event, sock: &bop_trace::SockInfo) -> End {
        End {
            node: e.node.clone().into(),
            id: sock.id,
            local: sock.local.clone(),
            peer: sock.peer.clone(),
        }
    }
}

/// The stream connections a trace shows, and checks on them.
#[derive(Debug, Default)]
pub struct Streams {
    /// Established connects.
    pub connects: Vec<End>,
    /// Successful accepts.
    pub accepts: Vec<End>,
}

/// Collects connects (that were not refused) and accepts on stream sockets of `family`.
pub fn streams(t: &Trace, family: &str) -> Streams {
    // sockets whose non-blocking connect turned out to fail (getsockopt SO_ERROR != 0)
    let failed: BTreeSet<u64> = t
        .events
        .iter()
        .filter(|e| e.op.as_deref() == Some("getsockopt") && e.status.unwrap_or(0) != 0)
        .filter_map(|e| e.sock.as_ref().map(|s| s.id))
        .collect();
    let mut s = Streams::default();
    for e in &t.events {
        let Some(sock) = &e.sock else { continue };
        if sock.family != family || sock.ty != "stream" || e.kind != "syscall" {
            continue;
        }
        match e.op.as_deref() {
            Some("connect") => {
                let ok = match e.errno.as_deref() {
                    None => true,
                    Some("EINPROGRESS") => !failed.contains(&sock.id),
                    Some(_) => false,
                };
                if ok {
                    s.connects.push(End::of(e, sock));
                }
            }
            Some("accept") if e.errno.is_none() && e.ret.is_some() => {
                s.accepts.push(End::of(e, sock));
            }
            _ => {}
        }
    }
    s
}

/// Bytes moved per stream socket id: (sent, received), peeks excluded.
pub fn bytes_by_sock(t: &Trace) -> BTreeMap<u64, (u64, u64)> {
    let mut m: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    for e in &t.events {
        let Some(sock) = &e.sock else { continue };
        let b = e.bytes.unwrap_or(0);
        if is_send(e) {
            m.entry(sock.id).or_default().0 += b;
        } else if is_consuming_recv(e) {
            m.entry(sock.id).or_default().1 += b;
        }
    }
    m
}

/// Bytes moved per inet stream endpoint (local, peer): (sent, received), peeks excluded.
pub fn bytes_by_endpoint(t: &Trace) -> BTreeMap<(SockAddr, SockAddr), (u64, u64)> {
    let mut m: BTreeMap<(SockAddr, SockAddr), (u64, u64)> = BTreeMap::new();
    for e in &t.events {
        let Some(sock) = &e.sock else { continue };
        if sock.ty != "stream" {
            continue;
        }
        let (Some(l), Some(p)) = (&sock.local, &sock.peer) else {
            continue;
        };
        let b = e.bytes.unwrap_or(0);
        if is_send(e) {
            m.entry((l.clone(), p.clone())).or_default().0 += b;
        } else if is_consuming_recv(e) {
            m.entry((l.clone(), p.clone())).or_default().1 += b;
        }
    }
    m
}

/// Every inet stream connect is matched by address to exactly one accept of the same
/// connection (and back), and each side received exactly what the other sent. Returns the
/// number of connections.
pub fn assert_inet_streams(t: &Trace, family: &str, diag: &str) -> usize {
    let s = streams(t, family);
    assert!(
        !s.connects.is_empty(),
        "no {family} connects in the trace\n{diag}"
    );
    assert_eq!(
        s.connects.len(),
        s.accepts.len(),
        "{family}: {} established connects but {} accepts:\nconnects {:#?}\naccepts {:#?}\n{diag}",
        s.connects.len(),
        s.accepts.len(),
        s.connects,
        s.accepts
    );
    let mut accepts: BTreeMap<(SockAddr, SockAddr), &End> = BTreeMap::new();
    for a in &s.accepts {
        let (Some(l), Some(p)) = (&a.local, &a.peer) else {
            panic!("accept without local/peer address: {a:?}\n{diag}");
        };
        assert!(
            accepts.insert((l.clone(), p.clone()), a).is_none(),
            "two accepts of the same connection {l} <- {p}\n{diag}"
        );
    }
    let bytes = bytes_by_endpoint(t);
    for c in &s.connects {
        let (Some(cl), Some(cp)) = (&c.local, &c.peer) else {
            panic!("connect without local/peer address: {c:?}\n{diag}");
        };
        let a = accepts.remove(&(cp.clone(), cl.clone())).unwrap_or_else(|| {
            panic!(
                "connect of node {} from {cl} to {cp} has no accept with local {cp} and peer {cl}\n{diag}",
                c.node
            )
        });
        assert_ne!(c.node, a.node, "a node connected to itself? {c:?} {a:?}");
        let (c_sent, c_recv) = bytes
            .get(&(cl.clone(), cp.clone()))
            .copied()
            .unwrap_or_default();
        let (s_sent, s_recv) = bytes
            .get(&(cp.clone(), cl.clone()))
            .copied()
            .unwrap_or_default();
        assert!(
            c_sent > 0,
            "connection {cl} -> {cp} carried no data\n{diag}"
        );
        assert_eq!(
            c_sent, s_recv,
            "connection {cl} -> {cp}: the client ({}) sent {c_sent} bytes, the server ({}) received {s_recv}\n{diag}",
            c.node, a.node
        );
        assert_eq!(
            s_sent, c_recv,
            "connection {cl} -> {cp}: the server ({}) sent {s_sent} bytes, the client ({}) received {c_recv}\n{diag}",
            a.node, c.node
        );
    }
    s.connects.len()
}

/// Unix stream connections: as many accepts as connects, and the per-connection byte totals
/// of the connecting sockets mirror those of the accepted ones. Returns the number of
/// connections.
pub fn assert_unix_streams(t: &Trace, diag: &str) -> usize {
    let s = streams(t, "unix");
    assert!(
        !s.connects.is_empty(),
        "no unix connects in the trace\n{diag}"
    );
    assert_eq!(
        s.connects.len(),
        s.accepts.len(),
        "unix: {} established connects but {} accepts\n{diag}",
        s.connects.len(),
        s.accepts.len()
    );
    let bytes = bytes_by_sock(t);
    let mut client_side: Vec<(u64, u64)> = s
        .connects
        .iter()
        .map(|c| bytes.get(&c.id).copied().unwrap_or_default())
        .collect();
    // seen from the server: what it received is what the client sent
    let mut server_side: Vec<(u64, u64)> = s
        .accepts
        .iter()
        .map(|a| {
            let (sent, recv) = bytes.get(&a.id).copied().unwrap_or_default();
            (recv, sent)
        })
        .collect();
    client_side.sort();
    server_side.sort();
    assert!(
        client_side.iter().all(|&(sent, _)| sent > 0),
        "a unix connection carried no data: {client_side:?}\n{diag}"
    );
    assert_eq!(
        client_side, server_side,
        "unix stream connections: (sent, received) per connecting socket vs (received, sent) \
         per accepted socket differ\n{diag}"
    );
    for c in &s.connects {
        // the connecting socket's peer is the listening address, which the accepted one has
        assert!(
            s.accepts.iter().any(|a| a.local == c.peer),
            "unix connect {c:?} to an address no accept has as local\n{diag}"
        );
    }
    s.connects.len()
}

/// Datagram flows: (source, destination) -> (count, bytes) of sends and of receives.
#[derive(Debug, Default)]
pub struct Datagrams {
    pub sent: BTreeMap<(SockAddr, SockAddr), (u64, u64)>,
    pub received: BTreeMap<(SockAddr, SockAddr), (u64, u64)>,
}

/// An unbound UDP socket sending over loopback shows local 0.0.0.0:P; the receiver sees the
/// loopback address of the destination's family.
fn normalise_source(src: &SockAddr, dst: &SockAddr) -> SockAddr {
    match (src, dst) {
        (SockAddr::Inet(s), SockAddr::Inet(d)) if s.ip().is_unspecified() => {
            let ip: IpAddr = if d.ip().is_loopback() {
                d.ip()
            } else if d.is_ipv4() {
                IpAddr::V4(Ipv4Addr::LOCALHOST)
            } else {
                IpAddr::V6(Ipv6Addr::LOCALHOST)
            };
            SockAddr::Inet(SocketAddr::new(ip, s.port()))
        }
        _ => src.clone(),
    }
}

/// Collects the datagrams of `family` (inet, inet6, unix) sent and received. Sends to an
/// address before anyone had bound it (in trace order) are left out: the kernel dropped them.
pub fn datagrams(t: &Trace, family: &str) -> Datagrams {
    let mut d = Datagrams::default();
    let mut bound: BTreeSet<SockAddr> = BTreeSet::new();
    for e in &t.events {
        let Some(sock) = &e.sock else { continue };
        if sock.family != family || sock.ty != "dgram" || e.kind != "syscall" {
            continue;
        }
        if matches!(e.op.as_deref(), Some("bind") | Some("connect")) && e.errno.is_none() {
            if let Some(l) = &sock.local {
                let l = match &sock.peer {
                    Some(p) => normalise_source(l, p),
                    None => l.clone(),
                };
                bound.insert(l);
            }
        }
        let b = e.bytes.unwrap_or(0);
        if is_send(e) {
            let (Some(dst), Some(src)) = (e.addr.as_ref().or(sock.peer.as_ref()), &sock.local)
            else {
                continue;
            };
            // sending binds an unbound socket: answers to it can arrive from now on
            bound.insert(normalise_source(src, dst));
            if !bound.contains(dst) {
                continue;
            }
            let v = d
                .sent
                .entry((normalise_source(src, dst), dst.clone()))
                .or_default();
            v.0 += 1;
            v.1 += b;
        } else if is_consuming_recv(e) {
            let (Some(src), Some(dst)) = (e.addr.as_ref().or(sock.peer.as_ref()), &sock.local)
            else {
                continue;
            };
            let v = d
                .received
                .entry((src.clone(), normalise_source(dst, src)))
                .or_default();
            v.0 += 1;
            v.1 += b;
        }
    }
    d
}

/// Every datagram sent to `server` was received there, and every answer it sent was received
/// (count and bytes per sender). Returns the number of peers.
pub fn assert_datagrams_to(t: &Trace, family: &str, server: &SockAddr, diag: &str) -> usize {
    let d = datagrams(t, family);
    let to_server: BTreeMap<_, _> = d
        .sent
        .iter()
        .filter(|((_, dst), _)| dst == server)
        .collect();
    assert!(
        !to_server.is_empty(),
        "no {family} datagrams sent to {server}: {d:#?}\n{diag}"
    );
    for ((src, dst), sent) in &to_server {
        let got = d
            .received
            .get(&(src.clone(), (*dst).clone()))
            .copied()
            .unwrap_or_default();
        assert_eq!(
            **sent, got,
            "{family} datagrams {src} -> {dst}: sent (count, bytes) {sent:?}, the server received {got:?}\n{d:#?}\n{diag}"
        );
        let back_sent = d
            .sent
            .get(&(dst.clone(), src.clone()))
            .copied()
            .unwrap_or_default();
        let back_got = d
            .received
            .get(&(dst.clone(), src.clone()))
            .copied()
            .unwrap_or_default();
        assert!(back_sent.0 > 0, "the server never answered {src}\n{diag}");
        assert_eq!(
            back_sent, back_got,
            "{family} answers {dst} -> {src}: sent (count, bytes) {back_sent:?}, received {back_got:?}\n{diag}"
        );
    }
    // nothing arrived at the server that no traced process sent
    for ((src, dst), got) in d.received.iter().filter(|((_, dst), _)| dst == server) {
        assert!(
            d.sent.contains_key(&(src.clone(), dst.clone())),
            "the server received {got:?} from {src}, which no traced send explains\n{d:#?}\n{diag}"
        );
    }
    to_server.len()
}

/// `bop stats TRACE --json` agrees with the footer on every node.
pub fn assert_stats_match_footer(run: &BopRun) {
    let trace_path = run.trace_path.as_ref().expect("trace path");
    let out = Command::new(bop_exe())
        .args(["stats", &trace_path.display().to_string(), "--json"])
        .output()
        .expect("run bop stats");
    assert_eq!(
        out.status.code(),
        Some(0),
        "bop stats failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "bop stats --json printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    let footer = run.footer();
    assert_eq!(v["complete"], serde_json::json!(true));
    assert_eq!(v["truncated"], serde_json::json!(false));
    assert_eq!(v["verdict"], serde_json::json!(footer.verdict));
    assert_eq!(v["events"], serde_json::json!(footer.events));
    let nodes = v["nodes"].as_array().expect("stats nodes array");
    assert_eq!(nodes.len(), footer.nodes.len(), "stats: {v:#}");
    for (s, f) in nodes.iter().zip(&footer.nodes) {
        assert_eq!(
            s["name"],
            serde_json::json!(f.name),
            "stats node order: {v:#}"
        );
        assert_eq!(
            s["bytes_sent"],
            serde_json::json!(f.bytes_sent),
            "bop stats and the footer disagree on the bytes sent by {}: {v:#}",
            f.name
        );
        assert_eq!(
            s["bytes_received"],
            serde_json::json!(f.bytes_received),
            "bop stats and the footer disagree on the bytes received by {}: {v:#}",
            f.name
        );
        assert_eq!(
            s["events"],
            serde_json::json!(f.events),
            "events of {}",
            f.name
        );
        assert_eq!(
            s["threads"],
            serde_json::json!(f.threads),
            "threads of {}",
            f.name
        );
        let spids: BTreeSet<i64> = s["pids"]
            .as_array()
            .expect("pids")
            .iter()
            .filter_map(|p| p.as_i64())
            .collect();
        let fpids: BTreeSet<i64> = f.pids.iter().map(|&p| i64::from(p)).collect();
        assert_eq!(spids, fpids, "pids of {}", f.name);
        if let Some(code) = f.exit {
            assert_eq!(
                s["exit"],
                serde_json::json!(code.to_string()),
                "exit of {}",
                f.name
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Runs with extra arguments (fault rules), bop stats --json, fault events
// ---------------------------------------------------------------------------------------------

impl Sandbox {
    /// `bop run CLUSTER --trace TRACE -q EXTRA...` with the cluster file text `toml`.
    pub fn run_cluster_with(&self, name: &str, toml: &str, extra: &[String]) -> BopRun {
        let cluster = self.write(&format!("{name}.toml"), toml);
        let trace = self.join(&format!("{name}.jsonl"));
        let mut args: Vec<String> = vec![
            "run".into(),
            cluster.display().to_string(),
            "--trace".into(),
            trace.display().to_string(),
            "-q".into(),
        ];
        args.extend(extra.iter().cloned());
        self.bop(name, &args, Some(trace))
    }
}

/// `--fault RULE` for each rule.
pub fn fault_args(rules: &[&str]) -> Vec<String> {
    rules
        .iter()
        .flat_map(|r| ["--fault".to_string(), r.to_string()])
        .collect()
}

/// `bop stats TRACE --json`, parsed.
pub fn stats_json(trace: &Path) -> serde_json::Value {
    let out = Command::new(bop_exe())
        .args(["stats", &trace.display().to_string(), "--json"])
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

/// The fault events (kind "fault") of a trace, with `op` = `op` (any op for "").
pub fn fault_events<'a>(t: &'a Trace, op: &str) -> Vec<&'a Event> {
    t.events
        .iter()
        .filter(|e| e.kind == "fault" && (op.is_empty() || e.op.as_deref() == Some(op)))
        .collect()
}

/// The trace's events as compact lines, for assertion messages.
pub fn dump(t: &Trace) -> String {
    let mut s = String::new();
    for e in &t.events {
        let mut line = format!(
            "#{} {} pid={} tid={} seq={} {}",
            e.id.map(|i| i.to_string()).unwrap_or_default(),
            e.node,
            e.pid,
            e.tid,
            e.seq,
            e.kind
        );
        for (k, v) in [
            ("syscall", e.syscall.as_deref().map(String::from)),
            ("op", e.op.as_deref().map(String::from)),
            ("fd", e.fd.map(|x| x.to_string())),
            (
                "sock",
                e.sock.as_ref().map(|s| {
                    format!(
                        "{}:{} {}->{}",
                        s.id,
                        s.ty,
                        s.local.as_ref().map(|a| a.to_string()).unwrap_or_default(),
                        s.peer.as_ref().map(|a| a.to_string()).unwrap_or_default()
                    )
                }),
            ),
            ("bytes", e.bytes.map(|x| x.to_string())),
            ("flags", e.flags.map(|x| x.to_string())),
            ("errno", e.errno.clone()),
            ("signal", e.signal.clone()),
            ("status", e.status.map(|x| x.to_string())),
            ("unmatched", e.unmatched.map(|x| x.to_string())),
            ("detail", e.detail.clone()),
            (
                "from",
                e.from.as_ref().map(|f| {
                    f.iter()
                        .map(|ed| format!("{}:{}:{}", ed.id, ed.kind, ed.bytes.unwrap_or(0)))
                        .collect::<Vec<_>>()
                        .join(",")
                }),
            ),
        ] {
            if let Some(v) = v {
                line += &format!(" {k}={v}");
            }
        }
        s += &line;
        s.push('\n');
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Stream connections between nodes
// ---------------------------------------------------------------------------------------------

/// Whether the sockets `a` and `b` are the two ends of one connection: mirrored addresses for
/// inet, `peer_id` for Unix sockets.
pub fn are_peers(a: &bop_trace::SockInfo, b: &bop_trace::SockInfo) -> bool {
    if a.family == "unix" || b.family == "unix" {
        return a.peer_id == Some(b.id) || b.peer_id == Some(a.id);
    }
    match (&a.local, &a.peer, &b.local, &b.peer) {
        (Some(al), Some(ap), Some(bl), Some(bp)) => al == bp && ap == bl,
        _ => false,
    }
}

/// The generic operation of a syscall name, for the calls on sockets: send, recv, connect,
/// accept, close (others as they are).
pub fn generic_op(syscall: &str) -> &str {
    match syscall {
        "write" | "writev" | "pwrite64" | "pwritev" | "pwritev2" | "sendto" | "sendmsg"
        | "sendmmsg" | "sendfile" => "send",
        "read" | "readv" | "pread64" | "preadv" | "preadv2" | "recvfrom" | "recvmsg"
        | "recvmmsg" => "recv",
        "accept4" => "accept",
        other => other,
    }
}

/// The node at the other end of the connection of `e`'s socket, as the trace shows it.
pub fn peer_node_of(t: &Trace, e: &Event) -> Option<String> {
    let s = e.sock.as_ref()?;
    t.events
        .iter()
        .find(|o| {
            o.sock
                .as_ref()
                .is_some_and(|os| os.id != s.id && are_peers(s, os))
        })
        .map(|o| o.node.to_string())
}

/// The syscall and fault events of `node` with `op` on a stream connection to `peer` (a fault
/// event's `op` is what was done; its `syscall` is the call it replaced, if any).
pub fn calls_between<'a>(t: &'a Trace, node: &str, op: &str, peer: &str) -> Vec<&'a Event> {
    t.events
        .iter()
        .filter(|e| {
            e.node == node
                && (e.kind == "syscall"
                    || (e.kind == "fault" && e.syscall.as_deref().map(generic_op) == Some(op)))
                && (e.kind == "fault" || e.op.as_deref() == Some(op))
                && e.sock.as_ref().is_some_and(|s| s.ty == "stream")
                && peer_node_of(t, e).as_deref() == Some(peer)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The happens-before graph: ids, lanes, clocks and edges
// ---------------------------------------------------------------------------------------------

/// A vector clock, lane -> count, without zero entries.
pub type Vc = BTreeMap<u32, u64>;

/// An event's vector clock.
pub fn vc_of(e: &Event) -> Vc {
    e.vc.as_ref()
        .map(|m| {
            m.iter()
                .filter(|(_, &n)| n > 0)
                .map(|(&k, &n)| (k, n))
                .collect()
        })
        .unwrap_or_default()
}

/// `a < b`: componentwise `<=` and not equal.
pub fn vc_less(a: &Vc, b: &Vc) -> bool {
    a != b && a.iter().all(|(l, &n)| b.get(l).copied().unwrap_or(0) >= n)
}

fn vc_join(into: &mut Vc, other: &Vc) {
    for (&l, &n) in other {
        let v = into.entry(l).or_insert(0);
        *v = (*v).max(n);
    }
}

/// The graph's structure, with each event's direct predecessors (the previous event of its
/// lane and the sources of its edges), by event index (= id).
pub struct Hb<'a> {
    pub events: &'a [Event],
    pub preds: Vec<Vec<usize>>,
}

/// Checks ids, lanes and edges, and returns the graph: ids are 0, 1, 2, … in file order; every
/// event has a lane and a clock whose own component is seq + 1; every edge comes from an
/// earlier event of another lane.
pub fn hb_graph<'a>(t: &'a Trace, diag: &str) -> Hb<'a> {
    let mut preds = Vec::with_capacity(t.events.len());
    let mut last_of_lane: HashMap<u32, (usize, u64)> = HashMap::new();
    for (i, e) in t.events.iter().enumerate() {
        assert_eq!(
            e.id,
            Some(i as u64),
            "event {i} has id {:?}: ids must be 0, 1, 2, … in file order: {e:?}\n{diag}",
            e.id
        );
        let lane = e
            .lane
            .unwrap_or_else(|| panic!("event {i} has no lane: {e:?}\n{diag}"));
        let vc = vc_of(e);
        assert_eq!(
            vc.get(&lane).copied(),
            Some(e.seq + 1),
            "event {i}: its own lane's clock component must be seq + 1 = {}: {e:?}\n{diag}",
            e.seq + 1
        );
        let mut p = Vec::new();
        match last_of_lane.get(&lane) {
            Some(&(prev, prev_seq)) => {
                assert_eq!(
                    e.seq,
                    prev_seq + 1,
                    "event {i}: seq {} follows seq {prev_seq} in lane {lane}\n{diag}",
                    e.seq
                );
                p.push(prev);
            }
            None => assert_eq!(
                e.seq, 0,
                "event {i}: the first of lane {lane} has seq {}\n{diag}",
                e.seq
            ),
        }
        last_of_lane.insert(lane, (i, e.seq));
        for ed in e.from.iter().flatten() {
            assert!(
                ed.id < i as u64,
                "event {i} has an edge from event {} which is not earlier: {e:?}\n{diag}",
                ed.id
            );
            let src = &t.events[ed.id as usize];
            assert_ne!(
                src.lane, e.lane,
                "event {i} has an edge from event {} of its own lane\n{diag}",
                ed.id
            );
            p.push(ed.id as usize);
        }
        preds.push(p);
    }
    Hb {
        events: &t.events,
        preds,
    }
}

/// Every edge a -> b has vc(a) < vc(b); every clock is exactly what the edges and program
/// order give (the join of its predecessors' clocks, and seq + 1 for its own lane); and for all
/// pairs of events (a sample of them when there are 3000 or more), a reaches b through edges
/// and program order exactly when vc(a) < vc(b), and exactly when b.vc[a.lane] >= a.seq + 1.
pub fn assert_clocks_match_edges(t: &Trace, diag: &str) {
    let hb = hb_graph(t, diag);
    let n = hb.events.len();
    let vcs: Vec<Vc> = hb.events.iter().map(vc_of).collect();
    for (i, e) in hb.events.iter().enumerate() {
        for ed in e.from.iter().flatten() {
            let a = ed.id as usize;
            assert!(
                vc_less(&vcs[a], &vcs[i]),
                "edge {a} -{}-> {i}: vc {:?} is not < vc {:?}\n{diag}",
                ed.kind,
                vcs[a],
                vcs[i]
            );
        }
        let mut want = Vc::new();
        for &p in &hb.preds[i] {
            vc_join(&mut want, &vcs[p]);
        }
        want.insert(e.lane.expect("lane"), e.seq + 1);
        assert_eq!(
            vcs[i], want,
            "event {i}: its clock is not the join of its predecessors' {:?}: {e:?}\n{diag}",
            hb.preds[i]
        );
    }
    // ancestors as bit sets
    let words = n.div_ceil(64);
    let mut anc: Vec<Vec<u64>> = vec![vec![0u64; words]; n];
    for i in 0..n {
        let mut set = vec![0u64; words];
        for &p in &hb.preds[i] {
            for (w, x) in set.iter_mut().zip(&anc[p]) {
                *w |= *x;
            }
            set[p / 64] |= 1 << (p % 64);
        }
        anc[i] = set;
    }
    let reaches = |a: usize, b: usize| anc[b][a / 64] & (1 << (a % 64)) != 0;
    let check = |a: usize, b: usize| {
        if a == b {
            return;
        }
        let r = reaches(a, b);
        let by_vc = vc_less(&vcs[a], &vcs[b]);
        let ea = &hb.events[a];
        let by_doc = vcs[b].get(&ea.lane.expect("lane")).copied().unwrap_or(0) > ea.seq;
        assert!(
            r == by_vc && r == by_doc,
            "events {a} and {b}: reachable through edges and program order: {r}, \
             vc({a}) < vc({b}): {by_vc}, vc({b})[lane of {a}] >= seq({a}) + 1: {by_doc}\n\
             vc({a}) = {:?}\nvc({b}) = {:?}\n{diag}",
            vcs[a],
            vcs[b]
        );
    };
    if n < 3000 {
        for a in 0..n {
            for b in 0..n {
                check(a, b);
            }
        }
    } else {
        // a fixed pseudo-random sample
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..2_000_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            check((x % n as u64) as usize, ((x >> 32) % n as u64) as usize);
        }
    }
}

/// Every successful receive on an inet or Unix stream socket has `msg` edges from sends on the other end of
/// its connection whose bytes add up to exactly what it returned (MSG_PEEK receives too), and
/// no `unmatched`; every datagram received has exactly one `msg` edge from a send of a datagram
/// of the same length and hash. Returns the number of receives checked.
pub fn assert_received_bytes_attributed(t: &Trace, diag: &str) -> usize {
    let mut checked = 0;
    for e in &t.events {
        if e.kind != "syscall" || e.op.as_deref() != Some("recv") || e.errno.is_some() {
            continue;
        }
        let Some(sock) = &e.sock else { continue };
        let bytes = e.bytes.unwrap_or(0);
        // netlink and other families: the kernel answers (a runtime listing the interfaces),
        // no traced process sent it
        if bytes == 0 || sock.family == "other" {
            continue;
        }
        let id = e.id.unwrap_or(u64::MAX);
        assert_eq!(
            e.unmatched, None,
            "receive #{id} of {} has unmatched bytes: {e:?}\n{diag}",
            e.node
        );
        let msgs: Vec<&bop_trace::Edge> = e
            .from
            .iter()
            .flatten()
            .filter(|ed| ed.kind == "msg")
            .collect();
        let sum: u64 = msgs.iter().map(|ed| ed.bytes.unwrap_or(0)).sum();
        assert_eq!(
            sum, bytes,
            "receive #{id} of {} returned {bytes} bytes but its msg edges carry {sum}: {e:?}\n{diag}",
            e.node
        );
        for ed in &msgs {
            let src = &t.events[ed.id as usize];
            assert_eq!(
                src.op.as_deref(),
                Some("send"),
                "msg edge into #{id} from #{} which is no send\n{diag}",
                ed.id
            );
            let ssock = src.sock.as_ref().expect("a send on a socket");
            assert_eq!(ssock.ty, sock.ty, "msg edge between socket types\n{diag}");
            if sock.ty == "stream" {
                assert!(
                    are_peers(sock, ssock),
                    "receive #{id} on {sock:?} has bytes of send #{} on {ssock:?}, which is not \
                     the other end of its connection\n{diag}",
                    ed.id
                );
            } else {
                assert_eq!(msgs.len(), 1, "a datagram has one sender: #{id}\n{diag}");
                assert_eq!(src.bytes, Some(bytes), "datagram #{id}: sent size\n{diag}");
                if let (Some(a), Some(b)) = (&src.hash, &e.hash) {
                    assert_eq!(
                        a, b,
                        "datagram #{id}: hash differs from send #{}\n{diag}",
                        ed.id
                    );
                }
            }
        }
        checked += 1;
    }
    checked
}

/// Every established stream connect has exactly one accept with a `connect` edge from it, and
/// every successful accept has exactly one `connect` edge, from a connect of the other end.
/// Returns the number of connections.
pub fn assert_connects_accepted(t: &Trace, diag: &str) -> usize {
    let failed: BTreeSet<u64> = t
        .events
        .iter()
        .filter(|e| e.op.as_deref() == Some("getsockopt") && e.status.unwrap_or(0) != 0)
        .filter_map(|e| e.sock.as_ref().map(|s| s.id))
        .collect();
    let stream = |e: &Event| e.sock.as_ref().is_some_and(|s| s.ty == "stream");
    let mut n = 0;
    for c in &t.events {
        if c.kind != "syscall" || c.op.as_deref() != Some("connect") || !stream(c) {
            continue;
        }
        let sid = c.sock.as_ref().map(|s| s.id).unwrap_or(0);
        let established = match c.errno.as_deref() {
            None => true,
            Some("EINPROGRESS") => !failed.contains(&sid),
            Some(_) => false,
        };
        let cid = c.id.expect("id");
        let targets: Vec<&Event> = t
            .events
            .iter()
            .filter(|e| {
                e.from
                    .iter()
                    .flatten()
                    .any(|ed| ed.kind == "connect" && ed.id == cid)
            })
            .collect();
        if !established {
            assert!(
                targets.is_empty(),
                "a failed connect #{cid} has connect edges to {targets:?}\n{diag}"
            );
            continue;
        }
        assert_eq!(
            targets.len(),
            1,
            "connect #{cid} of {} must have exactly one accept with a connect edge from it, \
             found {targets:?}\n{diag}",
            c.node
        );
        let a = targets[0];
        assert_eq!(
            a.op.as_deref(),
            Some("accept"),
            "connect edge into a non-accept\n{diag}"
        );
        assert!(
            a.errno.is_none(),
            "connect edge into a failed accept\n{diag}"
        );
        n += 1;
    }
    for a in &t.events {
        if a.kind != "syscall" || a.op.as_deref() != Some("accept") || a.errno.is_some() {
            continue;
        }
        let edges: Vec<&bop_trace::Edge> = a
            .from
            .iter()
            .flatten()
            .filter(|ed| ed.kind == "connect")
            .collect();
        assert_eq!(
            edges.len(),
            1,
            "accept #{} of {} must have exactly one connect edge: {a:?}\n{diag}",
            a.id.unwrap_or(0),
            a.node
        );
        let c = &t.events[edges[0].id as usize];
        let (cs, as_) = (
            c.sock.as_ref().expect("sock"),
            a.sock.as_ref().expect("sock"),
        );
        if cs.family != "unix" {
            assert!(
                are_peers(cs, as_),
                "accept #{} ({as_:?}) is not the other end of connect #{} ({cs:?})\n{diag}",
                a.id.unwrap_or(0),
                edges[0].id
            );
        }
    }
    n
}

/// Every receive on a stream socket that returned 0 (end of stream) has an `eof` edge from a
/// close or shutdown of the other end of its connection, or from the exit of the process that
/// closed its last reference (listed in the exit's `closes`). Returns the number of such
/// receives.
pub fn assert_eofs_explained(t: &Trace, diag: &str) -> usize {
    let mut n = 0;
    for e in &t.events {
        if e.kind != "syscall"
            || e.op.as_deref() != Some("recv")
            || e.errno.is_some()
            || e.bytes != Some(0)
        {
            continue;
        }
        let Some(sock) = e.sock.as_ref().filter(|s| s.ty == "stream") else {
            continue;
        };
        let id = e.id.unwrap_or(0);
        let eofs: Vec<&bop_trace::Edge> = e
            .from
            .iter()
            .flatten()
            .filter(|ed| ed.kind == "eof")
            .collect();
        assert!(
            !eofs.is_empty(),
            "end of stream #{id} of {} has no eof edge: {e:?}\n{diag}",
            e.node
        );
        for ed in eofs {
            let src = &t.events[ed.id as usize];
            if src.kind == "exit" {
                let closed: Vec<&bop_trace::SockInfo> = src.closes.iter().flatten().collect();
                assert!(
                    closed.iter().any(|ss| are_peers(sock, ss)),
                    "eof edge into #{id} ({sock:?}) from exit #{} which closed {closed:?}, \
                     not the other end\n{diag}",
                    ed.id
                );
                continue;
            }
            assert!(
                matches!(
                    src.op.as_deref(),
                    Some("close") | Some("shutdown") | Some("close_range")
                ),
                "eof edge into #{id} from #{}, which is no close, shutdown or exit: {src:?}\n{diag}",
                ed.id
            );
            if let Some(ss) = &src.sock {
                assert!(
                    are_peers(sock, ss),
                    "eof edge into #{id} ({sock:?}) from a close of {ss:?}, not the other end\n{diag}"
                );
            }
        }
        n += 1;
    }
    n
}

/// All of the graph checks, and `bop stats --json` finds nothing unmatched.
pub fn assert_graph_consistent(run: &BopRun) -> Trace {
    let t = run.trace();
    let diag = format!("{}\n--- trace ---\n{}", run.diag(), dump(&t));
    assert_clocks_match_edges(&t, &diag);
    assert!(
        assert_received_bytes_attributed(&t, &diag) > 0,
        "no receives in the trace\n{diag}"
    );
    assert_eofs_explained(&t, &diag);
    let v = stats_json(run.trace_path.as_ref().expect("trace path"));
    assert_eq!(
        v["unmatched_bytes"],
        serde_json::json!(0),
        "bop stats: unmatched bytes: {v:#}\n{diag}"
    );
    assert_eq!(
        v["unmatched_datagrams"],
        serde_json::json!(0),
        "bop stats: unmatched datagrams: {v:#}\n{diag}"
    );
    t
}

// ---------------------------------------------------------------------------------------------
// Helpers of the tests that run testbeds from PATH and real systems
// ---------------------------------------------------------------------------------------------

/// PATH with the directory of the testbed binary `exe` (e.g. `env!("CARGO_BIN_EXE_tb-proto")`)
/// first: cluster files name their programs as a user would, from PATH.
pub fn path_with_dir_of(exe: &str) -> std::ffi::OsString {
    let dir = Path::new(exe)
        .parent()
        .expect("a testbed binary has a directory")
        .to_path_buf();
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(std::iter::once(dir).chain(std::env::split_paths(&path))).expect("PATH")
}

/// A node's log beside the run's trace: TRACE-STEM.NODE.stdout / .stderr.
pub fn node_log(run: &BopRun, node: &str, stream: &str) -> PathBuf {
    let trace = run.trace_path.as_ref().expect("trace path");
    let stem = trace.file_stem().expect("stem").to_string_lossy();
    trace.with_file_name(format!("{stem}.{node}.{stream}"))
}

/// The messages (distinct sends) and bytes `from` delivered to `to`, per `bop stats --json`.
pub fn stats_pair(stats: &serde_json::Value, from: &str, to: &str) -> (u64, u64) {
    stats["pairs"]
        .as_array()
        .expect("pairs")
        .iter()
        .find(|p| p["from"] == from && p["to"] == to)
        .map(|p| {
            (
                p["messages"].as_u64().unwrap_or(0),
                p["bytes"].as_u64().unwrap_or(0),
            )
        })
        .unwrap_or_default()
}

/// Compiles `tests/progs/NAME.c` into the sandbox.
pub fn compile_prog(sb: &Sandbox, name: &str) -> PathBuf {
    compile_c(sb, &progs_dir(), name)
}

/// Compiles `DIR/NAME.c` with gcc (`-O2 -Wall -pthread`) into the sandbox.
pub fn compile_c(sb: &Sandbox, dir: &Path, name: &str) -> PathBuf {
    let src = dir.join(format!("{name}.c"));
    let bin = sb.join(name);
    let out = Command::new("gcc")
        .args(["-O2", "-Wall", "-pthread", "-o"])
        .arg(&bin)
        .arg(&src)
        .output()
        .expect("run gcc");
    assert!(
        out.status.success(),
        "gcc {}: {}",
        src.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    bin
}

/// Runs `bop ARGS` (a quick command: stats, export) and returns its exit code and stderr,
/// asserting the code is `code`.
pub fn bop_quick(args: &[&std::ffi::OsStr], code: i32) -> String {
    let o = Command::new(bop_exe())
        .args(args)
        .output()
        .expect("run bop");
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(code), "bop {args:?}: {err}");
    err
}

/// Asserts that a run was stopped by bop on receiving `sig` (SIGINT, SIGTERM): exit 130, a
/// footer with the verdict "interrupted" naming the signal, every node stopped by bop, and a
/// complete trace. Returns the trace.
pub fn assert_interrupted_by(run: &BopRun, sig: &str) -> Trace {
    run.expect_code(130);
    let t = run.trace();
    let diag = run.diag();
    let f = t
        .footer
        .as_ref()
        .unwrap_or_else(|| panic!("no footer\n{diag}"));
    assert_eq!(f.verdict, "interrupted", "{diag}");
    assert!(
        f.reason.as_deref().is_some_and(|r| r.contains(sig)),
        "reason: {:?}",
        f.reason
    );
    for n in &f.nodes {
        assert!(
            n.stopped_by_bop,
            "node {} was stopped by bop: {n:?}",
            n.name
        );
    }
    assert_complete(&t, &diag);
    t
}

/// A lock on the fixed ports of the bundled cluster files (testbeds/*.toml and
/// testbeds/protocols/*.toml, which name their ports; testbeds/unix.toml's socket path), for
/// tests that run those files as they are, or hold or use one of those ports (`bop demo` and
/// its port 7101). Held until dropped. A test that runs its own cluster file on
/// [`free_port`]s needs none.
pub struct FixedPorts(#[allow(dead_code)] nix::fcntl::Flock<File>);

/// Takes the [`FixedPorts`] lock: shared for a test that runs one protocol's file (different
/// files use different ports, so such tests run side by side, and the runs of one file are
/// made one after another inside one test), exclusive for one that may run any of them (every
/// block of the docs' examples, tests/docs.rs) or holds one of the ports itself. Tests run in separate processes under nextest, hence a
/// file lock (flock) in the target directory.
pub fn fixed_ports(exclusive: bool) -> FixedPorts {
    use nix::fcntl::{Flock, FlockArg};
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(dir).expect("create CARGO_TARGET_TMPDIR");
    let path = dir.join("bop-fixed-ports.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let arg = if exclusive {
        FlockArg::LockExclusive
    } else {
        FlockArg::LockShared
    };
    match Flock::lock(file, arg) {
        Ok(lock) => FixedPorts(lock),
        Err((_, e)) => panic!("flock {}: {e}", path.display()),
    }
}
