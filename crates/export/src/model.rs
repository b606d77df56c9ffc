//! The graph every export draws: hosts (one per lane), events in id order with host-keyed
//! clocks, resolved edges, and each event's peer and text.

use std::collections::{BTreeMap, HashMap};

use bop_syscalls::SockAddr;
use bop_trace::{Event, Trace};

use crate::text;

/// A node of the system, as named in the trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Its name, as in the trace.
    pub name: String,
    /// Its hosts (indices into [`Model::hosts`]), in order of first appearance.
    pub hosts: Vec<usize>,
}

/// A host: one lane (thread) of one node, the unit that is totally ordered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// `node`, or `node.N` when the node has several lanes (see [`host_name`]).
    pub name: String,
    /// Its node (index into [`Model::nodes`]).
    pub node: usize,
    /// The lane number in the trace.
    pub lane: u32,
    /// The process id of the lane's first event.
    pub pid: i32,
    /// The thread id of the lane's first event.
    pub tid: i32,
    /// Its events (indices into [`Model::events`]), in id order.
    pub events: Vec<usize>,
}

/// An event as the exports see it: the trace event plus where it sits in the graph and how it
/// reads.
#[derive(Debug, Clone)]
pub struct Ev<'a> {
    /// The trace event.
    pub event: &'a Event,
    /// Its id (the trace's, or one made up after the largest for an event without one).
    pub id: u64,
    /// Its host (index into [`Model::hosts`]).
    pub host: usize,
    /// Its position in its host, from 0.
    pub pos: u64,
    /// The vector clock by host index: how many of that host's events happened before or at
    /// this one. The own component is `pos + 1`.
    pub clock: BTreeMap<usize, u64>,
    /// The operation word that starts its text (`send`, `eof`, `fork`, ...; see [`text::op_word`]).
    pub op: String,
    /// The name of the node (or host, within the same node) at the other end, if known.
    pub peer: Option<String>,
    /// One line describing it, the same in every format.
    pub text: String,
    /// A short label: the operation and the size.
    pub label: String,
}

impl Ev<'_> {
    /// Whether its call failed: an errno other than `EINPROGRESS` (which a non-blocking
    /// `connect` returns on its way to success). Drawn with a red border.
    pub fn failed(&self) -> bool {
        self.event
            .errno
            .as_deref()
            .is_some_and(|e| e != "EINPROGRESS")
    }
}

/// A happens-before edge between two events of the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The cause's id.
    pub from_id: u64,
    /// The cause (index into [`Model::events`]), when the trace has it.
    pub from: Option<usize>,
    /// The effect (index into [`Model::events`]).
    pub to: usize,
    /// `msg`, `connect`, `eof`, `reset`, `fork`, `exit`, `signal`, ...
    pub kind: String,
    /// Bytes, for `msg` edges.
    pub bytes: Option<u64>,
}

/// The other end of an event's communication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    /// A host of the traced system.
    Host(usize),
    /// An address no traced node owns.
    External(String),
}

/// The happens-before graph of a trace, ready to export.
#[derive(Debug, Clone)]
pub struct Model<'a> {
    /// The trace.
    pub trace: &'a Trace,
    /// The nodes: the header's, in its order, then any others in order of appearance.
    pub nodes: Vec<Node>,
    /// The hosts, grouped by node.
    pub hosts: Vec<Host>,
    /// The events, in id order.
    pub events: Vec<Ev<'a>>,
    /// Every `from` edge of every event, in the order of the events they go into.
    pub links: Vec<Link>,
    /// Things about the trace the exports had to work around, for the user.
    pub warnings: Vec<String>,
    by_id: HashMap<u64, usize>,
}

/// The name of the `index`-th (from 0) of a node's `count` lanes: the node's name when it has
/// one lane, `node.N` (N from 1) when it has several. Whitespace becomes `_` (ShiViz host
/// names have none).
pub fn host_name(node: &str, index: usize, count: usize) -> String {
    let base = sanitize_host(node);
    if count <= 1 {
        base
    } else {
        format!("{base}.{}", index + 1)
    }
}

fn sanitize_host(node: &str) -> String {
    let s: String = node
        .chars()
        .map(|c| {
            if c.is_whitespace() || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    if s.is_empty() {
        "unnamed".into()
    } else {
        s
    }
}

/// Whether an address can identify its owner (not unnamed, not port 0).
fn owned_addr(a: &SockAddr) -> bool {
    match a {
        SockAddr::Inet(s) => s.port() != 0 && !s.ip().is_unspecified(),
        SockAddr::Unix(p) => !p.is_empty(),
        SockAddr::Other(_) => false,
    }
}

/// Where the sockets, addresses and pipes of the system live: (event id, host) of their uses.
#[derive(Debug, Default)]
struct Owners {
    by_addr: HashMap<SockAddr, Vec<(u64, usize)>>,
    /// listeners bound to the unspecified address: any address with that port
    by_port: HashMap<u16, Vec<(u64, usize)>>,
    by_sock: HashMap<u64, Vec<(u64, usize)>>,
    by_target: HashMap<String, Vec<(u64, usize)>>,
    by_pid: HashMap<i32, usize>,
}

impl Owners {
    fn add_local(&mut self, a: &SockAddr, id: u64, host: usize) {
        if owned_addr(a) {
            self.by_addr.entry(a.clone()).or_default().push((id, host));
        } else if let SockAddr::Inet(s) = a {
            if s.port() != 0 {
                self.by_port.entry(s.port()).or_default().push((id, host));
            }
        }
    }

    fn of_addr(&self, a: &SockAddr) -> Option<&Vec<(u64, usize)>> {
        self.by_addr.get(a).or_else(|| match a {
            SockAddr::Inet(s) => self.by_port.get(&s.port()),
            _ => None,
        })
    }
}

impl<'a> Model<'a> {
    /// Builds the graph of `trace`. Never fails: events without graph fields (an older trace)
    /// get ids after the largest one, lanes by thread, and clocks from program order and their
    /// `from` edges; see [`Model::warnings`].
    pub fn new(trace: &'a Trace) -> Model<'a> {
        let mut warnings = Vec::new();
        let evs = &trace.events;
        // ids and lanes, made up where missing
        let max_id = evs.iter().filter_map(|e| e.id).max();
        let max_lane = evs.iter().filter_map(|e| e.lane).max();
        let mut next_id = max_id.map_or(0, |m| m.saturating_add(1));
        let mut next_lane = max_lane.map_or(0, |m| m.saturating_add(1));
        let mut tid_lane: HashMap<i32, u32> = HashMap::new();
        let mut keyed: Vec<(u64, u32, usize)> = Vec::with_capacity(evs.len());
        let mut made_up = 0usize;
        for (i, e) in evs.iter().enumerate() {
            let id = e.id.unwrap_or_else(|| {
                made_up += 1;
                let id = next_id;
                next_id = next_id.saturating_add(1);
                id
            });
            let lane = e.lane.unwrap_or_else(|| {
                *tid_lane.entry(e.tid).or_insert_with(|| {
                    let l = next_lane;
                    next_lane = next_lane.saturating_add(1);
                    l
                })
            });
            keyed.push((id, lane, i));
        }
        if made_up > 0 {
            warnings.push(format!(
                "{} {} no graph fields (id, lane, vc): they are placed after the \
                 others, in file order, with clocks from program order only",
                bop_trace::count(made_up, "event"),
                if made_up == 1 { "has" } else { "have" }
            ));
        }
        keyed.sort_by_key(|&(id, _, i)| (id, i));

        // nodes: the header's first, then by appearance
        let mut nodes: Vec<Node> = Vec::new();
        let mut node_ix: HashMap<&str, usize> = HashMap::new();
        if let Some(h) = &trace.header {
            for n in &h.nodes {
                if !node_ix.contains_key(n.name.as_str()) {
                    node_ix.insert(n.name.as_str(), nodes.len());
                    nodes.push(Node {
                        name: n.name.clone(),
                        hosts: vec![],
                    });
                }
            }
        }
        // lanes in order of first appearance, each with its node (that of its first event)
        let mut lane_order: Vec<(u32, usize, usize)> = Vec::new(); // lane, node, first event
        let mut lane_seen: HashMap<u32, usize> = HashMap::new();
        for &(_, lane, i) in &keyed {
            if lane_seen.contains_key(&lane) {
                continue;
            }
            let name = &*evs[i].node;
            let n = match node_ix.get(name) {
                Some(&n) => n,
                None => {
                    node_ix.insert(name, nodes.len());
                    nodes.push(Node {
                        name: name.to_string(),
                        hosts: vec![],
                    });
                    nodes.len() - 1
                }
            };
            lane_seen.insert(lane, lane_order.len());
            lane_order.push((lane, n, i));
        }
        // hosts grouped by node, in node order
        let mut per_node: Vec<Vec<(u32, usize)>> = vec![Vec::new(); nodes.len()];
        for &(lane, n, first) in &lane_order {
            per_node[n].push((lane, first));
        }
        let mut hosts: Vec<Host> = Vec::new();
        let mut lane_host: HashMap<u32, usize> = HashMap::new();
        let mut taken: HashMap<String, usize> = HashMap::new();
        for (n, lanes) in per_node.iter().enumerate() {
            for (k, &(lane, first)) in lanes.iter().enumerate() {
                let mut name = host_name(&nodes[n].name, k, lanes.len());
                // a node literally named like another's host ("a.1"): keep names unique
                if taken.contains_key(&name) {
                    let mut j = 2;
                    while taken.contains_key(&format!("{name}~{j}")) {
                        j += 1;
                    }
                    name = format!("{name}~{j}");
                }
                taken.insert(name.clone(), hosts.len());
                lane_host.insert(lane, hosts.len());
                nodes[n].hosts.push(hosts.len());
                hosts.push(Host {
                    name,
                    node: n,
                    lane,
                    pid: evs[first].pid,
                    tid: evs[first].tid,
                    events: vec![],
                });
            }
        }

        // events, with positions
        let mut events: Vec<Ev<'a>> = Vec::with_capacity(keyed.len());
        let mut by_id: HashMap<u64, usize> = HashMap::new();
        for &(id, lane, i) in &keyed {
            let Some(&h) = lane_host.get(&lane) else {
                continue; // cannot happen: every lane got a host
            };
            let ix = events.len();
            by_id.entry(id).or_insert(ix);
            let pos = hosts[h].events.len() as u64;
            hosts[h].events.push(ix);
            events.push(Ev {
                event: &evs[i],
                id,
                host: h,
                pos,
                clock: BTreeMap::new(),
                op: String::new(),
                peer: None,
                text: String::new(),
                label: String::new(),
            });
        }

        // edges
        let mut links = Vec::new();
        let mut dangling = 0usize;
        for (to, ev) in events.iter().enumerate() {
            for ed in ev.event.from.iter().flatten() {
                let from = by_id.get(&ed.id).copied().filter(|&f| f != to);
                if from.is_none() {
                    dangling += 1;
                }
                links.push(Link {
                    from_id: ed.id,
                    from,
                    to,
                    kind: ed.kind.to_string(),
                    bytes: ed.bytes,
                });
            }
        }
        if dangling > 0 {
            warnings.push(format!(
                "{dangling} edges come from events that are not in the trace: they are left out \
                 of the drawings"
            ));
        }

        // clocks: the trace's, lane-keyed, translated to hosts; computed where missing
        let mut into: Vec<Vec<usize>> = vec![Vec::new(); events.len()];
        for l in &links {
            if let Some(f) = l.from {
                into[l.to].push(f);
            }
        }
        let mut fixed = 0usize;
        let mut unknown_lanes = 0usize;
        for ix in 0..events.len() {
            let (h, pos) = (events[ix].host, events[ix].pos);
            let mut clock = BTreeMap::new();
            match &events[ix].event.vc {
                Some(vc) => {
                    for (k, &v) in vc {
                        match lane_host.get(k) {
                            Some(&hh) => {
                                clock.insert(hh, v);
                            }
                            None => unknown_lanes += 1,
                        }
                    }
                }
                None => {
                    // program order, then the causes' clocks (they come earlier in id order)
                    let prev = pos
                        .checked_sub(1)
                        .and_then(|p| hosts[h].events.get(p as usize));
                    let sources = prev.into_iter().chain(into[ix].iter().filter(|&&f| f < ix));
                    for &s in sources {
                        for (&k, &v) in &events[s].clock {
                            let x = clock.entry(k).or_insert(0);
                            *x = (*x).max(v);
                        }
                    }
                }
            }
            if clock.get(&h) != Some(&(pos + 1)) {
                fixed += 1;
                clock.insert(h, pos + 1);
            }
            events[ix].clock = clock;
        }
        if fixed > 0 {
            warnings.push(format!(
                "{} had a clock whose own component is not their position in their \
                 thread: set to it",
                bop_trace::count(fixed, "event")
            ));
        }
        if unknown_lanes > 0 {
            warnings.push(format!(
                "{unknown_lanes} clock components name lanes with no events in the trace: left out"
            ));
        }

        let mut m = Model {
            trace,
            nodes,
            hosts,
            events,
            links,
            warnings,
            by_id,
        };
        let owners = m.owners();
        let mut into_links: Vec<Vec<usize>> = vec![Vec::new(); m.events.len()];
        for (k, l) in m.links.iter().enumerate() {
            into_links[l.to].push(k);
        }
        let mut out_links: Vec<Vec<usize>> = vec![Vec::new(); m.events.len()];
        for (k, l) in m.links.iter().enumerate() {
            if let Some(f) = l.from {
                out_links[f].push(k);
            }
        }
        for ix in 0..m.events.len() {
            let peer = m.resolve_peer(ix, &owners, &into_links[ix]);
            let peer_name = peer.as_ref().map(|p| m.peer_name(ix, p));
            let ctx = text::Context {
                model: &m,
                ix,
                peer: peer_name.as_deref(),
                peer_is_external: matches!(peer, Some(Peer::External(_))),
                into: &into_links[ix],
                out: &out_links[ix],
                pid_host: &owners.by_pid,
            };
            let op = text::op_word(m.events[ix].event);
            let t = text::event_text(&ctx);
            let label = text::label(m.events[ix].event);
            let ev = &mut m.events[ix];
            ev.op = op;
            ev.text = t;
            ev.label = label;
            ev.peer = peer_name;
        }
        m
    }

    /// The event with this id (index into [`Model::events`]).
    pub fn by_id(&self, id: u64) -> Option<usize> {
        self.by_id.get(&id).copied()
    }

    /// The host-keyed clock of event `ix`: host name → count (hosts with no event before it
    /// are left out, as ShiViz wants).
    pub fn named_clock(&self, ix: usize) -> BTreeMap<String, u64> {
        self.events
            .get(ix)
            .map(|e| {
                e.clock
                    .iter()
                    .filter(|(_, &v)| v > 0)
                    .filter_map(|(&h, &v)| self.hosts.get(h).map(|h| (h.name.clone(), v)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The node name of host `h`.
    pub fn node_of(&self, h: usize) -> &str {
        self.hosts
            .get(h)
            .and_then(|h| self.nodes.get(h.node))
            .map_or("", |n| n.name.as_str())
    }

    fn owners(&self) -> Owners {
        let mut o = Owners::default();
        for ev in &self.events {
            let e = ev.event;
            let (id, h) = (ev.id, ev.host);
            if let Some(s) = &e.sock {
                o.by_sock.entry(s.id).or_default().push((id, h));
                if let Some(l) = &s.local {
                    o.add_local(l, id, h);
                }
            }
            if e.op.as_deref() == Some("bind") && e.errno.is_none() {
                if let Some(a) = &e.addr {
                    o.add_local(a, id, h);
                }
            }
            if let Some(t) = e.target.as_ref().filter(|t| t.starts_with("pipe:")) {
                o.by_target.entry(t.clone()).or_default().push((id, h));
            }
            let prefer = e.tid == e.pid;
            match o.by_pid.get(&e.pid) {
                Some(&old) if !prefer || self.hosts[old].tid == e.pid => {}
                _ => {
                    o.by_pid.insert(e.pid, h);
                }
            }
        }
        o
    }

    /// Picks the other end among `cands` for event `ix`: another node's host if any (the use
    /// nearest in id), else another host of the same node, else the event's own host.
    fn pick(&self, ix: usize, cands: &[(u64, usize)]) -> Option<usize> {
        let ev = &self.events[ix];
        let own_node = self.hosts[ev.host].node;
        let near = |it: &mut dyn Iterator<Item = &(u64, usize)>| {
            it.min_by_key(|(id, _)| id.abs_diff(ev.id)).map(|&(_, h)| h)
        };
        near(
            &mut cands
                .iter()
                .filter(|(_, h)| self.hosts[*h].node != own_node),
        )
        .or_else(|| near(&mut cands.iter().filter(|(_, h)| *h != ev.host)))
        .or_else(|| near(&mut cands.iter()))
    }

    fn resolve_peer(&self, ix: usize, owners: &Owners, into: &[usize]) -> Option<Peer> {
        let e = self.events[ix].event;
        let op = e.op.as_deref();
        let local_ops = [
            "socket",
            "socketpair",
            "pipe",
            "bind",
            "listen",
            "dup",
            "fcntl",
            "close_range",
            "wait",
            "kill",
            "io_uring_setup",
        ];
        if op.is_some_and(|o| local_ops.contains(&o)) {
            return None;
        }
        if e.sock.is_none() && e.target.is_none() && op.is_none() && e.kind != "fault" {
            return None;
        }
        // 1. the edges: the sender of what this received, the connect this accepted ...
        let sources: Vec<(u64, usize)> = into
            .iter()
            .filter_map(|&k| self.links.get(k))
            .filter(|l| matches!(&*l.kind, "msg" | "connect" | "eof" | "reset"))
            .filter_map(|l| l.from.map(|f| (self.events[f].id, self.events[f].host)))
            .collect();
        if let Some(h) = self.pick(ix, &sources) {
            return Some(Peer::Host(h));
        }
        // 2. the socket's peer, by inode (Unix) or address
        if let Some(s) = &e.sock {
            if let Some(pid) = s.peer_id {
                if let Some(h) = owners.by_sock.get(&pid).and_then(|c| self.pick(ix, c)) {
                    return Some(Peer::Host(h));
                }
            }
        }
        let addrs = e
            .sock
            .as_ref()
            .and_then(|s| s.peer.as_ref())
            .into_iter()
            .chain(e.addr.as_ref());
        let mut external = None;
        for a in addrs {
            if let Some(h) = owners.of_addr(a).and_then(|c| self.pick(ix, c)) {
                return Some(Peer::Host(h));
            }
            if external.is_none() && owned_addr(a) {
                external = Some(Peer::External(format!("external:{a}")));
            }
        }
        // 3. a pipe: another user of the same pipe
        if let Some(t) = &e.target {
            if let Some(c) = owners.by_target.get(t) {
                let others: Vec<_> = c
                    .iter()
                    .copied()
                    .filter(|&(_, h)| h != self.events[ix].host)
                    .collect();
                if let Some(h) = self.pick(ix, &others) {
                    return Some(Peer::Host(h));
                }
            }
        }
        if external.is_none() {
            if let Some(s) = &e.sock {
                if let Some(pid) = s.peer_id {
                    external = Some(Peer::External(format!("external:unix-socket:{pid}")));
                }
            }
        }
        external
    }

    /// How event `ix` names its peer: the peer's node name, or its host name when the peer is
    /// in the same node; `external:ADDR` for an address no node owns.
    pub fn peer_name(&self, ix: usize, p: &Peer) -> String {
        match p {
            Peer::External(s) => s.clone(),
            Peer::Host(h) => {
                let own = self.events.get(ix).map(|e| self.hosts[e.host].node);
                match self.hosts.get(*h) {
                    Some(host) if Some(host.node) == own => host.name.clone(),
                    Some(host) => self.nodes[host.node].name.clone(),
                    None => String::new(),
                }
            }
        }
    }

    /// Whether event `a` happens before event `b` (by their clocks: a ≤ b and a ≠ b).
    pub fn happens_before(&self, a: usize, b: usize) -> bool {
        let (Some(ea), Some(eb)) = (self.events.get(a), self.events.get(b)) else {
            return false;
        };
        a != b
            && ea
                .clock
                .iter()
                .all(|(h, &v)| eb.clock.get(h).is_some_and(|&w| v <= w))
    }
}
