//! The run's scratch directory (`BOP_RUN_DIR`), and access to it for nodes that run as another
//! user.
//!
//! bop makes the directory fresh beside the trace. As root it does so only in a directory
//! that no other user can change (docs/security.md): whoever can rename entries there could
//! put a link to, say, `/etc` where the run directory goes, or swap it after bop made it, and
//! bop, its setup and its check would then act on that directory as root. Everything bop
//! itself does there goes through descriptors, never through a path again: the old directory
//! is removed without following links, the new one is made with `mkdirat` and opened with
//! `O_NOFOLLOW`, checked to be bop's and empty, and its ACL set (or its owner changed)
//! through that descriptor.
//!
//! A node with `user = "nobody"` must be able to write the directory too, and no one else
//! must gain anything: bop adds one POSIX ACL entry per such user (`user:nobody:rwx`), to the
//! access ACL and to the default ACL (so what the setup or a node makes inside is open to the
//! node users as well), so the directory stays bop's and several users can share it. Where
//! the file system refuses ACLs and the nodes run as one other user, the directory is handed
//! to that user instead (chown). bop then checks, as each user, that the user can reach and
//! write the directory, and warns when not (a directory above it closed to the user, such as
//! a private home directory).

use std::collections::BTreeMap;
use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use bop_cluster::Cluster;
use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{fstat, fstatat, mkdirat, FileStat, Mode, SFlag};
use nix::unistd::{unlinkat, UnlinkatFlags};

/// The extended attribute that holds a file's access ACL.
const ACL_XATTR: &CStr = c"system.posix_acl_access";
/// The extended attribute that holds a directory's default ACL, which what is made inside
/// inherits.
const DEFAULT_ACL_XATTR: &CStr = c"system.posix_acl_default";
/// `POSIX_ACL_XATTR_VERSION`.
const ACL_VERSION: u32 = 2;
/// ACL entry tags (linux/posix_acl.h).
const ACL_USER_OBJ: u16 = 0x01;
const ACL_USER: u16 = 0x02;
const ACL_GROUP_OBJ: u16 = 0x04;
const ACL_GROUP: u16 = 0x08;
const ACL_MASK: u16 = 0x10;
const ACL_OTHER: u16 = 0x20;
/// The id of the entries that name no user or group.
const ACL_UNDEFINED_ID: u32 = u32::MAX;
/// Read, write and search.
const RWX: u16 = 7;

/// One entry of an access ACL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    tag: u16,
    id: u32,
    perm: u16,
}

/// The ACL a directory of this mode has without extended entries.
fn from_mode(mode: u32) -> Vec<Entry> {
    let e = |tag, shift: u32| Entry {
        tag,
        id: ACL_UNDEFINED_ID,
        perm: ((mode >> shift) & 7) as u16,
    };
    vec![e(ACL_USER_OBJ, 6), e(ACL_GROUP_OBJ, 3), e(ACL_OTHER, 0)]
}

/// The default ACL bop gives a run directory that has none: what is made inside is its
/// maker's, and nobody but the users bop adds gains a right to it (its group and other users
/// get none, whatever the maker's umask, which a default ACL replaces).
fn closed_default() -> Vec<Entry> {
    let e = |tag, perm| Entry {
        tag,
        id: ACL_UNDEFINED_ID,
        perm,
    };
    vec![e(ACL_USER_OBJ, RWX), e(ACL_GROUP_OBJ, 0), e(ACL_OTHER, 0)]
}

/// Whether an entry is of the group class, which the mask limits: named users, the owning
/// group, named groups.
fn group_class(e: &Entry) -> bool {
    matches!(e.tag, ACL_USER | ACL_GROUP_OBJ | ACL_GROUP)
}

/// `acl` with read, write and search for each of `uids`, and a mask wide enough for them.
/// Every other entry of the group class is first cut down to what the old mask let it have,
/// so that no entry's effective rights grow when the mask widens (a default ACL above may
/// have given the directory `group:staff:rwx` under a mask `r-x`).
fn grant(mut acl: Vec<Entry>, uids: &[u32]) -> Vec<Entry> {
    let old_mask = acl.iter().find(|e| e.tag == ACL_MASK).map(|e| e.perm);
    acl.retain(|e| e.tag != ACL_MASK && !(e.tag == ACL_USER && uids.contains(&e.id)));
    if let Some(m) = old_mask {
        for e in acl.iter_mut().filter(|e| group_class(e)) {
            e.perm &= m;
        }
    }
    acl.extend(uids.iter().map(|&id| Entry {
        tag: ACL_USER,
        id,
        perm: RWX,
    }));
    let mask = acl
        .iter()
        .filter(|e| group_class(e))
        .fold(0, |m, e| m | e.perm);
    acl.push(Entry {
        tag: ACL_MASK,
        id: ACL_UNDEFINED_ID,
        perm: mask,
    });
    // the kernel wants the entries by tag, then by id
    acl.sort_by_key(|e| (e.tag, e.id));
    acl
}

/// The extended attribute's bytes (little-endian: version, then tag, perm, id per entry).
fn encode(acl: &[Entry]) -> Vec<u8> {
    let mut out = ACL_VERSION.to_le_bytes().to_vec();
    for e in acl {
        out.extend_from_slice(&e.tag.to_le_bytes());
        out.extend_from_slice(&e.perm.to_le_bytes());
        out.extend_from_slice(&e.id.to_le_bytes());
    }
    out
}

/// The entries of an extended attribute's bytes; None if they are not a version 2 ACL.
fn decode(bytes: &[u8]) -> Option<Vec<Entry>> {
    let (version, rest) = bytes.split_first_chunk::<4>()?;
    if u32::from_le_bytes(*version) != ACL_VERSION || rest.len() % 8 != 0 {
        return None;
    }
    Some(
        rest.chunks_exact(8)
            .map(|c| Entry {
                tag: u16::from_le_bytes([c[0], c[1]]),
                perm: u16::from_le_bytes([c[2], c[3]]),
                id: u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect(),
    )
}

/// The ACL `name` of the open directory `fd`; None if it has none (an access ACL then is the
/// one its mode makes).
fn read_acl(fd: RawFd, name: &CStr) -> io::Result<Option<Vec<Entry>>> {
    let mut buf = vec![0u8; 4096];
    // SAFETY: the buffer is valid for its length; the name is NUL-terminated.
    let n = unsafe { libc::fgetxattr(fd, name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ENODATA) => Ok(None),
            _ => Err(e),
        };
    }
    buf.truncate(n as usize);
    decode(&buf)
        .map(Some)
        .ok_or_else(|| io::Error::other("the directory's ACL cannot be read"))
}

/// Sets the ACL `name` of the open directory `fd`.
fn write_acl(fd: RawFd, name: &CStr, acl: &[Entry]) -> io::Result<()> {
    let bytes = encode(acl);
    // SAFETY: the value is valid for its length; the name is NUL-terminated.
    let r = unsafe { libc::fsetxattr(fd, name.as_ptr(), bytes.as_ptr().cast(), bytes.len(), 0) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Gives each of `uids` read, write and search on the open directory `fd` (of mode `mode`),
/// and on what will be made inside it, by ACL entries.
fn set_acl(fd: RawFd, mode: u32, uids: &[u32]) -> io::Result<()> {
    let access = read_acl(fd, ACL_XATTR)?.unwrap_or_else(|| from_mode(mode));
    write_acl(fd, ACL_XATTR, &grant(access, uids))?;
    let default = read_acl(fd, DEFAULT_ACL_XATTR)?.unwrap_or_else(closed_default);
    write_acl(fd, DEFAULT_ACL_XATTR, &grant(default, uids))
}

/// A user the nodes run as, other than bop's own, with the names of those nodes.
struct NodeUser {
    name: String,
    uid: u32,
    gid: u32,
    nodes: Vec<String>,
}

impl NodeUser {
    /// "node web runs as nobody" / "nodes a, b run as nobody".
    fn who(&self) -> String {
        match self.nodes.as_slice() {
            [one] => format!("node {one} runs as {}", self.name),
            many => format!("nodes {} run as {}", many.join(", "), self.name),
        }
    }
}

/// The users other than `me` that the nodes run as, by uid.
fn node_users(cluster: &Cluster, me: u32) -> Vec<NodeUser> {
    let mut by_uid: BTreeMap<u32, NodeUser> = BTreeMap::new();
    for n in &cluster.nodes {
        let Some(u) = n.user.as_ref().filter(|u| u.uid != me) else {
            continue;
        };
        by_uid
            .entry(u.uid)
            .or_insert_with(|| NodeUser {
                name: u.name.clone(),
                uid: u.uid,
                gid: u.gid,
                nodes: Vec::new(),
            })
            .nodes
            .push(n.name.clone());
    }
    by_uid.into_values().collect()
}

/// The first directory on the way to `dir` (from `/` down, `dir` itself last) that `uid` with
/// the primary group `gid` and no supplementary groups, as a node runs, cannot search, or `dir`
/// itself if it cannot write it; None if it can. Asked of the kernel (`access`) in a child
/// process that has become that user, so ACLs and every other rule count. An error when the
/// child cannot become the user (bop is not root).
fn blocked_at(dir: &Path, uid: u32, gid: u32) -> io::Result<Option<PathBuf>> {
    let mut chain: Vec<PathBuf> = dir.ancestors().map(Path::to_path_buf).collect();
    chain.reverse();
    // exit statuses 1..=253 name the chain's entries, 255 says the child could not switch
    if chain.len() > 253 {
        return Err(io::Error::other("too deep a directory to check"));
    }
    let paths: Vec<CString> = chain
        .iter()
        .map(|p| CString::new(p.as_os_str().as_bytes()))
        .collect::<Result<_, _>>()
        .map_err(io::Error::other)?;
    let last = paths.len().saturating_sub(1);
    // SAFETY: the child makes only system calls (no allocation, no lock) and leaves by _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        // SAFETY: as above; the paths were made before the fork.
        unsafe {
            if libc::setgroups(0, std::ptr::null()) != 0
                || libc::setgid(gid) != 0
                || libc::setuid(uid) != 0
            {
                libc::_exit(255);
            }
            for (k, p) in paths.iter().enumerate() {
                let want = if k == last {
                    libc::W_OK | libc::X_OK
                } else {
                    libc::X_OK
                };
                if libc::access(p.as_ptr(), want) != 0 {
                    libc::_exit(k as i32 + 1);
                }
            }
            libc::_exit(0);
        }
    }
    let mut status = 0;
    loop {
        // SAFETY: waiting for our own child.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            break;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    match libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)) {
        Some(0) => Ok(None),
        Some(255) => Err(io::Error::other("cannot switch to the user")),
        Some(k @ 1..=253) => Ok(chain.get(k as usize - 1).cloned()),
        _ => Err(io::Error::other("the check did not finish")),
    }
}

/// "mode 0700, owner root" for a directory on the way.
fn describe_dir(dir: &Path) -> String {
    match std::fs::metadata(dir) {
        Ok(m) => {
            let owner = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(m.uid()))
                .ok()
                .flatten()
                .map_or_else(|| m.uid().to_string(), |u| u.name);
            format!("mode {:04o}, owner {owner}", m.mode() & 0o7777)
        }
        Err(e) => e.to_string(),
    }
}

/// The run's fresh scratch directory.
pub struct RunDir {
    /// Its absolute path, `BOP_RUN_DIR`.
    path: PathBuf,
    /// The directory itself, opened without following a link: bop sets its ACL or its owner
    /// through this, never through the path.
    dir: Dir,
}

/// The type of a file (`S_IFDIR`, `S_IFLNK`, …) from its status.
fn kind(st: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits())
}

/// How to give a trace a directory of its own, which only root can change and every user can
/// pass, for bop's messages.
const FRESH_DIR: &str = "a fresh directory, made with `d=$(mktemp -d) && chmod 755 \"$d\"`, \
                         then --trace \"$d/trace.jsonl\"";

/// Refuses, for a bop that runs as root, a directory `parent` (of status `st`) to make the run
/// directory `path` in when a user other than root can rename what is in it: its owner, or
/// anyone its mode lets write it unless it is sticky (as `/tmp` is, where only an entry's
/// owner can rename it). The mode's group bits show an ACL's mask, so a user or group an ACL
/// lets write it counts too.
fn check_parent(parent: &Path, path: &Path, st: &FileStat) -> Result<(), String> {
    let mode = st.st_mode;
    let sticky = mode & libc::S_ISVTX != 0;
    let why = if st.st_uid != 0 {
        format!("{} belongs to {}", parent.display(), user_name(st.st_uid))
    } else if mode & 0o002 != 0 && !sticky {
        format!(
            "every user can write {} (mode {:04o}), and it is not sticky",
            parent.display(),
            mode & 0o7777
        )
    } else if mode & 0o020 != 0 && !sticky {
        format!(
            "its group, or a user or group its ACL names, can write {} (mode {:04o}), and it \
             is not sticky",
            parent.display(),
            mode & 0o7777
        )
    } else {
        return Ok(());
    };
    Err(format!(
        "the run directory {} (BOP_RUN_DIR) would be in a directory another user can change: \
         {why}; that user could put a link where it goes, or swap it, and bop, the setup and \
         the check, which run as root, would act on another directory; give the trace (--trace, \
         or --out of explore and census) a directory only root can change: a new one (bop \
         makes a missing directory itself), or {FRESH_DIR}",
        path.display()
    ))
}

/// A user's name, or its uid if it has none.
fn user_name(uid: u32) -> String {
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map_or_else(|| format!("uid {uid}"), |u| u.name)
}

/// Removes the directory `name` of the open directory `parent` and everything in it, and
/// follows no symbolic link on the way (a link is removed, not what it points to).
fn remove_tree(parent: RawFd, name: &CStr) -> io::Result<()> {
    let mut dir = Dir::openat(
        Some(parent),
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    // the names first: removing entries while reading the directory could skip some
    let names = dir
        .iter()
        .map(|e| e.map(|e| e.file_name().to_owned()))
        .collect::<Result<Vec<CString>, _>>()?;
    let fd = dir.as_raw_fd();
    for n in names
        .iter()
        .filter(|n| !matches!(n.to_bytes(), b"." | b".."))
    {
        // unlink refuses a directory (EISDIR), and removes a link itself
        match unlinkat(Some(fd), n.as_c_str(), UnlinkatFlags::NoRemoveDir) {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(Errno::EISDIR) => remove_tree(fd, n)?,
            Err(e) => return Err(e.into()),
        }
    }
    drop(dir);
    Ok(unlinkat(Some(parent), name, UnlinkatFlags::RemoveDir)?)
}

impl RunDir {
    /// Makes the run directory of the trace `trace`, `TRACE-STEM.run/` beside it, fresh:
    /// removes the one a previous run with the same trace name left, then makes it anew, as
    /// bop's user. Refuses a symbolic link or anything else that is not a directory where it
    /// goes, and, for a bop that runs as root and will open the directory to the users of
    /// `cluster`'s nodes, a trace directory another user can change (without node users bop
    /// grants nothing, and a trace beside the user's own files, under sudo, stays possible).
    pub fn create(trace: &Path, cluster: &Cluster) -> Result<RunDir, String> {
        let mut name = trace
            .file_stem()
            .unwrap_or(std::ffi::OsStr::new("trace"))
            .to_os_string();
        name.push(".run");
        let parent = match trace.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create the directory {}: {e}", parent.display()))?;
        let parent = std::fs::canonicalize(parent)
            .map_err(|e| format!("the trace's directory {}: {e}", parent.display()))?;
        let path = parent.join(&name);
        let name = CString::new(name.as_bytes())
            .map_err(|_| format!("{}: a file name cannot hold a NUL byte", path.display()))?;
        let at = |e: Errno| {
            format!(
                "the run directory {}: {}",
                path.display(),
                io::Error::from(e)
            )
        };
        let in_parent = |e: Errno| {
            format!(
                "the trace's directory {}: {}",
                parent.display(),
                io::Error::from(e)
            )
        };
        let pdir = Dir::open(
            &parent,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(in_parent)?;
        let pfd = pdir.as_raw_fd();
        let me = nix::unistd::geteuid().as_raw();
        if me == 0 && !node_users(cluster, me).is_empty() {
            check_parent(&parent, &path, &fstat(pfd).map_err(in_parent)?)?;
        }
        match fstatat(Some(pfd), name.as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(at(e)),
            Ok(st) if kind(&st) == SFlag::S_IFDIR => {
                remove_tree(pfd, &name).map_err(|e| {
                    format!("cannot empty the run directory {}: {e}", path.display())
                })?;
            }
            Ok(st) if kind(&st) == SFlag::S_IFLNK => {
                return Err(format!(
                    "the run directory {} is a symbolic link: bop does not write through one; \
                     remove it, or give another --trace",
                    path.display()
                ))
            }
            Ok(_) => {
                return Err(format!(
                    "the run directory {} is there and is not a directory: remove it, or give \
                     another --trace",
                    path.display()
                ))
            }
        }
        let replaced = || {
            format!(
                "the run directory {} was replaced while bop made it: another program changes \
                 {}; give the trace a directory of its own",
                path.display(),
                parent.display()
            )
        };
        match mkdirat(Some(pfd), name.as_c_str(), Mode::from_bits_truncate(0o777)) {
            Ok(()) => {}
            Err(Errno::EEXIST) => return Err(replaced()),
            Err(e) => {
                return Err(format!(
                    "cannot create the run directory {}: {}",
                    path.display(),
                    io::Error::from(e)
                ))
            }
        }
        let mut dir = match Dir::openat(
            Some(pfd),
            name.as_c_str(),
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) {
            Ok(d) => d,
            // a link (ELOOP), or anything but a directory, or nothing, where bop made it
            Err(Errno::ELOOP | Errno::ENOTDIR | Errno::ENOENT) => return Err(replaced()),
            Err(e) => return Err(at(e)),
        };
        // the directory bop just made: its own, and empty (only root or bop's user could
        // have swapped it, unless bop is not root and the trace's directory is open to others)
        let owner = fstat(dir.as_raw_fd()).map_err(at)?.st_uid;
        let empty = dir
            .iter()
            .all(|e| e.is_ok_and(|e| matches!(e.file_name().to_bytes(), b"." | b"..")));
        if owner != me || !empty {
            return Err(replaced());
        }
        Ok(RunDir { path, dir })
    }

    /// The directory's path, which the nodes, the setup and the check get as `BOP_RUN_DIR`.
    pub fn into_path(self) -> PathBuf {
        self.path
    }

    /// Lets the users the nodes of `cluster` run as (other than bop's own) write the
    /// directory, then checks that each can reach it. Returns warnings to print: bop goes
    /// on, as a node may never use `BOP_RUN_DIR`.
    pub fn open_to_node_users(&self, cluster: &Cluster) -> Vec<String> {
        let me = nix::unistd::geteuid().as_raw();
        let users = node_users(cluster, me);
        if users.is_empty() {
            return Vec::new();
        }
        let dir = self.path.as_path();
        let fd = self.dir.as_raw_fd();
        let mut warnings = Vec::new();
        let uids: Vec<u32> = users.iter().map(|u| u.uid).collect();
        let set = fstat(fd)
            .map_err(io::Error::from)
            .and_then(|st| set_acl(fd, st.st_mode, &uids));
        if let Err(e) = set {
            let chowned = match users.as_slice() {
                // no ACLs here: one user can have the directory itself
                [one] if e.raw_os_error() == Some(libc::EOPNOTSUPP) => {
                    nix::unistd::fchown(fd, Some(nix::unistd::Uid::from_raw(one.uid)), None).is_ok()
                }
                _ => false,
            };
            if !chowned {
                let who: Vec<String> = users.iter().map(NodeUser::who).collect();
                warnings.push(format!(
                    "{}, but bop cannot let them write the run directory {} (BOP_RUN_DIR): \
                     adding an ACL entry failed: {e}; put the trace on a file system with ACLs \
                     (--trace), or run those nodes as one user",
                    who.join("; "),
                    dir.display()
                ));
                return warnings;
            }
        }
        for u in &users {
            match blocked_at(dir, u.uid, u.gid) {
                Ok(Some(at)) if at != dir => warnings.push(format!(
                    "{}, who cannot reach the run directory {} (BOP_RUN_DIR): {} is closed to \
                     {} ({}); if the node writes there, give the trace a directory open to {}: \
                     {FRESH_DIR}",
                    u.who(),
                    dir.display(),
                    at.display(),
                    u.name,
                    describe_dir(&at),
                    u.name
                )),
                Ok(Some(_)) => warnings.push(format!(
                    "{}, who cannot write the run directory {} (BOP_RUN_DIR) although bop gave \
                     it an ACL entry ({})",
                    u.who(),
                    dir.display(),
                    describe_dir(dir)
                )),
                // a bop that is not root cannot switch users: starting the node will say so
                Ok(None) | Err(_) => {}
            }
        }
        warnings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_adds_users_and_a_mask_that_widens_nothing_else() {
        let acl = grant(from_mode(0o750), &[65534, 1]);
        let e = |tag, id, perm| Entry { tag, id, perm };
        let u = ACL_UNDEFINED_ID;
        assert_eq!(
            acl,
            [
                e(ACL_USER_OBJ, u, 7),
                e(ACL_USER, 1, 7),
                e(ACL_USER, 65534, 7),
                e(ACL_GROUP_OBJ, u, 5),
                e(ACL_MASK, u, 7),
                e(ACL_OTHER, u, 0),
            ]
        );
        assert_eq!(decode(&encode(&acl)), Some(acl.clone()));
        // granting again changes nothing
        assert_eq!(grant(acl.clone(), &[1]), acl);
        assert_eq!(decode(&[1, 0, 0, 0]), None);
        assert_eq!(decode(&[2, 0, 0, 0, 1]), None);
    }

    #[test]
    fn grant_never_widens_what_the_old_mask_cut() {
        let e = |tag, id, perm| Entry { tag, id, perm };
        let u = ACL_UNDEFINED_ID;
        // inherited from a default ACL: group 50 and user 7 may write, but the mask says no
        let acl = vec![
            e(ACL_USER_OBJ, u, 7),
            e(ACL_USER, 7, 7),
            e(ACL_GROUP_OBJ, u, 7),
            e(ACL_GROUP, 50, 7),
            e(ACL_MASK, u, 5),
            e(ACL_OTHER, u, 5),
        ];
        assert_eq!(
            grant(acl, &[65534]),
            [
                e(ACL_USER_OBJ, u, 7),
                e(ACL_USER, 7, 5),
                e(ACL_USER, 65534, 7),
                e(ACL_GROUP_OBJ, u, 5),
                e(ACL_GROUP, 50, 5),
                e(ACL_MASK, u, 7),
                e(ACL_OTHER, u, 5),
            ]
        );
        // the default ACL bop gives: the maker's rights, the users', nothing for anyone else
        assert_eq!(
            grant(closed_default(), &[65534]),
            [
                e(ACL_USER_OBJ, u, 7),
                e(ACL_USER, 65534, 7),
                e(ACL_GROUP_OBJ, u, 0),
                e(ACL_MASK, u, 7),
                e(ACL_OTHER, u, 0),
            ]
        );
    }
}
