//! Reading a recorded run as a campaign needs it: who each message went to, each message's
//! number on its link (as fault rules count them), the causal past of the run's outcome, and
//! the faults that could cut it.
//!
//! Messages are named as the fault engine names them: `drop A -> B #N` is the Nth send call
//! node A made to node B, counted at the call, including sends a fault swallowed; a crash point
//! `crash A at A.send(B)#N` is counted the same way. Peers are resolved from the trace itself:
//! every socket address (and Unix socket inode) seen as a node's own belongs to that node; a
//! send whose peer address is unknown falls back to the node that received it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use bop_syscalls::SockAddr;
use bop_trace::Event;
use rustc_hash::FxHashMap as HashMap;

/// A fault a campaign may inject, named in bop's fault language.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    /// Lose the `n`th message `from` sends `to`: `drop FROM -> TO #N`.
    Drop {
        /// The sending node.
        from: String,
        /// The receiving node.
        to: String,
        /// The message's number on the link, from 1.
        n: u64,
    },
    /// Crash `node` at its `n`th send to `peer` (the message is never sent):
    /// `crash NODE at NODE.send(PEER)#N`.
    Crash {
        /// The node to crash.
        node: String,
        /// The peer of the send it dies at.
        peer: String,
        /// The send's number on the link, from 1.
        n: u64,
    },
}

impl Fault {
    /// Whether it is a crash.
    pub fn is_crash(&self) -> bool {
        matches!(self, Fault::Crash { .. })
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Drop { from, to, n } => write!(f, "drop {from} -> {to} #{n}"),
            Fault::Crash { node, peer, n } => write!(f, "crash {node} at {node}.send({peer})#{n}"),
        }
    }
}

/// Which faults a campaign may use (the cluster file's `[explore]` table and `crashable`).
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Nodes that may be crashed.
    pub crashable: BTreeSet<String>,
    /// Whether messages may be lost.
    pub omissions: bool,
}

/// One message of a run: a send by one node received by another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The send's event id.
    pub send: u64,
    /// The sending node.
    pub from: String,
    /// The receiving node.
    pub to: String,
    /// The send's number on the link.
    pub n: u64,
}

/// A recorded run, indexed for campaigns.
pub struct Run<'t> {
    /// The run's events, in the trace's (causal) order.
    pub events: &'t [Event],
    /// The non-daemon nodes (the oracle).
    pub oracle: BTreeSet<String>,
    /// Whether the cluster has a `[check]` (it may look at any node's state: every event is
    /// part of the outcome's past).
    pub has_check: bool,
    /// Send event id (or the id of the fault event that lost the send) → (peer node, number
    /// on the link).
    pub sends: HashMap<u64, (String, u64)>,
    /// Event id → index in `events`.
    pub index: HashMap<u64, usize>,
    /// Messages sent by one node and received by another, in send order.
    pub messages: Vec<Message>,
}

/// The node a fault event names as its peer: the rule's text ends in `[WHAT NODE PEER]`.
fn fault_peer(e: &Event) -> Option<&str> {
    let d = e.detail.as_deref()?;
    let inner = d.rsplit_once('[')?.1.strip_suffix(']')?;
    let mut words = inner.split(' ');
    let (_what, _node, peer) = (words.next()?, words.next()?, words.next()?);
    Some(peer)
}

impl<'t> Run<'t> {
    /// Indexes `events`; `oracle` are the non-daemon nodes.
    pub fn new(events: &'t [Event], oracle: BTreeSet<String>, has_check: bool) -> Run<'t> {
        // whose is each address and each Unix socket
        let mut owner_addr: HashMap<&SockAddr, &str> = HashMap::default();
        let mut owner_ino: HashMap<u64, &str> = HashMap::default();
        for e in events {
            if let Some(s) = &e.sock {
                owner_ino.entry(s.id).or_insert(&e.node);
                if let Some(l) = &s.local {
                    if !matches!(l, SockAddr::Unix(p) if p.is_empty()) {
                        owner_addr.entry(l).or_insert(&e.node);
                    }
                }
            }
        }
        let index: HashMap<u64, usize> = events
            .iter()
            .enumerate()
            .filter_map(|(i, e)| Some((e.id?, i)))
            .collect();
        // who received each send (the fallback for unknown addresses)
        let mut receiver: HashMap<u64, &str> = HashMap::default();
        for e in events {
            for ed in e.from.iter().flatten() {
                if ed.kind == "msg" {
                    receiver.entry(ed.id).or_insert(&e.node);
                }
            }
        }
        let peer_of = |e: &'t Event| -> Option<&'t str> {
            let s = e.sock.as_ref();
            let by_addr = e
                .addr
                .as_ref()
                .or_else(|| s.and_then(|s| s.peer.as_ref()))
                .and_then(|a| owner_addr.get(a).copied());
            let by_ino = s
                .and_then(|s| s.peer_id)
                .and_then(|p| owner_ino.get(&p).copied());
            by_addr
                .or(by_ino)
                .or_else(|| e.id.and_then(|id| receiver.get(&id).copied()))
        };
        let mut counts: HashMap<(&str, &str), u64> = HashMap::default();
        let mut sends = HashMap::default();
        for e in events {
            let is_send = e.kind == "syscall" && e.op.as_deref() == Some("send");
            let is_lost =
                e.kind == "fault" && matches!(e.op.as_deref(), Some("drop" | "partition"));
            if !is_send && !is_lost {
                continue;
            }
            let peer = if is_lost { fault_peer(e) } else { peer_of(e) };
            let Some(peer) = peer.filter(|p| *p != e.node) else {
                continue;
            };
            let n = counts.entry((&e.node, peer)).or_insert(0);
            *n += 1;
            // a send a fault swallowed is a crash point too (`crash A at A.send(B)#N` counts it)
            if let Some(id) = e.id {
                sends.insert(id, (peer.to_string(), *n));
            }
        }
        let mut messages = Vec::new();
        let mut seen = BTreeSet::new();
        for e in events {
            for ed in e.from.iter().flatten() {
                if ed.kind != "msg" || !seen.insert(ed.id) {
                    continue;
                }
                let Some(&i) = index.get(&ed.id) else {
                    continue;
                };
                let send = &events[i];
                if send.node == e.node {
                    continue;
                }
                if let Some((peer, n)) = sends.get(&ed.id) {
                    if *peer == e.node {
                        messages.push(Message {
                            send: ed.id,
                            from: send.node.to_string(),
                            to: e.node.to_string(),
                            n: *n,
                        });
                    }
                }
            }
        }
        messages.sort_by_key(|m| m.send);
        Run {
            events,
            oracle,
            has_check,
            sends,
            index,
            messages,
        }
    }

    /// The causal past of the outcome: the events that happened before the oracle nodes'
    /// last events (all events when a `[check]` judges the run), closed over processes (see
    /// [`Run::close_over_processes`]). As lane → how many of the lane's first events belong
    /// to it.
    pub fn cone(&self) -> BTreeMap<u32, u64> {
        let mut cone: BTreeMap<u32, u64> = BTreeMap::new();
        if self.has_check {
            for e in self.events {
                if let Some(l) = e.lane {
                    let c = cone.entry(l).or_insert(0);
                    *c = (*c).max(e.seq + 1);
                }
            }
            return cone;
        }
        for e in self
            .events
            .iter()
            .filter(|e| self.oracle.contains(&*e.node))
        {
            for (&l, &v) in e.vc.iter().flatten() {
                let c = cone.entry(l).or_insert(0);
                *c = (*c).max(v);
            }
        }
        self.close_over_processes(&mut cone);
        cone
    }

    /// Widens `cone` to what the threads of one process may have told each other through
    /// memory, which bop does not see: a thread that receives a message and hands it to
    /// another thread through a queue makes the second thread's sends depend on that receive,
    /// with no edge in the graph. So when an event of a process is in the cone, every event
    /// of the process's other threads observed before it is too, and so is their causal
    /// past; repeated until nothing is added. Conservative: a support then holds every fault
    /// that might matter, never fewer, so a certificate is not given for lack of an edge.
    pub fn close_over_processes(&self, cone: &mut BTreeMap<u32, u64>) {
        // each lane's process and its events' indexes, in order
        let mut lanes: BTreeMap<u32, (i32, Vec<usize>)> = BTreeMap::new();
        for (i, e) in self.events.iter().enumerate() {
            if let Some(l) = e.lane {
                lanes
                    .entry(l)
                    .or_insert_with(|| (e.pid, Vec::new()))
                    .1
                    .push(i);
            }
        }
        for (_, evs) in lanes.values_mut() {
            evs.sort_by_key(|&i| self.events[i].seq);
        }
        loop {
            // the time of each process's latest event in the cone
            let mut latest: HashMap<i32, u64> = HashMap::default();
            for (l, &c) in cone.iter() {
                let Some((pid, evs)) = lanes.get(l) else {
                    continue;
                };
                if let Some(&i) = evs.get((c as usize).min(evs.len()).wrapping_sub(1)) {
                    let t = latest.entry(*pid).or_insert(0);
                    *t = (*t).max(self.events[i].ts);
                }
            }
            let mut grown = false;
            for (&l, (pid, evs)) in &lanes {
                let Some(&until) = latest.get(pid) else {
                    continue;
                };
                let had = cone.get(&l).map_or(0, |&c| (c as usize).min(evs.len()));
                let mut n = had;
                while n < evs.len() && self.events[evs[n]].ts <= until {
                    n += 1;
                }
                if n == had {
                    continue;
                }
                grown = true;
                let c = cone.entry(l).or_insert(0);
                *c = (*c).max(n as u64);
                for &i in &evs[had..n] {
                    for (&k, &v) in self.events[i].vc.iter().flatten() {
                        let c = cone.entry(k).or_insert(0);
                        *c = (*c).max(v);
                    }
                }
            }
            if !grown {
                return;
            }
        }
    }

    /// Whether the event with this id is in `cone`.
    fn in_cone(&self, cone: &BTreeMap<u32, u64>, id: u64) -> bool {
        let Some(&i) = self.index.get(&id) else {
            return false;
        };
        let e = &self.events[i];
        e.lane
            .is_some_and(|l| cone.get(&l).is_some_and(|&c| e.seq < c))
    }

    /// The messages the outcome depends on (in its causal past).
    pub fn lineage(&self) -> Vec<&Message> {
        let cone = self.cone();
        self.messages
            .iter()
            .filter(|m| self.in_cone(&cone, m.send))
            .collect()
    }

    /// The faults that could cut the outcome's support in this run: the loss of each message
    /// in its lineage, and a crash of a crashable node at any of its sends up to its last send
    /// in the lineage (a crash there silences that message and every later one). Every such
    /// send is a crash point of its own, not only a node's first: a crash that silences more
    /// is not a worse fault for the outcome (a broadcaster that dies before sending anything
    /// leaves its replicas agreeing; one that dies half-way does not).
    ///
    /// An outcome whose lineage has no message between two non-oracle nodes is vacuous (the
    /// oracle heard nothing the system did together: a broadcaster that died before it sent
    /// anything, say) and has an empty support: it gives nothing to cut, and counting the
    /// oracle's own exchanges as its support would steer the search away from the system.
    pub fn support(&self, policy: &Policy) -> BTreeSet<Fault> {
        let lineage = self.lineage();
        let internal =
            |m: &&Message| !self.oracle.contains(&m.from) && !self.oracle.contains(&m.to);
        if !lineage.iter().any(internal) {
            return BTreeSet::new();
        }
        let mut last: HashMap<&str, usize> = HashMap::default();
        for m in &lineage {
            if let Some(&i) = self.index.get(&m.send) {
                let l = last.entry(m.from.as_str()).or_insert(i);
                *l = (*l).max(i);
            }
        }
        let mut out = faults_of(lineage, policy, &self.oracle);
        for (i, e) in self.events.iter().enumerate() {
            let before_last = last.get(&*e.node).is_some_and(|&l| i <= l);
            if !before_last || !policy.crashable.contains(&*e.node) {
                continue;
            }
            if let Some((peer, n)) = e.id.and_then(|id| self.sends.get(&id)) {
                out.insert(Fault::Crash {
                    node: e.node.to_string(),
                    peer: peer.clone(),
                    n: *n,
                });
            }
        }
        out
    }

    /// Every fault of the run's graph, not only its outcome's lineage: each message's loss, and
    /// a crash of a crashable node at each of its sends (the `edges` and `random` strategies).
    pub fn universe(&self, policy: &Policy) -> BTreeSet<Fault> {
        faults_of(self.messages.iter().collect(), policy, &self.oracle)
    }
}

/// The faults of these messages. Messages sent by or to an oracle node are never lost: they are
/// the test's own requests and observations, not the system's communication (losing a request
/// makes a vacuous pass, losing an answer fails the test, not the system), and every outcome's
/// lineage starts with them, so a search that may cut them spends its runs there.
fn faults_of(msgs: Vec<&Message>, policy: &Policy, oracle: &BTreeSet<String>) -> BTreeSet<Fault> {
    let mut out = BTreeSet::new();
    for m in msgs {
        if policy.omissions && !oracle.contains(&m.from) && !oracle.contains(&m.to) {
            out.insert(Fault::Drop {
                from: m.from.clone(),
                to: m.to.clone(),
                n: m.n,
            });
        }
        if policy.crashable.contains(&m.from) {
            out.insert(Fault::Crash {
                node: m.from.clone(),
                peer: m.to.clone(),
                n: m.n,
            });
        }
    }
    out
}

/// Faults for tests.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::Fault;

    /// `drop FROM -> TO #N`.
    pub fn drop(from: &str, to: &str, n: u64) -> Fault {
        Fault::Drop {
            from: from.into(),
            to: to.into(),
            n,
        }
    }

    /// `crash NODE at NODE.send(PEER)#N`.
    pub fn crash(node: &str, peer: &str, n: u64) -> Fault {
        Fault::Crash {
            node: node.into(),
            peer: peer.into(),
            n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{crash, drop};
    use super::*;

    #[test]
    fn faults_print_as_rules_the_parser_accepts() {
        for f in [drop("a", "b", 2), crash("p", "b", 1)] {
            let text = f.to_string();
            let rule = bop_faults::parse_rule(&text).expect(&text);
            assert_eq!(rule.to_string(), text);
        }
    }

    /// An event of `node`, process `pid`, lane `lane` (its `seq`-th), at time `ts`, with id
    /// `id`, clock `vc`, consuming the sends `from`.
    #[allow(clippy::too_many_arguments)]
    fn ev(
        node: &'static str,
        pid: i32,
        lane: u32,
        seq: u64,
        ts: u64,
        id: u64,
        op: &'static str,
        vc: &[(u32, u64)],
        from: &[u64],
    ) -> Event {
        Event {
            node: node.into(),
            pid,
            tid: pid + lane as i32,
            seq,
            ts,
            kind: "syscall".into(),
            op: Some(op.into()),
            id: Some(id),
            lane: Some(lane),
            vc: Some(vc.iter().copied().collect()),
            from: (!from.is_empty()).then(|| {
                from.iter()
                    .map(|&id| bop_trace::Edge {
                        id,
                        kind: "msg".into(),
                        bytes: Some(1),
                    })
                    .collect()
            }),
            ..Event::default()
        }
    }

    /// A server thread receives a replica's message and hands it to another thread (through
    /// memory: no edge), which answers the client. The replica's message is in the outcome's
    /// lineage only through the closure over the server's process; what the server did after
    /// its answer is not.
    #[test]
    fn the_cone_is_closed_over_the_threads_of_a_process() {
        let trace = |worker_pid: i32| {
            vec![
                ev("replica", 1, 0, 0, 10, 1, "send", &[(0, 1)], &[]),
                ev("server", 10, 1, 0, 20, 2, "recv", &[(0, 1), (1, 1)], &[1]),
                ev("server", worker_pid, 2, 0, 30, 3, "send", &[(2, 1)], &[]),
                ev("client", 30, 3, 0, 40, 4, "recv", &[(2, 1), (3, 1)], &[3]),
                ev("server", 10, 1, 1, 50, 5, "send", &[(0, 1), (1, 2)], &[]),
                ev("replica", 1, 0, 1, 60, 6, "recv", &[(0, 2), (1, 2)], &[5]),
            ]
        };
        let oracle: BTreeSet<String> = ["client".to_string()].into();
        let events = trace(10);
        let run = Run::new(&events, oracle.clone(), false);
        let sends: Vec<u64> = run.lineage().iter().map(|m| m.send).collect();
        assert_eq!(sends, [1, 3], "the replica's message, and the answer");
        // the same steps in two processes share no memory: only the answer
        let events = trace(20);
        let run = Run::new(&events, oracle, false);
        let sends: Vec<u64> = run.lineage().iter().map(|m| m.send).collect();
        assert_eq!(sends, [3]);
    }
}
