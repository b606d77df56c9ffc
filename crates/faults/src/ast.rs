//! The rule language's syntax tree.

use std::time::Duration;

/// One fault rule: what to do, and when.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// What to do.
    pub action: Action,
    /// When to start; `None` means from the start of the run.
    pub trigger: Option<Trigger>,
    /// `in class NAME`: the rule is anchored on its trigger's event in a recorded class (of
    /// `bop run --follow DIR`); it starts only if the live run still follows that class when
    /// the trigger comes, and never once the run has fallen off it.
    pub class: Option<String>,
}

/// A directed or undirected pair of nodes: `a -> b` (only a's messages to b) or `a <-> b`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The sending node (one end for `<->`).
    pub from: String,
    /// The receiving node (the other end for `<->`).
    pub to: String,
    /// `<->`: both directions.
    pub both: bool,
}

/// What a rule does.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// `partition {a,b} | {c}` (both directions between the groups), or `partition a -> b`
    /// (one-way: only a's messages to b are lost). Optional `for DURATION` heals it;
    /// `refuse` makes new connections across it fail with ECONNREFUSED at once instead of
    /// ETIMEDOUT after the connect wait.
    Partition {
        /// The first group (senders, for a one-way partition).
        a: Vec<String>,
        /// The second group (receivers, for a one-way partition).
        b: Vec<String>,
        /// Only messages from `a` to `b` are lost.
        oneway: bool,
        /// Heals after this long.
        duration: Option<Duration>,
        /// New connections across it are refused rather than timing out.
        refuse: bool,
    },
    /// `drop a -> b #N` (exactly the Nth message), `drop a -> b p=0.2 seed=7` (each with
    /// probability p, reproducibly), or `drop a -> b` (every message).
    Drop {
        /// Whose messages.
        link: Link,
        /// Only the Nth message (1-based) on the link.
        nth: Option<u64>,
        /// Each message with this probability.
        p: Option<f64>,
        /// The seed of the probabilistic choice (default 0).
        seed: u64,
    },
    /// `crash NODE`: SIGKILL every process of the node.
    Crash {
        /// The node.
        node: String,
    },
    /// `restart NODE after DURATION`: start the node's command again, that long after it crashed.
    Restart {
        /// The node.
        node: String,
    },
    /// `pause NODE for DURATION`: no thread of the node makes progress, then it resumes.
    Pause {
        /// The node.
        node: String,
        /// How long.
        duration: Duration,
    },
    /// `delay a -> b DURATION`: every message from a to b arrives that much later.
    Delay {
        /// Whose messages.
        link: Link,
        /// How much later.
        by: Duration,
    },
    /// `reset a <-> b`: the connections between a and b are reset; both ends see
    /// ECONNRESET / EPIPE.
    Reset {
        /// The two nodes (`->` resets only the connections a opened to b).
        link: Link,
    },
    /// `fail NODE.SYSCALL(PEER)#N with ERRNO`: the call fails with that errno instead of running
    /// (every matching call without `#N`).
    Fail {
        /// Which calls.
        event: EventPat,
        /// The errno number.
        errno: i32,
    },
}

/// When a rule starts.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    /// `at …`: the fault takes the place of the event (the event does not happen), or starts at
    /// that time since the run began.
    At(When),
    /// `after …`: once the event has completed, or that long after the run began (for
    /// `restart`: after the node crashed).
    After(When),
}

/// A point in the run: a time or an event.
#[derive(Debug, Clone, PartialEq)]
pub enum When {
    /// Time since the run began (or since the crash, for `restart … after`).
    Time(Duration),
    /// An event of the graph.
    Event(EventPat),
}

/// An event pattern: `NODE.OP(PEER)#N`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventPat {
    /// The node whose event it is.
    pub node: String,
    /// `connect`, `accept`, `send`, `recv`, `close`, `exit`, or (for `fail`) any syscall name.
    pub op: String,
    /// The node at the other end, if it matters.
    pub peer: Option<String>,
    /// The Nth matching event of that node (1-based); `None`: the first (triggers) or every one
    /// (`fail`).
    pub nth: Option<u64>,
}

impl EventPat {
    /// Whether the call `s` is one this pattern names: the node, the operation (generic, or
    /// the syscall's own name) and, if given, the peer. Which of the matching calls count
    /// toward `#N`, and at which stop, is [`crate::counted`]'s.
    pub fn matches(&self, s: &crate::Step) -> bool {
        self.node == s.node
            && (self.op == s.op || self.op == s.syscall)
            && self.peer.as_deref().is_none_or(|peer| Some(peer) == s.peer)
    }
}

impl Rule {
    /// Every node the rule names (groups, links, the node acted on, the events' nodes and
    /// peers), each once, in the order they are written.
    pub fn nodes(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        fn event<'a>(e: &'a EventPat, names: &mut Vec<&'a str>) {
            names.push(&e.node);
            if let Some(p) = &e.peer {
                names.push(p);
            }
        }
        match &self.action {
            Action::Partition { a, b, .. } => names.extend(a.iter().chain(b).map(String::as_str)),
            Action::Drop { link, .. } | Action::Delay { link, .. } | Action::Reset { link } => {
                names.extend([link.from.as_str(), link.to.as_str()]);
            }
            Action::Crash { node } | Action::Restart { node } | Action::Pause { node, .. } => {
                names.push(node);
            }
            Action::Fail { event: e, .. } => event(e, &mut names),
        }
        if let Some(Trigger::At(When::Event(e)) | Trigger::After(When::Event(e))) = &self.trigger {
            event(e, &mut names);
        }
        let mut out: Vec<&str> = Vec::new();
        for n in names {
            if !out.contains(&n) {
                out.push(n);
            }
        }
        out
    }

    /// Checks that every node the rule names is one of `nodes` (the cluster's). The error
    /// names the first unknown node and lists the nodes: `unknown node "nosuchnode" in fault
    /// rule; the nodes are: server, relay, client`.
    pub fn check_nodes(&self, nodes: &[String]) -> Result<(), String> {
        match self
            .nodes()
            .into_iter()
            .find(|n| !nodes.iter().any(|m| m == n))
        {
            None => Ok(()),
            Some(n) if nodes.is_empty() => Err(format!(
                "unknown node \"{n}\" in fault rule; there are no nodes"
            )),
            Some(n) => Err(format!(
                "unknown node \"{n}\" in fault rule; the nodes are: {}",
                nodes.join(", ")
            )),
        }
    }
}
