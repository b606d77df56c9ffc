//! `tb-nats`: a minimal NATS client (publisher and subscriber) over TCP, for running a real
//! nats-server cluster under bop (see `systems/nats`).
//!
//! Usage:
//!
//! ```text
//! tb-nats sub PORT SUBJECT COUNT [--timeout-ms T] [--ready-file F]
//! tb-nats pub PORT SUBJECT COUNT [--timeout-ms T] [--wait-file F]
//! ```
//!
//! Both connect to a NATS server on 127.0.0.1:PORT (retrying a refused connection up to 50
//! times, 100 ms apart; with `TCP_NODELAY`, each protocol message in one write) and speak the
//! text protocol: they read the server's `INFO`, send
//! `CONNECT {"verbose":false,"pedantic":false,…}`, and check the connection with `PING`/`PONG`.
//! A server `PING` is answered with `PONG`, asynchronous `INFO` and `+OK` are ignored, `-ERR` is
//! an error.
//!
//! * `sub` subscribes to SUBJECT (`SUB SUBJECT 1`), waits for the `PONG` that shows the server
//!   has the subscription, prints `ready` (and creates the file F, so a publisher can wait for
//!   it), then receives messages until it has COUNT: they must be `msg 1` … `msg COUNT`, in
//!   order. A message `probe K` that carries a reply subject is a publisher checking that the
//!   subscription has reached its server: `sub` answers it on the reply subject with `ack K`.
//! * `pub` waits (at most 10 s) until the file F exists, subscribes to its own reply subject
//!   `_INBOX.tb-nats.PID`, then publishes `probe K` to SUBJECT with that reply subject, for
//!   K = 1, 2, … (at most 100, 250 ms apart) until the first `ack` comes back: the subscriber's
//!   interest has then crossed the cluster to the publisher's server, and since NATS keeps the
//!   order of one connection's messages, everything published after it reaches the subscriber.
//!   Then it publishes `msg 1` … `msg COUNT` (one `PUB` per write), flushes with `PING`/`PONG`
//!   and closes.
//!
//! Each prints one summary line on stdout and exits 0 on success; T (default 20000) bounds the
//! whole run, and every read and write is bounded by what is left of it. Errors: a message
//! `tb-nats: error: …` on stderr and exit 1; usage errors exit 2.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::path::Path;
use std::process::exit;
use std::thread::sleep;
use std::time::{Duration, Instant};

const PROG: &str = "tb-nats";
const USAGE: &str =
    "usage: tb-nats sub PORT SUBJECT COUNT [--timeout-ms T] [--ready-file F]\n       \
     tb-nats pub PORT SUBJECT COUNT [--timeout-ms T] [--wait-file F]";
/// The default of `--timeout-ms`: the longest a whole run of `sub` or `pub` may take.
const DEFAULT_TIMEOUT_MS: u64 = 20_000;
/// Refused connections are retried this many times, `CONNECT_PAUSE` apart.
const CONNECT_TRIES: u32 = 50;
const CONNECT_PAUSE: Duration = Duration::from_millis(100);
/// How long `pub` waits for the `--wait-file`, polling every `WAIT_FILE_POLL`.
const WAIT_FILE_LIMIT: Duration = Duration::from_secs(10);
const WAIT_FILE_POLL: Duration = Duration::from_millis(20);
/// How many probes `pub` sends at most, and how long it waits for an ack after each.
const PROBE_TRIES: u32 = 100;
const PROBE_WAIT: Duration = Duration::from_millis(250);
/// The longest protocol line (`INFO` can be long: it lists the cluster's URLs).
const MAX_LINE: usize = 64 * 1024;
/// The largest payload a `MSG` may announce.
const MAX_PAYLOAD: usize = 1 << 20;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        [mode @ ("sub" | "pub"), port, subject, count, opts @ ..] => {
            let port = parse_port(port);
            let subject = parse_subject(subject);
            let count = parse_count(count);
            let opts = parse_options(mode, opts);
            if *mode == "sub" {
                sub(port, subject, count, &opts)
            } else {
                publish(port, subject, count, &opts)
            }
        }
        _ => usage_error("expected sub or pub, PORT, SUBJECT and COUNT"),
    };
    if let Err(e) = result {
        eprintln!("{PROG}: error: {e}");
        exit(1);
    }
}

/// The options after the positional arguments.
struct Options {
    timeout: Duration,
    /// `sub`: the file to create once subscribed; `pub`: the file to wait for.
    file: Option<String>,
}

fn parse_options(mode: &str, opts: &[&str]) -> Options {
    let file_opt = if mode == "sub" {
        "--ready-file"
    } else {
        "--wait-file"
    };
    let mut o = Options {
        timeout: Duration::from_millis(DEFAULT_TIMEOUT_MS),
        file: None,
    };
    let mut it = opts.iter();
    while let Some(&opt) = it.next() {
        let Some(&value) = it.next() else {
            usage_error(&format!("{opt} needs a value"))
        };
        match opt {
            "--timeout-ms" => match value.parse::<u64>() {
                Ok(ms) if ms > 0 => o.timeout = Duration::from_millis(ms),
                _ => usage_error(&format!(
                    "--timeout-ms must be a positive number of milliseconds, not {value:?}"
                )),
            },
            _ if opt == file_opt => o.file = Some(value.to_string()),
            _ => usage_error(&format!("unknown option {opt:?} for {mode}")),
        }
    }
    o
}

/// `tb-nats sub`: subscribe, announce readiness, receive `msg 1` … `msg COUNT` in order.
fn sub(port: u16, subject: &str, count: u64, opts: &Options) -> Result<(), String> {
    let deadline = Instant::now() + opts.timeout;
    let mut conn = Conn::open(port, "tb-nats-sub", deadline)?;
    conn.send(format!("SUB {subject} 1\r\n").as_bytes())?;
    conn.flush_ping()?;
    println!("ready");
    io::stdout().flush().ok();
    if let Some(f) = &opts.file {
        File::create(f).map_err(|e| format!("cannot create the ready file {f}: {e}"))?;
    }
    let (mut next, mut probes) = (1u64, 0u64);
    while next <= count {
        let msg = conn
            .next_msg()
            .map_err(|e| format!("waiting for msg {next} of {count} on {subject}: {e}"))?;
        let payload = String::from_utf8_lossy(&msg.payload).into_owned();
        if let Some(k) = payload.strip_prefix("probe ") {
            if let Some(reply) = &msg.reply {
                probes += 1;
                conn.publish(reply, format!("ack {k}").as_bytes())
                    .map_err(|e| format!("answering {payload:?}: {e}"))?;
            }
            continue;
        }
        let want = format!("msg {next}");
        if payload != want {
            return Err(format!(
                "received {payload:?} on {}, expected {want:?}",
                msg.subject
            ));
        }
        next += 1;
    }
    conn.close();
    println!(
        "{PROG} sub: received msg 1..msg {count} in order on {subject} from {} \
         ({probes} probes answered)",
        conn.addr
    );
    Ok(())
}

/// `tb-nats pub`: wait for the subscriber, probe until it answers, publish COUNT messages.
fn publish(port: u16, subject: &str, count: u64, opts: &Options) -> Result<(), String> {
    let deadline = Instant::now() + opts.timeout;
    if let Some(f) = &opts.file {
        wait_file(Path::new(f), deadline)?;
    }
    let mut conn = Conn::open(port, "tb-nats-pub", deadline)?;
    let inbox = format!("_INBOX.tb-nats.{}", std::process::id());
    conn.send(format!("SUB {inbox} 1\r\n").as_bytes())?;
    conn.flush_ping()?;
    // Probe until the subscriber answers: then its subscription is known to our server.
    let mut probes = 0;
    let acked = loop {
        if probes == PROBE_TRIES {
            return Err(format!(
                "no subscriber of {subject} answered {PROBE_TRIES} probes, {PROBE_WAIT:?} apart"
            ));
        }
        probes += 1;
        let probe = format!("probe {probes}");
        let text = format!("PUB {subject} {inbox} {}\r\n{probe}\r\n", probe.len());
        conn.send(text.as_bytes())
            .map_err(|e| format!("sending {probe:?}: {e}"))?;
        let until = (Instant::now() + PROBE_WAIT).min(deadline);
        if let Some(msg) = conn.msg_until(until)? {
            break String::from_utf8_lossy(&msg.payload).into_owned();
        }
    };
    for k in 1..=count {
        conn.publish(subject, format!("msg {k}").as_bytes())
            .map_err(|e| format!("publishing msg {k}: {e}"))?;
    }
    conn.flush_ping()
        .map_err(|e| format!("flushing after msg {count}: {e}"))?;
    conn.close();
    println!(
        "{PROG} pub: published msg 1..msg {count} on {subject} to {} \
         (after {probes} probes, first answer {acked:?})",
        conn.addr
    );
    Ok(())
}

/// Waits until `path` exists, at most [`WAIT_FILE_LIMIT`] (and not past `deadline`).
fn wait_file(path: &Path, deadline: Instant) -> Result<(), String> {
    let until = (Instant::now() + WAIT_FILE_LIMIT).min(deadline);
    while !path.exists() {
        if Instant::now() >= until {
            return Err(format!("{} did not appear in time", path.display()));
        }
        sleep(WAIT_FILE_POLL);
    }
    Ok(())
}

/// A message delivered by the server (`MSG subject sid [reply] n`).
struct Msg {
    subject: String,
    reply: Option<String>,
    payload: Vec<u8>,
}

/// A connection to a NATS server, with a buffer of bytes received but not yet parsed.
struct Conn {
    stream: TcpStream,
    addr: SocketAddr,
    buf: Vec<u8>,
    /// Messages that arrived while waiting for a `PONG`.
    pending: VecDeque<Msg>,
    deadline: Instant,
}

impl Conn {
    /// Connects, reads `INFO`, sends `CONNECT`, and checks the connection with `PING`/`PONG`.
    fn open(port: u16, name: &str, deadline: Instant) -> Result<Conn, String> {
        let addr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port));
        let stream = connect(addr, deadline)?;
        // every write is a whole protocol message: send it at once (no Nagle delay)
        stream
            .set_nodelay(true)
            .map_err(|e| format!("cannot set TCP_NODELAY: {e}"))?;
        let mut conn = Conn {
            stream,
            addr,
            buf: Vec::new(),
            pending: VecDeque::new(),
            deadline,
        };
        let info = conn
            .line(deadline)
            .map_err(|e| format!("waiting for INFO from {addr}: {e}"))?
            .ok_or_else(|| format!("{addr} sent no INFO"))?;
        if !info.starts_with("INFO ") {
            return Err(format!("{addr} greeted with {info:?}, expected INFO"));
        }
        let connect = format!(
            "CONNECT {{\"verbose\":false,\"pedantic\":false,\"name\":\"{name}\",\
             \"lang\":\"rust\",\"version\":\"0.1.0\",\"protocol\":0}}\r\n"
        );
        conn.send(connect.as_bytes())?;
        conn.flush_ping()
            .map_err(|e| format!("after CONNECT to {addr}: {e}"))?;
        Ok(conn)
    }

    /// Sends bytes in one write (bounded by the deadline).
    fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        let left = left(self.deadline)?;
        self.stream
            .set_write_timeout(Some(left))
            .map_err(|e| format!("cannot set the write timeout: {e}"))?;
        self.stream
            .write_all(bytes)
            .map_err(|e| format!("writing to {}: {}", self.addr, timeout_msg(e)))
    }

    /// `PUB subject n\r\npayload\r\n`, in one write.
    fn publish(&mut self, subject: &str, payload: &[u8]) -> Result<(), String> {
        let mut frame = format!("PUB {subject} {}\r\n", payload.len()).into_bytes();
        frame.extend_from_slice(payload);
        frame.extend_from_slice(b"\r\n");
        self.send(&frame)
    }

    /// Sends `PING` and waits for the `PONG`: the server has processed everything sent before.
    /// Messages that arrive meanwhile are kept for [`Conn::msg_until`].
    fn flush_ping(&mut self) -> Result<(), String> {
        self.send(b"PING\r\n")?;
        loop {
            match self.op(self.deadline)? {
                Some(Op::Pong) => return Ok(()),
                Some(Op::Msg(m)) => self.pending.push_back(m),
                None => return Err("timed out waiting for PONG".into()),
            }
        }
    }

    /// The next message, waiting at most until the connection's deadline.
    fn next_msg(&mut self) -> Result<Msg, String> {
        self.msg_until(self.deadline)?
            .ok_or_else(|| "timed out".to_string())
    }

    /// The next message, or `None` if none came by `until`.
    fn msg_until(&mut self, until: Instant) -> Result<Option<Msg>, String> {
        if let Some(m) = self.pending.pop_front() {
            return Ok(Some(m));
        }
        match self.op(until)? {
            Some(Op::Msg(m)) => Ok(Some(m)),
            Some(Op::Pong) => Err("unexpected PONG".into()),
            None => Ok(None),
        }
    }

    /// The next `MSG` or `PONG`, handling `PING`, `INFO` and `+OK` on the way; `None` if
    /// nothing came by `until`.
    fn op(&mut self, until: Instant) -> Result<Option<Op>, String> {
        loop {
            let Some(line) = self.line(until)? else {
                return Ok(None);
            };
            let mut words = line.split_ascii_whitespace();
            match words.next().map(|w| w.to_ascii_uppercase()).as_deref() {
                Some("PING") => self.send(b"PONG\r\n")?,
                Some("PONG") => return Ok(Some(Op::Pong)),
                Some("INFO") | Some("+OK") => {}
                Some("-ERR") => return Err(format!("the server says {line}")),
                Some("MSG") => {
                    let w: Vec<&str> = words.collect();
                    let (subject, reply, len) = match w.as_slice() {
                        [subject, _sid, len] => (subject, None, len),
                        [subject, _sid, reply, len] => (subject, Some(reply.to_string()), len),
                        _ => return Err(format!("malformed MSG line {line:?}")),
                    };
                    let len: usize = len
                        .parse()
                        .ok()
                        .filter(|&n| n <= MAX_PAYLOAD)
                        .ok_or_else(|| format!("bad payload length in {line:?}"))?;
                    let subject = subject.to_string();
                    // a message that has started must arrive whole: wait up to the deadline
                    let mut payload = self
                        .bytes(len + 2, self.deadline)?
                        .ok_or_else(|| format!("timed out inside the payload of {line:?}"))?;
                    if !payload.ends_with(b"\r\n") {
                        return Err(format!("the payload of {line:?} does not end in CRLF"));
                    }
                    payload.truncate(len);
                    return Ok(Some(Op::Msg(Msg {
                        subject,
                        reply,
                        payload,
                    })));
                }
                _ => return Err(format!("unexpected protocol line {line:?}")),
            }
        }
    }

    /// One line without its CRLF, or `None` if it was not complete by `until`.
    fn line(&mut self, until: Instant) -> Result<Option<String>, String> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..i]).into_owned();
                self.buf.drain(..i + 2);
                return Ok(Some(line));
            }
            if self.buf.len() > MAX_LINE {
                return Err(format!("a protocol line longer than {MAX_LINE} bytes"));
            }
            if !self.fill(until)? {
                return Ok(None);
            }
        }
    }

    /// Exactly `n` bytes, or `None` if they were not there by `until`.
    fn bytes(&mut self, n: usize, until: Instant) -> Result<Option<Vec<u8>>, String> {
        while self.buf.len() < n {
            if !self.fill(until)? {
                return Ok(None);
            }
        }
        Ok(Some(self.buf.drain(..n).collect()))
    }

    /// Reads once into the buffer; `false` if nothing came by `until`.
    fn fill(&mut self, until: Instant) -> Result<bool, String> {
        let now = Instant::now();
        if now >= until {
            return Ok(false);
        }
        self.stream
            .set_read_timeout(Some(until - now))
            .map_err(|e| format!("cannot set the read timeout: {e}"))?;
        let mut chunk = [0u8; 4096];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(format!("{} closed the connection", self.addr)),
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(true);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Ok(false)
                }
                Err(e) => return Err(format!("reading from {}: {e}", self.addr)),
            }
        }
    }

    /// Closes the connection (the server sees end of stream).
    fn close(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

enum Op {
    Msg(Msg),
    Pong,
}

/// Connects to `addr`, retrying while the connection is refused.
fn connect(addr: SocketAddr, deadline: Instant) -> Result<TcpStream, String> {
    let mut tries = 0;
    loop {
        tries += 1;
        let limit =
            left(deadline).map_err(|e| format!("cannot connect to {addr} ({tries} tries): {e}"))?;
        match TcpStream::connect_timeout(&addr, limit) {
            Ok(stream) => return Ok(stream),
            Err(e) if e.kind() == ErrorKind::ConnectionRefused && tries < CONNECT_TRIES => {
                sleep(CONNECT_PAUSE)
            }
            Err(e) => return Err(format!("cannot connect to {addr} ({tries} tries): {e}")),
        }
    }
}

/// The time left until `deadline`, or an error once it has passed.
fn left(deadline: Instant) -> Result<Duration, String> {
    let now = Instant::now();
    if now >= deadline {
        Err("timed out (--timeout-ms)".into())
    } else {
        Ok(deadline - now)
    }
}

/// Describes an I/O error, saying "timed out" for the errors a socket timeout produces.
fn timeout_msg(e: io::Error) -> String {
    match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => "timed out".to_string(),
        _ => e.to_string(),
    }
}

fn parse_port(port: &str) -> u16 {
    match port.parse::<u16>() {
        Ok(p) if p != 0 => p,
        _ => usage_error(&format!("PORT must be a number in 1..=65535, not {port:?}")),
    }
}

/// A subject to publish and subscribe to: printable, no blanks, no wildcards.
fn parse_subject(subject: &str) -> &str {
    let ok = !subject.is_empty()
        && subject
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'*' && b != b'>')
        && !subject.starts_with('.')
        && !subject.ends_with('.')
        && !subject.contains("..");
    if !ok {
        usage_error(&format!(
            "SUBJECT must be tokens of printable characters separated by dots, without \
             wildcards, not {subject:?}"
        ));
    }
    subject
}

fn parse_count(text: &str) -> u64 {
    match text.parse::<u64>() {
        Ok(n) if n > 0 => n,
        _ => usage_error(&format!("COUNT must be a positive integer, not {text:?}")),
    }
}

fn usage_error(message: &str) -> ! {
    eprintln!("{PROG}: {message}\n{USAGE}");
    exit(2)
}
