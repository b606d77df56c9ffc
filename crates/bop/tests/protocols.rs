//! The protocol suite of the LDFI paper (`tb-proto`, testbeds/protocols/) under `bop run`:
//! every protocol passes without faults; every buggy one fails under the fault rules its
//! README documents, with the client's explanation on stderr; the correct ones pass under
//! single faults (and a few pairs).
//!
//! The cluster files are the ones in testbeds/protocols/, run as they are, with the directory
//! of tb-proto first in PATH. Each protocol has a fixed block of ports (see its cluster file's
//! header), so one protocol's runs are made one after another inside one test, while different
//! protocols' tests run in parallel. The docs' examples (tests/docs.rs) run these files too:
//! each run here holds the fixed-ports lock shared, the docs' examples hold it exclusive.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// testbeds/protocols in the repository.
fn protocols_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testbeds/protocols")
}

/// One run of a protocol's cluster file under some fault rules.
struct ProtoRun {
    run: BopRun,
    /// The client's stderr (its `VIOLATION` line, if any).
    client_stderr: String,
    /// The rules, bop's output and the node logs, for assertion messages.
    diag: String,
}

/// `bop run testbeds/protocols/PROTO.toml --trace SANDBOX/LABEL.jsonl -q --fault RULE…`.
fn run_proto(sb: &Sandbox, proto: &str, label: &str, rules: &[&str]) -> ProtoRun {
    // the docs' examples (tests/docs.rs) run these files too, on the same ports
    let _ports = fixed_ports(false);
    let path = path_with_dir_of(env!("CARGO_BIN_EXE_tb-proto"));
    let trace = sb.join(&format!("{label}.jsonl"));
    let mut cmd = Command::new(bop_exe());
    cmd.arg("run")
        .arg(protocols_dir().join(format!("{proto}.toml")))
        .arg("--trace")
        .arg(&trace)
        .arg("-q")
        .args(fault_args(rules))
        .env("PATH", path);
    let (child, out, err) = sb.spawn_command(label, &mut cmd);
    let status = wait_limit(child, RUN_LIMIT, label);
    let run = BopRun::collect(status, &out, &err, Some(trace));
    let client_stderr =
        std::fs::read_to_string(sb.join(&format!("{label}.client.stderr"))).unwrap_or_default();
    let diag = format!("protocol {proto}, rules {rules:?}\n{}", run.diag());
    ProtoRun {
        run,
        client_stderr,
        diag,
    }
}

impl ProtoRun {
    /// Every rule injected at least once (a rule that never fires would make the case vacuous).
    fn expect_fired(&self, rules: &[&str]) {
        let t = self.run.trace();
        for rule in rules {
            let prefix = format!("{rule} [");
            assert!(
                fault_events(&t, "")
                    .iter()
                    .any(|e| e.detail.as_deref().is_some_and(|d| d.starts_with(&prefix))),
                "the rule {rule:?} never fired\n{}",
                self.diag
            );
        }
    }

    fn verdict(&self) -> String {
        self.run.footer().verdict
    }
}

/// The protocol keeps its promise under `rules`: bop exits 0, verdict pass.
fn expect_pass(sb: &Sandbox, proto: &str, label: &str, rules: &[&str]) {
    let r = run_proto(sb, proto, label, rules);
    assert_eq!(r.run.code(), Some(0), "bop should pass\n{}", r.diag);
    assert_eq!(r.verdict(), "pass", "{}", r.diag);
    assert!(
        r.client_stderr.trim().is_empty(),
        "the client complained\n{}",
        r.diag
    );
    r.expect_fired(rules);
}

/// The protocol breaks its promise under `rules`: bop exits 1 because the client exited 1,
/// and the client's stderr names the broken promise (`what`).
fn expect_violation(sb: &Sandbox, proto: &str, label: &str, rules: &[&str], what: &str) {
    let r = run_proto(sb, proto, label, rules);
    assert_eq!(r.run.code(), Some(1), "bop should fail\n{}", r.diag);
    let footer = r.run.footer();
    assert_eq!(footer.verdict, "fail", "{}", r.diag);
    assert_eq!(
        footer.reason.as_deref(),
        Some("node client exited 1"),
        "the client, the oracle, must be what failed the run\n{}",
        r.diag
    );
    assert!(
        r.client_stderr
            .contains(&format!("tb-proto {proto} client: VIOLATION: {what}")),
        "the client's stderr should say {what:?}\n{}",
        r.diag
    );
    r.expect_fired(rules);
}

#[test]
fn simple_deliv() {
    let sb = Sandbox::new();
    let p = "simple-deliv";
    expect_pass(&sb, p, "fault-free", &[]);
    // the bug: one omission
    expect_violation(
        &sb,
        p,
        "bug",
        &["drop b -> r1 #1"],
        "agreement violated: b, r2 delivered m1 but r1 did not",
    );
    // a crash between the two sends breaks it as well
    expect_violation(
        &sb,
        p,
        "crash",
        &["crash b at b.send(r2)#1"],
        "agreement violated: r1 delivered m1 but r2 did not",
    );
}

#[test]
fn retry_deliv() {
    let sb = Sandbox::new();
    let p = "retry-deliv";
    expect_pass(&sb, p, "fault-free", &[]);
    // a lost copy is made good by the next round
    expect_pass(&sb, p, "drop", &["drop b -> r1 #1"]);
    expect_pass(&sb, p, "drop-late", &["drop b -> r2 #3"]);
    // the paper's bug: the first copy to r1 is lost and the broadcaster crashes before its
    // second round
    expect_violation(
        &sb,
        p,
        "bug",
        &["drop b -> r1 #1", "crash b after b.send(r2)#1"],
        "agreement violated: r2 delivered m1 but r1 did not",
    );
    // with sequential sends, a crash in the middle of the first round is enough
    expect_violation(
        &sb,
        p,
        "crash",
        &["crash b at b.send(r2)#1"],
        "agreement violated: r1 delivered m1 but r2 did not",
    );
}

#[test]
fn redun_deliv() {
    let sb = Sandbox::new();
    let p = "redun-deliv";
    expect_pass(&sb, p, "fault-free", &[]);
    expect_pass(&sb, p, "drop-b-r1", &["drop b -> r1 #1"]);
    expect_pass(&sb, p, "drop-relay", &["drop r1 -> r2 #1"]);
    expect_pass(&sb, p, "crash-b", &["crash b at b.send(r2)#1"]);
    expect_pass(&sb, p, "crash-r1", &["crash r1 after r1.recv(b)#1"]);
    // one omission and one crash (classic-deliv's bug) are survived too
    expect_pass(
        &sb,
        p,
        "drop-and-crash",
        &["drop b -> r1 #1", "crash r2 after r2.recv(b)#1"],
    );
    expect_pass(
        &sb,
        p,
        "crash-and-drop",
        &["crash b at b.send(r2)#1", "drop r1 -> r2 #1"],
    );
}

#[test]
fn ack_deliv() {
    let sb = Sandbox::new();
    let p = "ack-deliv";
    expect_pass(&sb, p, "fault-free", &[]);
    expect_pass(&sb, p, "drop-copy", &["drop b -> r1 #1"]);
    expect_pass(&sb, p, "drop-ack", &["drop r1 -> b #1"]);
    expect_pass(&sb, p, "crash-b", &["crash b at b.send(r2)#1"]);
    expect_pass(&sb, p, "crash-r2", &["crash r2 after r2.recv(b)#1"]);
    // retry-deliv's bug is survived: r2 retransmits to r1 until r1 acknowledges
    expect_pass(
        &sb,
        p,
        "retry-bug",
        &["drop b -> r1 #1", "crash b after b.send(r2)#1"],
    );
}

#[test]
fn classic_deliv() {
    let sb = Sandbox::new();
    let p = "classic-deliv";
    expect_pass(&sb, p, "fault-free", &[]);
    // any single fault is survived
    expect_pass(&sb, p, "drop", &["drop b -> r1 #1"]);
    expect_pass(&sb, p, "crash", &["crash b at b.send(r2)#1"]);
    // the bug: the broadcaster's copy to r1 is lost and r2 crashes before relaying
    expect_violation(
        &sb,
        p,
        "bug",
        &["drop b -> r1 #1", "crash r2 after r2.recv(b)#1"],
        "agreement violated: b delivered m1 but r1 did not",
    );
    // or its relay to r1 is lost too
    expect_violation(
        &sb,
        p,
        "bug-omissions",
        &["drop b -> r1 #1", "drop r2 -> r1 #1"],
        "agreement violated: b, r2 delivered m1 but r1 did not",
    );
}

#[test]
fn two_pc() {
    let sb = Sandbox::new();
    let p = "2pc";
    expect_pass(&sb, p, "fault-free", &[]);
    // lost messages are retransmitted
    expect_pass(&sb, p, "drop-decision", &["drop c -> a1 #2"]);
    expect_pass(&sb, p, "drop-vote", &["drop a1 -> c #1"]);
    // the bug: the coordinator dies after the votes, before anyone learned the decision
    expect_violation(
        &sb,
        p,
        "bug",
        &["crash c at c.send(a1)#2"],
        "agents blocked: a1, a2 voted yes",
    );
    // ... or after telling a1 only
    expect_violation(
        &sb,
        p,
        "bug-half",
        &["crash c after c.send(a1)#2"],
        "agents blocked: a2 voted yes",
    );
}

#[test]
fn two_pc_ctp() {
    let sb = Sandbox::new();
    let p = "2pc-ctp";
    expect_pass(&sb, p, "fault-free", &[]);
    // the cooperative termination protocol: a2 learns the decision from a1
    expect_pass(&sb, p, "ctp", &["crash c after c.send(a1)#2"]);
    // the bug: nobody learned the decision, every agent is uncertain
    expect_violation(
        &sb,
        p,
        "bug",
        &["crash c at c.send(a1)#2"],
        "agents blocked: a1, a2 voted yes",
    );
}

#[test]
fn three_pc() {
    let sb = Sandbox::new();
    let p = "3pc";
    expect_pass(&sb, p, "fault-free", &[]);
    // a lost vote: everyone aborts
    expect_pass(&sb, p, "drop-vote", &["drop a1 -> c #1"]);
    // the bug: a2 misses PRECOMMIT and aborts by timeout while the others commit
    expect_violation(
        &sb,
        p,
        "bug",
        &["drop c -> a2 #2"],
        "agreement violated: c, a1 committed but a2 aborted",
    );
    // the same split by a crash of the coordinator between its two PRECOMMITs
    expect_violation(
        &sb,
        p,
        "bug-crash",
        &["crash c after c.send(a1)#2"],
        "agreement violated: a1 committed but a2 aborted",
    );
}

#[test]
fn kafka() {
    let sb = Sandbox::new();
    let p = "kafka";
    expect_pass(&sb, p, "fault-free", &[]);
    // n3 falls out of the ISR, but the leader serves the read
    expect_pass(&sb, p, "drop", &["drop n1 -> n3 #1"]);
    // the leader dies after the ack; n3 has the write
    expect_pass(&sb, p, "crash", &["crash n1 after n1.send(client)#1"]);
    // the bug: both
    expect_violation(
        &sb,
        p,
        "bug",
        &["drop n1 -> n3 #1", "crash n1 after n1.send(client)#1"],
        "acknowledged write lost: v1 was acknowledged with ISR n1,n2, but n3",
    );
}

#[test]
fn paxos() {
    let sb = Sandbox::new();
    let p = "paxos";
    expect_pass(&sb, p, "fault-free", &[]);
    expect_pass(&sb, p, "drop-p3-p1", &["drop p3 -> p1 #1"]);
    expect_pass(&sb, p, "drop-p1-p2", &["drop p1 -> p2 #1"]);
    expect_pass(&sb, p, "crash-p1", &["crash p1 at p1.send(p2)#1"]);
    expect_pass(&sb, p, "crash-p2", &["crash p2 after p2.recv(p3)#1"]);
    expect_pass(&sb, p, "crash-p3", &["crash p3 after p3.send(p1)#2"]);
}
