//! The graph as plain JSON, for other tools (and the HTML viewer).

use bop_trace::Event;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use crate::model::Model;

/// A clock keyed by host name, serialized straight from the model.
pub(crate) struct NamedClock<'m, 'a> {
    pub model: &'m Model<'a>,
    pub ix: usize,
}

impl Serialize for NamedClock<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let clock = self.model.events.get(self.ix).map(|e| &e.clock);
        let entries: Vec<(&str, u64)> = clock
            .into_iter()
            .flatten()
            .filter(|(_, &v)| v > 0)
            .filter_map(|(&h, &v)| self.model.hosts.get(h).map(|h| (h.name.as_str(), v)))
            .collect();
        let mut map = s.serialize_map(Some(entries.len()))?;
        for (k, v) in entries {
            map.serialize_entry(k, &v)?;
        }
        map.end()
    }
}

#[derive(Serialize)]
struct TraceOut<'a> {
    name: &'a str,
    verdict: Option<&'a str>,
    reason: Option<&'a str>,
    complete: bool,
    truncated: bool,
    start_unix_ms: Option<u64>,
    bop_version: Option<&'a str>,
}

#[derive(Serialize)]
struct HostOut<'a> {
    name: &'a str,
    node: &'a str,
    lane: u32,
    pid: i32,
    tid: i32,
    events: usize,
}

#[derive(Serialize)]
struct EventOut<'m, 'a> {
    id: u64,
    host: &'m str,
    lane: u32,
    seq: u64,
    node: &'a str,
    pid: i32,
    tid: i32,
    ts: u64,
    kind: &'a str,
    op: &'m str,
    syscall: Option<&'a str>,
    text: &'m str,
    label: &'m str,
    peer: Option<&'m str>,
    bytes: Option<u64>,
    fd: Option<i32>,
    errno: Option<&'a str>,
    vc: NamedClock<'m, 'a>,
    event: &'a Event,
}

#[derive(Serialize)]
struct EdgeOut<'m> {
    from: u64,
    to: Option<u64>,
    kind: &'m str,
    bytes: Option<u64>,
}

/// The graph, ready to serialize; `extra` is merged in at the top level (the page's palette).
#[derive(Serialize)]
pub(crate) struct GraphOut<'m, 'a, X: Serialize> {
    trace: TraceOut<'m>,
    nodes: Vec<&'m str>,
    hosts: Vec<HostOut<'m>>,
    events: Vec<EventOut<'m, 'a>>,
    edges: Vec<EdgeOut<'m>>,
    warnings: &'m [String],
    #[serde(flatten)]
    extra: X,
}

/// The JSON export's document for `m`, with `extra`'s fields added at the top level.
pub(crate) fn graph_out<'m, 'a, X: Serialize>(
    m: &'m Model<'a>,
    title: &'m str,
    extra: X,
) -> GraphOut<'m, 'a, X> {
    let t = m.trace;
    let hosts = m
        .hosts
        .iter()
        .map(|h| HostOut {
            name: &h.name,
            node: m.nodes.get(h.node).map_or("", |n| n.name.as_str()),
            lane: h.lane,
            pid: h.pid,
            tid: h.tid,
            events: h.events.len(),
        })
        .collect();
    let events = m
        .events
        .iter()
        .enumerate()
        .map(|(ix, ev)| {
            let e = ev.event;
            let host = m.hosts.get(ev.host);
            EventOut {
                id: ev.id,
                host: host.map_or("", |h| h.name.as_str()),
                lane: host.map_or(0, |h| h.lane),
                seq: e.seq,
                node: &e.node,
                pid: e.pid,
                tid: e.tid,
                ts: e.ts,
                kind: &e.kind,
                op: &ev.op,
                syscall: e.syscall.as_deref(),
                text: &ev.text,
                label: &ev.label,
                peer: ev.peer.as_deref(),
                bytes: e.bytes,
                fd: e.fd,
                errno: e.errno.as_deref(),
                vc: NamedClock { model: m, ix },
                event: e,
            }
        })
        .collect();
    let edges = m
        .links
        .iter()
        .map(|l| EdgeOut {
            from: l.from_id,
            to: m.events.get(l.to).map(|e| e.id),
            kind: &l.kind,
            bytes: l.bytes,
        })
        .collect();
    GraphOut {
        trace: TraceOut {
            name: title,
            verdict: t.footer.as_ref().map(|f| f.verdict.as_str()),
            reason: t.footer.as_ref().and_then(|f| f.reason.as_deref()),
            complete: t.footer.is_some() && !t.truncated,
            truncated: t.truncated,
            start_unix_ms: t.header.as_ref().map(|h| h.start_unix_ms),
            bop_version: t.header.as_ref().map(|h| h.bop_version.as_str()),
        },
        nodes: m.nodes.iter().map(|n| n.name.as_str()).collect(),
        hosts,
        events,
        edges,
        warnings: &m.warnings,
        extra,
    }
}

/// No extra fields.
#[derive(Serialize)]
pub(crate) struct Nothing {}

/// The graph as pretty JSON: `nodes` (names), `hosts` (`name`, `node`, `lane`, `pid`, `tid`,
/// `events`), `events` in id order (`id`, `host`, `lane`, `seq`, `node`, `pid`, `tid`, `ts`,
/// `kind`, `op` (the word the text starts with), `syscall`, `text`, `label`, `peer`, `bytes`,
/// `fd`, `errno`, `vc` keyed by host name, and `event`: the trace event as recorded), `edges`
/// (`from`, `to` event ids, `kind`, `bytes`: every `from` edge of every event), `trace` (its
/// name, verdict, whether it is complete) and `warnings`.
pub fn json(m: &Model, title: &str) -> String {
    let mut s = serde_json::to_string_pretty(&graph_out(m, title, Nothing {}))
        .unwrap_or_else(|e| format!("{{\"error\": {:?}}}", e.to_string()));
    s.push('\n');
    s
}
