//! The one-screen summary printed at the end of a run and by `bop stats`.

use std::collections::BTreeMap;
use std::fmt::Write;

use bop_trace::{Footer, Trace};

/// Per-node totals, from a footer or recounted from a trace's events.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct NodeSummary {
    /// Node name.
    pub name: String,
    /// Its processes.
    pub pids: Vec<i32>,
    /// Threads seen.
    pub threads: u64,
    /// How its first process ended ("0", "SIGKILL", "running").
    pub exit: String,
    /// Events recorded.
    pub events: u64,
    /// Bytes sent on sockets and pipes.
    pub bytes_sent: u64,
    /// Bytes received on sockets and pipes.
    pub bytes_received: u64,
}

/// Recounts per-node totals from the events of a trace (works without a footer).
pub fn from_trace(trace: &Trace) -> Vec<NodeSummary> {
    let mut order: Vec<String> = trace
        .header
        .as_ref()
        .map(|h| h.nodes.iter().map(|n| n.name.clone()).collect())
        .unwrap_or_default();
    let mut by: BTreeMap<String, NodeSummary> = BTreeMap::new();
    let mut tids: BTreeMap<String, std::collections::BTreeSet<i32>> = BTreeMap::new();
    for e in &trace.events {
        if !order.iter().any(|n| *n == e.node) {
            order.push(e.node.to_string());
        }
        let s = by.entry(e.node.to_string()).or_insert_with(|| NodeSummary {
            name: e.node.to_string(),
            exit: "running".into(),
            ..NodeSummary::default()
        });
        s.events += 1;
        if !s.pids.contains(&e.pid) {
            s.pids.push(e.pid);
        }
        tids.entry(e.node.to_string()).or_default().insert(e.tid);
        let comm = e.sock.is_some() || e.target.as_deref().is_some_and(|t| t.starts_with("pipe:"));
        if comm {
            match (e.op.as_deref(), e.bytes) {
                (Some("send"), Some(b)) => s.bytes_sent += b,
                (Some("recv"), Some(b)) if e.flags.unwrap_or(0) & 2 == 0 => s.bytes_received += b,
                _ => {}
            }
        }
        if e.kind == "exit" && s.pids.first() == Some(&e.pid) && e.pid == e.tid {
            s.exit = match (&e.status, &e.signal) {
                (Some(c), _) => c.to_string(),
                (_, Some(sig)) => sig.clone(),
                _ => "?".into(),
            };
        }
    }
    for (node, t) in tids {
        if let Some(s) = by.get_mut(&node) {
            s.threads = t.len() as u64;
        }
    }
    order
        .into_iter()
        .map(|n| {
            by.remove(&n).unwrap_or(NodeSummary {
                name: n,
                exit: "not started".into(),
                ..NodeSummary::default()
            })
        })
        .collect()
}

/// The per-node rows of a run's footer.
pub fn from_footer(f: &Footer) -> Vec<NodeSummary> {
    f.nodes
        .iter()
        .map(|n| NodeSummary {
            name: n.name.clone(),
            pids: n.pids.clone(),
            threads: n.threads,
            exit: match (&n.exit, &n.signal) {
                (Some(c), _) => format!("{c}{}", if n.stopped_by_bop { " (stopped)" } else { "" }),
                (_, Some(s)) => format!("{s}{}", if n.stopped_by_bop { " (stopped)" } else { "" }),
                _ if n.pids.is_empty() => "not started".into(),
                _ => "running".into(),
            },
            events: n.events,
            bytes_sent: n.bytes_sent,
            bytes_received: n.bytes_received,
        })
        .collect()
}

fn pids(p: &[i32]) -> String {
    match p.len() {
        0 => "-".into(),
        1..=3 => p
            .iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(","),
        n => format!("{},{} +{}", p[0], p[1], n - 2),
    }
}

/// A table of the nodes.
pub fn table(rows: &[NodeSummary]) -> String {
    let w = rows.iter().map(|r| r.name.len()).max().unwrap_or(4).max(4);
    // the pids and exit columns as wide as their widest cell ("SIGTERM (stopped)")
    let pids: Vec<String> = rows.iter().map(|r| pids(&r.pids)).collect();
    let pw = pids
        .iter()
        .map(|p| p.chars().count())
        .max()
        .unwrap_or(0)
        .max(18);
    let ew = rows
        .iter()
        .map(|r| r.exit.chars().count())
        .max()
        .unwrap_or(0)
        .max(14);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "  {:w$}  {:<pw$} {:>7} {:<ew$} {:>8} {:>12} {:>12}",
        "node", "pids", "threads", "exit", "events", "sent", "received"
    );
    for (r, p) in rows.iter().zip(&pids) {
        let _ = writeln!(
            out,
            "  {:w$}  {:<pw$} {:>7} {:<ew$} {:>8} {:>10} B {:>10} B",
            r.name, p, r.threads, r.exit, r.events, r.bytes_sent, r.bytes_received
        );
    }
    out
}

/// What a fault rule did in a run, in words: "never fired (why)", or "fired 2×: came into
/// force, lost 1 message".
pub fn fault_outcome(r: &bop_trace::RuleOutcome) -> String {
    if r.fired == 0 {
        return match &r.note {
            Some(why) => format!("never fired ({why})"),
            None => "never fired".into(),
        };
    }
    // in the order they happen to a run: coming into force, then what it did
    const ORDER: [&str; 12] = [
        "start",
        "crash",
        "pause",
        "restart",
        "partition",
        "drop",
        "delay",
        "reset",
        "refuse",
        "fail",
        "timeout",
        "heal",
    ];
    let mut kinds: Vec<(&String, &u64)> = r.acts.iter().collect();
    kinds.sort_by_key(|(k, _)| ORDER.iter().position(|o| o == k).unwrap_or(ORDER.len()));
    let acts: Vec<String> = kinds
        .into_iter()
        .map(|(what, &n)| {
            let times = |verb: &str| match n {
                1 => verb.to_string(),
                _ => format!("{verb} {n}×"),
            };
            match what.as_str() {
                "start" => "came into force".to_string(),
                "partition" | "drop" => format!("lost {}", bop_trace::count(n, "message")),
                "delay" => format!("delayed {}", bop_trace::count(n, "message")),
                "reset" => format!("reset {}", bop_trace::count(n, "connection")),
                "refuse" => format!("refused {}", bop_trace::count(n, "connection")),
                "fail" => format!("failed {}", bop_trace::count(n, "call")),
                "timeout" => format!("timed out {}", bop_trace::count(n, "call")),
                "crash" => times("crashed the node"),
                "pause" => times("paused the node"),
                "restart" => times("restarted the node"),
                "heal" => times("healed"),
                other => format!("{other} {n}×"),
            }
        })
        .collect();
    let mut out = if acts.is_empty() {
        format!("fired {}×", r.fired)
    } else {
        format!("fired {}×: {}", r.fired, acts.join(", "))
    };
    if let Some(c) = &r.caveat {
        out.push_str(&format!(" (unsure: {c})"));
    }
    out
}

/// What makes the run's graph unsure, in words, from its footer: events released without
/// their cause, and calls whose order on a stream bop guessed. `None` when there is nothing
/// to doubt (or the trace is older than the counts).
pub fn graph_doubts(f: &Footer) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(n) = f.hold_limit_releases.filter(|&n| n > 0) {
        let its = if n == 1 { "its" } else { "their" };
        parts.push(format!(
            "{} released without {its} cause (hold limit or end of run): {its} edges are a guess",
            bop_trace::count(n, "event")
        ));
    }
    if let Some(n) = f.order_guesses.filter(|&n| n > 0) {
        parts.push(format!(
            "{} let overlap another on the same stream after waiting {} ms: the order of their bytes is a guess",
            bop_trace::count(n, "call"),
            crate::serial::WAIT_LIMIT.as_millis()
        ));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}
