//! The run's scratch directory (`BOP_RUN_DIR`) for nodes that run as other users: each such
//! user can write it, no one else gains a right to it, and a directory on the way that the
//! user cannot pass is named (docs/cluster-file.md, docs/security.md).

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use common::*;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn uid_of(name: &str) -> u32 {
    nix::unistd::User::from_name(name)
        .expect("lookup")
        .unwrap_or_else(|| panic!("this machine has a user {name}"))
        .uid
        .as_raw()
}

/// A node that writes `$BOP_RUN_DIR/NAME/data` and `$BOP_RUN_DIR/NAME.txt` as `user`.
fn writer(name: &str, user: &str) -> String {
    format!(
        "[[node]]\nname = \"{name}\"\n\
         cmd = \"sh -c 'mkdir \\\"$BOP_RUN_DIR/{name}\\\" && echo {name} > \\\"$BOP_RUN_DIR/{name}/data\\\" && echo {name} > \\\"$BOP_RUN_DIR/{name}.txt\\\"'\"\n\
         cwd = \"/\"\nuser = \"{user}\"\n\n"
    )
}

#[test]
fn nodes_running_as_other_users_write_the_run_directory() {
    if !is_root() {
        eprintln!("skipped: running a node as another user needs root");
        return;
    }
    let sb = Sandbox::new();
    // the sandbox is private to root; the run directory beside the trace must be reachable
    std::fs::set_permissions(sb.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let cluster = format!(
        "{}{}{}",
        writer("web", "nobody"),
        writer("cache", "nobody"),
        writer("db", "daemon")
    );
    let run = sb.run_cluster("users", &cluster);
    run.expect_code(0);
    assert!(!run.stderr.contains("warning"), "{}", run.diag());
    let dir = sb.join("users.run");
    for (node, user) in [("web", "nobody"), ("cache", "nobody"), ("db", "daemon")] {
        for file in [format!("{node}/data"), format!("{node}.txt")] {
            let path = dir.join(&file);
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}\n{}", path.display(), run.diag()));
            assert_eq!(text, format!("{node}\n"));
            let owner = std::fs::metadata(&path).expect("stat").uid();
            assert_eq!(owner, uid_of(user), "{} is {user}'s", path.display());
        }
    }
    // the directory stays bop's, and is opened to no one else: not to other users, and not
    // beyond read and search to its group
    let m = std::fs::metadata(&dir).expect("stat");
    assert_eq!(m.uid(), 0);
    assert_eq!(m.mode() & 0o002, 0, "mode {:o}", m.mode());
    let other = std::process::Command::new("setpriv")
        .args(["--reuid=bin", "--regid=bin", "--clear-groups", "touch"])
        .arg(dir.join("intruder"))
        .output();
    if let Ok(o) = other {
        assert!(
            !o.status.success() && !dir.join("intruder").exists(),
            "a user no node runs as could write the run directory"
        );
    }
}

#[test]
fn a_run_directory_out_of_a_node_users_reach_is_named() {
    if !is_root() {
        eprintln!("skipped: running a node as another user needs root");
        return;
    }
    let sb = Sandbox::new();
    std::fs::set_permissions(sb.path(), std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let run = sb.run_cluster("closed", &writer("web", "nobody"));
    run.expect_code(1);
    let want = format!(
        "bop: warning: node web runs as nobody, who cannot reach the run directory {} \
         (BOP_RUN_DIR): {} is closed to nobody (mode 0700, owner root)",
        sb.join("closed.run").display(),
        sb.path().display()
    );
    assert!(run.stderr.contains(&want), "{want}\n{}", run.diag());
}
