//! What every protocol shares: the participants and their ports, framing, one-shot messages, a
//! node's event loop with timers, and the client's requests and verdict.
//!
//! A frame is a 4-byte big-endian length and that many bytes of UTF-8 text, written in one
//! `write`: `FROM WORD WORD…`, the sender's name first. A protocol message travels on a
//! connection of its own: the sender connects to the receiver's port, writes one frame and
//! closes. A lost message (`drop A -> B #N`) therefore loses that one message and nothing else,
//! like a lost datagram, and a crashed receiver refuses the connection: both are a lost
//! message to the sender, which never learns of it. Only the client's requests are answered on
//! their own connection (one frame back).
//!
//! A malformed frame (too long, not UTF-8, cut short, not arriving in time) is a lost message:
//! it is logged and dropped, never a panic.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::process::exit;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::thread;
use std::time::{Duration, Instant};

/// The largest frame a peer may announce; a longer one is treated as lost.
pub const MAX_FRAME: usize = 4096;
/// How long a connect may take (a partitioned peer: bop fails it after 1 s).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Limit on reading a message's frame once its connection is accepted, and on every write.
const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a client waits for the answer to a request.
pub const ASK_TIMEOUT: Duration = Duration::from_secs(1);
/// A participant exits 0 by itself after this long: every wait is bounded, even a forgotten
/// daemon's.
const LIFETIME: Duration = Duration::from_secs(60);
/// The event loop's wait when no timer is set.
const IDLE: Duration = Duration::from_millis(500);

/// The participants of a protocol and their ports on 127.0.0.1, in the order given.
#[derive(Debug, Clone)]
pub struct Peers {
    list: Vec<(String, u16)>,
}

impl Peers {
    /// Parses `name=port,name=port,…`.
    pub fn parse(text: &str) -> Result<Peers, String> {
        let mut list: Vec<(String, u16)> = Vec::new();
        for item in text.split(',') {
            let (name, port) = item
                .split_once('=')
                .ok_or_else(|| format!("peer {item:?} is not name=port"))?;
            let valid = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
            if name.is_empty() || !name.chars().all(valid) {
                return Err(format!("invalid peer name {name:?}"));
            }
            let port = port
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("the port of {name} must be in 1..=65535, not {port:?}"))?;
            if list.iter().any(|(n, _)| n == name) {
                return Err(format!("peer {name} is listed twice"));
            }
            list.push((name.to_string(), port));
        }
        Ok(Peers { list })
    }

    /// The port of a participant.
    pub fn port(&self, name: &str) -> Option<u16> {
        self.list.iter().find(|(n, _)| n == name).map(|(_, p)| *p)
    }

    /// Every participant's name, in the order given.
    pub fn names(&self) -> Vec<String> {
        self.list.iter().map(|(n, _)| n.clone()).collect()
    }

    /// Every participant but `me`, in the order given.
    pub fn others(&self, me: &str) -> Vec<String> {
        self.list
            .iter()
            .filter(|(n, _)| n != me)
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// The first participant: the broadcaster, coordinator or leader by convention.
    pub fn first(&self) -> &str {
        self.list.first().map(|(n, _)| n.as_str()).unwrap_or("")
    }

    /// The position of `name` in the list, from 0.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.list.iter().position(|(n, _)| n == name)
    }

    /// How many participants there are.
    pub fn len(&self) -> usize {
        self.list.len()
    }
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port))
}

/// The bytes of one frame carrying `payload`.
fn frame(payload: &str) -> Vec<u8> {
    let bytes = payload.as_bytes();
    let mut out = Vec::with_capacity(4 + bytes.len());
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
    out
}

/// Reads one frame (a whole frame that arrived at once takes one `read`). `None` when the
/// message is lost: the connection ended or timed out first, or the frame is malformed.
fn read_frame(stream: &mut TcpStream) -> Option<String> {
    let mut got: Vec<u8> = Vec::new();
    let mut chunk = [0u8; MAX_FRAME + 4];
    loop {
        if got.len() >= 4 {
            let len = u32::from_be_bytes([got[0], got[1], got[2], got[3]]) as usize;
            if len > MAX_FRAME {
                return None;
            }
            if got.len() >= 4 + len {
                return String::from_utf8(got[4..4 + len].to_vec()).ok();
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) => return None,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
}

/// Connects to a participant's port, `tries` times at most, 50 ms apart.
fn dial(port: u16, tries: u32) -> Option<TcpStream> {
    for i in 0..tries {
        match TcpStream::connect_timeout(&addr(port), CONNECT_TIMEOUT) {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                let _ = s.set_write_timeout(Some(IO_TIMEOUT));
                return Some(s);
            }
            Err(_) if i + 1 < tries => thread::sleep(Duration::from_millis(50)),
            Err(_) => {}
        }
    }
    None
}

/// Sends one message on a connection of its own; false when it certainly did not leave (the
/// receiver refused the connection: it is down). Success does not mean it arrived.
fn send_once(port: u16, me: &str, text: &str) -> bool {
    match dial(port, 1) {
        Some(mut s) => s.write_all(&frame(&format!("{me} {text}"))).is_ok(),
        None => false,
    }
}

/// Milliseconds since `start`, for log lines.
fn ms(start: Instant) -> u128 {
    start.elapsed().as_millis()
}

/// A message a participant received.
#[derive(Debug)]
pub struct Incoming {
    /// The sender's name, as it wrote it.
    pub from: String,
    /// The message's words after the sender's name.
    pub words: Vec<String>,
    stream: TcpStream,
}

impl Incoming {
    /// The words as `&str`, to match on.
    pub fn args(&self) -> Vec<&str> {
        self.words.iter().map(String::as_str).collect()
    }

    /// The message's text, for log lines.
    pub fn text(&self) -> String {
        self.words.join(" ")
    }

    /// The message as `parse` reads its words, logged on `node`'s log as received; `None`,
    /// logged as ignored, when `parse` cannot read it (a malformed message is a lost one).
    pub fn read<M>(&self, node: &Node, parse: impl FnOnce(&[&str]) -> Option<M>) -> Option<M> {
        let Some(m) = parse(&self.args()) else {
            node.log(&format!(
                "ignoring a malformed message from {}: {:?}",
                self.from,
                self.text()
            ));
            return None;
        };
        node.log(&format!("<- {}: {}", self.from, self.text()));
        Some(m)
    }

    /// Answers on the message's own connection (the client's requests); an answer that cannot
    /// be written is lost.
    pub fn reply(&mut self, me: &str, text: &str) {
        let _ = self.stream.write_all(&frame(&format!("{me} {text}")));
    }
}

/// A participant: its name, the others, and the messages its listener received.
pub struct Node {
    /// This node's name.
    pub me: String,
    /// All participants, this one included.
    pub peers: Peers,
    tag: String,
    start: Instant,
    rx: Receiver<Incoming>,
}

impl Node {
    /// Listens on this node's port (a thread accepts, a thread per connection reads its one
    /// frame) and arms the lifetime limit.
    pub fn start(protocol: &str, me: &str, peers: Peers) -> Result<Node, String> {
        let port = peers
            .port(me)
            .ok_or_else(|| format!("{me} is not one of the peers {:?}", peers.names()))?;
        let listener =
            TcpListener::bind(addr(port)).map_err(|e| format!("cannot listen on {port}: {e}"))?;
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || accept_loop(listener, tx));
        thread::spawn(|| {
            thread::sleep(LIFETIME);
            exit(0)
        });
        let node = Node {
            me: me.to_string(),
            peers,
            tag: format!("{protocol} {me}"),
            start: Instant::now(),
            rx,
        };
        node.log(&format!("listening on 127.0.0.1:{port}"));
        Ok(node)
    }

    /// Sends one message to a participant (a connection of its own); false when the
    /// connection was refused.
    pub fn send(&self, to: &str, text: &str) -> bool {
        let sent = match self.peers.port(to) {
            Some(port) => send_once(port, &self.me, text),
            None => false,
        };
        if sent {
            self.log(&format!("-> {to}: {text}"));
        } else {
            self.log(&format!("-> {to}: {text} (not sent: {to} is unreachable)"));
        }
        sent
    }

    /// Sends one message to each of `to`, in order.
    pub fn send_all(&self, to: &[String], text: &str) {
        for peer in to {
            self.send(peer, text);
        }
    }

    /// The next message received before `until`, if any.
    fn recv_until(&self, until: Instant) -> Option<Incoming> {
        let now = Instant::now();
        if until <= now {
            return match self.rx.try_recv() {
                Ok(m) => Some(m),
                Err(TryRecvError::Empty) | Err(TryRecvError::Disconnected) => None,
            };
        }
        match self.rx.recv_timeout(until - now) {
            Ok(m) => Some(m),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => {
                thread::sleep(until - now);
                None
            }
        }
    }

    /// A log line on stdout: milliseconds since start, protocol, node.
    pub fn log(&self, text: &str) {
        println!("{:>5} ms {}: {text}", ms(self.start), self.tag);
    }
}

fn accept_loop(listener: TcpListener, tx: Sender<Incoming>) {
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                let tx = tx.clone();
                thread::spawn(move || {
                    if let Some(m) = receive(stream) {
                        let _ = tx.send(m);
                    }
                });
            }
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Reads the one frame of an accepted connection; `None` when it is lost or malformed.
fn receive(mut stream: TcpStream) -> Option<Incoming> {
    stream.set_read_timeout(Some(IO_TIMEOUT)).ok()?;
    stream.set_write_timeout(Some(IO_TIMEOUT)).ok()?;
    let text = read_frame(&mut stream)?;
    let mut words = text.split_whitespace().map(str::to_string);
    let from = words.next()?;
    Some(Incoming {
        from,
        words: words.collect(),
        stream,
    })
}

/// Timers of a participant's event loop: values that come due at an instant.
pub struct Timers<T> {
    list: Vec<(Instant, T)>,
}

impl<T> Timers<T> {
    fn new() -> Timers<T> {
        Timers { list: Vec::new() }
    }

    /// Sets a timer that comes due `after` from now.
    pub fn after(&mut self, after: Duration, timer: T) {
        self.list.push((Instant::now() + after, timer));
    }

    fn next(&self) -> Option<Instant> {
        self.list.iter().map(|(at, _)| *at).min()
    }

    /// Removes and returns the timers due at `now`, earliest first.
    fn due(&mut self, now: Instant) -> Vec<T> {
        let mut due: Vec<(Instant, T)> = Vec::new();
        let mut i = 0;
        while i < self.list.len() {
            if self.list[i].0 <= now {
                due.push(self.list.swap_remove(i));
            } else {
                i += 1;
            }
        }
        due.sort_by_key(|(at, _)| *at);
        due.into_iter().map(|(_, t)| t).collect()
    }
}

/// A participant's behaviour: what it does on a message and when a timer comes due.
pub trait Process {
    /// The timers this participant sets.
    type Timer;
    /// Handles one received message.
    fn on_message(&mut self, node: &Node, timers: &mut Timers<Self::Timer>, msg: Incoming);
    /// Handles a timer that came due.
    fn on_timer(&mut self, node: &Node, timers: &mut Timers<Self::Timer>, timer: Self::Timer);
}

/// Runs a participant until its lifetime ends (or bop stops it): one message or timer at a
/// time, so every send happens in a deterministic order.
pub fn serve<P: Process>(node: Node, mut process: P) -> Result<(), String> {
    let mut timers: Timers<P::Timer> = Timers::new();
    loop {
        for timer in timers.due(Instant::now()) {
            process.on_timer(&node, &mut timers, timer);
        }
        let until = timers.next().unwrap_or_else(|| Instant::now() + IDLE);
        if let Some(msg) = node.recv_until(until) {
            process.on_message(&node, &mut timers, msg);
        }
    }
}

/// The driving client, which is also the oracle.
pub struct Client {
    /// The participants.
    pub peers: Peers,
    me: String,
    protocol: String,
    start: Instant,
}

impl Client {
    /// A client named `me` of `protocol`.
    pub fn new(protocol: &str, me: &str, peers: Peers) -> Client {
        Client {
            peers,
            me: me.to_string(),
            protocol: protocol.to_string(),
            start: Instant::now(),
        }
    }

    /// Sends one message, not answered (3 connection attempts).
    pub fn tell(&self, to: &str, text: &str) -> bool {
        let sent = match self.peers.port(to) {
            Some(port) => match dial(port, 3) {
                Some(mut s) => s.write_all(&frame(&format!("{} {text}", self.me))).is_ok(),
                None => false,
            },
            None => false,
        };
        self.log(&format!(
            "-> {to}: {text}{}",
            if sent { "" } else { " (not sent)" }
        ));
        sent
    }

    /// Sends a request and waits up to `timeout` for its answer; `None` when `to` does not
    /// answer (down, cut off, too slow, or a malformed answer).
    pub fn ask(&self, to: &str, text: &str, timeout: Duration) -> Option<Vec<String>> {
        let answer = self.ask_inner(to, text, timeout);
        match &answer {
            Some(words) => self.log(&format!("{to} answers {text}: {}", words.join(" "))),
            None => self.log(&format!("{to} does not answer {text}")),
        }
        answer
    }

    fn ask_inner(&self, to: &str, text: &str, timeout: Duration) -> Option<Vec<String>> {
        let port = self.peers.port(to)?;
        let mut s = dial(port, 1)?;
        s.set_read_timeout(Some(timeout)).ok()?;
        s.write_all(&frame(&format!("{} {text}", self.me))).ok()?;
        let answer = read_frame(&mut s)?;
        let mut words = answer.split_whitespace().map(str::to_string);
        if words.next()? != to {
            return None;
        }
        Some(words.collect())
    }

    /// Asks every participant in `names` the same question; the answers of those that answer.
    pub fn ask_each(&self, names: &[String], text: &str) -> Vec<(String, Vec<String>)> {
        names
            .iter()
            .filter_map(|n| self.ask(n, text, ASK_TIMEOUT).map(|a| (n.clone(), a)))
            .collect()
    }

    /// The participants in `names` that gave no answer in `answers` (from [`Client::ask_each`]).
    pub fn silent(names: &[String], answers: &[(String, Vec<String>)]) -> Vec<String> {
        names
            .iter()
            .filter(|n| !answers.iter().any(|(a, _)| a == *n))
            .cloned()
            .collect()
    }

    /// Waits, logging why.
    pub fn wait(&self, d: Duration, why: &str) {
        self.log(&format!("waiting {} ms {why}", d.as_millis()));
        thread::sleep(d);
    }

    /// A log line on stdout.
    pub fn log(&self, text: &str) {
        println!(
            "{:>5} ms {} {}: {text}",
            ms(self.start),
            self.protocol,
            self.me
        );
    }

    /// The promise held: says so and exits 0.
    pub fn pass(&self, summary: &str) -> ! {
        println!("tb-proto {} client: ok: {summary}", self.protocol);
        exit(0)
    }

    /// The promise is broken: says how on stderr and exits 1.
    pub fn violation(&self, what: &str) -> ! {
        println!("tb-proto {} client: VIOLATION: {what}", self.protocol);
        eprintln!("tb-proto {} client: VIOLATION: {what}", self.protocol);
        exit(1)
    }
}

/// `a, b, c`, or `none`.
/// "; no answer from a, b" for the nodes that did not answer, nothing when all did.
pub fn no_answer(silent: &[String]) -> String {
    if silent.is_empty() {
        String::new()
    } else {
        format!("; no answer from {}", silent.join(", "))
    }
}

pub fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}
