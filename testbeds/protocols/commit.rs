//! Atomic commitment: a coordinator (the first peer) and agents (the other peers); the client
//! says `BEGIN` to the coordinator, which runs one transaction.
//!
//! * `2pc`: two-phase commit. The coordinator sends `PREPARE`; an agent answers `VOTE yes`
//!   (role `agent`) or `VOTE no` (role `agent-no`, which then aborts at once). With every vote
//!   yes the coordinator decides commit, with a no (or a vote missing [`VOTE_WAIT`] after
//!   `BEGIN`) abort, and sends `DECIDE commit|abort`; an agent answers every `DECIDE` with
//!   `DONE`. Lost messages are retransmitted: `PREPARE` to agents that have not voted and
//!   `DECIDE` to agents that have not said `DONE`, every [`RESEND`], [`RESENDS`] times at most.
//!   An agent that voted yes waits for the decision without a limit: it blocks if the
//!   coordinator dies.
//! * `2pc-ctp`: 2pc with the cooperative termination protocol: an agent that voted yes and has
//!   no decision [`CTP_AFTER`] after its vote asks the other agents (`DREQ`) every [`CTP_GAP`].
//!   An agent that knows the decision answers `DECISION commit|abort`; one that has not voted
//!   aborts and answers `DECISION abort`; one that is uncertain too stays silent.
//! * `3pc`: three-phase commit with timeouts, no retransmissions. All votes yes: the
//!   coordinator sends `PRECOMMIT`, agents answer `ACK`, and once every agent has acknowledged
//!   (or [`ACK_WAIT`] has passed: an agent that did not is presumed failed) it sends `COMMIT`.
//!   A vote missing [`VOTE_WAIT`] after `BEGIN`, or a no, makes it send `ABORT`. An agent that
//!   voted yes and has no `PRECOMMIT` (nor `ABORT`) [`AGENT_WAIT`] later aborts; a precommitted
//!   one with no `COMMIT` (nor `ABORT`) [`AGENT_WAIT`] later commits. A decided agent ignores
//!   later decisions.
//!
//! Every participant answers the client's `QUERY`: an agent with `INIT`, `UNCERTAIN`,
//! `PRECOMMITTED` (3pc), `COMMIT` or `ABORT`; the coordinator with `IDLE`, `VOTING`,
//! `PRECOMMITTING` (3pc), `COMMIT` or `ABORT`. The client's promise: every participant that
//! answers and has decided decided the same (agreement), and no agent that answers is still
//! waiting for a decision after it voted yes (termination; "agents blocked").

use std::collections::BTreeSet;
use std::time::Duration;

use crate::net::{list, no_answer, serve, Client, Incoming, Node, Peers, Process, Timers};

/// The coordinator gives up on missing votes (and aborts) this long after `BEGIN`.
const VOTE_WAIT: Duration = Duration::from_millis(1000);
/// 3pc: the coordinator waits this long for `ACK`s before it commits anyway.
const ACK_WAIT: Duration = Duration::from_millis(1200);
/// 3pc: an agent's wait for the next phase.
const AGENT_WAIT: Duration = Duration::from_millis(700);
/// 2pc: the retransmission interval.
const RESEND: Duration = Duration::from_millis(300);
/// 2pc: retransmissions of one kind at most.
const RESENDS: u32 = 4;
/// 2pc-ctp: an uncertain agent starts asking the others this long after its vote.
const CTP_AFTER: Duration = Duration::from_millis(800);
/// 2pc-ctp: the interval of its questions.
const CTP_GAP: Duration = Duration::from_millis(400);
/// 2pc-ctp: how many times it asks at most.
const CTP_ROUNDS: u32 = 10;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Variant {
    TwoPc,
    Ctp,
    ThreePc,
}

impl Variant {
    /// How long the client waits between `BEGIN` and its questions.
    fn settle(self) -> Duration {
        match self {
            Variant::TwoPc => Duration::from_millis(1500),
            Variant::Ctp => Duration::from_millis(2500),
            Variant::ThreePc => Duration::from_millis(2200),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Decision {
    Commit,
    Abort,
}

impl Decision {
    fn word(self) -> &'static str {
        match self {
            Decision::Commit => "commit",
            Decision::Abort => "abort",
        }
    }

    fn parse(w: &str) -> Option<Decision> {
        match w {
            "commit" => Some(Decision::Commit),
            "abort" => Some(Decision::Abort),
            _ => None,
        }
    }
}

/// The messages of the commit protocols.
#[derive(Debug, PartialEq)]
enum Msg {
    /// client -> coordinator: run the transaction.
    Begin,
    /// coordinator -> agent: can you commit?
    Prepare,
    /// agent -> coordinator.
    Vote(bool),
    /// 2pc: coordinator -> agent: the outcome.
    Decide(Decision),
    /// 2pc: agent -> coordinator: got the outcome.
    Done,
    /// 2pc-ctp: agent -> agent: do you know the outcome?
    Dreq,
    /// 2pc-ctp: agent -> agent: the outcome.
    Decision(Decision),
    /// 3pc: coordinator -> agent.
    Precommit,
    /// 3pc: agent -> coordinator: precommitted.
    Ack,
    /// 3pc: coordinator -> agent.
    Commit,
    /// 3pc: coordinator -> agent.
    Abort,
    /// client -> any: your state?
    Query,
}

impl Msg {
    fn parse(words: &[&str]) -> Option<Msg> {
        Some(match words {
            ["BEGIN"] => Msg::Begin,
            ["PREPARE"] => Msg::Prepare,
            ["VOTE", "yes"] => Msg::Vote(true),
            ["VOTE", "no"] => Msg::Vote(false),
            ["DECIDE", d] => Msg::Decide(Decision::parse(d)?),
            ["DONE"] => Msg::Done,
            ["DREQ"] => Msg::Dreq,
            ["DECISION", d] => Msg::Decision(Decision::parse(d)?),
            ["PRECOMMIT"] => Msg::Precommit,
            ["ACK"] => Msg::Ack,
            ["COMMIT"] => Msg::Commit,
            ["ABORT"] => Msg::Abort,
            ["QUERY"] => Msg::Query,
            _ => return None,
        })
    }
}

/// Runs one participant (or the client) of a commit protocol.
pub fn main(protocol: &str, role: &str, name: &str, peers: Peers) -> Result<(), String> {
    let variant = match protocol {
        "2pc" => Variant::TwoPc,
        "2pc-ctp" => Variant::Ctp,
        "3pc" => Variant::ThreePc,
        other => return Err(format!("{other} is no commit protocol")),
    };
    let coordinator = peers.first().to_string();
    if role == "client" {
        return client(protocol, variant, name, peers);
    }
    let is_coordinator = role == "coordinator";
    if !matches!(role, "coordinator" | "agent" | "agent-no") {
        return Err(format!(
            "unknown role {role:?} (coordinator, agent, agent-no or client)"
        ));
    }
    if is_coordinator != (name == coordinator) {
        return Err(format!(
            "the coordinator is the first peer ({coordinator}); {name} is a {role}"
        ));
    }
    let node = Node::start(protocol, name, peers)?;
    let agents = node.peers.others(&coordinator);
    if is_coordinator {
        serve(
            node,
            Coordinator {
                variant,
                agents,
                state: CState::Idle,
                voted_yes: BTreeSet::new(),
                done: BTreeSet::new(),
                resends: 0,
            },
        )
    } else {
        let fellows = agents.iter().filter(|a| *a != name).cloned().collect();
        serve(
            node,
            Agent {
                variant,
                coordinator,
                fellows,
                vote: role == "agent",
                state: AState::Init,
                asked: 0,
            },
        )
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum CState {
    Idle,
    Voting,
    /// 3pc: `PRECOMMIT` sent, waiting for `ACK`s.
    Precommitting,
    Decided(Decision),
}

struct Coordinator {
    variant: Variant,
    agents: Vec<String>,
    state: CState,
    /// Agents that voted yes.
    voted_yes: BTreeSet<String>,
    /// 2pc: agents that said `DONE`; 3pc: agents that said `ACK`.
    done: BTreeSet<String>,
    /// 2pc: retransmissions of the current phase so far.
    resends: u32,
}

#[derive(Debug)]
enum CTimer {
    /// 2pc: retransmit the current phase's message.
    Resend,
    /// Give up on missing votes.
    VoteDeadline,
    /// 3pc: give up on missing `ACK`s.
    AckDeadline,
}

impl Coordinator {
    fn missing(&self, got: &BTreeSet<String>) -> Vec<String> {
        self.agents
            .iter()
            .filter(|a| !got.contains(*a))
            .cloned()
            .collect()
    }

    fn decide(&mut self, node: &Node, timers: &mut Timers<CTimer>, d: Decision) {
        self.state = CState::Decided(d);
        node.log(&format!("decided {}", d.word()));
        match self.variant {
            Variant::TwoPc | Variant::Ctp => {
                self.resends = 0;
                node.send_all(&self.agents, &format!("DECIDE {}", d.word()));
                timers.after(RESEND, CTimer::Resend);
            }
            Variant::ThreePc => {
                let text = match d {
                    Decision::Commit => "COMMIT",
                    Decision::Abort => "ABORT",
                };
                node.send_all(&self.agents, text);
            }
        }
    }

    fn all_voted_yes(&mut self, node: &Node, timers: &mut Timers<CTimer>) {
        match self.variant {
            Variant::TwoPc | Variant::Ctp => self.decide(node, timers, Decision::Commit),
            Variant::ThreePc => {
                self.state = CState::Precommitting;
                node.send_all(&self.agents, "PRECOMMIT");
                timers.after(ACK_WAIT, CTimer::AckDeadline);
            }
        }
    }
}

impl Process for Coordinator {
    type Timer = CTimer;

    fn on_message(&mut self, node: &Node, timers: &mut Timers<CTimer>, mut msg: Incoming) {
        let Some(m) = msg.read(node, Msg::parse) else {
            return;
        };
        let from_agent = self.agents.contains(&msg.from);
        match m {
            Msg::Begin => {
                if self.state == CState::Idle {
                    self.state = CState::Voting;
                    node.send_all(&self.agents, "PREPARE");
                    timers.after(VOTE_WAIT, CTimer::VoteDeadline);
                    if self.variant != Variant::ThreePc {
                        timers.after(RESEND, CTimer::Resend);
                    }
                }
            }
            Msg::Vote(yes) if from_agent => {
                if self.state != CState::Voting {
                    return;
                }
                if !yes {
                    self.decide(node, timers, Decision::Abort);
                    return;
                }
                self.voted_yes.insert(msg.from.clone());
                if self.missing(&self.voted_yes).is_empty() {
                    self.all_voted_yes(node, timers);
                }
            }
            Msg::Done if from_agent => {
                self.done.insert(msg.from.clone());
            }
            Msg::Ack if from_agent && self.variant == Variant::ThreePc => {
                if self.state != CState::Precommitting {
                    return;
                }
                self.done.insert(msg.from.clone());
                if self.missing(&self.done).is_empty() {
                    self.decide(node, timers, Decision::Commit);
                }
            }
            Msg::Query => {
                let answer = match self.state {
                    CState::Idle => "IDLE",
                    CState::Voting => "VOTING",
                    CState::Precommitting => "PRECOMMITTING",
                    CState::Decided(Decision::Commit) => "COMMIT",
                    CState::Decided(Decision::Abort) => "ABORT",
                };
                msg.reply(&node.me, answer);
            }
            _ => node.log("(not for the coordinator: ignored)"),
        }
    }

    fn on_timer(&mut self, node: &Node, timers: &mut Timers<CTimer>, timer: CTimer) {
        match (timer, self.state) {
            (CTimer::VoteDeadline, CState::Voting) => {
                node.log(&format!(
                    "no vote from {} in time",
                    list(&self.missing(&self.voted_yes))
                ));
                self.decide(node, timers, Decision::Abort);
            }
            (CTimer::AckDeadline, CState::Precommitting) => {
                node.log(&format!(
                    "no ACK from {} in time: presumed failed, committing",
                    list(&self.missing(&self.done))
                ));
                self.decide(node, timers, Decision::Commit);
            }
            (CTimer::Resend, CState::Voting) => {
                let missing = self.missing(&self.voted_yes);
                if !missing.is_empty() && self.resends < RESENDS {
                    self.resends += 1;
                    node.send_all(&missing, "PREPARE");
                    timers.after(RESEND, CTimer::Resend);
                }
            }
            (CTimer::Resend, CState::Decided(d)) => {
                let missing = self.missing(&self.done);
                if !missing.is_empty() && self.resends < RESENDS {
                    self.resends += 1;
                    node.send_all(&missing, &format!("DECIDE {}", d.word()));
                    timers.after(RESEND, CTimer::Resend);
                }
            }
            _ => {}
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum AState {
    Init,
    /// Voted yes, no decision yet.
    Uncertain,
    /// 3pc: got `PRECOMMIT`.
    Precommitted,
    Decided(Decision),
}

struct Agent {
    variant: Variant,
    coordinator: String,
    /// The other agents.
    fellows: Vec<String>,
    /// How this agent votes.
    vote: bool,
    state: AState,
    /// 2pc-ctp: questions asked so far.
    asked: u32,
}

#[derive(Debug)]
enum ATimer {
    /// 2pc-ctp: ask the other agents.
    Ask,
    /// 3pc: no `PRECOMMIT` in time.
    PrecommitDeadline,
    /// 3pc: no `COMMIT` in time.
    CommitDeadline,
}

impl Agent {
    fn decide(&mut self, node: &Node, d: Decision, why: &str) {
        if let AState::Decided(_) = self.state {
            return;
        }
        self.state = AState::Decided(d);
        node.log(&format!("decided {} ({why})", d.word()));
    }
}

impl Process for Agent {
    type Timer = ATimer;

    fn on_message(&mut self, node: &Node, timers: &mut Timers<ATimer>, mut msg: Incoming) {
        let Some(m) = msg.read(node, Msg::parse) else {
            return;
        };
        let from_coordinator = msg.from == self.coordinator;
        let from_fellow = self.fellows.contains(&msg.from);
        match m {
            Msg::Prepare if from_coordinator => {
                if self.state == AState::Init {
                    if self.vote {
                        self.state = AState::Uncertain;
                        match self.variant {
                            Variant::TwoPc => {}
                            Variant::Ctp => timers.after(CTP_AFTER, ATimer::Ask),
                            Variant::ThreePc => timers.after(AGENT_WAIT, ATimer::PrecommitDeadline),
                        }
                    } else {
                        self.decide(node, Decision::Abort, "voted no");
                    }
                }
                // a repeated PREPARE gets the same vote again
                let yes = self.vote && self.state != AState::Decided(Decision::Abort);
                node.send(&self.coordinator, if yes { "VOTE yes" } else { "VOTE no" });
            }
            Msg::Decide(d) if from_coordinator => {
                self.decide(node, d, "from the coordinator");
                node.send(&self.coordinator, "DONE");
            }
            Msg::Precommit if from_coordinator && self.variant == Variant::ThreePc => {
                if self.state == AState::Uncertain {
                    self.state = AState::Precommitted;
                    timers.after(AGENT_WAIT, ATimer::CommitDeadline);
                    node.send(&self.coordinator, "ACK");
                }
            }
            Msg::Commit if from_coordinator => {
                self.decide(node, Decision::Commit, "from the coordinator")
            }
            Msg::Abort if from_coordinator => {
                self.decide(node, Decision::Abort, "from the coordinator")
            }
            Msg::Dreq if from_fellow && self.variant == Variant::Ctp => match self.state {
                AState::Decided(d) => {
                    node.send(&msg.from, &format!("DECISION {}", d.word()));
                }
                AState::Init => {
                    self.decide(node, Decision::Abort, "asked before voting");
                    node.send(&msg.from, "DECISION abort");
                }
                AState::Uncertain | AState::Precommitted => {
                    node.log("uncertain too: cannot help");
                }
            },
            Msg::Decision(d) if from_fellow && self.variant == Variant::Ctp => {
                let why = format!("from {}", msg.from);
                self.decide(node, d, &why);
            }
            Msg::Query => {
                let answer = match self.state {
                    AState::Init => "INIT",
                    AState::Uncertain => "UNCERTAIN",
                    AState::Precommitted => "PRECOMMITTED",
                    AState::Decided(Decision::Commit) => "COMMIT",
                    AState::Decided(Decision::Abort) => "ABORT",
                };
                msg.reply(&node.me, answer);
            }
            _ => node.log("(unexpected here: ignored)"),
        }
    }

    fn on_timer(&mut self, node: &Node, timers: &mut Timers<ATimer>, timer: ATimer) {
        match (timer, self.state) {
            (ATimer::Ask, AState::Uncertain) if self.asked < CTP_ROUNDS => {
                self.asked += 1;
                node.log("no decision yet: asking the other agents");
                node.send_all(&self.fellows, "DREQ");
                timers.after(CTP_GAP, ATimer::Ask);
            }
            (ATimer::PrecommitDeadline, AState::Uncertain) => {
                self.decide(node, Decision::Abort, "no PRECOMMIT in time");
            }
            (ATimer::CommitDeadline, AState::Precommitted) => {
                self.decide(node, Decision::Commit, "no COMMIT in time");
            }
            _ => {}
        }
    }
}

/// The client: `BEGIN` to the coordinator, wait, ask everyone, check agreement and
/// termination.
fn client(protocol: &str, variant: Variant, name: &str, peers: Peers) -> Result<(), String> {
    let c = Client::new(protocol, name, peers);
    let coordinator = c.peers.first().to_string();
    c.tell(&coordinator, "BEGIN");
    let settle = variant.settle();
    c.wait(settle, "for the transaction");
    let names = c.peers.names();
    let answers = c.ask_each(&names, "QUERY");
    let (mut commit, mut abort, mut blocked, mut other) = (vec![], vec![], vec![], vec![]);
    for (n, a) in &answers {
        match a.first().map(String::as_str) {
            Some("COMMIT") => commit.push(n.clone()),
            Some("ABORT") => abort.push(n.clone()),
            Some("UNCERTAIN") | Some("PRECOMMITTED") if *n != coordinator => {
                blocked.push(n.clone())
            }
            _ => other.push(format!("{n} {}", a.join(" "))),
        }
    }
    let silent = Client::silent(&names, &answers);
    let summary = format!(
        "commit at {}; abort at {}; undecided: {}{}",
        list(&commit),
        list(&abort),
        list(&[blocked.clone(), other].concat()),
        no_answer(&silent)
    );
    if !commit.is_empty() && !abort.is_empty() {
        c.violation(&format!(
            "agreement violated: {} committed but {} aborted ({summary})",
            list(&commit),
            list(&abort)
        ));
    }
    if !blocked.is_empty() {
        c.violation(&format!(
            "agents blocked: {} voted yes and have no decision {} ms after BEGIN ({summary})",
            list(&blocked),
            settle.as_millis()
        ));
    }
    c.pass(&summary)
}
