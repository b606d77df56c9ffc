//! The run's scratch directory (`BOP_RUN_DIR`) for nodes that run as another user.
//!
//! bop creates the directory as its own user. A node with `user = "nobody"` must be able to
//! write it too, and no one else must gain anything: bop adds one POSIX ACL entry per such user
//! (`user:nobody:rwx`), so the directory stays bop's, its mode is unchanged, and several users
//! can share it. Where the file system refuses ACLs and the nodes run as one other user, the
//! directory is handed to that user instead (chown). bop then checks, as each user, that the
//! user can reach and write the directory, and warns when not (a directory above it closed to
//! the user, such as a private home directory).

use std::collections::BTreeMap;
use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use bop_cluster::Cluster;

/// The extended attribute that holds a file's access ACL.
const ACL_XATTR: &std::ffi::CStr = c"system.posix_acl_access";
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

/// `acl` with read, write and search for each of `uids`, and its mask recomputed as `setfacl`
/// does (the union of the group class), so no other entry gains a permission.
fn grant(mut acl: Vec<Entry>, uids: &[u32]) -> Vec<Entry> {
    acl.retain(|e| e.tag != ACL_MASK && !(e.tag == ACL_USER && uids.contains(&e.id)));
    acl.extend(uids.iter().map(|&id| Entry {
        tag: ACL_USER,
        id,
        perm: RWX,
    }));
    let mask = acl
        .iter()
        .filter(|e| matches!(e.tag, ACL_USER | ACL_GROUP_OBJ | ACL_GROUP))
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

/// The access ACL of `path`: its extended entries if it has some (a default ACL above it may
/// have given it some), else the one its mode makes.
fn read_acl(path: &CString, mode: u32) -> io::Result<Vec<Entry>> {
    let mut buf = vec![0u8; 1024];
    // SAFETY: the buffer is valid for its length; the names are NUL-terminated.
    let n = unsafe {
        libc::getxattr(
            path.as_ptr(),
            ACL_XATTR.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ENODATA) => Ok(from_mode(mode)),
            _ => Err(e),
        };
    }
    buf.truncate(n as usize);
    decode(&buf).ok_or_else(|| io::Error::other("the directory's ACL cannot be read"))
}

/// Gives each of `uids` read, write and search on the directory `path` by an ACL entry.
fn set_acl(path: &Path, uids: &[u32]) -> io::Result<()> {
    let mode = std::fs::metadata(path)?.mode();
    let c = CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)?;
    let bytes = encode(&grant(read_acl(&c, mode)?, uids));
    // SAFETY: the value is valid for its length; the names are NUL-terminated.
    let r = unsafe {
        libc::setxattr(
            c.as_ptr(),
            ACL_XATTR.as_ptr(),
            bytes.as_ptr().cast(),
            bytes.len(),
            0,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
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

/// Lets the users the nodes of `cluster` run as (other than bop's own) write the run directory
/// `dir`, then checks that each can reach it. Returns warnings to print: bop goes on, as a node
/// may never use `BOP_RUN_DIR`.
pub fn open_to_node_users(dir: &Path, cluster: &Cluster) -> Vec<String> {
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    let users = node_users(cluster, me);
    if users.is_empty() {
        return Vec::new();
    }
    let mut warnings = Vec::new();
    let uids: Vec<u32> = users.iter().map(|u| u.uid).collect();
    if let Err(e) = set_acl(dir, &uids) {
        let chowned = match users.as_slice() {
            // no ACLs here: one user can have the directory itself
            [one] if e.raw_os_error() == Some(libc::EOPNOTSUPP) => {
                std::os::unix::fs::chown(dir, Some(one.uid), None).is_ok()
            }
            _ => false,
        };
        if !chowned {
            let who: Vec<String> = users.iter().map(NodeUser::who).collect();
            warnings.push(format!(
                "{}, but bop cannot let them write the run directory {} (BOP_RUN_DIR): adding \
                 an ACL entry failed: {e}; put the trace on a file system with ACLs (--trace), \
                 or run those nodes as one user",
                who.join("; "),
                dir.display()
            ));
            return warnings;
        }
    }
    for u in &users {
        match blocked_at(dir, u.uid, u.gid) {
            Ok(Some(at)) if at != dir => warnings.push(format!(
                "{}, who cannot reach the run directory {} (BOP_RUN_DIR): {} is closed to {} \
                 ({}); if the node writes there, give a trace path under a directory open to \
                 {}, e.g. --trace /tmp/run/trace.jsonl",
                u.who(),
                dir.display(),
                at.display(),
                u.name,
                describe_dir(&at),
                u.name
            )),
            Ok(Some(_)) => warnings.push(format!(
                "{}, who cannot write the run directory {} (BOP_RUN_DIR) although bop gave it \
                 an ACL entry ({})",
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
}
