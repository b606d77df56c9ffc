//! Tests on small synthetic traces, built event by event with clocks made as the graph makes
//! them.

use std::collections::{BTreeMap, HashMap};

use bop_syscalls::SockAddr;
use bop_trace::{Edge, Event, Header, NodeInfo, SockInfo, Trace, FORMAT};
use serde_json::Value;

use crate::*;

fn addr(s: &str) -> SockAddr {
    s.parse().expect("address")
}

fn sock(id: u64, ty: &str, local: Option<&str>, peer: Option<&str>) -> SockInfo {
    SockInfo {
        id,
        family: if local.is_some_and(|l| l.starts_with("unix:")) {
            "unix".into()
        } else {
            "inet".into()
        },
        ty: ty.to_string().into(),
        local: local.map(addr),
        peer: peer.map(addr),
        peer_id: None,
    }
}

/// Builds a trace as bop's graph would: ids in order, per-lane seq, clocks merged over edges.
#[derive(Default)]
struct Builder {
    events: Vec<Event>,
    lane_vc: HashMap<u32, BTreeMap<u32, u64>>,
    vc_of: HashMap<u64, BTreeMap<u32, u64>>,
}

impl Builder {
    /// Adds `e` on `lane` with edges from `(id, kind, bytes)`; returns its id.
    fn push(&mut self, lane: u32, mut e: Event, from: &[(u64, &str, Option<u64>)]) -> u64 {
        let id = self.events.len() as u64;
        let mut vc = self.lane_vc.get(&lane).cloned().unwrap_or_default();
        for (src, _, _) in from {
            for (k, v) in &self.vc_of[src] {
                let x = vc.entry(*k).or_insert(0);
                *x = (*x).max(*v);
            }
        }
        let own = vc.get(&lane).copied().unwrap_or(0) + 1;
        vc.insert(lane, own);
        e.seq = own - 1;
        e.id = Some(id);
        e.lane = Some(lane);
        e.ts = 1000 * (id + 1);
        e.vc = Some(vc.clone());
        if !from.is_empty() {
            e.from = Some(
                from.iter()
                    .map(|(i, k, b)| Edge {
                        id: *i,
                        kind: k.to_string().into(),
                        bytes: *b,
                    })
                    .collect(),
            );
        }
        self.lane_vc.insert(lane, vc.clone());
        self.vc_of.insert(id, vc);
        self.events.push(e);
        id
    }

    fn trace(self, nodes: &[&str]) -> Trace {
        Trace {
            header: Some(Header {
                format: FORMAT,
                bop_version: "test".into(),
                start_unix_ms: 0,
                backend: "test".into(),
                cluster: None,
                nodes: nodes
                    .iter()
                    .map(|n| NodeInfo {
                        name: n.to_string(),
                        cmd: n.to_string(),
                        daemon: false,
                    })
                    .collect(),
            }),
            events: self.events,
            footer: None,
            truncated: false,
        }
    }
}

fn base(node: &str, pid: i32, tid: i32, kind: &str) -> Event {
    Event {
        node: node.to_string().into(),
        pid,
        tid,
        kind: kind.to_string().into(),
        ..Event::default()
    }
}

fn call(node: &str, pid: i32, tid: i32, syscall: &str, op: &str, fd: i32) -> Event {
    Event {
        syscall: Some(syscall.to_string().into()),
        op: Some(op.to_string().into()),
        fd: Some(fd),
        ..base(node, pid, tid, "syscall")
    }
}

/// A TCP echo exchange: a server with two threads (its main thread and a worker it starts,
/// which talks to an address nobody traced), a client, and the client's EOF.
fn echo() -> Trace {
    let mut b = Builder::default();
    let srv = Some("127.0.0.1:7000");
    let cli = Some("127.0.0.1:5555");
    let (s, c) = (0, 1);
    b.push(s, base("server", 100, 100, "spawn"), &[]);
    b.push(
        s,
        Event {
            sock: Some(sock(10, "stream", None, None)),
            ..call("server", 100, 100, "socket", "socket", 3)
        },
        &[],
    );
    b.push(
        s,
        Event {
            sock: Some(sock(10, "stream", srv, None)),
            addr: Some(addr("127.0.0.1:7000")),
            ..call("server", 100, 100, "bind", "bind", 3)
        },
        &[],
    );
    b.push(c, base("client", 200, 200, "spawn"), &[]);
    let conn = b.push(
        c,
        Event {
            sock: Some(sock(20, "stream", cli, srv)),
            addr: Some(addr("127.0.0.1:7000")),
            ..call("client", 200, 200, "connect", "connect", 3)
        },
        &[],
    );
    b.push(
        s,
        Event {
            sock: Some(sock(11, "stream", srv, cli)),
            addr: Some(addr("127.0.0.1:5555")),
            ret: Some(4),
            ..call("server", 100, 100, "accept4", "accept", 3)
        },
        &[(conn, "connect", None)],
    );
    let send = b.push(
        c,
        Event {
            sock: Some(sock(20, "stream", cli, srv)),
            bytes: Some(16),
            ..call("client", 200, 200, "sendmsg", "send", 3)
        },
        &[],
    );
    b.push(
        s,
        Event {
            sock: Some(sock(11, "stream", srv, cli)),
            bytes: Some(16),
            ..call("server", 100, 100, "recvfrom", "recv", 4)
        },
        &[(send, "msg", Some(16))],
    );
    let reply = b.push(
        s,
        Event {
            sock: Some(sock(11, "stream", srv, cli)),
            bytes: Some(16),
            ..call("server", 100, 100, "sendto", "send", 4)
        },
        &[],
    );
    let thread = b.push(
        s,
        Event {
            other: Some(101),
            ..base("server", 100, 100, "thread")
        },
        &[],
    );
    b.push(
        2,
        Event {
            sock: Some(sock(
                30,
                "stream",
                Some("127.0.0.1:6000"),
                Some("10.1.2.3:80"),
            )),
            bytes: Some(5),
            ..call("server", 100, 101, "sendto", "send", 5)
        },
        &[(thread, "fork", None)],
    );
    b.push(
        c,
        Event {
            sock: Some(sock(20, "stream", cli, srv)),
            bytes: Some(16),
            ..call("client", 200, 200, "recvfrom", "recv", 3)
        },
        &[(reply, "msg", Some(16))],
    );
    let close = b.push(
        c,
        Event {
            sock: Some(sock(20, "stream", cli, srv)),
            ..call("client", 200, 200, "close", "close", 3)
        },
        &[],
    );
    b.push(
        s,
        Event {
            sock: Some(sock(11, "stream", srv, cli)),
            bytes: Some(0),
            ret: Some(0),
            ..call("server", 100, 100, "recvfrom", "recv", 4)
        },
        &[(close, "eof", None)],
    );
    b.push(
        c,
        Event {
            status: Some(0),
            ..base("client", 200, 200, "exit")
        },
        &[],
    );
    b.trace(&["server", "client"])
}

/// The text of the event with this id.
fn text_of(m: &Model, id: u64) -> String {
    m.by_id(id)
        .map(|i| m.events[i].text.clone())
        .unwrap_or_default()
}

/// The (text, host, clock) pairs of a ShiViz log, parsed by hand; panics on a bad layout.
fn parse_shiviz(s: &str) -> Vec<(String, String, BTreeMap<String, u64>)> {
    let lines: Vec<&str> = s.split('\n').collect();
    assert_eq!(lines[0], r"(?<event>.*)\n(?<host>\S*) (?<clock>{.*})");
    assert_eq!(lines[1], "");
    let body: Vec<&str> = lines[2..]
        .iter()
        .copied()
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(body.len() % 2, 0, "pairs of lines");
    body.chunks(2)
        .map(|p| {
            let (host, clock) = p[1].split_once(' ').expect("HOST {clock}");
            assert!(!host.is_empty() && !host.contains(char::is_whitespace));
            assert!(!p[0].contains('{'), "an event line with a brace: {}", p[0]);
            let clock: BTreeMap<String, u64> = serde_json::from_str(clock).expect("clock JSON");
            (p[0].to_string(), host.to_string(), clock)
        })
        .collect()
}

#[test]
fn hosts_are_nodes_or_node_dot_n_in_order_of_first_appearance() {
    assert_eq!(host_name("server", 0, 1), "server");
    assert_eq!(host_name("server", 0, 3), "server.1");
    assert_eq!(host_name("server", 2, 3), "server.3");
    assert_eq!(host_name("my node", 0, 1), "my_node");
    let t = echo();
    let m = Model::new(&t);
    let names: Vec<_> = m.hosts.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["server.1", "server.2", "client"]);
    assert_eq!(m.hosts[1].tid, 101);

    // lanes numbered against their order of appearance: the names follow the appearance
    let mut b = Builder::default();
    b.push(7, base("n", 1, 3, "spawn"), &[]);
    b.push(2, base("n", 1, 1, "spawn"), &[]);
    b.push(5, base("m", 2, 2, "spawn"), &[]);
    let t = b.trace(&[]);
    let m = Model::new(&t);
    let by_lane: BTreeMap<u32, &str> = m.hosts.iter().map(|h| (h.lane, h.name.as_str())).collect();
    assert_eq!(by_lane[&7], "n.1");
    assert_eq!(by_lane[&2], "n.2");
    assert_eq!(by_lane[&5], "m");
}

#[test]
fn shiviz_own_component_starts_at_1_and_rises_by_1() {
    let t = echo();
    let m = Model::new(&t);
    let s = shiviz(&m);
    let evs = parse_shiviz(&s);
    assert_eq!(evs.len(), t.events.len());
    let mut last: HashMap<String, u64> = HashMap::new();
    for (text, host, clock) in &evs {
        let own = clock.get(host).copied();
        assert_eq!(
            own,
            Some(last.get(host).copied().unwrap_or(0) + 1),
            "{text}"
        );
        last.insert(host.clone(), own.unwrap_or(0));
        // every component names a host and is at least 1
        for (h, v) in clock {
            assert!(m.hosts.iter().any(|x| &x.name == h), "{h}");
            assert!(*v >= 1);
        }
    }
    // the receive's clock is above its send's
    let send = evs
        .iter()
        .position(|e| e.0.starts_with("send 16B to server"))
        .unwrap();
    let recv = evs
        .iter()
        .position(|e| e.0.starts_with("recv 16B from client"))
        .unwrap();
    assert!(evs[send]
        .2
        .iter()
        .all(|(h, v)| evs[recv].2.get(h).is_some_and(|w| w >= v)));
    assert!(m.happens_before(send, recv) && !m.happens_before(recv, send));
}

#[test]
fn texts_say_op_peer_size_and_call() {
    let t = echo();
    let m = Model::new(&t);
    assert_eq!(
        text_of(&m, 4),
        "connect to server 127.0.0.1:7000 (connect fd=3)"
    );
    assert_eq!(
        text_of(&m, 5),
        "accept from client 127.0.0.1:5555 (accept4 fd=3)"
    );
    assert_eq!(text_of(&m, 6), "send 16B to server (sendmsg fd=3)");
    assert_eq!(text_of(&m, 7), "recv 16B from client (recvfrom fd=4)");
    assert_eq!(text_of(&m, 8), "send 16B to client (sendto fd=4)");
    assert_eq!(text_of(&m, 9), "fork server.2 tid=101");
    assert_eq!(text_of(&m, 12), "close to server (close fd=3)");
    assert_eq!(text_of(&m, 14), "exit status=0");
    assert_eq!(m.events[m.by_id(6).unwrap()].label, "send 16B");
    assert_eq!(
        m.events[m.by_id(6).unwrap()].peer.as_deref(),
        Some("server")
    );
}

#[test]
fn a_zero_byte_receive_is_eof_and_a_fault_says_fault() {
    let t = echo();
    let m = Model::new(&t);
    let eof = &m.events[m.by_id(13).unwrap()];
    assert_eq!(eof.op, "eof");
    assert_eq!(eof.text, "eof from client (recvfrom fd=4)");
    assert_eq!(eof.label, "eof");

    let mut b = Builder::default();
    b.push(
        0,
        Event {
            detail: Some("drop client -> relay #1 {16B}\nnext".into()),
            op: Some("send".into()),
            bytes: Some(16),
            ..base("relay", 1, 1, "fault")
        },
        &[],
    );
    let t = b.trace(&["relay"]);
    let m = Model::new(&t);
    let f = &m.events[0];
    assert_eq!(f.op, "fault");
    assert_eq!(f.text, "fault send 16B: drop client -> relay #1 (16B) next");
    assert!(!f.text.contains(['\n', '{', '}']), "{}", f.text);
    let sv = parse_shiviz(&shiviz(&m));
    assert!(sv[0].0.starts_with("fault "));

    // as bop records one: the call it replaced, the action as op, the rule in detail
    let mut b = Builder::default();
    b.push(
        0,
        Event {
            kind: "fault".into(),
            op: Some("drop".into()),
            detail: Some("drop client -> relay #1 [drop client relay]".into()),
            sock: Some(sock(
                5,
                "stream",
                Some("127.0.0.1:4000"),
                Some("127.0.0.1:7000"),
            )),
            bytes: Some(8),
            ..call("client", 1, 1, "sendto", "send", 3)
        },
        &[],
    );
    let t = b.trace(&["client"]);
    let m = Model::new(&t);
    assert_eq!(
        m.events[0].text,
        "fault drop 8B: drop client -> relay #1 [drop client relay] (sendto fd=3)"
    );
    assert_eq!(m.events[0].label, "fault drop");
}

#[test]
fn an_address_no_node_owns_is_external() {
    let t = echo();
    let m = Model::new(&t);
    let e = &m.events[m.by_id(10).unwrap()];
    assert_eq!(e.peer.as_deref(), Some("external:10.1.2.3:80"));
    assert_eq!(e.text, "send 5B to external:10.1.2.3:80 (sendto fd=5)");
}

#[test]
fn unix_peers_resolve_by_socket_inode_and_wildcard_listeners_by_port() {
    let mut b = Builder::default();
    b.push(
        0,
        Event {
            sock: Some(sock(41, "stream", Some("unix:"), None)),
            bytes: Some(3),
            ..call("a", 1, 1, "write", "send", 3)
        },
        &[],
    );
    b.push(
        1,
        Event {
            sock: Some(SockInfo {
                peer_id: Some(41),
                ..sock(42, "stream", Some("unix:"), Some("unix:"))
            }),
            bytes: Some(3),
            ..call("b", 2, 2, "write", "send", 4)
        },
        &[],
    );
    b.push(
        2,
        Event {
            sock: Some(sock(50, "dgram", Some("0.0.0.0:9000"), None)),
            addr: Some(addr("0.0.0.0:9000")),
            ..call("c", 3, 3, "bind", "bind", 3)
        },
        &[],
    );
    b.push(
        0,
        Event {
            sock: Some(sock(51, "dgram", Some("127.0.0.1:4444"), None)),
            addr: Some(addr("127.0.0.1:9000")),
            bytes: Some(8),
            ..call("a", 1, 1, "sendto", "send", 5)
        },
        &[],
    );
    let t = b.trace(&["a", "b", "c"]);
    let m = Model::new(&t);
    assert_eq!(m.events[1].text, "send 3B to a (write fd=4)");
    assert_eq!(m.events[3].text, "send 8B to c (sendto fd=5)");
}

#[test]
fn perfetto_flows_pair_up_across_lanes() {
    let t = echo();
    let m = Model::new(&t);
    let v: Value = serde_json::from_str(&perfetto(&m, "t")).expect("JSON");
    let evs = v["traceEvents"].as_array().expect("traceEvents");
    let of = |ph: &str| -> Vec<&Value> { evs.iter().filter(|e| e["ph"] == ph).collect() };
    let (starts, finishes) = (of("s"), of("f"));
    let cross = m
        .links
        .iter()
        .filter(|l| {
            l.from
                .is_some_and(|f| m.events[f].host != m.events[l.to].host)
        })
        .count();
    assert_eq!(cross, 5);
    assert_eq!(starts.len(), cross);
    assert_eq!(finishes.len(), cross);
    for s in &starts {
        let f: Vec<_> = finishes.iter().filter(|f| f["id"] == s["id"]).collect();
        assert_eq!(f.len(), 1, "one finish per start");
        assert_eq!(f[0]["bp"], "e");
        assert_eq!(f[0]["cat"], s["cat"]);
        assert_eq!(f[0]["name"], s["name"]);
        assert!(
            f[0]["ts"].as_f64() >= s["ts"].as_f64(),
            "arrows go forward in time"
        );
        // each end sits on a slice of its thread
        for end in [s, f[0]] {
            assert!(evs.iter().any(|x| x["ph"] == "X"
                && x["pid"] == end["pid"]
                && x["tid"] == end["tid"]
                && x["ts"] == end["ts"]));
        }
    }
    assert_eq!(of("X").len(), t.events.len());
    let names: Vec<_> = of("M")
        .iter()
        .filter(|e| e["name"] == "process_name")
        .map(|e| e["args"]["name"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(names, ["server", "client"]);
}

#[test]
fn html_is_self_contained_and_its_data_cannot_break_out() {
    let mut t = echo();
    t.events[0].argv = Some(vec![
        "</script><script src=\"https://evil.example/x.js\"></script>".into(),
        "<link href=http://x>".into(),
    ]);
    let m = Model::new(&t);
    let h = html(&m, "t <b>");
    // the embedded data: JSON with no `<` at all, so no tag can start inside it
    let open = "type=\"application/json\">";
    let start = h.find(open).expect("data element") + open.len();
    let end = start + h[start..].find("</script>").expect("end of the data");
    let data_text = &h[start..end];
    assert!(!data_text.contains('<'));
    // the page around it fetches nothing: no src/href to the network, no stylesheet links
    let page = format!("{}{}", &h[..start], &h[end..]).to_ascii_lowercase();
    for attr in ["src=", "href="] {
        for (i, _) in page.match_indices(attr) {
            let v = &page[i + attr.len()..(i + attr.len() + 12).min(page.len())];
            assert!(
                !v.trim_start_matches(['"', '\'']).starts_with("http"),
                "{attr}{v}"
            );
            assert!(
                !v.trim_start_matches(['"', '\'']).starts_with("//"),
                "{attr}{v}"
            );
        }
    }
    assert!(!page.contains("<link"));
    assert!(!page.contains("@import"));
    assert!(!page.contains("url(http"));
    assert!(!page.contains("fetch("));
    assert_eq!(
        page.matches("<script").count(),
        2,
        "the data and the viewer, nothing more"
    );
    assert_eq!(h.matches("</script>").count(), 2);
    assert!(h.contains("t &lt;b&gt;"));
    // the embedded data is the JSON graph, whole
    let data: Value = serde_json::from_str(data_text).expect("embedded JSON");
    assert_eq!(
        data["events"].as_array().map(Vec::len),
        Some(t.events.len())
    );
    assert!(data["palette"]["ops"].is_array());
}

#[test]
fn json_has_every_edge_and_host_keyed_clocks() {
    let t = echo();
    let m = Model::new(&t);
    let v: Value = serde_json::from_str(&json(&m, "t")).expect("JSON");
    let from_total: usize = t
        .events
        .iter()
        .map(|e| e.from.as_ref().map_or(0, Vec::len))
        .sum();
    assert_eq!(v["edges"].as_array().map(Vec::len), Some(from_total));
    assert_eq!(v["nodes"], serde_json::json!(["server", "client"]));
    let e7 = &v["events"][7];
    assert_eq!(e7["host"], "server.1");
    assert_eq!(e7["text"], "recv 16B from client (recvfrom fd=4)");
    assert_eq!(e7["vc"], serde_json::json!({"server.1": 5, "client": 3}));
    assert_eq!(v["hosts"][1]["name"], "server.2");
    assert_eq!(v["hosts"][1]["node"], "server");
    assert!(v["edges"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["from"] == 6 && e["to"] == 7 && e["kind"] == "msg" && e["bytes"] == 16));
}

#[test]
fn labels_are_the_same_in_every_format() {
    let t = echo();
    let m = Model::new(&t);
    let d = dot(&m, "t");
    let j: Value = serde_json::from_str(&json(&m, "t")).unwrap();
    let p: Value = serde_json::from_str(&perfetto(&m, "t")).unwrap();
    let sv = parse_shiviz(&shiviz(&m));
    for (i, ev) in m.events.iter().enumerate() {
        assert!(d.contains(&format!("e{} [label=\"{}\"", ev.id, ev.label)));
        assert_eq!(j["events"][i]["label"], ev.label.as_str());
        assert_eq!(j["events"][i]["text"], ev.text.as_str());
        assert_eq!(sv[i].0, ev.text);
        assert!(p["traceEvents"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["ph"] == "X"
                && x["name"] == ev.label.as_str()
                && x["args"]["text"] == ev.text.as_str()));
    }
    // dot: a cluster per host, cross edges styled by kind
    assert_eq!(d.matches("subgraph cluster_").count(), m.hosts.len());
    assert!(d.contains("e12 -> e13 [color=\"#ea580c\""), "the eof edge");
}

#[test]
fn a_trace_without_graph_fields_still_exports() {
    let mut t = echo();
    for e in &mut t.events {
        e.id = None;
        e.lane = None;
        e.vc = None;
        e.from = None;
    }
    let m = Model::new(&t);
    assert!(!m.warnings.is_empty());
    let sv = parse_shiviz(&shiviz(&m));
    assert_eq!(sv.len(), t.events.len());
    assert_eq!(m.hosts.len(), 3);
}

#[test]
fn clocks_from_the_trace_match_clocks_from_the_edges() {
    // what ShiViz checks: every clock is the join of its thread predecessor's and its causes'
    let t = echo();
    let m = Model::new(&t);
    let mut dropped = t.clone();
    for e in &mut dropped.events {
        e.vc = None;
    }
    let d = Model::new(&dropped);
    for (a, b) in m.events.iter().zip(&d.events) {
        assert_eq!(a.clock, b.clock, "event {}", a.id);
    }
    assert!(m.warnings.is_empty(), "{:?}", m.warnings);
}

#[test]
fn formats_parse_from_their_names() {
    for f in Format::ALL {
        assert_eq!(f.name().parse::<Format>(), Ok(f));
    }
    assert!("png".parse::<Format>().unwrap_err().contains("shiviz"));
}

#[test]
fn odd_traces_export_without_panicking() {
    // a trace is user input: garbage clocks, dangling and backward edges, clashing ids, huge
    // numbers, missing fields
    let mut t = echo();
    t.events[1].vc = Some(BTreeMap::from([(u32::MAX, 3), (99, 7)]));
    t.events[2].from = Some(vec![Edge {
        id: 12345,
        kind: "msg".into(),
        bytes: Some(1),
    }]);
    t.events[3].from = Some(vec![Edge {
        id: 14,
        kind: "weird".into(),
        bytes: None,
    }]);
    t.events[4].id = Some(5);
    t.events[5].ts = u64::MAX;
    t.events[6].lane = Some(u32::MAX);
    t.events[7].node = "".into();
    t.events[8].kind = "".into();
    t.events[9].sock = None;
    t.header = None;
    t.events.push(Event::default());
    let m = Model::new(&t);
    assert!(!m.warnings.is_empty());
    let sv = parse_shiviz(&shiviz(&m));
    assert_eq!(sv.len(), t.events.len());
    let mut last: HashMap<String, u64> = HashMap::new();
    for (_, host, clock) in &sv {
        let own = last.get(host).copied().unwrap_or(0) + 1;
        assert_eq!(clock.get(host), Some(&own));
        last.insert(host.clone(), own);
    }
    for f in Format::ALL {
        let out = render(&m, f, "odd");
        assert!(!out.is_empty());
    }
    assert!(!svg(&m, "odd", Rows::Compact).is_empty());
    let empty = Trace::default();
    let m = Model::new(&empty);
    for f in Format::ALL {
        render(&m, f, "empty");
    }
    assert!(!svg(&m, "empty", Rows::Compact).is_empty());
}

/// The x of each lane header (`<g id="lane-H">…<rect x="X"`) in an SVG export, by host index.
fn svg_lane_x(s: &str, hosts: usize) -> Vec<f64> {
    (0..hosts)
        .map(|h| {
            let at = s
                .find(&format!("<g id=\"lane-{h}\">"))
                .unwrap_or_else(|| panic!("no lane {h}"));
            let rest = &s[at..];
            let x = rest.find("<rect x=\"").expect("a header") + 9;
            rest[x..x + rest[x..].find('"').expect("end of x")]
                .parse()
                .expect("a number")
        })
        .collect()
}

#[test]
fn the_svg_and_the_page_order_a_nodes_lanes_the_same_way() {
    // a node's threads appear around another node's lane: n.1, then m, then n.2
    let mut b = Builder::default();
    let a = b.push(0, base("n", 1, 1, "spawn"), &[]);
    b.push(
        0,
        Event {
            other: Some(2),
            ..base("n", 1, 1, "thread")
        },
        &[],
    );
    b.push(1, base("m", 5, 5, "spawn"), &[(a, "fork", None)]);
    b.push(2, base("n", 1, 2, "spawn"), &[]);
    let t = b.trace(&["n", "m"]);
    let m = Model::new(&t);
    let names: Vec<&str> = m.hosts.iter().map(|h| h.name.as_str()).collect();
    let col = layout::columns(&m);
    let mut by_col = names.clone();
    for (h, name) in names.iter().enumerate() {
        by_col[col[h]] = name;
    }
    assert_eq!(by_col, ["n.1", "n.2", "m"], "a node's lanes side by side");

    // the SVG: lanes left to right in that order
    let s = svg(&m, "t", Rows::Id);
    let xs = svg_lane_x(&s, m.hosts.len());
    for h in 0..m.hosts.len() {
        for k in 0..m.hosts.len() {
            assert_eq!(
                col[h] < col[k],
                xs[h] < xs[k],
                "{} vs {}",
                names[h],
                names[k]
            );
        }
    }
    // the page: the same columns and colours, and the same compact rows
    let page = html(&m, "t");
    let data = page
        .split_once("<script id=\"bop-data\" type=\"application/json\">")
        .and_then(|(_, r)| r.split_once("</script>"))
        .map(|(d, _)| d)
        .expect("the page's data");
    let v: Value = serde_json::from_str(data).expect("data parses");
    let page_cols: Vec<usize> = serde_json::from_value(v["columns"].clone()).expect("columns");
    assert_eq!(page_cols, col);
    let colors: Vec<String> = serde_json::from_value(v["colors"].clone()).expect("colors");
    let host = |name: &str| names.iter().position(|n| *n == name).expect("host");
    assert_eq!(
        colors[host("n.1")],
        colors[host("n.2")],
        "a node's lanes share its colour"
    );
    assert_ne!(colors[host("n.1")], colors[host("m")]);
    assert!(s.contains(&format!("fill=\"{}\"", colors[host("m")])));
    let compact: Vec<usize> = serde_json::from_value(v["compact"].clone()).expect("compact");
    assert_eq!(compact, layout::rows(&m, Rows::Compact));
}

#[test]
fn compact_rows_are_causal_depth() {
    let t = echo();
    let m = Model::new(&t);
    let rows = layout::rows(&m, Rows::Compact);
    for (ix, ev) in m.events.iter().enumerate() {
        // below the thread predecessor and below every cause
        if ev.pos > 0 {
            let prev = m.hosts[ev.host].events[ev.pos as usize - 1];
            assert!(rows[ix] > rows[prev]);
        }
        for l in m.links.iter().filter(|l| l.to == ix) {
            if let Some(f) = l.from {
                assert!(rows[ix] > rows[f], "event {} under its cause", ev.id);
            }
        }
    }
    assert!(
        rows.iter().max() < Some(&(m.events.len() - 1)),
        "shorter than id order"
    );
    assert_eq!(
        layout::rows(&m, Rows::Id),
        (0..m.events.len()).collect::<Vec<_>>()
    );
}

#[test]
fn the_svg_draws_every_event_and_edge_and_escapes_text() {
    let mut t = echo();
    t.events[0].node = "a<b>&\"c\u{1}".to_string().into();
    let m = Model::new(&t);
    let s = svg(&m, "t<1>", Rows::Id);
    assert!(s.starts_with("<?xml"));
    for ev in &m.events {
        assert!(s.contains(&format!("<g id=\"e{}\"><title>#{} ", ev.id, ev.id)));
    }
    let edges = m.links.iter().filter(|l| l.from.is_some()).count();
    assert_eq!(s.matches("<line class=\"edge\"").count(), edges);
    assert!(s.contains("marker-end=\"url(#mk-eof)\""), "the eof edge");
    assert!(!s.contains('\u{1}'), "no control characters in XML");
    assert!(s.contains("a&lt;b&gt;&amp;&quot;c\u{fffd}"));
    assert!(s.contains("t&lt;1&gt;"));
    assert!(!s.contains("<1>") && !s.contains("<b>"));
}

#[test]
fn counts_of_one_are_singular_and_titles_escaped_alike() {
    let mut t = echo();
    t.events.truncate(1);
    t.events[0].from = None;
    let node = t.events[0].node.to_string();
    if let Some(h) = &mut t.header {
        h.nodes.retain(|n| n.name == node);
    }
    let m = Model::new(&t);
    assert_eq!((m.events.len(), m.hosts.len(), m.nodes.len()), (1, 1, 1));
    let s = svg(&m, "t", Rows::Id);
    assert!(s.contains(">1 event · 1 thread · 1 node · 0 edges"), "{s}");
    assert!(s.contains(", 1 event</title>"), "{s}");
    // the page and the SVG escape a title the same way
    let page = html(&m, "a\u{1}<b>");
    assert!(page.contains("a\u{fffd}&lt;b&gt;"));
    assert!(!page.contains('\u{1}'));
    let s = svg(&m, "a\u{1}<b>", Rows::Id);
    assert!(s.contains("a\u{fffd}&lt;b&gt;"));
}
