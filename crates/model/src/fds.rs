//! Fd tables and the objects fds refer to.

use rustc_hash::FxHashMap as HashMap;

use bop_syscalls::SockAddr;

/// A socket's address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// AF_INET
    Inet,
    /// AF_INET6
    Inet6,
    /// AF_UNIX
    Unix,
    /// Anything else (netlink, packet …), by number.
    Other(i32),
}

impl Family {
    /// From an `AF_*` number.
    pub fn from_raw(af: i32) -> Family {
        match af {
            libc::AF_INET => Family::Inet,
            libc::AF_INET6 => Family::Inet6,
            libc::AF_UNIX => Family::Unix,
            n => Family::Other(n),
        }
    }

    /// The name used in traces.
    pub fn as_str(&self) -> &'static str {
        match self {
            Family::Inet => "inet",
            Family::Inet6 => "inet6",
            Family::Unix => "unix",
            Family::Other(_) => "other",
        }
    }
}

/// A socket's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SockType {
    /// SOCK_STREAM
    Stream,
    /// SOCK_DGRAM
    Dgram,
    /// SOCK_SEQPACKET
    Seqpacket,
    /// Anything else (raw …).
    Other(i32),
}

impl SockType {
    /// From a `SOCK_*` number (flags such as SOCK_CLOEXEC are ignored).
    pub fn from_raw(ty: i32) -> SockType {
        match ty & 0xf {
            libc::SOCK_STREAM => SockType::Stream,
            libc::SOCK_DGRAM => SockType::Dgram,
            libc::SOCK_SEQPACKET => SockType::Seqpacket,
            n => SockType::Other(n),
        }
    }

    /// The name used in traces.
    pub fn as_str(&self) -> &'static str {
        match self {
            SockType::Stream => "stream",
            SockType::Dgram => "dgram",
            SockType::Seqpacket => "seqpacket",
            SockType::Other(_) => "other",
        }
    }
}

/// A socket as the model knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Socket {
    /// Its inode number (the same in every process holding it).
    pub id: u64,
    /// Address family.
    pub family: Family,
    /// Socket type.
    pub ty: SockType,
    /// Local address, once bound (explicitly or by connect/send).
    pub local: Option<SockAddr>,
    /// Peer address, once connected.
    pub peer: Option<SockAddr>,
    /// The peer socket's inode, for connected Unix-domain sockets (whose addresses are often
    /// unnamed); `None` for other families, or when unknown.
    pub peer_id: Option<u64>,
    /// Whether `listen` succeeded on it.
    pub listening: bool,
}

/// What an fd refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Object {
    /// A socket, by inode.
    Socket(u64),
    /// One end of a pipe (or FIFO), by inode.
    Pipe {
        /// The pipe's inode.
        id: u64,
        /// Whether this is the write end.
        write: bool,
    },
    /// A pipe bop made for a node's stdout/stderr: the node's log, not communication.
    Log,
    /// Anything else (a file, a tty, an eventfd …): not communication.
    Other,
}

impl Object {
    /// Whether calls on it are communication bop records.
    pub fn is_comm(&self) -> bool {
        matches!(self, Object::Socket(_) | Object::Pipe { .. })
    }
}

/// One fd-table slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Slot {
    pub object: Object,
    /// close-on-exec, when bop saw the fd made (`None`: learned by probing; dropped at exec)
    pub cloexec: Option<bool>,
}

/// A file-descriptor table, possibly shared by several tasks.
#[derive(Debug, Clone, Default)]
pub(crate) struct FdTable {
    pub slots: HashMap<i32, Slot>,
    /// processes using this table
    pub users: usize,
}
