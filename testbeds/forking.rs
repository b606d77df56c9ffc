//! `tb-forking`: a TCP echo server that forks a child process for every connection.
//!
//! Usage:
//!
//! ```text
//! tb-forking server PORT CLIENTS     # serve CLIENTS connections on 127.0.0.1:PORT, then exit
//! tb-forking client PORT ID COUNT    # the same client as `tb-echo client PORT ID COUNT`
//! ```
//!
//! Protocol: the same as `tb-echo` (every message is a 4-byte big-endian length followed by that
//! many bytes; the client sends `client ID msg K` for K = 1..=COUNT and checks each echo). The
//! server accepts CLIENTS connections; for each it `fork`s a child process that closes its copy of
//! the listening socket, echoes the connection's messages until the client closes it, and leaves
//! with `_exit` (status 0 on success, 1 on error). The parent closes its copy of the connection
//! right after the fork and accepts the next one. Before forking, the parent peeks (`recv` with
//! `MSG_PEEK`) for the first byte: a connection closed without a message (such as a readiness
//! probe) is closed and not counted, so COUNT must be at least 1. At the end the parent `waitpid`s
//! every child and exits 0 only if all of them exited 0. The client retries a refused connection up
//! to 50 times, 100 ms apart. Every blocking call has a timeout; any error ends the process with
//! exit status 1 and a message on stderr.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::process::exit;
use std::thread::sleep;
use std::time::Duration;

const PROG: &str = "tb-forking";
const USAGE: &str = "usage: tb-forking server PORT CLIENTS\n       tb-forking client PORT ID COUNT";
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
        ["client", port, id, count] => client(addr(port), id, parse_count(count)),
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
    let mut children = Vec::new();
    let mut errors = Vec::new();
    let mut empty = 0;
    while (children.len() as u64) < clients {
        let n = children.len() + 1;
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
        // Nothing buffered may be written twice, by the parent and by the child.
        let _ = io::stdout().flush();
        let _ = io::stderr().flush();
        // SAFETY: this process is single-threaded, so the child may run ordinary code; it
        // leaves with `_exit` and never returns into the parent's loop.
        match unsafe { libc::fork() } {
            -1 => {
                errors.push(format!(
                    "cannot fork for connection {n}: {}",
                    io::Error::last_os_error()
                ));
                break;
            }
            0 => child(&listener, stream, n, peer),
            pid => {
                drop(stream); // the parent's copy of the connection
                children.push((n, pid));
            }
        }
    }
    // Reap every child, even after an error.
    for (n, pid) in &children {
        if let Err(e) = reap(*pid) {
            errors.push(format!("child {pid} serving connection {n}: {e}"));
        }
    }
    combine(errors)?;
    println!(
        "{PROG} server: served {clients} connections from {} child processes on {addr} \
         ({empty} empty connections ignored)",
        children.len()
    );
    Ok(())
}

/// The forked child: serves one connection, then `_exit`s.
fn child(listener: &TcpListener, stream: TcpStream, n: usize, peer: SocketAddr) -> ! {
    // SAFETY: closes the child's copy of the listening socket; the child never uses it again
    // and leaves with `_exit`, so the `TcpListener` is never dropped here.
    unsafe { libc::close(listener.as_raw_fd()) };
    let outcome = std::panic::catch_unwind(move || serve(stream));
    let status = match outcome {
        Ok(Ok(_)) => 0,
        Ok(Err(e)) => {
            eprintln!("{PROG}: error: child for connection {n} ({peer}): {e}");
            1
        }
        Err(_) => 1,
    };
    let _ = io::stderr().flush();
    // SAFETY: ends the child without running the parent's exit handlers twice.
    unsafe { libc::_exit(status) }
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

/// Echoes every message on `stream` until EOF; returns the count.
fn serve(mut stream: TcpStream) -> Result<u64, String> {
    let mut messages = 0;
    while let Some(message) = read_message(&mut stream)? {
        write_message(&mut stream, &message).map_err(|e| format!("echoing: {}", timeout_msg(e)))?;
        messages += 1;
    }
    Ok(messages)
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

/// Waits for child `pid` and checks that it exited with status 0.
fn reap(pid: libc::pid_t) -> Result<(), String> {
    let mut status = 0;
    loop {
        // SAFETY: waits for our own child, writing its status into a local.
        let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
        if rc == pid {
            break;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(format!("waitpid failed: {e}"));
        }
    }
    if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
        Ok(())
    } else if libc::WIFEXITED(status) {
        Err(format!("exited with status {}", libc::WEXITSTATUS(status)))
    } else if libc::WIFSIGNALED(status) {
        Err(format!("killed by signal {}", libc::WTERMSIG(status)))
    } else {
        Err(format!("ended with wait status {status:#x}"))
    }
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
