//! The live happens-before graph of a traced system's communication.
//!
//! The run loop feeds every trace [`Event`] to [`Graph::push`] as it is observed; the graph
//! links it to the events it causally depends on in other threads — the sends whose bytes a
//! receive returned, the connect an accept completed, the close behind an EOF, the datagram a
//! receive got, the fork that created a thread, the exit a wait reaped, the kill behind a
//! signal — gives it a vector clock, and hands it back ready to be written.
//!
//! The tracer does not always observe a cause before its effect: the receiver's syscall-exit
//! stop can be reported before the sender's. An event whose cause has not been observed yet,
//! but is on its way (the sender is inside its send call, or the cause is itself waiting), is
//! *held* — not the thread, only the event and the events after it in the same thread — and
//! released as soon as the cause arrives. Events therefore come out in a causal order (a
//! linear extension of happens-before), each with its clock, so the graph is complete up to the
//! newest released event at all times. A cause that cannot come any more (an external peer, a
//! sender killed mid-call) leaves the effect unmatched instead.
//!
//! Vector clocks have one component per **thread** (a *lane*: lanes are numbered in order of
//! appearance and never reused, even when the kernel reuses a tid). A thread is the unit that is
//! totally ordered; a per-process clock would invent order between a process's threads.

mod keys;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use rustc_hash::FxHashMap as HashMap;

use bop_trace::{Edge, Event};

use keys::{conn_key_accept, conn_key_connect, dgram_key, recv_key, send_key, End, StreamKey};

/// `MSG_PEEK`: the receive consumes nothing.
const MSG_PEEK: i64 = 2;
/// How long an event may be held before it is released unmatched anyway (nanoseconds of the
/// run's clock): a safety net against a cause that can never be observed.
pub const HOLD_LIMIT_NS: u64 = 5_000_000_000;

/// A vector clock: lane → number of that lane's events that happened before or at this one.
pub type Clock = BTreeMap<u32, u64>;

#[derive(Debug, Default)]
struct Lane {
    seq: u64,
    vc: Clock,
    /// events waiting for a cause, each with the stream key it was placed under (computed
    /// once, when it is pushed)
    held: VecDeque<(Event, Option<StreamKey>)>,
    gone: bool,
}

/// One direction of a stream, with its byte offsets counted in the order the calls were
/// observed: each send and each receive gets its range of the stream when it is pushed, not
/// when it is released, so a receive held in its lane (waiting for an unrelated cause) keeps
/// the bytes it really read, and a later receive of another thread cannot take them.
#[derive(Debug, Default)]
struct Stream {
    /// bytes of the sends observed so far
    send_off: u64,
    /// bytes of the (non-peeking) receives observed so far
    recv_off: u64,
    /// sends whose bytes some receive may still need, in stream order
    segs: VecDeque<Seg>,
    /// where the receives observed but not released yet start, with how many start there
    /// (peeks share a start with the receive after them), in stream order: the bytes from the
    /// first of them on are still wanted
    pending: VecDeque<(u64, u32)>,
}

/// A send's range of its stream, and its event id once it is released.
#[derive(Debug, Clone, Copy)]
struct Seg {
    start: u64,
    end: u64,
    id: Option<u64>,
}

impl Stream {
    /// The first of `segs` that ends after `off`.
    fn first_after(&self, off: u64) -> usize {
        self.segs.partition_point(|s| s.end <= off)
    }

    /// Drops the sends every receive is done with (and their clocks).
    fn forget_consumed(&mut self, clocks: &mut HashMap<u64, Clock>) {
        while self.pending.front().is_some_and(|p| p.1 == 0) {
            self.pending.pop_front();
        }
        let low = self
            .pending
            .front()
            .map_or(self.recv_off, |p| p.0)
            .min(self.recv_off);
        while let Some(s) = self.segs.front() {
            if s.end > low {
                break;
            }
            if let Some(id) = s.id {
                clocks.remove(&id);
            }
            self.segs.pop_front();
        }
    }
}

/// A datagram sent and not yet received: its payload hash and its event id.
type Datagram = (Option<String>, u64);

/// What the graph decided for an event it can release.
struct Plan {
    edges: Vec<Edge>,
    unmatched: Option<u64>,
}

/// The happens-before graph under construction.
#[derive(Debug, Default)]
pub struct Graph {
    next_id: u64,
    lanes: Vec<Lane>,
    lane_of: HashMap<i32, u32>,
    with_held: BTreeSet<u32>,
    /// the lanes `pump` is walking (kept to reuse its allocation)
    scratch: Vec<u32>,
    /// in-progress calls (send, connect) by thread, observed at their entry
    begun: HashMap<i32, Event>,
    clocks: HashMap<u64, Clock>,
    streams: HashMap<StreamKey, Stream>,
    fins: HashMap<StreamKey, u64>,
    connects: HashMap<End, VecDeque<u64>>,
    dgrams: HashMap<(String, u64), VecDeque<Datagram>>,
    forks: HashMap<i32, u64>,
    exits: HashMap<i32, u64>,
    kills: HashMap<(i32, String), VecDeque<u64>>,
    out: Vec<Event>,
    /// an emptied vector handed back by [`Graph::recycle`], to be the next `out`
    spare: Vec<Event>,
    forced: u64,
}

fn is_first_release(g: &Graph, lane: u32) -> bool {
    g.lanes.get(lane as usize).is_some_and(|l| l.seq == 0)
}

impl Graph {
    /// An empty graph.
    pub fn new() -> Graph {
        Graph::default()
    }

    /// Events released without their cause because it never came within [`HOLD_LIMIT_NS`].
    pub fn forced(&self) -> u64 {
        self.forced
    }

    /// Events currently held, waiting for a cause.
    pub fn held(&self) -> usize {
        self.with_held
            .iter()
            .map(|&l| self.lanes[l as usize].held.len())
            .sum()
    }

    /// The events released so far, in causal order; `out` starts again from the spare.
    fn released(&mut self) -> Vec<Event> {
        let spare = std::mem::take(&mut self.spare);
        std::mem::replace(&mut self.out, spare)
    }

    /// Gives back a vector of released events once the caller has emptied it, so the next
    /// release reuses its allocation instead of making a new one (one event at a time, the
    /// usual case, then costs no allocation at all).
    pub fn recycle(&mut self, mut v: Vec<Event>) {
        v.clear();
        if v.capacity() > self.spare.capacity() {
            self.spare = v;
        }
    }

    /// Thread `tid` entered a call whose effect another thread may observe before the call's
    /// exit is seen: a send or a connect. `partial` describes it as far as known at entry.
    pub fn begin(&mut self, tid: i32, partial: Event) {
        self.begun.insert(tid, partial);
    }

    /// Thread `tid` is gone (its exit was observed, or it vanished): calls it had begun will
    /// never complete.
    pub fn thread_gone(&mut self, tid: i32) -> Vec<Event> {
        self.begun.remove(&tid);
        if let Some(&l) = self.lane_of.get(&tid) {
            self.lanes[l as usize].gone = true;
        }
        self.pump(None);
        self.released()
    }

    /// Adds an observed event; returns the events now released (this one and others it
    /// unblocked, or none if it is held), with `id`, `lane`, `seq`, `vc`, `from` filled in.
    pub fn push(&mut self, e: Event) -> Vec<Event> {
        self.begun.remove(&e.tid);
        self.push_event(e)
    }

    /// [`Graph::push`] for the first of two events of one call (a splice's receive from its
    /// input, before its send to its output): the call stays under way, so a receive that
    /// waits for the bytes it is about to send goes on waiting.
    pub fn push_part(&mut self, e: Event) -> Vec<Event> {
        self.push_event(e)
    }

    fn push_event(&mut self, mut e: Event) -> Vec<Event> {
        if e.kind == "exec" {
            // exec from a non-leader thread: that thread continues as the leader's tid
            if let Some(former) = e.other.filter(|&f| f != e.tid) {
                if let Some(old_leader) = self.lane_of.remove(&e.tid) {
                    self.lanes[old_leader as usize].gone = true;
                }
                if let Some(l) = self.lane_of.remove(&former) {
                    self.lane_of.insert(e.tid, l);
                }
            }
        }
        let lane = match self.lane_of.get(&e.tid) {
            Some(&l) => l,
            None => {
                let l = self.lanes.len() as u32;
                self.lanes.push(Lane::default());
                self.lane_of.insert(e.tid, l);
                l
            }
        };
        e.lane = Some(lane);
        let key = self.place(&mut e);
        if e.kind == "exit" {
            // a later thread with the same tid is another lane
            self.lane_of.remove(&e.tid);
        }
        self.lanes[lane as usize].held.push_back((e, key));
        self.with_held.insert(lane);
        self.pump(None);
        self.released()
    }

    /// Releases events held longer than [`HOLD_LIMIT_NS`] at run time `now_ns`, unmatched.
    pub fn tick(&mut self, now_ns: u64) -> Vec<Event> {
        self.pump(Some(now_ns));
        self.released()
    }

    /// Releases everything still held (the run is over): causes that did not come are missing.
    pub fn finish(&mut self) -> Vec<Event> {
        self.begun.clear();
        for l in &mut self.lanes {
            l.gone = true;
        }
        self.pump(Some(u64::MAX));
        self.released()
    }

    /// Gives a send or receive on a stream its range of the stream, in the order the calls are
    /// observed. The run loop keeps calls on one socket in one direction from overlapping (a
    /// thread's call on it enters only after the previous one's exit was observed), so this
    /// order is the order in which the kernel served them.
    /// Returns the stream's key, for the later steps to reuse.
    fn place(&mut self, e: &mut Event) -> Option<StreamKey> {
        if e.kind != "syscall" || e.errno.is_some() || keys::is_dgram(e) {
            return None;
        }
        let n = match e.bytes {
            Some(n) if n > 0 => n,
            _ => return None,
        };
        match e.op.as_deref() {
            Some("send") => {
                let key = send_key(e)?;
                {
                    let st = self.streams.entry(key.clone()).or_default();
                    let start = st.send_off;
                    st.send_off += n;
                    st.segs.push_back(Seg {
                        start,
                        end: start + n,
                        id: None,
                    });
                    e.off = Some(start);
                }
                Some(key)
            }
            Some("recv") => {
                let key = recv_key(e)?;
                {
                    let st = self.streams.entry(key.clone()).or_default();
                    let start = st.recv_off;
                    let peek = e.flags.is_some_and(|f| f & MSG_PEEK != 0);
                    if !peek {
                        st.recv_off += n;
                    }
                    match st.pending.back_mut() {
                        Some(p) if p.0 == start => p.1 += 1,
                        _ => st.pending.push_back((start, 1)),
                    }
                    e.off = Some(start);
                }
                Some(key)
            }
            _ => None,
        }
    }

    fn pump(&mut self, now: Option<u64>) {
        loop {
            let mut progress = false;
            let mut lanes = std::mem::take(&mut self.scratch);
            lanes.clear();
            lanes.extend(self.with_held.iter().copied());
            for &l in &lanes {
                while let Some((head, key)) = self.lanes[l as usize].held.front() {
                    let plan = match self.plan(head, key.as_ref(), l) {
                        Some(p) => p,
                        None => {
                            let overdue = now.is_some_and(|n| {
                                n == u64::MAX || n.saturating_sub(head.ts) > HOLD_LIMIT_NS
                            });
                            if !overdue {
                                break;
                            }
                            self.forced += 1;
                            self.plan_forced(head, key.as_ref(), l)
                        }
                    };
                    let Some((e, key)) = self.lanes[l as usize].held.pop_front() else {
                        break;
                    };
                    self.commit(e, key, l, plan);
                    progress = true;
                }
                if self.lanes[l as usize].held.is_empty() {
                    self.with_held.remove(&l);
                }
            }
            self.scratch = lanes;
            if !progress {
                break;
            }
        }
    }

    /// Whether some event still to be released (held, or begun in a thread) satisfies `pred`.
    fn may_come(&self, pred: impl Fn(&Event) -> bool) -> bool {
        self.begun.values().any(&pred)
            || self
                .with_held
                .iter()
                .any(|&l| self.lanes[l as usize].held.iter().any(|(e, _)| pred(e)))
    }

    fn plan_forced(&self, e: &Event, key: Option<&StreamKey>, lane: u32) -> Plan {
        let mut p = self.plan_inner(e, key, lane, true).unwrap_or(Plan {
            edges: vec![],
            unmatched: None,
        });
        // a receive the plan could not place at all (no stream or datagram to look in) has
        // all its bytes unmatched; one whose edges cover it is whole
        let placed = p.edges.iter().any(|ed| ed.kind == "msg");
        if p.unmatched.is_none() && !placed && e.op.as_deref() == Some("recv") {
            p.unmatched = e.bytes.filter(|&b| b > 0);
        }
        p
    }

    fn plan(&self, e: &Event, key: Option<&StreamKey>, lane: u32) -> Option<Plan> {
        self.plan_inner(e, key, lane, false)
    }

    /// The edges into `e` (placed under stream `key`, if it was), or `None` when a cause is
    /// still on its way (hold `e`). With `force`, never waits.
    fn plan_inner(
        &self,
        e: &Event,
        placed: Option<&StreamKey>,
        lane: u32,
        force: bool,
    ) -> Option<Plan> {
        let mut edges = Vec::new();
        let mut unmatched = None;
        // a new thread or process: its first event comes after the fork that made it
        if is_first_release(self, lane) {
            match self.forks.get(&e.tid) {
                Some(&id) => edges.push(edge(id, "fork", None)),
                None => {
                    let tid = e.tid;
                    if !force
                        && self.may_come(|x| {
                            (x.kind == "fork" || x.kind == "thread") && x.other == Some(tid)
                        })
                    {
                        return None;
                    }
                }
            }
        }
        let op = e.op.as_deref();
        let errno = e.errno.as_deref();
        match (&*e.kind, op) {
            ("syscall", Some("recv")) if keys::is_dgram(e) => {
                if let (Some(key), None) = (dgram_key(e, false), errno) {
                    let hash = e.hash.clone();
                    let found = self.dgrams.get(&key).and_then(|q| {
                        q.iter()
                            .find(|(h, _)| h.is_none() || hash.is_none() || *h == hash)
                            .map(|(_, id)| *id)
                    });
                    match found {
                        Some(id) => edges.push(edge(id, "msg", Some(key.1))),
                        None => {
                            if !force
                                && self.may_come(|x| {
                                    x.op.as_deref() == Some("send")
                                        && keys::is_dgram(x)
                                        && (x.bytes.is_none()
                                            || dgram_key(x, true).as_ref() == Some(&key))
                                })
                            {
                                return None;
                            }
                            unmatched = Some(key.1);
                        }
                    }
                }
            }
            ("syscall", Some("recv") | Some("send")) => {
                let reset = matches!(errno, Some("ECONNRESET") | Some("EPIPE"));
                let eof = op == Some("recv") && errno.is_none() && e.bytes == Some(0);
                if reset || eof {
                    // the end of the stream the call reads (for a send: the peer's direction)
                    let Some(key) = recv_key(e) else {
                        return Some(Plan { edges, unmatched });
                    };
                    match self.fins.get(&key) {
                        Some(&id) => edges.push(edge(id, if eof { "eof" } else { "reset" }, None)),
                        None => {
                            let k = key.clone();
                            if !force
                                && self.may_come(|x| {
                                    (matches!(x.op.as_deref(), Some("close") | Some("shutdown"))
                                        && send_key(x).as_ref() == Some(&k))
                                        || (x.kind == "exit"
                                            && x.closes.iter().flatten().any(|s| {
                                                send_key(&Event {
                                                    sock: Some(s.clone()),
                                                    ..Event::default()
                                                })
                                                .as_ref()
                                                    == Some(&k)
                                            }))
                                })
                            {
                                return None;
                            }
                        }
                    }
                } else if op == Some("recv") && errno.is_none() {
                    let (Some(key), Some(c), Some(n)) = (placed, e.off, e.bytes.filter(|&n| n > 0))
                    else {
                        return Some(Plan { edges, unmatched });
                    };
                    let d = c + n;
                    let Some(st) = self.streams.get(key) else {
                        return Some(Plan {
                            edges,
                            unmatched: Some(n),
                        });
                    };
                    if st.send_off < d && !force {
                        // bytes no send observed yet accounts for: a send under way
                        if self.begun.values().any(|x| {
                            x.op.as_deref() == Some("send") && send_key(x).as_ref() == Some(key)
                        }) {
                            return None;
                        }
                    }
                    let mut covered = 0;
                    for s in st.segs.range(st.first_after(c)..) {
                        if s.start >= d {
                            break;
                        }
                        let (lo, hi) = (s.start.max(c), s.end.min(d));
                        match s.id {
                            Some(id) => {
                                edges.push(edge(id, "msg", Some(hi - lo)));
                                covered += hi - lo;
                            }
                            // the send was observed and waits in its lane
                            None if !force => return None,
                            None => {}
                        }
                    }
                    if covered < n {
                        unmatched = Some(n - covered);
                    }
                }
            }
            ("syscall", Some("accept")) if errno.is_none() => {
                if let Some(key) = conn_key_accept(e) {
                    match self.connects.get(&key).and_then(|q| q.front()) {
                        Some(&id) => edges.push(edge(id, "connect", None)),
                        None => {
                            let local = e.sock.as_ref().and_then(|s| s.local.clone());
                            if !force
                                && self.may_come(|x| {
                                    x.op.as_deref() == Some("connect")
                                        && keys::same_listener(x, local.as_ref())
                                })
                            {
                                return None;
                            }
                        }
                    }
                }
            }
            ("syscall", Some("wait")) => {
                if let Some(child) = e.other.filter(|&p| p > 0) {
                    match self.exits.get(&child) {
                        Some(&id) => edges.push(edge(id, "exit", None)),
                        None => {
                            let alive = self
                                .lane_of
                                .get(&child)
                                .is_some_and(|&l| !self.lanes[l as usize].gone);
                            if !force
                                && (alive || self.may_come(|x| x.kind == "exit" && x.tid == child))
                            {
                                return None;
                            }
                        }
                    }
                }
            }
            ("signal", _) | ("exit", _) if e.signal.is_some() => {
                let sig = e.signal.clone().unwrap_or_default();
                let found = [(e.tid, sig.clone()), (e.pid, sig.clone())]
                    .iter()
                    .find_map(|k| self.kills.get(k).and_then(|q| q.front()).copied());
                match found {
                    Some(id) => edges.push(edge(id, "signal", None)),
                    None => {
                        let (tid, pid) = (e.tid, e.pid);
                        if !force
                            && self.may_come(|x| {
                                x.op.as_deref() == Some("kill")
                                    && (x.other == Some(tid) || x.other == Some(pid))
                                    && x.signal.as_deref() == Some(sig.as_str())
                            })
                        {
                            return None;
                        }
                    }
                }
            }
            _ => {}
        }
        Some(Plan { edges, unmatched })
    }

    /// Releases `e`: assigns id, seq and clock, and registers what it may cause later.
    fn commit(&mut self, mut e: Event, placed: Option<StreamKey>, lane: u32, plan: Plan) {
        let id = self.next_id;
        self.next_id += 1;
        let l = &mut self.lanes[lane as usize];
        let mut vc = std::mem::take(&mut l.vc);
        for ed in &plan.edges {
            if let Some(c) = self.clocks.get(&ed.id) {
                for (k, v) in c {
                    let x = vc.entry(*k).or_insert(0);
                    *x = (*x).max(*v);
                }
            }
        }
        let l = &mut self.lanes[lane as usize];
        e.seq = l.seq;
        l.seq += 1;
        vc.insert(lane, l.seq);
        l.vc = vc;
        e.id = Some(id);
        e.lane = Some(lane);
        e.unmatched = plan.unmatched;
        self.consume(&e, placed.as_ref(), &plan);
        let vc = std::mem::take(&mut self.lanes[lane as usize].vc);
        self.register(&e, placed.as_ref(), id, &vc);
        e.vc = Some(vc.clone());
        self.lanes[lane as usize].vc = vc;
        if !plan.edges.is_empty() {
            e.from = Some(plan.edges);
        }
        self.out.push(e);
    }

    /// Uses up what `e` matched: stream bytes, a datagram, an accept's connect, single-use causes.
    fn consume(&mut self, e: &Event, placed: Option<&StreamKey>, plan: &Plan) {
        let op = e.op.as_deref();
        if e.kind == "syscall" && op == Some("recv") && e.errno.is_none() {
            if keys::is_dgram(e) {
                // the datagram's edge: a thread's first event has its creation edge first
                let msg = plan.edges.iter().find(|ed| ed.kind == "msg");
                if let (Some(key), Some(ed)) = (dgram_key(e, false), msg) {
                    if let Some(q) = self.dgrams.get_mut(&key) {
                        if let Some(pos) = q.iter().position(|(_, id)| *id == ed.id) {
                            q.remove(pos);
                            self.clocks.remove(&ed.id);
                        }
                    }
                }
            } else if let (Some(key), Some(off)) = (placed, e.off) {
                if let Some(st) = self.streams.get_mut(key) {
                    let i = st.pending.partition_point(|p| p.0 < off);
                    if let Some(p) = st.pending.get_mut(i).filter(|p| p.0 == off) {
                        p.1 = p.1.saturating_sub(1);
                    }
                    st.forget_consumed(&mut self.clocks);
                }
            }
        }
        if e.kind == "syscall" && op == Some("accept") {
            let connect = plan.edges.iter().find(|ed| ed.kind == "connect");
            if let (Some(key), Some(ed)) = (conn_key_accept(e), connect) {
                if let Some(q) = self.connects.get_mut(&key) {
                    q.retain(|id| *id != ed.id);
                    if q.is_empty() {
                        self.connects.remove(&key);
                    }
                }
            }
        }
        for ed in &plan.edges {
            match &*ed.kind {
                "fork" => {
                    self.forks.remove(&e.tid);
                }
                "exit" => {
                    if let Some(c) = e.other {
                        self.exits.remove(&c);
                    }
                }
                "signal" => {
                    for k in [(e.tid, e.signal.clone()), (e.pid, e.signal.clone())] {
                        let key = (k.0, k.1.unwrap_or_default());
                        if let Some(q) = self.kills.get_mut(&key) {
                            if q.front() == Some(&ed.id) {
                                q.pop_front();
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// Records what `e` may cause later, with its clock.
    fn register(&mut self, e: &Event, placed: Option<&StreamKey>, id: u64, vc: &Clock) {
        let op = e.op.as_deref();
        let ok = e.errno.is_none();
        let mut keep = false;
        match (&*e.kind, op) {
            ("syscall", Some("send")) if ok => {
                if keys::is_dgram(e) {
                    if let Some(key) = dgram_key(e, true) {
                        self.dgrams
                            .entry(key)
                            .or_default()
                            .push_back((e.hash.clone(), id));
                        keep = true;
                    }
                } else if let (Some(key), Some(off)) = (placed, e.off) {
                    // its range was given when it was observed; a receive may now use it
                    if let Some(st) = self.streams.get_mut(key) {
                        let i = st.first_after(off);
                        if let Some(s) = st.segs.get_mut(i).filter(|s| s.start == off) {
                            s.id = Some(id);
                            keep = true;
                        }
                    }
                }
            }
            ("syscall", Some("connect")) if ok || e.errno.as_deref() == Some("EINPROGRESS") => {
                if let Some(key) = conn_key_connect(e) {
                    self.connects.entry(key).or_default().push_back(id);
                    keep = true;
                }
            }
            ("syscall", Some("close")) | ("syscall", Some("shutdown")) => {
                let ends_sending = op == Some("close") || matches!(e.flags, Some(1) | Some(2));
                if ends_sending {
                    if let Some(key) = send_key(e) {
                        if let Some(old) = self.fins.insert(key, id) {
                            self.clocks.remove(&old);
                        }
                        keep = true;
                    }
                }
            }
            ("syscall", Some("kill")) => {
                if let (Some(t), Some(s)) = (e.other, e.signal.clone()) {
                    if s != "SIG0" {
                        self.kills.entry((t, s)).or_default().push_back(id);
                        keep = true;
                    }
                }
            }
            ("fork", _) | ("thread", _) => {
                if let Some(c) = e.other {
                    self.forks.insert(c, id);
                    keep = true;
                }
            }
            ("exit", _) => {
                if e.tid == e.pid {
                    self.exits.insert(e.pid, id);
                }
                // the sockets the exit closed end their streams: the peers' EOF or reset
                for sock in e.closes.iter().flatten() {
                    let as_event = Event {
                        sock: Some(sock.clone()),
                        ..Event::default()
                    };
                    if let Some(key) = send_key(&as_event) {
                        if let Some(old) = self.fins.insert(key, id) {
                            self.clocks.remove(&old);
                        }
                    }
                }
                keep = true;
            }
            _ => {}
        }
        if keep {
            self.clocks.insert(id, vc.clone());
        }
    }
}

fn edge(id: u64, kind: &'static str, bytes: Option<u64>) -> Edge {
    Edge {
        id,
        kind: kind.into(),
        bytes,
    }
}

#[cfg(test)]
mod tests;
