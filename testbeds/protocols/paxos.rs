//! Single-decree Paxos (the synod): every participant is a proposer, an acceptor and a learner.
//!
//! The client sends `PROPOSE A` to the first participant and `PROPOSE B` to the last, so two
//! proposers compete. A proposer runs ballots `round * 16 + index` (index: its position among
//! the peers, from 1, so ballots never tie):
//!
//! 1. `PREPARE b` to every acceptor; an acceptor that has promised nothing higher promises `b`
//!    and answers `PROMISE b AB AV` (its accepted ballot and value, `0 -` if none), otherwise
//!    `NACK b P` with its promise `P`.
//! 2. With promises from a majority, `ACCEPT b v`, `v` the value of the highest accepted ballot
//!    among the promises, or its own. An acceptor that has promised nothing higher accepts and
//!    tells every learner `ACCEPTED b v`.
//! 3. A learner that has `ACCEPTED b v` from a majority for one ballot learns `v`.
//!
//! A proposer that has learned nothing [`ROUND_TIMEOUT`] after starting a ballot starts a
//! higher one after a pause of `index * `[`BACKOFF`], at most [`ATTEMPTS`] ballots in all.
//! Messages to itself are handled at once, without the network.
//!
//! Each participant answers the client's `QUERY` with `LEARNED v` or `NONE`. The promise:
//! all participants that learned a value learned the same one.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use crate::net::{list, no_answer, serve, Client, Incoming, Node, Peers, Process, Timers};

/// How long a ballot may take before the proposer tries a higher one.
const ROUND_TIMEOUT: Duration = Duration::from_millis(400);
/// The pause before a new ballot, times the proposer's index.
const BACKOFF: Duration = Duration::from_millis(120);
/// The most ballots one proposer starts.
const ATTEMPTS: u32 = 6;
/// The client's wait between the proposals and its questions.
const SETTLE: Duration = Duration::from_millis(1500);

/// The messages of the synod.
#[derive(Debug, PartialEq, Clone)]
enum Msg {
    /// client -> proposer.
    Propose(String),
    Prepare(u64),
    /// ballot, accepted ballot (0: none), accepted value.
    Promise(u64, u64, Option<String>),
    /// ballot, the higher promise.
    Nack(u64, u64),
    Accept(u64, String),
    Accepted(u64, String),
    /// client -> any.
    Query,
}

impl Msg {
    fn parse(words: &[&str]) -> Option<Msg> {
        let n = |w: &str| w.parse::<u64>().ok();
        let v = |w: &str| (w != "-" && !w.is_empty()).then(|| w.to_string());
        Some(match words {
            ["PROPOSE", x] => Msg::Propose(v(x)?),
            ["PREPARE", b] => Msg::Prepare(n(b)?),
            ["PROMISE", b, ab, av] => Msg::Promise(n(b)?, n(ab)?, v(av)),
            ["NACK", b, p] => Msg::Nack(n(b)?, n(p)?),
            ["ACCEPT", b, x] => Msg::Accept(n(b)?, v(x)?),
            ["ACCEPTED", b, x] => Msg::Accepted(n(b)?, v(x)?),
            ["QUERY"] => Msg::Query,
            _ => return None,
        })
    }

    fn text(&self) -> String {
        match self {
            Msg::Propose(x) => format!("PROPOSE {x}"),
            Msg::Prepare(b) => format!("PREPARE {b}"),
            Msg::Promise(b, ab, av) => {
                format!("PROMISE {b} {ab} {}", av.as_deref().unwrap_or("-"))
            }
            Msg::Nack(b, p) => format!("NACK {b} {p}"),
            Msg::Accept(b, x) => format!("ACCEPT {b} {x}"),
            Msg::Accepted(b, x) => format!("ACCEPTED {b} {x}"),
            Msg::Query => "QUERY".to_string(),
        }
    }
}

/// Runs one participant (or the client) of the synod.
pub fn main(role: &str, name: &str, peers: Peers) -> Result<(), String> {
    match role {
        "client" => client(name, peers),
        "node" => {
            if peers.len() > 15 {
                return Err("at most 15 participants".into());
            }
            let node = Node::start("paxos", name, peers)?;
            let index = node.peers.index(name).map(|i| i as u64 + 1).unwrap_or(1);
            let all = node.peers.names();
            let majority = all.len() / 2 + 1;
            serve(
                node,
                Paxos {
                    index,
                    all,
                    majority,
                    promised: 0,
                    accepted: None,
                    value: None,
                    ballot: 0,
                    phase: Phase::Idle,
                    attempts: 0,
                    highest_seen: 0,
                    votes: BTreeMap::new(),
                    learned: None,
                    local: VecDeque::new(),
                },
            )
        }
        other => Err(format!("unknown role {other:?} (node or client)")),
    }
}

#[derive(Debug)]
enum Phase {
    Idle,
    /// Collecting promises: who promised, with what it had accepted.
    Preparing(BTreeMap<String, (u64, Option<String>)>),
    Accepting,
}

struct Paxos {
    index: u64,
    all: Vec<String>,
    majority: usize,
    // acceptor
    promised: u64,
    accepted: Option<(u64, String)>,
    // proposer
    value: Option<String>,
    ballot: u64,
    phase: Phase,
    attempts: u32,
    highest_seen: u64,
    // learner: per ballot, the value and who accepted it
    votes: BTreeMap<u64, (String, BTreeSet<String>)>,
    learned: Option<String>,
    /// Messages to itself, handled after the current one.
    local: VecDeque<Msg>,
}

#[derive(Debug)]
enum Timer {
    /// The ballot took too long.
    RoundOver(u64),
    /// Start a new ballot.
    Retry,
}

impl Paxos {
    /// Sends to one participant: itself through `local`, the others through the network.
    fn send(&mut self, node: &Node, to: &str, m: Msg) {
        if to == node.me {
            self.local.push_back(m);
        } else {
            node.send(to, &m.text());
        }
    }

    fn broadcast(&mut self, node: &Node, m: Msg) {
        for to in self.all.clone() {
            self.send(node, &to, m.clone());
        }
    }

    fn start_ballot(&mut self, node: &Node, timers: &mut Timers<Timer>) {
        if self.learned.is_some() || self.attempts >= ATTEMPTS {
            return;
        }
        self.attempts += 1;
        let round = self.highest_seen.max(self.ballot) / 16 + 1;
        self.ballot = round * 16 + self.index;
        self.seen(self.ballot);
        node.log(&format!("starting ballot {}", self.ballot));
        self.phase = Phase::Preparing(BTreeMap::new());
        self.broadcast(node, Msg::Prepare(self.ballot));
        timers.after(ROUND_TIMEOUT, Timer::RoundOver(self.ballot));
    }

    fn seen(&mut self, b: u64) {
        self.highest_seen = self.highest_seen.max(b);
    }

    fn handle(&mut self, node: &Node, timers: &mut Timers<Timer>, from: &str, m: Msg) {
        match m {
            Msg::Propose(v) => {
                if self.value.is_none() {
                    self.value = Some(v);
                    self.start_ballot(node, timers);
                }
            }
            Msg::Prepare(b) => {
                self.seen(b);
                if b > self.promised {
                    self.promised = b;
                    let (ab, av) = match &self.accepted {
                        Some((ab, av)) => (*ab, Some(av.clone())),
                        None => (0, None),
                    };
                    self.send(node, from, Msg::Promise(b, ab, av));
                } else {
                    self.send(node, from, Msg::Nack(b, self.promised));
                }
            }
            Msg::Promise(b, ab, av) => {
                self.seen(ab);
                if b != self.ballot {
                    return;
                }
                let Phase::Preparing(promises) = &mut self.phase else {
                    return;
                };
                promises.insert(from.to_string(), (ab, av));
                if promises.len() < self.majority {
                    return;
                }
                let adopted = promises
                    .values()
                    .filter(|(ab, av)| *ab > 0 && av.is_some())
                    .max_by_key(|(ab, _)| *ab)
                    .and_then(|(_, av)| av.clone());
                let Some(v) = adopted.or_else(|| self.value.clone()) else {
                    return;
                };
                self.phase = Phase::Accepting;
                self.broadcast(node, Msg::Accept(b, v));
            }
            Msg::Nack(_, p) => self.seen(p),
            Msg::Accept(b, v) => {
                self.seen(b);
                if b >= self.promised {
                    self.promised = b;
                    self.accepted = Some((b, v.clone()));
                    self.broadcast(node, Msg::Accepted(b, v));
                } else {
                    self.send(node, from, Msg::Nack(b, self.promised));
                }
            }
            Msg::Accepted(b, v) => {
                self.seen(b);
                let entry = self
                    .votes
                    .entry(b)
                    .or_insert_with(|| (v.clone(), BTreeSet::new()));
                if entry.0 != v {
                    node.log(&format!(
                        "two values for ballot {b}: ignoring {v} from {from}"
                    ));
                    return;
                }
                entry.1.insert(from.to_string());
                if entry.1.len() >= self.majority && self.learned.is_none() {
                    node.log(&format!("learned {v} (ballot {b})"));
                    self.learned = Some(v);
                }
            }
            Msg::Query => {}
        }
    }

    fn drain(&mut self, node: &Node, timers: &mut Timers<Timer>) {
        while let Some(m) = self.local.pop_front() {
            let me = node.me.clone();
            self.handle(node, timers, &me, m);
        }
    }
}

impl Process for Paxos {
    type Timer = Timer;

    fn on_message(&mut self, node: &Node, timers: &mut Timers<Timer>, mut msg: Incoming) {
        let Some(m) = msg.read(node, Msg::parse) else {
            return;
        };
        if m == Msg::Query {
            let answer = match &self.learned {
                Some(v) => format!("LEARNED {v}"),
                None => "NONE".to_string(),
            };
            msg.reply(&node.me, &answer);
            return;
        }
        let is_peer = self.all.contains(&msg.from);
        if !is_peer && !matches!(m, Msg::Propose(_)) {
            node.log("(not from a participant: ignored)");
            return;
        }
        let from = msg.from.clone();
        self.handle(node, timers, &from, m);
        self.drain(node, timers);
    }

    fn on_timer(&mut self, node: &Node, timers: &mut Timers<Timer>, timer: Timer) {
        match timer {
            Timer::RoundOver(b) => {
                if b == self.ballot && self.learned.is_none() {
                    node.log(&format!("ballot {b} decided nothing in time"));
                    self.phase = Phase::Idle;
                    timers.after(BACKOFF * self.index as u32, Timer::Retry);
                }
            }
            Timer::Retry => self.start_ballot(node, timers),
        }
        self.drain(node, timers);
    }
}

/// The client: two competing proposals, wait, ask everyone what it learned.
fn client(name: &str, peers: Peers) -> Result<(), String> {
    let c = Client::new("paxos", name, peers);
    let names = c.peers.names();
    let (first, last) = match (names.first(), names.last()) {
        (Some(f), Some(l)) => (f.clone(), l.clone()),
        _ => return Err("no participants".into()),
    };
    c.tell(&first, "PROPOSE A");
    c.tell(&last, "PROPOSE B");
    c.wait(SETTLE, "for the synod");
    let answers = c.ask_each(&names, "QUERY");
    let mut learned: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut none = Vec::new();
    for (n, a) in &answers {
        match a.as_slice() {
            [w, v] if w == "LEARNED" => learned.entry(v.clone()).or_default().push(n.clone()),
            [w] if w == "NONE" => none.push(n.clone()),
            _ => c.log(&format!("{n}: unexpected answer {a:?}, left out")),
        }
    }
    let silent = Client::silent(&names, &answers);
    let described: Vec<String> = learned
        .iter()
        .map(|(v, who)| format!("{} learned {v}", list(who)))
        .collect();
    let summary = format!(
        "{}; learned nothing: {}{}",
        if described.is_empty() {
            "nobody learned a value".to_string()
        } else {
            described.join(", ")
        },
        list(&none),
        no_answer(&silent)
    );
    if learned.len() > 1 {
        c.violation(&format!(
            "agreement violated: different values learned ({summary})"
        ));
    }
    c.pass(&summary)
}
