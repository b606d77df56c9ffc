//! A run's communication graph, abstracted, for telling executions apart: census classes,
//! `bop diff`, and where a faulty run parted from a good one.
//!
//! Each thread of each node becomes a sequence of symbols (`send>server`, `recv<client`,
//! `eof<client`, `exit 0`, …); the threads of a node are numbered in the order they appear,
//! so the same program gives the same names in every run. Three levels:
//!
//! - `messages` (the default): one symbol per message. Consecutive receives on a thread that
//!   consume the same send count as one (TCP may split a message; that makes no new class),
//!   calls that would block (EAGAIN) are left out, and each receive names the send it came
//!   from (its node, thread and position), so which message crossed which is part of the class.
//! - `events`: every recorded event, with byte counts, nothing merged.
//! - `pairs`: only how many messages each node sent each other node.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use bop_trace::Event;
use rustc_hash::FxHashMap as HashMap;

use crate::lineage::Run;

/// How much of a run tells it apart from another.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Message counts between each pair of nodes.
    Pairs,
    /// One symbol per message, sends matched to receives (the default).
    Messages,
    /// Every event with its byte counts.
    Events,
}

impl Level {
    /// The level's name, as the command line writes it.
    pub fn name(self) -> &'static str {
        match self {
            Level::Pairs => "pairs",
            Level::Messages => "messages",
            Level::Events => "events",
        }
    }
}

/// One symbol of a thread's sequence, with the event it came from.
#[derive(Debug, Clone)]
pub struct Symbol {
    /// The canonical text.
    pub text: String,
    /// Index of the (first) event in the run's events.
    pub event: usize,
}

/// A thread's sequence: its node, its number within the node, its symbols.
#[derive(Debug, Clone)]
pub struct Thread {
    /// The node.
    pub node: String,
    /// The thread's number within its node (order of appearance).
    pub index: usize,
    /// What it did.
    pub symbols: Vec<Symbol>,
}

/// A run, abstracted at one level.
#[derive(Debug, Clone)]
pub struct Abstract {
    /// Threads, sorted by node and number.
    pub threads: Vec<Thread>,
    /// The level's canonical text of the whole run.
    pub text: String,
}

impl Abstract {
    /// A short stable hash of the canonical text: the run's class.
    pub fn fingerprint(&self) -> String {
        format!("{:016x}", fnv1a(self.text.as_bytes()))
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The peer a receive heard from: the node of the send its first edge names.
fn recv_peer(run: &Run, e: &Event) -> Option<String> {
    let ed = e.from.iter().flatten().find(|ed| ed.kind == "msg")?;
    let i = run.index.get(&ed.id)?;
    Some(run.events[*i].node.to_string())
}

fn send_ids(e: &Event) -> Vec<u64> {
    e.from
        .iter()
        .flatten()
        .filter(|ed| ed.kind == "msg")
        .map(|ed| ed.id)
        .collect()
}

/// Abstracts a run at `level`.
pub fn abstract_run(run: &Run, level: Level) -> Abstract {
    if level == Level::Pairs {
        let mut pairs: BTreeMap<(&str, &str), u64> = BTreeMap::new();
        for m in &run.messages {
            *pairs.entry((&m.from, &m.to)).or_insert(0) += 1;
        }
        let mut text = String::new();
        for ((a, b), n) in &pairs {
            let _ = writeln!(text, "{a}>{b} {n}");
        }
        return Abstract {
            threads: Vec::new(),
            text,
        };
    }
    // threads by lane, numbered within their node in order of appearance
    let mut lane_thread: HashMap<u32, usize> = HashMap::default();
    let mut threads: Vec<Thread> = Vec::new();
    let mut per_node: HashMap<String, usize> = HashMap::default();
    // a send's position: (thread, symbol index), for naming what a receive consumed
    let mut pos_of_send: HashMap<u64, (usize, usize)> = HashMap::default();
    // the sends the last receive symbol of each thread consumed
    let mut last_recv: HashMap<usize, Vec<u64>> = HashMap::default();
    for (i, e) in run.events.iter().enumerate() {
        let Some(lane) = e.lane else { continue };
        let t = *lane_thread.entry(lane).or_insert_with(|| {
            let n = per_node.entry(e.node.to_string()).or_insert(0);
            threads.push(Thread {
                node: e.node.to_string(),
                index: *n,
                symbols: Vec::new(),
            });
            *n += 1;
            threads.len() - 1
        });
        let op = e.op.as_deref().unwrap_or("");
        let blocked = left_out(e.errno.as_deref());
        let text = if level == Level::Events {
            let mut s = format!("{} {}", e.kind, e.syscall.as_deref().unwrap_or(op));
            if let Some(b) = e.bytes {
                let _ = write!(s, " {b}");
            }
            if let Some(err) = &e.errno {
                let _ = write!(s, " {err}");
            }
            Some(s)
        } else {
            match (&*e.kind, op) {
                ("syscall", "send") if !blocked => {
                    let peer = e.id.and_then(|id| run.sends.get(&id)).map(|p| p.0.as_str());
                    Some(format!("send>{}", peer.unwrap_or("?")))
                }
                ("syscall", "recv") if !blocked => {
                    let ids = send_ids(e);
                    if e.bytes == Some(0) {
                        Some(format!("eof<{}", sock_peer(run, e)))
                    } else if !ids.is_empty()
                        && last_recv
                            .get(&t)
                            .is_some_and(|prev| prev.iter().any(|id| ids.contains(id)))
                        && threads[t]
                            .symbols
                            .last()
                            .is_some_and(|s| s.text.starts_with("recv<"))
                    {
                        // the rest of a message already received: the same symbol
                        last_recv.insert(t, ids);
                        continue;
                    } else {
                        let peer = recv_peer(run, e).unwrap_or_else(|| "?".into());
                        let from = ids
                            .first()
                            .and_then(|id| pos_of_send.get(id))
                            .map(|&(st, si)| {
                                format!("@{}.{}.{si}", threads[st].node, threads[st].index)
                            })
                            .unwrap_or_default();
                        last_recv.insert(t, ids);
                        Some(format!("recv<{peer}{from}"))
                    }
                }
                ("syscall", "connect") if !matches!(e.errno.as_deref(), Some("EINPROGRESS")) => {
                    let mut s = format!("connect>{}", sock_peer(run, e));
                    if let Some(err) = &e.errno {
                        let _ = write!(s, "!{err}");
                    }
                    Some(s)
                }
                ("syscall", "accept") if e.errno.is_none() => {
                    Some(format!("accept<{}", sock_peer(run, e)))
                }
                ("exit", _) => Some(exit_symbol(e)),
                ("fault", what) => Some(format!("fault {what}")),
                _ => None,
            }
        };
        let Some(text) = text else { continue };
        if level == Level::Messages && !text.starts_with("recv<") {
            last_recv.remove(&t);
        }
        if let (Some(id), true) = (e.id, op == "send") {
            pos_of_send.insert(id, (t, threads[t].symbols.len()));
        }
        threads[t].symbols.push(Symbol { text, event: i });
    }
    threads.sort_by(|a, b| (&*a.node, a.index).cmp(&(&*b.node, b.index)));
    let mut text = String::new();
    for t in &threads {
        let _ = write!(text, "{}.{}:", t.node, t.index);
        for s in &t.symbols {
            let _ = write!(text, " {}", s.text);
        }
        text.push('\n');
    }
    Abstract { threads, text }
}

/// Whether a call that failed with `errno` is left out of the symbols: one that would have
/// blocked (EAGAIN, EINPROGRESS) or that a signal interrupted (EINTR, and ERESTARTSYS and its
/// kin, which the kernel either restarts or turns into EINTR): it is not a step of the
/// protocol, only of the scheduling.
pub(crate) fn left_out(errno: Option<&str>) -> bool {
    matches!(
        errno,
        Some(
            "EAGAIN"
                | "EINPROGRESS"
                | "EINTR"
                | "ERESTARTSYS"
                | "ERESTARTNOINTR"
                | "ERESTARTNOHAND"
                | "ERESTART_RESTARTBLOCK"
        )
    )
}

/// An exit's symbol: `exit 0`, `exit SIGKILL`, or `exit` when the trace says neither.
pub(crate) fn exit_symbol(e: &Event) -> String {
    match (&e.signal, e.status) {
        (Some(sig), _) => format!("exit {sig}"),
        (None, Some(st)) => format!("exit {st}"),
        _ => "exit".into(),
    }
}

/// The node at the other end of an event's socket, as far as the trace tells.
fn sock_peer(run: &Run, e: &Event) -> String {
    if let Some(p) = recv_peer(run, e) {
        return p;
    }
    let addr = e
        .addr
        .as_ref()
        .or(e.sock.as_ref().and_then(|s| s.peer.as_ref()));
    if let Some(a) = addr {
        for x in run.events {
            if x.node != e.node && x.sock.as_ref().and_then(|s| s.local.as_ref()) == Some(a) {
                return x.node.to_string();
            }
        }
    }
    "?".into()
}

/// A symbol in words: `send>server` → "sends to server".
pub fn describe(symbol: &str) -> String {
    let strip_pos = |s: &str| s.split('@').next().unwrap_or(s).to_string();
    if let Some(p) = symbol.strip_prefix("send>") {
        format!("sends a message to {p}")
    } else if let Some(p) = symbol.strip_prefix("recv<") {
        format!("receives a message from {}", strip_pos(p))
    } else if let Some(p) = symbol.strip_prefix("eof<") {
        format!("sees its connection from {p} end (EOF)")
    } else if let Some(p) = symbol.strip_prefix("connect>") {
        match p.split_once('!') {
            Some((p, err)) => format!("fails to connect to {p} ({err})"),
            None => format!("connects to {p}"),
        }
    } else if let Some(p) = symbol.strip_prefix("accept<") {
        format!("accepts a connection from {p}")
    } else if let Some(st) = symbol.strip_prefix("exit") {
        let st = st.trim();
        if st.is_empty() {
            "exits".into()
        } else if st.starts_with("SIG") {
            format!("is killed by {st}")
        } else {
            format!("exits with status {st}")
        }
    } else if let Some(w) = symbol.strip_prefix("fault ") {
        format!("is hit by an injected fault ({w})")
    } else {
        symbol.to_string()
    }
}

/// Where two abstracted runs part: the earliest (by run time in `a`) thread position whose
/// symbols differ, in words. None when they are the same.
pub fn first_difference(a: &Abstract, ra: &Run, b: &Abstract, rb: &Run) -> Option<String> {
    if a.text == b.text {
        return None;
    }
    let key = |t: &Thread| (t.node.clone(), t.index);
    let bt: BTreeMap<_, &Thread> = b.threads.iter().map(|t| (key(t), t)).collect();
    let at: BTreeMap<_, &Thread> = a.threads.iter().map(|t| (key(t), t)).collect();
    // (time, words)
    let mut best: Option<(u64, String)> = None;
    let mut consider = |ts: u64, words: String| {
        if best.as_ref().is_none_or(|(t, _)| ts < *t) {
            best = Some((ts, words));
        }
    };
    for (k, ta) in &at {
        let sb: &[Symbol] = bt.get(k).map(|t| t.symbols.as_slice()).unwrap_or(&[]);
        let sa = &ta.symbols;
        let Some(i) = (0..sa.len().max(sb.len()))
            .find(|&i| sa.get(i).map(|s| &s.text) != sb.get(i).map(|s| &s.text))
        else {
            continue;
        };
        let ts = sa
            .get(i)
            .map(|s| ra.events[s.event].ts)
            .or_else(|| sb.get(i).map(|s| rb.events[s.event].ts))
            .unwrap_or(u64::MAX);
        let who = if k.1 == 0 {
            format!("node {}", k.0)
        } else {
            format!("node {} (thread {})", k.0, k.1 + 1)
        };
        let what = |s: Option<&Symbol>| match s {
            Some(s) => describe(&s.text),
            None => "does nothing more".to_string(),
        };
        consider(
            ts,
            format!(
                "{who}, step {}: in the first run it {}; in the second it {}",
                i + 1,
                what(sa.get(i)),
                what(sb.get(i))
            ),
        );
    }
    for (k, tb) in &bt {
        if at.contains_key(k) {
            continue;
        }
        if let Some(s) = tb.symbols.first() {
            consider(
                rb.events[s.event].ts,
                format!(
                    "node {} (thread {}) appears only in the second run: it {}",
                    k.0,
                    k.1 + 1,
                    describe(&s.text)
                ),
            );
        }
    }
    best.map(|(_, w)| w)
        .or_else(|| Some("the runs differ in their message counts".into()))
}
