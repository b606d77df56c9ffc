//! The rule parser and printer: every construct, every error with its column and message.

use std::time::Duration;

use bop_faults::{parse_file, parse_rule, Action, EventPat, Link, Rule, Trigger, When};

fn ok(text: &str) -> Rule {
    match parse_rule(text) {
        Ok(r) => r,
        Err(e) => panic!("{text:?} should parse:\n{e}"),
    }
}

/// Parses, and checks the canonical form.
fn canon(text: &str, printed: &str) -> Rule {
    let r = ok(text);
    assert_eq!(r.to_string(), printed, "printing {text:?}");
    assert_eq!(ok(printed), r, "re-parsing {printed:?}");
    r
}

/// Parses and checks the text is already canonical.
fn same(text: &str) -> Rule {
    canon(text, text)
}

/// The error's column and message (without the `error: in fault rule, column N: ` prefix and
/// the caret display).
fn err(text: &str) -> (usize, String) {
    let e = match parse_rule(text) {
        Ok(r) => panic!("{text:?} should not parse, got {r:?}"),
        Err(e) => e,
    };
    assert_eq!(e.line, 1);
    let first = e.message.lines().next().unwrap_or_default();
    let prefix = format!("error: in fault rule, column {}: ", e.column);
    let msg = first
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("bad prefix: {}", e.message));
    // The caret display: the rule, and a caret under the column.
    let lines: Vec<&str> = e.message.lines().collect();
    assert_eq!(lines.len(), 3, "{}", e.message);
    assert_eq!(lines[1], format!("  {}", text.trim_end()));
    assert_eq!(lines[2], format!("  {}^", " ".repeat(e.column - 1)));
    (e.column, msg.to_string())
}

fn link(from: &str, to: &str, both: bool) -> Link {
    Link {
        from: from.into(),
        to: to.into(),
        both,
    }
}

fn ev(node: &str, op: &str, peer: Option<&str>, nth: Option<u64>) -> EventPat {
    EventPat {
        node: node.into(),
        op: op.into(),
        peer: peer.map(Into::into),
        nth,
    }
}

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

const MS: fn(u64) -> Duration = Duration::from_millis;

// ---- constructs ----

#[test]
fn partition_groups() {
    let r = same("partition {client} | {server} after server.send(client)#1");
    assert_eq!(
        r,
        Rule {
            class: None,
            action: Action::Partition {
                a: names(&["client"]),
                b: names(&["server"]),
                oneway: false,
                duration: None,
                refuse: false,
            },
            trigger: Some(Trigger::After(When::Event(ev(
                "server",
                "send",
                Some("client"),
                Some(1)
            )))),
        }
    );
}

#[test]
fn partition_timed_options_in_any_order() {
    let r = same("partition {n1} | {n2,n3} for 3s at 2s");
    assert_eq!(
        r.action,
        Action::Partition {
            a: names(&["n1"]),
            b: names(&["n2", "n3"]),
            oneway: false,
            duration: Some(MS(3000)),
            refuse: false,
        }
    );
    assert_eq!(r.trigger, Some(Trigger::At(When::Time(MS(2000)))));
    // The options may also follow the trigger, as in the issue.
    canon(
        "partition {n1} | {n2,n3} at 2s for 3s",
        "partition {n1} | {n2,n3} for 3s at 2s",
    );
    canon(
        "partition {a} | {b} refuse for 3s",
        "partition {a} | {b} for 3s refuse",
    );
    canon(
        "partition {a} | {b} at 1s refuse for 3s",
        "partition {a} | {b} for 3s refuse at 1s",
    );
    same("partition {a} | {b} refuse");
}

#[test]
fn partition_links_and_one_way_groups() {
    let r = same("partition n1 -> n2 after n1.recv(n2)#3");
    assert_eq!(
        r.action,
        Action::Partition {
            a: names(&["n1"]),
            b: names(&["n2"]),
            oneway: true,
            duration: None,
            refuse: false,
        }
    );
    // `a <-> b` is `{a} | {b}`.
    let r = canon("partition a <-> b", "partition {a} | {b}");
    assert_eq!(
        r.action,
        Action::Partition {
            a: names(&["a"]),
            b: names(&["b"]),
            oneway: false,
            duration: None,
            refuse: false,
        }
    );
    canon("partition {a} -> {b}", "partition a -> b");
    canon("partition a <-> {b,c}", "partition {a} | {b,c}");
    same("partition {a,b} -> {c}");
    canon("partition a -> {b,c}", "partition {a} -> {b,c}");
}

#[test]
fn whitespace_is_free() {
    canon(
        "  partition{a , b}|{ c }for 1s   refuse\tat 2s  ",
        "partition {a,b} | {c} for 1s refuse at 2s",
    );
    canon("drop a->b#3", "drop a -> b #3");
    canon("drop a<->b", "drop a <-> b");
    canon("crash a at b.send ( a ) #2", "crash a at b.send(a)#2");
    canon("drop a -> b p = 0.5 seed = 3", "drop a -> b p=0.5 seed=3");
}

#[test]
fn node_names() {
    // Letters, digits, _ and -; a "-" right before ">" is the arrow.
    let r = same("drop node-1 -> node_2");
    assert_eq!(r.nodes(), ["node-1", "node_2"]);
    let r = ok("drop a-->b");
    assert_eq!(r.to_string(), "drop a- -> b");
    // Keywords are not reserved.
    same("crash at at at.exit");
    same("partition {for} | {refuse} for 1s");
    same("drop p -> seed p=0.5");
    // A name may start with a digit; `2.send` is an event, `1.5s` a time.
    let r = same("crash 1 at 2.send");
    assert_eq!(
        r.trigger,
        Some(Trigger::At(When::Event(ev("2", "send", None, None))))
    );
    let r = canon("crash 1 at 1.5s", "crash 1 at 1s 500ms");
    assert_eq!(r.trigger, Some(Trigger::At(When::Time(MS(1500)))));
}

#[test]
fn drop_forms() {
    let r = same("drop client -> server #2");
    assert_eq!(
        r.action,
        Action::Drop {
            link: link("client", "server", false),
            nth: Some(2),
            p: None,
            seed: 0
        }
    );
    let r = same("drop n1 -> n2 p=0.2 seed=7");
    assert_eq!(
        r.action,
        Action::Drop {
            link: link("n1", "n2", false),
            nth: None,
            p: Some(0.2),
            seed: 7
        }
    );
    let r = same("drop n1 -> n2 p=0.2");
    assert!(matches!(r.action, Action::Drop { seed: 0, .. }));
    canon("drop n1 -> n2 p=0.2 seed=0", "drop n1 -> n2 p=0.2");
    canon("drop a -> b p=1.0", "drop a -> b p=1");
    canon("drop a -> b p=0", "drop a -> b p=0");
    canon("drop a -> b p=.5", "drop a -> b p=0.5");
    canon("drop a -> b p=0.50", "drop a -> b p=0.5");
    let r = same("drop a <-> b");
    assert_eq!(
        r.action,
        Action::Drop {
            link: link("a", "b", true),
            nth: None,
            p: None,
            seed: 0
        }
    );
    same("drop a -> b #18446744073709551615");
    // -0 is 0.
    let r = Rule {
        class: None,
        action: Action::Drop {
            link: link("a", "b", false),
            nth: None,
            p: Some(-0.0),
            seed: 0,
        },
        trigger: None,
    };
    assert_eq!(r.to_string(), "drop a -> b p=0");
    same("drop a -> b p=0.1 seed=18446744073709551615 after 2s");
}

#[test]
fn crash_restart_pause() {
    let r = same("crash server at server.recv(client)#2");
    assert_eq!(
        r,
        Rule {
            class: None,
            action: Action::Crash {
                node: "server".into()
            },
            trigger: Some(Trigger::At(When::Event(ev(
                "server",
                "recv",
                Some("client"),
                Some(2)
            )))),
        }
    );
    same("crash server");
    let r = same("restart server after 500ms");
    assert_eq!(
        r,
        Rule {
            class: None,
            action: Action::Restart {
                node: "server".into()
            },
            trigger: Some(Trigger::After(When::Time(MS(500)))),
        }
    );
    same("restart server after 0s");
    let r = same("pause n2 for 2s after n1.send(n2)#1");
    assert_eq!(
        r.action,
        Action::Pause {
            node: "n2".into(),
            duration: MS(2000)
        }
    );
}

#[test]
fn delay_reset() {
    let r = same("delay client -> server 200ms");
    assert_eq!(
        r.action,
        Action::Delay {
            link: link("client", "server", false),
            by: MS(200)
        }
    );
    canon("delay a -> b 1m30s", "delay a -> b 1m 30s");
    canon("delay a -> b 1m 30s at 2s", "delay a -> b 1m 30s at 2s");
    let r = same("reset client <-> server after client.send(server)#3");
    assert_eq!(
        r.action,
        Action::Reset {
            link: link("client", "server", true)
        }
    );
    same("reset client -> server");
}

#[test]
fn fail_forms() {
    let r = same("fail client.connect(server)#1 with ECONNREFUSED");
    assert_eq!(
        r.action,
        Action::Fail {
            event: ev("client", "connect", Some("server"), Some(1)),
            errno: 111
        }
    );
    // Any case, aliases and numbers; printed by name.
    canon("fail a.openat with enoent", "fail a.openat with ENOENT");
    canon(
        "fail a.sendto with EWOULDBLOCK",
        "fail a.sendto with EAGAIN",
    );
    canon(
        "fail a.recvfrom with 104",
        "fail a.recvfrom with ECONNRESET",
    );
    // Numbers Linux has no name for stay numbers.
    same("fail a.write with 999");
    same("fail a.write with 4095");
    // Generic ops and syscall names.
    for op in [
        "connect", "accept", "send", "recv", "close", "accept4", "pread64", "exit",
    ] {
        same(&format!("fail a.{op} with EIO"));
    }
    // Empty parentheses are no peer.
    canon("fail a.send() with EIO", "fail a.send with EIO");
    same("fail a.send(b)#2 with EPIPE after 1s");
}

#[test]
fn triggers() {
    for op in ["connect", "accept", "send", "recv", "close"] {
        same(&format!("crash a at b.{op}(c)#4"));
        same(&format!("crash a after b.{op}"));
    }
    same("crash a after b.exit");
    same("crash a after b.exit#2");
    same("crash a at 0s");
    canon("crash a at 1500ms", "crash a at 1s 500ms");
    canon("crash a at 90s", "crash a at 1m 30s");
    same("crash a at 1h");
    same("crash a at 1us");
    same("crash a at 7ns");
}

#[test]
fn comments() {
    canon("crash a # the primary", "crash a");
    canon("crash a at b.send#2 # comment #3", "crash a at b.send#2");
    canon("crash a#", "crash a");
    canon("drop a -> b # 2", "drop a -> b"); // "# " starts a comment
    canon("drop a -> b\t#\t2", "drop a -> b");
}

#[test]
fn nodes_and_check_nodes() {
    let r = ok("fail a.connect(b) with EIO after c.send(a)#1");
    assert_eq!(r.nodes(), ["a", "b", "c"]);
    let r = ok("partition {a,b} | {c} after c.send(a)");
    assert_eq!(r.nodes(), ["a", "b", "c"]);
    let r = ok("crash x");
    assert_eq!(r.nodes(), ["x"]);
    let cluster = names(&["server", "relay", "client"]);
    assert_eq!(
        ok("crash server at client.send(relay)").check_nodes(&cluster),
        Ok(())
    );
    assert_eq!(
        ok("crash server at nosuchnode.send(relay)").check_nodes(&cluster),
        Err(
            "unknown node \"nosuchnode\" in fault rule; the nodes are: server, relay, client"
                .to_string()
        )
    );
    assert_eq!(
        ok("drop server -> relai").check_nodes(&cluster),
        Err("unknown node \"relai\" in fault rule; the nodes are: server, relay, client".into())
    );
    assert_eq!(
        ok("crash a").check_nodes(&[]),
        Err("unknown node \"a\" in fault rule; there are no nodes".into())
    );
}

// ---- errors ----

const ACTIONS: &str = "partition, drop, crash, restart, pause, delay, reset, fail";

#[test]
fn the_example_error_in_full() {
    let e = parse_rule("partition {relay} | after").unwrap_err();
    assert_eq!(
        e.message,
        "error: in fault rule, column 21: expected a node group like {n2,n3} after \"|\"\n  \
         partition {relay} | after\n                      ^"
    );
    assert_eq!((e.line, e.column), (1, 21));
    assert_eq!(e.to_string(), e.message);
}

#[test]
fn empty_rule() {
    let m = format!("empty fault rule: expected an action: {ACTIONS}");
    assert_eq!(err(""), (1, m.clone()));
    assert_eq!(err("   "), (4, m.clone()));
    assert_eq!(err("# only a comment"), (1, m.clone()));
    assert_eq!(err("  #2"), (3, m));
}

#[test]
fn unknown_action() {
    assert_eq!(
        err("frobnicate a"),
        (
            1,
            format!("unknown action \"frobnicate\"; the actions are: {ACTIONS}")
        )
    );
    assert_eq!(
        err("Crash a"),
        (
            1,
            format!("unknown action \"Crash\"; the actions are: {ACTIONS}")
        )
    );
    assert_eq!(
        err("{a} | {b}"),
        (1, format!("expected an action: {ACTIONS}"))
    );
}

#[test]
fn missing_group() {
    assert_eq!(
        err("partition {relay} | after"),
        (21, "expected a node group like {n2,n3} after \"|\"".into())
    );
    assert_eq!(
        err("partition {a} | b"),
        (17, "expected a node group like {n2,n3} after \"|\"".into())
    );
    assert_eq!(
        err("partition"),
        (
            10,
            "expected a node group like {n1} or a link like n1 -> n2 after \"partition\"".into()
        )
    );
    assert_eq!(
        err("partition a | {b}"),
        (
            11,
            "expected a node group like {a} before \"|\" (or a link: a <-> …)".into()
        )
    );
    assert_eq!(
        err("partition {a}"),
        (
            14,
            "expected \"|\", \"->\" or \"<->\" after the group".into()
        )
    );
    assert_eq!(
        err("partition a -> "),
        (
            16,
            "expected a node name or a group like {n2,n3} after \"->\"".into()
        )
    );
    assert_eq!(
        err("partition {} | {b}"),
        (12, "expected a node name after \"{\"".into())
    );
    assert_eq!(
        err("partition {a,} | {b}"),
        (14, "expected a node name after \",\"".into())
    );
}

#[test]
fn unbalanced_brace() {
    assert_eq!(
        err("partition {a,b | {c}"),
        (
            16,
            "expected \",\" or \"}\" to close the group opened at column 11".into()
        )
    );
    assert_eq!(
        err("partition {a} | {b"),
        (
            19,
            "expected \",\" or \"}\" to close the group opened at column 17".into()
        )
    );
    assert_eq!(
        err("partition {a} | {b}}"),
        (
            20,
            "expected \"for DURATION\", \"refuse\", \"at\", \"after\" or the end of the rule"
                .into()
        )
    );
}

#[test]
fn group_contents() {
    assert_eq!(
        err("partition {a,a} | {b}"),
        (14, "node \"a\" is twice in the group".into())
    );
    assert_eq!(
        err("partition {a,b} | {c,b}"),
        (22, "node \"b\" is on both sides of the partition".into())
    );
}

#[test]
fn missing_arrow() {
    assert_eq!(
        err("drop client server"),
        (
            13,
            "expected \"->\" or \"<->\" after \"client\", like client -> server".into()
        )
    );
    assert_eq!(
        err("partition a b"),
        (
            13,
            "expected \"->\" or \"<->\" after \"a\" (groups are written in braces: {a} | {b,c})"
                .into()
        )
    );
    assert_eq!(
        err("reset a -> "),
        (12, "expected a node name after \"->\"".into())
    );
    assert_eq!(
        err("delay a <->"),
        (12, "expected a node name after \"<->\"".into())
    );
    assert_eq!(
        err("drop"),
        (
            5,
            "expected a link like client -> server after \"drop\"".into()
        )
    );
}

#[test]
fn bad_count() {
    let expected = "expected a count like #2 after \"#\": a whole number, 1 for the first (a \
                    comment starts with \"# \", with a space)";
    assert_eq!(
        err("drop a -> b #0"),
        (14, "counts start at 1: #1 is the first".into())
    );
    assert_eq!(err("drop a -> b #x"), (14, expected.into()));
    assert_eq!(err("drop a -> b #2x"), (14, expected.into()));
    assert_eq!(err("drop a -> b #-1"), (14, expected.into()));
    assert_eq!(err("crash a at b.send#x"), (19, expected.into()));
    assert_eq!(
        err("crash a at b.send#0"),
        (19, "counts start at 1: #1 is the first".into())
    );
    assert_eq!(
        err("drop a -> b #18446744073709551616"),
        (14, "count #18446744073709551616 is too large".into())
    );
    // A count where none may stand.
    assert_eq!(
        err("crash a #2"),
        (
            9,
            "expected \"at\", \"after\" or the end of the rule".into()
        )
    );
}

#[test]
fn bad_probability_and_seed() {
    let expected = "expected a probability from 0 to 1 after \"p=\", like p=0.2";
    assert_eq!(
        err("drop a -> b p=1.5"),
        (
            15,
            format!("probability 1.5 is not between 0 and 1; {expected}")
        )
    );
    assert_eq!(err("drop a -> b p=-0.1"), (15, expected.into()));
    assert_eq!(err("drop a -> b p=abc"), (15, expected.into()));
    assert_eq!(err("drop a -> b p="), (15, expected.into()));
    assert_eq!(err("drop a -> b p=1e-3"), (15, expected.into()));
    assert_eq!(err("drop a -> b p=0.1.2"), (15, expected.into()));
    assert_eq!(
        err("drop a -> b p 0.2"),
        (15, "expected \"=\" after \"p\", like p=0.2".into())
    );
    let seed = "expected a seed after \"seed=\": a whole number from 0 to 18446744073709551615, \
                like seed=7";
    assert_eq!(err("drop a -> b p=0.2 seed=x"), (24, seed.into()));
    assert_eq!(err("drop a -> b p=0.2 seed=-1"), (24, seed.into()));
    assert_eq!(
        err("drop a -> b p=0.2 seed=18446744073709551616"),
        (24, seed.into())
    );
    assert_eq!(
        err("drop a -> b seed=3"),
        (13, "seed=N goes after p=F, like p=0.2 seed=7".into())
    );
    assert_eq!(
        err("drop a -> b #2 p=0.1"),
        (16, "a drop takes either #N or p=F, not both".into())
    );
    assert_eq!(
        err("drop a -> b prob=0.1"),
        (
            13,
            "expected \"#N\", \"p=F\", \"at\", \"after\" or the end of the rule".into()
        )
    );
}

#[test]
fn bad_duration() {
    let tail = "expected a duration like 500ms, 2s or 1.5s";
    assert_eq!(
        err("crash a at 2x"),
        (
            12,
            format!(
                "bad duration \"2x\": unknown unit \"x\" (the units are ns, us, ms, s, m, h, d); \
                 {tail} after \"at\""
            )
        )
    );
    assert_eq!(
        err("pause a for 2"),
        (
            13,
            format!(
                "bad duration \"2\": it needs a unit (ns, us, ms, s, m, h, d); {tail} after \"for\""
            )
        )
    );
    assert_eq!(
        err("pause a for soon"),
        (13, format!("{tail} after \"for\""))
    );
    assert_eq!(
        err("delay a -> b"),
        (
            13,
            format!("{tail} after the link (how late its messages arrive)")
        )
    );
    assert_eq!(
        err("crash a at 0.5ns"),
        (
            12,
            format!(
                "bad duration \"0.5ns\": too long, or finer than a nanosecond; {tail} after \"at\""
            )
        )
    );
    assert_eq!(
        err("crash a at 1..5s"),
        (
            12,
            format!("bad duration \"1..5s\": not a duration; {tail} after \"at\"")
        )
    );
    assert_eq!(
        err("crash a at 99999999999999999999999s"),
        (
            12,
            "duration \"99999999999999999999999s\" is too long".into()
        )
    );
    assert_eq!(
        err("pause a for 0s"),
        (13, "expected a duration longer than 0 after \"for\"".into())
    );
    assert_eq!(
        err("partition {a} | {b} for 0ms"),
        (25, "expected a duration longer than 0 after \"for\"".into())
    );
    assert_eq!(
        err("pause a 2s"),
        (
            9,
            "expected \"for DURATION\" after \"a\", like pause a for 2s".into()
        )
    );
}

#[test]
fn errno_errors() {
    assert_eq!(
        err("fail a.connect with ECONNREFUSD"),
        (
            21,
            "unknown errno \"ECONNREFUSD\"; expected a name like ECONNREFUSED, ETIMEDOUT or EPIPE, \
             or a number"
                .into()
        )
    );
    assert_eq!(
        err("fail a.connect with 0"),
        (
            21,
            "errno 0 is out of range: errnos go from 1 to 4095".into()
        )
    );
    assert_eq!(
        err("fail a.connect with 4096"),
        (
            21,
            "errno 4096 is out of range: errnos go from 1 to 4095".into()
        )
    );
    assert_eq!(
        err("fail a.connect with"),
        (
            20,
            "expected an errno after \"with\": a name like ECONNREFUSED or a number".into()
        )
    );
    assert_eq!(
        err("fail a.connect ECONNREFUSED"),
        (
            16,
            "expected \"with ERRNO\" after the call, like with ECONNREFUSED".into()
        )
    );
}

#[test]
fn unknown_syscall_in_fail() {
    let tail = "fail takes a syscall name (like openat or recvfrom) or one of connect, accept, \
                send, recv, close";
    assert_eq!(
        err("fail a.frobnicate with EIO"),
        (8, format!("unknown syscall \"frobnicate\"; {tail}"))
    );
    assert_eq!(
        err("fail a.Connect with EIO"),
        (8, format!("unknown syscall \"Connect\"; {tail}"))
    );
    assert_eq!(
        err("fail a. with EIO"),
        (8, format!("expected a syscall name after \".\"; {tail}"))
    );
    assert_eq!(
        err("fail a with EIO"),
        (
            7,
            "expected \".\" and an operation after \"a\", like a.send or a.recv(peer)#2".into()
        )
    );
    assert_eq!(
        err("fail"),
        (
            5,
            "expected a call like client.connect(server)#1 after \"fail\"".into()
        )
    );
}

#[test]
fn trigger_op_not_allowed() {
    let tail = "the events that can are connect, accept, send, recv, close and exit";
    assert_eq!(
        err("crash a at b.read"),
        (14, format!("\"read\" cannot trigger a rule; {tail}"))
    );
    assert_eq!(
        err("crash a after b.sendto(a)"),
        (17, format!("\"sendto\" cannot trigger a rule; {tail}"))
    );
    assert_eq!(
        err("crash a after b."),
        (17, format!("expected an operation after \".\"; {tail}"))
    );
    assert_eq!(
        err("crash a at b.exit(a)"),
        (19, "exit has no peer: write NODE.exit".into())
    );
    assert_eq!(
        err("crash a at b.send(a"),
        (20, "expected \")\" after the peer's name".into())
    );
    assert_eq!(
        err("crash a at b.send(,)"),
        (19, "expected a node name or \")\" after \"send(\"".into())
    );
    assert_eq!(
        err("crash a at"),
        (
            11,
            "expected a time like 2s or an event like server.recv(client)#2 after \"at\"".into()
        )
    );
    assert_eq!(
        err("crash a after {b}"),
        (
            15,
            "expected a time like 2s or an event like server.recv(client)#2 after \"after\"".into()
        )
    );
}

#[test]
fn restart_needs_after_duration() {
    let m = "restart needs \"after DURATION\": how long after the crash to start the node again, \
             like restart server after 500ms";
    assert_eq!(err("restart server"), (15, m.into()));
    assert_eq!(err("restart server at 2s"), (16, m.into()));
    assert_eq!(err("restart server after server.exit"), (16, m.into()));
    assert_eq!(err("restart server # soon"), (16, m.into()));
    assert_eq!(
        err("restart"),
        (8, "expected a node name after \"restart\"".into())
    );
}

#[test]
fn trailing_garbage() {
    assert_eq!(
        err("crash a b"),
        (
            9,
            "expected \"at\", \"after\" or the end of the rule".into()
        )
    );
    assert_eq!(
        err("crash a at 2s b"),
        (
            15,
            "expected the end of the rule (a comment starts with \"# \")".into()
        )
    );
    assert_eq!(
        err("crash a at 2s after 3s"),
        (15, "a rule has one trigger; this is a second one".into())
    );
    assert_eq!(
        err("crash a at b.send(a)#2 #comment"),
        (
            24,
            "expected the end of the rule (a comment starts with \"# \")".into()
        )
    );
    assert_eq!(
        err("drop a -> b #2 #3"),
        (
            16,
            "expected \"at\", \"after\" or the end of the rule".into()
        )
    );
    assert_eq!(
        err("partition {a} | {b} at 2s refuse junk"),
        (
            34,
            "expected \"for DURATION\", \"refuse\" or the end of the rule".into()
        )
    );
    assert_eq!(
        err("partition {a} | {b} at 2s for 1s for 2s"),
        (34, "\"for\" is given twice".into())
    );
    assert_eq!(
        err("partition {a} | {b} refuse refuse"),
        (28, "\"refuse\" is given twice".into())
    );
    assert_eq!(
        err("partition {a} | {b} at 2s refuse at 3s"),
        (34, "a rule has one trigger; this is a second one".into())
    );
    assert_eq!(
        err("crash a.b"),
        (
            8,
            "expected \"at\", \"after\" or the end of the rule".into()
        )
    );
}

#[test]
fn caret_display_keeps_tabs_and_hides_control_characters() {
    let e = parse_rule("crash\ta\tb").unwrap_err();
    assert_eq!(
        e.message,
        "error: in fault rule, column 9: expected \"at\", \"after\" or the end of the rule\n  \
         crash\ta\tb\n       \t \t^"
    );
    let e = parse_rule("crash a\rb").unwrap_err();
    assert_eq!(e.column, 9);
    assert!(
        e.message.ends_with("\n  crash a b\n          ^"),
        "{}",
        e.message
    );
    // Columns count characters, not bytes.
    let e = parse_rule("crash é x").unwrap_err();
    assert_eq!(e.column, 7);
}

// ---- files ----

#[test]
fn file_skips_blank_and_comment_lines() {
    let text = "# faults for the relay test\n\
                \n\
                partition {client} | {relay} for 3s at 2s   # cut the client off\n\
                \t  \n\
                   # indented comment\r\n\
                crash server at server.recv(relay)#2\r\n\
                restart server after 500ms";
    let rules = parse_file(text, "relay.faults").unwrap();
    let lines: Vec<usize> = rules.iter().map(|(l, _)| *l).collect();
    assert_eq!(lines, [3, 6, 7]);
    assert_eq!(
        rules[1].1.to_string(),
        "crash server at server.recv(relay)#2"
    );
    assert_eq!(parse_file("", "f").unwrap(), []);
    assert_eq!(parse_file("\n\n# x\n", "f").unwrap(), []);
}

#[test]
fn file_errors_name_the_line() {
    let text = "crash server\n\n   partition {relay} | after\ncrash x y\n";
    let e = parse_file(text, "faults").unwrap_err();
    assert_eq!((e.line, e.column), (3, 24));
    assert_eq!(
        e.message,
        "faults:3:24: expected a node group like {n2,n3} after \"|\"\n     \
         partition {relay} | after\n                         ^"
    );
    let e = parse_file("crash a\r\nfrob\r\n", "x.faults").unwrap_err();
    assert_eq!(
        e.message,
        format!("x.faults:2:1: unknown action \"frob\"; the actions are: {ACTIONS}\n  frob\n  ^")
    );
}

#[test]
fn anchored_on_a_recorded_class() {
    let r = same("crash server at server.recv(client2)#1 in class 2");
    assert_eq!(r.class.as_deref(), Some("2"));
    assert!(matches!(r.trigger, Some(Trigger::At(When::Event(_)))));
    same("drop a -> b #1 after b.send(a)#2 in class class-3");
    // a partition's options may stand after the trigger, before the class
    canon(
        "partition {a} | {b} after a.send(b) for 2s   in   class 1 # comment",
        "partition {a} | {b} for 2s after a.send(b) in class 1",
    );
    assert_eq!(ok("crash a at a.recv").class, None);
}

#[test]
fn bad_anchors() {
    let needs = "\"in class\" anchors the rule on an event of a recorded class: it needs the \
                 trigger \"at EVENT\" or \"after EVENT\", like crash b at b.recv(a)#2 in class 2";
    assert_eq!(err("crash a in class 2"), (9, needs.into()));
    assert_eq!(err("crash a after 2s in class 2"), (18, needs.into()));
    assert_eq!(
        err("partition {a} | {b} for 1s in class 2"),
        (28, needs.into())
    );
    assert_eq!(
        err("crash a at a.recv in 2"),
        (
            22,
            "expected \"class\" and a recorded class's name after \"in\", like in class 2".into()
        )
    );
    assert_eq!(
        err("crash a at a.recv in class"),
        (
            27,
            "expected a recorded class's name after \"in class\", like in class 2".into()
        )
    );
    assert_eq!(
        err("crash a at a.recv in class 2 extra"),
        (
            30,
            "expected the end of the rule (a comment starts with \"# \")".into()
        )
    );
}
