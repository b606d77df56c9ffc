//! The delivery protocols: a broadcaster (the first peer) sends one message, `m1`, to the
//! replicas (the other peers) when the client says `START`.
//!
//! * `simple-deliv`: the broadcaster sends it once to each replica.
//! * `retry-deliv`: the broadcaster sends it to each replica in [`RETRY_ROUNDS`] rounds,
//!   [`GAP`] apart; nobody acknowledges.
//! * `redun-deliv`: the broadcaster sends it once to each replica; a replica, on its first
//!   copy, relays it once to every other replica.
//! * `ack-deliv`: every node that has it (the broadcaster and every replica that got it) sends
//!   it to every other node each round, [`GAP`] apart, until that node acknowledges it (at most
//!   [`ACK_ROUNDS`] rounds); every copy received is acknowledged.
//! * `classic-deliv`: on its first copy (the broadcaster: on `START`) a node relays it once to
//!   every other node, then delivers it.
//!
//! A node delivers the message on its first copy (the broadcaster on `START`). The client
//! says `START` to the broadcaster, waits, asks every node `QUERY` (answer `HAS m1` or
//! `NONE`), and checks agreement: if any node that answers has delivered the message, every
//! node that answers has.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::net::{list, no_answer, serve, Client, Incoming, Node, Peers, Process, Timers};

/// The one message broadcast.
const PAYLOAD: &str = "m1";
/// The interval of retransmission rounds.
const GAP: Duration = Duration::from_millis(250);
/// retry-deliv: how many times the broadcaster sends to each replica.
const RETRY_ROUNDS: u32 = 4;
/// ack-deliv: the most rounds a node sends in.
const ACK_ROUNDS: u32 = 12;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Variant {
    Simple,
    Retry,
    Redun,
    Ack,
    Classic,
}

impl Variant {
    fn of(protocol: &str) -> Option<Variant> {
        Some(match protocol {
            "simple-deliv" => Variant::Simple,
            "retry-deliv" => Variant::Retry,
            "redun-deliv" => Variant::Redun,
            "ack-deliv" => Variant::Ack,
            "classic-deliv" => Variant::Classic,
            _ => return None,
        })
    }

    /// How long the client waits between `START` and its questions.
    fn settle(self) -> Duration {
        match self {
            Variant::Simple | Variant::Redun | Variant::Classic => Duration::from_millis(600),
            Variant::Retry => Duration::from_millis(1200),
            Variant::Ack => Duration::from_millis(1500),
        }
    }
}

/// The messages of the delivery protocols.
#[derive(Debug, PartialEq)]
enum Msg {
    /// client -> broadcaster: broadcast now.
    Start,
    /// The broadcast message (a copy, a retransmission or a relay).
    Data(String),
    /// ack-deliv: the sender has this message.
    Ack(String),
    /// client -> any: what have you delivered? Answered `HAS m1` or `NONE`.
    Query,
}

impl Msg {
    fn parse(words: &[&str]) -> Option<Msg> {
        Some(match words {
            ["START"] => Msg::Start,
            ["MSG", m] => Msg::Data(m.to_string()),
            ["ACK", m] => Msg::Ack(m.to_string()),
            ["QUERY"] => Msg::Query,
            _ => return None,
        })
    }
}

/// Runs one node of a delivery protocol.
pub fn main(protocol: &str, role: &str, name: &str, peers: Peers) -> Result<(), String> {
    let variant =
        Variant::of(protocol).ok_or_else(|| format!("{protocol} is no delivery protocol"))?;
    let broadcaster = peers.first().to_string();
    match role {
        "client" => client(protocol, variant, name, peers),
        "broadcaster" | "replica" => {
            if (role == "broadcaster") != (name == broadcaster) {
                return Err(format!(
                    "the broadcaster is the first peer ({broadcaster}); {name} is a {role}"
                ));
            }
            let node = Node::start(protocol, name, peers)?;
            let others = node.peers.others(name);
            let replicas = node.peers.others(&broadcaster);
            let process = Deliv {
                variant,
                is_broadcaster: name == broadcaster,
                others,
                replicas,
                delivered: false,
                acked: BTreeSet::new(),
                rounds: 0,
            };
            serve(node, process)
        }
        other => Err(format!(
            "unknown role {other:?} (broadcaster, replica or client)"
        )),
    }
}

struct Deliv {
    variant: Variant,
    is_broadcaster: bool,
    /// Every node but this one.
    others: Vec<String>,
    /// Every node but the broadcaster.
    replicas: Vec<String>,
    delivered: bool,
    /// ack-deliv: the nodes that acknowledged this node's copies.
    acked: BTreeSet<String>,
    /// Retransmission rounds sent so far.
    rounds: u32,
}

/// The retransmission round timer.
struct Round;

impl Deliv {
    fn data() -> String {
        format!("MSG {PAYLOAD}")
    }

    /// This node has the message for the first time.
    fn first_copy(&mut self, node: &Node, timers: &mut Timers<Round>) {
        let me = node.me.clone();
        // every replica but this one
        let fellows: Vec<String> = self
            .replicas
            .iter()
            .filter(|r| **r != me)
            .cloned()
            .collect();
        match self.variant {
            Variant::Simple => {
                self.deliver(node);
                if self.is_broadcaster {
                    node.send_all(&self.replicas, &Self::data());
                }
            }
            Variant::Retry => {
                self.deliver(node);
                if self.is_broadcaster {
                    self.round(node, timers);
                }
            }
            Variant::Redun => {
                self.deliver(node);
                if self.is_broadcaster {
                    node.send_all(&self.replicas, &Self::data());
                } else {
                    node.send_all(&fellows, &Self::data());
                }
            }
            Variant::Ack => {
                self.deliver(node);
                self.round(node, timers);
            }
            Variant::Classic => {
                node.send_all(&self.others, &Self::data());
                self.deliver(node);
            }
        }
    }

    fn deliver(&mut self, node: &Node) {
        self.delivered = true;
        node.log(&format!("delivered {PAYLOAD}"));
    }

    /// One retransmission round (retry-deliv, ack-deliv); sets the timer of the next one.
    fn round(&mut self, node: &Node, timers: &mut Timers<Round>) {
        let (targets, limit) = match self.variant {
            Variant::Retry => (self.replicas.clone(), RETRY_ROUNDS),
            Variant::Ack => {
                let t: Vec<String> = self
                    .others
                    .iter()
                    .filter(|o| !self.acked.contains(*o))
                    .cloned()
                    .collect();
                (t, ACK_ROUNDS)
            }
            _ => return,
        };
        if targets.is_empty() || self.rounds >= limit {
            return;
        }
        self.rounds += 1;
        node.send_all(&targets, &Self::data());
        timers.after(GAP, Round);
    }
}

impl Process for Deliv {
    type Timer = Round;

    fn on_message(&mut self, node: &Node, timers: &mut Timers<Round>, mut msg: Incoming) {
        let Some(m) = msg.read(node, Msg::parse) else {
            return;
        };
        match m {
            Msg::Start => {
                if self.is_broadcaster && !self.delivered {
                    self.first_copy(node, timers);
                }
            }
            Msg::Data(p) => {
                if p != PAYLOAD {
                    return;
                }
                if self.variant == Variant::Ack && self.others.contains(&msg.from) {
                    node.send(&msg.from, &format!("ACK {PAYLOAD}"));
                }
                if !self.delivered {
                    self.first_copy(node, timers);
                }
            }
            Msg::Ack(p) => {
                if p == PAYLOAD && self.others.contains(&msg.from) {
                    self.acked.insert(msg.from.clone());
                }
            }
            Msg::Query => {
                let answer = if self.delivered {
                    format!("HAS {PAYLOAD}")
                } else {
                    "NONE".to_string()
                };
                msg.reply(&node.me, &answer);
            }
        }
    }

    fn on_timer(&mut self, node: &Node, timers: &mut Timers<Round>, _: Round) {
        self.round(node, timers);
    }
}

/// The client: `START` to the broadcaster, wait, ask everyone, check agreement.
fn client(protocol: &str, variant: Variant, name: &str, peers: Peers) -> Result<(), String> {
    let c = Client::new(protocol, name, peers);
    let broadcaster = c.peers.first().to_string();
    c.tell(&broadcaster, "START");
    c.wait(variant.settle(), "for the broadcast");
    let (mut has, mut lacks) = (Vec::new(), Vec::new());
    let names = c.peers.names();
    let answers = c.ask_each(&names, "QUERY");
    for (n, a) in &answers {
        match a.first().map(String::as_str) {
            Some("HAS") if a.get(1).map(String::as_str) == Some(PAYLOAD) => has.push(n.clone()),
            Some("NONE") => lacks.push(n.clone()),
            _ => c.log(&format!("{n}: unexpected answer {a:?}, left out")),
        }
    }
    let silent = Client::silent(&names, &answers);
    if !has.is_empty() && !lacks.is_empty() {
        c.violation(&format!(
            "agreement violated: {} delivered {PAYLOAD} but {} did not{}",
            list(&has),
            list(&lacks),
            no_answer(&silent)
        ));
    }
    c.pass(&format!(
        "agreement: delivered at {}; not delivered at {}{}",
        list(&has),
        list(&lacks),
        no_answer(&silent)
    ))
}
