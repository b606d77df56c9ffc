//! A self-contained HTML page that draws the space-time diagram.

use serde::Serialize;

use crate::dot::{edge_style, EDGE_KINDS};
use crate::json::graph_out;
use crate::layout::{columns, node_color, rows, Rows};
use crate::model::Model;

/// The page: inline CSS and JavaScript, the graph embedded as JSON; nothing is fetched.
const VIEWER: &str = include_str!("viewer.html");

/// The colour of an event's dot in the page, by its operation word (`other` for the rest).
pub(crate) const OP_COLORS: [(&str, &str); 16] = [
    ("send", "#3b82f6"),
    ("recv", "#22c55e"),
    ("eof", "#f97316"),
    ("connect", "#14b8a6"),
    ("accept", "#0d9488"),
    ("close", "#94a3b8"),
    ("fork", "#8b5cf6"),
    ("spawn", "#a78bfa"),
    ("exec", "#7c3aed"),
    ("exit", "#44403c"),
    ("wait", "#78716c"),
    ("signal", "#e11d48"),
    ("kill", "#be123c"),
    ("fault", "#dc2626"),
    ("warning", "#eab308"),
    ("other", "#cbd5e1"),
];

/// Text for HTML and SVG (XML 1.0) content and attribute values: markup characters escaped,
/// tabs and line breaks as spaces, and the characters XML forbids (other controls, U+FFFE,
/// U+FFFF) replaced by U+FFFD.
pub(crate) fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            '\t' | '\n' | '\r' => o.push(' '),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => o.push('\u{fffd}'),
            c => o.push(c),
        }
    }
    o
}

/// JSON that is safe inside a `<script>` element: no `<`, `>` or `&` (escaped as `\u003c` …,
/// which can only occur inside strings), so no `</script>` can end it early.
fn script_json(v: &impl Serialize) -> String {
    let s = serde_json::to_string(v).unwrap_or_else(|_| "{}".into());
    let mut o = String::with_capacity(s.len() + s.len() / 50);
    for c in s.chars() {
        match c {
            '<' => o.push_str("\\u003c"),
            '>' => o.push_str("\\u003e"),
            '&' => o.push_str("\\u0026"),
            '\u{2028}' => o.push_str("\\u2028"),
            '\u{2029}' => o.push_str("\\u2029"),
            c => o.push(c),
        }
    }
    o
}

/// The colours the page uses: dots by operation (in legend order), edges by kind.
#[derive(Serialize)]
struct Palette {
    ops: Vec<(&'static str, &'static str)>,
    edges: std::collections::BTreeMap<&'static str, (&'static str, &'static str)>,
}

/// What the page draws with, computed here so that it is the same as the SVG's: each host's
/// column and colour, and each event's row in the compact layout.
#[derive(Serialize)]
struct Extra {
    palette: Palette,
    columns: Vec<usize>,
    colors: Vec<String>,
    compact: Vec<usize>,
}

/// One self-contained HTML file: a column per host with its name on top, the events as dots
/// top to bottom in id order (or by causal depth), arrows for the edges coloured by kind; the
/// columns, colours and rows are those of the [`crate::svg()`] drawing.
/// Clicking an event shows all its fields in a side panel and highlights its causal past and
/// future (from the vector clocks: a → b iff vc(a) ≤ vc(b), a ≠ b). No network access: the CSS,
/// the script and the data (the [`crate::json()`] graph) are all inline.
pub fn html(m: &Model, title: &str) -> String {
    let palette = Palette {
        ops: OP_COLORS.to_vec(),
        edges: EDGE_KINDS.iter().map(|&k| (k, edge_style(k))).collect(),
    };
    let extra = Extra {
        palette,
        columns: columns(m),
        colors: m.hosts.iter().map(|h| node_color(h.node)).collect(),
        compact: rows(m, Rows::Compact),
    };
    let data = script_json(&graph_out(m, title, extra));
    // fill the two slots of the template, each once (the data must not be searched again)
    let (head, rest) = VIEWER.split_once("@@TITLE@@").unwrap_or((VIEWER, ""));
    let (mid, tail) = rest.split_once("@@DATA@@").unwrap_or((rest, ""));
    let mut out = String::with_capacity(VIEWER.len() + data.len() + title.len());
    out.push_str(head);
    out.push_str(&escape(title));
    out.push_str(mid);
    out.push_str(&data);
    out.push_str(tail);
    out
}
