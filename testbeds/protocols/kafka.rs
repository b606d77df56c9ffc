//! A replicated log in the manner of Kafka: a leader (the first peer), followers (the other
//! peers) and an in-sync-replica set (ISR), at first every replica.
//!
//! The client sends `WRITE v` to the leader. The leader appends `v` to its log and sends
//! `REPL v` to every follower in the ISR; a follower appends it and answers `REPLACK v`. Once
//! every follower of the ISR has acknowledged, the leader answers the client `OK isr=…`; a
//! follower that has not acknowledged [`ISR_WAIT`] after the write is removed from the ISR (it
//! "fell behind") and the leader answers `OK` with the smaller ISR (acks=all semantics).
//!
//! Reads (`READ`, answered `LOG v1,v2,…` or `LOG -`) are served by the leader while it
//! answers; when it does not, the surviving replica with the highest name (`n3` before `n2`)
//! serves them: a deterministic, *unclean* election that does not look at the ISR.
//!
//! The client's promise: a write the leader acknowledged can be read back.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::net::{list, serve, Client, Incoming, Node, Peers, Process, Timers};

/// The leader drops followers that have not acknowledged a write from the ISR after this long.
const ISR_WAIT: Duration = Duration::from_millis(500);
/// The client's wait for the leader's `OK`.
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// The client's pause between the acknowledgement and the read.
const READ_AFTER: Duration = Duration::from_millis(300);
/// The value the client writes.
const VALUE: &str = "v1";

/// The messages of the log.
#[derive(Debug, PartialEq)]
enum Msg {
    /// client -> leader: append a value; answered `OK isr=…` or `BUSY`.
    Write(String),
    /// leader -> follower: append this value.
    Repl(String),
    /// follower -> leader: appended.
    ReplAck(String),
    /// client -> any: your log? Answered `LOG v1,v2` or `LOG -`.
    Read,
}

impl Msg {
    fn parse(words: &[&str]) -> Option<Msg> {
        let value = |v: &str| (!v.is_empty() && !v.contains(',')).then(|| v.to_string());
        Some(match words {
            ["WRITE", v] => Msg::Write(value(v)?),
            ["REPL", v] => Msg::Repl(value(v)?),
            ["REPLACK", v] => Msg::ReplAck(value(v)?),
            ["READ"] => Msg::Read,
            _ => return None,
        })
    }
}

/// Runs one replica (or the client) of the log.
pub fn main(role: &str, name: &str, peers: Peers) -> Result<(), String> {
    let leader = peers.first().to_string();
    match role {
        "client" => client(name, peers),
        "replica" => {
            let node = Node::start("kafka", name, peers)?;
            let followers = node.peers.others(&leader);
            let isr = followers.iter().cloned().collect();
            serve(
                node,
                Replica {
                    is_leader: name == leader,
                    leader,
                    followers,
                    isr,
                    log: Vec::new(),
                    pending: None,
                },
            )
        }
        other => Err(format!("unknown role {other:?} (replica or client)")),
    }
}

/// A write the leader has not acknowledged yet.
struct Pending {
    value: String,
    acked: BTreeSet<String>,
    /// The client's request, answered on its connection.
    request: Incoming,
}

struct Replica {
    is_leader: bool,
    leader: String,
    followers: Vec<String>,
    /// The followers in the ISR (the leader always is).
    isr: BTreeSet<String>,
    log: Vec<String>,
    pending: Option<Pending>,
}

/// The leader's wait for a write's acknowledgements.
struct IsrDeadline;

impl Replica {
    fn isr_text(&self, me: &str) -> String {
        let mut names = vec![me.to_string()];
        names.extend(self.isr.iter().cloned());
        names.join(",")
    }

    /// Acknowledges the pending write if every follower of the ISR has it.
    fn maybe_ack(&mut self, node: &Node) {
        let done = match &self.pending {
            Some(p) => self.isr.iter().all(|f| p.acked.contains(f)),
            None => false,
        };
        if done {
            if let Some(mut p) = self.pending.take() {
                let answer = format!("OK isr={}", self.isr_text(&node.me));
                node.log(&format!("acknowledging {}: {answer}", p.value));
                p.request.reply(&node.me, &answer);
            }
        }
    }

    fn log_text(&self) -> String {
        if self.log.is_empty() {
            "LOG -".to_string()
        } else {
            format!("LOG {}", self.log.join(","))
        }
    }
}

impl Process for Replica {
    type Timer = IsrDeadline;

    fn on_message(&mut self, node: &Node, timers: &mut Timers<IsrDeadline>, mut msg: Incoming) {
        let Some(m) = msg.read(node, Msg::parse) else {
            return;
        };
        match m {
            Msg::Write(v) if self.is_leader => {
                if self.pending.is_some() {
                    msg.reply(&node.me, "BUSY");
                    return;
                }
                self.log.push(v.clone());
                let isr: Vec<String> = self.isr.iter().cloned().collect();
                node.send_all(&isr, &format!("REPL {v}"));
                self.pending = Some(Pending {
                    value: v,
                    acked: BTreeSet::new(),
                    request: msg,
                });
                timers.after(ISR_WAIT, IsrDeadline);
                self.maybe_ack(node);
            }
            Msg::Repl(v) if !self.is_leader && msg.from == self.leader => {
                if !self.log.contains(&v) {
                    self.log.push(v.clone());
                }
                node.send(&self.leader, &format!("REPLACK {v}"));
            }
            Msg::ReplAck(v) if self.is_leader && self.followers.contains(&msg.from) => {
                if let Some(p) = &mut self.pending {
                    if p.value == v {
                        p.acked.insert(msg.from.clone());
                    }
                }
                self.maybe_ack(node);
            }
            Msg::Read => {
                let answer = self.log_text();
                msg.reply(&node.me, &answer);
            }
            _ => node.log("(unexpected here: ignored)"),
        }
    }

    fn on_timer(&mut self, node: &Node, _: &mut Timers<IsrDeadline>, _: IsrDeadline) {
        let Some(p) = &self.pending else { return };
        let behind: Vec<String> = self
            .isr
            .iter()
            .filter(|f| !p.acked.contains(*f))
            .cloned()
            .collect();
        for f in &behind {
            self.isr.remove(f);
        }
        node.log(&format!(
            "{} did not acknowledge {} in time: removed from the ISR, now {}",
            list(&behind),
            p.value,
            self.isr_text(&node.me)
        ));
        self.maybe_ack(node);
    }
}

/// The client: write, and if acknowledged, read back from whoever serves reads now.
fn client(name: &str, peers: Peers) -> Result<(), String> {
    let c = Client::new("kafka", name, peers);
    let leader = c.peers.first().to_string();
    let ack = c.ask(&leader, &format!("WRITE {VALUE}"), WRITE_TIMEOUT);
    let isr = match ack.as_deref() {
        Some([ok, isr]) if ok == "OK" => isr.trim_start_matches("isr=").to_string(),
        _ => c.pass(&format!(
            "{VALUE} was not acknowledged: nothing is promised"
        )),
    };
    c.wait(READ_AFTER, "before reading back");
    // the leader serves reads while it answers; then the highest-named surviving replica
    let mut readers = vec![leader.clone()];
    let mut rest = c.peers.others(&leader);
    rest.sort();
    rest.reverse();
    readers.extend(rest);
    for reader in &readers {
        let Some(answer) = c.ask(reader, "READ", crate::net::ASK_TIMEOUT) else {
            continue;
        };
        let log: Vec<String> = match answer.as_slice() {
            [w, l] if w == "LOG" && l == "-" => vec![],
            [w, l] if w == "LOG" => l.split(',').map(str::to_string).collect(),
            _ => {
                c.log(&format!("{reader}: malformed answer {answer:?}, left out"));
                continue;
            }
        };
        let role = if *reader == leader {
            "the leader".to_string()
        } else {
            format!("the new leader ({leader} does not answer)")
        };
        if !log.iter().any(|v| v == VALUE) {
            c.violation(&format!(
                "acknowledged write lost: {VALUE} was acknowledged with ISR {isr}, but {reader}, \
                 {role}, has log [{}]",
                log.join(",")
            ));
        }
        c.pass(&format!(
            "{VALUE} acknowledged with ISR {isr} and read back from {reader}, {role}"
        ));
    }
    c.pass(&format!(
        "{VALUE} acknowledged with ISR {isr}; no replica answers the read: nothing to check"
    ))
}
