//! The JSON of an event record, written by hand: the hot path of tracing.
//!
//! A traced system makes an event per traced call, so the writer encodes hundreds of thousands
//! of them a second. `serde_json` through the derived `Serialize` spends most of its time in
//! generic map machinery; this encoder writes the same bytes directly (the same fields in the
//! same order, the same string escapes), which a test checks against `serde_json` for
//! arbitrary events. Headers and footers, one each per trace, still go through serde.

use std::io::Write as _;

use crate::record::{Edge, Event, SockInfo};

/// Appends `{"type":"event",…}` for `e` to `out`, byte for byte what
/// `serde_json::to_writer(Record::Event(e))` writes.
pub(crate) fn event(out: &mut Vec<u8>, e: &Event) {
    out.extend_from_slice(b"{\"type\":\"event\",\"node\":");
    string(out, &e.node);
    out.extend_from_slice(b",\"pid\":");
    int(out, e.pid);
    out.extend_from_slice(b",\"tid\":");
    int(out, e.tid);
    out.extend_from_slice(b",\"seq\":");
    int(out, e.seq);
    out.extend_from_slice(b",\"ts\":");
    int(out, e.ts);
    out.extend_from_slice(b",\"kind\":");
    string(out, &e.kind);
    if let Some(v) = &e.syscall {
        key(out, "syscall");
        string(out, v);
    }
    if let Some(v) = &e.op {
        key(out, "op");
        string(out, v);
    }
    if let Some(v) = e.fd {
        key(out, "fd");
        int(out, v);
    }
    if let Some(v) = &e.sock {
        key(out, "sock");
        sock(out, v);
    }
    if let Some(v) = &e.target {
        key(out, "target");
        string(out, v);
    }
    if let Some(v) = &e.addr {
        key(out, "addr");
        // a socket address serialises as its string form (fast for IPv4)
        let _ = serde_json::to_writer(&mut *out, v);
    }
    if let Some(v) = e.bytes {
        key(out, "bytes");
        int(out, v);
    }
    if let Some(v) = e.off {
        key(out, "off");
        int(out, v);
    }
    if let Some(v) = e.flags {
        key(out, "flags");
        int(out, v);
    }
    if let Some(v) = &e.fds {
        key(out, "fds");
        ints(out, v);
    }
    if let Some(v) = &e.msgs {
        key(out, "msgs");
        ints(out, v);
    }
    if let Some(v) = e.other {
        key(out, "other");
        int(out, v);
    }
    if let Some(v) = &e.signal {
        key(out, "signal");
        string(out, v);
    }
    if let Some(v) = e.status {
        key(out, "status");
        int(out, v);
    }
    if let Some(v) = &e.argv {
        key(out, "argv");
        out.push(b'[');
        for (i, s) in v.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            string(out, s);
        }
        out.push(b']');
    }
    if let Some(v) = e.ret {
        key(out, "ret");
        int(out, v);
    }
    if let Some(v) = &e.errno {
        key(out, "errno");
        string(out, v);
    }
    if let Some(v) = &e.detail {
        key(out, "detail");
        string(out, v);
    }
    if let Some(v) = &e.hash {
        key(out, "hash");
        string(out, v);
    }
    if let Some(v) = &e.data {
        key(out, "data");
        string(out, v);
    }
    if let Some(v) = e.id {
        key(out, "id");
        int(out, v);
    }
    if let Some(v) = e.lane {
        key(out, "lane");
        int(out, v);
    }
    if let Some(v) = &e.vc {
        key(out, "vc");
        out.push(b'{');
        for (i, (k, n)) in v.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.push(b'"');
            int(out, *k);
            out.extend_from_slice(b"\":");
            int(out, *n);
        }
        out.push(b'}');
    }
    if let Some(v) = &e.from {
        key(out, "from");
        out.push(b'[');
        for (i, ed) in v.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            edge(out, ed);
        }
        out.push(b']');
    }
    if let Some(v) = e.unmatched {
        key(out, "unmatched");
        int(out, v);
    }
    if let Some(v) = &e.closes {
        key(out, "closes");
        out.push(b'[');
        for (i, s) in v.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            sock(out, s);
        }
        out.push(b']');
    }
    out.push(b'}');
}

fn sock(out: &mut Vec<u8>, s: &SockInfo) {
    out.extend_from_slice(b"{\"id\":");
    int(out, s.id);
    out.extend_from_slice(b",\"family\":");
    string(out, &s.family);
    out.extend_from_slice(b",\"type\":");
    string(out, &s.ty);
    if let Some(a) = &s.local {
        key(out, "local");
        let _ = serde_json::to_writer(&mut *out, a);
    }
    if let Some(a) = &s.peer {
        key(out, "peer");
        let _ = serde_json::to_writer(&mut *out, a);
    }
    if let Some(p) = s.peer_id {
        key(out, "peer_id");
        int(out, p);
    }
    out.push(b'}');
}

fn edge(out: &mut Vec<u8>, ed: &Edge) {
    out.extend_from_slice(b"{\"id\":");
    int(out, ed.id);
    out.extend_from_slice(b",\"kind\":");
    string(out, &ed.kind);
    if let Some(b) = ed.bytes {
        key(out, "bytes");
        int(out, b);
    }
    out.push(b'}');
}

/// `,"name":` (every optional field follows at least `kind`).
fn key(out: &mut Vec<u8>, name: &str) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
}

fn int(out: &mut Vec<u8>, v: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

fn ints<T: itoa::Integer + Copy>(out: &mut Vec<u8>, v: &[T]) {
    out.push(b'[');
    for (i, n) in v.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        int(out, *n);
    }
    out.push(b']');
}

/// A JSON string with serde_json's escapes: `\"`, `\\`, `\b \f \n \r \t`, and `\u00XX` for
/// the other control characters; everything else (all of UTF-8) as it is.
fn string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x0c => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x00..=0x1f => {
                out.extend_from_slice(&bytes[start..i]);
                let _ = write!(out, "\\u{:04x}", b);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Record;
    use bop_syscalls::SockAddr;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn text() -> impl Strategy<Value = String> {
        // ASCII, control characters, quotes, backslashes and multi-byte UTF-8
        prop::collection::vec(
            prop_oneof![
                any::<char>(),
                Just('"'),
                Just('\\'),
                Just('\n'),
                Just('\u{1}'),
                Just('\u{7f}'),
                Just('é'),
            ],
            0..12,
        )
        .prop_map(|v| v.into_iter().collect())
    }

    fn addr() -> impl Strategy<Value = SockAddr> {
        prop_oneof![
            (any::<[u8; 4]>(), any::<u16>())
                .prop_map(|(ip, port)| SockAddr::Inet(std::net::SocketAddr::from((ip, port)))),
            (any::<[u16; 8]>(), any::<u16>())
                .prop_map(|(ip, port)| SockAddr::Inet(std::net::SocketAddr::from((ip, port)))),
            text().prop_map(SockAddr::Unix),
            any::<u16>().prop_map(SockAddr::Other),
        ]
    }

    fn sock() -> impl Strategy<Value = SockInfo> {
        (
            any::<u64>(),
            text(),
            text(),
            proptest::option::of(addr()),
            proptest::option::of(addr()),
            proptest::option::of(any::<u64>()),
        )
            .prop_map(|(id, family, ty, local, peer, peer_id)| SockInfo {
                id,
                family: family.into(),
                ty: ty.into(),
                local,
                peer,
                peer_id,
            })
    }

    fn edge() -> impl Strategy<Value = Edge> {
        (any::<u64>(), text(), proptest::option::of(any::<u64>())).prop_map(|(id, kind, bytes)| {
            Edge {
                id,
                kind: kind.into(),
                bytes,
            }
        })
    }

    fn event() -> impl Strategy<Value = Event> {
        use proptest::option::of;
        let ids = (
            text(),
            any::<i32>(),
            any::<i32>(),
            any::<u64>(),
            any::<u64>(),
            text(),
        );
        let call = (
            of(text()),
            of(text()),
            of(any::<i32>()),
            of(sock()),
            of(text()),
            of(addr()),
            of(any::<u64>()),
            of(any::<u64>()),
            of(any::<i64>()),
            of(prop::collection::vec(any::<i32>(), 0..4)),
            of(prop::collection::vec(any::<u64>(), 0..4)),
        );
        let more = (
            of(any::<i32>()),
            of(text()),
            of(any::<i32>()),
            of(prop::collection::vec(text(), 0..4)),
            of(any::<i64>()),
            of(text()),
            of(text()),
            of(text()),
            of(text()),
        );
        let graph = (
            of(any::<u64>()),
            of(any::<u32>()),
            of(prop::collection::btree_map(
                any::<u32>(),
                any::<u64>(),
                0..4,
            )),
            of(prop::collection::vec(edge(), 0..3)),
            of(any::<u64>()),
            of(prop::collection::vec(sock(), 0..3)),
        );
        (ids, call, more, graph).prop_map(|(ids, call, more, graph)| Event {
            node: ids.0.into(),
            pid: ids.1,
            tid: ids.2,
            seq: ids.3,
            ts: ids.4,
            kind: ids.5.into(),
            syscall: call.0.map(Into::into),
            op: call.1.map(Into::into),
            fd: call.2,
            sock: call.3,
            target: call.4,
            addr: call.5,
            bytes: call.6,
            off: call.7,
            flags: call.8,
            fds: call.9,
            msgs: call.10,
            other: more.0,
            signal: more.1,
            status: more.2,
            argv: more.3,
            ret: more.4,
            errno: more.5,
            detail: more.6,
            hash: more.7,
            data: more.8,
            id: graph.0,
            lane: graph.1,
            vc: graph.2,
            from: graph.3,
            unmatched: graph.4,
            closes: graph.5,
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn an_event_encodes_exactly_as_serde_json_does(e in event()) {
            let mut ours = Vec::new();
            super::event(&mut ours, &e);
            let theirs = serde_json::to_vec(&Record::Event(e.clone())).expect("serialize");
            prop_assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&theirs));
        }
    }

    #[test]
    fn a_typical_event_reads_back_as_it_was() {
        let e = Event {
            node: "server".into(),
            pid: 10,
            tid: 11,
            seq: 3,
            ts: 12345,
            kind: "syscall".into(),
            syscall: Some("write".into()),
            op: Some("send".into()),
            fd: Some(4),
            bytes: Some(8),
            ret: Some(8),
            id: Some(7),
            lane: Some(1),
            vc: Some(BTreeMap::from([(0, 2), (1, 4)])),
            from: Some(vec![Edge {
                id: 5,
                kind: "msg".into(),
                bytes: Some(8),
            }]),
            ..Event::default()
        };
        let mut out = Vec::new();
        super::event(&mut out, &e);
        let back: Record = serde_json::from_slice(&out).expect("valid JSON");
        assert_eq!(back, Record::Event(e));
    }

    #[test]
    fn a_clock_whose_key_is_no_lane_is_refused_with_a_reason() {
        let line = r#"{"type":"event","node":"a","pid":1,"tid":1,"seq":0,"ts":0,"kind":"exit","vc":{"x":1}}"#;
        let err = serde_json::from_str::<Record>(line)
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"x\" is not a lane number"), "{err}");
    }
}
