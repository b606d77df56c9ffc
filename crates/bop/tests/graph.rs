//! The happens-before graph of real runs: for every testbed, what the trace's `id`, `lane`,
//! `vc` and `from` fields must satisfy (docs/trace-format.md, "Causality").
//!
//! * every byte received on a stream is attributed to the sends it came from (the `msg` edges
//!   of a receive add up to its byte count, MSG_PEEK receives included), every datagram
//!   received to its send, and `bop stats` finds nothing unmatched;
//! * edges go from smaller to larger ids, and the clocks are the happens-before relation: for
//!   every edge a -> b, vc(a) < vc(b); every clock is the join of its predecessors'; a reaches b
//!   through edges and program order exactly when vc(a) < vc(b); a lane's own component is
//!   seq + 1;
//! * every connect has exactly one accept with a `connect` edge from it;
//! * every end of stream has an `eof` edge from a close or shutdown of the other end (or from
//!   the exit that closed it).

mod common;

use bop_trace::Trace;
use common::*;

/// The run passed, and its graph satisfies every check; returns the trace, the number of
/// connections and the number of ends of stream.
fn graph_of(run: &BopRun) -> (Trace, usize, usize) {
    run.expect_code(0);
    let t = assert_graph_consistent(run);
    assert_complete(&t, &run.diag());
    let diag = format!("{}\n--- trace ---\n{}", run.diag(), dump(&t));
    let conns = assert_connects_accepted(&t, &diag);
    let eofs = assert_eofs_explained(&t, &diag);
    (t, conns, eofs)
}

fn peeks(t: &Trace) -> usize {
    t.events
        .iter()
        .filter(|e| e.op.as_deref() == Some("recv") && e.flags.unwrap_or(0) & 2 != 0)
        .filter(|e| e.bytes.unwrap_or(0) > 0)
        .count()
}

#[test]
fn graph_of_tb_echo_ipv4() {
    let sb = Sandbox::new();
    let port = free_port();
    let echo = tb("tb-echo");
    let run = sb.run_cluster(
        "echo",
        &format!(
            r#"
[[node]]
name = "server"
cmd = "'{echo}' server {port} 2"
ready = "tcp:127.0.0.1:{port}"

[[node]]
name = "client1"
cmd = "'{echo}' client {port} 1 5"

[[node]]
name = "client2"
cmd = "'{echo}' client {port} 2 5"

[run]
timeout = "20s"
"#
        ),
    );
    let (_, conns, eofs) = graph_of(&run);
    assert_eq!(conns, 2, "two clients, two connections");
    assert_eq!(eofs, 2, "the server sees each client's close");
}

#[test]
fn graph_of_tb_echo_ipv6() {
    let sb = Sandbox::new();
    let port = free_port6();
    let echo = tb("tb-echo");
    let run = sb.run_cluster(
        "echo6",
        &format!(
            r#"
[[node]]
name = "server"
cmd = "'{echo}' server6 {port} 2"
ready = "tcp:[::1]:{port}"

[[node]]
name = "client1"
cmd = "'{echo}' client6 {port} 1 5"

[[node]]
name = "client2"
cmd = "'{echo}' client6 {port} 2 5"

[run]
timeout = "20s"
"#
        ),
    );
    let (t, conns, eofs) = graph_of(&run);
    assert_eq!(conns, 2);
    assert_eq!(eofs, 2);
    assert!(t
        .events
        .iter()
        .filter_map(|e| e.sock.as_ref())
        .all(|s| s.family == "inet6"));
}

#[test]
fn graph_of_tb_udp() {
    let sb = Sandbox::new();
    let port = free_udp_port();
    let udp = tb("tb-udp");
    // both clients start after the server has bound its port: no datagram is sent into the
    // void (that one would rightly count as unmatched)
    let run = sb.run_cluster(
        "udp",
        &format!(
            r#"
[[node]]
name = "server"
cmd = "'{udp}' server {port} 12"

[[node]]
name = "client1"
cmd = "'{udp}' client {port} 6"
delay = "300ms"

[[node]]
name = "client2"
cmd = "'{udp}' client {port} 6"

[run]
timeout = "20s"
"#
        ),
    );
    let (t, conns, eofs) = graph_of(&run);
    assert_eq!(conns, 0, "UDP has no stream connections");
    assert_eq!(eofs, 0);
    // 12 requests and 12 answers, each a datagram with its msg edge
    let dgram_recvs = t
        .events
        .iter()
        .filter(|e| {
            e.op.as_deref() == Some("recv")
                && e.bytes.unwrap_or(0) > 0
                && e.sock.as_ref().is_some_and(|s| s.ty == "dgram")
        })
        .count();
    assert!(dgram_recvs >= 24, "{dgram_recvs} datagrams received");
}

#[test]
fn graph_of_tb_unix() {
    let sb = Sandbox::new();
    let path = sb.join("u.sock");
    let path = path.display();
    let unix = tb("tb-unix");
    let run = sb.run_cluster(
        "unix",
        &format!(
            r#"
[[node]]
name = "server"
cmd = "'{unix}' server '{path}' 2"
ready = "unix:{path}"

[[node]]
name = "client1"
cmd = "'{unix}' client '{path}' 4"

[[node]]
name = "client2"
cmd = "'{unix}' client '{path}' 4"

[run]
timeout = "20s"
"#
        ),
    );
    let (t, conns, eofs) = graph_of(&run);
    assert_eq!(conns, 2);
    assert_eq!(eofs, 2);
    let dgrams = t
        .events
        .iter()
        .filter(|e| {
            e.op.as_deref() == Some("recv")
                && e.bytes.unwrap_or(0) > 0
                && e.sock.as_ref().is_some_and(|s| s.ty == "dgram")
        })
        .count();
    assert_eq!(dgrams, 4, "one datagram and its answer per client");
}

#[test]
fn graph_of_tb_threaded() {
    let sb = Sandbox::new();
    let port = free_port();
    let th = tb("tb-threaded");
    let run = sb.run_cluster(
        "threaded",
        &format!(
            r#"
[[node]]
name = "server"
cmd = "'{th}' server {port} 8"
ready = "tcp:127.0.0.1:{port}"

[[node]]
name = "client1"
cmd = "'{th}' client {port} 5"

[[node]]
name = "client2"
cmd = "'{th}' client {port} 5"

[run]
timeout = "20s"
"#
        ),
    );
    let (t, conns, eofs) = graph_of(&run);
    assert_eq!(conns, 8);
    assert_eq!(eofs, 8);
    assert!(peeks(&t) >= 8, "the server peeks at each connection");
}

#[test]
fn graph_of_tb_forking() {
    let sb = Sandbox::new();
    let port = free_port();
    let fk = tb("tb-forking");
    let run = sb.run_cluster(
        "forking",
        &format!(
            r#"
[[node]]
name = "server"
cmd = "'{fk}' server {port} 3"
ready = "tcp:127.0.0.1:{port}"

[[node]]
name = "client1"
cmd = "'{fk}' client {port} 1 5"

[[node]]
name = "client2"
cmd = "'{fk}' client {port} 2 5"

[[node]]
name = "client3"
cmd = "'{fk}' client {port} 3 5"

[run]
timeout = "20s"
"#
        ),
    );
    let (t, conns, eofs) = graph_of(&run);
    assert_eq!(conns, 3);
    assert_eq!(eofs, 3, "each child sees its client's close");
    assert!(peeks(&t) >= 3, "the server peeks at each connection");
    // the children's first events come after the fork that made them
    for e in t.events.iter().filter(|e| e.kind == "fork") {
        let child = e.other.expect("fork names its child");
        let first = t
            .events
            .iter()
            .find(|x| x.tid == child)
            .unwrap_or_else(|| panic!("no event of child {child}"));
        assert!(
            first
                .from
                .iter()
                .flatten()
                .any(|ed| ed.kind == "fork" && Some(ed.id) == e.id),
            "the first event of child {child} has no fork edge from #{:?}: {first:?}",
            e.id
        );
    }
}

#[test]
fn graph_of_tb_relay_chain() {
    let sb = Sandbox::new();
    let (sp, rp) = (free_port(), free_port());
    let relay = tb("tb-relay");
    let result = sb.join("result");
    let result = result.display();
    let run = sb.run_cluster(
        "relay",
        &format!(
            r#"
[[node]]
name = "server"
cmd = "'{relay}' server {sp}"
daemon = true
ready = "tcp:127.0.0.1:{sp}"

[[node]]
name = "relay"
cmd = "'{relay}' relay {rp} {sp}"
daemon = true
ready = "tcp:127.0.0.1:{rp}"

[[node]]
name = "client"
cmd = "'{relay}' client {rp} '{result}'"

[run]
timeout = "20s"
"#
        ),
    );
    run.expect_code(0);
    let t = assert_graph_consistent(&run);
    let diag = format!("{}\n--- trace ---\n{}", run.diag(), dump(&t));
    assert_eq!(assert_connects_accepted(&t, &diag), 2);
    assert!(
        assert_eofs_explained(&t, &diag) >= 1,
        "the server sees the relay's close\n{diag}"
    );
    // the client's request reaches the server through the relay, and the answer comes back
    let first = |node: &str, op: &str| {
        t.events
            .iter()
            .find(|e| e.node == node && e.op.as_deref() == Some(op) && e.bytes.unwrap_or(0) > 0)
            .unwrap_or_else(|| panic!("no {op} of {node}\n{diag}"))
    };
    let (c_send, s_recv) = (first("client", "send"), first("server", "recv"));
    let (s_send, c_recv) = (first("server", "send"), first("client", "recv"));
    assert!(vc_less(&vc_of(c_send), &vc_of(s_recv)), "{diag}");
    assert!(vc_less(&vc_of(s_send), &vc_of(c_recv)), "{diag}");
    // nothing the server did happened before the client's request
    for e in t.events.iter().filter(|e| e.node == "server") {
        assert!(
            !vc_less(&vc_of(e), &vc_of(c_send)),
            "server event {e:?} is before the client's first send\n{diag}"
        );
    }
}

/// The checks above are not vacuous: each catches a trace corrupted in its way.
#[test]
fn the_graph_checks_catch_a_corrupted_trace() {
    let sb = Sandbox::new();
    let port = free_port();
    let echo = tb("tb-echo");
    let run = sb.run_cluster(
        "echo",
        &format!(
            r#"
[[node]]
name = "server"
cmd = "'{echo}' server {port} 1"
ready = "tcp:127.0.0.1:{port}"

[[node]]
name = "client"
cmd = "'{echo}' client {port} 1 3"

[run]
timeout = "20s"
"#
        ),
    );
    run.expect_code(0);
    let good = run.trace();
    let diag = "";
    assert_clocks_match_edges(&good, diag);
    assert_received_bytes_attributed(&good, diag);
    assert_connects_accepted(&good, diag);
    assert_eofs_explained(&good, diag);

    let fails = |what: &str, t: Trace, check: fn(&Trace, &str)| {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&t, "")));
        assert!(r.is_err(), "the check did not catch: {what}");
    };
    let index = |t: &Trace, pred: &dyn Fn(&bop_trace::Event) -> bool| {
        t.events.iter().position(pred).expect("an event to corrupt")
    };
    let has_edge = |kind: &'static str| {
        move |e: &bop_trace::Event| e.from.iter().flatten().any(|ed| ed.kind == kind)
    };

    // a receive loses its msg edge: bytes not attributed
    let mut t = good.clone();
    let i = index(&t, &has_edge("msg"));
    t.events[i].from = None;
    fails("a receive without its msg edge", t, |t, d| {
        assert_received_bytes_attributed(t, d);
    });
    // a msg edge carries a byte less
    let mut t = good.clone();
    let i = index(&t, &has_edge("msg"));
    for ed in t.events[i].from.iter_mut().flatten() {
        ed.bytes = ed.bytes.map(|b| b - 1);
    }
    fails("a msg edge with a byte less", t, |t, d| {
        assert_received_bytes_attributed(t, d);
    });
    // the same edge is gone but the clocks still say it exists
    let mut t = good.clone();
    let i = index(&t, &has_edge("msg"));
    t.events[i].from = None;
    fails(
        "a clock that counts a missing edge",
        t,
        assert_clocks_match_edges,
    );
    // a clock component that no edge explains
    let mut t = good.clone();
    let last = t.events.len() - 1;
    let lane = t.events[last].lane.expect("lane");
    t.events[last].vc.as_mut().expect("vc").insert(lane + 7, 1);
    fails(
        "a clock component from nowhere",
        t,
        assert_clocks_match_edges,
    );
    // an own component that is not seq + 1
    let mut t = good.clone();
    let lane = t.events[3].lane.expect("lane");
    *t.events[3]
        .vc
        .as_mut()
        .expect("vc")
        .get_mut(&lane)
        .expect("own") += 1;
    fails("own component != seq + 1", t, assert_clocks_match_edges);
    // an edge from a later event
    let mut t = good.clone();
    let i = index(&t, &has_edge("msg"));
    for ed in t.events[i].from.iter_mut().flatten() {
        ed.id = (last as u64) + 1;
    }
    fails("an edge from a later event", t, assert_clocks_match_edges);
    // an accept without its connect edge
    let mut t = good.clone();
    let i = index(&t, &has_edge("connect"));
    t.events[i].from = None;
    fails("an accept without a connect edge", t, |t, d| {
        assert_connects_accepted(t, d);
    });
    // an end of stream without its eof edge
    let mut t = good.clone();
    let i = index(&t, &has_edge("eof"));
    t.events[i].from = None;
    fails("an end of stream without an eof edge", t, |t, d| {
        assert_eofs_explained(t, d);
    });
}
