//! The model proper: processes, nodes, fd tables, and the effect of each call on them.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use bop_syscalls::{Call, SockAddr, Syscall};

use crate::fds::{Family, FdTable, Object, Slot, SockType, Socket};

/// `MSG_CMSG_CLOEXEC`: received fds are close-on-exec.
const MSG_CMSG_CLOEXEC: i32 = 0x4000_0000;
/// `CLOSE_RANGE_UNSHARE`, `CLOSE_RANGE_CLOEXEC`.
const CLOSE_RANGE_UNSHARE: u32 = 2;
const CLOSE_RANGE_CLOEXEC: u32 = 4;

/// Learns what an fd of a process refers to, from outside the process.
pub trait Probe {
    /// What `fd` of process `pid` is now: a socket (with its current addresses), a pipe end,
    /// or something else. `None` when the fd is not open. Implementations must never run code
    /// in the tracee.
    fn probe(&mut self, pid: i32, fd: i32) -> Option<Probed>;
}

/// The answer of a [`Probe`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probed {
    /// A socket, with what `getsockname`/`getpeername` say now.
    Socket(Socket),
    /// A pipe end.
    Pipe {
        /// The pipe's inode.
        id: u64,
        /// Whether it is the write end.
        write: bool,
    },
    /// Anything else.
    Other,
}

/// What a new task is (mirrors the backend's notion without depending on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskKind {
    /// A thread of the same process.
    Thread,
    /// A new process; `shares_files` when created with `CLONE_FILES`.
    Process {
        /// Shares its parent's fd table.
        shares_files: bool,
    },
}

#[derive(Debug, Clone)]
struct Proc {
    node: usize,
    table: u64,
}

/// What a call did, as far as the trace needs to know.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// The object behind the call's fd (after the call), when it has one. For accept, the new
    /// connection.
    pub object: Option<Object>,
    /// The socket, when `object` is one.
    pub socket: Option<Socket>,
    /// The fd `object` is behind (for accept, the new fd; for splice, the end that is
    /// communication).
    pub fd: Option<i32>,
    /// Whether the call is communication (or process coordination) worth recording.
    pub record: bool,
}

/// The model of the traced system.
#[derive(Debug, Default)]
pub struct Model {
    threads: HashMap<i32, i32>,
    procs: HashMap<i32, Proc>,
    tables: HashMap<u64, FdTable>,
    next_table: u64,
    sockets: HashMap<u64, Socket>,
    log_pipes: HashSet<u64>,
    /// the node of the first process seen holding each socket
    owner: HashMap<u64, usize>,
    /// the node owning each local address seen
    addr_owner: HashMap<String, usize>,
    /// the sockets a traced `connect` was made on (the end that opened its connection)
    connected: HashSet<u64>,
}

impl Model {
    /// An empty model.
    pub fn new() -> Model {
        Model::default()
    }

    /// Declares a pipe inode as a node's stdout/stderr (made by bop): calls on it are the
    /// node's logging, not communication.
    pub fn mark_log_pipe(&mut self, id: u64) {
        self.log_pipes.insert(id);
    }

    /// A process bop started for node `node` (its fd table is learned lazily).
    pub fn add_process(&mut self, pid: i32, node: usize) {
        let table = self.new_table(FdTable::default());
        self.threads.insert(pid, pid);
        self.procs.insert(pid, Proc { node, table });
    }

    fn new_table(&mut self, mut t: FdTable) -> u64 {
        self.next_table += 1;
        t.users = 1;
        self.tables.insert(self.next_table, t);
        self.next_table
    }

    /// The process (thread group) of a thread.
    pub fn tgid(&self, tid: i32) -> Option<i32> {
        self.threads.get(&tid).copied()
    }

    /// The node a thread belongs to.
    pub fn node_of(&self, tid: i32) -> Option<usize> {
        self.procs.get(self.threads.get(&tid)?).map(|p| p.node)
    }

    /// The socket with this id, if known.
    pub fn socket(&self, id: u64) -> Option<&Socket> {
        self.sockets.get(&id)
    }

    /// Every socket known, listening or not.
    pub fn sockets(&self) -> impl Iterator<Item = &Socket> {
        self.sockets.values()
    }

    /// Whether socket `id` is the end of its connection that a traced `connect` opened.
    pub fn opened_by_connect(&self, id: u64) -> bool {
        self.connected.contains(&id)
    }

    /// The node that holds socket `id` (the first process seen with it).
    pub fn socket_node(&self, id: u64) -> Option<usize> {
        self.owner.get(&id).copied()
    }

    /// The node whose socket is bound to `addr` (or to the wildcard address of its port).
    pub fn addr_node(&self, addr: &bop_syscalls::SockAddr) -> Option<usize> {
        if is_unnamed(addr) {
            return None;
        }
        if let Some(&n) = self.addr_owner.get(&addr.to_string()) {
            return Some(n);
        }
        if let bop_syscalls::SockAddr::Inet(a) = addr {
            let p = a.port();
            for wild in [format!("0.0.0.0:{p}"), format!("[::]:{p}")] {
                if let Some(&n) = self.addr_owner.get(&wild) {
                    return Some(n);
                }
            }
        }
        None
    }

    /// Re-reads the addresses of the traced TCP sockets not known to be connected yet (a
    /// connect under way): an accept can return before its client's connect does, and until
    /// the client's socket is read again its ephemeral address names no one. Called when an
    /// accepted connection's peer is unknown; cheap, as few sockets are ever in that state.
    pub fn learn_connecting(&mut self, probe: &mut dyn Probe) {
        let ids: Vec<u64> = self
            .sockets
            .values()
            .filter(|s| {
                s.ty == SockType::Stream
                    && matches!(s.family, Family::Inet | Family::Inet6)
                    && s.peer.is_none()
                    && !s.listening
            })
            .map(|s| s.id)
            .collect();
        for id in ids {
            if let Some(&(pid, fd)) = self.holders(id).first() {
                self.learn(pid, fd, probe);
            }
        }
    }

    /// Where socket `id` is open: (process, fd) pairs.
    pub fn holders(&self, id: u64) -> Vec<(i32, i32)> {
        let mut out = Vec::new();
        for (&pid, p) in &self.procs {
            if let Some(t) = self.tables.get(&p.table) {
                for (&fd, slot) in &t.slots {
                    if slot.object == Object::Socket(id) {
                        out.push((pid, fd));
                    }
                }
            }
        }
        out
    }

    /// The node at the other end of a socket, when it is a traced node.
    pub fn peer_node(&self, s: &Socket) -> Option<usize> {
        if let Some(pid) = s.peer_id {
            if let Some(n) = self.socket_node(pid) {
                return Some(n);
            }
        }
        self.addr_node(s.peer.as_ref()?)
    }

    /// `parent` created `child`.
    pub fn new_task(&mut self, parent: i32, child: i32, kind: TaskKind) {
        let Some(&ptgid) = self.threads.get(&parent) else {
            return;
        };
        let Some(pproc) = self.procs.get(&ptgid).cloned() else {
            return;
        };
        match kind {
            TaskKind::Thread => {
                self.threads.insert(child, ptgid);
            }
            TaskKind::Process { shares_files } => {
                let table = if shares_files {
                    if let Some(t) = self.tables.get_mut(&pproc.table) {
                        t.users += 1;
                    }
                    pproc.table
                } else {
                    let copy = self.tables.get(&pproc.table).cloned().unwrap_or_default();
                    self.new_table(copy)
                };
                self.threads.insert(child, child);
                self.procs.insert(
                    child,
                    Proc {
                        node: pproc.node,
                        table,
                    },
                );
            }
        }
    }

    /// Thread `tid` exec'd (and is now its process's leader; `former` was its tid). Other
    /// threads are gone; the fd table is unshared and close-on-exec fds are closed.
    pub fn exec(&mut self, tid: i32, former: i32) {
        let Some(tgid) = self
            .threads
            .get(&tid)
            .or_else(|| self.threads.get(&former))
            .copied()
        else {
            // not part of the system: do not start tracking half of it
            return;
        };
        self.threads.retain(|_, g| *g != tgid);
        self.threads.insert(tid, tid);
        let Some(proc_) = self.procs.remove(&tgid) else {
            return;
        };
        let old = self.tables.get(&proc_.table).cloned().unwrap_or_default();
        self.release_table(proc_.table);
        let mut table = old;
        // fds whose close-on-exec flag bop never saw set are dropped too: they are probed again
        table.slots.retain(|_, s| s.cloexec == Some(false));
        let table = self.new_table(table);
        self.procs.insert(
            tid,
            Proc {
                node: proc_.node,
                table,
            },
        );
    }

    fn release_table(&mut self, id: u64) {
        if let Some(t) = self.tables.get_mut(&id) {
            t.users -= 1;
            if t.users == 0 {
                self.tables.remove(&id);
            }
        }
    }

    /// The sockets the kernel will close when process `pid` ends: those only it holds.
    pub fn closed_by_exit_of(&self, pid: i32) -> Vec<Socket> {
        let Some(p) = self.procs.get(&pid) else {
            return Vec::new();
        };
        let Some(t) = self.tables.get(&p.table) else {
            return Vec::new();
        };
        let mut ids: Vec<u64> = t
            .slots
            .values()
            .filter_map(|s| match s.object {
                Object::Socket(id) => Some(id),
                _ => None,
            })
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids.into_iter()
            .filter(|id| {
                self.holders(*id).iter().all(|(holder, _)| {
                    // held only through this process's table (or one it shares)
                    self.procs.get(holder).map(|h| h.table) == Some(p.table)
                })
            })
            .filter_map(|id| self.sockets.get(&id).cloned())
            .collect()
    }

    /// Whether `tid` is the last thread of its process the model knows.
    pub fn is_last_thread(&self, tid: i32) -> bool {
        let Some(&tgid) = self.threads.get(&tid) else {
            return false;
        };
        !self.threads.iter().any(|(&t, &g)| g == tgid && t != tid)
    }

    /// Thread `tid` is gone; when it was its process's last, so is the process. Returns the
    /// sockets whose last reference went away with it (the kernel closes them: their peers
    /// see EOF or a reset).
    pub fn exit(&mut self, tid: i32) -> Vec<Socket> {
        let Some(tgid) = self.threads.remove(&tid) else {
            return Vec::new();
        };
        if self.threads.values().any(|&g| g == tgid) {
            return Vec::new();
        }
        let Some(p) = self.procs.remove(&tgid) else {
            return Vec::new();
        };
        let held: Vec<u64> = self
            .tables
            .get(&p.table)
            .map(|t| {
                t.slots
                    .values()
                    .filter_map(|s| match s.object {
                        Object::Socket(id) => Some(id),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        self.release_table(p.table);
        let mut closed: Vec<Socket> = held
            .into_iter()
            .filter(|id| self.holders(*id).is_empty())
            .filter_map(|id| self.sockets.get(&id).cloned())
            .collect();
        closed.sort_by_key(|s| s.id);
        closed.dedup_by_key(|s| s.id);
        closed
    }

    fn table_mut(&mut self, tid: i32) -> Option<(i32, &mut FdTable)> {
        let tgid = *self.threads.get(&tid)?;
        let id = self.procs.get(&tgid)?.table;
        Some((tgid, self.tables.get_mut(&id)?))
    }

    /// The object behind `fd` of `tid`'s process, probing it if the model does not know.
    pub fn object(&mut self, tid: i32, fd: i32, probe: &mut dyn Probe) -> Option<Object> {
        let (pid, table) = self.table_mut(tid)?;
        if let Some(s) = table.slots.get(&fd) {
            return Some(s.object.clone());
        }
        let object = self.learn(pid, fd, probe)?;
        let (_, table) = self.table_mut(tid)?;
        table.slots.insert(
            fd,
            Slot {
                object: object.clone(),
                cloexec: None,
            },
        );
        Some(object)
    }

    /// Probes `fd` and records what it is (a socket's addresses are refreshed).
    fn learn(&mut self, pid: i32, fd: i32, probe: &mut dyn Probe) -> Option<Object> {
        let node = self.procs.get(&pid).map(|p| p.node);
        Some(match probe.probe(pid, fd)? {
            Probed::Socket(s) => {
                let id = s.id;
                if let Some(n) = node {
                    self.owner.entry(id).or_insert(n);
                    // an unnamed Unix address names no one
                    if let Some(l) = s.local.as_ref().filter(|l| !is_unnamed(l)) {
                        self.addr_owner.insert(l.to_string(), n);
                    }
                }
                // the probe may know it listens (bop did not see its listen), or not say
                let listening = s.listening || self.sockets.get(&id).is_some_and(|o| o.listening);
                self.sockets.insert(id, Socket { listening, ..s });
                Object::Socket(id)
            }
            Probed::Pipe { id, .. } if self.log_pipes.contains(&id) => Object::Log,
            Probed::Pipe { id, write } => Object::Pipe { id, write },
            Probed::Other => Object::Other,
        })
    }

    /// Probes a new fd and puts it in the table.
    fn install(
        &mut self,
        tid: i32,
        fd: i32,
        cloexec: bool,
        probe: &mut dyn Probe,
    ) -> Option<Object> {
        let pid = self.tgid(tid)?;
        let object = self.learn(pid, fd, probe).unwrap_or(Object::Other);
        let (_, table) = self.table_mut(tid)?;
        table.slots.insert(
            fd,
            Slot {
                object: object.clone(),
                cloexec: Some(cloexec),
            },
        );
        Some(object)
    }

    /// Re-reads a known socket's addresses (after bind, connect, accept …).
    fn refresh(&mut self, tid: i32, fd: i32, probe: &mut dyn Probe) -> Option<Object> {
        let pid = self.tgid(tid)?;
        let cloexec = self
            .table_mut(tid)
            .and_then(|(_, t)| t.slots.get(&fd).and_then(|s| s.cloexec));
        let object = self.learn(pid, fd, probe)?;
        let (_, table) = self.table_mut(tid)?;
        table.slots.insert(
            fd,
            Slot {
                object: object.clone(),
                cloexec,
            },
        );
        Some(object)
    }

    fn applied(&self, object: Option<Object>) -> Applied {
        let socket = match &object {
            Some(Object::Socket(id)) => self.sockets.get(id).cloned(),
            _ => None,
        };
        let record = object.as_ref().is_some_and(Object::is_comm);
        Applied {
            object,
            socket,
            record,
            fd: None,
        }
    }

    /// Every thread of the process `tid` (or the thread that exec'd as it) belongs to.
    pub fn threads_of(&self, tid: i32) -> Vec<i32> {
        let Some(&tgid) = self.threads.get(&tid) else {
            return Vec::new();
        };
        self.threads
            .iter()
            .filter(|(_, &g)| g == tgid)
            .map(|(&t, _)| t)
            .collect()
    }

    /// For a splice from a socket or pipe into another (what [`Model::apply`] records as the
    /// send into `fd_out`): its input, to be recorded as a receive from `fd_in`.
    pub fn splice_input(
        &mut self,
        tid: i32,
        sc: &Syscall,
        probe: &mut dyn Probe,
    ) -> Option<Applied> {
        let Call::Splice { fd_in, fd_out, .. } = &sc.call else {
            return None;
        };
        let output = self.object(tid, *fd_out, probe)?;
        let input = self.object(tid, *fd_in, probe)?;
        (output.is_comm() && input.is_comm()).then(|| self.applied_fd(Some(input), *fd_in))
    }

    fn on_fd(&mut self, tid: i32, fd: i32, probe: &mut dyn Probe) -> Applied {
        let o = self.object(tid, fd, probe);
        self.applied_fd(o, fd)
    }

    fn applied_fd(&self, object: Option<Object>, fd: i32) -> Applied {
        Applied {
            fd: Some(fd),
            ..self.applied(object)
        }
    }

    fn remove(&mut self, tid: i32, fd: i32) -> Option<Object> {
        let (_, table) = self.table_mut(tid)?;
        table.slots.remove(&fd).map(|s| s.object)
    }

    /// What a call at its entry works on, without changing anything: the object behind its fd
    /// (probed if unknown). For accept, the listening socket.
    pub fn lookup(&mut self, tid: i32, sc: &Syscall, probe: &mut dyn Probe) -> Applied {
        let fd = match &sc.call {
            Call::Accept { fd, .. } => Some(*fd),
            Call::Socket { .. } | Call::Socketpair { .. } | Call::Pipe { .. } => None,
            _ => primary_fd(&Syscall {
                ret: None,
                ..sc.clone()
            }),
        };
        match fd {
            Some(fd) => self.on_fd(tid, fd, probe),
            None => Applied::default(),
        }
    }

    /// Applies one call by thread `tid`. At an entry stop (`sc.ret == None`) only calls whose
    /// effect does not depend on the result (close) change the model; others just say what
    /// their fd is.
    pub fn apply(&mut self, tid: i32, sc: &Syscall, probe: &mut dyn Probe) -> Applied {
        let mut a = self.apply_call(tid, sc, probe);
        if a.fd.is_none() {
            a.fd = primary_fd(sc);
        }
        a
    }

    fn apply_call(&mut self, tid: i32, sc: &Syscall, probe: &mut dyn Probe) -> Applied {
        let ok = sc.result().and_then(|r| r.ok());
        let err = sc.result().and_then(|r| r.err());
        match &sc.call {
            Call::Socket { ty, .. } => {
                let object = ok.and_then(|fd| {
                    self.install(tid, fd as i32, ty & libc::SOCK_CLOEXEC != 0, probe)
                });
                let mut a = self.applied(object);
                a.record = true;
                a
            }
            Call::Socketpair { ty, fds, .. } | Call::Pipe { flags: ty, fds } => {
                let cloexec = ty & libc::O_CLOEXEC != 0;
                let mut first = None;
                if ok.is_some() {
                    for fd in fds.iter().flatten() {
                        let o = self.install(tid, *fd, cloexec, probe);
                        first = first.or(o);
                    }
                }
                let mut a = self.applied(first);
                a.record = true;
                a
            }
            Call::Bind { fd, .. } => {
                let o = if ok.is_some() {
                    self.refresh(tid, *fd, probe)
                } else {
                    self.object(tid, *fd, probe)
                };
                self.applied(o)
            }
            Call::Listen { fd, .. } => {
                let o = self.object(tid, *fd, probe);
                if ok.is_some() {
                    if let Some(Object::Socket(id)) = &o {
                        if let Some(s) = self.sockets.get_mut(id) {
                            s.listening = true;
                        }
                    }
                }
                self.applied(o)
            }
            Call::Connect { fd, addr } => {
                // connected, or a non-blocking connect under way
                let opened = ok.is_some() || err == Some(libc::EINPROGRESS);
                let o = if opened {
                    self.refresh(tid, *fd, probe)
                } else {
                    self.object(tid, *fd, probe)
                };
                // the argument is the peer when the kernel does not say (yet), except for
                // connect(AF_UNSPEC), which dissolves a datagram socket's association
                let target = addr
                    .clone()
                    .filter(|a| *a != SockAddr::Other(libc::AF_UNSPEC as u16));
                if let Some(Object::Socket(id)) = &o {
                    if let Some(s) = self.sockets.get_mut(id) {
                        if opened && s.peer.is_none() {
                            s.peer = target;
                        }
                    }
                    if opened {
                        self.connected.insert(*id);
                    }
                }
                self.applied(o)
            }
            Call::Accept { fd, flags, .. } => match ok {
                Some(newfd) => {
                    let o = self.install(tid, newfd as i32, flags & libc::SOCK_CLOEXEC != 0, probe);
                    self.applied(o)
                }
                None => self.on_fd(tid, *fd, probe),
            },
            Call::Getsockopt {
                fd,
                level,
                optname,
                value,
            } => {
                let connected =
                    *level == libc::SOL_SOCKET && *optname == libc::SO_ERROR && *value == Some(0);
                let o = if connected {
                    self.refresh(tid, *fd, probe)
                } else {
                    self.object(tid, *fd, probe)
                };
                let mut a = self.applied(o);
                // only SO_ERROR matters (it completes a non-blocking connect)
                a.record &= *level == libc::SOL_SOCKET && *optname == libc::SO_ERROR;
                a
            }
            Call::Shutdown { fd, .. } => self.on_fd(tid, *fd, probe),
            Call::Send { fd, .. } => {
                let mut o = self.object(tid, *fd, probe);
                // an unbound datagram socket gets its address at its first send
                if ok.is_some() && self.unbound(&o) {
                    o = self.refresh(tid, *fd, probe).or(o);
                }
                self.applied(o)
            }
            Call::SendMmsg { fd, .. } => {
                let mut o = self.object(tid, *fd, probe);
                if ok.is_some() && self.unbound(&o) {
                    o = self.refresh(tid, *fd, probe).or(o);
                }
                self.applied(o)
            }
            Call::Recv { fd, flags, msg, .. } => {
                let mut o = self.object(tid, *fd, probe);
                // a Unix stream peer's inode exists only once the server accepted: learn it
                // when the first bytes arrive
                if ok.is_some() && self.peer_unknown(&o) {
                    o = self.refresh(tid, *fd, probe).or(o);
                }
                if ok.is_some() {
                    for newfd in &msg.fds {
                        self.install(tid, *newfd, flags & MSG_CMSG_CLOEXEC != 0, probe);
                    }
                }
                self.applied(o)
            }
            Call::RecvMmsg { fd, flags, msgs } => {
                let o = self.object(tid, *fd, probe);
                if ok.is_some() {
                    for newfd in msgs.iter().flat_map(|m| m.fds.iter()) {
                        self.install(tid, *newfd, flags & MSG_CMSG_CLOEXEC != 0, probe);
                    }
                }
                self.applied(o)
            }
            Call::Sendfile { out_fd, .. } => self.on_fd(tid, *out_fd, probe),
            Call::Splice { fd_in, fd_out, .. } => {
                let out = self.object(tid, *fd_out, probe);
                if out.as_ref().is_some_and(Object::is_comm) {
                    self.applied_fd(out, *fd_out)
                } else {
                    self.on_fd(tid, *fd_in, probe)
                }
            }
            Call::Close { fd } => {
                // close releases the fd whatever it returns (even EINTR, on Linux)
                let o = self.remove(tid, *fd);
                self.applied(o)
            }
            Call::CloseRange { first, last, flags } => {
                if sc.ret.is_some() && ok.is_none() {
                    return Applied::default();
                }
                if flags & CLOSE_RANGE_UNSHARE != 0 {
                    self.unshare(tid);
                }
                let mut a = Applied::default();
                if let Some((_, table)) = self.table_mut(tid) {
                    let (first, last) = (*first as i64, *last as i64);
                    let in_range = |fd: &i32| (first..=last).contains(&(*fd as i64));
                    if flags & CLOSE_RANGE_CLOEXEC != 0 {
                        for (_, s) in table.slots.iter_mut().filter(|(fd, _)| in_range(fd)) {
                            s.cloexec = Some(true);
                        }
                    } else {
                        let before = table.slots.len();
                        let comm = table
                            .slots
                            .iter()
                            .any(|(fd, s)| in_range(fd) && s.object.is_comm());
                        table.slots.retain(|fd, _| !in_range(fd));
                        a.record = comm && before != table.slots.len();
                    }
                }
                a
            }
            Call::Dup { oldfd, cloexec, .. } => {
                let Some(newfd) = ok else {
                    return self.on_fd(tid, *oldfd, probe);
                };
                let newfd = newfd as i32;
                if newfd == *oldfd {
                    // dup2(fd, fd) does nothing (not even clear close-on-exec)
                    return self.on_fd(tid, *oldfd, probe);
                }
                let old = self
                    .table_mut(tid)
                    .and_then(|(_, t)| t.slots.get(oldfd).cloned());
                let replaced = self.remove(tid, newfd);
                let object = match old {
                    Some(slot) => Some(slot.object),
                    None => self.object(tid, *oldfd, probe),
                };
                if let (Some(obj), Some((_, table))) = (object.clone(), self.table_mut(tid)) {
                    table.slots.insert(
                        newfd,
                        Slot {
                            object: obj,
                            cloexec: Some(*cloexec),
                        },
                    );
                }
                let mut a = self.applied(object);
                a.record |= replaced.is_some_and(|o| o.is_comm());
                a
            }
            Call::Fcntl { fd, cmd, arg } => {
                if *cmd == libc::F_SETFD && ok.is_some() {
                    if let Some((_, table)) = self.table_mut(tid) {
                        if let Some(s) = table.slots.get_mut(fd) {
                            s.cloexec = Some(arg & libc::FD_CLOEXEC as u64 != 0);
                        }
                    }
                }
                Applied::default()
            }
            Call::Wait { .. } | Call::Kill { .. } | Call::IoUringSetup { .. } => Applied {
                record: true,
                ..Applied::default()
            },
            Call::Other { .. } => Applied::default(),
        }
    }

    fn unbound(&self, o: &Option<Object>) -> bool {
        match o {
            Some(Object::Socket(id)) => self.sockets.get(id).is_some_and(|s| match &s.local {
                None => true,
                Some(SockAddr::Inet(a)) => a.port() == 0,
                Some(_) => false,
            }),
            _ => false,
        }
    }

    fn peer_unknown(&self, o: &Option<Object>) -> bool {
        match o {
            Some(Object::Socket(id)) => self.sockets.get(id).is_some_and(|s| {
                s.family == crate::Family::Unix
                    && s.ty != crate::SockType::Dgram
                    && s.peer.is_some()
                    && s.peer_id.is_none()
            }),
            _ => false,
        }
    }

    fn unshare(&mut self, tid: i32) {
        let Some(tgid) = self.tgid(tid) else { return };
        let Some(p) = self.procs.get(&tgid).cloned() else {
            return;
        };
        if self.tables.get(&p.table).is_some_and(|t| t.users > 1) {
            let copy = self.tables.get(&p.table).cloned().unwrap_or_default();
            self.release_table(p.table);
            let id = self.new_table(copy);
            if let Some(p) = self.procs.get_mut(&tgid) {
                p.table = id;
            }
        }
    }
}

/// The fd a call is about: the new fd for socket/accept, the first of a pair, else its argument.
fn primary_fd(sc: &Syscall) -> Option<i32> {
    let ok = sc.result().and_then(|r| r.ok()).map(|v| v as i32);
    match &sc.call {
        Call::Socket { .. } | Call::Accept { .. } => ok,
        Call::Socketpair { fds, .. } | Call::Pipe { fds, .. } => fds.map(|f| f[0]),
        Call::Bind { fd, .. }
        | Call::Listen { fd, .. }
        | Call::Connect { fd, .. }
        | Call::Getsockopt { fd, .. }
        | Call::Shutdown { fd, .. }
        | Call::Send { fd, .. }
        | Call::Recv { fd, .. }
        | Call::SendMmsg { fd, .. }
        | Call::RecvMmsg { fd, .. }
        | Call::Close { fd }
        | Call::Fcntl { fd, .. } => Some(*fd),
        Call::Dup { oldfd, .. } => Some(*oldfd),
        Call::Sendfile { out_fd, .. } => Some(*out_fd),
        Call::Splice { fd_in, .. } => Some(*fd_in),
        _ => None,
    }
}

fn is_unnamed(a: &bop_syscalls::SockAddr) -> bool {
    matches!(a, bop_syscalls::SockAddr::Unix(p) if p.is_empty())
}
