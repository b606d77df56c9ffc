//! `tb-relay`: a three-node chain, client -> relay -> server, for fault-injection tests.
//!
//! Usage:
//!
//! ```text
//! tb-relay server PORT                              # answer one 8-byte request, reversed
//! tb-relay relay LISTEN_PORT SERVER_PORT            # forward one request and its answer
//! tb-relay client RELAY_PORT RESULTFILE [--tries N] [--timeout-ms T]
//! tb-relay udp-server PORT COUNT                    # answer COUNT datagrams
//! tb-relay udp-client PORT COUNT RESULTFILE         # send COUNT datagrams, count the answers
//! ```
//!
//! Everything is on 127.0.0.1. The TCP programs do one exchange each:
//!
//! * `server` accepts one connection, reads exactly 8 bytes, sends them back reversed, then
//!   waits for the peer to close the connection and exits 0.
//! * `relay` accepts one connection, reads exactly 8 bytes, connects to the server (retrying up
//!   to 50 times, 100 ms apart), sends it the 8 bytes, reads its 8-byte answer, closes the
//!   connection to the server, sends the answer to its client, then waits for the client to
//!   close and exits 0.
//! * `client` connects to the relay (up to N tries, default 5, 100 ms apart), sends `abcdefgh`,
//!   waits up to T ms (default 2000) for the 8-byte answer, and writes exactly one line to
//!   RESULTFILE (and to stdout):
//!
//!   | line                     | meaning                                        | exit |
//!   |--------------------------|------------------------------------------------|------|
//!   | `ok attempts=N rtt_ms=M` | the answer `hgfedcba` came, on connect try N   | 0 if N = 1, else 6 |
//!   | `noconnect`              | every connect try failed                       | 5    |
//!   | `timeout`                | no (complete) answer within T ms               | 3    |
//!   | `eof`                    | the relay closed the connection (or another error) | 4 |
//!   | `reset`                  | ECONNRESET or EPIPE on the send or the receive | 8    |
//!   | `wrong`                  | an answer other than `hgfedcba`                | 7    |
//!
//!   `rtt_ms` is the time from just before the send to the end of the answer.
//!
//! The UDP pair measures datagram loss:
//!
//! * `udp-server` binds PORT and answers every datagram with `re: ` and the datagram, to its
//!   sender; it exits 0 after COUNT answers.
//! * `udp-client` sends `request K` for K = 1..=COUNT from one unconnected socket, waiting up
//!   to 300 ms for `re: request K` after each (no resend; other answers are skipped), and
//!   writes `got=G of COUNT` to RESULTFILE (and stdout). It exits 0 when every datagram was
//!   answered, else 1.
//!
//! The server and the relay bound their reads and writes by 10 s (longer than any client
//! waits), but wait for their one connection without a limit: run them as daemons, which bop
//! stops at the end of the run. Errors: a message `tb-relay: error: …` on stderr and exit 1;
//! usage errors exit 2.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::process::exit;
use std::thread::sleep;
use std::time::{Duration, Instant};

const PROG: &str = "tb-relay";
const USAGE: &str = "usage: tb-relay server PORT\n       \
     tb-relay relay LISTEN_PORT SERVER_PORT\n       \
     tb-relay client RELAY_PORT RESULTFILE [--tries N] [--timeout-ms T]\n       \
     tb-relay udp-server PORT COUNT\n       \
     tb-relay udp-client PORT COUNT RESULTFILE";
/// The request the client sends, and the answer it expects.
const REQUEST: &[u8; 8] = b"abcdefgh";
const ANSWER: &[u8; 8] = b"hgfedcba";
/// Limit on the reads and writes of the server and the relay.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause between two connect tries.
const CONNECT_PAUSE: Duration = Duration::from_millis(100);
/// How often the relay tries to reach the server.
const RELAY_TRIES: u32 = 50;
/// How long the UDP client waits for each answer.
const UDP_WAIT: Duration = Duration::from_millis(300);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let code = match args.as_slice() {
        ["server", port] => run(server(parse_port(port))),
        ["relay", listen, to] => run(relay(parse_port(listen), parse_port(to))),
        ["client", port, result, opts @ ..] => {
            let (tries, timeout) = client_options(opts);
            client(parse_port(port), result, tries, timeout)
        }
        ["udp-server", port, count] => {
            run(udp_server(parse_port(port), number(count, "COUNT")).inspect_err(|e| report(e)))
        }
        ["udp-client", port, count, result] => {
            udp_client(parse_port(port), number(count, "COUNT"), result)
        }
        _ => usage_error("unknown mode or wrong number of arguments"),
    };
    exit(code)
}

/// Exit status 0 for success; 1 for an error (already reported).
fn run(r: Result<(), String>) -> i32 {
    match r {
        Ok(()) => 0,
        Err(_) => 1,
    }
}

/// Reports an error on stderr in one write (a multi-part `eprintln!` can be cut short when
/// the process is stopped right after its connections close).
fn report(e: &str) {
    note(&format!("{PROG}: error: {e}"));
}

/// A line on stderr, in one write.
fn note(line: &str) {
    let _ = io::stderr().write_all(format!("{line}\n").as_bytes());
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port))
}

// ---------------------------------------------------------------------------------------------
// TCP: server and relay
// ---------------------------------------------------------------------------------------------

fn server(port: u16) -> Result<(), String> {
    let addr = loopback(port);
    let listener = TcpListener::bind(addr)
        .map_err(|e| format!("cannot listen on {addr}: {e}"))
        .inspect_err(|e| report(e))?;
    let (mut conn, peer) = listener
        .accept()
        .map_err(|e| format!("accepting on {addr}: {e}"))
        .inspect_err(|e| report(e))?;
    // errors are reported while the connection is still open
    answer(&mut conn, peer).inspect_err(|e| report(e))?;
    println!("{PROG} server: answered {peer} on {addr}");
    Ok(())
}

fn answer(conn: &mut TcpStream, peer: SocketAddr) -> Result<(), String> {
    set_io_timeouts(conn)?;
    let mut buf = [0u8; 8];
    read_exact(conn, &mut buf).map_err(|e| format!("reading the request of {peer}: {e}"))?;
    buf.reverse();
    conn.write_all(&buf)
        .map_err(|e| format!("answering {peer}: {e}"))?;
    wait_close(conn);
    Ok(())
}

fn relay(listen: u16, to: u16) -> Result<(), String> {
    let addr = loopback(listen);
    let server = loopback(to);
    let listener = TcpListener::bind(addr)
        .map_err(|e| format!("cannot listen on {addr}: {e}"))
        .inspect_err(|e| report(e))?;
    let (mut conn, peer) = listener
        .accept()
        .map_err(|e| format!("accepting on {addr}: {e}"))
        .inspect_err(|e| report(e))?;
    // errors are reported while the client's connection is still open: the client must not
    // see the end of its connection (and bop stop the relay) before the message is out
    let tries = forward(&mut conn, peer, server).inspect_err(|e| report(e))?;
    println!("{PROG} relay: forwarded {peer} -> {server} ({tries} connect tries) and back");
    Ok(())
}

/// Forwards one request from `conn` to the server and the answer back; returns the connect
/// tries it took to reach the server.
fn forward(conn: &mut TcpStream, peer: SocketAddr, server: SocketAddr) -> Result<u32, String> {
    set_io_timeouts(conn)?;
    let mut buf = [0u8; 8];
    read_exact(conn, &mut buf).map_err(|e| format!("reading the request of {peer}: {e}"))?;
    let (mut up, tries) = dial(server, RELAY_TRIES)
        .map_err(|e| format!("cannot connect to the server {server}: {e}"))?;
    set_io_timeouts(&up)?;
    up.write_all(&buf)
        .map_err(|e| format!("forwarding to {server}: {e}"))?;
    read_exact(&mut up, &mut buf).map_err(|e| format!("reading the answer of {server}: {e}"))?;
    drop(up);
    conn.write_all(&buf)
        .map_err(|e| format!("answering {peer}: {e}"))?;
    wait_close(conn);
    Ok(tries)
}

/// Reads exactly `buf.len()` bytes; end of stream is an error.
fn read_exact(s: &mut TcpStream, buf: &mut [u8]) -> Result<(), String> {
    let mut got = 0;
    while got < buf.len() {
        match s.read(&mut buf[got..]) {
            Ok(0) => return Err(format!("the peer closed the connection after {got} bytes")),
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(describe(&e)),
        }
    }
    Ok(())
}

/// Waits (at most the read timeout) for the peer to close: one receive, whatever it returns.
fn wait_close(s: &mut TcpStream) {
    let mut tail = [0u8; 1];
    let _ = s.read(&mut tail);
}

/// Connects, up to `tries` times, `CONNECT_PAUSE` apart. Returns the stream and the try it
/// took, or the last error.
fn dial(addr: SocketAddr, tries: u32) -> Result<(TcpStream, u32), String> {
    let mut last = String::new();
    for attempt in 1..=tries {
        match TcpStream::connect(addr) {
            Ok(s) => return Ok((s, attempt)),
            Err(e) => last = format!("{e} ({attempt} tries)"),
        }
        if attempt < tries {
            sleep(CONNECT_PAUSE);
        }
    }
    Err(last)
}

fn set_io_timeouts(s: &TcpStream) -> Result<(), String> {
    s.set_read_timeout(Some(IO_TIMEOUT))
        .and_then(|()| s.set_write_timeout(Some(IO_TIMEOUT)))
        .map_err(|e| format!("cannot set socket timeouts: {e}"))
}

fn describe(e: &io::Error) -> String {
    match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => "timed out".to_string(),
        _ => e.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// TCP: client
// ---------------------------------------------------------------------------------------------

/// What one client run saw, with its exit status.
enum Outcome {
    Ok { attempts: u32, rtt_ms: u128 },
    NoConnect,
    Timeout,
    Eof,
    Reset,
    Wrong,
}

impl Outcome {
    fn line(&self) -> String {
        match self {
            Outcome::Ok { attempts, rtt_ms } => format!("ok attempts={attempts} rtt_ms={rtt_ms}"),
            Outcome::NoConnect => "noconnect".into(),
            Outcome::Timeout => "timeout".into(),
            Outcome::Eof => "eof".into(),
            Outcome::Reset => "reset".into(),
            Outcome::Wrong => "wrong".into(),
        }
    }

    fn code(&self) -> i32 {
        match self {
            Outcome::Ok { attempts: 1, .. } => 0,
            Outcome::Ok { .. } => 6,
            Outcome::NoConnect => 5,
            Outcome::Timeout => 3,
            Outcome::Eof => 4,
            Outcome::Reset => 8,
            Outcome::Wrong => 7,
        }
    }
}

/// What a failed send or receive means to the client.
fn failure(e: &io::Error, what: &str) -> Outcome {
    note(&format!("{PROG} client: {what}: {e}"));
    match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => Outcome::Timeout,
        ErrorKind::ConnectionReset | ErrorKind::BrokenPipe => Outcome::Reset,
        _ => Outcome::Eof,
    }
}

fn client_options(opts: &[&str]) -> (u32, Duration) {
    let (mut tries, mut timeout_ms) = (5u64, 2000u64);
    let mut it = opts.iter();
    while let Some(opt) = it.next() {
        let value = it
            .next()
            .unwrap_or_else(|| usage_error(&format!("{opt} needs a value")));
        match *opt {
            "--tries" => tries = number(value, "--tries"),
            "--timeout-ms" => timeout_ms = number(value, "--timeout-ms"),
            _ => usage_error(&format!("unknown option {opt:?}")),
        }
    }
    if tries == 0 || tries > u64::from(u32::MAX) {
        usage_error("--tries must be at least 1");
    }
    if timeout_ms == 0 {
        usage_error("--timeout-ms must be at least 1");
    }
    (tries as u32, Duration::from_millis(timeout_ms))
}

fn client(port: u16, result: &str, tries: u32, timeout: Duration) -> i32 {
    let outcome = exchange(loopback(port), tries, timeout);
    let line = outcome.line();
    println!("{PROG} client: {line}");
    if let Err(e) = std::fs::write(result, format!("{line}\n")) {
        report(&format!("cannot write {result}: {e}"));
        return 1;
    }
    outcome.code()
}

fn exchange(addr: SocketAddr, tries: u32, timeout: Duration) -> Outcome {
    let (mut s, attempts) = match dial(addr, tries) {
        Ok(x) => x,
        Err(e) => {
            note(&format!("{PROG} client: cannot connect to {addr}: {e}"));
            return Outcome::NoConnect;
        }
    };
    let t0 = Instant::now();
    let deadline = t0 + timeout;
    if let Err(e) = s.write_all(REQUEST) {
        return failure(&e, "sending the request");
    }
    let mut buf = [0u8; 8];
    let mut got = 0;
    while got < buf.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Outcome::Timeout;
        }
        if let Err(e) = s.set_read_timeout(Some(left)) {
            note(&format!("{PROG} client: cannot set the read timeout: {e}"));
            return Outcome::Eof;
        }
        match s.read(&mut buf[got..]) {
            Ok(0) => {
                note(&format!(
                    "{PROG} client: the relay closed the connection after {got} bytes"
                ));
                return Outcome::Eof;
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return failure(&e, "reading the answer"),
        }
    }
    let rtt_ms = t0.elapsed().as_millis();
    if &buf != ANSWER {
        note(&format!(
            "{PROG} client: the answer is {:?}, expected {:?}",
            String::from_utf8_lossy(&buf),
            String::from_utf8_lossy(ANSWER)
        ));
        return Outcome::Wrong;
    }
    drop(s);
    Outcome::Ok { attempts, rtt_ms }
}

// ---------------------------------------------------------------------------------------------
// UDP
// ---------------------------------------------------------------------------------------------

fn udp_server(port: u16, count: u64) -> Result<(), String> {
    let addr = loopback(port);
    let sock = UdpSocket::bind(addr).map_err(|e| format!("cannot bind {addr}: {e}"))?;
    sock.set_read_timeout(Some(IO_TIMEOUT))
        .map_err(|e| format!("cannot set the read timeout: {e}"))?;
    let mut buf = [0u8; 1500];
    for answered in 0..count {
        let (n, from) = sock.recv_from(&mut buf).map_err(|e| {
            format!(
                "receiving datagram {} of {count}: {}",
                answered + 1,
                describe(&e)
            )
        })?;
        let mut answer = b"re: ".to_vec();
        answer.extend_from_slice(&buf[..n]);
        sock.send_to(&answer, from)
            .map_err(|e| format!("answering {from}: {e}"))?;
    }
    println!("{PROG} udp-server: answered {count} datagrams on {addr}");
    Ok(())
}

fn udp_client(port: u16, count: u64, result: &str) -> i32 {
    let server = loopback(port);
    let sock = match UdpSocket::bind(loopback(0)) {
        Ok(s) => s,
        Err(e) => {
            report(&format!("cannot bind a UDP socket: {e}"));
            return 1;
        }
    };
    let mut got = 0u64;
    let mut buf = [0u8; 1500];
    for k in 1..=count {
        let request = format!("request {k}");
        let answer = format!("re: {request}");
        if let Err(e) = sock.send_to(request.as_bytes(), server) {
            note(&format!("{PROG} udp-client: sending datagram {k}: {e}"));
            continue;
        }
        let deadline = Instant::now() + UDP_WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || sock.set_read_timeout(Some(left)).is_err() {
                break;
            }
            match sock.recv_from(&mut buf) {
                Ok((n, from)) if from == server && &buf[..n] == answer.as_bytes() => {
                    got += 1;
                    break;
                }
                Ok(_) => {} // a late answer to an earlier datagram, or a stranger
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => break, // timed out (or the port is not there)
            }
        }
    }
    let line = format!("got={got} of {count}");
    println!("{PROG} udp-client: {line}");
    if let Err(e) = std::fs::write(result, format!("{line}\n")) {
        report(&format!("cannot write {result}: {e}"));
        return 1;
    }
    if got == count {
        0
    } else {
        1
    }
}

// ---------------------------------------------------------------------------------------------
// Arguments
// ---------------------------------------------------------------------------------------------

fn parse_port(port: &str) -> u16 {
    match port.parse::<u16>() {
        Ok(p) if p != 0 => p,
        _ => usage_error(&format!("PORT must be a number in 1..=65535, not {port:?}")),
    }
}

fn number(text: &str, what: &str) -> u64 {
    text.parse().unwrap_or_else(|_| {
        usage_error(&format!(
            "{what} must be a non-negative integer, not {text:?}"
        ))
    })
}

fn usage_error(message: &str) -> ! {
    eprintln!("{PROG}: {message}\n{USAGE}");
    exit(2)
}
