//! The space-time diagram as one SVG file, laid out by bop (no Graphviz): a column per
//! host, the events top to bottom, the edges as arrows. The same drawing as the HTML page's,
//! without the page's interaction; it takes time linear in the size of the trace.

use std::collections::BTreeSet;
use std::fmt::Write;

use crate::dot::{edge_style, EDGE_KINDS};
use crate::html::{escape, OP_COLORS};
use crate::layout::{columns, node_color, rows, Rows};
use crate::model::Model;

/// Left margin, and the space between a column's edge and its lane line.
const LEFT: f64 = 24.0;
const LANE_INSET: f64 = 14.0;
/// Height of a row.
const ROW_H: f64 = 24.0;
/// Where the lane headers start, their height, and the gap before the first row.
const HEAD_Y: f64 = 96.0;
const HEAD_H: f64 = 40.0;
const GAP: f64 = 22.0;
/// Roughly how wide a character of the labels (10.5 px monospace) and of the legend is.
const LABEL_CHAR_W: f64 = 6.6;
const LEGEND_CHAR_W: f64 = 6.8;

/// An SVG `stroke-dasharray` and width for an edge style (the same as the page's).
fn dash_width(style: &str) -> (&'static str, f64) {
    match style {
        "dashed" => ("6 4", 1.4),
        "dotted" => ("1.5 3", 1.4),
        "bold" => ("", 2.4),
        _ => ("", 1.4),
    }
}

/// The fill of an event's dot by its operation (the page's colours).
fn op_color(op: &str) -> &'static str {
    OP_COLORS
        .iter()
        .find(|(o, _)| *o == op)
        .or_else(|| OP_COLORS.iter().find(|(o, _)| *o == "other"))
        .map_or("#cbd5e1", |(_, c)| c)
}

/// The edge kind a marker and legend entry is drawn for: the kinds with a style of their own,
/// every other as `other`.
fn edge_class(kind: &str) -> &str {
    if EDGE_KINDS.contains(&kind) {
        kind
    } else {
        "other"
    }
}

/// The space-time diagram of `m` as a standalone SVG document: a header (the title, counts,
/// verdict and a legend), a column per host (named on top and at the bottom, coloured by node,
/// in the order of [`columns`]), one dot per event in the row [`rows`] gives it (labelled with
/// the operation and size; hover for the whole text), arrows for the edges coloured by kind.
/// Elements carry ids (`e42` for event 42) and `<title>` tooltips.
pub fn svg(m: &Model, title: &str, how: Rows) -> String {
    let col = columns(m);
    let row = rows(m, how);
    let depth = row.iter().map(|r| r + 1).max().unwrap_or(1);
    let max_label = m
        .events
        .iter()
        .map(|e| e.label.chars().count())
        .max()
        .unwrap_or(0)
        .max(8);
    let col_w = (26.0 + max_label as f64 * LABEL_CHAR_W + 24.0).clamp(150.0, 280.0);
    let x_of = |h: usize| LEFT + col[h] as f64 * col_w + LANE_INSET;
    let top = HEAD_Y + HEAD_H + GAP;
    let y_of = |ix: usize| top + row[ix] as f64 * ROW_H;
    let rows_end = top + (depth - 1) as f64 * ROW_H;
    let foot_y = rows_end + GAP;

    // the legend: the operations and edge kinds this trace has, in the page's order
    let ops: BTreeSet<&str> = m.events.iter().map(|e| e.op.as_str()).collect();
    let op_entries: Vec<(&str, &str)> = OP_COLORS
        .iter()
        .filter(|(o, _)| ops.contains(o) || (*o == "other" && ops.iter().any(|x| !has_color(x))))
        .map(|&(o, c)| (o, c))
        .collect();
    let kinds: BTreeSet<&str> = m
        .links
        .iter()
        .filter(|l| l.from.is_some())
        .map(|l| edge_class(&l.kind))
        .collect();
    let edge_entries: Vec<&str> = EDGE_KINDS
        .into_iter()
        .filter(|k| kinds.contains(k))
        .collect();
    let legend_w = |items: &mut dyn Iterator<Item = &str>| {
        2.0 * LEFT
            + 60.0
            + items
                .map(|s| 26.0 + s.chars().count() as f64 * LEGEND_CHAR_W)
                .sum::<f64>()
    };
    let text_w = |s: &str| s.chars().count() as f64 * LEGEND_CHAR_W;

    let t = m.trace;
    let mut meta = format!(
        "{} · {} · {} · {}",
        bop_trace::count(m.events.len(), "event"),
        bop_trace::count(m.hosts.len(), "thread"),
        bop_trace::count(m.nodes.len(), "node"),
        bop_trace::count(m.links.iter().filter(|l| l.from.is_some()).count(), "edge")
    );
    match &t.footer {
        Some(f) => {
            meta.push_str(" · ");
            meta.push_str(&f.verdict);
            if let Some(r) = &f.reason {
                meta.push_str(": ");
                meta.push_str(r);
            }
        }
        None => meta.push_str(" · incomplete (no footer)"),
    }
    if t.truncated {
        meta.push_str(" · truncated");
    }
    if how == Rows::Compact {
        meta.push_str(" · rows by causal depth");
    }

    let width = (LEFT + m.hosts.len() as f64 * col_w + LEFT)
        .max(legend_w(&mut op_entries.iter().map(|(o, _)| *o)))
        .max(legend_w(&mut edge_entries.iter().copied()))
        .max(LEFT * 2.0 + text_w(&meta))
        .max(LEFT * 2.0 + 15.0 * 0.6 * (title.chars().count() + 6) as f64)
        .ceil();
    let height = (foot_y + HEAD_H + GAP).ceil();

    let mut o = String::with_capacity(600 + m.events.len() * 330 + m.links.len() * 260);
    let _ = write!(
        o,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\">\n<title>{} · bop</title>\n",
        escape(title)
    );
    o.push_str(
        "<style>\n\
         text { font-family: system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif; fill: #0f172a; }\n\
         .label { font: 10.5px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; fill: #334155; \
         paint-order: stroke; stroke: #fff; stroke-width: 3px; stroke-linejoin: round; }\n\
         .muted { fill: #64748b; }\n\
         .lane { stroke-width: 2; stroke-opacity: .35; }\n\
         .edge { fill: none; stroke-opacity: .8; }\n\
         .dot { stroke: #fff; stroke-width: 1.5; }\n\
         .dot.failed { stroke: #dc2626; stroke-width: 2; }\n\
         </style>\n<defs>\n",
    );
    for k in EDGE_KINDS {
        let _ = writeln!(
            o,
            "<marker id=\"mk-{k}\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" \
             markerUnits=\"userSpaceOnUse\" markerWidth=\"9\" markerHeight=\"9\" orient=\"auto\">\
             <path d=\"M0,0L10,5L0,10z\" fill=\"{}\"/></marker>",
            edge_style(k).0
        );
    }
    o.push_str("</defs>\n");
    let _ = writeln!(
        o,
        "<rect width=\"{width}\" height=\"{height}\" fill=\"#ffffff\"/>"
    );

    // header: title, counts, legend
    let _ = writeln!(
        o,
        "<text x=\"{LEFT}\" y=\"26\" font-size=\"15\"><tspan font-weight=\"700\">bop</tspan> \
         {}</text>",
        escape(title)
    );
    let _ = writeln!(
        o,
        "<text class=\"muted\" x=\"{LEFT}\" y=\"45\" font-size=\"12\">{}</text>",
        escape(&meta)
    );
    let mut x = LEFT;
    let _ = write!(
        o,
        "<g font-size=\"11\"><text class=\"muted\" x=\"{x}\" y=\"66\">events</text>"
    );
    x += 60.0;
    for (op, c) in &op_entries {
        let _ = write!(
            o,
            "<circle cx=\"{:.1}\" cy=\"62\" r=\"5\" fill=\"{c}\"/><text x=\"{:.1}\" y=\"66\">{}</text>",
            x + 5.0,
            x + 14.0,
            escape(op)
        );
        x += 26.0 + text_w(op);
    }
    x = LEFT;
    let _ = write!(o, "<text class=\"muted\" x=\"{x}\" y=\"86\">edges</text>");
    x += 60.0;
    for k in &edge_entries {
        let (c, style) = edge_style(k);
        let (dash, w) = dash_width(style);
        let _ = write!(
            o,
            "<line x1=\"{x:.1}\" y1=\"82\" x2=\"{:.1}\" y2=\"82\" stroke=\"{c}\" stroke-width=\"{w}\" \
             stroke-dasharray=\"{dash}\"/><text x=\"{:.1}\" y=\"86\">{k}</text>",
            x + 16.0,
            x + 20.0
        );
        x += 26.0 + text_w(k);
    }
    o.push_str("</g>\n");

    // lanes: headers on top and at the bottom, a line from the first event to the last
    o.push_str("<g id=\"lanes\">\n");
    for (h, host) in m.hosts.iter().enumerate() {
        let color = node_color(host.node);
        let left = LEFT + col[h] as f64 * col_w;
        let node = m.node_of(h);
        let tip = format!(
            "{}: node {node}, pid {}, tid {}, {}",
            host.name,
            host.pid,
            host.tid,
            bop_trace::count(host.events.len(), "event")
        );
        let _ = write!(o, "<g id=\"lane-{h}\"><title>{}</title>", escape(&tip));
        for y in [HEAD_Y, foot_y] {
            let _ = write!(
                o,
                "<rect x=\"{left}\" y=\"{y}\" width=\"3\" height=\"{HEAD_H}\" fill=\"{color}\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"13\" font-weight=\"700\">{}</text>\
                 <text class=\"muted\" x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\">pid {} · tid {}</text>",
                left + 10.0,
                y + 17.0,
                escape(&host.name),
                left + 10.0,
                y + 32.0,
                host.pid,
                host.tid
            );
        }
        if let (Some(&first), Some(&last)) = (host.events.first(), host.events.last()) {
            let xh = x_of(h);
            let _ = write!(
                o,
                "<line class=\"lane\" x1=\"{xh}\" y1=\"{}\" x2=\"{xh}\" y2=\"{}\" stroke=\"{color}\"/>",
                y_of(first),
                y_of(last)
            );
        }
        o.push_str("</g>\n");
    }
    o.push_str("</g>\n<g id=\"edges\">\n");

    for l in &m.links {
        let Some(from) = l.from else { continue };
        let (a, b) = (&m.events[from], &m.events[l.to]);
        let (x1, y1, x2, y2) = (x_of(a.host), y_of(from), x_of(b.host), y_of(l.to));
        let (dx, dy) = (x2 - x1, y2 - y1);
        let len = dx.hypot(dy).max(1.0);
        let (r1, r2) = (6.0, 8.0);
        let class = edge_class(&l.kind);
        let (c, style) = edge_style(class);
        let (dash, w) = dash_width(style);
        let bytes = l.bytes.map(|b| format!(" {b}B")).unwrap_or_default();
        let _ = writeln!(
            o,
            "<line class=\"edge\" x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"{c}\" \
             stroke-width=\"{w}\" stroke-dasharray=\"{dash}\" marker-end=\"url(#mk-{class})\">\
             <title>{}{bytes}: #{} → #{}</title></line>",
            x1 + dx * r1 / len,
            y1 + dy * r1 / len,
            x2 - dx * r2 / len,
            y2 - dy * r2 / len,
            escape(&l.kind),
            a.id,
            b.id
        );
    }
    o.push_str("</g>\n<g id=\"events\">\n");

    for (ix, ev) in m.events.iter().enumerate() {
        let (x, y) = (x_of(ev.host), y_of(ix));
        let class = if ev.failed() { "dot failed" } else { "dot" };
        let fill = op_color(&ev.op);
        let host = m.hosts.get(ev.host).map_or("", |h| h.name.as_str());
        let _ = write!(
            o,
            "<g id=\"e{}\"><title>#{} {}: {}</title>",
            ev.id,
            ev.id,
            escape(host),
            escape(&ev.text)
        );
        if ev.op == "fault" {
            let _ = write!(
                o,
                "<path class=\"{class}\" d=\"M{x},{}L{},{y}L{x},{}L{},{y}z\" fill=\"{fill}\"/>",
                y - 7.0,
                x + 7.0,
                y + 7.0,
                x - 7.0
            );
        } else {
            let _ = write!(
                o,
                "<circle class=\"{class}\" cx=\"{x}\" cy=\"{y}\" r=\"6\" fill=\"{fill}\"/>"
            );
        }
        let _ = writeln!(
            o,
            "<text class=\"label\" x=\"{}\" y=\"{}\">{}</text></g>",
            x + 11.0,
            y + 3.5,
            escape(&ev.label)
        );
    }
    o.push_str("</g>\n</svg>\n");
    o
}

/// Whether an operation has a colour of its own (the rest are drawn as `other`).
fn has_color(op: &str) -> bool {
    OP_COLORS.iter().any(|(o, _)| *o == op && *o != "other")
}
