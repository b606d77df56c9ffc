//! Integration test of `bop export`: a real run of our TCP echo testbed (a server and two
//! clients on a kernel-chosen port), exported in every format, and what each export must show.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::Value;

/// One ShiViz event: its text, host and clock.
struct ShivizEvent {
    text: String,
    host: String,
    clock: BTreeMap<String, u64>,
}

/// Parses a ShiViz log by hand, as its first-line regex would: the regex, a blank delimiter
/// line, then pairs of lines "TEXT" / "HOST {clock JSON}".
fn parse_shiviz(s: &str) -> Vec<ShivizEvent> {
    let lines: Vec<&str> = s.split('\n').collect();
    assert!(lines.len() >= 4, "too short for a ShiViz log");
    assert_eq!(lines[0], r"(?<event>.*)\n(?<host>\S*) (?<clock>{.*})");
    assert_eq!(lines[1], "", "the execution delimiter line is blank");
    let mut body: Vec<&str> = lines[2..].to_vec();
    while body.last() == Some(&"") {
        body.pop();
    }
    assert_eq!(body.len() % 2, 0, "pairs of lines");
    body.chunks(2)
        .map(|p| {
            let (text, clock_line) = (p[0], p[1]);
            assert!(!text.is_empty(), "an empty event line");
            // the text line must not itself look like "HOST {clock}"
            assert!(!text.contains('{'), "{text}");
            let (host, clock) = clock_line
                .split_once(' ')
                .unwrap_or_else(|| panic!("not HOST {{clock}}: {clock_line}"));
            assert!(!host.is_empty() && !host.chars().any(char::is_whitespace));
            assert!(
                clock.starts_with('{') && clock.ends_with('}'),
                "{clock_line}"
            );
            let clock: BTreeMap<String, u64> =
                serde_json::from_str(clock).unwrap_or_else(|e| panic!("{clock_line}: {e}"));
            ShivizEvent {
                text: text.to_string(),
                host: host.to_string(),
                clock,
            }
        })
        .collect()
}

/// a's clock ≤ b's everywhere and they differ: a happens before b.
fn before(a: &BTreeMap<String, u64>, b: &BTreeMap<String, u64>) -> bool {
    a != b && a.iter().all(|(h, v)| b.get(h).is_some_and(|w| w >= v))
}

/// What ShiViz verifies when it loads a log: own components 1, 2, 3 … per host; every other
/// component names an existing event of that host; and every clock is exactly the join of the
/// host's previous clock and the clocks of the events it names above that.
fn assert_shiviz_accepts(evs: &[ShivizEvent]) {
    let mut by_host: HashMap<&str, Vec<&BTreeMap<String, u64>>> = HashMap::new();
    for e in evs {
        let list = by_host.entry(e.host.as_str()).or_default();
        assert_eq!(
            e.clock.get(&e.host).copied(),
            Some(list.len() as u64 + 1),
            "own component of {} at {:?}",
            e.host,
            e.text
        );
        list.push(&e.clock);
    }
    for e in evs {
        let own = e.clock[&e.host] as usize;
        let prev = (own > 1).then(|| by_host[e.host.as_str()][own - 2]);
        let mut join: BTreeMap<String, u64> = prev.cloned().unwrap_or_default();
        for (h, &t) in &e.clock {
            if h == &e.host {
                continue;
            }
            let list = by_host
                .get(h.as_str())
                .unwrap_or_else(|| panic!("{:?} names unknown host {h}", e.text));
            assert!(t >= 1 && t as usize <= list.len(), "{:?}: {h}={t}", e.text);
            let known = prev.and_then(|p| p.get(h)).copied().unwrap_or(0);
            if known < t {
                for (k, &v) in list[t as usize - 1] {
                    let x = join.entry(k.clone()).or_insert(0);
                    *x = (*x).max(v);
                }
            }
        }
        join.insert(e.host.clone(), own as u64);
        assert_eq!(
            join, e.clock,
            "clock of {:?} is not the join of its causes",
            e.text
        );
    }
}

fn export(sb: &Sandbox, trace: &Path, format: &str, out: Option<&Path>) -> BopRun {
    let mut args = vec![
        "export".to_string(),
        trace.display().to_string(),
        "--format".into(),
        format.into(),
    ];
    if let Some(o) = out {
        args.push("-o".into());
        args.push(o.display().to_string());
    }
    sb.bop(&format!("export-{format}"), &args, None)
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn an_echo_run_exports_in_every_format() {
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
    run.expect_code(0);
    let trace_path = run.trace_path.clone().expect("trace path");
    let trace = run.trace();
    let n = trace.events.len();

    // --- every format, to a file
    let file = |f: &str| -> PathBuf { sb.join(&format!("out.{f}")) };
    for f in ["shiviz", "dot", "perfetto", "json", "html"] {
        let r = export(&sb, &trace_path, f, Some(&file(f)));
        r.expect_code(0);
        assert!(
            std::fs::metadata(file(f)).is_ok_and(|m| m.len() > 0),
            "{f} export is empty\n{}",
            r.diag()
        );
    }
    // text formats go to stdout by default, the same bytes
    let r = export(&sb, &trace_path, "shiviz", None);
    r.expect_code(0);
    assert_eq!(r.stdout, read(&file("shiviz")));

    // --- shiviz: parses, one entry per event, clocks ShiViz accepts
    let sv = parse_shiviz(&read(&file("shiviz")));
    assert_eq!(sv.len(), n);
    assert_shiviz_accepts(&sv);
    let hosts: std::collections::BTreeSet<&str> = sv.iter().map(|e| e.host.as_str()).collect();
    assert_eq!(
        hosts.into_iter().collect::<Vec<_>>(),
        ["client1", "client2", "server"],
        "one thread per node: hosts are the node names"
    );
    for e in &sv {
        if e.host == "server" && e.text.starts_with("recv ") && !e.text.contains("unmatched") {
            assert!(
                e.text.contains(" from client1 (") || e.text.contains(" from client2 ("),
                "{}",
                e.text
            );
        }
        if e.host.starts_with("client") && e.text.starts_with("send ") {
            assert!(e.text.starts_with("send 18B to server ("), "{}", e.text);
        }
    }
    assert_eq!(
        sv.iter()
            .filter(|e| e.host == "server" && e.text.starts_with("eof from client"))
            .count(),
        2,
        "the server sees each client's EOF"
    );

    // --- json: the graph; its events are in the same (id) order as the ShiViz log
    let j: Value = serde_json::from_str(&read(&file("json"))).expect("json export parses");
    let jev = j["events"].as_array().expect("events");
    assert_eq!(jev.len(), n);
    let from_total: usize = trace
        .events
        .iter()
        .map(|e| e.from.as_ref().map_or(0, Vec::len))
        .sum();
    let edges = j["edges"].as_array().expect("edges");
    assert_eq!(edges.len(), from_total);
    let index_of: HashMap<u64, usize> = jev
        .iter()
        .enumerate()
        .filter_map(|(i, e)| e["id"].as_u64().map(|id| (id, i)))
        .collect();
    for (i, e) in jev.iter().enumerate() {
        assert_eq!(
            e["text"].as_str(),
            Some(sv[i].text.as_str()),
            "same text in json and shiviz"
        );
        assert_eq!(e["host"].as_str(), Some(sv[i].host.as_str()));
    }
    // every server recv has a clock above the client send it got its bytes from
    let mut checked = 0;
    for ed in edges.iter().filter(|e| e["kind"] == "msg") {
        let (Some(&a), Some(&b)) = (
            ed["from"].as_u64().and_then(|id| index_of.get(&id)),
            ed["to"].as_u64().and_then(|id| index_of.get(&id)),
        ) else {
            panic!("an edge between unknown events: {ed}");
        };
        if sv[b].host == "server" && sv[a].host.starts_with("client") {
            assert!(sv[b].text.starts_with("recv "), "{}", sv[b].text);
            assert!(sv[a].text.starts_with("send "), "{}", sv[a].text);
            assert!(
                before(&sv[a].clock, &sv[b].clock),
                "{} {:?} is not before {} {:?}",
                sv[a].text,
                sv[a].clock,
                sv[b].text,
                sv[b].clock
            );
            assert!(!before(&sv[b].clock, &sv[a].clock));
            checked += 1;
        }
    }
    assert!(
        checked >= 10,
        "2 clients x 5 messages reach the server, got {checked} edges"
    );

    // --- perfetto: trace events with a flow pair per edge between threads
    let p: Value = serde_json::from_str(&read(&file("perfetto"))).expect("perfetto parses");
    let pev = p["traceEvents"].as_array().expect("traceEvents");
    let count = |ph: &str| pev.iter().filter(|e| e["ph"] == ph).count();
    assert_eq!(count("X"), n);
    assert_eq!(count("s"), edges.len(), "every edge here crosses threads");
    assert_eq!(count("f"), edges.len());
    let names: Vec<&str> = pev
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "process_name")
        .filter_map(|e| e["args"]["name"].as_str())
        .collect();
    assert_eq!(names, ["server", "client1", "client2"]);

    // --- dot: a cluster per host
    let d = read(&file("dot"));
    assert!(d.starts_with("digraph"));
    assert_eq!(d.matches("subgraph cluster_").count(), 3);

    // --- html: self-contained, by default next to the trace, its path printed
    let r = export(&sb, &trace_path, "html", None);
    r.expect_code(0);
    let default_html = trace_path.with_extension("html");
    assert_eq!(r.stdout.trim(), default_html.display().to_string());
    let h = read(&default_html);
    assert_eq!(h, read(&file("html")));
    let lower = h.to_ascii_lowercase();
    assert!(!lower.contains("<link"));
    for attr in ["src=", "href="] {
        for (i, _) in lower.match_indices(attr) {
            let v = &lower[i + attr.len()..(i + attr.len() + 10).min(lower.len())];
            assert!(
                !v.trim_start_matches(['"', '\'']).starts_with("http"),
                "{attr}{v}"
            );
        }
    }

    // --- svg: drawn by bop, no Graphviz needed; --layout graphviz without it: a clear error
    let empty_path = sb.join("no-bin");
    std::fs::create_dir_all(&empty_path).expect("mkdir");
    let without_graphviz = |extra: &[&str], out: &Path| {
        Command::new(bop_exe())
            .args([
                "export",
                &trace_path.display().to_string(),
                "--format",
                "svg",
                "-o",
                &out.display().to_string(),
            ])
            .args(extra)
            .env("PATH", &empty_path)
            .output()
            .expect("run bop")
    };
    let svg = sb.join("out.svg");
    let r = without_graphviz(&[], &svg);
    assert_eq!(
        r.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    let drawn = read(&svg);
    assert!(drawn.contains("<svg"));
    for node in ["server", "client1", "client2"] {
        assert!(drawn.contains(&format!(">{node}</text>")), "no lane {node}");
    }
    let gv = sb.join("gv.svg");
    let r = without_graphviz(&["--layout", "graphviz"], &gv);
    assert_eq!(r.status.code(), Some(2));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("apt-get install graphviz"), "{err}");
    assert!(!gv.exists(), "nothing written");
    let has_dot = Command::new("dot")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if has_dot {
        export_with(&sb, &trace_path, "svg", &gv, &["--layout", "graphviz"]).expect_code(0);
        assert!(read(&gv).contains("<svg"));
    } else {
        // CI installs Graphviz (.ci/run): there, its absence is a failure, not a skip
        assert!(
            std::env::var_os("CI").is_none(),
            "no Graphviz: .ci/run should have installed graphviz"
        );
        eprintln!("note: Graphviz `dot` is not installed: skipping the Graphviz SVG check");
    }
    // --layout is for svg only
    let r = export_with(
        &sb,
        &trace_path,
        "html",
        &sb.join("x.html"),
        &["--layout", "compact"],
    );
    r.expect_code(2);
    assert!(
        r.stderr.contains("--layout is for --format svg"),
        "{}",
        r.stderr
    );
}

fn export_with(sb: &Sandbox, trace: &Path, format: &str, out: &Path, extra: &[&str]) -> BopRun {
    let mut args = vec![
        "export".to_string(),
        trace.display().to_string(),
        "--format".into(),
        format.into(),
        "-o".into(),
        out.display().to_string(),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    sb.bop(&format!("export-{format}-with"), &args, None)
}

/// Whether `path` is well-formed XML, by Python's parser (python3 is installed wherever the
/// tests run: other tests use it for nodes).
fn assert_well_formed_xml(path: &Path) {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot(); \
             assert r.tag == '{http://www.w3.org/2000/svg}svg', r.tag",
        ])
        .arg(path)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "{} is not well-formed SVG: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The lanes of [`big_trace`]: node, pid, tid (the server has three threads).
const BIG_LANES: [(&str, i32, i32); 6] = [
    ("server", 100, 100),
    ("client1", 200, 200),
    ("server", 100, 101),
    ("client2", 300, 300),
    ("server", 100, 102),
    ("client3", 400, 400),
];

/// A trace of `n` events as bop writes them (header, events with id, lane, seq, vc and `from`
/// edges, footer): the lanes of [`BIG_LANES`] sending to each other at random (a fixed seed),
/// half the events receives of an earlier send from another lane.
fn big_trace(n: usize) -> String {
    use serde_json::json;
    let nodes = ["server", "client1", "client2", "client3"];
    let mut out = json!({"type": "header", "format": 2, "bop_version": "0.1.0",
        "start_unix_ms": 0, "backend": "ptrace+seccomp",
        "nodes": nodes.iter().map(|n| json!({"name": n, "cmd": n, "daemon": false}))
            .collect::<Vec<_>>()})
    .to_string();
    out.push('\n');
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut rand = move |k: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % k as u64) as usize
    };
    let mut vcs: Vec<BTreeMap<String, u64>> = vec![BTreeMap::new(); BIG_LANES.len()];
    let mut seq = [0u64; BIG_LANES.len()];
    // sends not received yet: (id, lane, clock)
    let mut pending: Vec<(usize, usize, BTreeMap<String, u64>)> = Vec::new();
    for id in 0..n {
        let lane = rand(BIG_LANES.len());
        let (node, pid, tid) = BIG_LANES[lane];
        seq[lane] += 1;
        vcs[lane].insert(lane.to_string(), seq[lane]);
        let from = pending
            .iter()
            .rposition(|p| p.1 != lane)
            .filter(|_| rand(2) == 0)
            .map(|k| pending.remove(k));
        let mut ev = json!({"type": "event", "node": node, "pid": pid, "tid": tid,
            "seq": seq[lane] - 1, "ts": id * 1000, "kind": "syscall", "fd": 3, "bytes": 16,
            "ret": 16, "id": id, "lane": lane});
        match from {
            Some((src, _, clock)) => {
                for (k, v) in clock {
                    let x = vcs[lane].entry(k).or_insert(0);
                    *x = (*x).max(v);
                }
                ev["syscall"] = json!("recvfrom");
                ev["op"] = json!("recv");
                ev["from"] = json!([{"id": src, "kind": "msg", "bytes": 16}]);
            }
            None => {
                ev["syscall"] = json!("sendto");
                ev["op"] = json!("send");
                pending.push((id, lane, vcs[lane].clone()));
            }
        }
        ev["vc"] = json!(vcs[lane]);
        out.push_str(&ev.to_string());
        out.push('\n');
    }
    out.push_str(
        &json!({"type": "footer", "verdict": "pass", "duration_ms": 1, "events": n, "nodes": []})
            .to_string(),
    );
    out.push('\n');
    out
}

#[test]
fn a_trace_of_thousands_of_events_exports_to_svg_in_seconds() {
    let sb = Sandbox::new();
    let n = 5000;
    let trace = sb.write("big.jsonl", &big_trace(n));
    // no Graphviz on the PATH: bop draws the SVG itself
    let empty_path = sb.join("no-bin");
    std::fs::create_dir_all(&empty_path).expect("mkdir");
    for layout in ["id", "compact"] {
        let mut cmd = Command::new(bop_exe());
        cmd.args(["export", "big.jsonl", "--format", "svg", "--layout", layout])
            .env("PATH", &empty_path);
        let label = format!("big-{layout}");
        let (child, out, err) = sb.spawn_command(&label, &mut cmd);
        let status = wait_limit(child, Duration::from_secs(60), &label);
        let r = BopRun::collect(status, &out, &err, None);
        r.expect_code(0);
        // the default output, next to the trace, its path printed
        assert_eq!(r.stdout.trim(), "big.svg");
        let svg_path = trace.with_extension("svg");
        assert_well_formed_xml(&svg_path);
        let svg = read(&svg_path);
        for name in [
            "server.1", "server.2", "server.3", "client1", "client2", "client3",
        ] {
            assert!(svg.contains(&format!(">{name}</text>")), "no lane {name}");
        }
        let drawn: Vec<usize> = svg
            .match_indices("<g id=\"e")
            .filter_map(|(at, m)| {
                let rest = &svg[at + m.len()..];
                rest[..rest.find('"')?].parse().ok()
            })
            .collect();
        assert_eq!(drawn, (0..n).collect::<Vec<_>>(), "every event drawn, once");
        assert!(
            svg.contains("marker-end=\"url(#mk-msg)\""),
            "message arrows"
        );
        std::fs::remove_file(&svg_path).expect("rm");
    }
}

#[test]
fn export_errors_are_clear() {
    let sb = Sandbox::new();
    let missing = sb.join("nope.jsonl");
    let r = export(&sb, &missing, "json", None);
    r.expect_code(2);
    assert!(r.stderr.contains("nope.jsonl"), "{}", r.stderr);
    let bad = sb.write("bad.jsonl", "{\"type\":\"header\"\n");
    let r = export(&sb, &bad, "shiviz", None);
    r.expect_code(2);
    let r = sb.bop(
        "badfmt",
        &[
            "export".into(),
            bad.display().to_string(),
            "--format".into(),
            "png".into(),
        ],
        None,
    );
    r.expect_code(2);
    assert!(
        r.stderr.contains("shiviz"),
        "the valid formats are listed: {}",
        r.stderr
    );
}

/// Whether process `pid` still exists (a zombie counts: nobody reaped it).
fn alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// The pids of `parent`'s children whose command name is `comm`.
fn children_named(parent: u32, comm: &str) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let Some((head, rest)) = stat.rsplit_once(')') else {
                return false;
            };
            let name = head.split_once('(').map_or("", |(_, n)| n);
            let ppid = rest.split_whitespace().nth(1).and_then(|p| p.parse().ok());
            name == comm && ppid == Some(parent)
        })
        .collect()
}

/// Starts `bop export TRACE --format svg --layout graphviz` with `path` as PATH, waits until
/// `find_dot` sees the Graphviz child, sends `sig` to bop, and checks that bop ends at once
/// with exit 130 and says why, having written nothing and left no child.
fn interrupt_export(
    sb: &Sandbox,
    trace: &Path,
    path: &str,
    sig: i32,
    label: &str,
    find_dot: &dyn Fn(u32) -> Option<i32>,
) {
    let out_dir = sb.join(&format!("out-{label}"));
    std::fs::create_dir_all(&out_dir).expect("mkdir");
    let out = out_dir.join("t.svg");
    let mut cmd = Command::new(bop_exe());
    cmd.arg("export")
        .arg(trace)
        .args(["--format", "svg", "--layout", "graphviz", "-o"])
        .arg(&out)
        .env("PATH", path);
    let (child, stdout, stderr) = sb.spawn_command(label, &mut cmd);
    let bop = child.id();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let dot = loop {
        if let Some(p) = find_dot(bop) {
            break p;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{label}: Graphviz never started: {}",
            std::fs::read_to_string(&stderr).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    // SAFETY: kill(2) on the bop this test started.
    assert_eq!(unsafe { libc::kill(bop as i32, sig) }, 0);
    let sent = std::time::Instant::now();
    let status = wait_limit(child, Duration::from_secs(20), label);
    let r = BopRun::collect(status, &stdout, &stderr, None);
    r.expect_code(130);
    assert!(
        sent.elapsed() < Duration::from_secs(5),
        "{label}: bop took {:?} to stop",
        sent.elapsed()
    );
    assert!(
        r.stderr.contains("may take many minutes"),
        "{label}: no warning that Graphviz is slow: {}",
        r.stderr
    );
    assert!(r.stderr.contains("interrupted by SIG"), "{}", r.stderr);
    assert!(r.stderr.contains("nothing written"), "{}", r.stderr);
    let left: Vec<_> = std::fs::read_dir(&out_dir)
        .expect("out dir")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "{label}: files left: {left:?}");
    assert!(!alive(dot), "{label}: Graphviz (pid {dot}) still there");
}

#[test]
fn a_signal_stops_a_graphviz_export_at_once() {
    let sb = Sandbox::new();
    // big enough for Graphviz to take many minutes, and for bop to warn
    let big = sb.write("big.jsonl", &big_trace(3000));
    // a Graphviz that never finishes and says where it is (the pid file appears whole)
    let pidfile = sb.join("dot.pid");
    let bin = sb.join("fake-bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    let p = pidfile.display();
    std::fs::write(
        bin.join("dot"),
        format!("#!/bin/sh\necho $$ > '{p}.tmp' && mv '{p}.tmp' '{p}'\nexec sleep 600\n"),
    )
    .expect("write the fake dot");
    std::fs::set_permissions(
        bin.join("dot"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into());
    let fake_path = format!("{}:{path}", bin.display());
    for (sig, label) in [(libc::SIGINT, "int"), (libc::SIGTERM, "term")] {
        let _ = std::fs::remove_file(&pidfile);
        let find = |_bop: u32| -> Option<i32> {
            std::fs::read_to_string(&pidfile).ok()?.trim().parse().ok()
        };
        interrupt_export(&sb, &big, &fake_path, sig, label, &find);
    }
    // the real Graphviz, when installed: this graph keeps it busy for many minutes
    let has_dot = Command::new("dot")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if has_dot {
        let find = |bop: u32| children_named(bop, "dot").first().copied();
        interrupt_export(&sb, &big, &path, libc::SIGINT, "real-dot", &find);
    } else {
        assert!(
            std::env::var_os("CI").is_none(),
            "no Graphviz: .ci/run should have installed graphviz"
        );
        eprintln!("note: Graphviz `dot` is not installed: interrupted only a stand-in");
    }
}

#[test]
fn a_failed_write_leaves_no_partial_file_and_the_old_one_intact() {
    use std::os::unix::process::CommandExt;
    let sb = Sandbox::new();
    let trace = sb.write("big.jsonl", &big_trace(3000));
    let out_dir = sb.join("out");
    std::fs::create_dir_all(&out_dir).expect("mkdir");
    let out = out_dir.join("t.svg");
    std::fs::write(&out, "the previous export\n").expect("write");
    // files may grow to 64 KiB only: the SVG (over 800 KiB) cannot be written whole
    let mut cmd = Command::new(bop_exe());
    cmd.arg("export")
        .arg(&trace)
        .args(["--format", "svg", "-o"])
        .arg(&out);
    // SAFETY: setrlimit and signal are async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 64 * 1024,
                rlim_max: 64 * 1024,
            };
            libc::setrlimit(libc::RLIMIT_FSIZE, &lim);
            // the write fails with EFBIG instead of killing bop
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
    let r = sb.run_command("fsize", cmd, None);
    r.expect_code(2);
    assert!(r.stderr.contains("cannot write"), "{}", r.stderr);
    assert_eq!(
        read(&out),
        "the previous export\n",
        "the old file is as it was"
    );
    let names: Vec<_> = std::fs::read_dir(&out_dir)
        .expect("out dir")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names, ["t.svg"], "no partial file left beside it");
}
