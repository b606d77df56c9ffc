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

/// The processes descended from `pid` (its children, theirs, …), read from /proc.
fn descendants(pid: i32) -> std::collections::BTreeSet<i32> {
    let mut parent = std::collections::HashMap::new();
    for e in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        // "pid (comm) S ppid …": the parent is the second field after the last ')'
        let ppid = std::fs::read_to_string(format!("/proc/{p}/stat"))
            .ok()
            .and_then(|s| {
                let (_, rest) = s.rsplit_once(')')?;
                rest.split_whitespace().nth(1)?.parse::<i32>().ok()
            });
        if let Some(pp) = ppid {
            parent.insert(p, pp);
        }
    }
    let mut out = std::collections::BTreeSet::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        for (&c, &pp) in &parent {
            if pp == p && out.insert(c) {
                todo.push(c);
            }
        }
    }
    out
}

/// Starts `bop ARGS` (stdout and stderr to files: not a terminal), waits until its stderr
/// says `ready` and a run is under way (a `bop run` and its nodes below it), then sends it
/// `sig`. Returns its output and the processes that were below it when the signal went.
fn interrupt(
    sb: &Sandbox,
    label: &str,
    args: &[&str],
    ready: &str,
    sig: i32,
) -> (BopRun, std::collections::BTreeSet<i32>) {
    let mut cmd = Command::new(bop_exe());
    cmd.args(args).env("PATH", tb_path());
    let (child, out, err) = sb.spawn_command(label, &mut cmd);
    let pid = child.id() as i32;
    let deadline = std::time::Instant::now() + RUN_LIMIT;
    let below = loop {
        let said = std::fs::read_to_string(&err).unwrap_or_default();
        let below = descendants(pid);
        // a bop run and at least one node of it
        if said.contains(ready) && below.len() >= 2 {
            break below;
        }
        if std::time::Instant::now() > deadline {
            // SAFETY: killing the bop we started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let st = wait_limit(child, std::time::Duration::from_secs(10), label);
            panic!(
                "{label}: never got to {ready:?} with a run under way\n{}",
                BopRun::collect(st, &out, &err, None).diag()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    // SAFETY: signalling the bop we started.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
    let st = wait_limit(child, RUN_LIMIT, label);
    (BopRun::collect(st, &out, &err, None), below)
}

/// The number N in "… after N of …" in `text`, after `prefix`.
fn count_after(text: &str, prefix: &str, diag: &str) -> u64 {
    let at = text
        .find(prefix)
        .unwrap_or_else(|| panic!("no {prefix:?}\n{diag}"));
    text[at + prefix.len()..]
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count after {prefix:?}\n{diag}"))
}

/// An interrupted census exits 130 as `bop run` does, says how many runs it made of how many,
/// keeps the census of those (readable, with their representatives), and stops the run under
/// way with its nodes.
fn census_interrupted_by(sig: i32, name: &str) {
    let sb = Sandbox::new();
    let port = free_port();
    let echo = tb("tb-echo");
    // an echo exchange and a node that takes its time: a run lasts a second
    let cluster = sb.write(
        "slow.toml",
        &format!(
            "[[node]]\nname = \"server\"\ncmd = \"{echo} server {port} 1\"\n\
             ready = \"tcp:127.0.0.1:{port}\"\n\n\
             [[node]]\nname = \"client1\"\ncmd = \"{echo} client {port} 1 3\"\n\n\
             [[node]]\nname = \"pause\"\ncmd = \"sleep 1\"\n\n[run]\ntimeout = \"20s\"\n"
        ),
    );
    let out = sb.join("census");
    let (run, below) = interrupt(
        &sb,
        "census",
        &[
            "census",
            cluster.to_str().expect("utf-8"),
            "--runs",
            "100",
            "--out",
            out.to_str().expect("utf-8"),
        ],
        "bop census: run 2/100: pass",
        sig,
    );
    let diag = run.diag();
    run.expect_code(130);
    let done = count_after(
        &run.stderr,
        &format!("bop: census interrupted ({name}) after "),
        &diag,
    );
    assert!(
        run.stderr.contains(&format!(
            "bop: census interrupted ({name}) after {done} of 100 runs: the census of those is \
             above and in {}",
            out.join("census.json").display()
        )),
        "{diag}"
    );
    assert!((2..100).contains(&done), "{diag}");
    assert!(
        run.stdout.contains(&format!(
            "interrupted ({name}) after {done} of the 100 asked: 1 class (level messages)"
        )),
        "{diag}"
    );
    // the census of the runs made: counted, and each representative a whole trace
    let c = report(&out.join("census.json"));
    assert_eq!(c["runs"], done, "{diag}\n{c:#}");
    assert_eq!(c["asked"], 100, "{c:#}");
    assert_eq!(c["interrupted"], format!("interrupted ({name})"), "{c:#}");
    let classes = c["classes"].as_array().expect("classes");
    let counted: u64 = classes
        .iter()
        .map(|k| k["runs"].as_array().map_or(0, Vec::len) as u64)
        .sum();
    assert_eq!(counted, done, "{c:#}");
    for k in classes {
        let rep = k["representative"].as_str().expect("representative");
        let t = bop_trace::read_file(Path::new(rep)).expect("the representative is a trace");
        assert_eq!(t.footer.expect("a footer").verdict, "pass", "{rep}");
    }
    // the run cut short is neither counted nor kept
    assert!(!out.join("runs").exists(), "{diag}");
    // no bop run, no node left behind
    let alive = wait_gone(&below, std::time::Duration::from_secs(5));
    assert!(
        alive.is_empty(),
        "processes of the census still running after it exited: {alive:?}\n{diag}"
    );
}

#[test]
fn census_interrupted_by_sigint_exits_130_and_keeps_the_runs_done() {
    census_interrupted_by(libc::SIGINT, "SIGINT");
}

#[test]
fn census_interrupted_by_sigterm_exits_130_and_keeps_the_runs_done() {
    census_interrupted_by(libc::SIGTERM, "SIGTERM");
}

#[test]
fn explore_interrupted_exits_130_and_reports_the_runs_done() {
    let sb = Sandbox::new();
    // a correct protocol: the campaign would go on to its budget
    let cluster = protocol_cluster(&sb, "redun-deliv");
    let rep = sb.join("camp.json");
    let out = sb.join("camp");
    let (run, below) = interrupt(
        &sb,
        "explore",
        &[
            "explore",
            cluster.to_str().expect("utf-8"),
            "--budget",
            "40",
            "--report",
            rep.to_str().expect("utf-8"),
            "--out",
            out.to_str().expect("utf-8"),
        ],
        "bop explore: run 3/40:",
        libc::SIGINT,
    );
    let diag = run.diag();
    run.expect_code(130);
    let done = count_after(
        &run.stderr,
        "bop: explore interrupted (SIGINT) after ",
        &diag,
    );
    assert!(
        run.stderr.contains(&format!(
            "bop: explore interrupted (SIGINT) after {done} of 40 runs: what they found is above \
             and in {} (their traces in {})",
            rep.display(),
            out.display()
        )),
        "{diag}"
    );
    assert!((3..40).contains(&done), "{diag}");
    assert!(
        run.stdout
            .contains("No bug found; not certified: interrupted (SIGINT)."),
        "{diag}"
    );
    // the report of the runs made, each with its whole trace
    let r = report(&rep);
    assert_eq!(r["interrupted"], true, "{r:#}");
    assert_eq!(r["stopped"], "interrupted (SIGINT)", "{r:#}");
    assert_eq!(r["runs"], done, "{r:#}");
    assert!(r["certified"].is_null(), "{r:#}");
    let tried = r["tried"].as_array().expect("tried");
    assert_eq!(tried.len() as u64, done, "{r:#}");
    for t in tried {
        let trace = t["trace"].as_str().expect("a trace");
        let f = bop_trace::read_file(Path::new(trace))
            .expect("a trace")
            .footer
            .expect("a footer");
        assert_eq!(
            f.verdict,
            t["verdict"].as_str().expect("verdict"),
            "{trace}"
        );
    }
    let alive = wait_gone(&below, std::time::Duration::from_secs(5));
    assert!(
        alive.is_empty(),
        "processes of the campaign still running after it exited: {alive:?}\n{diag}"
    );
}

#[test]
fn census_of_a_hanging_system_says_each_run_and_warns() {
    let sb = Sandbox::new();
    let port = free_port();
    let echo = tb("tb-echo");
    // the server waits for a second client that never comes
    let cluster = sb.write(
        "stuck.toml",
        &format!(
            "[[node]]\nname = \"server\"\ncmd = \"{echo} server {port} 2\"\n\
             ready = \"tcp:127.0.0.1:{port}\"\n\n\
             [[node]]\nname = \"client1\"\ncmd = \"{echo} client {port} 1 2\"\n\n\
             [run]\ntimeout = \"1s\"\ngrace = \"1s\"\n"
        ),
    );
    let out = sb.join("stuck");
    let o = bop(
        &sb,
        &[
            "census",
            cluster.to_str().expect("utf-8"),
            "--runs",
            "3",
            "--out",
            out.to_str().expect("utf-8"),
        ],
    );
    let diag = text(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    // stderr is no terminal: a line per run, as it ends
    assert!(
        err.contains(&format!(
            "bop census: 3 runs of {} into {} (a run that has not ended after 1s is stopped as \
             hung)",
            cluster.display(),
            out.display()
        )),
        "{diag}"
    );
    let hang = "hang: the run timeout (1s) passed while server still ran";
    assert!(
        err.contains(&format!(
            "bop census: run 1/3: {hang}; a new class (1 class so far)"
        )),
        "{diag}"
    );
    for i in 2..=3 {
        assert!(
            err.contains(&format!("bop census: run {i}/3: {hang}; ")),
            "{diag}"
        );
    }
    // and a warning of what hung runs mean for the classes; the exit says it too
    assert!(
        err.contains(
            "bop: warning: 3 of 3 runs hung: they still ran when the run timeout (1s) passed, \
             and bop stopped them. A hung run's class is where the timeout cut it, not an \
             execution of the system"
        ),
        "{diag}"
    );
    assert_eq!(o.status.code(), Some(1), "{diag}");
    let c = report(&out.join("census.json"));
    assert_eq!(c["hung"], 3, "{c:#}");
    assert_eq!(c["runs"], 3, "{c:#}");
}

/// The files in `dir`, sorted.
fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read the directory")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn census_into_a_used_out_replaces_the_previous_census_and_refuses_other_files() {
    let sb = Sandbox::new();
    let cluster = echo_cluster(&sb, "one", 1, false);
    let (o, _) = census(&sb, &cluster, "classes", 2);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let dir = sb.join("classes");
    // what a bigger previous census would have left: a second class, the runs of one cut short
    std::fs::copy(dir.join("class-1.jsonl"), dir.join("class-2.jsonl")).expect("copy");
    std::fs::write(dir.join("class-2.server.stdout"), "").expect("write");
    std::fs::create_dir(dir.join("runs")).expect("mkdir");
    std::fs::write(dir.join("runs/run-0007.jsonl"), "").expect("write");
    let (o, c) = census(&sb, &cluster, "classes", 1);
    let diag = format!("{}\n{c:#}", text(&o));
    assert_eq!(o.status.code(), Some(0), "{diag}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(&format!(
            "bop census: replacing the previous census in {}",
            dir.display()
        )),
        "{diag}"
    );
    // nothing of the old census is left: only the new one's files
    let files = files_in(&dir);
    assert!(
        files
            .iter()
            .all(|f| !f.starts_with("class-2") && f != "runs"),
        "{files:?}\n{diag}"
    );
    assert!(files.contains(&"class-1.jsonl".to_string()), "{files:?}");
    assert_eq!(c["classes"].as_array().map(Vec::len), Some(1), "{diag}");
    // one run, one class: said in the singular
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(said.contains("bop census: 1 run of "), "{diag}");
    assert!(said.contains(": 1 class (level messages)"), "{diag}");
    assert!(
        said.contains("Good–Turing: 1 class seen exactly once in 1 run: "),
        "{diag}"
    );
    // a directory that holds anything else is refused, and left as it was
    std::fs::write(dir.join("notes.txt"), "mine").expect("write");
    let o = bop(
        &sb,
        &[
            "census",
            cluster.to_str().expect("utf-8"),
            "--runs",
            "1",
            "--out",
            dir.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(&format!(
            "bop: error: --out {} holds files that are not a previous census's (notes.txt): \
             give a new or empty directory",
            dir.display()
        )),
        "{}",
        text(&o)
    );
    assert_eq!(files_in(&dir), {
        let mut f = files.clone();
        f.push("notes.txt".into());
        f.sort();
        f
    });
}

#[test]
fn explore_into_a_used_out_replaces_the_previous_runs_and_refuses_other_files() {
    let sb = Sandbox::new();
    let cluster = protocol_cluster(&sb, "simple-deliv");
    let cl = cluster.to_str().expect("utf-8");
    let dir = sb.join("camp");
    let d = dir.to_str().expect("utf-8");
    // the report kept among the runs
    let rep = dir.join("report.json");
    let args = [
        "explore",
        cl,
        "--budget",
        "2",
        "--repro",
        "0",
        "--out",
        d,
        "--report",
        rep.to_str().expect("utf-8"),
    ];
    let o = bop(&sb, &args);
    assert!(matches!(o.status.code(), Some(0) | Some(1)), "{}", text(&o));
    // what a longer previous campaign would have left
    std::fs::copy(
        dir.join("run-001-fault-free.jsonl"),
        dir.join("run-017.jsonl"),
    )
    .expect("copy");
    std::fs::write(dir.join("repro-003-1.out"), "").expect("write");
    let o = bop(&sb, &args);
    let diag = text(&o);
    assert!(matches!(o.status.code(), Some(0) | Some(1)), "{diag}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(&format!(
            "bop explore: replacing the previous campaign in {d}"
        )),
        "{diag}"
    );
    let files = files_in(&dir);
    assert!(
        !files.contains(&"run-017.jsonl".to_string())
            && !files.contains(&"repro-003-1.out".to_string()),
        "{files:?}\n{diag}"
    );
    // every trace left is a run of the new report
    let r = report(&rep);
    let traces: Vec<String> = r["tried"]
        .as_array()
        .expect("tried")
        .iter()
        .map(|t| {
            Path::new(t["trace"].as_str().expect("trace"))
                .file_name()
                .expect("a file name")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    for f in files.iter().filter(|f| f.ends_with(".jsonl")) {
        assert!(traces.contains(f), "{f} is not in the report: {traces:?}");
    }
    std::fs::write(dir.join("notes.txt"), "mine").expect("write");
    let o = bop(&sb, &args);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(&format!(
            "bop: error: --out {d} holds files that are not a previous campaign's (notes.txt)"
        )),
        "{}",
        text(&o)
    );
    assert!(dir.join("run-001-fault-free.jsonl").exists());
}

/// Two campaigns (or a campaign and a census) never share an --out directory: the second is
/// refused, naming the first, and leaves the first's files alone; once the first has ended
/// the directory is free again.
#[test]
fn an_out_directory_in_use_is_refused() {
    let sb = Sandbox::new();
    let slow = sb.write(
        "slow.toml",
        "[[node]]\nname = \"a\"\ncmd = \"sleep 30\"\n\n[run]\ntimeout = \"60s\"\n",
    );
    let slow = slow.to_str().expect("utf-8");
    let mut cmd = Command::new(bop_exe());
    cmd.args(["explore", slow, "--out", "o", "--report", "r1.json"])
        .env("PATH", tb_path());
    let (child, out, err) = sb.spawn_command("first", &mut cmd);
    let pid = child.id() as i32;
    // the first holds the directory once its fault-free run is under way
    let trace = sb.join("o/run-001-fault-free.jsonl");
    let deadline = std::time::Instant::now() + RUN_LIMIT;
    while !trace.exists() {
        if std::time::Instant::now() > deadline {
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let st = wait_limit(child, std::time::Duration::from_secs(10), "first");
            panic!(
                "the first campaign never started its run\n{}",
                BopRun::collect(st, &out, &err, None).diag()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    for (label, args) in [
        (
            "second",
            vec!["explore", slow, "--out", "o", "--report", "r2.json"],
        ),
        ("census", vec!["census", slow, "--runs", "2", "--out", "o"]),
    ] {
        let args: Vec<String> = args.into_iter().map(String::from).collect();
        let run = sb.bop(label, &args, None);
        run.expect_code(2);
        assert!(
            run.stderr.contains(&format!(
                "--out o is in use by bop explore (pid {pid}), still running"
            )) && run.stderr.contains("--out o{}"),
            "{label}: {}",
            run.diag()
        );
        assert!(trace.exists(), "{label} removed the first campaign's trace");
    }
    // SAFETY: signalling the bop we started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let first = BopRun::collect(wait_limit(child, RUN_LIMIT, "first"), &out, &err, None);
    first.expect_code(130);
    // free again: a campaign on a quick system replaces the first's files there
    let quick = sb.write("quick.toml", "[[node]]\nname = \"a\"\ncmd = \"true\"\n");
    let args: Vec<String> = [
        "explore",
        quick.to_str().expect("utf-8"),
        "--out",
        "o",
        "--report",
        "r3.json",
        "--budget",
        "2",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    let run = sb.bop("third", &args, None);
    assert!(
        !run.stderr.contains("in use"),
        "the lock went with the first campaign:\n{}",
        run.diag()
    );
    assert!(
        sb.join("r3.json").exists(),
        "the third campaign ran:\n{}",
        run.diag()
    );
}
