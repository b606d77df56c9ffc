//! Graphviz: one column per host, program order top to bottom, causal edges across.

use crate::layout::columns;
use crate::model::Model;

/// The fill colour of an event's box, by its operation word.
pub(crate) fn op_fill(op: &str) -> &'static str {
    match op {
        "send" => "#dbeafe",
        "recv" => "#dcfce7",
        "eof" => "#ffedd5",
        "connect" | "accept" => "#ccfbf1",
        "fork" | "spawn" | "exec" => "#ede9fe",
        "exit" | "wait" => "#e7e5e4",
        "signal" | "kill" => "#fee2e2",
        "fault" => "#fecaca",
        "warning" => "#fef9c3",
        _ => "#f3f4f6",
    }
}

/// The edge kinds with a style of their own ([`edge_style`]), in the legends' order, and
/// `other` for the rest.
pub(crate) const EDGE_KINDS: [&str; 8] = [
    "msg", "connect", "eof", "reset", "fork", "exit", "signal", "other",
];

/// The colour and Graphviz style of an edge, by kind.
pub(crate) fn edge_style(kind: &str) -> (&'static str, &'static str) {
    match kind {
        "msg" => ("#2563eb", "solid"),
        "connect" => ("#0d9488", "dashed"),
        "eof" => ("#ea580c", "dotted"),
        "reset" => ("#dc2626", "bold"),
        "fork" => ("#7c3aed", "solid"),
        "exit" => ("#57534e", "dashed"),
        "signal" => ("#be123c", "dashed"),
        _ => ("#6b7280", "solid"),
    }
}

/// A DOT string literal.
fn q(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Text for a Graphviz HTML-like label.
fn html_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Graphviz source: a cluster per host (its name on top, its events in program order,
/// chained by heavy grey edges that keep the column straight), and the causal edges between
/// hosts coloured and styled by kind. Boxes show the short label; tooltips the full text.
pub fn dot(m: &Model, title: &str) -> String {
    let mut o = String::new();
    o.push_str("digraph bop {\n");
    o.push_str(&format!(
        "  graph [rankdir=TB, newrank=true, nodesep=0.3, ranksep=0.2, fontname=\"Helvetica\", \
         fontsize=12, labelloc=t, label={}];\n",
        q(title)
    ));
    o.push_str(
        "  node [shape=box, style=\"rounded,filled\", color=\"#9ca3af\", fontname=\"Helvetica\", \
         fontsize=9, height=0.2, margin=\"0.05,0.02\"];\n",
    );
    o.push_str("  edge [fontname=\"Helvetica\", fontsize=8, arrowsize=0.6];\n");
    // the hosts in the order of the other drawings (Graphviz may still move the columns)
    let col = columns(m);
    let mut order: Vec<usize> = (0..m.hosts.len()).collect();
    order.sort_by_key(|&h| col[h]);
    for &h in &order {
        let host = &m.hosts[h];
        o.push_str(&format!(
            "  subgraph cluster_{h} {{\n    label=\"\"; style=\"rounded,filled\"; fillcolor=\"#f9fafb\"; \
             color=\"#d1d5db\";\n    h{h} [shape=plaintext, style=\"\", fontsize=11, label=<<b>{}</b><br/>\
             <font point-size=\"8\" color=\"#6b7280\">pid {} tid {}</font>>];\n",
            html_text(&host.name),
            host.pid,
            host.tid
        ));
        if let Some(&first) = host.events.first() {
            o.push_str(&format!(
                "    h{h} -> e{} [style=invis, weight=100];\n",
                m.events[first].id
            ));
        }
        for &ix in &host.events {
            let ev = &m.events[ix];
            let border = if ev.failed() {
                ", color=\"#dc2626\""
            } else {
                ""
            };
            o.push_str(&format!(
                "    e{} [label={}, fillcolor=\"{}\", tooltip={}{border}];\n",
                ev.id,
                q(&ev.label),
                op_fill(&ev.op),
                q(&format!("#{} {}: {}", ev.id, host.name, ev.text))
            ));
        }
        for w in host.events.windows(2) {
            o.push_str(&format!(
                "    e{} -> e{} [color=\"#c0c4cc\", arrowhead=none, weight=100];\n",
                m.events[w[0]].id, m.events[w[1]].id
            ));
        }
        o.push_str("  }\n");
    }
    // the host names in one row, in column order (a hint: Graphviz places clusters itself)
    if !m.hosts.is_empty() {
        let heads: Vec<String> = order.iter().map(|h| format!("h{h}")).collect();
        o.push_str(&format!("  {{ rank=min; {}; }}\n", heads.join("; ")));
        if heads.len() > 1 {
            o.push_str(&format!("  {} [style=invis];\n", heads.join(" -> ")));
        }
    }
    for l in &m.links {
        let Some(from) = l.from else { continue };
        let (color, style) = edge_style(&l.kind);
        let label = match (&*l.kind, l.bytes) {
            ("msg", Some(b)) => format!("{b}B"),
            ("msg", None) => String::new(),
            (k, _) => k.to_string(),
        };
        o.push_str(&format!(
            "  e{} -> e{} [color=\"{color}\", fontcolor=\"{color}\", style={style}, label={}, tooltip={}];\n",
            m.events[from].id,
            m.events[l.to].id,
            q(&label),
            q(&format!("{} #{} -> #{}", l.kind, m.events[from].id, m.events[l.to].id))
        ));
    }
    o.push_str("}\n");
    o
}
