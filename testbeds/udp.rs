//! `tb-udp`: a UDP request/reply server and client, using both connected and unconnected datagram
//! sockets.
//!
//! Usage:
//!
//! ```text
//! tb-udp server PORT REQUESTS    # answer REQUESTS distinct requests on 127.0.0.1:PORT, then exit
//! tb-udp client PORT COUNT       # send COUNT requests to 127.0.0.1:PORT, check every reply
//! ```
//!
//! Protocol: a request is the datagram `request K` (K = 1..=COUNT); its reply is `re: ` followed by
//! the request. The server uses `recv_from`/`send_to`. It answers every datagram, but a datagram
//! equal to one it already answered from the same sender (a client's retry) does not count towards
//! REQUESTS. The client sends one request at a time and waits up to 1 s for the reply, resending up
//! to 3 times. Even-numbered requests go over a connected socket (`connect`, then `send`/`recv`),
//! odd-numbered ones over an unconnected socket (`send_to`/`recv_from`). Replies that do not match
//! the outstanding request (late answers to an earlier attempt) are skipped. Any error ends the
//! process with exit status 1 and a message on stderr.

use std::collections::HashSet;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::process::exit;
use std::thread::sleep;
use std::time::{Duration, Instant};

const PROG: &str = "tb-udp";
const USAGE: &str = "usage: tb-udp server PORT REQUESTS\n       tb-udp client PORT COUNT";
/// How long the server waits for the next datagram.
const SERVER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the client waits for a reply before resending.
const REPLY_TIMEOUT: Duration = Duration::from_secs(1);
/// How often the client resends a request that got no reply.
const RETRIES: u32 = 3;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["server", port, requests] => server(addr(port), number(requests, "REQUESTS")),
        ["client", port, count] => client(addr(port), number(count, "COUNT")),
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

fn server(addr: SocketAddr, requests: u64) -> Result<(), String> {
    let socket = UdpSocket::bind(addr).map_err(|e| format!("cannot bind {addr}: {e}"))?;
    socket
        .set_read_timeout(Some(SERVER_TIMEOUT))
        .map_err(|e| format!("cannot set the socket timeout: {e}"))?;
    let mut seen: HashSet<(SocketAddr, Vec<u8>)> = HashSet::new();
    let mut duplicates = 0;
    let mut buf = [0u8; 2048];
    while (seen.len() as u64) < requests {
        let (n, peer) = retry(|| socket.recv_from(&mut buf)).map_err(|e| {
            format!(
                "waiting for request {} of {requests}: {}",
                seen.len() + 1,
                timeout_msg(e)
            )
        })?;
        let request = buf[..n].to_vec();
        let mut reply = b"re: ".to_vec();
        reply.extend_from_slice(&request);
        retry(|| socket.send_to(&reply, peer)).map_err(|e| format!("replying to {peer}: {e}"))?;
        if !seen.insert((peer, request)) {
            duplicates += 1;
        }
    }
    println!("{PROG} server: answered {requests} requests ({duplicates} duplicates) on {addr}");
    Ok(())
}

fn client(server: SocketAddr, count: u64) -> Result<(), String> {
    let local = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let connected = UdpSocket::bind(local).map_err(|e| format!("cannot bind {local}: {e}"))?;
    connected
        .connect(server)
        .map_err(|e| format!("cannot connect a UDP socket to {server}: {e}"))?;
    let unconnected = UdpSocket::bind(local).map_err(|e| format!("cannot bind {local}: {e}"))?;
    let mut resent = 0;
    for k in 1..=count {
        let request = format!("request {k}");
        let expected = format!("re: {request}");
        let socket = if k % 2 == 0 { &connected } else { &unconnected };
        let mut attempt = 0;
        loop {
            let deadline = Instant::now() + REPLY_TIMEOUT;
            match exchange(socket, k % 2 == 0, server, &request, &expected, deadline) {
                Ok(()) => break,
                Err(e) if attempt < RETRIES && retryable(&e) => {
                    if e.kind() == io::ErrorKind::ConnectionRefused {
                        // The server is not (yet) bound: wait out the rest of this attempt.
                        sleep(deadline.saturating_duration_since(Instant::now()));
                    }
                    attempt += 1;
                    resent += 1;
                }
                Err(e) => {
                    return Err(format!(
                        "request {k} to {server} failed after {} attempts: {}",
                        attempt + 1,
                        timeout_msg(e)
                    ))
                }
            }
        }
    }
    println!("{PROG} client: {count} requests answered by {server} ({resent} resent)");
    Ok(())
}

/// Sends `request` once and waits until `deadline` for the reply `expected`, skipping others.
fn exchange(
    socket: &UdpSocket,
    connected: bool,
    server: SocketAddr,
    request: &str,
    expected: &str,
    deadline: Instant,
) -> io::Result<()> {
    if connected {
        retry(|| socket.send(request.as_bytes()))?;
    } else {
        retry(|| socket.send_to(request.as_bytes(), server))?;
    }
    let mut buf = [0u8; 2048];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no reply within 1 s",
            ));
        }
        socket.set_read_timeout(Some(left))?;
        let n = if connected {
            retry(|| socket.recv(&mut buf))?
        } else {
            let (n, from) = retry(|| socket.recv_from(&mut buf))?;
            if from != server {
                continue; // not from the server: ignore it
            }
            n
        };
        if &buf[..n] == expected.as_bytes() {
            return Ok(());
        }
        // A late reply to an earlier attempt or request: keep waiting for ours.
    }
}

/// Runs a socket call again while it fails with `EINTR` (a signal arrived: under ptrace even
/// ignored signals such as `SIGCHLD` interrupt calls that have a timeout).
fn retry<T>(mut call: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match call() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

fn retryable(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::ConnectionRefused
    )
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

fn usage_error(message: &str) -> ! {
    eprintln!("{PROG}: {message}\n{USAGE}");
    exit(2)
}
