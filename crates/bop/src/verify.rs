//! `bop verify TRACE`: checks a trace's graph against ground truth, independently of the
//! code that built it.
//!
//! With payload in the trace (`bop run --capture-payload`), every receive's bytes must be the
//! bytes of the sends it is attributed to, at the places its edges and the events' stream
//! offsets say; a datagram's must be its send's. Without payload only the structure is
//! checked. In every trace: each edge comes from an event the trace holds, with a smaller id,
//! and that event happened before in the vector clocks; a receive's edges and unmatched bytes
//! add up to what it returned; no byte of a send is taken by two receives; each `msg` edge
//! comes from a send on the connection or pipe the receive reads. The footer's counts of
//! guesses (hold-limit releases, calls whose order was guessed) make the graph unsure.

use std::fmt;

use rustc_hash::FxHashMap as HashMap;

use bop_trace::{unescape_data, Event, SockInfo, Trace};

/// `MSG_PEEK`: a receive that takes no bytes.
const MSG_PEEK: i64 = 2;

/// What `bop verify` found.
#[derive(Debug, Default)]
pub struct Report {
    /// Receives whose bytes were compared with their sends' bytes (all or a prefix).
    pub receives_compared: u64,
    /// Of those, the ones whose payload was captured only in part.
    pub prefix_only: u64,
    /// Bytes compared.
    pub bytes_compared: u64,
    /// Receives checked without payload (none was captured for them or their sends).
    pub receives_unchecked: u64,
    /// Edges whose clocks were checked.
    pub edges: u64,
    /// Received bytes attributed to no send, and the receives that have them.
    pub unmatched_bytes: u64,
    /// Of those, the bytes whose writer is a traced node (bop should have found their send).
    pub unmatched_internal: u64,
    /// Receives with unmatched bytes.
    pub unmatched_receives: u64,
    /// Wrong attributions, the first few in words.
    pub wrong: Vec<String>,
    /// How many wrong attributions in all.
    pub wrong_count: u64,
    /// What makes the graph unsure (from the footer), in words.
    pub doubts: Option<String>,
}

/// Stream ranges `[lo, hi)` and the receive that took each.
type Ranges = Vec<(u64, u64, u64)>;

/// How many wrong attributions the report spells out.
const SHOWN: usize = 5;

impl Report {
    fn wrong(&mut self, why: String) {
        self.wrong_count += 1;
        if self.wrong.len() < SHOWN {
            self.wrong.push(why);
        }
    }

    /// The exit status: 0 verified, 1 a wrong attribution or an unsure graph (guesses, bytes
    /// from a traced node that no send accounts for, no footer), 2 nothing could be compared
    /// (no payload in the trace).
    pub fn exit_code(&self) -> i32 {
        if self.wrong_count > 0 || self.doubts.is_some() {
            1
        } else if self.receives_compared == 0 && self.receives_unchecked > 0 {
            2
        } else {
            0
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for w in &self.wrong {
            writeln!(f, "WRONG: {w}")?;
        }
        if self.wrong_count > self.wrong.len() as u64 {
            writeln!(
                f,
                "… and {} more wrong attributions",
                self.wrong_count - self.wrong.len() as u64
            )?;
        }
        if let Some(d) = &self.doubts {
            writeln!(f, "UNSURE: {d}")?;
        }
        writeln!(
            f,
            "{} receives compared byte for byte with the sends they are attributed to ({} bytes{}); {} edges agree with the clocks",
            self.receives_compared,
            self.bytes_compared,
            if self.prefix_only > 0 {
                format!(
                    "; {} of them on the captured prefix only, raise --capture-payload to compare all",
                    self.prefix_only
                )
            } else {
                String::new()
            },
            self.edges
        )?;
        if self.receives_unchecked > 0 {
            writeln!(
                f,
                "{} receives without payload in the trace: their bytes were not compared (record with --capture-payload=BYTES)",
                self.receives_unchecked
            )?;
        }
        writeln!(
            f,
            "unmatched: {} bytes in {} receives (no traced send accounts for them), {} of them from traced nodes",
            self.unmatched_bytes, self.unmatched_receives, self.unmatched_internal
        )?;
        let verdict = match self.exit_code() {
            0 => "verified",
            2 => "not verified: the trace holds no payload to compare",
            _ if self.wrong_count > 0 => "WRONG",
            _ => "unsure",
        };
        write!(f, "verdict: {verdict}")
    }
}

/// An event named for a reader: `#ID (NODE, thread TID, SYSCALL of N bytes at offset O)`.
fn name(e: &Event) -> String {
    let what = e.syscall.as_deref().or(e.op.as_deref()).unwrap_or(&e.kind);
    let mut s = format!(
        "#{} ({}, thread {}, {what}",
        e.id.map_or_else(|| "?".into(), |i| i.to_string()),
        e.node,
        e.tid
    );
    if let Some(b) = e.bytes {
        s.push_str(&format!(" of {b} bytes"));
    }
    if let Some(o) = e.off {
        s.push_str(&format!(" at stream offset {o}"));
    }
    s.push(')');
    s
}

/// Whether a send on `from` writes what a receive on `to` reads: the two ends of one
/// connection (TCP by addresses, Unix by inodes), or one pipe.
fn same_channel(send: &Event, recv: &Event) -> bool {
    match (&send.sock, &recv.sock) {
        (Some(s), Some(r)) => ends_meet(s, r),
        (None, None) => pipe_ino(send).is_some() && pipe_ino(send) == pipe_ino(recv),
        _ => false,
    }
}

fn ends_meet(s: &SockInfo, r: &SockInfo) -> bool {
    if s.family == "unix" {
        return r.peer_id == Some(s.id) || s.peer_id == Some(r.id);
    }
    s.local.is_some() && s.local == r.peer && s.peer == r.local
}

/// The stream end an event's call moved bytes through, and which way, named as the trace names
/// it: the socket's or pipe's inode, and whether the call received.
fn stream_end(e: &Event) -> Option<(u64, bool)> {
    let recv = match e.op.as_deref() {
        Some("recv") => true,
        Some("send") => false,
        _ => return None,
    };
    if let Some(s) = &e.sock {
        return (s.ty == "stream" || s.ty == "seqpacket").then_some((s.id, recv));
    }
    Some((pipe_ino(e)?, recv))
}

/// The inode of the pipe an event's `target` names (`pipe:[INODE]r` or `…w`).
fn pipe_ino(e: &Event) -> Option<u64> {
    let t = e.target.as_deref()?.strip_prefix("pipe:[")?;
    t.split(']').next()?.parse().ok()
}

fn data(e: &Event) -> Option<Vec<u8>> {
    e.data.as_deref().and_then(|d| unescape_data(d).ok())
}

/// Checks `trace`; `Err` when it cannot be checked at all (written before stream offsets).
pub fn verify(trace: &Trace) -> Result<Report, String> {
    if let Some(h) = &trace.header {
        if h.format < 2 {
            return Err(format!(
                "the trace is format {} (bop {}), which has no stream offsets to check; record it again with this bop",
                h.format, h.bop_version
            ));
        }
    }
    let comm = crate::pairs::comm(trace);
    let mut doubts: Vec<String> = match &trace.footer {
        Some(f) => crate::summary::graph_doubts(f).into_iter().collect(),
        None => vec![
            "the trace has no footer (the run did not finish): its counts of guesses are unknown"
                .into(),
        ],
    };
    if comm.unmatched_bytes > 0 {
        doubts.push(format!(
            "{} bytes received from traced nodes are attributed to no send",
            comm.unmatched_bytes
        ));
    }
    let mut r = Report {
        doubts: (!doubts.is_empty()).then(|| doubts.join("; ")),
        unmatched_internal: comm.unmatched_bytes,
        ..Report::default()
    };
    // per receiving end of a stream: the ranges its receives took, and per thread and stream
    // end the last offset it moved bytes at (a thread's calls on one stream go forwards)
    let mut read: HashMap<(u64, bool), Ranges> = HashMap::default();
    let mut last: HashMap<(u32, u64, bool), (u64, u64)> = HashMap::default();
    let by_id: HashMap<u64, &Event> = trace
        .events
        .iter()
        .filter_map(|e| Some((e.id?, e)))
        .collect();
    // per send: the stream ranges receives took from it, and which receive
    let mut taken: HashMap<u64, Ranges> = HashMap::default();
    for e in &trace.events {
        let Some(id) = e.id else { continue };
        for ed in e.from.iter().flatten() {
            let Some(src) = by_id.get(&ed.id) else {
                r.wrong(format!(
                    "{} has an edge from #{}, which the trace does not hold",
                    name(e),
                    ed.id
                ));
                continue;
            };
            let (Some(lane), Some(svc), Some(vc)) = (src.lane, &src.vc, &e.vc) else {
                continue;
            };
            r.edges += 1;
            let before = svc.get(&lane).copied().unwrap_or(0);
            if ed.id >= id || vc.get(&lane).copied().unwrap_or(0) < before {
                r.wrong(format!(
                    "{} has a {} edge from {}, which does not happen before it (ids {} and {}; clock of lane {lane}: {} before {})",
                    name(e),
                    ed.kind,
                    name(src),
                    ed.id,
                    id,
                    before,
                    vc.get(&lane).copied().unwrap_or(0)
                ));
            }
        }
        if let (Some(end), Some(off), Some(lane)) = (stream_end(e), e.off, e.lane) {
            let k = (lane, end.0, end.1);
            if let Some(&(prev, prev_id)) = last.get(&k) {
                if off < prev {
                    r.wrong(format!(
                        "{} moves bytes at stream offset {off}, before those of #{prev_id}, an earlier call of the same thread on the same stream (at {prev})",
                        name(e)
                    ));
                }
            }
            last.insert(k, (off, id));
        }
        let is_recv = e.kind == "syscall" && e.op.as_deref() == Some("recv") && e.errno.is_none();
        let Some(n) = e.bytes.filter(|&n| n > 0 && is_recv) else {
            continue;
        };
        let unmatched = e.unmatched.unwrap_or(0);
        if unmatched > 0 {
            r.unmatched_bytes += unmatched;
            r.unmatched_receives += 1;
        }
        let msgs: Vec<_> = e
            .from
            .iter()
            .flatten()
            .filter(|ed| ed.kind == "msg")
            .filter_map(|ed| Some((ed, *by_id.get(&ed.id)?)))
            .collect();
        let mine = data(e);
        let dgram = e.sock.as_ref().is_some_and(|s| s.ty == "dgram");
        if dgram {
            let Some(&(_, src)) = msgs.first() else {
                continue;
            };
            if msgs.len() > 1 || src.bytes != Some(n) {
                r.wrong(format!(
                    "datagram {} is attributed to {} send(s), the first {}",
                    name(e),
                    msgs.len(),
                    name(src)
                ));
                continue;
            }
            match (&mine, data(src)) {
                (Some(a), Some(b)) => {
                    let k = a.len().min(b.len());
                    r.receives_compared += 1;
                    r.bytes_compared += k as u64;
                    if (k as u64) < n {
                        r.prefix_only += 1;
                    }
                    if a[..k] != b[..k] {
                        r.wrong(format!(
                            "datagram {} is attributed to {}, but their bytes differ",
                            name(e),
                            name(src)
                        ));
                    }
                }
                _ => r.receives_unchecked += 1,
            }
            continue;
        }
        let attributed: u64 = msgs.iter().map(|(ed, _)| ed.bytes.unwrap_or(0)).sum();
        if attributed + unmatched != n {
            r.wrong(format!(
                "{} returned {n} bytes, but its edges carry {attributed} and {unmatched} are unmatched",
                name(e)
            ));
            continue;
        }
        let Some(at) = e.off else {
            if !msgs.is_empty() {
                r.wrong(format!(
                    "{} is attributed to sends but has no stream offset",
                    name(e)
                ));
            }
            continue;
        };
        let peek = e.flags.is_some_and(|f| f & MSG_PEEK != 0);
        if let (false, Some(end)) = (peek, stream_end(e)) {
            read.entry(end).or_default().push((at, at + n, id));
        }
        let mut compared_all = true;
        let mut compared_any = false;
        for (ed, src) in &msgs {
            let ok_send = src.kind == "syscall" && src.op.as_deref() == Some("send");
            let Some(s_at) = src.off.filter(|_| ok_send) else {
                r.wrong(format!(
                    "{} is attributed to {}, which is not a send on a stream",
                    name(e),
                    name(src)
                ));
                continue;
            };
            if !same_channel(src, e) {
                r.wrong(format!(
                    "{} is attributed to {}, a send on another connection",
                    name(e),
                    name(src)
                ));
                continue;
            }
            let s_end = s_at + src.bytes.unwrap_or(0);
            let (lo, hi) = (at.max(s_at), (at + n).min(s_end));
            if hi.saturating_sub(lo) != ed.bytes.unwrap_or(0) {
                r.wrong(format!(
                    "{} takes {} bytes from {}, but their stream ranges [{at}, {}) and [{s_at}, {s_end}) share {}",
                    name(e),
                    ed.bytes.unwrap_or(0),
                    name(src),
                    at + n,
                    hi.saturating_sub(lo)
                ));
                continue;
            }
            if !peek {
                taken.entry(ed.id).or_default().push((lo, hi, id));
            }
            let (Some(mine), Some(theirs)) = (&mine, data(src)) else {
                compared_all = false;
                continue;
            };
            // the positions both captures hold
            let m = (mine.len() as u64).min(hi - at);
            let t = (theirs.len() as u64).min(hi - s_at);
            let end = (at + m).min(s_at + t);
            if end <= lo {
                compared_all = false;
                continue;
            }
            if end < hi {
                compared_all = false;
            }
            compared_any = true;
            let a = &mine[(lo - at) as usize..(end - at) as usize];
            let b = &theirs[(lo - s_at) as usize..(end - s_at) as usize];
            r.bytes_compared += end - lo;
            if let Some(k) = a.iter().zip(b).position(|(x, y)| x != y) {
                let show = |v: &[u8]| bop_trace::escape_data(&v[k..v.len().min(k + 16)]);
                r.wrong(format!(
                    "{} is attributed bytes {lo}..{hi} of the stream from {}, but they differ at stream offset {}: received \"{}\", sent \"{}\"",
                    name(e),
                    name(src),
                    lo + k as u64,
                    show(a),
                    show(b)
                ));
            }
        }
        if compared_any {
            r.receives_compared += 1;
            if !compared_all {
                r.prefix_only += 1;
            }
        } else if !msgs.is_empty() {
            r.receives_unchecked += 1;
        }
    }
    for (_, mut ranges) in read {
        ranges.sort_unstable();
        for w in ranges.windows(2) {
            if w[1].0 < w[0].1 {
                let show = |id: u64| by_id.get(&id).map_or_else(|| format!("#{id}"), |e| name(e));
                r.wrong(format!(
                    "{} and {} both read stream bytes {}..{}",
                    show(w[0].2),
                    show(w[1].2),
                    w[1].0,
                    w[0].1.min(w[1].1)
                ));
            }
        }
    }
    for (send, mut ranges) in taken {
        ranges.sort_unstable();
        for w in ranges.windows(2) {
            if w[1].0 < w[0].1 {
                let s = by_id
                    .get(&send)
                    .map_or_else(|| format!("#{send}"), |e| name(e));
                r.wrong(format!(
                    "bytes {}..{} of the stream are taken from {s} by two receives, #{} and #{}",
                    w[1].0,
                    w[0].1.min(w[1].1),
                    w[0].2,
                    w[1].2
                ));
            }
        }
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bop_trace::{Edge, Footer, Header, FORMAT};
    use std::collections::BTreeMap;

    fn tcp(local: &str, peer: &str) -> SockInfo {
        SockInfo {
            id: 1,
            family: "inet".into(),
            ty: "stream".into(),
            local: Some(local.parse().expect("address")),
            peer: Some(peer.parse().expect("address")),
            peer_id: None,
        }
    }

    const C: &str = "127.0.0.1:40000";
    const S: &str = "127.0.0.1:7000";

    fn send(id: u64, off: u64, data: &str) -> Event {
        Event {
            node: "client".into(),
            tid: 1,
            kind: "syscall".into(),
            op: Some("send".into()),
            sock: Some(tcp(C, S)),
            bytes: Some(data.len() as u64),
            off: Some(off),
            data: Some(data.into()),
            id: Some(id),
            lane: Some(0),
            vc: Some(BTreeMap::from([(0, id + 1)])),
            ..Event::default()
        }
    }

    fn recv(id: u64, off: u64, data: &str, from: &[(u64, u64)]) -> Event {
        Event {
            node: "server".into(),
            tid: 2,
            kind: "syscall".into(),
            op: Some("recv".into()),
            sock: Some(tcp(S, C)),
            bytes: Some(data.len() as u64),
            off: Some(off),
            data: Some(data.into()),
            id: Some(id),
            lane: Some(1),
            vc: Some(BTreeMap::from([(0, 2), (1, id)])),
            from: Some(
                from.iter()
                    .map(|&(id, bytes)| Edge {
                        id,
                        kind: "msg".into(),
                        bytes: Some(bytes),
                    })
                    .collect(),
            ),
            ..Event::default()
        }
    }

    fn trace(events: Vec<Event>) -> Trace {
        Trace {
            header: Some(Header {
                format: FORMAT,
                bop_version: "test".into(),
                start_unix_ms: 0,
                backend: "test".into(),
                cluster: None,
                nodes: vec![],
            }),
            events,
            footer: Some(Footer {
                verdict: "pass".into(),
                reason: None,
                duration_ms: 1,
                events: 0,
                nodes: vec![],
                check_status: None,
                faults: vec![],
                hold_limit_releases: Some(0),
                order_guesses: Some(0),
            }),
            truncated: false,
        }
    }

    #[test]
    fn receives_that_take_the_bytes_their_sends_wrote_verify() {
        let t = trace(vec![
            send(0, 0, "SET a 1\n"),
            send(1, 8, "GET a\n"),
            recv(2, 0, "SET ", &[(0, 4)]),
            recv(3, 4, "a 1\nGET a\n", &[(0, 4), (1, 6)]),
        ]);
        let r = verify(&t).expect("checkable");
        assert_eq!(r.wrong, Vec::<String>::new());
        assert_eq!((r.receives_compared, r.bytes_compared), (2, 14));
        assert_eq!(r.exit_code(), 0);
        assert!(r.to_string().ends_with("verdict: verified"), "{r}");
    }

    #[test]
    fn a_receive_given_another_sends_bytes_is_wrong_in_words() {
        // the receive really read "GET a\n" but is attributed to the first send's bytes
        let t = trace(vec![
            send(0, 0, "SET a\n"),
            send(1, 6, "GET a\n"),
            recv(2, 0, "GET a\n", &[(0, 6)]),
        ]);
        let r = verify(&t).expect("checkable");
        assert_eq!(r.exit_code(), 1);
        assert!(
            r.wrong[0].contains(
                "differ at stream offset 0: received \"GET a\\x0a\", sent \"SET a\\x0a\""
            ),
            "{}",
            r.wrong[0]
        );
    }

    #[test]
    fn bytes_taken_twice_edges_against_the_clocks_and_bad_sums_are_wrong() {
        let mut late = recv(2, 0, "ab", &[(0, 2)]);
        late.vc = Some(BTreeMap::from([(1, 1)]));
        let t = trace(vec![send(0, 0, "ab"), late, recv(3, 0, "ab", &[(0, 2)])]);
        let r = verify(&t).expect("checkable");
        assert!(
            r.wrong.iter().any(|w| w.contains("does not happen before")),
            "{r}"
        );
        assert!(
            r.wrong
                .iter()
                .any(|w| w.contains("by two receives, #2 and #3")),
            "{r}"
        );
        let t = trace(vec![send(0, 0, "ab"), recv(1, 0, "abc", &[(0, 2)])]);
        let r = verify(&t).expect("checkable");
        assert!(
            r.wrong[0].contains("returned 3 bytes, but its edges carry 2"),
            "{r}"
        );
    }

    #[test]
    fn a_byte_read_twice_a_thread_going_backwards_and_unmatched_bytes_are_caught() {
        // two receives read bytes 0..4, one of them attributed, the other unmatched
        let mut twice = recv(3, 0, "ping", &[]);
        twice.unmatched = Some(4);
        let t = trace(vec![
            send(0, 0, "ping"),
            recv(1, 0, "ping", &[(0, 4)]),
            twice,
        ]);
        let r = verify(&t).expect("checkable");
        assert!(
            r.wrong
                .iter()
                .any(|w| w.contains("both read stream bytes 0..4")),
            "{r}"
        );
        assert!(
            r.doubts
                .as_deref()
                .is_some_and(|d| d.contains("4 bytes received from traced nodes")),
            "{r}"
        );
        // identical payloads, swapped: the thread's second receive reads earlier bytes
        let t = trace(vec![
            send(0, 0, "ping"),
            send(1, 4, "ping"),
            recv(2, 4, "ping", &[(1, 4)]),
            recv(3, 0, "ping", &[(0, 4)]),
        ]);
        let r = verify(&t).expect("checkable");
        assert!(
            r.wrong.iter().any(|w| w.contains("before those of #2")),
            "{r}"
        );
    }

    #[test]
    fn a_trace_without_its_footer_is_unsure() {
        let mut t = trace(vec![send(0, 0, "ab"), recv(1, 0, "ab", &[(0, 2)])]);
        t.footer = None;
        let r = verify(&t).expect("checkable");
        assert_eq!(r.exit_code(), 1);
        assert!(r.to_string().contains("no footer"), "{r}");
    }

    #[test]
    fn without_payload_nothing_is_compared_and_verify_says_so() {
        let mut s = send(0, 0, "ab");
        let mut v = recv(1, 0, "ab", &[(0, 2)]);
        s.data = None;
        v.data = None;
        let r = verify(&trace(vec![s, v])).expect("checkable");
        assert_eq!((r.receives_unchecked, r.exit_code()), (1, 2));
        assert!(r.to_string().contains("--capture-payload"), "{r}");
    }

    #[test]
    fn an_old_trace_without_offsets_is_refused() {
        let mut t = trace(vec![]);
        if let Some(h) = t.header.as_mut() {
            h.format = 1;
        }
        assert!(verify(&t).unwrap_err().contains("record it again"));
    }
}
