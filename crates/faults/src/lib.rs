//! Fault rules in the vocabulary of the communication graph.
//!
//! A [`Rule`] is an [`Action`] (partition, drop, crash, restart, pause, delay, reset, fail) and an
//! optional [`Trigger`] (`at`/`after` a time or an event such as `server.send(client)#1`). This
//! crate parses rules ([`parse_rule`], [`parse_file`]), prints them back in canonical form
//! (`Display`), checks node names ([`Rule::check_nodes`]), and decides which injections a run
//! must make ([`Engine`]). It knows nothing of ptrace: the run loop asks the engine at each
//! syscall stop and carries out its answer. See `docs/faults.md`.

mod ast;
mod engine;
mod parse;
mod print;

pub use ast::{Action, EventPat, Link, Rule, Trigger, When};
pub use engine::{
    counted, succeeded, Counted, Decision, Effect, Engine, Fired, Step, CONNECT_WAIT,
};
pub use parse::{parse_file, parse_rule, ParseError};
