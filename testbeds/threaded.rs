//! `tb-threaded`: a TCP server that serves every connection from its own thread, and a client that
//! talks to it over several connections from several threads.
//!
//! Usage:
//!
//! ```text
//! tb-threaded server PORT CLIENTS   # serve CLIENTS connections on 127.0.0.1:PORT, then exit
//! tb-threaded client PORT COUNT     # 4 threads, each with its own connection and COUNT requests
//! ```
//!
//! One `tb-threaded client` opens 4 connections, so a server for N clients needs CLIENTS = 4 × N.
//!
//! Protocol: every message is a 4-byte big-endian length followed by that many bytes. Client thread
//! T (T = 1..=4) sends `thread T msg K` for K = 1..=COUNT and waits for each reply, which is the
//! message in upper case (`THREAD T MSG K`), then closes its connection. The server accepts CLIENTS
//! connections, starting a `std::thread` for each that answers every message with its upper-case
//! form until the client closes; it then joins all threads and exits 0 if every one of them
//! succeeded. Before starting a thread the server peeks (`recv` with `MSG_PEEK`) for the first
//! byte: a connection closed without a message (such as a readiness probe) is not counted, so COUNT
//! must be at least 1. Clients retry a refused connection up to 50 times, 100 ms apart. Every
//! blocking call has a timeout; any error ends the process with exit status 1 and a message on
//! stderr.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::process::exit;
use std::thread::{self, sleep};
use std::time::Duration;

const PROG: &str = "tb-threaded";
const USAGE: &str = "usage: tb-threaded server PORT CLIENTS\n       tb-threaded client PORT COUNT";
/// Connections (and threads) per client process.
const CLIENT_THREADS: u32 = 4;
/// How long the server waits for the next connection.
const ACCEPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Limit on every read and write of a connected socket.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Refused connections are retried this many times, `CONNECT_PAUSE` apart.
const CONNECT_TRIES: u32 = 50;
const CONNECT_PAUSE: Duration = Duration::from_millis(100);
/// Connections closed without a message (readiness probes) are ignored, up to this many.
const MAX_EMPTY: u64 = 100;
/// The largest message a peer may announce.
const MAX_MESSAGE: usize = 1 << 20;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["server", port, clients] => server(addr(port), number(clients, "CLIENTS")),
        ["client", port, count] => client(addr(port), parse_count(count)),
        _ => {
            eprintln!("{USAGE}");
            exit(2);
        }
    };
    if let Err(e) = result {
        eprintln!("{PROG}: error: {e}");
        exit(1);
    }
}

fn server(addr: SocketAddr, clients: u64) -> Result<(), String> {
    let listener = TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    set_accept_timeout(&listener, ACCEPT_TIMEOUT)
        .map_err(|e| format!("cannot set the accept timeout: {e}"))?;
    let mut workers = Vec::new();
    let mut errors = Vec::new();
    let mut empty = 0;
    while (workers.len() as u64) < clients {
        let n = workers.len() + 1;
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(e) => {
                errors.push(format!(
                    "accepting connection {n} of {clients} on {addr}: {}",
                    timeout_msg(e)
                ));
                break;
            }
        };
        match first_byte(&stream) {
            Ok(false) => {
                // Closed without a message, like a readiness probe: not a client.
                empty += 1;
                if empty > MAX_EMPTY {
                    errors.push(format!("more than {MAX_EMPTY} empty connections"));
                    break;
                }
                continue;
            }
            Ok(true) => {}
            Err(e) => {
                errors.push(format!("connection {n} ({peer}): {e}"));
                break;
            }
        }
        let spawned = thread::Builder::new()
            .name(format!("conn-{n}"))
            .spawn(move || serve(stream).map_err(|e| format!("connection {n} ({peer}): {e}")));
        match spawned {
            Ok(worker) => workers.push(worker),
            Err(e) => {
                errors.push(format!("cannot start a thread for connection {n}: {e}"));
                break;
            }
        }
    }
    // Join every thread, even after an error.
    let mut messages = 0;
    for worker in workers {
        let outcome = worker
            .join()
            .unwrap_or_else(|_| Err("a connection thread panicked".into()));
        match outcome {
            Ok(n) => messages += n,
            Err(e) => errors.push(e),
        }
    }
    combine(errors)?;
    println!(
        "{PROG} server: served {clients} connections from threads, {messages} messages on {addr} \
         ({empty} empty connections ignored)"
    );
    Ok(())
}

/// Sets the connection's timeouts and waits for its first byte without consuming it (`recv`
/// with `MSG_PEEK`): `false` if the peer closed the connection without sending anything.
fn first_byte(stream: &TcpStream) -> Result<bool, String> {
    set_io_timeouts(stream)?;
    let mut byte = [0u8; 1];
    loop {
        match stream.peek(&mut byte) {
            Ok(n) => return Ok(n > 0),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("waiting for the first message: {}", timeout_msg(e))),
        }
    }
}

/// Answers every message on `stream` with its upper-case form until EOF; returns the count.
fn serve(mut stream: TcpStream) -> Result<u64, String> {
    let mut messages = 0;
    while let Some(message) = read_message(&mut stream)? {
        write_message(&mut stream, &message.to_ascii_uppercase())
            .map_err(|e| format!("replying: {}", timeout_msg(e)))?;
        messages += 1;
    }
    Ok(messages)
}

fn client(addr: SocketAddr, count: u64) -> Result<(), String> {
    let workers: Vec<_> = (1..=CLIENT_THREADS)
        .map(|t| {
            thread::Builder::new()
                .name(format!("client-{t}"))
                .spawn(move || converse(addr, t, count).map_err(|e| format!("thread {t}: {e}")))
                .map_err(|e| format!("cannot start client thread {t}: {e}"))
        })
        .collect::<Result<_, _>>()?;
    let mut errors = Vec::new();
    for worker in workers {
        let outcome = worker
            .join()
            .unwrap_or_else(|_| Err("a client thread panicked".into()));
        if let Err(e) = outcome {
            errors.push(e);
        }
    }
    combine(errors)?;
    println!("{PROG} client: {CLIENT_THREADS} threads x {count} requests answered by {addr}");
    Ok(())
}

/// Turns the failures of several threads or processes into one result; with more than one,
/// each is printed on stderr and the result counts them.
fn combine(errors: Vec<String>) -> Result<(), String> {
    match errors.len() {
        0 => Ok(()),
        1 => Err(errors.into_iter().next().unwrap_or_default()),
        n => {
            for e in &errors {
                eprintln!("{PROG}: error: {e}");
            }
            Err(format!("{n} failures (listed above)"))
        }
    }
}

/// One client thread: its own connection, `count` request/reply exchanges.
fn converse(addr: SocketAddr, t: u32, count: u64) -> Result<(), String> {
    let mut stream = connect(addr)?;
    set_io_timeouts(&stream)?;
    for k in 1..=count {
        let message = format!("thread {t} msg {k}");
        write_message(&mut stream, message.as_bytes())
            .map_err(|e| format!("sending message {k}: {}", timeout_msg(e)))?;
        let reply = read_message(&mut stream)
            .map_err(|e| format!("reading reply {k}: {e}"))?
            .ok_or_else(|| format!("the server closed the connection before reply {k}"))?;
        let expected = message.to_ascii_uppercase();
        if reply != expected.as_bytes() {
            return Err(format!(
                "reply {k} is {:?}, expected {expected:?}",
                String::from_utf8_lossy(&reply)
            ));
        }
    }
    Ok(())
}

/// Connects to `addr`, retrying while the connection is refused.
fn connect(addr: SocketAddr) -> Result<TcpStream, String> {
    let mut tries = 0;
    loop {
        tries += 1;
        match TcpStream::connect_timeout(&addr, IO_TIMEOUT) {
            Ok(stream) => return Ok(stream),
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused && tries < CONNECT_TRIES => {
                sleep(CONNECT_PAUSE)
            }
            Err(e) => return Err(format!("cannot connect to {addr} ({tries} tries): {e}")),
        }
    }
}

/// Sends one message: its length as 4 big-endian bytes, then its bytes, in one write.
fn write_message(stream: &mut TcpStream, message: &[u8]) -> io::Result<()> {
    let len = u32::try_from(message.len()).map_err(|_| io::Error::other("message too long"))?;
    let mut frame = Vec::with_capacity(4 + message.len());
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(message);
    stream.write_all(&frame)
}

/// Reads one message; `None` when the peer closed the connection between messages.
fn read_message(stream: &mut TcpStream) -> Result<Option<Vec<u8>>, String> {
    let mut header = [0u8; 4];
    let mut got = 0;
    while got < header.len() {
        match stream.read(&mut header[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err("connection closed inside a length prefix".into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(timeout_msg(e)),
        }
    }
    let len = u32::from_be_bytes(header) as usize;
    if len > MAX_MESSAGE {
        return Err(format!(
            "announced message length {len} exceeds {MAX_MESSAGE}"
        ));
    }
    let mut message = vec![0u8; len];
    stream
        .read_exact(&mut message)
        .map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => {
                format!("connection closed inside a {len}-byte message")
            }
            _ => timeout_msg(e),
        })?;
    Ok(Some(message))
}

fn set_io_timeouts(stream: &TcpStream) -> Result<(), String> {
    stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(IO_TIMEOUT)))
        .map_err(|e| format!("cannot set socket timeouts: {e}"))
}

/// Bounds `accept` on `listener`: Linux applies `SO_RCVTIMEO` of a listening socket to accept.
fn set_accept_timeout(listener: &TcpListener, timeout: Duration) -> io::Result<()> {
    let tv = libc::timeval {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_usec: timeout.subsec_micros() as libc::suseconds_t,
    };
    // SAFETY: passes a valid timeval of the stated size to a socket we own.
    let rc = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Describes an I/O error, saying "timed out" for the errors a socket timeout produces.
fn timeout_msg(e: io::Error) -> String {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => "timed out".to_string(),
        _ => e.to_string(),
    }
}

fn addr(port: &str) -> SocketAddr {
    match port.parse::<u16>() {
        Ok(p) if p != 0 => SocketAddr::from((Ipv4Addr::LOCALHOST, p)),
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

/// Parses a client's COUNT, which must be at least 1: a connection that sends nothing looks like
/// a readiness probe to the server.
fn parse_count(text: &str) -> u64 {
    match number(text, "COUNT") {
        0 => usage_error("COUNT must be at least 1"),
        n => n,
    }
}

fn usage_error(message: &str) -> ! {
    eprintln!("{PROG}: {message}\n{USAGE}");
    exit(2)
}
