//! The harness every system test (`tests/system_*.rs`) shares: one `bop run` of a system of
//! `systems/` with a time limit, its trace and `bop stats --json` read back, its logs for
//! assertion messages, and the queries the tests make of a run.

#![allow(dead_code)] // each test binary uses what it needs

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bop_syscalls::SockAddr;
use bop_trace::{Event, Trace};

/// One system of `systems/`.
pub struct System {
    /// Its directory's name: `redis`, `zookeeper`, ...
    pub name: &'static str,
    /// No run of it may take longer.
    pub run_limit: Duration,
    /// The TCP ports on 127.0.0.1 its cluster file uses.
    pub ports: &'static [u16],
}

impl System {
    /// `systems/NAME`.
    pub fn dir(&self) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../systems")
            .join(self.name)
    }

    /// Fails with a clear message if something else listens on one of the system's ports.
    pub fn assert_ports_free(&self) {
        for &p in self.ports {
            if let Err(e) = TcpListener::bind(("127.0.0.1", p)) {
                panic!(
                    "port 127.0.0.1:{p} is in use ({e}): the {} system needs {:?}; is a server \
                     left over from another run?",
                    self.name, self.ports
                );
            }
        }
    }

    /// `bop run systems/NAME/cluster.toml --trace DIR/LABEL.jsonl -q [extra]`, then reads the
    /// trace and `bop stats --json`.
    pub fn run(&self, dir: &Path, label: &str, extra: &[&str]) -> SystemRun {
        let cluster = self.dir().join("cluster.toml");
        let trace_path = dir.join(format!("{label}.jsonl"));
        let out_path = dir.join(format!("{label}.bop-output"));
        let out = std::fs::File::create(&out_path).expect("create output file");
        let started = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_bop"))
            .arg("run")
            .arg(&cluster)
            .arg("--trace")
            .arg(&trace_path)
            .arg("-q")
            .args(extra)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup output file"))
            .stderr(out)
            .spawn()
            .expect("start bop");
        let status = loop {
            if let Some(st) = child.try_wait().expect("try_wait") {
                break st;
            }
            if started.elapsed() > self.run_limit {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{label}: bop did not finish within {:?}\n{}",
                    self.run_limit,
                    std::fs::read_to_string(&out_path).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let took = started.elapsed();
        let output = std::fs::read_to_string(&out_path).unwrap_or_default();
        let trace = bop_trace::read_file(&trace_path)
            .unwrap_or_else(|e| panic!("{label}: cannot read the trace: {e}\n{output}"));
        let st = Command::new(env!("CARGO_BIN_EXE_bop"))
            .arg("stats")
            .arg(&trace_path)
            .arg("--json")
            .output()
            .expect("run bop stats");
        assert_eq!(
            st.status.code(),
            Some(0),
            "{label}: bop stats failed: {}",
            String::from_utf8_lossy(&st.stderr)
        );
        let stats: serde_json::Value = serde_json::from_slice(&st.stdout)
            .unwrap_or_else(|e| panic!("{label}: bop stats --json printed no JSON: {e}"));
        SystemRun {
            label: label.into(),
            code: status.code(),
            output,
            trace_path,
            trace,
            stats,
            took,
        }
    }
}

/// Whether `prog` is an executable file in a directory of PATH.
pub fn in_path(prog: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/bin:/usr/bin".into());
    std::env::split_paths(&path).any(|d| {
        std::fs::metadata(d.join(prog))
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    })
}

/// What one `bop run` did.
pub struct SystemRun {
    pub label: String,
    pub code: Option<i32>,
    pub output: String,
    pub trace_path: PathBuf,
    pub trace: Trace,
    pub stats: serde_json::Value,
    pub took: Duration,
}

impl SystemRun {
    /// bop's output and the nodes' logs, for assertion messages.
    pub fn diag(&self) -> String {
        let mut s = format!(
            "--- {}: bop exit {:?} ---\n{}\n",
            self.label, self.code, self.output
        );
        let dir = self.trace_path.parent().expect("trace dir");
        let stem = self
            .trace_path
            .file_stem()
            .expect("trace stem")
            .to_string_lossy()
            .into_owned();
        let mut logs: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        logs.retain(|p| {
            let n = p.file_name().unwrap_or_default().to_string_lossy();
            n.starts_with(&format!("{stem}.")) && (n.ends_with(".stdout") || n.ends_with(".stderr"))
        });
        logs.sort();
        for l in logs {
            let text = std::fs::read_to_string(&l).unwrap_or_default();
            if !text.is_empty() {
                // the servers' logs are long (and Java's stack traces longer): their ends are
                // what matters
                let lines: Vec<&str> = text.lines().collect();
                let tail = lines[lines.len().saturating_sub(40)..].join("\n");
                s += &format!("--- {} (last 40 lines) ---\n{tail}\n", l.display());
            }
        }
        s
    }

    pub fn node_events<'a>(&'a self, node: &'a str) -> impl Iterator<Item = &'a Event> + 'a {
        self.trace.events.iter().filter(move |e| e.node == node)
    }
}

pub fn id(e: &Event) -> u64 {
    e.id.expect("every event has an id")
}

pub fn inet(s: &str) -> SockAddr {
    SockAddr::Inet(s.parse().expect("socket address"))
}

/// An address as IPv4 when it is an IPv4-mapped IPv6 address (`[::ffff:127.0.0.1]:7641`, what
/// a Java socket on 127.0.0.1 reports without -Djava.net.preferIPv4Stack=true): the same
/// endpoint as `127.0.0.1:7641` for the kernel, so for the checks below too.
pub fn canonical(a: &SockAddr) -> SockAddr {
    match a {
        SockAddr::Inet(SocketAddr::V6(v6)) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SockAddr::Inet(SocketAddr::new(v4.into(), v6.port())),
            None => a.clone(),
        },
        _ => a.clone(),
    }
}

/// The successful or attempted `op` calls of `node` on a stream socket whose peer is `peer`.
pub fn calls_to<'a>(run: &'a SystemRun, node: &'a str, op: &'a str, peer: &str) -> Vec<&'a Event> {
    let peer = inet(peer);
    run.node_events(node)
        .filter(|e| {
            e.kind == "syscall"
                && e.op.as_deref() == Some(op)
                && e.sock.as_ref().is_some_and(|s| {
                    s.ty == "stream" && s.peer.as_ref().map(canonical).as_ref() == Some(&peer)
                })
        })
        .collect()
}

/// The sends of `node` on a stream socket whose peer is `peer`.
pub fn sends_to<'a>(run: &'a SystemRun, node: &'a str, peer: &str) -> Vec<&'a Event> {
    calls_to(run, node, "send", peer)
}

/// The connects of any node to `addr` (the connect's address, whether it succeeded at once,
/// is in progress or failed).
pub fn connects_to<'a>(run: &'a SystemRun, addr: &str) -> Vec<&'a Event> {
    let addr = inet(addr);
    run.trace
        .events
        .iter()
        .filter(|e| {
            e.kind == "syscall"
                && e.op.as_deref() == Some("connect")
                && e.addr.as_ref().map(canonical).as_ref() == Some(&addr)
        })
        .collect()
}

/// The `bop stats --json` pair `from -> to`: (connections, messages, bytes).
pub fn pair(run: &SystemRun, from: &str, to: &str) -> (u64, u64, u64) {
    run.stats["pairs"]
        .as_array()
        .expect("stats pairs")
        .iter()
        .find(|p| p["from"] == from && p["to"] == to)
        .map(|p| {
            (
                p["connections"].as_u64().unwrap_or(0),
                p["messages"].as_u64().unwrap_or(0),
                p["bytes"].as_u64().unwrap_or(0),
            )
        })
        .unwrap_or_default()
}
