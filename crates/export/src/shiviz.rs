//! ShiViz logs.

use crate::model::Model;

/// The parser regex on a ShiViz log's first line: an event's text on one line, then its host
/// and vector clock on the next.
pub const SHIVIZ_REGEX: &str = r"(?<event>.*)\n(?<host>\S*) (?<clock>{.*})";

/// A log ShiViz loads as is: the parser regex, an empty execution delimiter line, then for
/// every event in id order its text and a line `HOST {"host": count, ...}`.
///
/// The clock maps host names to counts; a host's own component is 1 for its first event and
/// rises by exactly 1 per event, as ShiViz requires.
pub fn shiviz(m: &Model) -> String {
    let mut out = String::with_capacity(64 + m.events.len() * 96);
    out.push_str(SHIVIZ_REGEX);
    out.push_str("\n\n");
    for (ix, ev) in m.events.iter().enumerate() {
        let host = m.hosts.get(ev.host).map_or("", |h| h.name.as_str());
        let clock = serde_json::to_string(&m.named_clock(ix)).unwrap_or_else(|_| "{}".into());
        // an empty line would not parse: every event says something
        let text = if ev.text.trim().is_empty() {
            ev.op.as_str()
        } else {
            ev.text.as_str()
        };
        out.push_str(text);
        out.push('\n');
        out.push_str(host);
        out.push(' ');
        out.push_str(&clock);
        out.push('\n');
    }
    out
}
