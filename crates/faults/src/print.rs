//! Printing rules in canonical form: what [`crate::parse_rule`] reads back as the same rule.
//!
//! Single spaces between tokens, groups as `{a,b}`, durations in humantime's format (`500ms`,
//! `2s`, `1m 30s`), errnos by name (`ECONNREFUSED`; by number when Linux has no name for it),
//! probabilities as the shortest decimal that reads back exactly (`p=0.2`), the seed only when
//! it is not 0. A two-way partition always prints with groups (`partition a <-> b` prints as
//! `partition {a} | {b}`); a one-way partition between single nodes prints as a link.

use std::fmt::{self, Display, Formatter};
use std::time::Duration;

use crate::ast::{Action, EventPat, Link, Rule, Trigger, When};

/// A duration in humantime's format.
fn dur(d: &Duration) -> humantime::FormattedDuration {
    humantime::format_duration(*d)
}

/// Writes `{a,b,c}`.
fn group(f: &mut Formatter<'_>, names: &[String]) -> fmt::Result {
    write!(f, "{{{}}}", names.join(","))
}

impl Display for Rule {
    /// `ACTION [TRIGGER] [in class NAME]`, e.g. `crash server at server.recv(client)#2`.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.action)?;
        if let Some(t) = &self.trigger {
            write!(f, " {t}")?;
        }
        if let Some(c) = &self.class {
            write!(f, " in class {c}")?;
        }
        Ok(())
    }
}

impl Display for Link {
    /// `a -> b` or `a <-> b`.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let arrow = if self.both { "<->" } else { "->" };
        write!(f, "{} {arrow} {}", self.from, self.to)
    }
}

impl Display for Action {
    /// The action without its trigger, e.g. `drop n1 -> n2 p=0.2 seed=7`.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Action::Partition {
                a,
                b,
                oneway,
                duration,
                refuse,
            } => {
                f.write_str("partition ")?;
                if *oneway && a.len() == 1 && b.len() == 1 {
                    write!(f, "{} -> {}", a[0], b[0])?;
                } else {
                    group(f, a)?;
                    f.write_str(if *oneway { " -> " } else { " | " })?;
                    group(f, b)?;
                }
                if let Some(d) = duration {
                    write!(f, " for {}", dur(d))?;
                }
                if *refuse {
                    f.write_str(" refuse")?;
                }
                Ok(())
            }
            Action::Drop { link, nth, p, seed } => {
                write!(f, "drop {link}")?;
                if let Some(n) = nth {
                    write!(f, " #{n}")?;
                }
                if let Some(p) = p {
                    // `+ 0.0` prints -0 as 0.
                    write!(f, " p={}", p + 0.0)?;
                    if *seed != 0 {
                        write!(f, " seed={seed}")?;
                    }
                }
                Ok(())
            }
            Action::Crash { node } => write!(f, "crash {node}"),
            Action::Restart { node } => write!(f, "restart {node}"),
            Action::Pause { node, duration } => write!(f, "pause {node} for {}", dur(duration)),
            Action::Delay { link, by } => write!(f, "delay {link} {}", dur(by)),
            Action::Reset { link } => write!(f, "reset {link}"),
            Action::Fail { event, errno } => {
                write!(f, "fail {event} with ")?;
                match bop_syscalls::errno_name(*errno) {
                    "E?" => write!(f, "{errno}"),
                    name => f.write_str(name),
                }
            }
        }
    }
}

impl Display for Trigger {
    /// `at WHEN` or `after WHEN`.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Trigger::At(w) => write!(f, "at {w}"),
            Trigger::After(w) => write!(f, "after {w}"),
        }
    }
}

impl Display for When {
    /// A duration (`2s`) or an event (`server.send(client)#1`).
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            When::Time(d) => write!(f, "{}", dur(d)),
            When::Event(e) => write!(f, "{e}"),
        }
    }
}

impl Display for EventPat {
    /// `NODE.OP`, then `(PEER)` and `#N` when given.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.node, self.op)?;
        if let Some(peer) = &self.peer {
            write!(f, "({peer})")?;
        }
        if let Some(n) = self.nth {
            write!(f, "#{n}")?;
        }
        Ok(())
    }
}
