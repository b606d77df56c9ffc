//! The programs bop starts get a clean signal state: bop itself blocks SIGINT, SIGTERM, SIGHUP
//! and SIGCHLD (its tracer waits for them), and children inherit a signal mask, so a child not
//! reset could not be stopped by Ctrl-C. (A signal to bop while it waits for a child: see
//! `a_signal_stops_a_graphviz_export_at_once` in export.rs.)

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// Shell lines that exit 1 unless the shell running them (`$$`, the very process bop started:
/// run them with `exec` or inline, never in a forked subshell, which dash gives a clean mask)
/// has no signal blocked and SIGPIPE not ignored; they write what they found to `$dir/$who`.
const MASK_CHECK: &str = r#"blk=$(sed -n 's/^SigBlk:[[:space:]]*//p' /proc/$$/status)
ign=$(sed -n 's/^SigIgn:[[:space:]]*//p' /proc/$$/status)
case "$blk" in
*[!0]*) echo "$who: blocked signals, SigBlk $blk" > "$dir/$who"; exit 1 ;;
esac
if [ $(( 0x$ign & 0x1000 )) -ne 0 ]; then
	echo "$who: SIGPIPE ignored, SigIgn $ign" > "$dir/$who"; exit 1
fi
echo "$who: clean" > "$dir/$who"
"#;

/// Writes an executable script.
fn script(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// A directory holding a fake `dot` (`text` is its script), to put first on the PATH.
fn fake_dot(sb: &Sandbox, text: &str) -> PathBuf {
    let bin = sb.join("fake-bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    script(&bin.join("dot"), text);
    bin
}

/// PATH with `dir` first.
fn path_with(dir: &Path) -> String {
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into())
    )
}

/// A small trace to export: two nodes, a message between them.
fn small_trace(sb: &Sandbox) -> PathBuf {
    sb.write(
        "t.jsonl",
        concat!(
            r#"{"type":"header","format":2,"bop_version":"0.1.0","start_unix_ms":0,"backend":"ptrace+seccomp","nodes":[{"name":"a","cmd":"a","daemon":false},{"name":"b","cmd":"b","daemon":false}]}"#,
            "\n",
            r#"{"type":"event","node":"a","pid":10,"tid":10,"seq":0,"ts":1,"kind":"syscall","syscall":"sendto","op":"send","fd":3,"bytes":4,"ret":4,"id":0,"lane":0,"vc":{"0":1}}"#,
            "\n",
            r#"{"type":"event","node":"b","pid":20,"tid":20,"seq":0,"ts":2,"kind":"syscall","syscall":"recvfrom","op":"recv","fd":3,"bytes":4,"ret":4,"id":1,"lane":1,"vc":{"0":1,"1":1},"from":[{"id":0,"kind":"msg","bytes":4}]}"#,
            "\n",
            r#"{"type":"footer","verdict":"pass","duration_ms":1,"events":2,"nodes":[]}"#,
            "\n"
        ),
    )
}

#[test]
fn every_child_starts_with_no_signal_blocked() {
    let sb = Sandbox::new();
    let mask = sb.write("mask.sh", &format!("who=$1\ndir=$2\n{MASK_CHECK}"));
    let seen = sb.join("seen");
    std::fs::create_dir_all(&seen).expect("mkdir");
    let (mask, seen) = (mask.display(), seen.display());
    // a traced node, the setup command (`sh -c`: exec, so that no fork cleans the mask) and
    // the check
    let run = sb.run_cluster(
        "masks",
        &format!(
            "[[node]]\nname = \"node\"\ncmd = \"sh {mask} node {seen}\"\n\n\
             [run]\nsetup = \"exec sh {mask} setup {seen}\"\n\n\
             [check]\ncmd = \"sh {mask} check {seen}\"\n"
        ),
    );
    let said = |who: &str| {
        std::fs::read_to_string(sb.join(&format!("seen/{who}")))
            .unwrap_or_else(|_| format!("{who}: did not run"))
    };
    for who in ["setup", "node", "check"] {
        assert_eq!(said(who).trim(), format!("{who}: clean"), "{}", run.diag());
    }
    run.expect_code(0);

    // Graphviz, for an SVG laid out by it
    let trace = small_trace(&sb);
    let bin = fake_dot(
        &sb,
        &format!(
            "#!/bin/sh\nwho=dot\ndir='{seen}'\n{MASK_CHECK}cat > /dev/null\n\
             echo '<svg xmlns=\"http://www.w3.org/2000/svg\"/>'\n"
        ),
    );
    let out = sb.join("gv.svg");
    let r = Command::new(bop_exe())
        .arg("export")
        .arg(&trace)
        .args(["--format", "svg", "--layout", "graphviz", "-o"])
        .arg(&out)
        .env("PATH", path_with(&bin))
        .output()
        .expect("run bop");
    assert_eq!(said("dot").trim(), "dot: clean");
    assert_eq!(
        r.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    assert!(std::fs::read_to_string(&out)
        .expect("the svg")
        .contains("<svg"));
}
