//! Communication between nodes, from a trace's graph: connections, messages and bytes per pair
//! of nodes, the node-to-node matrix, and what could not be attributed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write;

use bop_trace::{Event, Trace};

/// Totals for one ordered pair of nodes (sender → receiver).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Pair {
    /// The sending (or connecting) node.
    pub from: String,
    /// The receiving (or accepting) node.
    pub to: String,
    /// Connections `from` opened that `to` accepted.
    pub connections: u64,
    /// Distinct sends of `from` whose bytes `to` received (datagrams: one each).
    pub messages: u64,
    /// Bytes `to` received from `from`.
    pub bytes: u64,
}

/// Everything `bop stats` says about communication.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Comm {
    /// Per ordered pair of nodes, sorted.
    pub pairs: Vec<Pair>,
    /// Bytes received on connections between traced nodes that no traced send accounts for.
    pub unmatched_bytes: u64,
    /// Datagrams between traced nodes never received (lost), plus received ones no traced
    /// send accounts for.
    pub unmatched_datagrams: u64,
    /// Bytes received from peers outside the traced system.
    pub external_bytes: u64,
    /// Connections accepted from, or made to, peers outside the traced system.
    pub external_connections: u64,
}

fn is_dgram(e: &Event) -> bool {
    e.sock.as_ref().is_some_and(|s| s.ty == "dgram")
}

/// Computes the communication totals of a trace.
pub fn comm(trace: &Trace) -> Comm {
    let by_id: HashMap<u64, &Event> = trace
        .events
        .iter()
        .filter_map(|e| e.id.map(|id| (id, e)))
        .collect();
    // addresses and inodes owned by traced sockets, and pipes written by traced processes
    let mut local_addrs: BTreeSet<String> = BTreeSet::new();
    let mut sock_ids: BTreeSet<u64> = BTreeSet::new();
    let mut pipes_written: BTreeSet<String> = BTreeSet::new();
    for e in &trace.events {
        if let Some(s) = &e.sock {
            sock_ids.insert(s.id);
            if let Some(l) = &s.local {
                local_addrs.insert(l.to_string());
            }
        }
        if let Some(t) = &e.target {
            if let Some(p) = t.strip_suffix('w') {
                pipes_written.insert(p.to_string());
            }
        }
    }
    let internal = |e: &Event| -> bool {
        if let Some(s) = &e.sock {
            if s.family == "unix" {
                return s.peer_id.is_some_and(|p| sock_ids.contains(&p))
                    || s.peer
                        .as_ref()
                        .is_some_and(|p| local_addrs.contains(&p.to_string()));
            }
            let peer = e.addr.as_ref().or(s.peer.as_ref());
            return peer.is_some_and(|p| {
                local_addrs.contains(&p.to_string()) || port_owned(&local_addrs, &p.to_string())
            });
        }
        e.target
            .as_deref()
            .and_then(|t| t.strip_suffix('r'))
            .is_some_and(|p| pipes_written.contains(p))
    };
    let mut pairs: BTreeMap<(String, String), (Pair, BTreeSet<u64>)> = BTreeMap::new();
    let mut out = Comm::default();
    let mut received_dgrams: BTreeSet<u64> = BTreeSet::new();
    for e in &trace.events {
        let op = e.op.as_deref();
        for ed in e.from.iter().flatten() {
            let Some(src) = by_id.get(&ed.id) else {
                continue;
            };
            if ed.kind != "msg" && ed.kind != "connect" {
                continue;
            }
            let key = (src.node.to_string(), e.node.to_string());
            let entry = pairs.entry(key.clone()).or_insert_with(|| {
                (
                    Pair {
                        from: key.0.clone(),
                        to: key.1.clone(),
                        ..Pair::default()
                    },
                    BTreeSet::new(),
                )
            });
            match &*ed.kind {
                "msg" => {
                    entry.0.bytes += ed.bytes.unwrap_or(0);
                    if entry.1.insert(ed.id) {
                        entry.0.messages += 1;
                    }
                    if is_dgram(e) {
                        received_dgrams.insert(ed.id);
                    }
                }
                "connect" => entry.0.connections += 1,
                _ => {}
            }
        }
        if op == Some("recv") {
            if let Some(u) = e.unmatched.filter(|&u| u > 0) {
                let dgram = is_dgram(e);
                match (internal(e), dgram) {
                    (true, false) => out.unmatched_bytes += u,
                    (true, true) => out.unmatched_datagrams += 1,
                    (false, _) => out.external_bytes += u,
                }
            }
        }
        if op == Some("accept") && e.errno.is_none() && e.from.is_none() {
            out.external_connections += 1;
        }
    }
    // datagrams sent to a traced socket and never received
    for e in &trace.events {
        if e.op.as_deref() == Some("send")
            && is_dgram(e)
            && e.errno.is_none()
            && e.id.is_some_and(|id| !received_dgrams.contains(&id))
            && internal(e)
        {
            out.unmatched_datagrams += 1;
        }
    }
    out.pairs = pairs.into_values().map(|(p, _)| p).collect();
    out
}

/// Whether some traced socket is bound to the port of `addr` on a wildcard address.
fn port_owned(locals: &BTreeSet<String>, addr: &str) -> bool {
    let Some((_, port)) = addr.rsplit_once(':') else {
        return false;
    };
    locals.contains(&format!("0.0.0.0:{port}")) || locals.contains(&format!("[::]:{port}"))
}

/// The pairs as a table and the node-to-node matrix of messages (bytes).
pub fn render(c: &Comm, nodes: &[String]) -> String {
    let mut s = String::new();
    if c.pairs.is_empty() {
        let _ = writeln!(s, "  no messages between traced nodes");
    } else {
        let w = c
            .pairs
            .iter()
            .map(|p| p.from.len() + p.to.len() + 4)
            .max()
            .unwrap_or(10)
            .max(10);
        let _ = writeln!(
            s,
            "  {:w$} {:>11} {:>9} {:>12}",
            "from -> to", "connections", "messages", "bytes"
        );
        for p in &c.pairs {
            let _ = writeln!(
                s,
                "  {:w$} {:>11} {:>9} {:>12}",
                format!("{} -> {}", p.from, p.to),
                p.connections,
                p.messages,
                p.bytes
            );
        }
        // matrix: rows send, columns receive
        let cw = nodes.iter().map(|n| n.len()).max().unwrap_or(4).max(8);
        let _ = writeln!(s, "\n  messages (bytes), row sends to column:");
        let _ = write!(s, "  {:cw$}", "");
        for n in nodes {
            let _ = write!(s, " {:>cw$}", n);
        }
        let _ = writeln!(s);
        for from in nodes {
            let _ = write!(s, "  {:cw$}", from);
            for to in nodes {
                let cell = c
                    .pairs
                    .iter()
                    .find(|p| &p.from == from && &p.to == to)
                    .map(|p| format!("{} ({})", p.messages, p.bytes))
                    .unwrap_or_else(|| "-".into());
                let _ = write!(s, " {:>cw$}", cell);
            }
            let _ = writeln!(s);
        }
    }
    let _ = writeln!(
        s,
        "\n  unmatched: {} bytes, {} datagrams between traced nodes; from outside: {} bytes, {} connections",
        c.unmatched_bytes, c.unmatched_datagrams, c.external_bytes, c.external_connections
    );
    s
}
