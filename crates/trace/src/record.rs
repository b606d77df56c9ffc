//! The records of a trace.

use bop_syscalls::SockAddr;
use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The trace format version written in every header. Readers accept this version and older.
pub const FORMAT: u32 = 2;

/// One line of a trace.
// Events are built, written and dropped one at a time: boxing them would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    /// The first line.
    Header(Header),
    /// One observed step.
    Event(Event),
    /// The last line, written when the run ends.
    Footer(Footer),
}

/// What was run, by which bop, when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Trace format version ([`FORMAT`]).
    pub format: u32,
    /// The bop version that wrote the trace.
    pub bop_version: String,
    /// Wall-clock start of the run, milliseconds since the Unix epoch.
    pub start_unix_ms: u64,
    /// How bop observed the system: `ptrace+seccomp` or `ptrace` (attach).
    pub backend: String,
    /// The cluster file, if one was used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// The nodes of the system.
    pub nodes: Vec<NodeInfo>,
}

/// A node as declared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// Its name.
    pub name: String,
    /// Its command line.
    pub cmd: String,
    /// Whether it is a daemon.
    #[serde(default)]
    pub daemon: bool,
}

/// A socket as bop knows it when an event happens on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SockInfo {
    /// The socket's inode number: the same socket has the same id in every process.
    pub id: u64,
    /// `inet`, `inet6`, `unix` or `other`.
    pub family: Cow<'static, str>,
    /// `stream`, `dgram`, `seqpacket` or `other`.
    #[serde(rename = "type")]
    pub ty: Cow<'static, str>,
    /// Its local address, when bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<SockAddr>,
    /// Its peer's address, when connected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<SockAddr>,
    /// The peer socket's inode, for Unix sockets (whose addresses are often unnamed): the
    /// `id` of the socket at the other end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_id: Option<u64>,
}

/// One observed step of one thread: a traced syscall, or a process event.
///
/// `kind` says which: `syscall`, `spawn` (bop started the node's process), `attach` (bop
/// attached to a running process), `fork` (a new process), `thread` (a new thread), `exec`,
/// `signal` (a signal delivered), `exit` (a thread or process ended).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Event {
    /// The node's name.
    pub node: Cow<'static, str>,
    /// Process id (thread group id).
    pub pid: i32,
    /// Thread id.
    pub tid: i32,
    /// Per-thread sequence number, from 0.
    pub seq: u64,
    /// Monotonic nanoseconds since the run started.
    pub ts: u64,
    /// What happened (see the type's doc).
    pub kind: Cow<'static, str>,
    /// The syscall's name, for `kind = "syscall"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub syscall: Option<Cow<'static, str>>,
    /// What the syscall does to communication, whatever its flavour: `socket`, `socketpair`,
    /// `pipe`, `bind`, `listen`, `connect`, `accept`, `getsockopt`, `shutdown`, `send`, `recv`,
    /// `close`, `close_range`, `dup`, `wait`, `kill`, `io_uring_setup`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op: Option<Cow<'static, str>>,
    /// The fd the call works on (for dup: the old fd; for sendfile/splice: the fd written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fd: Option<i32>,
    /// The socket behind `fd`, when it is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sock: Option<SockInfo>,
    /// What `fd` is when it is not a socket: `pipe:[INODE]r` / `pipe:[INODE]w` (the read or
    /// write end of a pipe), or `log` (a node's stdout/stderr pipe made by bop).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The address argument: connect/bind/sendto destination, accept/recvfrom source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addr: Option<SockAddr>,
    /// Bytes moved (send/receive calls that succeeded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// For sends and receives on streams (TCP, Unix stream sockets, pipes): where the bytes
    /// moved start in the stream, counted from the first byte bop saw in that direction. A
    /// receive's bytes are the stream's bytes `off .. off + bytes`; so are a send's. Set by the
    /// graph, in the order the kernel served the calls (see docs/architecture.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub off: Option<u64>,
    /// Call flags (MSG_*, SOCK_*, O_*), when the call has them and they are not 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags: Option<i64>,
    /// Fds made or passed: socketpair/pipe ends, SCM_RIGHTS fds, close_range bounds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fds: Option<Vec<i32>>,
    /// Per-message byte counts of sendmmsg/recvmmsg.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msgs: Option<Vec<u64>>,
    /// The other task concerned: the new pid/tid (fork, thread), the reaped child (wait), the
    /// signalled pid (kill).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other: Option<i32>,
    /// A signal's name (signal, exit by signal, kill).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    /// An exit code (exit) or a reaped child's wait status (wait).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<i32>,
    /// The program and arguments (spawn, exec).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argv: Option<Vec<String>>,
    /// The call's result when it succeeded (a new fd, a count, 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ret: Option<i64>,
    /// The errno name when the call failed (`ECONNREFUSED`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno: Option<String>,
    /// Free text: what a warning is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// A hash of a datagram's bytes (sends and receives on datagram sockets), to match them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    /// With `bop run --capture-payload`: the first bytes the call moved, printable ASCII as
    /// itself, `\\` for a backslash and `\xNN` for any other byte. Never without the flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// The event's number in the graph, in causal order: every cause has a smaller id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// The event's lane: one per thread, numbered from 0 in order of appearance, never reused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lane: Option<u32>,
    /// The vector clock: lane → how many of that lane's events happened before or at this one.
    /// The own lane's entry is `seq + 1`. In the JSON, the lanes are the object's keys, as
    /// strings (`{"0":3,"2":1}`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lane_keys"
    )]
    pub vc: Option<std::collections::BTreeMap<u32, u64>>,
    /// The edges into this event from other threads' events (program order is implicit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Vec<Edge>>,
    /// Bytes this receive returned that no traced send accounts for (an external peer, or a
    /// sender bop did not see).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unmatched: Option<u64>,
    /// For a process's exit: the sockets whose last reference it closed (their peers see EOF
    /// or a reset caused by this exit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closes: Option<Vec<SockInfo>>,
}

/// A happens-before edge into an event, from the event with id `id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edge {
    /// The causing event's id.
    pub id: u64,
    /// `msg` (bytes or a datagram), `connect` (connect → accept), `eof` (close/shutdown → the
    /// receive returning 0), `reset` (close → ECONNRESET/EPIPE), `fork` (fork/clone → the child's
    /// first event), `exit` (a child's exit → the wait that reaped it), `signal` (kill → the
    /// signal's delivery or the death it caused).
    pub kind: Cow<'static, str>,
    /// For `msg` edges on streams: how many of the received bytes came from that send.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
}

/// How the run ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Footer {
    /// `pass`, `fail`, `hang`, `interrupted`, or `detached` (`bop attach` let go).
    pub verdict: String,
    /// Why, when not `pass`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Milliseconds from start to end.
    pub duration_ms: u64,
    /// Events written.
    pub events: u64,
    /// Per node: how it ended and what it moved.
    pub nodes: Vec<NodeOutcome>,
    /// The check's exit code, when a check ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_status: Option<i32>,
    /// The fault rules of the run and how often each fired (0: it never did).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<RuleOutcome>,
    /// Events the graph released without the cause it was waiting for (it did not come within
    /// the hold limit, or the run ended first): their edges are a guess. Absent in traces of
    /// bop before format 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_limit_releases: Option<u64>,
    /// Calls on one stream that bop let overlap, because one of them waited too long for the
    /// other to finish: the order of their bytes in the stream is a guess. Absent in traces of
    /// bop before format 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_guesses: Option<u64>,
}

/// A fault rule and how often it fired in the run.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RuleOutcome {
    /// The rule, in canonical form.
    pub rule: String,
    /// Injections it made.
    pub fired: u64,
    /// The injections by kind: `start` (a partition came into force), `partition` or `drop`
    /// (messages lost), `delay`, `crash`, `restart`, `pause`, `heal`, `reset`, `fail`,
    /// `refuse`, `timeout`, with how many of each.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub acts: BTreeMap<String, u64>,
    /// Why it never fired, when bop knows: its trigger never came (or not often enough), the
    /// run ended before its time, or the run left the recorded class it was anchored on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// What bop cannot promise about the rule's timing, when there is something: an `after`
    /// rule whose nodes had to run on before it acted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caveat: Option<String>,
}

/// One node's outcome.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct NodeOutcome {
    /// The node's name.
    pub name: String,
    /// Every process id the node had.
    pub pids: Vec<i32>,
    /// Threads seen, over all its processes.
    pub threads: u64,
    /// Its first process's exit code, if it exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<i32>,
    /// The signal that killed its first process, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    /// Whether bop sent that signal (stopping a daemon).
    #[serde(default)]
    pub stopped_by_bop: bool,
    /// Events recorded for the node.
    pub events: u64,
    /// Bytes its send calls moved.
    pub bytes_sent: u64,
    /// Bytes its receive calls returned.
    pub bytes_received: u64,
}

/// Reads a vector clock whose keys are lane numbers written as strings. (serde cannot turn
/// string keys into integers inside an internally tagged enum such as [`Record`], which it
/// buffers first: the keys are read as strings and parsed here.)
fn lane_keys<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<std::collections::BTreeMap<u32, u64>>, D::Error> {
    let raw: Option<std::collections::BTreeMap<String, u64>> = Option::deserialize(d)?;
    raw.map(|m| {
        m.into_iter()
            .map(|(k, v)| match k.parse::<u32>() {
                Ok(lane) => Ok((lane, v)),
                Err(_) => Err(serde::de::Error::custom(format!(
                    "vc: {k:?} is not a lane number (the keys of a vector clock are lanes: \"0\", \"1\", …)"
                ))),
            })
            .collect()
    })
    .transpose()
}
