//! `bop census`, `bop diff`, `bop explore` and `bop merge` as a user runs them: on the LDFI
//! protocol suite (testbeds/protocols, `tb-proto`) and on the echo testbed.
//!
//! The protocols' cluster files use fixed blocks of ports, which crates/bop/tests/protocols.rs
//! uses too; every test here runs a copy whose ports are moved to free ones, so the two suites
//! can run side by side.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

/// PATH with the directory of the testbeds (tb-proto, tb-echo) first.
fn tb_path() -> std::ffi::OsString {
    path_with_dir_of(env!("CARGO_BIN_EXE_tb-proto"))
}

/// testbeds/protocols/PROTO.toml copied into the sandbox with its ports (the numbers of its
/// block, 77X0-77X9) replaced by free ones.
fn protocol_cluster(sb: &Sandbox, proto: &str) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testbeds/protocols")
        .join(format!("{proto}.toml"));
    let mut text = std::fs::read_to_string(&src).expect("read the protocol's cluster file");
    let mut ports: Vec<u16> = Vec::new();
    for word in text.split(|c: char| !c.is_ascii_digit()) {
        if let Ok(p) = word.parse::<u16>() {
            if (7700..7800).contains(&p) && !ports.contains(&p) {
                ports.push(p);
            }
        }
    }
    assert!(!ports.is_empty(), "no ports in {}", src.display());
    let mut taken = Vec::new();
    for p in ports {
        let mut new = free_port();
        while taken.contains(&new) {
            new = free_port();
        }
        taken.push(new);
        text = text.replace(&p.to_string(), &new.to_string());
    }
    sb.write(&format!("{proto}.toml"), &text)
}

/// Runs `bop ARGS` in the sandbox with the testbeds in PATH; returns its output.
fn bop(sb: &Sandbox, args: &[&str]) -> Output {
    Command::new(bop_exe())
        .args(args)
        .current_dir(sb.path())
        .env("PATH", tb_path())
        .output()
        .expect("run bop")
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn report(path: &Path) -> serde_json::Value {
    let t = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("no report at {}: {e}", path.display()));
    serde_json::from_str(&t).expect("the report is JSON")
}

/// `bop explore CLUSTER --report SB/NAME.json --out SB/NAME ARGS…`: (output, report).
fn explore(sb: &Sandbox, cluster: &Path, name: &str, args: &[&str]) -> (Output, serde_json::Value) {
    let rep = sb.join(&format!("{name}.json"));
    let out_dir = sb.join(name);
    let mut all = vec![
        "explore",
        cluster.to_str().expect("utf-8"),
        "--report",
        rep.to_str().expect("utf-8"),
        "--out",
        out_dir.to_str().expect("utf-8"),
    ];
    all.extend_from_slice(args);
    let o = bop(sb, &all);
    let r = report(&rep);
    (o, r)
}

/// The first bug of a report: its faults, and its repro command run once more by a shell,
/// which must fail the same way (bop run exits 1).
fn assert_bug_reproduces(sb: &Sandbox, r: &serde_json::Value, diag: &str) -> Vec<String> {
    let bugs = r["bugs"].as_array().expect("bugs is a list");
    assert!(!bugs.is_empty(), "no bug reported\n{diag}");
    let b = &bugs[0];
    let faults: Vec<String> = b["faults"]
        .as_array()
        .expect("faults")
        .iter()
        .map(|f| f.as_str().expect("a rule string").to_string())
        .collect();
    assert!(!faults.is_empty(), "a bug without faults\n{diag}");
    assert_eq!(b["verdict"], "fail", "{diag}");
    let repro = b["repro"].as_str().expect("repro is a command line");
    assert!(
        repro.contains(" run ") && repro.contains("--fault"),
        "{repro}"
    );
    for f in &faults {
        assert!(repro.contains(f.as_str()), "the repro names {f}: {repro}");
    }
    assert_eq!(
        b["reproduced"], b["repro_runs"],
        "the bug failed again on every re-run\n{diag}"
    );
    let again = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{repro} --quiet --trace {}",
            sb.join("again.jsonl").display()
        ))
        .current_dir(sb.path())
        .env("PATH", tb_path())
        .output()
        .expect("run the repro command");
    assert_eq!(
        again.status.code(),
        Some(1),
        "the repro command fails again: {repro}\n{}",
        text(&again)
    );
    faults
}

#[test]
fn ldfi_finds_simple_delivs_bug_and_its_repro_fails_again() {
    let sb = Sandbox::new();
    let cluster = protocol_cluster(&sb, "simple-deliv");
    let (o, r) = explore(&sb, &cluster, "ldfi", &["--budget", "10"]);
    let diag = format!("{}\n{r:#}", text(&o));
    assert_eq!(o.status.code(), Some(1), "exit 1: a bug\n{diag}");
    let runs = r["runs"].as_u64().expect("runs is a number");
    assert!((2..=10).contains(&runs), "runs within the budget\n{diag}");
    assert_eq!(r["certified"], serde_json::Value::Null, "{diag}");
    assert_eq!(r["strategy"], "ldfi");
    let faults = assert_bug_reproduces(&sb, &r, &diag);
    // one lost copy of the broadcast is enough, and ldfi tries the smallest sets first
    assert_eq!(faults.len(), 1, "{faults:?}\n{diag}");
    assert!(
        faults[0].starts_with("drop b -> r") || faults[0].starts_with("crash b at b.send(r"),
        "the fault cuts a copy of the broadcast: {faults:?}"
    );
    // the readable summary says the same
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains(&faults[0]), "{diag}");
    // the bug names the oracle's complaint and where the run parted from the fault-free one
    let bug = &r["bugs"][0];
    let client_said = bug["output"]["client"].to_string();
    assert!(
        client_said.contains("VIOLATION: agreement violated"),
        "the client's last words: {client_said}\n{diag}"
    );
    assert!(bug["parted"].is_string(), "{diag}");
    // every run is in the report, the fault-free one first
    let tried = r["tried"].as_array().expect("tried");
    assert_eq!(tried.len() as u64, runs, "{diag}");
    assert_eq!(tried[0]["faults"], serde_json::json!([]));
    assert_eq!(tried[0]["verdict"], "pass");
}

/// retry-deliv survives every lost copy (it sends four rounds) but not a broadcaster that dies
/// half-way through a round. A crash that silences more (before the first send) is a vacuous
/// pass, which must neither count as a support nor end the search with a false certificate.
#[test]
fn ldfi_finds_retry_delivs_crash_half_way_through_a_round() {
    let sb = Sandbox::new();
    let cluster = protocol_cluster(&sb, "retry-deliv");
    let (o, r) = explore(&sb, &cluster, "retry", &["--budget", "30"]);
    let diag = format!("{}\n{r:#}", text(&o));
    assert_eq!(o.status.code(), Some(1), "exit 1: a bug\n{diag}");
    let faults = assert_bug_reproduces(&sb, &r, &diag);
    assert!(
        faults.iter().any(|f| f.starts_with("crash b at b.send(")),
        "the broadcaster's crash is part of it: {faults:?}\n{diag}"
    );
}

/// kafka's bug takes two faults: n3 falls out of the ISR and the leader dies as it would
/// answer the read. Runs where the client's write was never acknowledged pass only because it
/// promised nothing; they must not count as other ways to the outcome (they once made ldfi
/// certify kafka after 11 runs).
#[test]
fn ldfi_finds_kafkas_two_fault_bug_without_a_false_certificate() {
    let sb = Sandbox::new();
    let cluster = protocol_cluster(&sb, "kafka");
    let (o, r) = explore(&sb, &cluster, "kafka", &["--budget", "30"]);
    let diag = format!("{}\n{r:#}", text(&o));
    assert_eq!(o.status.code(), Some(1), "exit 1: a bug\n{diag}");
    let faults = assert_bug_reproduces(&sb, &r, &diag);
    assert_eq!(faults.len(), 2, "{faults:?}\n{diag}");
    assert!(
        faults.iter().any(|f| f.starts_with("crash n1 at")),
        "{faults:?}"
    );
}

#[test]
fn ldfi_certifies_redun_deliv_for_one_fault() {
    let sb = Sandbox::new();
    let cluster = protocol_cluster(&sb, "redun-deliv");
    let (o, r) = explore(
        &sb,
        &cluster,
        "redun",
        &["--budget", "40", "--max-faults", "1"],
    );
    let diag = format!("{}\n{r:#}", text(&o));
    assert_eq!(o.status.code(), Some(0), "exit 0: no bug\n{diag}");
    assert_eq!(r["bugs"], serde_json::json!([]), "{diag}");
    assert_eq!(r["certified"], 1, "certified for one fault\n{diag}");
    // the candidates were real runs with faults, each passing
    let tried = r["tried"].as_array().expect("tried");
    assert!(tried.len() > 1, "{diag}");
    for t in &tried[1..] {
        assert_eq!(t["faults"].as_array().map(Vec::len), Some(1), "{diag}");
        assert_eq!(t["verdict"], "pass", "{diag}");
    }
    // with two faults and a small budget: no certificate, and the report says how many
    // candidates were left
    let (o, r) = explore(
        &sb,
        &cluster,
        "redun2",
        &["--budget", "4", "--max-faults", "2"],
    );
    let diag = format!("{}\n{r:#}", text(&o));
    assert_eq!(o.status.code(), Some(0), "{diag}");
    assert_eq!(r["certified"], serde_json::Value::Null, "{diag}");
    let stopped = r["stopped"].as_str().expect("stopped");
    let left: u64 = stopped
        .split("; ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count of candidates left: {stopped}"));
    assert!(left > 0, "{stopped}");
    assert!(
        stopped.starts_with("the budget of 4 runs is spent; ")
            && stopped.ends_with(" candidate fault sets of at most 2 faults left to try, for the supports seen so far"),
        "{stopped}"
    );
}

#[test]
fn edges_and_random_find_simple_delivs_bug_too() {
    let sb = Sandbox::new();
    let cluster = protocol_cluster(&sb, "simple-deliv");
    for strategy in ["edges", "random"] {
        let (o, r) = explore(
            &sb,
            &cluster,
            strategy,
            &["--budget", "15", "--strategy", strategy, "--seed", "3"],
        );
        let diag = format!("{strategy}\n{}\n{r:#}", text(&o));
        assert_eq!(o.status.code(), Some(1), "{diag}");
        assert_eq!(r["strategy"], strategy);
        assert_bug_reproduces(&sb, &r, &diag);
    }
}

#[test]
fn shards_split_a_campaign_and_merge_joins_them() {
    let sb = Sandbox::new();
    let cluster = protocol_cluster(&sb, "simple-deliv");
    let mut reports = Vec::new();
    let mut runs = 0;
    for i in 0..2 {
        let shard = format!("{i}/2");
        let (o, r) = explore(
            &sb,
            &cluster,
            &format!("shard{i}"),
            &[
                "--strategy",
                "edges",
                "--budget",
                "20",
                "--keep-going",
                "--shard",
                &shard,
                "--repro",
                "1",
            ],
        );
        let diag = format!("{}\n{r:#}", text(&o));
        assert_eq!(r["shard"], shard.as_str(), "{diag}");
        runs += r["runs"].as_u64().expect("runs");
        reports.push(sb.join(&format!("shard{i}.json")));
    }
    let merged = sb.join("merged.json");
    let mut args = vec!["merge"];
    for p in &reports {
        args.push(p.to_str().expect("utf-8"));
    }
    args.extend(["--report", merged.to_str().expect("utf-8")]);
    let o = bop(&sb, &args);
    let r = report(&merged);
    let diag = format!("{}\n{r:#}", text(&o));
    assert_eq!(
        o.status.code(),
        Some(1),
        "the merged campaign found a bug\n{diag}"
    );
    assert_eq!(r["runs"].as_u64(), Some(runs), "runs add up\n{diag}");
    assert!(!r["bugs"].as_array().expect("bugs").is_empty(), "{diag}");
    // the shards did not run the same candidates
    let faults_of = |p: &Path| -> Vec<String> {
        report(p)["tried"]
            .as_array()
            .expect("tried")
            .iter()
            .filter(|t| t["faults"] != serde_json::json!([]))
            .map(|t| t["faults"].to_string())
            .collect()
    };
    let (a, b) = (faults_of(&reports[0]), faults_of(&reports[1]));
    assert!(
        a.iter().all(|f| !b.contains(f)),
        "a candidate ran in both shards: {a:?} {b:?}"
    );

    // a file that is no report is refused with its position
    let bad = sb.write("bad.json", "{\"runs\": 3,\n  oops}");
    let o = bop(&sb, &["merge", bad.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bad.json:2:") && err.contains("not a bop explore report"),
        "{err}"
    );
}

#[test]
fn explore_refuses_a_system_that_fails_without_faults() {
    let sb = Sandbox::new();
    let cluster = sb.write(
        "failing.toml",
        "[[node]]\nname = \"a\"\ncmd = \"sh -c 'exit 3'\"\n",
    );
    let rep = sb.join("r.json");
    let o = bop(
        &sb,
        &[
            "explore",
            cluster.to_str().expect("utf-8"),
            "--report",
            rep.to_str().expect("utf-8"),
            "--out",
            sb.join("out").to_str().expect("utf-8"),
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("does not pass without faults"),
        "the error says why: {err}"
    );
    // and bad options are usage errors
    for args in [
        vec!["--budget", "1"],
        vec!["--max-faults", "0"],
        vec!["--shard", "2/2"],
    ] {
        let mut all = vec!["explore", cluster.to_str().expect("utf-8")];
        all.extend(args.iter());
        let o = bop(&sb, &all);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
    }
}

/// The echo testbed with `clients` clients (5 messages each) on a free port; with `race`, the
/// first client waits 0 or 80 ms (a coin flip) and the others 40 ms before connecting, so
/// either the first or the second is served first.
fn echo_cluster(sb: &Sandbox, name: &str, clients: u32, race: bool) -> PathBuf {
    let port = free_port();
    let echo = tb("tb-echo");
    let mut toml = format!(
        "[[node]]\nname = \"server\"\ncmd = \"{echo} server {port} {clients}\"\nready = \"tcp:127.0.0.1:{port}\"\n"
    );
    for i in 1..=clients {
        let wait = match (race, i) {
            (false, _) => "",
            (true, 1) => " 0,80",
            (true, _) => " 40",
        };
        toml += &format!(
            "\n[[node]]\nname = \"client{i}\"\ncmd = \"{echo} client {port} {i} 5{wait}\"\n"
        );
    }
    toml += "\n[run]\ntimeout = \"20s\"\n";
    sb.write(&format!("{name}.toml"), &toml)
}

/// `bop run CLUSTER -q --follow DIR --trace TRACE [--fault RULE]`.
fn run_following(
    sb: &Sandbox,
    cluster: &str,
    dir: &str,
    trace: &Path,
    fault: Option<&str>,
) -> Output {
    let mut args = vec![
        "run",
        cluster,
        "-q",
        "--follow",
        dir,
        "--trace",
        trace.to_str().expect("utf-8"),
    ];
    if let Some(f) = fault {
        args.extend(["--fault", f]);
    }
    bop(sb, &args)
}

fn census(sb: &Sandbox, cluster: &Path, name: &str, runs: u32) -> (Output, serde_json::Value) {
    let out = sb.join(name);
    let o = bop(
        sb,
        &[
            "census",
            cluster.to_str().expect("utf-8"),
            "--runs",
            &runs.to_string(),
            "--out",
            out.to_str().expect("utf-8"),
        ],
    );
    let c = report(&out.join("census.json"));
    (o, c)
}

#[test]
fn census_counts_one_class_for_a_deterministic_system() {
    let sb = Sandbox::new();
    let cluster = echo_cluster(&sb, "one", 1, false);
    let (o, c) = census(&sb, &cluster, "one", 5);
    let diag = format!("{}\n{c:#}", text(&o));
    assert_eq!(o.status.code(), Some(0), "{diag}");
    assert_eq!(c["runs"], 5);
    let classes = c["classes"].as_array().expect("classes");
    assert_eq!(classes.len(), 1, "one class\n{diag}");
    assert_eq!(classes[0]["runs"].as_array().map(Vec::len), Some(5));
    assert_eq!(c["singletons"], 0, "{diag}");
    assert_eq!(c["unseen_probability"], 0.0, "{diag}");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("1 class (level messages)"), "{diag}");
    // the representative is a real trace, and the plot an SVG
    let rep = classes[0]["representative"]
        .as_str()
        .expect("representative");
    let t = bop_trace::read_file(Path::new(rep)).expect("the representative is a trace");
    assert_eq!(t.footer.expect("footer").verdict, "pass");
    let svg = std::fs::read_to_string(c["plot"].as_str().expect("plot")).expect("the plot");
    assert!(svg.contains("<svg"), "an SVG plot");
}

#[test]
fn census_tells_racing_clients_apart_and_diff_says_where() {
    let sb = Sandbox::new();
    let cluster = echo_cluster(&sb, "race", 2, true);
    // each run is a coin flip of who comes first: 20 runs all alike has odds of 2 in a million
    let (o, c) = census(&sb, &cluster, "race", 20);
    let diag = format!("{}\n{c:#}", text(&o));
    assert_eq!(o.status.code(), Some(0), "{diag}");
    let classes = c["classes"].as_array().expect("classes");
    assert!(classes.len() >= 2, "more than one class\n{diag}");
    // classes by frequency, and their runs add up
    let sizes: Vec<usize> = classes
        .iter()
        .map(|k| k["runs"].as_array().map_or(0, Vec::len))
        .collect();
    assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "{sizes:?}");
    assert_eq!(sizes.iter().sum::<usize>(), 20);
    let singletons = sizes.iter().filter(|&&n| n == 1).count();
    assert_eq!(c["singletons"], singletons);
    let p = c["unseen_probability"].as_f64().expect("estimate");
    assert!((p - singletons as f64 / 20.0).abs() < 1e-9, "{diag}");

    // bop diff of the two largest classes: they part, and it says where in words
    let a = classes[0]["representative"].as_str().expect("rep");
    let b = classes[1]["representative"].as_str().expect("rep");
    let d = bop(&sb, &["diff", a, b]);
    assert_eq!(d.status.code(), Some(1), "the runs differ: {}", text(&d));
    let said = String::from_utf8_lossy(&d.stdout);
    assert!(said.contains("the runs part at level messages"), "{said}");
    assert!(said.contains("node "), "it names a node: {said}");
    // a run is the same as itself
    let d = bop(&sb, &["diff", a, a]);
    assert_eq!(d.status.code(), Some(0), "{}", text(&d));
    // at the coarsest level only who talks to whom counts: the classes may merge
    let d = bop(&sb, &["diff", a, b, "--level", "pairs"]);
    assert!(matches!(d.status.code(), Some(0) | Some(1)), "{}", text(&d));
}

#[test]
fn follow_stays_on_a_recorded_class_and_says_where_a_faulty_run_falls_off() {
    let sb = Sandbox::new();
    let cluster = echo_cluster(&sb, "one", 1, false);
    let (o, _) = census(&sb, &cluster, "classes", 3);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let dir = sb.join("classes");
    let dir = dir.to_str().expect("utf-8");
    let cl = cluster.to_str().expect("utf-8");
    // the same system again: it follows its one class to the end
    let t = sb.join("same.jsonl");
    let o = run_following(&sb, cl, dir, &t, None);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(
            "follow: the run followed 1 of the 1 recorded class to its end: class-1.jsonl"
        ),
        "{}",
        text(&o)
    );
    // the client's third message lost: it falls off there, and says so at once (stderr) and
    // in the summary, naming the node, the step and what the class expected
    let t = sb.join("faulty.jsonl");
    let o = run_following(&sb, cl, dir, &t, Some("drop client1 -> server #3"));
    let err = String::from_utf8_lossy(&o.stderr);
    let want =
        "the run fell off every recorded class at node client1, thread 0, step 5: it is hit by \
                an injected fault (drop); class-1.jsonl expected: it sends a message to server";
    assert!(
        err.contains(&format!("bop: follow: {want}")),
        "{}",
        text(&o)
    );
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(want),
        "{}",
        text(&o)
    );
    // a directory without recorded runs is a usage error that says what to do
    let empty = sb.join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    let o = bop(
        &sb,
        &["run", cl, "-q", "--follow", empty.to_str().expect("utf-8")],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no recorded runs there"),
        "{}",
        text(&o)
    );
}

/// The client the server of an echo trace served first: the node whose connection its first
/// accept (of a client's, not a readiness probe's) returned.
fn first_served(trace: &Path) -> String {
    let t = bop_trace::read_file(trace).expect("a trace");
    let clients: std::collections::HashMap<String, String> = t
        .events
        .iter()
        .filter(|e| e.op.as_deref() == Some("connect") && e.node != "server")
        .filter_map(|e| {
            Some((
                e.sock.as_ref()?.local.as_ref()?.to_string(),
                e.node.to_string(),
            ))
        })
        .collect();
    t.events
        .iter()
        .filter(|e| e.node == "server" && e.op.as_deref() == Some("accept"))
        .filter_map(|e| e.sock.as_ref()?.peer.as_ref())
        .find_map(|a| clients.get(&a.to_string()).cloned())
        .unwrap_or_else(|| panic!("the server accepted no client in {}", trace.display()))
}

#[test]
fn a_rule_anchored_on_a_class_fires_only_in_runs_that_follow_it() {
    let sb = Sandbox::new();
    let cluster = echo_cluster(&sb, "race", 2, true);
    let cl = cluster.to_str().expect("utf-8");
    // a census of the race: one class per client served first (12 coin flips all alike: 1 in
    // 2,048)
    let (o, c) = census(&sb, &cluster, "classes", 12);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let dir = sb.join("classes");
    let dir = dir.to_str().expect("utf-8");
    let classes = c["classes"].as_array().expect("classes");
    let rank = classes
        .iter()
        .find(|k| first_served(Path::new(k["representative"].as_str().expect("rep"))) == "client1")
        .map(|k| k["rank"].as_u64().expect("rank"))
        .unwrap_or_else(|| panic!("no class serves client1 first: {c:#}"));
    let rule = format!("crash server at server.recv(client1)#1 in class {rank}");

    // the server crashes at client1's first message only when the run follows that class,
    // that is when client1 is served first; otherwise the rule never starts, and says why
    let (mut fired_runs, mut spared_runs) = (0, 0);
    for i in 0..16 {
        let t = sb.join(&format!("live-{i}.jsonl"));
        let o = run_following(&sb, cl, dir, &t, Some(&rule));
        let footer = bop_trace::read_file(&t)
            .expect("the trace")
            .footer
            .expect("a footer");
        let outcome = &footer.faults[0];
        let diag = format!("run {i}: {outcome:?}\n{}", text(&o));
        if first_served(&t) == "client1" && outcome.fired == 1 {
            fired_runs += 1;
            assert_eq!(footer.verdict, "fail", "the server crashed: {diag}");
        } else {
            // a run that left the class (client2 first, or another interleaving) before
            // the trigger: the rule never fired, and the summary says where the run left
            assert_eq!(outcome.fired, 0, "{diag}");
            let note = outcome.note.as_deref().unwrap_or_else(|| panic!("{diag}"));
            assert!(
                note.starts_with(&format!(
                    "not started: the run left class class-{rank}.jsonl before the trigger, at node "
                )),
                "{diag}"
            );
            assert!(String::from_utf8_lossy(&o.stdout).contains(note), "{diag}");
            if first_served(&t) == "client2" {
                spared_runs += 1;
                assert_eq!(footer.verdict, "pass", "{diag}");
            }
        }
        if i >= 3 && fired_runs > 0 && spared_runs > 0 {
            break;
        }
    }
    assert!(
        fired_runs > 0 && spared_runs > 0,
        "both kinds of run: fired {fired_runs}, spared {spared_runs}"
    );

    // the errors: no --follow, no such class, an event the class does not have
    let bad = |args: &[&str], want: &str| {
        let o = bop(&sb, args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(want),
            "{args:?}: {}",
            text(&o)
        );
    };
    bad(
        &["run", cl, "-q", "--fault", &rule],
        "is anchored on a recorded class: give --follow DIR",
    );
    bad(
        &[
            "run",
            cl,
            "-q",
            "--follow",
            dir,
            "--fault",
            "crash server at server.recv#1 in class 9",
        ],
        "no recorded class \"9\"; the classes are: class-1, class-2",
    );
    bad(
        &[
            "run",
            cl,
            "-q",
            "--follow",
            dir,
            "--fault",
            &format!("crash server at server.recv(client1)#999 in class {rank}"),
        ],
        &format!(
            "the recorded class class-{rank}.jsonl never has server.recv(client1)#999: server has "
        ),
    );
}
