//! How an event reads: its operation word, a short label, and a one-line text, the same in
//! every format.

use std::collections::HashMap;

use bop_syscalls::SockAddr;
use bop_trace::Event;

use crate::model::Model;

/// `MSG_PEEK`: a receive that leaves the bytes in the socket.
const MSG_PEEK: i64 = 2;

/// What [`event_text`] needs to know about an event's place in the graph.
pub(crate) struct Context<'m, 'a> {
    pub model: &'m Model<'a>,
    pub ix: usize,
    /// The peer's name, if resolved.
    pub peer: Option<&'m str>,
    /// Whether the peer is an address no node owns (its name already says the address).
    pub peer_is_external: bool,
    /// Links into the event (indices into `model.links`).
    pub into: &'m [usize],
    /// Links out of the event.
    pub out: &'m [usize],
    /// pid → a host of that process.
    pub pid_host: &'m HashMap<i32, usize>,
}

/// Whether `e` is a stream receive that returned 0 bytes: the peer closed (end of file).
pub fn is_eof(e: &Event) -> bool {
    e.kind == "syscall"
        && e.op.as_deref() == Some("recv")
        && e.errno.is_none()
        && e.bytes == Some(0)
        && !matches!(&e.sock, Some(s) if s.ty == "dgram")
}

/// The word an event's text starts with: `eof` for a receive of 0 bytes, `fork` for kinds
/// `fork` and `thread`, the kind for other non-syscall events (`spawn`, `exec`, `exit`,
/// `signal`, `warning`, `fault`, ...), else the syscall's op (`send`, `recv`, `connect`,
/// `accept`, `close`, `socket`, `bind`, `wait`, `kill`, ...), else the syscall's name.
pub fn op_word(e: &Event) -> String {
    if is_eof(e) {
        return "eof".into();
    }
    match &*e.kind {
        "fork" | "thread" => "fork",
        "syscall" => {
            e.op.as_deref()
                .or(e.syscall.as_deref())
                .unwrap_or("syscall")
        }
        "" => e.op.as_deref().unwrap_or("event"),
        k => k,
    }
    .chars()
    .filter(|c| !c.is_whitespace())
    .collect()
}

/// Whether `e` moves bytes (a send or a receive that is not an EOF).
fn moves_bytes(e: &Event) -> bool {
    e.kind == "syscall" && matches!(e.op.as_deref(), Some("send") | Some("recv")) && !is_eof(e)
}

/// A short label: the operation word, then the size of a byte-moving call, an exit's status or
/// signal, a signal's name or a fault's action, and the errno when the call failed
/// (`send 18B`, `eof`, `connect EINPROGRESS`, `exit 0`, `fault drop`).
pub fn label(e: &Event) -> String {
    let mut s = op_word(e);
    if moves_bytes(e) {
        if let Some(b) = e.bytes {
            s.push_str(&format!(" {b}B"));
        }
    }
    match &*e.kind {
        "exit" => {
            if let Some(sig) = &e.signal {
                s.push_str(&format!(" {sig}"));
            } else if let Some(st) = e.status {
                s.push_str(&format!(" {st}"));
            }
        }
        "signal" => {
            if let Some(sig) = &e.signal {
                s.push_str(&format!(" {sig}"));
            }
        }
        "fault" => {
            if let Some(op) = &e.op {
                s.push_str(&format!(" {op}"));
            }
        }
        _ => {}
    }
    if let Some(err) = &e.errno {
        s.push_str(&format!(" {err}"));
    }
    clean(&s)
}

/// Makes a text safe for every format: one line, no control characters, no braces (a ShiViz
/// event line that looked like `host {clock}` would be misparsed).
pub fn clean(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '{' => '(',
            '}' => ')',
            '\u{2028}' | '\u{2029}' => ' ',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect()
}

/// An address worth printing: not the unnamed Unix address.
fn shown(a: Option<&SockAddr>) -> Option<&SockAddr> {
    a.filter(|a| !matches!(a, SockAddr::Unix(p) if p.is_empty()))
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// The host (or node, when another) name for a host index, as seen from the event's host.
fn name_from(ctx: &Context, h: usize) -> String {
    let m = ctx.model;
    match (m.hosts.get(h), m.events.get(ctx.ix)) {
        (Some(host), Some(ev)) => {
            if m.hosts.get(ev.host).map(|o| o.node) == Some(host.node) {
                host.name.clone()
            } else {
                m.nodes
                    .get(host.node)
                    .map_or_else(String::new, |n| n.name.clone())
            }
        }
        _ => String::new(),
    }
}

/// The event's line: the operation word, then the peer and the size, then details and the
/// call (`send 16B to server (sendmsg fd=3)`, `recv 16B from client (recvfrom fd=4)`,
/// `connect to server 127.0.0.1:7000 (connect fd=3)`, `eof from client (recvfrom fd=4)`).
pub(crate) fn event_text(ctx: &Context) -> String {
    let m = ctx.model;
    let Some(ev) = m.events.get(ctx.ix) else {
        return String::new();
    };
    let e = ev.event;
    let word = op_word(e);
    let mut s = word.clone();
    let peer = ctx.peer;
    let addr_after_peer = |s: &mut String, a: Option<String>| {
        if let Some(a) = a {
            if !ctx.peer_is_external {
                s.push_str(&format!(" {a}"));
            }
        }
    };
    match (&*e.kind, word.as_str()) {
        ("syscall", "send") | ("syscall", "recv") => {
            if let Some(b) = e.bytes {
                s.push_str(&format!(" {b}B"));
            }
            if word == "recv" && e.flags.is_some_and(|f| f & MSG_PEEK != 0) {
                s.push_str(" peek");
            }
            if let Some(msgs) = e.msgs.as_ref().filter(|v| v.len() > 1) {
                s.push_str(&format!(" in {} messages", msgs.len()));
            }
            if let Some(p) = peer {
                s.push_str(if word == "send" { " to " } else { " from " });
                s.push_str(p);
            } else if let Some(t) = &e.target {
                s.push_str(&format!(" on {t}"));
            }
            if let Some(u) = e.unmatched {
                s.push_str(&format!(" ({u}B unmatched)"));
            }
        }
        ("syscall", "eof") => {
            if let Some(p) = peer {
                s.push_str(&format!(" from {p}"));
            }
        }
        ("syscall", "connect") => {
            let a = shown(e.addr.as_ref()).or(shown(e.sock.as_ref().and_then(|k| k.peer.as_ref())));
            match peer {
                Some(p) => {
                    s.push_str(&format!(" to {p}"));
                    addr_after_peer(&mut s, a.map(|a| a.to_string()));
                }
                None => {
                    if let Some(a) = a {
                        s.push_str(&format!(" to {a}"));
                    }
                }
            }
        }
        ("syscall", "accept") => {
            let a = shown(e.addr.as_ref()).or(shown(e.sock.as_ref().and_then(|k| k.peer.as_ref())));
            match peer {
                Some(p) => {
                    s.push_str(&format!(" from {p}"));
                    addr_after_peer(&mut s, a.map(|a| a.to_string()));
                }
                None => {
                    if let Some(a) = a {
                        s.push_str(&format!(" from {a}"));
                    }
                }
            }
        }
        ("syscall", "close") | ("syscall", "shutdown") => {
            if let Some(p) = peer {
                s.push_str(&format!(" to {p}"));
            } else if let Some(l) = shown(e.sock.as_ref().and_then(|k| k.local.as_ref())) {
                s.push_str(&format!(" {l}"));
            } else if let Some(t) = &e.target {
                s.push_str(&format!(" {t}"));
            }
        }
        ("syscall", "socket") => {
            if let Some(k) = &e.sock {
                s.push_str(&format!(" {} {}", k.family, k.ty));
            }
        }
        ("syscall", "bind") | ("syscall", "listen") => {
            let a =
                shown(e.addr.as_ref()).or(shown(e.sock.as_ref().and_then(|k| k.local.as_ref())));
            if let Some(a) = a {
                s.push_str(&format!(" {a}"));
            }
        }
        ("syscall", "wait") => {
            let child = ctx
                .into
                .iter()
                .filter_map(|&k| m.links.get(k))
                .find(|l| l.kind == "exit")
                .and_then(|l| l.from)
                .and_then(|f| m.events.get(f))
                .map(|f| name_from(ctx, f.host));
            if let Some(c) = child {
                s.push_str(&format!(" {c}"));
            }
            if let Some(p) = e.other.filter(|&p| p > 0) {
                s.push_str(&format!(" pid={p}"));
            }
            if let Some(st) = e.status {
                s.push_str(&format!(" status={st}"));
            }
        }
        ("syscall", "kill") => {
            if let Some(sig) = &e.signal {
                s.push_str(&format!(" {sig}"));
            }
            if let Some(p) = e.other {
                match ctx.pid_host.get(&p) {
                    Some(&h) => s.push_str(&format!(" to {} pid={p}", name_from(ctx, h))),
                    None => s.push_str(&format!(" to pid={p}")),
                }
            }
        }
        ("fork", _) | ("thread", _) => {
            let child = ctx
                .out
                .iter()
                .filter_map(|&k| m.links.get(k))
                .find(|l| l.kind == "fork")
                .and_then(|l| m.events.get(l.to))
                .map(|c| name_from(ctx, c.host));
            if let Some(c) = child {
                s.push_str(&format!(" {c}"));
            }
            if let Some(o) = e.other {
                let what = if e.kind == "thread" { "tid" } else { "pid" };
                s.push_str(&format!(" {what}={o}"));
            }
        }
        ("spawn", _) | ("exec", _) => {
            if let Some(argv) = &e.argv {
                s.push_str(&format!(" {}", shorten(&argv.join(" "), 80)));
            }
        }
        ("exit", _) => {
            if let Some(sig) = &e.signal {
                s.push_str(&format!(" by {sig}"));
            } else if let Some(st) = e.status {
                s.push_str(&format!(" status={st}"));
            }
        }
        ("signal", _) => {
            if let Some(sig) = &e.signal {
                s.push_str(&format!(" {sig}"));
            }
        }
        ("fault", _) => {
            // what bop did (op: drop, delay, crash, ...), to what size, and the rule
            if let Some(op) = e.op.as_deref().filter(|o| *o != word) {
                s.push_str(&format!(" {op}"));
            }
            if let Some(b) = e.bytes {
                s.push_str(&format!(" {b}B"));
            }
            if let Some(d) = &e.detail {
                s.push_str(&format!(": {}", shorten(d, 160)));
            } else if let Some(p) = peer {
                s.push_str(&format!(" peer {p}"));
            }
        }
        _ => {
            // warning and anything newer: what it is about, then the call it concerns
            if let Some(d) = &e.detail {
                s.push_str(&format!(" {}", shorten(d, 120)));
            }
            let op = e.op.as_deref().filter(|o| *o != word);
            if let Some(op) = op {
                s.push_str(&format!(" {op}"));
            }
            if let Some(b) = e.bytes {
                s.push_str(&format!(" {b}B"));
            }
            if let Some(p) = peer {
                let prep = match op {
                    Some("send") | Some("connect") | Some("close") | Some("shutdown") => "to",
                    Some("recv") | Some("accept") => "from",
                    _ => "peer",
                };
                s.push_str(&format!(" {prep} {p}"));
            }
        }
    }
    if e.kind == "syscall" || e.syscall.is_some() {
        let name = e.syscall.as_deref().unwrap_or("syscall");
        match e.fd {
            Some(fd) => s.push_str(&format!(" ({name} fd={fd})")),
            None => s.push_str(&format!(" ({name})")),
        }
    }
    if let Some(err) = &e.errno {
        s.push_str(&format!(" = {err}"));
    }
    clean(&s)
}
