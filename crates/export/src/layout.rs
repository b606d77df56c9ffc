//! Where things go in the drawings bop lays out itself (the SVG and the HTML page): the same
//! column for a lane, the same row for an event, the same colour for a node, in both.

use crate::model::Model;

/// How the rows of a space-time diagram are assigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rows {
    /// One row per event, in id order (the trace's causal order): the same as the trace.
    #[default]
    Id,
    /// An event's row is its causal depth: one below its thread predecessor and below every
    /// cause. Much shorter for a concurrent system; concurrent events share rows.
    Compact,
}

impl Rows {
    /// The name of the layout, as on the command line and in the page's menu.
    pub fn name(self) -> &'static str {
        match self {
            Rows::Id => "id",
            Rows::Compact => "compact",
        }
    }
}

/// The column of every host (index into [`Model::hosts`]), left to right: the nodes in their
/// order (the trace header's, then by first appearance), and within a node its lanes (threads
/// and processes) in the order their first events come in the trace, which is also the order
/// of their names `node.1`, `node.2`, … Every drawing orders its lanes by this.
pub fn columns(m: &Model) -> Vec<usize> {
    let mut order: Vec<usize> = (0..m.hosts.len()).collect();
    order.sort_by_key(|&h| {
        let host = &m.hosts[h];
        (
            host.node,
            host.events.first().copied().unwrap_or(usize::MAX),
            h,
        )
    });
    let mut col = vec![0; m.hosts.len()];
    for (c, &h) in order.iter().enumerate() {
        col[h] = c;
    }
    col
}

/// The row of every event (index into [`Model::events`]), from 0.
pub fn rows(m: &Model, how: Rows) -> Vec<usize> {
    match how {
        Rows::Id => (0..m.events.len()).collect(),
        Rows::Compact => {
            let mut into: Vec<Vec<usize>> = vec![Vec::new(); m.events.len()];
            for l in &m.links {
                if let Some(f) = l.from {
                    into[l.to].push(f);
                }
            }
            let mut rows = vec![0usize; m.events.len()];
            for ix in 0..m.events.len() {
                let ev = &m.events[ix];
                let prev = ev
                    .pos
                    .checked_sub(1)
                    .and_then(|p| m.hosts[ev.host].events.get(p as usize));
                let mut r = prev.map_or(0, |&p| rows[p] + 1);
                // causes come earlier in id order; a later one (a malformed trace) is ignored
                for &f in into[ix].iter().filter(|&&f| f < ix) {
                    r = r.max(rows[f] + 1);
                }
                rows[ix] = r;
            }
            rows
        }
    }
}

/// The colour of node `n` (index into [`Model::nodes`]): its lanes' line and header, as
/// `#rrggbb` (every SVG viewer reads that).
pub fn node_color(n: usize) -> String {
    // golden-angle hues keep neighbouring nodes far apart on the wheel; saturation 62 %,
    // lightness 42 %
    let hue = (n as f64 * 137.5 + 210.0) % 360.0;
    let (s, l) = (0.62, 0.42);
    let c = (1.0 - (2.0 * l - 1.0_f64).abs()) * s;
    let x = c * (1.0 - ((hue / 60.0) % 2.0 - 1.0).abs());
    let (r, g, b) = match (hue / 60.0) as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = l - c / 2.0;
    let byte = |v: f64| ((v + m) * 255.0).round().clamp(0.0, 255.0) as u8;
    format!("#{:02x}{:02x}{:02x}", byte(r), byte(g), byte(b))
}
