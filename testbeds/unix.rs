//! `tb-unix`: a Unix-domain stream and datagram server and client.
//!
//! Usage:
//!
//! ```text
//! tb-unix server PATH CLIENTS    # serve CLIENTS clients at PATH and PATH.dgram, then exit
//! tb-unix client PATH COUNT      # send COUNT lines to PATH, then one datagram to PATH.dgram
//! ```
//!
//! Protocol: the server removes stale files at PATH and PATH.dgram, binds a datagram socket at
//! PATH.dgram and a listening stream socket at PATH. It serves CLIENTS clients one after another:
//! it accepts a stream connection, answers every line (`\n`-terminated) with the same line in upper
//! case until the client closes the connection, then receives one datagram and sends it back in
//! upper case to the sender's address. A connection closed without a line (such as a readiness
//! probe) is not counted and gets no datagram turn, so COUNT must be at least 1. The client
//! connects to PATH (retrying up to 50 times, 100 ms apart, while PATH is missing or refuses),
//! sends `line K` for K = 1..=COUNT and checks each reply (`LINE K`), closes the connection, then
//! binds its own datagram socket at PATH.client.<pid>, sends `datagram from client` to PATH.dgram
//! and checks the answer `DATAGRAM FROM CLIENT`. Both sides remove the socket files they created
//! when they exit. Every blocking call has a timeout; any error ends the process with exit status 1
//! and a message on stderr.

use std::io::{self, BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::exit;
use std::thread::sleep;
use std::time::Duration;

const PROG: &str = "tb-unix";
const USAGE: &str = "usage: tb-unix server PATH CLIENTS\n       tb-unix client PATH COUNT";
/// How long the server waits for the next connection.
const ACCEPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Limit on every other read and write.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// A missing or refusing server is retried this many times, `CONNECT_PAUSE` apart.
const CONNECT_TRIES: u32 = 50;
const CONNECT_PAUSE: Duration = Duration::from_millis(100);
/// Connections closed without a line (readiness probes) are ignored, up to this many.
const MAX_EMPTY: u64 = 100;
const DATAGRAM: &str = "datagram from client";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["server", path, clients] => {
            let path = PathBuf::from(path);
            let dgram = suffixed(&path, ".dgram");
            let result = server(&path, &dgram, number(clients, "CLIENTS"));
            remove(&path);
            remove(&dgram);
            result
        }
        ["client", path, count] => {
            let path = PathBuf::from(path);
            let own = suffixed(&path, &format!(".client.{}", std::process::id()));
            let result = client(&path, &own, parse_count(count));
            remove(&own);
            result
        }
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

fn server(path: &Path, dgram_path: &Path, clients: u64) -> Result<(), String> {
    remove(path);
    remove(dgram_path);
    // The datagram socket first, so that it exists once the stream socket is seen listening.
    let dgram = UnixDatagram::bind(dgram_path)
        .map_err(|e| format!("cannot bind {}: {e}", dgram_path.display()))?;
    dgram
        .set_read_timeout(Some(IO_TIMEOUT))
        .and_then(|()| dgram.set_write_timeout(Some(IO_TIMEOUT)))
        .map_err(|e| format!("cannot set socket timeouts: {e}"))?;
    let listener = UnixListener::bind(path)
        .map_err(|e| format!("cannot listen at {}: {e}", path.display()))?;
    set_accept_timeout(&listener, ACCEPT_TIMEOUT)
        .map_err(|e| format!("cannot set the accept timeout: {e}"))?;
    let (mut served, mut empty, mut lines) = (0, 0, 0);
    let mut buf = [0u8; 2048];
    while served < clients {
        let n = served + 1;
        let (stream, _) = listener.accept().map_err(|e| {
            format!(
                "accepting connection {n} of {clients} at {}: {}",
                path.display(),
                timeout_msg(e)
            )
        })?;
        set_io_timeouts(&stream)?;
        let mut writer = stream
            .try_clone()
            .map_err(|e| format!("cannot clone the connection: {e}"))?;
        let mut reader = BufReader::new(stream);
        let mut received = 0;
        loop {
            let mut line = String::new();
            let got = reader
                .read_line(&mut line)
                .map_err(|e| format!("reading from client {n}: {}", timeout_msg(e)))?;
            if got == 0 {
                break;
            }
            let mut reply = line.trim_end_matches('\n').to_uppercase();
            reply.push('\n');
            writer
                .write_all(reply.as_bytes())
                .map_err(|e| format!("replying to client {n}: {}", timeout_msg(e)))?;
            received += 1;
        }
        if received == 0 {
            // Closed without a line, like a readiness probe: not a client, no datagram.
            empty += 1;
            if empty > MAX_EMPTY {
                return Err(format!("more than {MAX_EMPTY} empty connections"));
            }
            continue;
        }
        served += 1;
        lines += received;
        let (len, from) = retry(|| dgram.recv_from(&mut buf)).map_err(|e| {
            format!(
                "waiting for the datagram of client {n} at {}: {}",
                dgram_path.display(),
                timeout_msg(e)
            )
        })?;
        let from = from
            .as_pathname()
            .ok_or("a datagram came from an unbound socket: cannot answer it")?;
        let answer = buf[..len].to_ascii_uppercase();
        retry(|| dgram.send_to(&answer, from))
            .map_err(|e| format!("answering the datagram to {}: {e}", from.display()))?;
    }
    println!(
        "{PROG} server: served {clients} clients, {lines} lines, {clients} datagrams at {} \
         ({empty} empty connections ignored)",
        path.display()
    );
    Ok(())
}

fn client(path: &Path, own: &Path, count: u64) -> Result<(), String> {
    let stream = connect(path)?;
    set_io_timeouts(&stream)?;
    let mut writer = stream
        .try_clone()
        .map_err(|e| format!("cannot clone the connection: {e}"))?;
    let mut reader = BufReader::new(stream);
    for k in 1..=count {
        writer
            .write_all(format!("line {k}\n").as_bytes())
            .map_err(|e| format!("sending line {k}: {}", timeout_msg(e)))?;
        let mut reply = String::new();
        reader
            .read_line(&mut reply)
            .map_err(|e| format!("reading the reply to line {k}: {}", timeout_msg(e)))?;
        let expected = format!("LINE {k}\n");
        if reply != expected {
            return Err(format!(
                "reply to line {k} is {reply:?}, expected {expected:?}"
            ));
        }
    }
    drop(writer);
    drop(reader);

    let dgram_path = suffixed(path, ".dgram");
    remove(own);
    let dgram =
        UnixDatagram::bind(own).map_err(|e| format!("cannot bind {}: {e}", own.display()))?;
    dgram
        .set_read_timeout(Some(IO_TIMEOUT))
        .and_then(|()| dgram.set_write_timeout(Some(IO_TIMEOUT)))
        .map_err(|e| format!("cannot set socket timeouts: {e}"))?;
    retry(|| dgram.send_to(DATAGRAM.as_bytes(), &dgram_path))
        .map_err(|e| format!("sending a datagram to {}: {e}", dgram_path.display()))?;
    let mut buf = [0u8; 2048];
    let (len, _) = retry(|| dgram.recv_from(&mut buf)).map_err(|e| {
        format!(
            "waiting for the answer from {}: {}",
            dgram_path.display(),
            timeout_msg(e)
        )
    })?;
    let expected = DATAGRAM.to_uppercase();
    if &buf[..len] != expected.as_bytes() {
        return Err(format!(
            "datagram answer is {:?}, expected {expected:?}",
            String::from_utf8_lossy(&buf[..len])
        ));
    }
    println!(
        "{PROG} client: {count} lines and 1 datagram answered at {}",
        path.display()
    );
    Ok(())
}

/// Connects to `path`, retrying while it does not exist or refuses connections.
fn connect(path: &Path) -> Result<UnixStream, String> {
    let mut tries = 0;
    loop {
        tries += 1;
        match UnixStream::connect(path) {
            Ok(stream) => return Ok(stream),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
                ) && tries < CONNECT_TRIES =>
            {
                sleep(CONNECT_PAUSE)
            }
            Err(e) => {
                return Err(format!(
                    "cannot connect to {} ({tries} tries): {e}",
                    path.display()
                ))
            }
        }
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

fn set_io_timeouts(stream: &UnixStream) -> Result<(), String> {
    stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(IO_TIMEOUT)))
        .map_err(|e| format!("cannot set socket timeouts: {e}"))
}

/// Bounds `accept` on `listener`: Linux applies `SO_RCVTIMEO` of a listening socket to accept.
fn set_accept_timeout(listener: &UnixListener, timeout: Duration) -> io::Result<()> {
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

/// `path` with `suffix` appended to its last component.
fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Removes a file if it exists; other errors show up when the path is bound.
fn remove(path: &Path) {
    let _ = std::fs::remove_file(path);
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
