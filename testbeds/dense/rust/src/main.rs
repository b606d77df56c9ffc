//! `tb-dense-rs`: the dense key-value testbed in Rust (the protocol and the command line are
//! specified in `testbeds/dense/README.md`).
//!
//! ```text
//! tb-dense-rs server PORT CONNS [--nagle on|off] [--mode blocking|nonblocking]
//! tb-dense-rs client PORT --conns N --rounds R --size MIN-MAX [--pipeline] [--nagle on|off]
//!                         [--mode blocking|nonblocking] [--seed S]
//! ```
//!
//! - `--mode nonblocking` (the default): tokio's multi-thread runtime with 4 worker threads; the
//!   server spawns one task per connection (tasks migrate between the workers), the client one
//!   task per connection.
//! - `--mode blocking`: `std::net` with blocking sockets and one thread per connection, on both
//!   sides.
//!
//! Either way the main thread only waits: every connection handler reports its end over a
//! channel, and the main thread exits once all of them have ended, or at the first error, or
//! when the server has been idle for 30 s / the client's run has taken 60 s.
//!
//! Every request and every reply is written with one `write_all` of a buffer holding all of it;
//! with `--pipeline` the client's SET and GET share one `write_all`. `--nagle off` (the default)
//! sets `TCP_NODELAY` on every socket, `--nagle on` clears it. Values come from a xorshift PRNG
//! seeded with `S + connection index`. Errors print `tb-dense: error: …` and exit 1; usage errors
//! exit 2.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::exit;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

const USAGE: &str = "usage:
  tb-dense-rs server PORT CONNS [--nagle on|off] [--mode blocking|nonblocking]
  tb-dense-rs client PORT --conns N --rounds R --size MIN-MAX [--pipeline] [--nagle on|off]
                          [--mode blocking|nonblocking] [--seed S]";

/// The server exits 1 after this long without a new byte or connection.
const SERVER_IDLE: Duration = Duration::from_secs(30);
/// The client's whole run must finish within this.
const CLIENT_LIMIT: Duration = Duration::from_secs(60);
/// A refused connection is retried this many times, `CONNECT_PAUSE` apart.
const CONNECT_RETRIES: u32 = 50;
const CONNECT_PAUSE: Duration = Duration::from_millis(100);
const MAX_VALUE: usize = 65536;
/// The longest request or reply line (`SET c63k7 65536\n` is far shorter).
const MAX_LINE: u64 = 128;
/// The read buffer of every connection.
const READ_BUF: usize = 64 * 1024;
const WORKERS: usize = 4;

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Blocking,
    Nonblocking,
}

struct ServerArgs {
    port: u16,
    conns: usize,
    nodelay: bool,
    mode: Mode,
}

#[derive(Clone, Copy)]
struct ClientArgs {
    port: u16,
    conns: usize,
    rounds: u64,
    min: usize,
    max: usize,
    pipeline: bool,
    nodelay: bool,
    mode: Mode,
    seed: u64,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("server") => run_server(parse_server(&args[1..]).unwrap_or_else(|e| usage(&e))),
        Some("client") => run_client(parse_client(&args[1..]).unwrap_or_else(|e| usage(&e))),
        _ => usage("expected `server` or `client`"),
    };
    match result {
        Ok(()) => exit(0),
        Err(e) => {
            eprintln!("tb-dense: error: {e}");
            exit(1)
        }
    }
}

fn usage(problem: &str) -> ! {
    eprintln!("tb-dense: {problem}\n{USAGE}");
    exit(2)
}

// ---------------------------------------------------------------------------------------------
// Command line

/// Splits `args` into positional arguments and `--flag value` / `--switch` options.
fn split_args(
    args: &[String],
    valued: &[&str],
    switches: &[&str],
) -> Result<(Vec<String>, HashMap<String, String>), String> {
    let (mut positional, mut options) = (Vec::new(), HashMap::new());
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if valued.contains(&arg.as_str()) {
            let value = it.next().ok_or(format!("{arg} needs a value"))?;
            options.insert(arg.clone(), value.clone());
        } else if switches.contains(&arg.as_str()) {
            options.insert(arg.clone(), String::new());
        } else if arg.starts_with("--") {
            return Err(format!("unknown option {arg}"));
        } else {
            positional.push(arg.clone());
        }
    }
    Ok((positional, options))
}

fn number<T: std::str::FromStr>(what: &str, text: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("{what}: not a number: {text:?}"))
}

fn common(options: &HashMap<String, String>) -> Result<(bool, Mode), String> {
    let nodelay = match options.get("--nagle").map(String::as_str) {
        None | Some("off") => true,
        Some("on") => false,
        Some(other) => return Err(format!("--nagle takes on or off, not {other:?}")),
    };
    let mode = match options.get("--mode").map(String::as_str) {
        None | Some("nonblocking") => Mode::Nonblocking,
        Some("blocking") => Mode::Blocking,
        Some(other) => {
            return Err(format!(
                "--mode takes blocking or nonblocking, not {other:?}"
            ));
        }
    };
    Ok((nodelay, mode))
}

fn parse_server(args: &[String]) -> Result<ServerArgs, String> {
    let (pos, options) = split_args(args, &["--nagle", "--mode"], &[])?;
    let [port, conns] = pos.as_slice() else {
        return Err("server takes PORT CONNS".into());
    };
    let (nodelay, mode) = common(&options)?;
    let conns = number("CONNS", conns)?;
    if conns == 0 {
        return Err("CONNS must be at least 1".into());
    }
    Ok(ServerArgs {
        port: number("PORT", port)?,
        conns,
        nodelay,
        mode,
    })
}

fn parse_client(args: &[String]) -> Result<ClientArgs, String> {
    let valued = [
        "--conns", "--rounds", "--size", "--nagle", "--mode", "--seed",
    ];
    let (pos, options) = split_args(args, &valued, &["--pipeline"])?;
    let [port] = pos.as_slice() else {
        return Err("client takes one PORT".into());
    };
    let (nodelay, mode) = common(&options)?;
    let required = |flag: &str| options.get(flag).ok_or(format!("client needs {flag}"));
    let conns: usize = number("--conns", required("--conns")?)?;
    let rounds: u64 = number("--rounds", required("--rounds")?)?;
    if conns == 0 || rounds == 0 {
        return Err("--conns and --rounds must be at least 1".into());
    }
    let size = required("--size")?;
    let (min, max) = size
        .split_once('-')
        .ok_or(format!("--size takes MIN-MAX, not {size:?}"))?;
    let (min, max): (usize, usize) = (number("--size", min)?, number("--size", max)?);
    if !(1 <= min && min <= max && max <= MAX_VALUE) {
        return Err(format!("--size needs 1 <= MIN <= MAX <= {MAX_VALUE}"));
    }
    let seed = options
        .get("--seed")
        .map_or(Ok(1), |s| number("--seed", s))?;
    let port = number("PORT", port)?;
    Ok(ClientArgs {
        port,
        conns,
        rounds,
        min,
        max,
        pipeline: options.contains_key("--pipeline"),
        nodelay,
        mode,
        seed,
    })
}

fn address(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the tokio runtime: {e}"))
}

// ---------------------------------------------------------------------------------------------
// Server

/// The map shared by all connections.
type Store = Arc<Mutex<HashMap<String, Vec<u8>>>>;

enum Request {
    Set { key: String, len: usize },
    Get { key: String },
}

/// Parses a request line (with its `\n`).
fn parse_request(line: &[u8]) -> Result<Request, String> {
    let bad = || format!("bad request line {:?}", String::from_utf8_lossy(line));
    let text = std::str::from_utf8(line).map_err(|_| bad())?;
    let words: Vec<&str> = text
        .strip_suffix('\n')
        .ok_or_else(bad)?
        .split(' ')
        .collect();
    match words.as_slice() {
        ["SET", key, len] => match len.parse() {
            Ok(len) if len <= MAX_VALUE => Ok(Request::Set {
                key: key.to_string(),
                len,
            }),
            _ => Err(bad()),
        },
        ["GET", key] => Ok(Request::Get {
            key: key.to_string(),
        }),
        _ => Err(bad()),
    }
}

/// Stores a SET's value (read with its trailing `\n`, which is checked and dropped).
fn store_value(store: &Store, key: String, mut value: Vec<u8>) -> Result<(), String> {
    if value.pop() != Some(b'\n') {
        return Err(format!(
            "the value of SET {key} does not end with a newline"
        ));
    }
    store
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, value);
    Ok(())
}

/// The whole reply to `GET key`, to be written at once.
fn get_reply(store: &Store, key: &str) -> Vec<u8> {
    let map = store.lock().unwrap_or_else(|e| e.into_inner());
    match map.get(key) {
        None => b"NONE\n".to_vec(),
        Some(value) => {
            let mut reply = format!("VALUE {}\n", value.len()).into_bytes();
            reply.extend_from_slice(value);
            reply.push(b'\n');
            reply
        }
    }
}

/// When the server last saw a new byte or connection, in ms since `START`.
static START: OnceLock<Instant> = OnceLock::new();
static LAST_ACTIVITY_MS: AtomicU64 = AtomicU64::new(0);

fn elapsed_ms() -> u64 {
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

fn touch() {
    LAST_ACTIVITY_MS.store(elapsed_ms(), Ordering::Relaxed);
}

/// What a connection handler reports when it ends: Ok(true) for a served connection, Ok(false)
/// for one closed before it sent anything (a readiness probe), or the error that ended it.
type Ended = Result<bool, String>;

fn run_server(args: ServerArgs) -> Result<(), String> {
    touch();
    let (tx, rx) = mpsc::channel::<Ended>();
    let store = Store::default();
    let addr = address(args.port);
    let nodelay = args.nodelay;
    let _runtime = match args.mode {
        Mode::Blocking => {
            let listener = TcpListener::bind(addr).map_err(|e| format!("bind {addr}: {e}"))?;
            thread::spawn(move || loop {
                match listener.accept() {
                    Ok((sock, peer)) => {
                        touch();
                        let (tx, store) = (tx.clone(), store.clone());
                        thread::spawn(move || {
                            let ended = serve_blocking(sock, &store, nodelay);
                            let _ =
                                tx.send(ended.map_err(|e| format!("connection from {peer}: {e}")));
                        });
                    }
                    Err(e) => {
                        let _ = tx.send(Err(format!("accept: {e}")));
                        return;
                    }
                }
            });
            None
        }
        Mode::Nonblocking => {
            let rt = runtime()?;
            let listener = rt
                .block_on(tokio::net::TcpListener::bind(addr))
                .map_err(|e| format!("bind {addr}: {e}"))?;
            rt.spawn(async move {
                loop {
                    match listener.accept().await {
                        Ok((sock, peer)) => {
                            touch();
                            let (tx, store) = (tx.clone(), store.clone());
                            tokio::spawn(async move {
                                let ended = serve_async(sock, &store, nodelay).await;
                                let _ = tx.send(
                                    ended.map_err(|e| format!("connection from {peer}: {e}")),
                                );
                            });
                        }
                        Err(e) => {
                            let _ = tx.send(Err(format!("accept: {e}")));
                            return;
                        }
                    }
                }
            });
            Some(rt)
        }
    };
    wait_for_server(&rx, args.conns)
}

/// Waits until `conns` connections have been served, an error is reported, or the server has
/// been idle for `SERVER_IDLE`.
fn wait_for_server(rx: &Receiver<Ended>, conns: usize) -> Result<(), String> {
    let mut served = 0;
    while served < conns {
        match rx.recv_timeout(Duration::from_millis(500)) {
            Ok(Ok(counted)) => served += usize::from(counted),
            Ok(Err(e)) => return Err(e),
            Err(RecvTimeoutError::Timeout) => {
                let idle = elapsed_ms().saturating_sub(LAST_ACTIVITY_MS.load(Ordering::Relaxed));
                if idle >= SERVER_IDLE.as_millis() as u64 {
                    return Err(format!(
                        "no new byte or connection for {} s ({served} of {conns} connections served)",
                        SERVER_IDLE.as_secs()
                    ));
                }
            }
            Err(RecvTimeoutError::Disconnected) => return Err("the acceptor ended".into()),
        }
    }
    Ok(())
}

/// Checks a line read by `read_until`: `None` at a clean end of stream, an error for a line cut
/// short by the end of the stream or by `MAX_LINE`.
fn whole_line(line: &[u8]) -> Result<Option<&[u8]>, String> {
    match line.last() {
        None => Ok(None),
        Some(b'\n') => Ok(Some(line)),
        Some(_) if line.len() as u64 >= MAX_LINE => {
            Err(format!("line longer than {MAX_LINE} bytes"))
        }
        Some(_) => Err("connection closed in the middle of a line".into()),
    }
}

fn serve_blocking(sock: TcpStream, store: &Store, nodelay: bool) -> Ended {
    let io = |what: &'static str| move |e: io::Error| format!("{what}: {e}");
    sock.set_nodelay(nodelay).map_err(io("set TCP_NODELAY"))?;
    let mut conn = BufReader::with_capacity(READ_BUF, sock);
    let mut line = Vec::new();
    let mut counted = false;
    loop {
        line.clear();
        (&mut conn)
            .take(MAX_LINE)
            .read_until(b'\n', &mut line)
            .map_err(io("read"))?;
        touch();
        let Some(line) = whole_line(&line)? else {
            return Ok(counted);
        };
        counted = true;
        let reply = match parse_request(line)? {
            Request::Set { key, len } => {
                let mut value = vec![0; len + 1];
                conn.read_exact(&mut value).map_err(io("read a value"))?;
                touch();
                store_value(store, key, value)?;
                b"OK\n".to_vec()
            }
            Request::Get { key } => get_reply(store, &key),
        };
        conn.get_mut().write_all(&reply).map_err(io("write"))?;
    }
}

async fn serve_async(sock: tokio::net::TcpStream, store: &Store, nodelay: bool) -> Ended {
    let io = |what: &'static str| move |e: io::Error| format!("{what}: {e}");
    sock.set_nodelay(nodelay).map_err(io("set TCP_NODELAY"))?;
    let mut conn = tokio::io::BufReader::with_capacity(READ_BUF, sock);
    let mut line = Vec::new();
    let mut counted = false;
    loop {
        line.clear();
        (&mut conn)
            .take(MAX_LINE)
            .read_until(b'\n', &mut line)
            .await
            .map_err(io("read"))?;
        touch();
        let Some(line) = whole_line(&line)? else {
            return Ok(counted);
        };
        counted = true;
        let reply = match parse_request(line)? {
            Request::Set { key, len } => {
                let mut value = vec![0; len + 1];
                conn.read_exact(&mut value)
                    .await
                    .map_err(io("read a value"))?;
                touch();
                store_value(store, key, value)?;
                b"OK\n".to_vec()
            }
            Request::Get { key } => get_reply(store, &key),
        };
        conn.get_mut()
            .write_all(&reply)
            .await
            .map_err(io("write"))?;
    }
}

// ---------------------------------------------------------------------------------------------
// Client

/// xorshift64, seeded through splitmix64 so that nearby seeds give unrelated streams.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)).max(1))
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in [min, max] (the modulo bias is below 2^-47 for max - min < 65536).
    fn between(&mut self, min: usize, max: usize) -> usize {
        min + (self.next() % (max - min + 1) as u64) as usize
    }
}

/// One round of one connection: its two requests and the value the GET must return.
struct Round {
    /// `<key> (round <r>)`, for error messages.
    what: String,
    set: Vec<u8>,
    get: Vec<u8>,
    value: Vec<u8>,
}

impl Round {
    fn new(conn: usize, round: u64, len: usize) -> Round {
        let key = format!("c{conn}k{}", round % 8);
        let unit = format!("c{conn}r{round}.");
        let value: Vec<u8> = unit.bytes().cycle().take(len).collect();
        let mut set = format!("SET {key} {len}\n").into_bytes();
        set.extend_from_slice(&value);
        set.push(b'\n');
        let get = format!("GET {key}\n").into_bytes();
        let what = format!("{key} (round {round})");
        Round {
            what,
            set,
            get,
            value,
        }
    }

    /// Checks the reply to the SET.
    fn check_ok(&self, line: &[u8]) -> Result<(), String> {
        if line != b"OK\n" {
            let got = String::from_utf8_lossy(line);
            return Err(format!(
                "SET {}: expected \"OK\\n\", got {got:?}",
                self.what
            ));
        }
        Ok(())
    }

    /// Checks the `VALUE <len>\n` line of the GET reply.
    fn check_header(&self, line: &[u8]) -> Result<(), String> {
        let want = format!("VALUE {}\n", self.value.len());
        if line != want.as_bytes() {
            let got = String::from_utf8_lossy(line);
            return Err(format!("GET {}: expected {want:?}, got {got:?}", self.what));
        }
        Ok(())
    }

    /// Checks the GET reply's value (read with its trailing `\n`).
    fn check_value(&self, body: &[u8]) -> Result<(), String> {
        let (value, end) = body.split_at(body.len() - 1);
        if end != b"\n" {
            return Err(format!(
                "GET {}: the value does not end with a newline",
                self.what
            ));
        }
        if let Some(at) = value.iter().zip(&self.value).position(|(a, b)| a != b) {
            let got = String::from_utf8_lossy(&value[at..value.len().min(at + 24)]);
            return Err(format!(
                "GET {}: wrong value from byte {at} on: {got:?}",
                self.what
            ));
        }
        Ok(())
    }
}

/// Bytes sent and received by one connection.
type Counts = (u64, u64);

fn run_client(args: ClientArgs) -> Result<(), String> {
    let start = Instant::now();
    let (tx, rx) = mpsc::channel::<Result<Counts, String>>();
    let _runtime = match args.mode {
        Mode::Blocking => {
            for conn in 0..args.conns {
                let tx = tx.clone();
                thread::spawn(move || {
                    let result = client_blocking(&args, conn);
                    let _ = tx.send(result.map_err(|e| format!("connection {conn}: {e}")));
                });
            }
            None
        }
        Mode::Nonblocking => {
            let rt = runtime()?;
            for conn in 0..args.conns {
                let tx = tx.clone();
                rt.spawn(async move {
                    let result = client_async(&args, conn).await;
                    let _ = tx.send(result.map_err(|e| format!("connection {conn}: {e}")));
                });
            }
            Some(rt)
        }
    };
    let (mut sent, mut received) = (0, 0);
    for _ in 0..args.conns {
        let left = CLIENT_LIMIT.saturating_sub(start.elapsed());
        match rx.recv_timeout(left) {
            Ok(Ok((s, r))) => (sent, received) = (sent + s, received + r),
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(format!(
                    "the run did not finish within {} s",
                    CLIENT_LIMIT.as_secs()
                ))
            }
        }
    }
    println!(
        "ok conns={} rounds={} sent={sent} received={received}",
        args.conns, args.rounds
    );
    Ok(())
}

fn client_blocking(args: &ClientArgs, conn: usize) -> Result<Counts, String> {
    let io = |what: &'static str| move |e: io::Error| format!("{what}: {e}");
    let addr = address(args.port);
    let mut retries = 0;
    let sock = loop {
        match TcpStream::connect(addr) {
            Ok(sock) => break sock,
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused && retries < CONNECT_RETRIES => {
                retries += 1;
                thread::sleep(CONNECT_PAUSE);
            }
            Err(e) => return Err(format!("connect {addr}: {e}")),
        }
    };
    sock.set_nodelay(args.nodelay)
        .map_err(io("set TCP_NODELAY"))?;
    let mut conn_io = BufReader::with_capacity(READ_BUF, sock);
    let mut rng = Rng::new(args.seed.wrapping_add(conn as u64));
    let (mut sent, mut received) = (0, 0);
    let mut line = Vec::new();
    for r in 0..args.rounds {
        let round = Round::new(conn, r, rng.between(args.min, args.max));
        if args.pipeline {
            let both = [round.set.as_slice(), round.get.as_slice()].concat();
            conn_io.get_mut().write_all(&both).map_err(io("write"))?;
        } else {
            conn_io
                .get_mut()
                .write_all(&round.set)
                .map_err(io("write"))?;
        }
        line.clear();
        (&mut conn_io)
            .take(MAX_LINE)
            .read_until(b'\n', &mut line)
            .map_err(io("read"))?;
        received += line.len() as u64;
        round.check_ok(whole_line(&line)?.ok_or("the server closed the connection")?)?;
        if !args.pipeline {
            conn_io
                .get_mut()
                .write_all(&round.get)
                .map_err(io("write"))?;
        }
        line.clear();
        (&mut conn_io)
            .take(MAX_LINE)
            .read_until(b'\n', &mut line)
            .map_err(io("read"))?;
        received += line.len() as u64;
        round.check_header(whole_line(&line)?.ok_or("the server closed the connection")?)?;
        let mut body = vec![0; round.value.len() + 1];
        conn_io.read_exact(&mut body).map_err(io("read a value"))?;
        received += body.len() as u64;
        round.check_value(&body)?;
        sent += (round.set.len() + round.get.len()) as u64;
    }
    Ok((sent, received))
}

async fn client_async(args: &ClientArgs, conn: usize) -> Result<Counts, String> {
    let io = |what: &'static str| move |e: io::Error| format!("{what}: {e}");
    let addr = address(args.port);
    let mut retries = 0;
    let sock = loop {
        match tokio::net::TcpStream::connect(addr).await {
            Ok(sock) => break sock,
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused && retries < CONNECT_RETRIES => {
                retries += 1;
                tokio::time::sleep(CONNECT_PAUSE).await;
            }
            Err(e) => return Err(format!("connect {addr}: {e}")),
        }
    };
    sock.set_nodelay(args.nodelay)
        .map_err(io("set TCP_NODELAY"))?;
    let mut conn_io = tokio::io::BufReader::with_capacity(READ_BUF, sock);
    let mut rng = Rng::new(args.seed.wrapping_add(conn as u64));
    let (mut sent, mut received) = (0, 0);
    let mut line = Vec::new();
    for r in 0..args.rounds {
        let round = Round::new(conn, r, rng.between(args.min, args.max));
        if args.pipeline {
            let both = [round.set.as_slice(), round.get.as_slice()].concat();
            conn_io
                .get_mut()
                .write_all(&both)
                .await
                .map_err(io("write"))?;
        } else {
            conn_io
                .get_mut()
                .write_all(&round.set)
                .await
                .map_err(io("write"))?;
        }
        line.clear();
        (&mut conn_io)
            .take(MAX_LINE)
            .read_until(b'\n', &mut line)
            .await
            .map_err(io("read"))?;
        received += line.len() as u64;
        round.check_ok(whole_line(&line)?.ok_or("the server closed the connection")?)?;
        if !args.pipeline {
            conn_io
                .get_mut()
                .write_all(&round.get)
                .await
                .map_err(io("write"))?;
        }
        line.clear();
        (&mut conn_io)
            .take(MAX_LINE)
            .read_until(b'\n', &mut line)
            .await
            .map_err(io("read"))?;
        received += line.len() as u64;
        round.check_header(whole_line(&line)?.ok_or("the server closed the connection")?)?;
        let mut body = vec![0; round.value.len() + 1];
        conn_io
            .read_exact(&mut body)
            .await
            .map_err(io("read a value"))?;
        received += body.len() as u64;
        round.check_value(&body)?;
        sent += (round.set.len() + round.get.len()) as u64;
    }
    Ok((sent, received))
}
