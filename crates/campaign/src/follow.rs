//! `bop run --follow DIR`: compares the live run, event by event, with the runs recorded in
//! DIR (the classes of a `bop census`), and says at once when it falls off all of them.
//!
//! Runs are compared at the census's `messages` level, computed incrementally: each thread of
//! each node (numbered within its node in order of appearance) is a sequence of symbols —
//! `send>B`, `recv<A@A.0.3` (naming the send it consumed: node, thread, position),
//! `eof<A`, `connect>B`, `accept<A`, `exit 0`, `fault drop` — with consecutive receives of
//! one message merged and calls that would block left out. Peers are resolved from what the
//! run has shown so far (the addresses and sockets each node has used), so the recorded runs
//! are read with the same rules, in trace order, as the live one is seen.
//!
//! A live symbol that no recorded class has at that thread's position drops those classes;
//! when the last one goes, the run has fallen off: which node and thread, which step, what it
//! did, and what the classes it followed last expected there.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use bop_syscalls::SockAddr;
use bop_trace::Event;
use rustc_hash::FxHashMap as HashMap;

use crate::fingerprint::{describe, exit_symbol, left_out};

/// A thread of a run: its node and its number within the node.
pub type ThreadKey = (String, usize);

/// The incremental abstraction of one run.
#[derive(Default)]
pub struct Abstractor {
    lane_thread: HashMap<u32, usize>,
    threads: Vec<ThreadKey>,
    per_node: HashMap<String, usize>,
    /// symbols so far per thread (index into `threads`)
    counts: Vec<usize>,
    /// the last symbol of each thread, for merging receives
    last: Vec<Option<String>>,
    /// the sends the last receive symbol of each thread consumed
    last_recv: HashMap<usize, Vec<u64>>,
    /// a send's event id → (its thread, its position), and its node
    sends: HashMap<u64, (usize, usize)>,
    node_of_event: HashMap<u64, String>,
    /// whose is each address and each socket, as seen so far
    owner_addr: HashMap<SockAddr, String>,
    owner_ino: HashMap<u64, String>,
}

impl Abstractor {
    /// The next event in causal order; returns the thread and the symbol it adds, if any.
    pub fn push(&mut self, e: &Event) -> Option<(usize, String)> {
        if let Some(s) = &e.sock {
            self.owner_ino
                .entry(s.id)
                .or_insert_with(|| e.node.to_string());
            if let Some(l) = &s.local {
                if !matches!(l, SockAddr::Unix(p) if p.is_empty()) {
                    self.owner_addr
                        .entry(l.clone())
                        .or_insert_with(|| e.node.to_string());
                }
            }
        }
        if let Some(id) = e.id {
            self.node_of_event.insert(id, e.node.to_string());
        }
        let lane = e.lane?;
        let t = match self.lane_thread.get(&lane) {
            Some(&t) => t,
            None => {
                let n = self.per_node.entry(e.node.to_string()).or_insert(0);
                self.threads.push((e.node.to_string(), *n));
                *n += 1;
                self.counts.push(0);
                self.last.push(None);
                let t = self.threads.len() - 1;
                self.lane_thread.insert(lane, t);
                t
            }
        };
        let text = self.symbol(e, t)?;
        if !text.starts_with("recv<") {
            self.last_recv.remove(&t);
        }
        if let (Some(id), Some("send")) = (e.id, e.op.as_deref()) {
            self.sends.insert(id, (t, self.counts[t]));
        }
        self.counts[t] += 1;
        self.last[t] = Some(text.clone());
        Some((t, text))
    }

    /// The key of thread `t`.
    pub fn thread(&self, t: usize) -> &ThreadKey {
        &self.threads[t]
    }

    fn symbol(&mut self, e: &Event, t: usize) -> Option<String> {
        let op = e.op.as_deref().unwrap_or("");
        let blocked = left_out(e.errno.as_deref());
        match (&*e.kind, op) {
            ("syscall", "send") if !blocked => Some(format!("send>{}", self.peer(e))),
            ("syscall", "recv") if !blocked => {
                let ids: Vec<u64> = e
                    .from
                    .iter()
                    .flatten()
                    .filter(|ed| ed.kind == "msg")
                    .map(|ed| ed.id)
                    .collect();
                if e.bytes == Some(0) {
                    return Some(format!("eof<{}", self.peer(e)));
                }
                let continues = !ids.is_empty()
                    && self
                        .last_recv
                        .get(&t)
                        .is_some_and(|prev| prev.iter().any(|id| ids.contains(id)))
                    && self.last[t]
                        .as_deref()
                        .is_some_and(|s| s.starts_with("recv<"));
                if continues {
                    // the rest of a message already received: no new symbol
                    self.last_recv.insert(t, ids);
                    return None;
                }
                let from = ids.first();
                let peer = from
                    .and_then(|id| self.node_of_event.get(id).cloned())
                    .unwrap_or_else(|| self.peer(e));
                let pos = from
                    .and_then(|id| self.sends.get(id))
                    .map(|&(st, si)| format!("@{}.{}.{si}", self.threads[st].0, self.threads[st].1))
                    .unwrap_or_default();
                self.last_recv.insert(t, ids);
                Some(format!("recv<{peer}{pos}"))
            }
            ("syscall", "connect") if !matches!(e.errno.as_deref(), Some("EINPROGRESS")) => {
                let mut s = format!("connect>{}", self.peer(e));
                if let Some(err) = &e.errno {
                    let _ = write!(s, "!{err}");
                }
                Some(s)
            }
            ("syscall", "accept") if e.errno.is_none() => Some(format!("accept<{}", self.peer(e))),
            ("exit", _) => Some(exit_symbol(e)),
            ("fault", what) => Some(format!("fault {what}")),
            _ => None,
        }
    }

    /// The node at the other end of `e`'s socket, as far as the run has shown.
    fn peer(&self, e: &Event) -> String {
        let s = e.sock.as_ref();
        let by_addr = e
            .addr
            .as_ref()
            .or_else(|| s.and_then(|s| s.peer.as_ref()))
            .and_then(|a| self.owner_addr.get(a));
        let by_ino = s
            .and_then(|s| s.peer_id)
            .and_then(|p| self.owner_ino.get(&p));
        by_addr
            .or(by_ino)
            .filter(|n| **n != *e.node)
            .cloned()
            .unwrap_or_else(|| "?".into())
    }
}

/// A recorded run's threads, abstracted.
struct Class {
    /// Its name: the trace's file name (`class-2.jsonl`).
    name: String,
    /// The recorded trace.
    path: PathBuf,
    threads: HashMap<ThreadKey, Vec<String>>,
    /// Its calls and process exits, in trace order, for checking fault-rule anchors.
    calls: Vec<Call>,
}

/// A recorded call (or process exit), as a fault trigger would have seen it.
struct Call {
    node: String,
    /// The generic operation (`exit` for a process's end).
    op: String,
    syscall: String,
    /// The node at the other end, as the run had shown it then.
    peer: String,
    /// It succeeded (a receive: it returned bytes).
    ok: bool,
}

impl Call {
    fn of(e: &Event, a: &Abstractor) -> Option<Call> {
        let (op, ok) = match &*e.kind {
            // the process's end: its main thread's exit event
            "exit" if e.tid == e.pid => ("exit".to_string(), true),
            "syscall" => {
                let op = e.op.as_deref().unwrap_or("").to_string();
                // the result as the trace has it: the errno by name, or the bytes moved (a
                // call that moves none returned no byte count to judge, only success)
                let result = match e.errno.as_deref() {
                    None => Ok(e.bytes.map_or(1, |b| b as i64)),
                    Some(name) => Err(bop_syscalls::errno_number(name).unwrap_or(0)),
                };
                let ok = bop_faults::succeeded(&op, result);
                (op, ok)
            }
            _ => return None,
        };
        Some(Call {
            node: e.node.to_string(),
            syscall: e.syscall.as_deref().unwrap_or(&op).to_string(),
            op,
            peer: a.peer(e),
            ok,
        })
    }
}

/// Where the live run fell off every recorded class.
#[derive(Debug, Clone)]
pub struct Departure {
    /// The node.
    pub node: String,
    /// Its thread's number within the node.
    pub thread: usize,
    /// The thread's step (from 0) at which it parted; shown counting from 1.
    pub step: usize,
    /// What it did, in words.
    pub did: String,
    /// What the classes it followed last expected there, in words, with their names.
    pub expected: Vec<(String, String)>,
}

impl std::fmt::Display for Departure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the run fell off every recorded class at node {}, thread {}, step {}: it {}",
            self.node,
            self.thread,
            self.step + 1,
            self.did
        )?;
        let mut by_what: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (class, what) in &self.expected {
            by_what.entry(what).or_default().push(class);
        }
        for (what, classes) in by_what {
            write!(f, "; {} expected: it {what}", classes.join(", "))?;
        }
        Ok(())
    }
}

/// Follows a live run against the recorded classes.
pub struct Follower {
    classes: Vec<Class>,
    alive: Vec<bool>,
    /// where the run left each class, in words
    left: Vec<Option<String>>,
    /// classes left since the last [`Follower::take_left`]
    dropped: Vec<usize>,
    live: Abstractor,
    /// Set once the run has fallen off.
    pub departure: Option<Departure>,
}

/// The recorded runs in `dir`: the representatives its `census.json` lists, or else every
/// `*.jsonl` trace in it.
fn recorded(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let census = dir.join("census.json");
    if census.exists() {
        let text = std::fs::read_to_string(&census)
            .map_err(|e| format!("cannot read {}: {e}", census.display()))?;
        let c: crate::census::Census = serde_json::from_str(&text).map_err(|e| {
            format!(
                "{}:{}:{}: not a bop census: {e}",
                census.display(),
                e.line(),
                e.column()
            )
        })?;
        return Ok(c
            .classes
            .iter()
            .map(|k| {
                let p = PathBuf::from(&k.representative);
                if p.is_absolute() || p.exists() {
                    p
                } else {
                    dir.join(p.file_name().unwrap_or_default())
                }
            })
            .collect());
    }
    let mut traces: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("--follow {}: cannot read the directory: {e}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    traces.sort();
    Ok(traces)
}

impl Follower {
    /// Loads and abstracts the recorded runs of `dir` (see [`recorded`]).
    pub fn load(dir: &Path) -> Result<Follower, String> {
        let paths = recorded(dir)?;
        if paths.is_empty() {
            return Err(format!(
                "--follow {}: no recorded runs there (no census.json, no .jsonl trace); make \
                 some with `bop census CLUSTER --out {}`",
                dir.display(),
                dir.display()
            ));
        }
        let mut classes = Vec::new();
        for p in paths {
            let t = bop_trace::read_file(&p)
                .map_err(|e| format!("--follow: cannot read {}: {e}", p.display()))?;
            let mut a = Abstractor::default();
            let mut threads: HashMap<ThreadKey, Vec<String>> = HashMap::default();
            let mut calls = Vec::new();
            for e in &t.events {
                if let Some((th, sym)) = a.push(e) {
                    threads.entry(a.thread(th).clone()).or_default().push(sym);
                }
                calls.extend(Call::of(e, &a));
            }
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| p.display().to_string());
            classes.push(Class {
                name,
                path: p,
                threads,
                calls,
            });
        }
        let alive = vec![true; classes.len()];
        let left = vec![None; classes.len()];
        Ok(Follower {
            classes,
            alive,
            left,
            dropped: Vec::new(),
            live: Abstractor::default(),
            departure: None,
        })
    }

    /// How many recorded classes there are.
    pub fn classes(&self) -> usize {
        self.classes.len()
    }

    /// The classes the run still follows, by name.
    pub fn following(&self) -> Vec<&str> {
        self.classes
            .iter()
            .zip(&self.alive)
            .filter(|(_, &a)| a)
            .map(|(c, _)| c.name.as_str())
            .collect()
    }

    /// The class a fault rule's `in class NAME` means: the recorded run whose file stem is
    /// NAME or `class-NAME` (so `in class 2` is the census's `class-2.jsonl`).
    pub fn class_index(&self, name: &str) -> Result<usize, String> {
        let stem = |c: &Class| {
            c.path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        self.classes
            .iter()
            .position(|c| {
                let s = stem(c);
                s == name || s == format!("class-{name}")
            })
            .ok_or_else(|| {
                let names: Vec<String> = self.classes.iter().map(stem).collect();
                format!(
                    "no recorded class \"{name}\"; the classes are: {}",
                    names.join(", ")
                )
            })
    }

    /// Checks that class `k`'s recorded run has the event `pat` (its node's `#N`th call that
    /// an `at` trigger, if `at`, or an `after` trigger would count), so that a rule anchored
    /// there can fire at all.
    pub fn check_anchor(
        &self,
        k: usize,
        pat: &bop_faults::EventPat,
        at: bool,
    ) -> Result<(), String> {
        let c = &self.classes[k];
        let mut seen = 0u64;
        for call in &c.calls {
            let step = bop_faults::Step {
                node: &call.node,
                op: &call.op,
                syscall: &call.syscall,
                peer: Some(&call.peer),
                ..Default::default()
            };
            let counts = bop_faults::counted(at, &call.op) == bop_faults::Counted::Entry || call.ok;
            if counts && pat.matches(&step) {
                seen += 1;
                if seen == pat.nth.unwrap_or(1) {
                    return Ok(());
                }
            }
        }
        Err(format!(
            "the recorded class {} never has {pat}: {} has {} there",
            c.name,
            pat.node,
            bop_trace::count(seen, "such event")
        ))
    }

    /// The classes the run has left since the last call, as indexes.
    pub fn take_left(&mut self) -> Vec<usize> {
        std::mem::take(&mut self.dropped)
    }

    /// Where the run left class `k`, in words (None while it follows it).
    pub fn left_at(&self, k: usize) -> Option<&str> {
        self.left.get(k).and_then(|l| l.as_deref())
    }

    /// The name of class `k` (its trace's file name).
    pub fn class_name(&self, k: usize) -> &str {
        &self.classes[k].name
    }

    /// The next live event (in causal order). Returns the departure when this event is the
    /// one at which the run falls off the last class it followed.
    pub fn observe(&mut self, e: &Event) -> Option<&Departure> {
        if self.departure.is_some() {
            return None;
        }
        let (t, sym) = self.live.push(e)?;
        let key = self.live.thread(t).clone();
        let step = self.live.counts[t] - 1;
        let mut expected = Vec::new();
        for (k, c) in self.classes.iter().enumerate() {
            if !self.alive[k] {
                continue;
            }
            let want = c.threads.get(&key).and_then(|s| s.get(step));
            if want.map(String::as_str) != Some(sym.as_str()) {
                self.alive[k] = false;
                self.dropped.push(k);
                let want = want
                    .map(|w| describe(w))
                    .unwrap_or_else(|| "does nothing more".into());
                self.left[k] = Some(format!(
                    "at node {}, thread {}, step {}: it {}; the class: it {want}",
                    key.0,
                    key.1,
                    step + 1,
                    describe(&sym)
                ));
                expected.push((c.name.clone(), want));
            }
        }
        if self.alive.iter().any(|&a| a) {
            return None;
        }
        self.departure = Some(Departure {
            node: key.0,
            thread: key.1,
            step,
            did: describe(&sym),
            expected,
        });
        self.departure.as_ref()
    }
}
