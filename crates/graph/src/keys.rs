//! How events on the two ends of a stream, connection or datagram find each other.

use bop_syscalls::SockAddr;
use bop_trace::Event;

/// One end of a stream: an address (TCP, named Unix sockets) or a socket or pipe inode.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum End {
    /// By address (TCP): the same on both sides' views.
    Addr(SockAddr),
    /// A connection by its connecting end's address and its destination.
    Conn(SockAddr, SockAddr),
    /// By inode (Unix sockets, pipes).
    Ino(u64),
}

/// One direction of a stream: bytes flow from the first end to the second.
pub type StreamKey = (End, End);

fn pipe_of(e: &Event) -> Option<(u64, bool)> {
    let t = e.target.as_deref()?.strip_prefix("pipe:[")?;
    let (ino, rest) = t.split_once(']')?;
    Some((ino.parse().ok()?, rest == "w"))
}

fn is_stream(e: &Event) -> bool {
    e.sock
        .as_ref()
        .is_some_and(|s| s.ty == "stream" || s.ty == "seqpacket")
}

/// Whether the event is on a datagram socket.
pub fn is_dgram(e: &Event) -> bool {
    e.sock.as_ref().is_some_and(|s| s.ty == "dgram")
}

/// The stream direction a send (or a close, which ends it) on this event's fd writes into.
pub fn send_key(e: &Event) -> Option<StreamKey> {
    if let Some((ino, write)) = pipe_of(e) {
        return write.then_some((End::Ino(ino), End::Ino(ino)));
    }
    if !is_stream(e) {
        return None;
    }
    let s = e.sock.as_ref()?;
    if s.family == "unix" {
        // a Unix stream socket has one peer: the sending socket names the direction (its
        // peer's inode is unknown until the server accepts)
        return Some((End::Ino(s.id), End::Ino(0)));
    }
    Some((End::Addr(s.local.clone()?), End::Addr(s.peer.clone()?)))
}

/// The stream direction a receive on this event's fd reads from.
pub fn recv_key(e: &Event) -> Option<StreamKey> {
    if let Some((ino, write)) = pipe_of(e) {
        return (!write).then_some((End::Ino(ino), End::Ino(ino)));
    }
    if !is_stream(e) {
        return None;
    }
    let s = e.sock.as_ref()?;
    if s.family == "unix" {
        return Some((End::Ino(s.peer_id?), End::Ino(0)));
    }
    Some((End::Addr(s.peer.clone()?), End::Addr(s.local.clone()?)))
}

/// The connection a successful (or in-progress) connect made: the connecting socket.
pub fn conn_key_connect(e: &Event) -> Option<End> {
    let s = e.sock.as_ref()?;
    if s.family == "unix" {
        return Some(End::Ino(s.id));
    }
    Some(End::Conn(s.local.clone()?, s.peer.clone()?))
}

/// The connection an accept returned, named as its connect names it.
pub fn conn_key_accept(e: &Event) -> Option<End> {
    let s = e.sock.as_ref()?;
    if s.family == "unix" {
        return Some(End::Ino(s.peer_id?));
    }
    Some(End::Conn(s.peer.clone()?, s.local.clone()?))
}

/// Whether a connect (possibly only begun, so without its local address) goes to the listener
/// an accepted socket with local address `local` came from.
pub fn same_listener(connect: &Event, local: Option<&SockAddr>) -> bool {
    let dest = connect
        .addr
        .as_ref()
        .or_else(|| connect.sock.as_ref().and_then(|s| s.peer.as_ref()));
    match (dest, local) {
        (Some(SockAddr::Inet(d)), Some(SockAddr::Inet(l))) => d.port() == l.port(),
        (Some(d), Some(l)) => d == l,
        // unknown: it may be
        _ => true,
    }
}

/// A datagram's key: its destination (port or path) and its length. `sending` says whether `e`
/// sends (destination: its address argument or the socket's peer) or receives (its own address).
pub fn dgram_key(e: &Event, sending: bool) -> Option<(String, u64)> {
    let s = e.sock.as_ref()?;
    let dest = if sending {
        e.addr.as_ref().or(s.peer.as_ref())?
    } else {
        s.local.as_ref()?
    };
    let dest = match dest {
        // a receiver bound to 0.0.0.0 gets datagrams sent to 127.0.0.1: key by port
        SockAddr::Inet(a) => format!("port:{}", a.port()),
        other => other.to_string(),
    };
    Some((dest, e.bytes?))
}
