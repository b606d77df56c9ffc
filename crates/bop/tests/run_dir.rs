//! The run's scratch directory (`BOP_RUN_DIR`) for nodes that run as other users: each such
//! user can write it and what is made in it, no one else gains a right to it, a directory on
//! the way that the user cannot pass is named, and bop, as root, never changes another
//! directory than the one it made (docs/cluster-file.md, docs/security.md).

mod common;

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

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

fn gid_of(name: &str) -> u32 {
    nix::unistd::Group::from_name(name)
        .expect("lookup")
        .unwrap_or_else(|| panic!("this machine has a group {name}"))
        .gid
        .as_raw()
}

/// ACL entry tags and the id of the entries that name no one (linux/posix_acl.h).
const USER_OBJ: u16 = 0x01;
const USER: u16 = 0x02;
const GROUP_OBJ: u16 = 0x04;
const GROUP: u16 = 0x08;
const MASK: u16 = 0x10;
const OTHER: u16 = 0x20;
const NO_ID: u32 = u32::MAX;

/// An ACL entry: tag, id, permission bits (4 read, 2 write, 1 search).
type Entry = (u16, u32, u16);

/// The ACL `which` ("access" or "default") of `path` as the kernel keeps it (the extended
/// attribute `system.posix_acl_WHICH`), entries by tag then id; None when it has none.
fn acl(path: &Path, which: &str) -> Option<Vec<Entry>> {
    let p = CString::new(path.as_os_str().as_bytes()).expect("path");
    let name = CString::new(format!("system.posix_acl_{which}")).expect("name");
    let mut buf = vec![0u8; 4096];
    // SAFETY: the buffer is valid for its length; the names are NUL-terminated.
    let n = unsafe {
        libc::lgetxattr(
            p.as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        let e = std::io::Error::last_os_error();
        assert_eq!(
            e.raw_os_error(),
            Some(libc::ENODATA),
            "{}: {e}",
            path.display()
        );
        return None;
    }
    let bytes = &buf[..n as usize];
    assert_eq!(bytes[..4], [2, 0, 0, 0], "version 2");
    Some(
        bytes[4..]
            .chunks_exact(8)
            .map(|c| {
                (
                    u16::from_le_bytes([c[0], c[1]]),
                    u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
                    u16::from_le_bytes([c[2], c[3]]),
                )
            })
            .collect(),
    )
}

/// Sets the ACL `which` of `path` (entries by tag then id, as the kernel wants them).
fn set_acl(path: &Path, which: &str, entries: &[Entry]) {
    let p = CString::new(path.as_os_str().as_bytes()).expect("path");
    let name = CString::new(format!("system.posix_acl_{which}")).expect("name");
    let mut bytes = vec![2u8, 0, 0, 0];
    for &(tag, id, perm) in entries {
        bytes.extend_from_slice(&tag.to_le_bytes());
        bytes.extend_from_slice(&perm.to_le_bytes());
        bytes.extend_from_slice(&id.to_le_bytes());
    }
    // SAFETY: the value is valid for its length; the names are NUL-terminated.
    let r = unsafe {
        libc::setxattr(
            p.as_ptr(),
            name.as_ptr(),
            bytes.as_ptr().cast(),
            bytes.len(),
            0,
        )
    };
    assert_eq!(
        r,
        0,
        "{}: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
}

/// The permission of the entry `tag`/`id` of an ACL, as the kernel grants it: cut by the mask
/// for the entries the mask limits.
fn effective(acl: &[Entry], tag: u16, id: u32) -> u16 {
    let perm = acl
        .iter()
        .find(|e| e.0 == tag && e.1 == id)
        .unwrap_or_else(|| panic!("no entry {tag:#x}/{id} in {acl:?}"))
        .2;
    match acl.iter().find(|e| e.0 == MASK) {
        Some(m) if matches!(tag, USER | GROUP_OBJ | GROUP) => perm & m.2,
        _ => perm,
    }
}

/// Whether `cmd` succeeds when run as `user` with the primary group `group` and no other
/// group (as the kernel decides it).
fn succeeds_as(user: &str, group: &str, cmd: &[&str]) -> bool {
    let out = std::process::Command::new("setpriv")
        .arg(format!("--reuid={}", uid_of(user)))
        .arg(format!("--regid={}", gid_of(group)))
        .arg("--clear-groups")
        .args(cmd)
        .output()
        .expect("setpriv runs");
    out.status.success()
}

fn touch_as(user: &str, group: &str, file: &Path) -> bool {
    let ok = succeeds_as(user, group, &["touch", &file.display().to_string()]);
    assert_eq!(ok, file.exists(), "{}", file.display());
    ok
}

/// A directory `name` in the sandbox with `mode` (set after creation, so umask does not cut it).
fn subdir(sb: &Sandbox, name: &str, mode: u32) -> PathBuf {
    let d = sb.join(name);
    std::fs::create_dir(&d).expect("mkdir");
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(mode)).expect("chmod");
    d
}

/// `bop run CLUSTER --trace DIR/NAME.jsonl -q` with the cluster file in the sandbox.
fn run_in(sb: &Sandbox, dir: &Path, name: &str, toml: &str) -> BopRun {
    let cluster = sb.write(&format!("{name}.toml"), toml);
    std::fs::set_permissions(&cluster, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let trace = dir.join(format!("{name}.jsonl"));
    let args: Vec<String> = vec![
        "run".into(),
        cluster.display().to_string(),
        "--trace".into(),
        trace.display().to_string(),
        "-q".into(),
    ];
    sb.bop(name, &args, Some(trace))
}

/// A directory of another user's, with a file in it, that bop must leave as it is.
struct Victim {
    dir: PathBuf,
    owner: u32,
    mode: u32,
}

impl Victim {
    fn new(sb: &Sandbox, owner: &str) -> Victim {
        let dir = subdir(sb, "victim", 0o755);
        std::fs::write(dir.join("precious"), "precious\n").expect("write");
        std::os::unix::fs::chown(&dir, Some(uid_of(owner)), None).expect("chown");
        Victim {
            dir,
            owner: uid_of(owner),
            mode: 0o755,
        }
    }

    /// The directory has no ACL, the same owner and mode, and its file.
    fn assert_untouched(&self, diag: &str) {
        let m = std::fs::symlink_metadata(&self.dir).expect("the victim");
        assert!(m.is_dir(), "{diag}");
        assert_eq!(m.uid(), self.owner, "the victim's owner\n{diag}");
        assert_eq!(m.mode() & 0o7777, self.mode, "the victim's mode\n{diag}");
        assert_eq!(
            acl(&self.dir, "access"),
            None,
            "an ACL on the victim\n{diag}"
        );
        assert_eq!(
            acl(&self.dir, "default"),
            None,
            "a default ACL on the victim\n{diag}"
        );
        assert_eq!(
            std::fs::read_to_string(self.dir.join("precious")).expect("the victim's file"),
            "precious\n"
        );
    }
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
    let a = acl(&dir, "access").expect("an access ACL");
    for user in ["nobody", "daemon"] {
        assert_eq!(effective(&a, USER, uid_of(user)), 7, "{a:?}");
    }
    assert_eq!(
        effective(&a, GROUP_OBJ, NO_ID) & 2,
        0,
        "the group may write: {a:?}"
    );
    assert_eq!(effective(&a, OTHER, NO_ID) & 2, 0, "{a:?}");
    // and so the kernel decides: neither a user no node runs as nor one of the directory's
    // group can make a file in it
    assert!(
        !touch_as("bin", "bin", &dir.join("intruder")),
        "a user no node runs as could write the run directory"
    );
    assert!(
        !touch_as("bin", "root", &dir.join("grouped")),
        "a user of the run directory's group could write it"
    );
}

#[test]
fn what_the_setup_makes_in_the_run_directory_is_open_to_the_node_users_only() {
    if !is_root() {
        eprintln!("skipped: running a node as another user needs root");
        return;
    }
    let sb = Sandbox::new();
    std::fs::set_permissions(sb.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let cluster = r#"[run]
setup = 'mkdir "$BOP_RUN_DIR/data" && echo conf > "$BOP_RUN_DIR/conf"'

[[node]]
name = "web"
cmd = """sh -c 'echo web > "$BOP_RUN_DIR/data/web" && echo more >> "$BOP_RUN_DIR/conf"'"""
cwd = "/"
user = "nobody"
"#;
    let run = sb.run_cluster("setup", cluster);
    run.expect_code(0);
    let dir = sb.join("setup.run");
    let web = dir.join("data/web");
    let text = std::fs::read_to_string(&web)
        .unwrap_or_else(|e| panic!("{}: {e}\n{}", web.display(), run.diag()));
    assert_eq!(text, "web\n");
    assert_eq!(
        std::fs::metadata(&web).expect("stat").uid(),
        uid_of("nobody")
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("conf")).expect("conf"),
        "conf\nmore\n"
    );
    // the run directory passes its user entries on, and nothing to anyone else
    let d = acl(&dir, "default").expect("a default ACL");
    assert_eq!(effective(&d, USER, uid_of("nobody")), 7, "{d:?}");
    assert_eq!(effective(&d, GROUP_OBJ, NO_ID), 0, "{d:?}");
    assert_eq!(effective(&d, OTHER, NO_ID), 0, "{d:?}");
    assert!(!touch_as("bin", "bin", &dir.join("data/intruder")));
    assert!(!touch_as("bin", "root", &dir.join("data/grouped")));
    let conf = dir.join("conf").display().to_string();
    assert!(
        !succeeds_as("bin", "bin", &["cat", &conf]),
        "another user reads conf"
    );
}

#[test]
fn an_entry_a_default_acl_above_cut_down_is_not_widened() {
    if !is_root() {
        eprintln!("skipped: running a node as another user needs root");
        return;
    }
    let sb = Sandbox::new();
    std::fs::set_permissions(sb.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    // the trace's directory passes on group:bin:rwx, but under a mask of r-x: bin's group may
    // read what is made there, not write it
    let out = subdir(&sb, "out", 0o755);
    set_acl(
        &out,
        "default",
        &[
            (USER_OBJ, NO_ID, 7),
            (GROUP_OBJ, NO_ID, 5),
            (GROUP, gid_of("bin"), 7),
            (MASK, NO_ID, 5),
            (OTHER, NO_ID, 5),
        ],
    );
    let run = run_in(&sb, &out, "masked", &writer("web", "nobody"));
    run.expect_code(0);
    let dir = out.join("masked.run");
    assert_eq!(
        std::fs::read_to_string(dir.join("web.txt")).expect("the node wrote"),
        "web\n"
    );
    for which in ["access", "default"] {
        let a = acl(&dir, which).unwrap_or_else(|| panic!("a {which} ACL"));
        assert_eq!(effective(&a, GROUP, gid_of("bin")), 5, "{which}: {a:?}");
        assert_eq!(effective(&a, GROUP_OBJ, NO_ID), 5, "{which}: {a:?}");
    }
    assert!(
        !touch_as("games", "bin", &dir.join("intruder")),
        "the group bin gained write on the run directory\n{}",
        run.diag()
    );
    assert!(
        !touch_as("games", "bin", &dir.join("web/intruder")),
        "the group bin gained write on what a node made\n{}",
        run.diag()
    );
}

#[test]
fn a_symlink_where_the_run_directory_goes_is_refused_and_its_target_untouched() {
    if !is_root() {
        eprintln!("skipped: needs root to run a node as another user");
        return;
    }
    let sb = Sandbox::new();
    std::fs::set_permissions(sb.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let victim = Victim::new(&sb, "bin");
    let link = sb.join("linked.run");
    std::os::unix::fs::symlink(&victim.dir, &link).expect("symlink");
    let run = sb.run_cluster("linked", &writer("web", "nobody"));
    run.expect_code(2);
    let want = format!(
        "bop: error: the run directory {} is a symbolic link: bop does not write through \
         one; remove it, or give another --trace",
        link.display()
    );
    assert!(run.stderr.contains(&want), "{want}\n{}", run.diag());
    assert_eq!(std::fs::read_link(&link).expect("still a link"), victim.dir);
    assert!(!sb.join("linked.jsonl").exists(), "the run started");
    victim.assert_untouched(&run.diag());
}

#[test]
fn a_run_directory_swapped_for_a_symlink_while_bop_works_never_opens_the_target() {
    if !is_root() {
        eprintln!("skipped: needs root to run a node as another user");
        return;
    }
    if std::process::Command::new("strace")
        .arg("-V")
        .output()
        .is_err()
    {
        eprintln!("skipped: strace is not installed");
        return;
    }
    // An attacker who can rename what is in the trace's directory (here the test itself, as
    // root) swaps the run directory bop has just made for a link to another user's directory.
    // strace holds bop at each call that sets an ACL or an owner, so the swap always comes
    // before bop's change: bop must make it through the directory it made, never through the
    // path (it then refuses, or the node, given the link, cannot write the target).
    let sb = Sandbox::new();
    std::fs::set_permissions(sb.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let victim = Victim::new(&sb, "bin");
    let run_dir = sb.join("raced.run");
    let attacker = {
        let (victim, run_dir, base) =
            (victim.dir.clone(), run_dir.clone(), sb.path().to_path_buf());
        std::thread::spawn(move || {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            while std::time::Instant::now() < deadline {
                if std::fs::symlink_metadata(&run_dir).is_ok_and(|m| m.is_dir()) {
                    std::fs::rename(&run_dir, base.join("moved")).expect("move it away");
                    std::os::unix::fs::symlink(&victim, &run_dir).expect("put the link");
                    return true;
                }
                std::thread::yield_now();
            }
            false
        })
    };
    let cluster = sb.write("raced.toml", &writer("web", "nobody"));
    let trace = sb.join("raced.jsonl");
    let calls = "setxattr,fsetxattr,lsetxattr,chown,fchown,lchown,fchownat";
    let mut cmd = std::process::Command::new("strace");
    cmd.args(["-qq", "-o", "/dev/null", "-e"])
        .arg(format!("trace={calls}"))
        .arg("-e")
        .arg(format!("inject={calls}:delay_enter=500000"))
        .arg(bop_exe())
        .arg("run")
        .arg(&cluster)
        .arg("--trace")
        .arg(&trace)
        .arg("-q");
    let run = sb.run_command("raced", cmd, Some(trace));
    assert!(
        attacker.join().expect("the attacker"),
        "bop never made the run directory\n{}",
        run.diag()
    );
    victim.assert_untouched(&run.diag());
    // refused, or run with the link: the node could not write through it
    if run.code() == Some(2) {
        assert!(
            run.stderr.contains("was replaced while bop made it"),
            "{}",
            run.diag()
        );
    } else {
        run.expect_code(1);
    }
}

#[test]
fn a_trace_directory_another_user_can_change_is_refused() {
    if !is_root() {
        eprintln!("skipped: bop refuses such directories only when it runs as root");
        return;
    }
    let sb = Sandbox::new();
    std::fs::set_permissions(sb.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    // bop opens the run directory to the nodes' users: here nobody
    let node = "[[node]]\nname = \"n\"\ncmd = \"true\"\nuser = \"nobody\"\n";
    let theirs = subdir(&sb, "theirs", 0o755);
    std::os::unix::fs::chown(&theirs, Some(uid_of("bin")), None).expect("chown");
    let open = subdir(&sb, "open", 0o777);
    let grouped = subdir(&sb, "grouped", 0o775);
    for (dir, why) in [
        (&theirs, format!("{} belongs to bin", theirs.display())),
        (
            &open,
            format!(
                "every user can write {} (mode 0777), and it is not sticky",
                open.display()
            ),
        ),
        (
            &grouped,
            format!(
                "its group, or a user or group its ACL names, can write {} (mode 0775), and it \
                 is not sticky",
                grouped.display()
            ),
        ),
    ] {
        let run = run_in(&sb, dir, "t", node);
        run.expect_code(2);
        let want = format!(
            "bop: error: the run directory {} (BOP_RUN_DIR) would be in a directory another \
             user can change: {why}; that user could put a link where it goes, or swap it, and \
             bop, the setup and the check, which run as root, would act on another directory; \
             give the trace (--trace, or --out of explore and census) a directory only root \
             can change: a new one (bop makes a missing directory itself), or a fresh \
             directory, made with \
             `d=$(mktemp -d) && chmod 755 \"$d\"`, then --trace \"$d/trace.jsonl\"",
            dir.join("t.run").display()
        );
        assert!(run.stderr.contains(&want), "{want}\n{}", run.diag());
        assert!(!dir.join("t.run").exists(), "{}", run.diag());
        assert!(!dir.join("t.jsonl").exists(), "{}", run.diag());
    }
    // a directory bop makes itself is root's
    let run = run_in(&sb, &open.join("new"), "t", node);
    run.expect_code(0);
    assert!(open.join("new/t.run").is_dir());
    // without node users bop grants nothing, and a trace beside another user's files (sudo in
    // one's own home) is written
    let plain = "[[node]]\nname = \"n\"\ncmd = \"true\"\n";
    let run = run_in(&sb, &theirs, "plain", plain);
    run.expect_code(0);
    assert!(theirs.join("plain.run").is_dir(), "{}", run.diag());
}

#[test]
fn a_sticky_trace_directory_like_tmp_works_and_a_previous_run_directory_is_replaced() {
    if !is_root() {
        eprintln!("skipped: running a node as another user needs root");
        return;
    }
    let sb = Sandbox::new();
    std::fs::set_permissions(sb.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    // as /tmp: every user can make entries, only an entry's owner can rename or remove it
    let tmp = subdir(&sb, "tmp", 0o1777);
    let victim = Victim::new(&sb, "bin");
    // what a previous run left: a run directory handed to nobody (a file system without ACLs),
    // with a node's file, a directory and a link out of it in it
    let old = tmp.join("t.run");
    std::fs::create_dir_all(old.join("sub/deeper")).expect("mkdir");
    std::fs::write(old.join("stale"), "old\n").expect("write");
    std::fs::write(old.join("sub/deeper/stale"), "old\n").expect("write");
    std::os::unix::fs::symlink(&victim.dir, old.join("escape")).expect("symlink");
    std::os::unix::fs::symlink(&victim.dir, old.join("sub/escape")).expect("symlink");
    std::os::unix::fs::chown(&old, Some(uid_of("nobody")), None).expect("chown");
    let run = run_in(&sb, &tmp, "t", &writer("web", "nobody"));
    run.expect_code(0);
    assert!(!run.stderr.contains("warning"), "{}", run.diag());
    let mut names: Vec<String> = std::fs::read_dir(&old)
        .expect("the run directory")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["web", "web.txt"], "{}", run.diag());
    assert_eq!(std::fs::metadata(&old).expect("stat").uid(), 0);
    victim.assert_untouched(&run.diag());
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
         (BOP_RUN_DIR): {} is closed to nobody (mode 0700, owner root); if the node writes \
         there, give the trace a directory open to nobody: a fresh directory, made with \
         `d=$(mktemp -d) && chmod 755 \"$d\"`, then --trace \"$d/trace.jsonl\"",
        sb.join("closed.run").display(),
        sb.path().display()
    );
    assert!(run.stderr.contains(&want), "{want}\n{}", run.diag());
}
