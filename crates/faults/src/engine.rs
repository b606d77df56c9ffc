//! Deciding injections: the run loop describes each syscall stop as a [`Step`]; the engine
//! answers with a [`Decision`] for the stopped thread and [`Effect`]s on the system, and reports
//! every injection as [`Fired`].

use std::collections::BTreeMap;

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::time::Duration;

use crate::ast::{Action, Link, Rule, Trigger, When};

/// How long a connect across a partition waits before failing with ETIMEDOUT.
pub const CONNECT_WAIT: Duration = Duration::from_secs(1);

/// One syscall stop, as the engine needs to know it.
#[derive(Debug, Clone, Default)]
pub struct Step<'a> {
    /// The node of the calling thread.
    pub node: &'a str,
    /// The generic operation: `connect`, `accept`, `send`, `recv`, `close`, or another syscall
    /// name.
    pub op: &'a str,
    /// The syscall's own name (`sendto`).
    pub syscall: &'a str,
    /// The node at the other end, when it is a traced node.
    pub peer: Option<&'a str>,
    /// The connection (streams only): one name for both ends of it.
    pub conn: Option<&'a str>,
    /// Whether it is a datagram.
    pub dgram: bool,
    /// At an exit stop: whether the call succeeded (for `recv`: returned bytes).
    pub ok: Option<bool>,
    /// For sends at entry: the length the call asks to send.
    pub len: Option<u64>,
    /// Run time, nanoseconds since the start.
    pub now: u64,
}

/// What the stopped thread does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Go on.
    Continue,
    /// Skip the call; it returns -errno.
    Fail(i32),
    /// Skip the call; it returns this value (a lost send: its whole length).
    Fake(i64),
    /// Keep the thread stopped until this run time, then apply the inner decision.
    Hold(u64, Box<Decision>),
    /// Kill the thread's node now: the event does not happen.
    Crash,
}

/// What happens to the system beyond the stopped thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// SIGKILL every process of the node.
    Crash(String),
    /// Stop every thread of the node until this run time.
    Pause(String, u64),
    /// Reset the connections between these nodes (`both`: in either direction of opening):
    /// the run loop lists them and calls [`Engine::mark_reset`].
    ResetLink(String, String, bool),
    /// These connections were reset (a healed partition's cut ones): wake their blocked
    /// callers so they see the reset.
    Wake(Vec<String>),
    /// Start the node's command again.
    Restart(String),
}

/// One injection, for the trace and the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fired {
    /// The rule's index in the list given to the engine.
    pub rule: usize,
    /// The node it happened to.
    pub node: String,
    /// What was done: `drop`, `partition`, `heal`, `crash`, `restart`, `pause`, `delay`,
    /// `reset`, `fail`, `refuse`, `timeout`.
    pub what: String,
    /// The peer node, when there is one.
    pub peer: Option<String>,
}

#[derive(Debug, Clone)]
struct State {
    rule: Rule,
    /// matching events of the trigger seen so far
    seen: u64,
    /// matching calls of a `fail NODE.OP#N` seen since the rule is in force (its own count,
    /// apart from its trigger's)
    calls: u64,
    /// the rule is in force since (run time)
    since: Option<u64>,
    /// and until (timed partitions)
    until: Option<u64>,
    done: bool,
    fired: u64,
    /// what its injections were, by kind (see [`Engine::acts`])
    acts: BTreeMap<&'static str, u64>,
    /// never started: the run left the class it was anchored on
    abandoned: bool,
}

/// The fault engine of one run.
#[derive(Debug, Default)]
pub struct Engine {
    rules: Vec<State>,
    /// messages per (rule, from, to), for `#N` and probabilities
    msgs: HashMap<(usize, String, String), u64>,
    /// connections that lost bytes
    cut: HashMap<String, usize>,
    /// connections whose next call fails (reset)
    reset: HashSet<String>,
    /// pending restarts: run time → (rule, node)
    restarts: BTreeMap<u64, Vec<(usize, String)>>,
    /// nodes paused until
    paused: HashMap<String, u64>,
    /// effects decided at an entry, not yet handed out
    pending: Vec<Effect>,
    /// what a send's `after` trigger started, to hand out once the send completed
    armed: (Vec<Fired>, Vec<Effect>),
}

fn ns(d: Duration) -> u64 {
    d.as_nanos().min(u64::MAX as u128) as u64
}

fn link_matches(l: &Link, from: &str, to: &str) -> bool {
    (l.from == from && l.to == to) || (l.both && l.from == to && l.to == from)
}

/// Which event triggers [`Engine::reached`] looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TriggerKind {
    /// `at EVENT`.
    At,
    /// `after EVENT`.
    After,
    /// Both (an exit, which either word follows).
    Either,
}

/// At which stop of a call a trigger counts it toward its `#N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// At its entry, every attempt, whatever it returns.
    Entry,
    /// At its exit, and only if it succeeded (a receive: if it returned bytes).
    Exit,
}

/// When a call whose generic operation is `op` counts toward an `at` (`at` = true) or an
/// `after` trigger. An `at` trigger takes the event's place, so it judges a call at its entry,
/// before the call happens; but a receive or an accept at its exit, where its peer and its
/// success are known. An `after` trigger waits for the call to succeed, except after a send,
/// which takes effect as the message leaves, so that nothing the peer does in answer can get
/// ahead of it, and after a close, whose effect does not hang on its result (bop does not stop
/// a close's thread at its exit). The engine counts by this, and so does `bop run --follow`'s
/// check that a recorded class has a rule's anchor at all.
pub fn counted(at: bool, op: &str) -> Counted {
    match (at, op) {
        (true, "recv" | "accept") => Counted::Exit,
        (true, _) | (false, "send" | "close") => Counted::Entry,
        (false, _) => Counted::Exit,
    }
}

/// Whether a call whose generic operation is `op` and whose result was `result` (its return
/// value, or its errno) succeeded, as the triggers that wait for success see it ([`Step::ok`]):
/// a receive must return bytes (0 is the end of the stream), and a non-blocking connect under
/// way (EINPROGRESS) counts as the connect. The run loop judges live calls by this, and
/// `bop run --follow` the calls of a recorded trace.
pub fn succeeded(op: &str, result: Result<i64, i32>) -> bool {
    match result {
        Ok(n) => !(op == "recv" && n == 0),
        Err(errno) => op == "connect" && errno == EINPROGRESS,
    }
}

/// A reproducible coin: the same seed, rule and message number always give the same answer.
fn coin(seed: u64, rule: usize, n: u64) -> f64 {
    let mut x = seed
        ^ (rule as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ n.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    // splitmix64
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 31;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

impl Engine {
    /// An engine for these rules (in the order given: indexes in [`Fired::rule`]).
    pub fn new(rules: Vec<Rule>) -> Engine {
        let rules = rules
            .into_iter()
            .map(|rule| State {
                rule,
                seen: 0,
                calls: 0,
                since: None,
                until: None,
                done: false,
                fired: 0,
                acts: BTreeMap::new(),
                abandoned: false,
            })
            .collect::<Vec<_>>();
        // rules without a trigger start at the first `tick`, which reports them
        Engine {
            rules,
            ..Engine::default()
        }
    }

    /// The rules and how often each fired.
    pub fn report(&self) -> Vec<(&Rule, u64)> {
        self.rules.iter().map(|s| (&s.rule, s.fired)).collect()
    }

    /// The live run no longer follows the recorded class rule `i` is anchored on
    /// (`in class`): if the rule has not started, it never will. Returns whether it was
    /// waiting (and is now abandoned).
    pub fn abandon(&mut self, i: usize) -> bool {
        let Some(s) = self.rules.get_mut(i) else {
            return false;
        };
        if s.done || s.since.is_some() {
            return false;
        }
        s.done = true;
        s.abandoned = true;
        true
    }

    /// Whether rule `i` was abandoned (see [`Engine::abandon`]).
    pub fn abandoned(&self, i: usize) -> bool {
        self.rules.get(i).is_some_and(|s| s.abandoned)
    }

    /// What rule `i`'s injections were, by kind: a [`Fired::what`] (`drop`, `crash`, …), or
    /// `start` for a partition coming into force (its lost messages are `partition`).
    pub fn acts(&self, i: usize) -> Vec<(&'static str, u64)> {
        self.rules
            .get(i)
            .map(|s| s.acts.iter().map(|(&k, &n)| (k, n)).collect())
            .unwrap_or_default()
    }

    /// Why rule `i` has not fired by run time `now`, in words, when it has not (and was not
    /// abandoned: the caller knows the class it left).
    pub fn why_not(&self, i: usize, now: u64) -> Option<String> {
        let s = self.rules.get(i)?;
        if s.fired > 0 || s.abandoned {
            return None;
        }
        let secs = |t: u64| format!("{:.3} s", t as f64 / 1e9);
        if let Action::Restart { node } = &s.rule.action {
            return Some(
                match self
                    .restarts
                    .iter()
                    .find(|(_, v)| v.iter().any(|(r, _)| *r == i))
                {
                    Some((&due, _)) => format!(
                        "{node} crashed, but the run ended at {} before its restart was due at {}",
                        secs(now),
                        secs(due)
                    ),
                    None => format!("{node} never crashed, so there was nothing to restart"),
                },
            );
        }
        if s.since.is_some() {
            return Some("it was in force, but nothing it acts on happened while it was".into());
        }
        match &s.rule.trigger {
            Some(Trigger::At(When::Time(t)) | Trigger::After(When::Time(t))) => Some(format!(
                "the run ended at {}, before {}",
                secs(now),
                secs(ns(*t))
            )),
            Some(Trigger::At(When::Event(p)) | Trigger::After(When::Event(p))) => {
                let want = p.nth.unwrap_or(1);
                Some(if s.seen == 0 {
                    format!("its trigger {p} never happened")
                } else {
                    format!(
                        "its trigger {p} needs {want} matching events; the run had {}",
                        s.seen
                    )
                })
            }
            None => None,
        }
    }

    fn fire(&mut self, i: usize, node: &str, what: &'static str, peer: Option<&str>) -> Fired {
        self.rules[i].fired += 1;
        let act = if what == "partition" && peer.is_none() {
            "start"
        } else {
            what
        };
        *self.rules[i].acts.entry(act).or_insert(0) += 1;
        Fired {
            rule: i,
            node: node.to_string(),
            what: what.to_string(),
            peer: peer.map(String::from),
        }
    }

    /// Whether a rule's action is in force at `now`.
    fn active(&self, i: usize, now: u64) -> bool {
        let s = &self.rules[i];
        !s.done && s.since.is_some_and(|t| t <= now) && s.until.is_none_or(|u| now < u)
    }

    /// The earliest run time at which [`Engine::tick`] has something to do.
    pub fn next_deadline(&self) -> Option<u64> {
        let mut d: Option<u64> = None;
        let mut put = |t: u64| d = Some(d.map_or(t, |x: u64| x.min(t)));
        for s in &self.rules {
            if s.done {
                continue;
            }
            if let (None, Some(Trigger::At(When::Time(t)) | Trigger::After(When::Time(t)))) =
                (s.since, &s.rule.trigger)
            {
                if !matches!(s.rule.action, Action::Restart { .. }) {
                    put(ns(*t));
                }
            }
            if let Some(u) = s.until {
                put(u);
            }
        }
        if let Some((&t, _)) = self.restarts.iter().next() {
            put(t);
        }
        for &t in self.paused.values() {
            put(t);
        }
        d
    }

    /// Whether the node is paused at `now`.
    pub fn is_paused(&self, node: &str, now: u64) -> bool {
        self.paused.get(node).is_some_and(|&u| now < u)
    }

    /// Time passes: timed rules start and heal, pauses end, restarts come due.
    pub fn tick(&mut self, now: u64) -> (Vec<Effect>, Vec<Fired>) {
        let mut effects = Vec::new();
        let mut fired = Vec::new();
        for i in 0..self.rules.len() {
            let s = &self.rules[i];
            if s.done || s.since.is_some() {
                continue;
            }
            let start = match &s.rule.trigger {
                None => Some(0),
                Some(Trigger::At(When::Time(t))) | Some(Trigger::After(When::Time(t)))
                    if !matches!(s.rule.action, Action::Restart { .. }) =>
                {
                    Some(ns(*t))
                }
                _ => None,
            };
            if let Some(t) = start.filter(|&t| t <= now) {
                let (e, f) = self.start(i, t, None);
                effects.extend(e);
                fired.extend(f);
            }
        }
        // heal timed partitions
        for i in 0..self.rules.len() {
            let s = &self.rules[i];
            if s.done || s.until.is_none_or(|u| u > now) {
                continue;
            }
            self.rules[i].done = true;
            let healed: Vec<String> = self
                .cut
                .iter()
                .filter(|(_, &r)| r == i)
                .map(|(c, _)| c.clone())
                .collect();
            for c in &healed {
                self.cut.remove(c);
                self.reset.insert(c.clone());
            }
            if !healed.is_empty() {
                effects.push(Effect::Wake(healed));
            }
            let node = self.rules[i]
                .rule
                .nodes()
                .first()
                .map(|n| n.to_string())
                .unwrap_or_default();
            fired.push(self.fire(i, &node, "heal", None));
        }
        self.paused.retain(|_, &mut u| u > now);
        let due: Vec<u64> = self.restarts.range(..=now).map(|(&t, _)| t).collect();
        for t in due {
            for (i, node) in self.restarts.remove(&t).unwrap_or_default() {
                fired.push(self.fire(i, &node, "restart", None));
                effects.push(Effect::Restart(node));
            }
        }
        (effects, fired)
    }

    /// Rule `i` comes into force at `now` (its trigger happened on `node`'s thread, if any).
    fn start(&mut self, i: usize, now: u64, node: Option<&str>) -> (Vec<Effect>, Vec<Fired>) {
        let action = self.rules[i].rule.action.clone();
        self.rules[i].since = Some(now);
        let mut effects = Vec::new();
        let mut fired = Vec::new();
        match action {
            Action::Partition { duration, a, .. } => {
                self.rules[i].until = duration.map(|d| now + ns(d));
                let n = node
                    .map(String::from)
                    .or_else(|| a.first().cloned())
                    .unwrap_or_default();
                fired.push(self.fire(i, &n, "partition", None));
            }
            Action::Crash { node: n } => {
                self.rules[i].done = true;
                effects.push(Effect::Crash(n.clone()));
                fired.push(self.fire(i, &n, "crash", None));
            }
            Action::Pause { node: n, duration } => {
                self.rules[i].done = true;
                let until = now + ns(duration);
                self.paused.insert(n.clone(), until);
                effects.push(Effect::Pause(n.clone(), until));
                fired.push(self.fire(i, &n, "pause", None));
            }
            Action::Reset { link } => {
                self.rules[i].done = true;
                effects.push(Effect::ResetLink(
                    link.from.clone(),
                    link.to.clone(),
                    link.both,
                ));
                fired.push(self.fire(i, &link.from, "reset", Some(&link.to)));
            }
            // in force from now on; they fire per message or call
            Action::Drop { .. } | Action::Delay { .. } | Action::Fail { .. } => {}
            Action::Restart { .. } => {}
        }
        (effects, fired)
    }

    /// A node died (crashed by a rule, or otherwise) at `now`: schedules its restart if a
    /// `restart NODE after D` rule asks for one.
    pub fn node_died(&mut self, node: &str, now: u64) {
        for (i, s) in self.rules.iter().enumerate() {
            if let (Action::Restart { node: n }, Some(Trigger::After(When::Time(d)))) =
                (&s.rule.action, &s.rule.trigger)
            {
                if n == node && !s.done {
                    self.restarts
                        .entry(now + ns(*d))
                        .or_default()
                        .push((i, node.to_string()));
                }
            }
        }
    }

    /// The rules not started yet whose event trigger of kind `kind` matches `s`: each counts
    /// it, and those it brings to their `#N` are returned, in rule order. Every trigger is
    /// counted here, whichever stop it is judged at.
    fn reached(&mut self, kind: TriggerKind, s: &Step) -> Vec<usize> {
        let mut out = Vec::new();
        for i in 0..self.rules.len() {
            let st = &self.rules[i];
            if st.done || st.since.is_some() {
                continue;
            }
            let p = match (&st.rule.trigger, kind) {
                (Some(Trigger::At(When::Event(p))), TriggerKind::At | TriggerKind::Either)
                | (
                    Some(Trigger::After(When::Event(p))),
                    TriggerKind::After | TriggerKind::Either,
                ) => p,
                _ => continue,
            };
            if !p.matches(s) {
                continue;
            }
            let want = p.nth.unwrap_or(1);
            self.rules[i].seen += 1;
            if self.rules[i].seen == want {
                out.push(i);
            }
        }
        out
    }

    /// A node's process ended (`NODE.exit`), by itself or killed, at `now`: starts the rules
    /// triggered `at` or `after` its `#N`th exit, and returns their injections and effects.
    /// (`at` and `after` mean the same here: an exit cannot be prevented, only followed.)
    pub fn node_exited(&mut self, node: &str, now: u64) -> (Vec<Fired>, Vec<Effect>) {
        let exit = Step {
            node,
            op: "exit",
            syscall: "exit",
            now,
            ..Step::default()
        };
        let (mut fired, mut effects) = (Vec::new(), Vec::new());
        for i in self.reached(TriggerKind::Either, &exit) {
            let (e, f) = self.start(i, now, Some(node));
            effects.extend(e);
            fired.extend(f);
        }
        (fired, effects)
    }

    /// Marks connections reset: every later call on them fails (ECONNRESET / EPIPE).
    pub fn mark_reset(&mut self, conns: impl IntoIterator<Item = String>) {
        for c in conns {
            self.cut.remove(&c);
            self.reset.insert(c);
        }
    }

    /// Whether a connection was reset by a fault.
    pub fn is_reset(&self, conn: &str) -> bool {
        self.reset.contains(conn)
    }

    /// A thread is at the entry of a traced call.
    pub fn entry(&mut self, s: &Step) -> (Decision, Vec<Fired>) {
        let (d, fired) = self.entry_decide(s);
        // `after X.send(Y)#N` (and `after X.close`, see [`counted`]): the rule takes effect
        // as the message leaves, so that nothing the peer does in answer can get ahead of it;
        // the message itself goes through. Its injections and effects wait for the call to
        // complete ([`Engine::take_armed`]).
        let goes = matches!(&d, Decision::Continue)
            || matches!(&d, Decision::Hold(_, then) if **then == Decision::Continue);
        if goes && counted(false, s.op) == Counted::Entry {
            for i in self.reached(TriggerKind::After, s) {
                let (e, f) = self.start(i, s.now, Some(s.node));
                self.armed.0.extend(f);
                self.armed.1.extend(e);
            }
        }
        (d, fired)
    }

    /// Whether a `close` must not be seen by the peer: its connection lost bytes, or a
    /// partition separates the two ends. (The run loop keeps the socket open in bop, so no FIN
    /// leaves; the connection is reset when the partition heals or the run ends.)
    pub fn hides_close(&self, s: &Step) -> bool {
        if !matches!(s.op, "close" | "shutdown") {
            return false;
        }
        if s.conn.is_some_and(|c| self.cut.contains_key(c)) {
            return true;
        }
        let Some(peer) = s.peer else {
            return false;
        };
        (0..self.rules.len()).any(|i| {
            self.active(i, s.now)
                && matches!(self.rules[i].rule.action, Action::Partition { .. })
                && (self.partitioned(i, s.node, peer) || self.partitioned(i, peer, s.node))
        })
    }

    /// Injections and effects of rules the call at the last [`Engine::entry`] triggered, to
    /// be recorded and carried out once that call has completed.
    pub fn take_armed(&mut self) -> (Vec<Fired>, Vec<Effect>) {
        std::mem::take(&mut self.armed)
    }

    fn entry_decide(&mut self, s: &Step) -> (Decision, Vec<Fired>) {
        let mut fired = Vec::new();
        let conn = s.conn;
        // a reset connection: every call fails
        if let Some(c) = conn {
            if self.reset.contains(c) && matches!(s.op, "send" | "recv") {
                let errno = if s.op == "send" { EPIPE } else { ECONNRESET };
                return (Decision::Fail(errno), fired);
            }
        }
        // `at` triggers: the fault takes the place of the event (recv and accept are judged at
        // their exit, where their peer and success are known). A crash decides at once; a
        // rule that is now in force (a partition, a drop, a delay, a fail) judges this very
        // call below, so `drop a -> b at a.send(b)#3` loses the 3rd message itself.
        if counted(true, s.op) == Counted::Entry {
            if let Some((d, f)) = self.at_trigger(s) {
                fired.extend(f);
                if d != Decision::Continue {
                    return (d, fired);
                }
            }
        }
        // `fail` rules: each counts the call (whatever another rule does with it); the first
        // listed that hits decides the errno
        let mut failed: Option<(usize, i32)> = None;
        for i in 0..self.rules.len() {
            if !self.active(i, s.now) {
                continue;
            }
            if let Action::Fail { event, errno } = &self.rules[i].rule.action {
                if event.matches(s) {
                    let errno = *errno;
                    let hit = match event.nth {
                        None => true,
                        Some(n) => {
                            self.rules[i].calls += 1;
                            self.rules[i].calls == n
                        }
                    };
                    if hit && failed.is_none() {
                        failed = Some((i, errno));
                    }
                }
            }
        }
        if let Some((i, errno)) = failed {
            fired.push(self.fire(i, s.node, "fail", s.peer));
            return (Decision::Fail(errno), fired);
        }
        let Some(peer) = s.peer else {
            return (Decision::Continue, fired);
        };
        if s.op == "shutdown" && self.hides_close(s) {
            return (Decision::Fake(0), fired);
        }
        match s.op {
            "connect" => {
                for i in 0..self.rules.len() {
                    if !self.active(i, s.now) {
                        continue;
                    }
                    if let Action::Partition { refuse, .. } = &self.rules[i].rule.action {
                        if self.partitioned(i, s.node, peer) {
                            let refuse = *refuse;
                            if refuse {
                                fired.push(self.fire(i, s.node, "refuse", Some(peer)));
                                return (Decision::Fail(ECONNREFUSED), fired);
                            }
                            fired.push(self.fire(i, s.node, "timeout", Some(peer)));
                            return (
                                Decision::Hold(
                                    s.now + ns(CONNECT_WAIT),
                                    Box::new(Decision::Fail(ETIMEDOUT)),
                                ),
                                fired,
                            );
                        }
                    }
                }
            }
            "send" => {
                let lost = Decision::Fake(s.len.unwrap_or(0) as i64);
                if let Some(c) = conn {
                    if self.cut.contains_key(c) {
                        return (lost, fired);
                    }
                }
                // every rule counts the message; the first listed that loses it says why
                let mut delay: Option<u64> = None;
                let mut delayed_by: Vec<usize> = Vec::new();
                let mut dropped_by: Option<usize> = None;
                for i in 0..self.rules.len() {
                    if !self.active(i, s.now) {
                        continue;
                    }
                    let drop_it = match &self.rules[i].rule.action {
                        Action::Partition { .. } => self.partitioned(i, s.node, peer),
                        Action::Drop { link, nth, p, seed } if link_matches(link, s.node, peer) => {
                            let (nth, p, seed) = (*nth, *p, *seed);
                            let k = (i, s.node.to_string(), peer.to_string());
                            let n = self.msgs.entry(k).or_insert(0);
                            *n += 1;
                            let n = *n;
                            match (nth, p) {
                                (Some(want), _) => n == want,
                                (None, Some(p)) => coin(seed, i, n) < p,
                                (None, None) => true,
                            }
                        }
                        Action::Delay { link, by } if link_matches(link, s.node, peer) => {
                            delay = Some(delay.unwrap_or(0).max(ns(*by)));
                            delayed_by.push(i);
                            false
                        }
                        _ => false,
                    };
                    if drop_it && dropped_by.is_none() {
                        dropped_by = Some(i);
                    }
                }
                if let Some(i) = dropped_by {
                    if let Some(c) = conn {
                        self.cut.insert(c.to_string(), i);
                    }
                    let what = if matches!(self.rules[i].rule.action, Action::Partition { .. }) {
                        "partition"
                    } else {
                        "drop"
                    };
                    fired.push(self.fire(i, s.node, what, Some(peer)));
                    return (lost, fired);
                }
                // a message that is lost is not delayed: the delays fire only now
                for i in delayed_by {
                    fired.push(self.fire(i, s.node, "delay", Some(peer)));
                }
                if let Some(d) = delay {
                    return (
                        Decision::Hold(s.now + d, Box::new(Decision::Continue)),
                        fired,
                    );
                }
            }
            _ => {}
        }
        (Decision::Continue, fired)
    }

    /// Whether rule `i` (a partition) cuts messages from `from` to `to`.
    fn partitioned(&self, i: usize, from: &str, to: &str) -> bool {
        match &self.rules[i].rule.action {
            Action::Partition { a, b, oneway, .. } => {
                let ina = |n: &str| a.iter().any(|x| x == n);
                let inb = |n: &str| b.iter().any(|x| x == n);
                (ina(from) && inb(to)) || (!oneway && inb(from) && ina(to))
            }
            _ => false,
        }
    }

    /// The `at EVENT` triggers matching `s`: their actions replace the event. Every rule at
    /// this event counts it and fires at its `#N` (`crash a at a.recv#1` and `crash b at
    /// a.recv#1` both fire); `None` when none fired.
    fn at_trigger(&mut self, s: &Step) -> Option<(Decision, Vec<Fired>)> {
        let mut out: Option<(Decision, Vec<Fired>)> = None;
        for i in self.reached(TriggerKind::At, s) {
            let (effects, fired) = self.start(i, s.now, Some(s.node));
            // the thread's own node crashing: the event does not happen
            let own_crash = effects
                .iter()
                .any(|e| matches!(e, Effect::Crash(n) if n == s.node));
            self.pending.extend(
                effects
                    .into_iter()
                    .filter(|e| !matches!(e, Effect::Crash(n) if n == s.node)),
            );
            let (d, all) = out.get_or_insert_with(|| (Decision::Continue, Vec::new()));
            all.extend(fired);
            if own_crash {
                *d = Decision::Crash;
            }
        }
        out
    }

    /// A traced call returned. Returns the thread's decision (a crash `at` a receive or an
    /// accept, an error for a reset connection), injections, and effects of `after` triggers.
    pub fn exit(&mut self, s: &Step) -> (Decision, Vec<Fired>, Vec<Effect>) {
        let mut fired = Vec::new();
        let mut effects = std::mem::take(&mut self.pending);
        let mut decision = Decision::Continue;
        if let Some(c) = s.conn {
            if self.reset.contains(c) && matches!(s.op, "send" | "recv") {
                decision = Decision::Fail(if s.op == "send" { EPIPE } else { ECONNRESET });
            }
        }
        if s.ok == Some(true)
            && counted(true, s.op) == Counted::Exit
            && decision == Decision::Continue
        {
            if let Some((d, f)) = self.at_trigger(s) {
                fired.extend(f);
                effects.extend(std::mem::take(&mut self.pending));
                if d != Decision::Continue {
                    // the node dies at the event: it did not happen, nothing follows it
                    return (d, fired, effects);
                }
                // it happened: the rules `after` it count it too
            }
        }
        if s.ok == Some(true) && counted(false, s.op) == Counted::Exit {
            for i in self.reached(TriggerKind::After, s) {
                let (e, f) = self.start(i, s.now, Some(s.node));
                effects.extend(e);
                fired.extend(f);
            }
        }
        (decision, fired, effects)
    }

    /// Effects decided at an entry stop that concern other nodes (collected by [`Engine::exit`]
    /// or taken with this).
    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.pending)
    }
}

const EPIPE: i32 = 32;
const ECONNRESET: i32 = 104;
const ECONNREFUSED: i32 = 111;
const ETIMEDOUT: i32 = 110;
const EINPROGRESS: i32 = 115;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EventPat;

    /// An engine whose untriggered rules are in force (the run loop ticks at its start).
    fn started(rules: Vec<Rule>) -> Engine {
        let mut e = Engine::new(rules);
        e.tick(0);
        e
    }

    fn link(a: &str, b: &str, both: bool) -> Link {
        Link {
            from: a.into(),
            to: b.into(),
            both,
        }
    }

    fn ev(node: &str, op: &str, peer: Option<&str>, nth: Option<u64>) -> EventPat {
        EventPat {
            node: node.into(),
            op: op.into(),
            peer: peer.map(String::from),
            nth,
        }
    }

    fn step<'a>(node: &'a str, op: &'a str, peer: &'a str, conn: &'a str) -> Step<'a> {
        Step {
            node,
            op,
            syscall: if op == "send" { "sendto" } else { op },
            peer: Some(peer),
            conn: Some(conn),
            len: Some(8),
            ..Step::default()
        }
    }

    #[test]
    fn a_nodes_second_exit_crashes_another_and_its_first_does_not() {
        let mut e = started(vec![Rule {
            class: None,
            action: Action::Crash {
                node: "client".into(),
            },
            trigger: Some(Trigger::After(When::Event(ev(
                "server",
                "exit",
                None,
                Some(2),
            )))),
        }]);
        let (fired, effects) = e.node_exited("client", 10);
        assert!(
            fired.is_empty() && effects.is_empty(),
            "another node's exit"
        );
        let (fired, effects) = e.node_exited("server", 20);
        assert!(fired.is_empty() && effects.is_empty(), "the first exit");
        let (fired, effects) = e.node_exited("server", 30);
        assert_eq!(effects, vec![Effect::Crash("client".into())]);
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0].what, "crash");
        assert!(
            e.node_exited("server", 40).0.is_empty(),
            "a crash fires once"
        );
    }

    #[test]
    fn a_trigger_named_by_the_syscall_counts_where_the_generic_one_does() {
        // `after relay.sendto(server)` takes effect as the message leaves, like `.send(…)`
        let mut e = started(vec![Rule {
            class: None,
            action: Action::Crash {
                node: "server".into(),
            },
            trigger: Some(Trigger::After(When::Event(ev(
                "relay",
                "sendto",
                Some("server"),
                None,
            )))),
        }]);
        let s = step("relay", "send", "server", "c1");
        assert_eq!(e.entry(&s).0, Decision::Continue);
        let (fired, effects) = e.take_armed();
        assert_eq!(fired.len(), 1, "armed at the send's entry");
        assert_eq!(effects, vec![Effect::Crash("server".into())]);
        let done = Step {
            ok: Some(true),
            ..s.clone()
        };
        assert!(e.exit(&done).1.is_empty(), "not counted again at its exit");
    }

    #[test]
    fn every_rule_at_one_event_fires_and_those_after_it_count_it() {
        let crash = |n: &str| Action::Crash { node: n.into() };
        let at = |nth| Some(Trigger::At(When::Event(ev("a", "recv", None, Some(nth)))));
        let after = |nth| {
            Some(Trigger::After(When::Event(ev(
                "a",
                "recv",
                None,
                Some(nth),
            ))))
        };
        let mut e = started(vec![
            Rule {
                class: None,
                action: crash("b"),
                trigger: at(1),
            },
            Rule {
                class: None,
                action: crash("c"),
                trigger: at(1),
            },
            Rule {
                class: None,
                action: crash("d"),
                trigger: after(2),
            },
        ]);
        let recv = Step {
            ok: Some(true),
            ..step("a", "recv", "x", "c1")
        };
        let (d, fired, effects) = e.exit(&recv);
        assert_eq!(d, Decision::Continue);
        assert_eq!(fired.len(), 2, "both rules at the first receive: {fired:?}");
        assert!(effects.contains(&Effect::Crash("b".into())), "{effects:?}");
        assert!(effects.contains(&Effect::Crash("c".into())), "{effects:?}");
        // the `after` rule counted the first receive too: the second is its #2
        let (_, fired, effects) = e.exit(&recv);
        assert_eq!(fired.len(), 1, "{fired:?}");
        assert_eq!(effects, vec![Effect::Crash("d".into())]);
    }

    #[test]
    fn where_each_trigger_counts_its_calls() {
        assert_eq!(counted(true, "connect"), Counted::Entry);
        assert_eq!(counted(true, "send"), Counted::Entry);
        assert_eq!(counted(true, "recv"), Counted::Exit);
        assert_eq!(counted(true, "accept"), Counted::Exit);
        assert_eq!(counted(false, "send"), Counted::Entry);
        assert_eq!(counted(false, "close"), Counted::Entry);
        assert_eq!(counted(false, "recv"), Counted::Exit);
        assert_eq!(counted(false, "connect"), Counted::Exit);
    }

    #[test]
    fn partition_after_a_send_delivers_it_and_cuts_what_follows() {
        let mut e = started(vec![Rule {
            class: None,
            action: Action::Partition {
                a: vec!["relay".into()],
                b: vec!["server".into()],
                oneway: false,
                duration: None,
                refuse: false,
            },
            trigger: Some(Trigger::After(When::Event(ev(
                "relay",
                "send",
                Some("server"),
                Some(1),
            )))),
        }]);
        let s = step("relay", "send", "server", "c1");
        assert_eq!(
            e.entry(&s).0,
            Decision::Continue,
            "the triggering send goes through"
        );
        // the rule is in force from the send's entry; its injection is reported once the
        // send completed
        let (fired, _) = e.take_armed();
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0].what, "partition");
        let done = Step {
            ok: Some(true),
            ..s.clone()
        };
        assert!(e.exit(&done).1.is_empty(), "not counted twice");
        // the answer from the server is lost, and so is anything else on the link
        assert_eq!(
            e.entry(&step("server", "send", "relay", "c1")).0,
            Decision::Fake(8)
        );
        assert_eq!(e.entry(&s).0, Decision::Fake(8));
        // a new connection across it times out after the connect wait
        let c = step("relay", "connect", "server", "c2");
        assert!(matches!(e.entry(&c).0, Decision::Hold(_, d) if *d == Decision::Fail(ETIMEDOUT)));
        // other links are untouched
        assert_eq!(
            e.entry(&step("client", "send", "relay", "c3")).0,
            Decision::Continue
        );
    }

    #[test]
    fn a_timed_partition_heals_and_resets_the_cut_connections() {
        let mut e = started(vec![Rule {
            class: None,
            action: Action::Partition {
                a: vec!["a".into()],
                b: vec!["b".into()],
                oneway: true,
                duration: Some(Duration::from_secs(3)),
                refuse: false,
            },
            trigger: Some(Trigger::At(When::Time(Duration::from_secs(2)))),
        }]);
        let mut s = step("a", "send", "b", "c1");
        assert_eq!(e.entry(&s).0, Decision::Continue, "not yet");
        assert_eq!(e.next_deadline(), Some(2_000_000_000));
        e.tick(2_000_000_000);
        s.now = 2_500_000_000;
        assert_eq!(e.entry(&s).0, Decision::Fake(8));
        let back = Step {
            now: s.now,
            ..step("b", "send", "a", "c1")
        };
        assert_eq!(
            e.entry(&back).0,
            Decision::Fake(8),
            "the connection is cut both ways"
        );
        let (effects, _) = e.tick(5_000_000_000);
        assert_eq!(effects, vec![Effect::Wake(vec!["c1".into()])]);
        s.now = 5_100_000_000;
        assert_eq!(
            e.entry(&s).0,
            Decision::Fail(EPIPE),
            "healed: the cut connection is reset"
        );
        let fresh = Step {
            now: s.now,
            ..step("a", "send", "b", "c9")
        };
        assert_eq!(e.entry(&fresh).0, Decision::Continue);
    }

    #[test]
    fn drop_the_nth_message_only_but_the_stream_stays_cut() {
        let mut e = started(vec![Rule {
            class: None,
            action: Action::Drop {
                link: link("c", "s", false),
                nth: Some(2),
                p: None,
                seed: 0,
            },
            trigger: None,
        }]);
        let s = step("c", "send", "s", "k");
        assert_eq!(e.entry(&s).0, Decision::Continue);
        assert_eq!(e.entry(&s).0, Decision::Fake(8));
        assert_eq!(
            e.entry(&s).0,
            Decision::Fake(8),
            "a stream cannot go on after a loss"
        );
        let mut d = step("c", "send", "s", "");
        d.conn = None;
        d.dgram = true;
        let mut e2 = started(e.rules.iter().map(|s| s.rule.clone()).collect());
        assert_eq!(e2.entry(&d).0, Decision::Continue);
        assert_eq!(e2.entry(&d).0, Decision::Fake(8));
        assert_eq!(
            e2.entry(&d).0,
            Decision::Continue,
            "datagrams: just that one"
        );
    }

    #[test]
    fn every_drop_rule_counts_every_message_whatever_the_order_of_the_rules() {
        let drop = |nth| Rule {
            class: None,
            action: Action::Drop {
                link: link("c", "s", false),
                nth: Some(nth),
                p: None,
                seed: 0,
            },
            trigger: None,
        };
        let mut d = step("c", "send", "s", "");
        d.conn = None;
        d.dgram = true;
        for rules in [vec![drop(1), drop(2)], vec![drop(2), drop(1)]] {
            let mut e = started(rules);
            let lost: Vec<bool> = (0..4)
                .map(|_| e.entry(&d).0 != Decision::Continue)
                .collect();
            assert_eq!(
                lost,
                [true, true, false, false],
                "messages 1 and 2, not 1 and 3"
            );
        }
    }

    #[test]
    fn fail_rules_count_calls_apart_from_each_other_and_from_their_trigger() {
        let fail = |nth, errno, trigger| Rule {
            class: None,
            action: Action::Fail {
                event: ev("c", "connect", Some("s"), Some(nth)),
                errno,
            },
            trigger,
        };
        let connect = step("c", "connect", "s", "k");
        // two rules on the same calls: the 1st connect fails one way, the 2nd the other
        let mut e = started(vec![fail(1, 111, None), fail(2, 110, None)]);
        assert_eq!(e.entry(&connect).0, Decision::Fail(111));
        assert_eq!(e.entry(&connect).0, Decision::Fail(110));
        assert_eq!(e.entry(&connect).0, Decision::Continue);
        // `fail c.connect(s)#1 ... after c.send(s)`: the first connect after that send
        let after_send = Some(Trigger::After(When::Event(ev(
            "c",
            "send",
            Some("s"),
            None,
        ))));
        let mut e = started(vec![fail(1, 111, after_send)]);
        assert_eq!(e.entry(&connect).0, Decision::Continue, "not in force yet");
        let send = step("c", "send", "s", "k");
        e.entry(&send);
        e.take_armed();
        assert_eq!(
            e.entry(&connect).0,
            Decision::Fail(111),
            "#1 counted from the trigger"
        );
        assert_eq!(e.entry(&connect).0, Decision::Continue);
    }

    #[test]
    fn probabilistic_drops_are_reproducible() {
        let rule = Rule {
            class: None,
            action: Action::Drop {
                link: link("a", "b", false),
                nth: None,
                p: Some(0.5),
                seed: 11,
            },
            trigger: None,
        };
        let run = || {
            let mut e = started(vec![rule.clone()]);
            let mut d = step("a", "send", "b", "");
            d.conn = None;
            d.dgram = true;
            (0..200)
                .map(|_| e.entry(&d).0 != Decision::Continue)
                .collect::<Vec<_>>()
        };
        let (x, y) = (run(), run());
        assert_eq!(x, y);
        let lost = x.iter().filter(|&&l| l).count();
        assert!((60..140).contains(&lost), "about half: {lost}");
    }

    #[test]
    fn crash_at_a_receive_replaces_it_and_restart_follows() {
        let mut e = started(vec![
            Rule {
                class: None,
                action: Action::Crash { node: "s".into() },
                trigger: Some(Trigger::At(When::Event(ev(
                    "s",
                    "recv",
                    Some("c"),
                    Some(2),
                )))),
            },
            Rule {
                class: None,
                action: Action::Restart { node: "s".into() },
                trigger: Some(Trigger::After(When::Time(Duration::from_millis(500)))),
            },
        ]);
        let r = Step {
            ok: Some(true),
            ..step("s", "recv", "c", "k")
        };
        assert_eq!(e.exit(&r).0, Decision::Continue);
        assert_eq!(e.exit(&r).0, Decision::Crash);
        e.node_died("s", 1_000);
        assert_eq!(e.next_deadline(), Some(1_000 + 500_000_000));
        let (effects, _) = e.tick(500_001_000);
        assert_eq!(effects, vec![Effect::Restart("s".into())]);
    }

    #[test]
    fn fail_the_first_connect_only() {
        let mut e = started(vec![Rule {
            class: None,
            action: Action::Fail {
                event: ev("c", "connect", Some("r"), Some(1)),
                errno: ECONNREFUSED,
            },
            trigger: None,
        }]);
        let s = step("c", "connect", "r", "k");
        assert_eq!(e.entry(&s).0, Decision::Fail(ECONNREFUSED));
        assert_eq!(e.entry(&s).0, Decision::Continue);
        assert_eq!(e.report()[0].1, 1);
    }

    #[test]
    fn delay_holds_the_sender() {
        let mut e = started(vec![Rule {
            class: None,
            action: Action::Delay {
                link: link("c", "r", false),
                by: Duration::from_millis(300),
            },
            trigger: None,
        }]);
        let mut s = step("c", "send", "r", "k");
        s.now = 10;
        assert_eq!(
            e.entry(&s).0,
            Decision::Hold(10 + 300_000_000, Box::new(Decision::Continue))
        );
        assert_eq!(e.entry(&step("r", "send", "c", "k")).0, Decision::Continue);
    }

    #[test]
    fn reset_and_pause_are_effects_of_after_triggers() {
        let mut e = started(vec![
            Rule {
                class: None,
                action: Action::Reset {
                    link: link("c", "r", true),
                },
                trigger: Some(Trigger::After(When::Event(ev(
                    "c",
                    "send",
                    Some("r"),
                    Some(1),
                )))),
            },
            Rule {
                class: None,
                action: Action::Pause {
                    node: "r".into(),
                    duration: Duration::from_secs(1),
                },
                trigger: Some(Trigger::After(When::Event(ev(
                    "r",
                    "recv",
                    Some("c"),
                    None,
                )))),
            },
        ]);
        let s = step("c", "send", "r", "k");
        assert_eq!(e.entry(&s).0, Decision::Continue);
        let (_, eff) = e.take_armed();
        assert_eq!(eff, vec![Effect::ResetLink("c".into(), "r".into(), true)]);
        e.mark_reset(["k".to_string()]);
        assert_eq!(
            e.entry(&step("r", "recv", "c", "k")).0,
            Decision::Fail(ECONNRESET)
        );
        let r = Step {
            ok: Some(true),
            now: 5,
            ..step("r", "recv", "c", "k2")
        };
        let (_, _, eff) = e.exit(&r);
        assert_eq!(eff, vec![Effect::Pause("r".into(), 5 + 1_000_000_000)]);
        assert!(e.is_paused("r", 6));
    }

    #[test]
    fn an_abandoned_rule_never_starts_and_a_started_one_runs_its_course() {
        let crash = |nth| Rule {
            action: Action::Crash { node: "b".into() },
            trigger: Some(Trigger::At(When::Event(ev(
                "b",
                "recv",
                Some("a"),
                Some(nth),
            )))),
            class: Some("2".into()),
        };
        let mut e = started(vec![crash(1), crash(2)]);
        let recv = Step {
            ok: Some(true),
            ..step("b", "recv", "a", "c1")
        };
        // rule 0 starts at the first receive; abandoning it afterwards changes nothing
        assert_eq!(e.exit(&recv).0, Decision::Crash);
        assert!(!e.abandon(0), "rule 0 had started");
        assert!(!e.abandoned(0));
        // rule 1 is abandoned before its receive: it never fires
        assert!(e.abandon(1));
        assert!(e.abandoned(1));
        assert_eq!(e.exit(&recv).0, Decision::Continue);
        assert_eq!(e.report()[1].1, 0);
        assert!(!e.abandon(7), "no such rule");
    }
}
