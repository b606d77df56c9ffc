//! One run of a system under the tracer: start the nodes in order, record every traced call,
//! stop the daemons when the work is done, and judge the outcome.

use std::borrow::Cow;
use std::collections::BTreeSet;

use rustc_hash::FxHashMap as HashMap;
use std::ffi::CString;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bop_cluster::{Cluster, Node};
use bop_faults::{Decision, Effect, Engine, Fired, Rule};
use bop_graph::Graph;
use bop_model::{Applied, Model, Object, TaskKind as ModelTask};
use bop_ptrace::{Action, Exit, OnSignal, Spawn, Stop, TaskKind, TraceeMemory, Tracer, Waited};
use bop_syscalls::{decode, signal_name, Call};
use bop_trace::{Event, Footer, Header, NodeInfo, NodeOutcome, Record, Writer, FORMAT};

use crate::inject;
use crate::output::{self, Capture};
use crate::probe::PidfdProbe;
use crate::ready;
use crate::record::syscall_event;
use crate::serial::{Channel, Channels, Serial};
use bop_campaign::follow::Follower;

/// How often a pending `ready` condition is checked.
const READY_POLL: Duration = Duration::from_millis(20);
/// After waiting this long for a node's `ready` address, bop says what it is waiting for.
const READY_NOTE: Duration = Duration::from_secs(3);

/// Options of one run.
pub struct Options {
    /// Where the trace goes; node logs go beside it.
    pub trace: PathBuf,
    /// Echo the nodes' output with a `name |` prefix.
    pub echo: bool,
    /// Make io_uring_setup fail with ENOSYS.
    pub refuse_io_uring: bool,
    /// Attach to this running process tree instead of starting the cluster's nodes (the
    /// cluster then has one node describing it).
    pub attach: Option<i32>,
    /// Fault rules to inject, with their text as the user wrote it (canonical form).
    pub faults: Vec<(String, Rule)>,
    /// Compare the run, as it goes, with the runs recorded in this directory (`--follow`).
    pub follow: Option<PathBuf>,
    /// `--capture-payload`: put up to this many bytes of each send's and receive's payload in
    /// the trace (`data`). None: no payload in the trace.
    pub capture_payload: Option<usize>,
}

/// A run that could not start (exit code 2).
#[derive(Debug)]
pub struct StartError(pub String);

/// How a run ended.
pub struct Outcome {
    /// What the trace's footer says.
    pub footer: Footer,
    /// bop's exit code: 0 pass, 1 fail or hang, 130 interrupted.
    pub exit_code: i32,
    /// Files written: the trace and the logs.
    pub trace: PathBuf,
    /// Node log files.
    pub logs: Vec<PathBuf>,
    /// A trace write error that cut the run short.
    pub trace_error: Option<String>,
    /// With `--follow`: where the run fell off the recorded classes, or which it followed.
    pub follow: Option<String>,
    /// The node whose exit failed the run, and the last line it wrote to stderr (when it
    /// wrote one): what a user running with `-q` needs to see first.
    pub last_words: Option<(String, String)>,
    /// The system could not be started (the footer's reason says why; exit code 2).
    pub startup_failed: bool,
}

/// What a thread's current call triggered (an `after NODE.send(PEER)` rule), due when the
/// call completes.
struct Deferred {
    /// The injections to record then.
    fired: Vec<Fired>,
    /// The effects to carry out then.
    effects: Vec<Effect>,
    /// The processes of the other nodes those effects act on, held at their next stop (not
    /// interrupted: [`Tracer::hold_at_stops`]) until then.
    frozen: Vec<i32>,
    /// Since when.
    since: Instant,
}

/// How the `[check]` command ended.
enum Checked {
    /// It exited with this status (128 + N when signal N killed it).
    Exited(i32),
    /// It could not start, or did not finish in time: why.
    Failed(String),
    /// bop received this signal while it ran, and killed it.
    Interrupted(i32),
}

#[derive(Debug, Clone, PartialEq)]
enum Reason {
    Finished,
    /// the run timeout passed while these non-daemon nodes still ran
    Hang(Vec<String>),
    Interrupted(i32),
    StartFailed(String),
    TraceFailed(String),
}

#[derive(Default)]
struct NodeState {
    root: Option<i32>,
    pids: BTreeSet<i32>,
    threads: u64,
    exit: Option<Exit>,
    stopped_by_bop: bool,
    events: u64,
    sent: u64,
    received: u64,
    started_at: Option<Instant>,
    up_at: Option<Instant>,
    capture: Option<Capture>,
    /// a failed bind, to explain an early exit
    hint: Option<String>,
    /// crashed by a fault rule (its death by SIGKILL is bop's doing)
    crashed: bool,
    /// a crash fault came before the node was started: it is carried out when it starts
    crash_at_start: bool,
    /// the last fault rule that acted on the node, to explain an early exit
    last_fault: Option<String>,
    /// bop has said that it is waiting for the node's `ready` address
    ready_noted: bool,
}

struct Runner<'a> {
    cluster: &'a Cluster,
    opts: &'a Options,
    tracer: Tracer,
    model: Model,
    probe: PidfdProbe,
    writer: Writer,
    trace_error: Option<String>,
    nodes: Vec<NodeState>,
    graph: Graph,
    node_index: HashMap<String, usize>,
    start: Instant,
    next_node: usize,
    ready_check: Instant,
    stopping: Option<(Reason, Instant)>,
    killed: bool,
    echo: Option<Arc<Mutex<io::Stdout>>>,
    io_uring_warned: BTreeSet<i32>,
    /// the fault engine (no rules: every call goes on)
    faults: Engine,
    has_faults: bool,
    /// threads held by a fault (delay, connect timeout): until, tid, then what, the call
    held: Vec<(u64, i32, Decision, i64, [u64; 6])>,
    /// threads whose current send a fault dropped: its exit is not recorded as a send (the
    /// bytes never left; the fault event says what happened)
    injected: BTreeSet<i32>,
    /// paused nodes and until when
    pauses: HashMap<usize, u64>,
    /// fault events of nodes not started yet, written on their first process
    unhomed: Vec<(usize, Event)>,
    /// sockets bop keeps open so that a close does not cross a partition, by connection
    kept: HashMap<String, Vec<std::os::fd::OwnedFd>>,
    /// injections and effects a thread's current call triggered, due when it completes
    deferred: HashMap<i32, Deferred>,
    /// the rules whose triggering call had to let the nodes they act on go on before it
    /// completed ([`Runner::release_overdue_holds`])
    unheld: std::collections::BTreeSet<usize>,
    /// The node names, leaked once per run (a few bytes per node, for the life of the bop
    /// process, which makes one run), so that every event names its node without an
    /// allocation of its own.
    node_names: Vec<&'static str>,
    /// the run's fresh scratch directory (BOP_RUN_DIR)
    run_dir: PathBuf,
    /// `--follow`: the recorded classes the run is compared with
    follower: Option<Follower>,
    /// per recorded class, the rules anchored on it (`in class`)
    anchors: Vec<Vec<usize>>,
    /// calls a signal interrupted (ERESTARTSYS and kin), by thread, until it is known whether
    /// the program sees them: recorded if a handled signal comes next
    interrupted: HashMap<i32, (bop_syscalls::Syscall, Applied, [u64; 6])>,
    /// calls on one channel in one direction, one at a time (the graph's byte order)
    serial: Serial,
}

/// How many of a datagram's first bytes its `hash` covers (docs/trace-format.md).
const HASHED_BYTES: usize = 65536;

/// Whether thread `tid` sleeps in the kernel (state S or D in /proc), rather than running or
/// sitting in a ptrace stop that bop has yet to handle (t). (A holder never sits in a
/// group-stop: a stop signal ends its call, with an exit stop, before the thread stops.)
fn blocked_in_call(tid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{tid}/stat")).unwrap_or_default();
    // the state follows the command name, which is in parentheses and may hold anything
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    matches!(state, Some('S') | Some('D'))
}

/// What a process does with a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Disposition {
    /// Runs a handler.
    Caught,
    /// Ignores it (SIG_IGN, or a signal whose default action is to ignore it).
    Ignored,
    /// The default action: terminate, dump core, stop, or continue.
    Default,
}

/// What thread `tid`'s process does with signal `sig`, from its `SigCgt` and `SigIgn` masks
/// in /proc. SIGCONT counts as ignored when it is not caught: it continues a stopped process
/// when it is sent, not when it is delivered.
fn disposition(tid: i32, sig: i32) -> Disposition {
    if !(1..=64).contains(&sig) {
        return Disposition::Default;
    }
    let status = std::fs::read_to_string(format!("/proc/{tid}/status")).unwrap_or_default();
    let mask = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
            .is_some_and(|m| m & (1 << (sig - 1)) != 0)
    };
    if mask("SigCgt:") {
        Disposition::Caught
    } else if mask("SigIgn:")
        || matches!(
            sig,
            libc::SIGCHLD | libc::SIGURG | libc::SIGWINCH | libc::SIGCONT
        )
    {
        Disposition::Ignored
    } else {
        Disposition::Default
    }
}

/// For each class of the follower, the rules anchored on it (`in class NAME`), after
/// checking that every anchor names a recorded class and an event that class has.
fn anchor_rules(
    opts: &Options,
    follower: Option<&Follower>,
) -> Result<Vec<Vec<usize>>, StartError> {
    let mut anchors = vec![Vec::new(); follower.map_or(0, Follower::classes)];
    for (i, (text, rule)) in opts.faults.iter().enumerate() {
        let Some(class) = &rule.class else { continue };
        let Some(f) = follower else {
            return Err(StartError(format!(
                "the fault rule `{text}` is anchored on a recorded class: give --follow DIR, \
                 the directory of the census that recorded class {class}"
            )));
        };
        let k = f
            .class_index(class)
            .map_err(|e| StartError(format!("in the fault rule `{text}`: {e}")))?;
        let anchor = match &rule.trigger {
            Some(bop_faults::Trigger::At(bop_faults::When::Event(p))) => Some((p, true)),
            Some(bop_faults::Trigger::After(bop_faults::When::Event(p))) => Some((p, false)),
            _ => None,
        };
        if let Some((p, at)) = anchor {
            f.check_anchor(k, p, at)
                .map_err(|e| StartError(format!("in the fault rule `{text}`: {e}")))?;
        }
        anchors[k].push(i);
    }
    Ok(anchors)
}

/// Runs the cluster under the tracer and writes the trace.
pub fn run(cluster: &Cluster, opts: &Options) -> Result<Outcome, StartError> {
    preflight(cluster)?;
    let follower = opts
        .follow
        .as_deref()
        .map(Follower::load)
        .transpose()
        .map_err(StartError)?;
    let anchors = anchor_rules(opts, follower.as_ref())?;
    let run_dir = fresh_run_dir(&opts.trace, cluster)?;
    for w in run_dir.open_to_node_users(cluster) {
        eprintln!("bop: warning: {w}");
    }
    let run_dir = run_dir.into_path();
    let setup_stopped = match &cluster.run.setup {
        Some(setup) => run_setup(setup, &cluster.base_dir, &run_dir)?,
        None => None,
    };
    let writer = Writer::create(&opts.trace).map_err(|e| {
        StartError(format!(
            "cannot create the trace file {}: {}",
            opts.trace.display(),
            bop_trace::files::refuse_symlink(e)
        ))
    })?;
    let start = Instant::now();
    // the system calls `fail` rules name by their own names that bop does not stop at
    // otherwise (`fail server.openat#3 with ENOSPC`)
    let mut tracer = Tracer::new();
    let named: Vec<i64> = opts
        .faults
        .iter()
        .filter_map(|(_, r)| match &r.action {
            bop_faults::Action::Fail { event, .. } => bop_syscalls::number(&event.op),
            _ => None,
        })
        .collect();
    tracer.trace_also(&named);
    let mut r = Runner {
        cluster,
        opts,
        tracer,
        model: Model::new(),
        probe: PidfdProbe::default(),
        writer,
        trace_error: None,
        nodes: cluster.nodes.iter().map(|_| NodeState::default()).collect(),
        graph: Graph::new(),
        node_index: cluster
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.clone(), i))
            .collect(),
        start,
        next_node: 0,
        ready_check: start,
        stopping: None,
        killed: false,
        echo: opts.echo.then(|| Arc::new(Mutex::new(io::stdout()))),
        io_uring_warned: BTreeSet::new(),
        faults: Engine::new(opts.faults.iter().map(|(_, r)| r.clone()).collect()),
        has_faults: !opts.faults.is_empty(),
        held: Vec::new(),
        injected: BTreeSet::new(),
        pauses: HashMap::default(),
        deferred: HashMap::default(),
        unheld: Default::default(),
        kept: HashMap::default(),
        unhomed: Vec::new(),
        node_names: cluster
            .nodes
            .iter()
            .map(|n| &*Box::leak(n.name.clone().into_boxed_str()))
            .collect(),
        run_dir,
        follower,
        anchors,
        serial: Serial::new(),
        interrupted: HashMap::default(),
    };
    let header = Header {
        format: FORMAT,
        bop_version: env!("CARGO_PKG_VERSION").to_string(),
        start_unix_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0),
        backend: if opts.attach.is_some() {
            "ptrace"
        } else {
            "ptrace+seccomp"
        }
        .into(),
        cluster: cluster.path.as_ref().map(|p| p.display().to_string()),
        nodes: cluster
            .nodes
            .iter()
            .map(|n| NodeInfo {
                name: n.name.clone(),
                cmd: n.cmd.clone(),
                daemon: n.daemon,
            })
            .collect(),
    };
    r.write(Record::Header(header));
    if let Some(pid) = opts.attach {
        r.attach_tree(pid)?;
        eprintln!(
            "bop: attached to pid {pid} ({}, {}); Ctrl-C detaches",
            bop_trace::count(r.nodes[0].pids.len(), "process"),
            bop_trace::count(r.tracer.thread_count(), "thread")
        );
    }
    let reason = match setup_stopped {
        Some(sig) => {
            eprintln!(
                "bop: received {} during the [run] setup: stopped it; no node was started",
                signal_name(sig)
            );
            Reason::Interrupted(sig)
        }
        None => r.run_loop(),
    };
    Ok(r.finish(reason))
}

/// Refuses to start when a node's ready address is already taken by someone else.
fn preflight(cluster: &Cluster) -> Result<(), StartError> {
    for n in &cluster.nodes {
        if let Some(ready) = &n.ready {
            if ready::is_listening(ready, &[]) {
                return Err(StartError(format!(
                    "node {}: its ready address {ready} is already in use by a process outside \
                     this run: stop that process or give the node another port",
                    n.name,
                )));
            }
        }
    }
    Ok(())
}

fn cstring(s: impl AsRef<[u8]>) -> Result<CString, StartError> {
    CString::new(s.as_ref().to_vec())
        .map_err(|_| StartError("an argument or variable contains a NUL byte".into()))
}

impl Runner<'_> {
    fn ts(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    fn write(&mut self, rec: Record) {
        if self.trace_error.is_some() {
            return;
        }
        if let Err(e) = self.writer.write(&rec) {
            self.trace_failed(&e);
        }
    }

    /// When the buffered records are due on disk; never, once the trace is lost (a refused
    /// flush stays refused, and retrying it would only spin).
    fn flush_deadline(&self) -> Option<Instant> {
        self.trace_error
            .is_none()
            .then(|| self.writer.flush_deadline())
            .flatten()
    }

    /// Keeps the first failure to write the trace (a full disk, a removed directory) and stops
    /// the run for it: a run whose trace is lost would only go on leaving nothing behind. Every
    /// write and flush reports here, so a failure met by a timed flush stops the run as surely
    /// as one met by a write.
    fn trace_failed(&mut self, e: &std::io::Error) {
        if self.trace_error.is_some() {
            return;
        }
        let msg = format!(
            "writing the trace {} failed: {e}",
            self.opts.trace.display()
        );
        self.trace_error = Some(msg.clone());
        self.begin_stop(Reason::TraceFailed(msg));
    }

    /// Hands an event of thread `tid` of node `node` to the graph, and writes what it releases.
    fn emit(&mut self, node: usize, pid: i32, tid: i32, e: Event) {
        self.emit_event(node, pid, tid, e, false);
    }

    /// [`Runner::emit`]; `part`: the first of two events of one call (`Graph::push_part`).
    fn emit_event(&mut self, node: usize, pid: i32, tid: i32, mut e: Event, part: bool) {
        e.node = Cow::Borrowed(self.node_names[node]);
        e.pid = pid;
        e.tid = tid;
        e.ts = self.ts();
        let released = if part {
            self.graph.push_part(e)
        } else {
            self.graph.push(e)
        };
        self.write_events(released);
    }

    /// Writes events released by the graph (in causal order).
    fn write_events(&mut self, mut events: Vec<Event>) {
        for e in events.drain(..) {
            if let Some(&i) = self.node_index.get(&*e.node) {
                self.nodes[i].events += 1;
            }
            if let Some(f) = self.follower.as_mut() {
                if let Some(d) = f.observe(&e) {
                    eprintln!("bop: follow: {d}");
                }
                for k in f.take_left() {
                    for &i in &self.anchors[k] {
                        self.faults.abandon(i);
                    }
                }
            }
            self.write(Record::Event(e));
        }
        self.graph.recycle(events);
    }

    /// What bop tells every node and the check: the run's scratch directory and the fault
    /// rules in force (one per line; empty without faults), so a workload or an oracle can
    /// hold the system to what it promises under them.
    fn bop_env(&self) -> Vec<(String, String)> {
        let faults: Vec<&str> = self.opts.faults.iter().map(|(t, _)| t.as_str()).collect();
        vec![
            ("BOP_RUN_DIR".into(), self.run_dir.display().to_string()),
            ("BOP_FAULTS".into(), faults.join("\n")),
        ]
    }

    fn spawn_node(&mut self, i: usize) -> Result<(), StartError> {
        let node: &Node = &self.cluster.nodes[i];
        let width = self
            .cluster
            .nodes
            .iter()
            .map(|n| n.name.len())
            .max()
            .unwrap_or(0);
        let stem = self.opts.trace.with_extension("");
        let mut capture = output::capture(
            &stem,
            &node.name,
            format!("{:width$} | ", node.name),
            self.echo.clone(),
        )
        .map_err(|e| {
            StartError(format!(
                "node {}: cannot capture its output: {e}",
                node.name
            ))
        })?;
        for ino in capture.inodes {
            self.model.mark_log_pipe(ino);
        }
        let devnull = std::fs::File::open("/dev/null")
            .map_err(|e| StartError(format!("cannot open /dev/null: {e}")))?;
        let [out, err] = capture
            .writers
            .as_ref()
            .map(|[o, e]| [o.as_raw_fd(), e.as_raw_fd()])
            .ok_or_else(|| StartError("output pipes missing".into()))?;
        let mut env: Vec<CString> = Vec::new();
        for (k, v) in std::env::vars_os() {
            let k_str = k.to_string_lossy();
            if node.env.contains_key(k_str.as_ref()) || k_str.starts_with("BOP_") {
                continue;
            }
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            env.push(cstring(kv)?);
        }
        for (k, v) in self.bop_env() {
            env.push(cstring(format!("{k}={v}"))?);
        }
        env.push(cstring(format!("BOP_NODE={}", node.name))?);
        for (k, v) in &node.env {
            env.push(cstring(format!("{k}={v}"))?);
        }
        let spec = Spawn {
            program: cstring(node.program.as_os_str().as_bytes())?,
            argv: node.argv.iter().map(cstring).collect::<Result<_, _>>()?,
            env,
            cwd: cstring(node.cwd.as_os_str().as_bytes())?,
            stdio: [devnull.as_raw_fd(), out, err],
            new_process_group: true,
            user: node.user.as_ref().map(|u| (u.uid, u.gid)),
        };
        let pid = self.tracer.spawn(&spec).map_err(|e| {
            if let (bop_ptrace::SpawnError::Setup("setgid" | "setuid", libc::EPERM), Some(u)) =
                (&e, &node.user)
            {
                // SAFETY: geteuid has no preconditions.
                let me = unsafe { libc::geteuid() };
                return StartError(format!(
                    "node {}: cannot run it as user \"{}\" (uid {}): switching users needs \
                     root, and bop runs as uid {me}; run bop as root, or remove \"user\"",
                    node.name, u.name, u.uid
                ));
            }
            StartError(format!(
                "node {}: cannot start {}: {e}",
                node.name,
                node.program.display()
            ))
        })?;
        capture.close_writers();
        let argv = node.argv.clone();
        let st = &mut self.nodes[i];
        st.root = Some(pid);
        st.pids.insert(pid);
        st.threads += 1;
        st.capture = Some(capture);
        st.started_at = Some(Instant::now());
        if node.ready.is_none() {
            st.up_at = st.started_at;
        }
        self.model.add_process(pid, i);
        self.emit(
            i,
            pid,
            pid,
            Event {
                kind: "spawn".into(),
                argv: Some(argv),
                ..Event::default()
            },
        );
        let (mine, others): (Vec<_>, Vec<_>) = std::mem::take(&mut self.unhomed)
            .into_iter()
            .partition(|(n, _)| *n == i);
        self.unhomed = others;
        for (_, e) in mine {
            self.emit(i, pid, pid, e);
        }
        // faults that came before the node started: a crash kills it now, a pause that has
        // not ended holds it from its first instruction
        if std::mem::take(&mut self.nodes[i].crash_at_start) {
            self.crash(i);
        } else if self.pauses.contains_key(&i) {
            self.tracer.pause(&[pid]);
        }
        Ok(())
    }

    /// Starts every node whose turn has come; returns when it must wait, and until when.
    fn start_nodes(&mut self) -> Result<Option<Instant>, String> {
        loop {
            let i = self.next_node;
            if i >= self.cluster.nodes.len() || self.stopping.is_some() {
                return Ok(None);
            }
            let now = Instant::now();
            let mut base = self.start;
            if i > 0 {
                let prev = &self.cluster.nodes[i - 1];
                if self.nodes[i - 1].up_at.is_none() {
                    let Some(ready) = &prev.ready else {
                        return Ok(None);
                    };
                    if now >= self.ready_check {
                        self.ready_check = now + READY_POLL;
                        if ready::is_listening(ready, &self.alive_pids(i - 1)) {
                            self.nodes[i - 1].up_at = Some(now);
                        }
                    }
                    if self.nodes[i - 1].up_at.is_none() && self.nodes[i - 1].crashed {
                        // a fault crashed it before it was ready: the system goes on without
                        // it, as it would with a node that went down
                        self.nodes[i - 1].up_at = Some(now);
                    }
                    if self.nodes[i - 1].up_at.is_none() {
                        let st = &self.nodes[i - 1];
                        if let Some(exit) = st.exit {
                            let mut hint = st
                                .hint
                                .clone()
                                .map(|h| format!(" ({h})"))
                                .unwrap_or_default();
                            if let Some(rule) = &st.last_fault {
                                hint.push_str(&format!(
                                    "; the fault rule `{rule}` acted on it before it exited"
                                ));
                            }
                            return Err(format!(
                                "node {} {} before it was ready ({ready} was not seen listening){hint}",
                                prev.name,
                                describe_exit(exit),
                            ));
                        }
                        let waited = now.duration_since(st.started_at.unwrap_or(now));
                        let timeout = self.cluster.run.ready_timeout;
                        if waited > timeout {
                            return Err(ready::not_ready(
                                &prev.name,
                                ready,
                                timeout,
                                &self.alive_pids(i - 1),
                                self.cluster.path.is_some(),
                            ));
                        }
                        if waited >= READY_NOTE && !st.ready_noted {
                            eprintln!("{}", ready::waiting_line(&prev.name, ready, timeout));
                            self.nodes[i - 1].ready_noted = true;
                        }
                        return Ok(Some(self.ready_check));
                    }
                }
                base = self.nodes[i - 1].up_at.unwrap_or(now);
            }
            let at = base + self.cluster.nodes[i].delay;
            if now < at {
                return Ok(Some(at));
            }
            self.spawn_node(i).map_err(|e| e.0)?;
            self.next_node += 1;
        }
    }

    fn alive_pids(&self, node: usize) -> Vec<i32> {
        self.nodes[node]
            .pids
            .iter()
            .copied()
            .filter(|p| self.tracer.tgid(*p) == Some(*p))
            .collect()
    }

    /// Attaches to `pid` and every descendant process (all their threads) as node 0.
    fn attach_tree(&mut self, pid: i32) -> Result<(), StartError> {
        let mut todo = vec![pid];
        let mut first = true;
        while let Some(p) = todo.pop() {
            let tids = match self.tracer.attach(p) {
                Ok(t) => t,
                Err(e) if first => {
                    return Err(StartError(format!(
                        "cannot attach to pid {pid}: {e}{}",
                        if e.raw_os_error() == Some(libc::EPERM) {
                            " (ptrace is not permitted: run bop as root or with CAP_SYS_PTRACE, \
                             or lower /proc/sys/kernel/yama/ptrace_scope)"
                        } else {
                            ""
                        }
                    )))
                }
                Err(_) => continue, // a child that exited meanwhile
            };
            first = false;
            self.model.add_process(p, 0);
            let st = &mut self.nodes[0];
            st.root.get_or_insert(p);
            st.pids.insert(p);
            st.threads += tids.len() as u64;
            for t in tids.iter().filter(|&&t| t != p) {
                self.model.new_task(p, *t, ModelTask::Thread);
            }
            let argv = cmdline(p);
            self.emit(
                0,
                p,
                p,
                Event {
                    kind: "attach".into(),
                    argv,
                    ..Event::default()
                },
            );
            todo.extend(children_of(p));
        }
        let now = Instant::now();
        self.nodes[0].started_at = Some(now);
        self.nodes[0].up_at = Some(now);
        self.next_node = self.cluster.nodes.len();
        Ok(())
    }

    /// Sends SIGTERM to the nodes that must stop (reverse start order), and arms the SIGKILL.
    /// When attached, detaches instead: bop never kills what it did not start.
    fn begin_stop(&mut self, reason: Reason) {
        if self.stopping.is_some() {
            return;
        }
        if self.opts.attach.is_some() {
            self.tracer.detach_all();
            self.killed = true;
            self.stopping = Some((reason, Instant::now()));
            return;
        }
        // the stop must reach every thread: paused nodes and calls a fault holds go on now
        // (a pause longer than the run's timeout would otherwise outlast it)
        let held: Vec<i32> = self
            .deferred
            .values_mut()
            .flat_map(|d| std::mem::take(&mut d.frozen))
            .collect();
        self.release(held);
        let paused: Vec<usize> = self.pauses.keys().copied().collect();
        for n in paused {
            self.end_pause(n);
        }
        for (_, tid, d, nr, args) in std::mem::take(&mut self.held) {
            self.apply_entry_decision(tid, nr, args, d);
        }
        for w in self.serial.release_all() {
            self.entry_proceed(w.tid, w.nr, w.args);
        }
        let all = reason != Reason::Finished;
        for i in (0..self.nodes.len()).rev() {
            let pids = self.alive_pids(i);
            if pids.is_empty() {
                continue;
            }
            let node = &self.cluster.nodes[i];
            if all || node.daemon || self.nodes[i].exit.is_some() {
                self.nodes[i].stopped_by_bop = true;
                for p in pids {
                    // SAFETY: signalling a traced process.
                    unsafe { libc::kill(p, libc::SIGTERM) };
                }
            }
        }
        self.stopping = Some((reason, Instant::now() + self.cluster.run.grace));
    }

    fn kill_all(&mut self) {
        self.killed = true;
        for i in 0..self.nodes.len() {
            let pids = self.alive_pids(i);
            if !pids.is_empty() {
                self.nodes[i].stopped_by_bop = true;
            }
            for p in pids {
                // SAFETY: signalling a traced process.
                unsafe { libc::kill(p, libc::SIGKILL) };
            }
        }
    }

    fn run_loop(&mut self) -> Reason {
        let run_deadline = self.start + self.cluster.run.timeout;
        loop {
            let start_wait = match self.start_nodes() {
                Ok(w) => w,
                Err(msg) => {
                    self.begin_stop(Reason::StartFailed(msg));
                    None
                }
            };
            let all_started = self.next_node >= self.cluster.nodes.len();
            if self.stopping.is_none() && all_started {
                let done = self
                    .cluster
                    .nodes
                    .iter()
                    .zip(&self.nodes)
                    .all(|(n, s)| n.daemon || s.exit.is_some());
                if done {
                    self.begin_stop(Reason::Finished);
                }
            }
            if self.tracer.thread_count() == 0 && (all_started || self.stopping.is_some()) {
                break;
            }
            let now = Instant::now();
            if let Some((_, kill_at)) = &self.stopping {
                if now >= *kill_at && !self.killed {
                    self.kill_all();
                }
            } else if now >= run_deadline {
                let running = self
                    .cluster
                    .nodes
                    .iter()
                    .zip(&self.nodes)
                    .filter(|(n, s)| !n.daemon && s.exit.is_none() && s.root.is_some())
                    .map(|(n, _)| n.name.clone())
                    .collect();
                self.begin_stop(Reason::Hang(running));
                continue;
            }
            if self.flush_deadline().is_some_and(|d| d <= now) || self.graph.held() > 0 {
                let released = self.graph.tick(self.ts());
                self.write_events(released);
            }
            if self.trace_error.is_none() {
                if let Err(e) = self.writer.flush_if_due_at(now) {
                    self.trace_failed(&e);
                }
            }
            let mut deadline = match &self.stopping {
                Some((_, kill_at)) if !self.killed => *kill_at,
                Some(_) => now + Duration::from_secs(1),
                None => run_deadline,
            };
            if self.has_faults {
                self.fault_timers();
            }
            if self.serial.has_waiters() {
                for w in self.serial.overdue(Instant::now(), blocked_in_call) {
                    self.entry_proceed(w.tid, w.nr, w.args);
                }
            }
            self.release_overdue_holds(Instant::now());
            let hold_tick = (self.graph.held() > 0).then(|| now + Duration::from_millis(100));
            for d in [
                start_wait,
                self.flush_deadline(),
                hold_tick,
                self.fault_deadline(),
                self.serial.deadline(),
                self.hold_deadline(),
            ]
            .into_iter()
            .flatten()
            {
                deadline = deadline.min(d);
            }
            let ev = self.tracer.next_event(Some(deadline));
            self.handle(ev);
        }
        self.stopping
            .as_ref()
            .map(|(r, _)| r.clone())
            .unwrap_or(Reason::Finished)
    }

    fn node_of(&self, tid: i32) -> Option<usize> {
        self.model.node_of(tid)
    }

    fn handle(&mut self, ev: Stop) {
        match ev {
            Stop::SyscallEntry { tid, nr, args } => {
                // an interrupted call not followed by a handled signal was restarted unseen;
                // one that failed with EINTR did fail
                if let Some((sc, applied, args)) = self.interrupted.remove(&tid) {
                    if sc.ret == Some(-(libc::EINTR as i64)) {
                        self.record_call(tid, &sc, &applied, Some(args));
                    }
                }
                self.entry(tid, nr, args)
            }
            Stop::SyscallExit { tid, nr, args, ret } => {
                // this thread's exit is observed before the next call on its channel starts
                self.serial.done(tid, ret > 0);
                self.serial_reenter();
                if (-516..=-512).contains(&ret) || ret == -(libc::EINTR as i64) {
                    // Interrupted by a signal; it changed nothing. Whether the program sees
                    // it is decided after this stop, so it waits for the thread's next stop
                    // (`Stop::Signal`, the next entry, its exit): a call the kernel restarts
                    // (ERESTARTSYS and kin) is recorded, as the kernel reports it, only if
                    // the signal runs a handler; one that failed with EINTR (a call with a
                    // timeout, epoll_wait) is recorded unless the thread dies or the signal
                    // is one the process ignores, which bop discards and runs the call again
                    // for.
                    if !self.injected.contains(&tid) {
                        let sc = decode(nr, args, Some(ret), &mut TraceeMemory { tid });
                        let applied = self.model.apply(tid, &sc, &mut self.probe);
                        self.interrupted.insert(tid, (sc, applied, args));
                    }
                    self.tracer.resume(tid, Action::Continue);
                    return;
                }
                if self.injected.remove(&tid) {
                    // a call a fault skipped: its fault event says what happened
                    self.tracer.resume(tid, Action::Continue);
                    return;
                }
                let mut sc = decode(nr, args, Some(ret), &mut TraceeMemory { tid });
                let applied = self.model.apply(tid, &sc, &mut self.probe);
                if !self.has_faults {
                    self.record_call(tid, &sc, &applied, Some(args));
                    self.tracer.resume(tid, Action::Continue);
                    return;
                }
                let (d, fired, effects) = self.fault_exit(tid, &sc, &applied);
                let mut action = Action::Continue;
                match d {
                    Decision::Crash => {
                        // the event does not take effect: the fault takes its place
                        let base = syscall_event(&sc, &applied);
                        self.record_fired(tid, &fired, Some(base));
                        if let Some(node) = self.node_of(tid) {
                            self.crash(node);
                        }
                        self.apply_effects(effects);
                        self.tracer.resume(tid, Action::Continue);
                        return;
                    }
                    Decision::Fail(errno) => {
                        // the program sees the reset: so does the trace
                        sc.ret = Some(-(errno as i64));
                        action = Action::Return(-(errno as i64));
                    }
                    _ => {}
                }
                // the call happened, then what it triggered
                self.record_call(tid, &sc, &applied, Some(args));
                self.record_fired(tid, &fired, None);
                self.apply_effects(effects);
                self.run_deferred(tid);
                self.tracer.resume(tid, action);
            }
            Stop::NewTask {
                parent,
                child,
                kind,
            } => {
                let mkind = match kind {
                    TaskKind::Thread => ModelTask::Thread,
                    TaskKind::Process { shares_files, .. } => ModelTask::Process { shares_files },
                };
                self.model.new_task(parent, child, mkind);
                if let (Some(node), Some(pid)) = (self.node_of(parent), self.model.tgid(parent)) {
                    let st = &mut self.nodes[node];
                    st.threads += 1;
                    if kind != TaskKind::Thread {
                        st.pids.insert(child);
                    }
                    // the child's sequence starts after its creation
                    let e = Event {
                        kind: if kind == TaskKind::Thread {
                            "thread"
                        } else {
                            "fork"
                        }
                        .into(),
                        other: Some(child),
                        ..Event::default()
                    };
                    self.emit(node, pid, parent, e);
                }
                self.tracer.resume(parent, Action::Continue);
            }
            Stop::Exec { tid, former } => {
                // the process's other threads vanished without exit stops (the leader's tid
                // now names the thread that called execve): they hold and wait for nothing
                let vanished: Vec<i32> = self
                    .model
                    .threads_of(tid)
                    .into_iter()
                    .filter(|&t| t != former)
                    .collect();
                for &t in &vanished {
                    self.serial.gone(t);
                }
                self.serial_reenter();
                self.model.exec(tid, former);
                if let Some(node) = self.node_of(tid) {
                    let argv = cmdline(tid);
                    let e = Event {
                        kind: "exec".into(),
                        argv,
                        other: (former != tid).then_some(former),
                        ..Event::default()
                    };
                    self.emit(node, tid, tid, e);
                }
                self.tracer.resume(tid, Action::Continue);
            }
            Stop::Signal { tid, sig } => {
                let disposition = disposition(tid, sig);
                if let Some((sc, applied, args)) = self.interrupted.remove(&tid) {
                    let eintr = sc.ret == Some(-(libc::EINTR as i64));
                    let seen = match disposition {
                        // run again below: the program never sees it
                        Disposition::Ignored => false,
                        // the handler runs: the program sees EINTR, or a restart after it
                        Disposition::Caught => true,
                        // the default action (stop, or death): only EINTR comes back
                        Disposition::Default => eintr,
                    };
                    if seen {
                        self.record_call(tid, &sc, &applied, Some(args));
                    }
                }
                if let (Some(node), Some(pid)) = (self.node_of(tid), self.model.tgid(tid)) {
                    let e = Event {
                        kind: "signal".into(),
                        signal: Some(signal_name(sig).into()),
                        ..Event::default()
                    };
                    self.emit(node, pid, tid, e);
                }
                self.tracer.resume(
                    tid,
                    if disposition == Disposition::Ignored {
                        Action::IgnoredSignal
                    } else {
                        Action::Continue
                    },
                );
            }
            Stop::Exiting { tid, tgid, .. } => {
                self.run_deferred(tid);
                // the process's files are not closed yet: a peer's EOF observed from now on
                // waits in the graph for this exit
                self.announce_exit(tid, tgid);
                self.tracer.resume(tid, Action::Continue);
            }
            Stop::Exited { tid, tgid, exit } => {
                self.interrupted.remove(&tid);
                // a thread that died in a triggering call without an exit stop still releases
                // what it held
                self.run_deferred(tid);
                let node = self.node_of(tid);
                let closed = self.model.exit(tid);
                if let Some(node) = node {
                    let mut e = Event {
                        kind: "exit".into(),
                        ..Event::default()
                    };
                    match exit {
                        Exit::Code(c) => e.status = Some(c),
                        Exit::Signal(s) => e.signal = Some(signal_name(s).into()),
                    }
                    if !closed.is_empty() {
                        e.closes = Some(closed.iter().map(crate::record::sock_info).collect());
                    }
                    self.emit(node, tgid, tid, e);
                    if tid == tgid && self.nodes[node].root == Some(tid) {
                        self.nodes[node].exit = Some(exit);
                        // `NODE.exit` triggers; their faults go on the nodes they act on
                        if self.has_faults {
                            let (fired, effects) =
                                self.faults.node_exited(self.node_names[node], self.ts());
                            self.record_fired(0, &fired, None);
                            self.apply_effects(effects);
                        }
                    }
                }
                self.serial.gone(tid);
                self.serial_reenter();
                let released = self.graph.thread_gone(tid);
                self.write_events(released);
                if tid == tgid {
                    self.probe.forget(tid);
                }
            }
            Stop::Interrupted { sig } => {
                if self.stopping.is_some() {
                    // a second Ctrl-C: no more grace
                    self.kill_all();
                } else if self.opts.attach.is_some() {
                    eprintln!("bop: received {}: detaching", signal_name(sig));
                    self.begin_stop(Reason::Interrupted(sig));
                } else {
                    eprintln!(
                        "bop: received {}: stopping the nodes (SIGTERM, then SIGKILL after {})",
                        signal_name(sig),
                        humantime::format_duration(self.cluster.run.grace)
                    );
                    self.begin_stop(Reason::Interrupted(sig));
                }
            }
            Stop::Timeout | Stop::NoTracees => {}
        }
    }

    fn entry(&mut self, tid: i32, nr: i64, args: [u64; 6]) {
        if self.has_faults {
            match self.fault_entry(tid, nr, args) {
                Decision::Continue => {}
                d => {
                    self.apply_entry_decision(tid, nr, args, d);
                    return;
                }
            }
        }
        self.entry_go(tid, nr, args);
    }

    /// Carries out a fault decision for a thread stopped at a syscall entry.
    fn apply_entry_decision(&mut self, tid: i32, nr: i64, args: [u64; 6], d: Decision) {
        match d {
            Decision::Continue => self.entry_go(tid, nr, args),
            Decision::Fail(errno) => {
                // the call is recorded as the program sees it: failed with that errno
                self.tracer.resume(tid, Action::Fail(errno));
            }
            Decision::Fake(ret) => {
                self.injected.insert(tid);
                self.tracer.resume(tid, Action::Return(ret));
            }
            Decision::Hold(until, then) => self.held.push((until, tid, *then, nr, args)),
            Decision::Crash => self.tracer.resume(tid, Action::Continue),
        }
    }

    /// Lets a thread at a syscall entry go on (no fault), once no other call is under way on
    /// the channels it reads or writes (`serial.rs`).
    fn entry_go(&mut self, tid: i32, nr: i64, args: [u64; 6]) {
        let channels = self.channels(tid, nr, args);
        if channels != [None, None] && !self.serial.enter(tid, channels, nr, args, Instant::now) {
            // it stays stopped at its entry until the call under way is over
            return;
        }
        self.entry_proceed(tid, nr, args);
    }

    /// The stream channels a call at its entry moves bytes through: stream sockets and pipes,
    /// with the direction. Files, datagrams and the nodes' logs are none.
    fn channels(&mut self, tid: i32, nr: i64, args: [u64; 6]) -> Channels {
        let moves = bop_syscalls::moves(nr, args);
        let mut out = [None, None];
        for (slot, (fd, send)) in out
            .iter_mut()
            .zip([(moves.recv, false), (moves.send, true)])
        {
            let Some(fd) = fd else { continue };
            let object = match self.model.object(tid, fd, &mut self.probe) {
                Some(Object::Socket(id)) => self.model.socket(id).and_then(|s| {
                    matches!(
                        s.ty,
                        bop_model::SockType::Stream | bop_model::SockType::Seqpacket
                    )
                    .then_some(id)
                }),
                Some(Object::Pipe { id, .. }) => Some(id),
                _ => None,
            };
            *slot = object.map(|object| Channel { object, send });
        }
        out
    }

    /// The threads that waited for channels a call no longer holds enter again.
    fn serial_reenter(&mut self) {
        while let Some(w) = self.serial.take_ready() {
            self.entry_go(w.tid, w.nr, w.args);
        }
    }

    /// Records what must be recorded at a call's entry, and asks for the exit stop of the
    /// others.
    fn entry_proceed(&mut self, tid: i32, nr: i64, args: [u64; 6]) {
        match nr {
            libc::SYS_close | libc::SYS_kill | libc::SYS_tkill | libc::SYS_tgkill => {
                // their effect does not depend on the result: record at entry, save a stop
                let sc = decode(nr, args, None, &mut TraceeMemory { tid });
                self.syscall(tid, &sc, None);
                // and what an `after NODE.close` armed at this entry is done now
                self.run_deferred(tid);
                self.tracer.resume(tid, Action::Continue);
            }
            libc::SYS_io_uring_setup => {
                let pid = self.model.tgid(tid).unwrap_or(tid);
                if self.io_uring_warned.insert(pid) {
                    let node = self
                        .node_of(tid)
                        .map(|n| self.cluster.nodes[n].name.clone())
                        .unwrap_or_default();
                    if self.opts.refuse_io_uring {
                        eprintln!(
                            "bop: warning: node {node} (pid {pid}) tried io_uring; refused with ENOSYS (--refuse-io-uring)"
                        );
                    } else {
                        eprintln!(
                            "bop: WARNING: node {node} (pid {pid}) sets up io_uring: bop cannot see I/O done \
                             through it, so this process's communication may be missing from the trace. \
                             Run with --refuse-io-uring to make io_uring_setup fail with ENOSYS (most \
                             runtimes then fall back to plain syscalls)."
                        );
                    }
                }
                let action = if self.opts.refuse_io_uring {
                    Action::Fail(libc::ENOSYS)
                } else {
                    Action::WatchExit
                };
                self.tracer.resume(tid, action);
            }
            _ if nr == libc::SYS_connect || bop_syscalls::moves(nr, args).send.is_some() => {
                // another thread may see this call's effect before its exit stop is seen:
                // tell the graph it is under way
                let sc = decode(nr, args, None, &mut TraceeMemory { tid });
                let applied = self.model.apply(tid, &sc, &mut self.probe);
                if applied.record {
                    let mut e = syscall_event(&sc, &applied);
                    e.tid = tid;
                    self.graph.begin(tid, e);
                }
                self.tracer.resume(tid, Action::WatchExit)
            }
            _ => self.tracer.resume(tid, Action::WatchExit),
        }
    }

    /// Asks the fault engine about a call at its entry; records any injection.
    fn fault_entry(&mut self, tid: i32, nr: i64, args: [u64; 6]) -> Decision {
        let Some(node) = self.node_of(tid) else {
            return Decision::Continue;
        };
        let mut mem = TraceeMemory { tid };
        let sc = decode(nr, args, None, &mut mem);
        let applied = self.model.lookup(tid, &sc, &mut self.probe);
        let len = bop_syscalls::requested_len(nr, args, &mut mem);
        let info = inject::describe(&self.model, &self.node_names, node, &sc, &applied, len);
        let (d, fired) = self.faults.entry(&info.step(self.ts()));
        let (fired_later, effects_later) = self.faults.take_armed();
        if !fired_later.is_empty() || !effects_later.is_empty() {
            // what this call triggers is recorded and done once the call completed; until
            // then the other nodes the effects act on are held where they are, so that none
            // of them can answer the message before the rule acts (an `after` rule's promise)
            let frozen: Vec<i32> = effects_later
                .iter()
                .flat_map(|e| match e {
                    Effect::Crash(n) | Effect::Pause(n, _) => vec![n.as_str()],
                    Effect::ResetLink(a, b, _) => vec![a.as_str(), b.as_str()],
                    Effect::Wake(_) | Effect::Restart(_) => vec![],
                })
                .filter_map(|n| self.node_index_of(n))
                .filter(|&n| n != node)
                .flat_map(|n| self.alive_pids(n))
                .collect();
            self.tracer.hold_at_stops(&frozen);
            self.deferred.insert(
                tid,
                Deferred {
                    fired: fired_later,
                    effects: effects_later,
                    frozen,
                    since: Instant::now(),
                },
            );
        }
        if !fired.is_empty() {
            let base = syscall_event(&sc, &applied);
            self.record_fired_lost(tid, &fired, Some(base), len);
        }
        let effects = self.faults.take_effects();
        self.apply_effects(effects);
        if d == Decision::Crash {
            self.crash(node);
        }
        if d == Decision::Continue {
            if let (Call::Close { fd }, Some(conn)) = (&sc.call, info.conn.clone()) {
                if self.faults.hides_close(&info.step(self.ts())) {
                    // bop keeps the socket open: no FIN crosses the partition
                    let pid = self.model.tgid(tid).unwrap_or(tid);
                    if let Some(dup) = inject::take_copy(pid, *fd) {
                        self.kept.entry(conn).or_default().push(dup);
                    }
                }
            }
        }
        d
    }

    /// Asks the fault engine about a call that returned: its decision for the thread, the
    /// injections and the effects (the caller records and applies them in causal order).
    fn fault_exit(
        &mut self,
        tid: i32,
        sc: &bop_syscalls::Syscall,
        applied: &Applied,
    ) -> (Decision, Vec<Fired>, Vec<Effect>) {
        let Some(node) = self.node_of(tid) else {
            return (Decision::Continue, Vec::new(), Vec::new());
        };
        let mut info = inject::describe(&self.model, &self.node_names, node, sc, applied, None);
        if info.op == "accept" && info.ok == Some(true) && info.peer.is_none() {
            // the client's connect may not have returned yet: read its socket's address now
            self.model.learn_connecting(&mut self.probe);
            info = inject::describe(&self.model, &self.node_names, node, sc, applied, None);
        }
        self.faults.exit(&info.step(self.ts()))
    }

    /// Writes a fault event for each injection, on thread `tid` (or on the node's first
    /// process when no thread of it is at hand).
    fn record_fired(&mut self, tid: i32, fired: &[Fired], base: Option<Event>) {
        self.record_fired_lost(tid, fired, base, None)
    }

    /// [`Runner::record_fired`], for a send whose `lost` bytes never left.
    fn record_fired_lost(
        &mut self,
        tid: i32,
        fired: &[Fired],
        base: Option<Event>,
        lost: Option<u64>,
    ) {
        for f in fired {
            let text = self
                .opts
                .faults
                .get(f.rule)
                .map(|(t, _)| t.clone())
                .unwrap_or_default();
            let lost = lost.filter(|_| matches!(f.what.as_str(), "drop" | "partition"));
            let e = inject::fault_event(f, &text, base.clone(), lost);
            let node = self.node_index_of(&f.node);
            if let Some(n) = node {
                self.nodes[n].last_fault = Some(text.clone());
            }
            let here = self.node_of(tid).filter(|n| Some(*n) == node || tid > 0);
            match (here, self.model.tgid(tid)) {
                (Some(n), Some(pid)) if tid > 0 => self.emit(n, pid, tid, e),
                _ => {
                    if let Some(n) = node {
                        match self.alive_pids(n).first().copied().or(self.nodes[n].root) {
                            Some(root) => self.emit(n, root, root, e),
                            // the node has not started yet: its first process will carry it
                            None => self.unhomed.push((n, e)),
                        }
                    }
                }
            }
        }
    }

    /// Lets go of the sockets bop kept open for a connection: reset, as TCP would after a
    /// partition (SO_LINGER 0 makes the close send RST).
    fn release_kept(&mut self, conn: &str) {
        for fd in self.kept.remove(conn).unwrap_or_default() {
            inject::reset_on_close(&fd);
        }
    }

    /// The nodes an `after` rule holds while its triggering call is under way go on when that
    /// call has waited [`serial::WAIT_LIMIT`] asleep in the kernel (it waits for one of them: a
    /// send into a full buffer the held node would drain) or held by bop itself (a `pause`, or
    /// another rule's hold): holding them longer would deadlock the run. The rule then cannot
    /// promise that they did nothing before it acted, and says so (its outcome's `caveat`). A
    /// call that is neither (running, or at a stop bop is about to handle) is looked at again
    /// one limit later.
    fn release_overdue_holds(&mut self, now: Instant) {
        let due: Vec<i32> = self
            .deferred
            .iter()
            .filter(|(_, d)| {
                !d.frozen.is_empty()
                    && now.saturating_duration_since(d.since) >= crate::serial::WAIT_LIMIT
            })
            .map(|(&tid, _)| tid)
            .collect();
        for tid in due {
            let stuck = self.tracer.is_paused(tid) || blocked_in_call(tid);
            let Some(d) = self.deferred.get_mut(&tid) else {
                continue;
            };
            if !stuck {
                d.since = now;
                continue;
            }
            let frozen = std::mem::take(&mut d.frozen);
            let rules: Vec<usize> = d.fired.iter().map(|f| f.rule).collect();
            self.unheld.extend(rules);
            self.release(frozen);
        }
    }

    /// When the next held node is due to go on (see [`Runner::release_overdue_holds`]).
    fn hold_deadline(&self) -> Option<Instant> {
        self.deferred
            .values()
            .filter(|d| !d.frozen.is_empty())
            .map(|d| d.since + crate::serial::WAIT_LIMIT)
            .min()
    }

    /// Lets these processes go on, but those something else still holds: a `pause` in force
    /// on their node, or another `after` rule's hold.
    fn release(&mut self, pids: Vec<i32>) {
        let mut held: Vec<i32> = self
            .pauses
            .keys()
            .flat_map(|&n| self.nodes[n].pids.iter().copied())
            .collect();
        held.extend(
            self.deferred
                .values()
                .flat_map(|d| d.frozen.iter().copied()),
        );
        let go: Vec<i32> = pids.into_iter().filter(|p| !held.contains(p)).collect();
        self.tracer.unpause(&go);
    }

    /// Records and carries out what `tid`'s last call triggered (an `after X.send(Y)` rule).
    fn run_deferred(&mut self, tid: i32) {
        if let Some(d) = self.deferred.remove(&tid) {
            self.record_fired(tid, &d.fired, None);
            self.apply_effects(d.effects);
            self.release(d.frozen);
        }
    }

    /// Tells the graph that `tid`'s process is ending and which sockets its end will close.
    fn announce_exit(&mut self, tid: i32, tgid: i32) {
        if tid != tgid && !self.model.is_last_thread(tid) {
            return;
        }
        let closes = self.model.closed_by_exit_of(tgid);
        if closes.is_empty() {
            return;
        }
        let e = Event {
            kind: "exit".into(),
            pid: tgid,
            tid,
            closes: Some(closes.iter().map(crate::record::sock_info).collect()),
            ..Event::default()
        };
        self.graph.begin(tid, e);
    }

    /// SIGKILLs every process of a node (a crash fault).
    fn crash(&mut self, node: usize) {
        self.nodes[node].crashed = true;
        for p in self.alive_pids(node) {
            // a killed task may not stop at its exit event: announce its end now
            self.announce_exit(p, p);
            // SAFETY: signalling a traced process.
            unsafe { libc::kill(p, libc::SIGKILL) };
        }
        self.faults.node_died(self.node_names[node], self.ts());
    }

    fn node_index_of(&self, name: &str) -> Option<usize> {
        self.node_index.get(name).copied()
    }

    /// Carries out effects on the system (crash, pause, reset, wake, restart).
    fn apply_effects(&mut self, effects: Vec<Effect>) {
        for e in effects {
            match e {
                Effect::Crash(name) => {
                    if let Some(n) = self.node_index_of(&name) {
                        if self.nodes[n].root.is_none() {
                            self.nodes[n].crash_at_start = true;
                        } else {
                            self.crash(n);
                        }
                    }
                }
                Effect::Pause(name, until) => {
                    if let Some(n) = self.node_index_of(&name) {
                        let pids = self.alive_pids(n);
                        self.tracer.pause(&pids);
                        self.pauses.insert(n, until);
                    }
                }
                Effect::ResetLink(a, b, both) => {
                    if let (Some(a), Some(b)) = (self.node_index_of(&a), self.node_index_of(&b)) {
                        let conns = inject::conns_between(&self.model, a, b, both);
                        self.faults.mark_reset(conns.clone());
                        for c in &conns {
                            inject::wake(&self.model, c);
                            self.release_kept(c);
                        }
                    }
                }
                Effect::Wake(conns) => {
                    for c in &conns {
                        inject::wake(&self.model, c);
                        self.release_kept(c);
                    }
                }
                Effect::Restart(name) => {
                    if let Some(n) = self.node_index_of(&name) {
                        if self.stopping.is_none() && self.alive_pids(n).is_empty() {
                            self.nodes[n].exit = None;
                            self.nodes[n].crashed = false;
                            if let Err(e) = self.spawn_node(n) {
                                eprintln!("bop: restart of {name} failed: {}", e.0);
                            }
                        }
                    }
                }
            }
        }
    }

    /// Timers of the fault engine and of held or paused threads that are due.
    fn fault_timers(&mut self) {
        let now = self.ts();
        let (effects, fired) = self.faults.tick(now);
        if !fired.is_empty() {
            self.record_fired(0, &fired, None);
        }
        self.apply_effects(effects);
        let due: Vec<(u64, i32, Decision, i64, [u64; 6])> = {
            let (due, keep): (Vec<_>, Vec<_>) = self.held.drain(..).partition(|h| h.0 <= now);
            self.held = keep;
            due
        };
        for (_, tid, d, nr, args) in due {
            self.apply_entry_decision(tid, nr, args, d);
        }
        let ended: Vec<usize> = self
            .pauses
            .iter()
            .filter(|(_, &u)| u <= now)
            .map(|(&n, _)| n)
            .collect();
        for n in ended {
            self.end_pause(n);
        }
    }

    /// Ends the pause of node `n`: its threads go on as they were going to.
    fn end_pause(&mut self, n: usize) {
        self.pauses.remove(&n);
        let pids: Vec<i32> = self.nodes[n].pids.iter().copied().collect();
        self.release(pids);
    }

    /// The next run time a fault timer is due (nanoseconds), if any.
    fn fault_deadline(&self) -> Option<Instant> {
        let t = [
            self.faults.next_deadline(),
            self.held.iter().map(|h| h.0).min(),
            self.pauses.values().copied().min(),
        ]
        .into_iter()
        .flatten()
        .min()?;
        Some(self.start + Duration::from_nanos(t))
    }

    /// Applies a decoded call to the model and records it. `args` are given at the exit stop
    /// (the payload of a datagram is read then, to hash it).
    fn syscall(&mut self, tid: i32, sc: &bop_syscalls::Syscall, args: Option<[u64; 6]>) {
        let applied = self.model.apply(tid, sc, &mut self.probe);
        self.record_call(tid, sc, &applied, args);
    }

    /// Records a call the model has applied. A splice from one socket or pipe into another
    /// is two events, the receive from its input first: the bytes it takes out of the input
    /// stream have their place in it as much as those it puts into the output.
    fn record_call(
        &mut self,
        tid: i32,
        sc: &bop_syscalls::Syscall,
        applied: &Applied,
        args: Option<[u64; 6]>,
    ) {
        if let Some(input) = self.model.splice_input(tid, sc, &mut self.probe) {
            self.record_applied(tid, sc, &input, args, true);
        }
        self.record_applied(tid, sc, applied, args, false);
    }

    /// Records one event of a call the model has applied; `part`: the call has another event
    /// to come.
    fn record_applied(
        &mut self,
        tid: i32,
        sc: &bop_syscalls::Syscall,
        applied: &Applied,
        args: Option<[u64; 6]>,
        part: bool,
    ) {
        let (Some(node), Some(pid)) = (self.node_of(tid), self.model.tgid(tid)) else {
            return;
        };
        if let Call::Bind { addr, .. } = &sc.call {
            if let Some(Err(errno)) = sc.result() {
                let a = addr.as_ref().map(|a| a.to_string()).unwrap_or_default();
                self.nodes[node].hint = Some(format!(
                    "bind {a} failed: {}",
                    io::Error::from_raw_os_error(errno)
                ));
            }
        }
        if !applied.record {
            return;
        }
        let mut e = syscall_event(sc, applied);
        let dgram = applied
            .socket
            .as_ref()
            .is_some_and(|s| s.ty == bop_model::SockType::Dgram);
        let channel = matches!(
            applied.object,
            Some(Object::Socket(_)) | Some(Object::Pipe { .. })
        );
        // the payload, read once: a datagram's first bytes to hash it, and with
        // --capture-payload the first bytes asked for
        let hash_len = if dgram { HASHED_BYTES } else { 0 };
        let data_len = self.opts.capture_payload.filter(|_| channel).unwrap_or(0);
        let message = matches!(e.op.as_deref(), Some("send") | Some("recv"));
        if let (true, Some(args), Some(ret)) = (message, args, sc.ret) {
            let want = hash_len.max(data_len);
            if want > 0 {
                let mut mem = TraceeMemory { tid };
                if let Some(bytes) = bop_syscalls::payload(sc.nr, args, ret, &mut mem, want) {
                    if dgram {
                        let n = bytes.len().min(HASHED_BYTES);
                        e.hash = Some(format!("{:016x}", fnv1a(&bytes[..n])));
                    }
                    if data_len > 0 {
                        e.data = Some(bop_trace::escape_data(&bytes[..bytes.len().min(data_len)]));
                    }
                }
            }
        }
        if channel {
            if let Some(b) = e.bytes {
                match e.op.as_deref() {
                    Some("send") => self.nodes[node].sent += b,
                    Some("recv") if e.flags.unwrap_or(0) & libc::MSG_PEEK as i64 == 0 => {
                        self.nodes[node].received += b
                    }
                    _ => {}
                }
            }
        }
        self.emit_event(node, pid, tid, e, part);
    }

    fn finish(mut self, reason: Reason) -> Outcome {
        let mut logs = Vec::new();
        let mut stderr_of = Vec::with_capacity(self.nodes.len());
        for st in &mut self.nodes {
            let capture = st.capture.take();
            stderr_of.push(capture.as_ref().map(|c| c.files[1].clone()));
            if let Some(c) = capture {
                logs.extend(c.files.iter().cloned());
                c.join();
            }
        }
        let mut last_words = None;
        let kept: Vec<String> = self.kept.keys().cloned().collect();
        for c in kept {
            self.release_kept(&c);
        }
        let released = self.graph.finish();
        self.write_events(released);
        // the check may read the trace (BOP_TRACE): everything but the footer is in it
        if let Err(e) = self.writer.flush() {
            self.trace_failed(&e);
        }
        // a trace lost before the end fails the run, whatever else ended it
        let reason = match &self.trace_error {
            Some(msg) => Reason::TraceFailed(msg.clone()),
            None => reason,
        };
        let mut check_status = None;
        let attached = self.opts.attach.is_some();
        let (verdict, why, code) = match &reason {
            Reason::Interrupted(_) | Reason::Hang(_) if attached => (
                "detached",
                Some("bop detached; the process runs on".to_string()),
                0,
            ),
            Reason::Interrupted(sig) => (
                "interrupted",
                Some(format!(
                    "bop received {} and stopped the run",
                    signal_name(*sig)
                )),
                130,
            ),
            Reason::Hang(running) => (
                "hang",
                Some(format!(
                    "the run timeout ({}) passed while {} still ran",
                    humantime::format_duration(self.cluster.run.timeout),
                    if running.is_empty() {
                        "only daemons".to_string()
                    } else {
                        running.join(", ")
                    }
                )),
                1,
            ),
            Reason::StartFailed(msg) => ("fail", Some(format!("start-up failed: {msg}")), 2),
            Reason::TraceFailed(msg) => ("fail", Some(msg.clone()), 2),
            Reason::Finished => match self.judge() {
                Some((node, why)) => {
                    last_words = stderr_of
                        .get(node)
                        .and_then(Option::as_deref)
                        .and_then(bop_trace::files::last_line)
                        .map(|line| (self.cluster.nodes[node].name.clone(), line));
                    ("fail", Some(why), 1)
                }
                None => match self.run_check() {
                    None => ("pass", None, 0),
                    Some(Checked::Exited(status)) => {
                        check_status = Some(status);
                        if status == 0 {
                            ("pass", None, 0)
                        } else {
                            ("fail", Some(format!("the check exited {status}")), 1)
                        }
                    }
                    Some(Checked::Failed(msg)) => ("fail", Some(msg), 1),
                    Some(Checked::Interrupted(sig)) => (
                        "interrupted",
                        Some(format!(
                            "bop received {} during the check and stopped it",
                            signal_name(sig)
                        )),
                        130,
                    ),
                },
            },
        };
        let nodes: Vec<NodeOutcome> = self
            .cluster
            .nodes
            .iter()
            .zip(&self.nodes)
            .map(|(n, s)| NodeOutcome {
                name: n.name.clone(),
                pids: s.pids.iter().copied().collect(),
                threads: s.threads,
                exit: match s.exit {
                    Some(Exit::Code(c)) => Some(c),
                    _ => None,
                },
                signal: match s.exit {
                    Some(Exit::Signal(sig)) => Some(signal_name(sig).to_string()),
                    _ => None,
                },
                stopped_by_bop: s.stopped_by_bop,
                events: s.events,
                bytes_sent: s.sent,
                bytes_received: s.received,
            })
            .collect();
        let footer = Footer {
            verdict: verdict.into(),
            reason: why,
            duration_ms: self.start.elapsed().as_millis() as u64,
            events: self.writer.records().saturating_sub(1),
            nodes,
            check_status,
            faults: self
                .faults
                .report()
                .into_iter()
                .zip(&self.opts.faults)
                .enumerate()
                .map(|(i, ((_, fired), (text, rule)))| bop_trace::RuleOutcome {
                    rule: text.clone(),
                    fired,
                    acts: self
                        .faults
                        .acts(i)
                        .into_iter()
                        .map(|(k, n)| (k.to_string(), n))
                        .collect(),
                    note: self
                        .abandon_note(i, rule)
                        .or_else(|| self.faults.why_not(i, self.ts())),
                    caveat: self.unheld.contains(&i).then(|| {
                        format!(
                            "its triggering send waited over {} ms for a node the rule acts on, \
                             so bop let that node run on before the rule acted: it may have \
                             answered first",
                            crate::serial::WAIT_LIMIT.as_millis()
                        )
                    }),
                })
                .collect(),
            hold_limit_releases: Some(self.graph.forced()),
            order_guesses: Some(self.serial.guessed()),
        };
        self.write(Record::Footer(footer.clone()));
        if let Err(e) = self.writer.flush() {
            self.trace_failed(&e);
        }
        let follow = self.follower.as_ref().map(|f| match &f.departure {
            Some(d) => format!("{d}"),
            None => format!(
                "the run followed {} of the {} to its end: {}",
                f.following().len(),
                bop_trace::count(f.classes(), "recorded class"),
                f.following().join(", ")
            ),
        });
        Outcome {
            footer,
            // the footer's own write failing loses the verdict the file would have held
            exit_code: if self.trace_error.is_some() { 2 } else { code },
            trace: self.opts.trace.clone(),
            logs,
            startup_failed: matches!(reason, Reason::StartFailed(_)) && self.trace_error.is_none(),
            trace_error: self.trace_error,
            follow,
            last_words,
        }
    }

    /// Why rule `i` never started, when the run left the class it is anchored on first.
    fn abandon_note(&self, i: usize, rule: &bop_faults::Rule) -> Option<String> {
        if !self.faults.abandoned(i) {
            return None;
        }
        let f = self.follower.as_ref()?;
        let k = f.class_index(rule.class.as_deref()?).ok()?;
        Some(format!(
            "not started: the run left class {} before the trigger, {}",
            f.class_name(k),
            f.left_at(k).unwrap_or("")
        ))
    }

    /// Why the run failed, judged from the nodes' exits, with the index of the node that
    /// failed it (None: they did their part).
    fn judge(&self) -> Option<(usize, String)> {
        for (i, (n, s)) in self.cluster.nodes.iter().zip(&self.nodes).enumerate() {
            let Some(exit) = s.exit else {
                if !n.daemon {
                    return Some((i, format!("node {} never finished", n.name)));
                }
                continue;
            };
            if !n.daemon {
                // a node crashed by a fault rule is not judged by its own death
                if exit != Exit::Code(0) && !s.crashed {
                    return Some((i, format!("node {} {}", n.name, describe_exit(exit))));
                }
                continue;
            }
            let by_bop = s.stopped_by_bop || s.crashed;
            match exit {
                Exit::Code(0) => {}
                // once bop has stopped a daemon, how it shuts down is its own business (JVMs
                // exit 143, nats-server sometimes 1): only a daemon failing on its own fails
                _ if by_bop => {}
                Exit::Code(_) => {
                    return Some((i, format!("daemon {} {}", n.name, describe_exit(exit))));
                }
                Exit::Signal(_) => {
                    return Some((
                        i,
                        format!(
                            "daemon {} {} (not sent by bop)",
                            n.name,
                            describe_exit(exit)
                        ),
                    ))
                }
            }
        }
        None
    }

    /// Runs the check, if any (None without one), in a process group of its own: past its
    /// timeout, or when bop receives SIGINT, SIGTERM or SIGHUP, it is killed with whatever it
    /// started.
    fn run_check(&mut self) -> Option<Checked> {
        use std::os::unix::process::CommandExt;
        let check = self.cluster.check.as_ref()?;
        // from here on a signal is for the wait below, not for the tracer's watcher
        self.tracer.stop_watching();
        let mut cmd = std::process::Command::new(&check.program);
        cmd.args(&check.argv[1..])
            .current_dir(&check.cwd)
            .envs(self.bop_env())
            .env(
                "BOP_TRACE",
                std::fs::canonicalize(&self.opts.trace).unwrap_or_else(|_| self.opts.trace.clone()),
            )
            .stdin(std::process::Stdio::null())
            .process_group(0);
        bop_ptrace::clean_signals(&mut cmd);
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                return Some(Checked::Failed(format!(
                    "the check {} could not start: {e}",
                    check.cmd
                )))
            }
        };
        let deadline = Instant::now() + check.timeout;
        Some(
            match bop_ptrace::wait_child(&mut child, OnSignal::Kill, Some(deadline)) {
                Ok(Waited::Exited(st)) => Checked::Exited(st.code().unwrap_or_else(|| {
                    128 + std::os::unix::process::ExitStatusExt::signal(&st).unwrap_or(0)
                })),
                Ok(Waited::Interrupted(sig)) => Checked::Interrupted(sig),
                Ok(Waited::TimedOut) => Checked::Failed(format!(
                    "the check did not finish within {}",
                    humantime::format_duration(check.timeout)
                )),
                Err(e) => Checked::Failed(format!("waiting for the check failed: {e}")),
            },
        )
    }
}

/// "exited 3" / "was killed by SIGSEGV".
pub fn describe_exit(exit: Exit) -> String {
    match exit {
        Exit::Code(c) => format!("exited {c}"),
        Exit::Signal(s) => format!("was killed by {}", signal_name(s)),
    }
}

/// A fresh output directory under `./bop-out/` for a run without `--trace`.
pub fn fresh_out_dir(label: &str) -> io::Result<PathBuf> {
    let base = Path::new("bop-out");
    std::fs::create_dir_all(base)?;
    let stamp = humantime::format_rfc3339_seconds(SystemTime::now())
        .to_string()
        .replace([':', '-'], "")
        .replace('T', "-")
        .trim_end_matches('Z')
        .to_string();
    for n in 0..1000 {
        let name = if n == 0 {
            format!("{stamp}-{label}")
        } else {
            format!("{stamp}-{label}-{n}")
        };
        let dir = base.join(name);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other("too many runs in the same second"))
}

/// The pids whose parent is `pid` (from /proc/*/stat).
fn children_of(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(p) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        // the command may contain spaces and parentheses: fields follow the last ')'
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|f| f.parse::<i32>().ok());
        if ppid == Some(pid) {
            out.push(p);
        }
    }
    out
}

/// A process's argument vector, from /proc/PID/cmdline.
pub fn cmdline(pid: i32) -> Option<Vec<String>> {
    let b = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        b.split(|&c| c == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect(),
    )
}

/// FNV-1a, 64 bits: a datagram's fingerprint for matching sends to receives (not security).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The run's scratch directory, beside the trace (`TRACE-STEM.run/`), emptied if a previous
/// run with the same trace name left one (rundir.rs says how it is made safely).
fn fresh_run_dir(trace: &Path, cluster: &Cluster) -> Result<crate::rundir::RunDir, StartError> {
    crate::rundir::RunDir::create(trace, cluster).map_err(StartError)
}

/// Runs the cluster's `[run] setup` command; a failure stops the run before it starts. The
/// command runs in a process group of its own: SIGINT, SIGTERM or SIGHUP to bop kills it, with
/// whatever it started, and is returned (the run is then interrupted before any node starts).
fn run_setup(setup: &str, cwd: &Path, run_dir: &Path) -> Result<Option<i32>, StartError> {
    use std::os::unix::process::CommandExt;
    let cannot = |e: io::Error| StartError(format!("[run] setup could not start: {e}"));
    // its output, kept for an error; files, not pipes: a daemon it leaves running may hold them
    let (out, err) = (
        tempfile::tempfile().map_err(cannot)?,
        tempfile::tempfile().map_err(cannot)?,
    );
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg(setup)
        .current_dir(cwd)
        .env("BOP_RUN_DIR", run_dir)
        .stdin(std::process::Stdio::null())
        .stdout(out.try_clone().map_err(cannot)?)
        .stderr(err.try_clone().map_err(cannot)?)
        .process_group(0);
    bop_ptrace::clean_signals(&mut cmd);
    let mut child = cmd.spawn().map_err(cannot)?;
    let status = match bop_ptrace::wait_child(&mut child, OnSignal::Kill, None) {
        Ok(Waited::Exited(status)) => status,
        Ok(Waited::Interrupted(sig)) => return Ok(Some(sig)),
        Ok(Waited::TimedOut) => return Err(StartError("[run] setup did not end".into())),
        Err(e) => return Err(StartError(format!("waiting for [run] setup failed: {e}"))),
    };
    if !status.success() {
        let text = |mut f: std::fs::File| {
            use std::io::{Read, Seek};
            let mut buf = Vec::new();
            let _ = f.rewind().and_then(|()| f.read_to_end(&mut buf));
            String::from_utf8_lossy(&buf).into_owned()
        };
        return Err(StartError(format!(
            "[run] setup `{setup}` failed ({status}): {}{}",
            text(out),
            text(err)
        )));
    }
    Ok(None)
}
