//! `tb-echo`: a TCP echo server and client with length-prefixed messages.
//!
//! Usage:
//!
//! ```text
//! tb-echo server  PORT CLIENTS       # serve CLIENTS connections on 127.0.0.1:PORT, then exit
//! tb-echo client  PORT ID COUNT      # send COUNT messages to 127.0.0.1:PORT, check the echoes
//! tb-echo client  PORT ID COUNT WAIT # the same after waiting WAIT ms; WAIT=0,80: 0 or 80 ms,
//!                                    # chosen at random (to make clients race)
//! tb-echo server6 PORT CLIENTS       # the same over IPv6, on [::1]:PORT
//! tb-echo client6 PORT ID COUNT
//! ```
//!
//! Protocol: every message is a 4-byte big-endian length followed by that many bytes. The client
//! sends `client ID msg K` for K = 1..=COUNT, reading each echo back before sending the next, then
//! closes the connection. The server accepts connections one after another (a sequential accept
//! loop), echoes every message of a connection back unchanged until the client closes it, and exits
//! 0 after CLIENTS clients. A connection closed without a message (such as a readiness probe) is
//! not counted as a client, so COUNT must be at least 1. The client retries a refused connection up
//! to 50 times, 100 ms apart. Every blocking call has a timeout; any error ends the process with
//! exit status 1 and a message on stderr.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::process::exit;
use std::thread::sleep;
use std::time::Duration;

const PROG: &str = "tb-echo";
const USAGE: &str =
    "usage: tb-echo server|server6 PORT CLIENTS\n       tb-echo client|client6 PORT ID COUNT [WAIT]";
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
        ["server", port, clients] => server(v4(port), number(clients, "CLIENTS")),
        ["server6", port, clients] => server(v6(port), number(clients, "CLIENTS")),
        ["client", port, id, count] => client(v4(port), id, parse_count(count)),
        ["client", port, id, count, wait] => {
            sleep(pick_wait(wait));
            client(v4(port), id, parse_count(count))
        }
        ["client6", port, id, count] => client(v6(port), id, parse_count(count)),
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
    let (mut served, mut empty, mut messages) = (0, 0, 0);
    while served < clients {
        let (mut stream, peer) = listener.accept().map_err(|e| {
            format!(
                "accepting connection {} of {clients} on {addr}: {}",
                served + 1,
                timeout_msg(e)
            )
        })?;
        set_io_timeouts(&stream)?;
        let mut received = 0;
        while let Some(message) =
            read_message(&mut stream).map_err(|e| format!("reading from {peer}: {e}"))?
        {
            write_message(&mut stream, &message)
                .map_err(|e| format!("echoing to {peer}: {}", timeout_msg(e)))?;
            received += 1;
        }
        if received == 0 {
            // Closed without a message, like a readiness probe: not a client.
            empty += 1;
            if empty > MAX_EMPTY {
                return Err(format!("more than {MAX_EMPTY} empty connections"));
            }
        } else {
            served += 1;
            messages += received;
        }
    }
    println!(
        "{PROG} server: served {clients} clients, {messages} messages on {addr} \
         ({empty} empty connections ignored)"
    );
    Ok(())
}

fn client(addr: SocketAddr, id: &str, count: u64) -> Result<(), String> {
    let mut stream = connect(addr)?;
    set_io_timeouts(&stream)?;
    for k in 1..=count {
        let message = format!("client {id} msg {k}");
        write_message(&mut stream, message.as_bytes())
            .map_err(|e| format!("sending message {k} to {addr}: {}", timeout_msg(e)))?;
        let echo = read_message(&mut stream)
            .map_err(|e| format!("reading echo {k} from {addr}: {e}"))?
            .ok_or_else(|| format!("{addr} closed the connection before echoing message {k}"))?;
        if echo != message.as_bytes() {
            return Err(format!(
                "echo {k} is {:?}, expected {message:?}",
                String::from_utf8_lossy(&echo)
            ));
        }
    }
    drop(stream);
    println!("{PROG} client {id}: {count} messages echoed by {addr}");
    Ok(())
}

/// `WAIT`: milliseconds, or several separated by commas, one of which is chosen at random
/// (from the random keys std seeds every hasher with, so no file or socket is read).
fn pick_wait(wait: &str) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let choices: Vec<u64> = wait.split(',').map(|w| number(w, "WAIT")).collect();
    let coin = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    Duration::from_millis(choices[(coin % choices.len() as u64) as usize])
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

fn v4(port: &str) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), parse_port(port))
}

fn v6(port: &str) -> SocketAddr {
    SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), parse_port(port))
}

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
