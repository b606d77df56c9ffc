//! Chrome Trace Event JSON, as ui.perfetto.dev (and chrome://tracing) open it.

use bop_trace::Event;
use serde::Serialize;
use serde_json::json;

use crate::json::NamedClock;
use crate::model::Model;

/// Microseconds (the format's unit) from nanoseconds.
fn us(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

/// `{"traceEvents": [...]}`: a process per node (pid = the node's index + 1, named by
/// `process_name` metadata), a thread per host (tid = lane + 1, named by `thread_name`), a
/// complete slice per event at its `ts` (named by its label, with its text and fields as args),
/// and a flow (`ph: "s"` at the cause, `ph: "f"` with `bp: "e"` at the effect, same `id`) for
/// every edge between hosts.
///
/// An event's time is its `ts`, moved just after its host's previous event and its causes when
/// it is not already (the tracer's timestamps are when bop saw a call end: a receive can be
/// seen before the send it got bytes from); the raw `ts` stays in the args. Each slice lasts
/// until the host's next event, at most 1 µs, so slices never overlap.
pub fn perfetto(m: &Model, title: &str) -> String {
    let mut out = String::from("{\"traceEvents\": [");
    for (n, node) in m.nodes.iter().enumerate() {
        if node.hosts.is_empty() {
            continue;
        }
        let pid = n + 1;
        push(
            &mut out,
            &json!({"ph": "M", "name": "process_name", "pid": pid, "tid": 0,
            "args": {"name": node.name}}),
        );
        push(
            &mut out,
            &json!({"ph": "M", "name": "process_sort_index", "pid": pid, "tid": 0,
            "args": {"sort_index": n}}),
        );
    }
    let tid_of = |h: usize| m.hosts.get(h).map_or(0, |x| u64::from(x.lane) + 1);
    for (h, host) in m.hosts.iter().enumerate() {
        push(
            &mut out,
            &json!({"ph": "M", "name": "thread_name", "pid": host.node + 1, "tid": tid_of(h),
            "args": {"name": format!("{} (pid {} tid {})", host.name, host.pid, host.tid)}}),
        );
        push(
            &mut out,
            &json!({"ph": "M", "name": "thread_sort_index", "pid": host.node + 1,
            "tid": tid_of(h), "args": {"sort_index": h}}),
        );
    }
    // times that never go back along an edge: after the host's previous event and after the
    // causes (in id order, every cause comes first)
    let mut ts = vec![0u64; m.events.len()];
    let mut causes: Vec<Vec<usize>> = vec![Vec::new(); m.events.len()];
    for l in &m.links {
        if let Some(f) = l.from.filter(|&f| f < l.to) {
            causes[l.to].push(f);
        }
    }
    for (ix, ev) in m.events.iter().enumerate() {
        let prev = ev
            .pos
            .checked_sub(1)
            .and_then(|p| m.hosts[ev.host].events.get(p as usize));
        let floor = prev
            .into_iter()
            .chain(causes[ix].iter())
            .map(|&c| ts[c].saturating_add(1))
            .max()
            .unwrap_or(0);
        ts[ix] = ev.event.ts.max(floor);
    }
    let mut dur = vec![1000u64; m.events.len()];
    for host in &m.hosts {
        for w in host.events.windows(2) {
            dur[w[0]] = ts[w[1]].saturating_sub(ts[w[0]]).min(1000);
        }
    }
    for (ix, ev) in m.events.iter().enumerate() {
        let host = &m.hosts[ev.host];
        push(
            &mut out,
            &Slice {
                ph: "X",
                name: &ev.label,
                cat: &ev.op,
                pid: host.node + 1,
                tid: tid_of(ev.host),
                ts: us(ts[ix]),
                dur: us(dur[ix]),
                args: SliceArgs {
                    text: &ev.text,
                    id: ev.id,
                    host: &host.name,
                    vc: NamedClock { model: m, ix },
                    event: ev.event,
                },
            },
        );
    }
    let mut flow = 0u64;
    for l in &m.links {
        let Some(from) = l.from else { continue };
        let (a, b) = (&m.events[from], &m.events[l.to]);
        if a.host == b.host {
            continue;
        }
        flow += 1;
        let name = match l.bytes {
            Some(n) => format!("{} {n}B", l.kind),
            None => l.kind.clone(),
        };
        let (pa, pb) = (m.hosts[a.host].node + 1, m.hosts[b.host].node + 1);
        let start = json!({"ph": "s", "id": flow, "name": name, "cat": "bop", "pid": pa,
            "tid": tid_of(a.host), "ts": us(ts[from])});
        let finish = json!({"ph": "f", "bp": "e", "id": flow, "name": name, "cat": "bop",
            "pid": pb, "tid": tid_of(b.host), "ts": us(ts[l.to])});
        push(&mut out, &start);
        push(&mut out, &finish);
    }
    out.push_str("\n],\n\"displayTimeUnit\": \"ns\",\n\"otherData\": ");
    let other = json!({"source": "bop export", "trace": title});
    out.push_str(&serde_json::to_string(&other).unwrap_or_else(|_| "{}".into()));
    out.push_str("}\n");
    out
}

/// Appends one trace event to the `traceEvents` array being written.
fn push(out: &mut String, v: &impl Serialize) {
    if let Ok(s) = serde_json::to_string(v) {
        if !out.ends_with('[') {
            out.push(',');
        }
        out.push('\n');
        out.push_str(&s);
    }
}

/// A complete event ("X"): one trace event as a slice of its thread's track.
#[derive(Serialize)]
struct Slice<'m, 'a> {
    ph: &'static str,
    name: &'m str,
    cat: &'m str,
    pid: usize,
    tid: u64,
    ts: f64,
    dur: f64,
    args: SliceArgs<'m, 'a>,
}

/// What Perfetto shows for a selected slice.
#[derive(Serialize)]
struct SliceArgs<'m, 'a> {
    text: &'m str,
    id: u64,
    host: &'m str,
    vc: NamedClock<'m, 'a>,
    event: &'a Event,
}
