//! The cluster file: the nodes of a system under test, how to start them, when they are ready,
//! how the run ends, how its outcome is checked, and which faults `bop explore` may inject.
//!
//! [`load`] reads a TOML cluster file (see `docs/cluster-file.md`); [`Cluster::from_commands`]
//! builds the same description from command-line `--node` options and [`Cluster::from_argv`]
//! from a single command. Errors name the file, line and column and say what to do.

mod cli;
mod diag;
mod file;
mod validate;

#[cfg(test)]
mod tests;

pub use file::{load, parse};

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A whole system under test.
#[derive(Debug, Clone, PartialEq)]
pub struct Cluster {
    /// The cluster file it came from, as given to [`load`] or [`parse`] (`None` when built
    /// from the command line).
    pub path: Option<PathBuf>,
    /// The directory relative paths are resolved against (the cluster file's directory, or
    /// the current directory).
    pub base_dir: PathBuf,
    /// The nodes, in start order.
    pub nodes: Vec<Node>,
    /// How the run as a whole is bounded.
    pub run: RunSpec,
    /// The optional oracle run after the system stops.
    pub check: Option<Check>,
    /// The `[explore]` table: the limits of `bop explore` fault campaigns.
    pub explore: ExploreSpec,
}

/// One named part of the system: a program started with its arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Unique name, used in traces, fault rules and log prefixes.
    pub name: String,
    /// The command as written.
    pub cmd: String,
    /// The command split like a shell would; `argv[0]` resolved to an existing executable.
    pub argv: Vec<String>,
    /// The resolved program to execute: an absolute path to an existing executable file.
    pub program: PathBuf,
    /// A daemon keeps running: it is stopped (SIGTERM, then SIGKILL after the grace period)
    /// once every non-daemon node has exited.
    pub daemon: bool,
    /// Whether `bop explore` may crash this node. Defaults to `daemon`: the daemons are the
    /// system and may be crashed; the non-daemon nodes are the oracle and are not.
    pub crashable: bool,
    /// Later nodes start only once this is ready.
    pub ready: Option<Ready>,
    /// Extra environment variables (added to bop's own environment).
    pub env: BTreeMap<String, String>,
    /// Working directory (absolute).
    pub cwd: PathBuf,
    /// How long to wait before starting this node (after the previous one is started/ready).
    pub delay: Duration,
    /// Run the node's processes as this user (`user = "nobody"`, or `[run] user`); `None`:
    /// as bop's own user. bop keeps its rights to trace them.
    pub user: Option<User>,
}

/// A user to run a node as, resolved from the password database when the file is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The name (or the number) as the cluster file gives it.
    pub name: String,
    /// Its uid.
    pub uid: u32,
    /// Its primary group.
    pub gid: u32,
}

/// When a node counts as ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ready {
    /// A TCP socket is listening on this address (`tcp:HOST:PORT`).
    Tcp(SocketAddr),
    /// A Unix stream socket is listening at this path (`unix:PATH`).
    Unix(PathBuf),
}

impl std::fmt::Display for Ready {
    /// As written in a cluster file: `tcp:127.0.0.1:7000`, `tcp:[::1]:7000`, `unix:/run/x.sock`
    /// (a relative path made absolute).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ready::Tcp(addr) => write!(f, "tcp:{addr}"),
            Ready::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// The `[run]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSpec {
    /// The whole run's limit; past it the verdict is "hang".
    pub timeout: Duration,
    /// Between SIGTERM and SIGKILL when stopping nodes.
    pub grace: Duration,
    /// How long to wait for a node's `ready` condition before failing the start.
    pub ready_timeout: Duration,
    /// A shell command (`sh -c`) run before every run, in the cluster file's directory, with
    /// `BOP_RUN_DIR` set: clears state a previous run left.
    pub setup: Option<String>,
    /// The user every node without a `user` of its own runs as.
    pub user: Option<User>,
}

impl Default for RunSpec {
    fn default() -> Self {
        RunSpec {
            timeout: Duration::from_secs(60),
            grace: Duration::from_secs(3),
            ready_timeout: Duration::from_secs(30),
            setup: None,
            user: None,
        }
    }
}

/// The `[explore]` table: what faults `bop explore` may inject, and its default limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExploreSpec {
    /// At most this many crash faults in one run of a campaign (0: no crashes).
    pub max_crashes: u32,
    /// Whether message omissions may be injected.
    pub omissions: bool,
    /// The default for `bop explore --max-faults`: at most this many faults in one run (≥ 1).
    pub max_faults: u32,
    /// The default for `bop explore --budget`: how many runs a campaign may make (≥ 1), if
    /// the file sets one.
    pub runs: Option<u32>,
}

impl Default for ExploreSpec {
    fn default() -> Self {
        ExploreSpec {
            max_crashes: 1,
            omissions: true,
            max_faults: 2,
            runs: None,
        }
    }
}

/// The `[check]` table: an oracle command; exit 0 means the run passed.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// The command as written.
    pub cmd: String,
    /// Split like a shell would.
    pub argv: Vec<String>,
    /// The resolved program: an absolute path to an existing executable file.
    pub program: PathBuf,
    /// Working directory (absolute).
    pub cwd: PathBuf,
    /// Limit for the check itself.
    pub timeout: Duration,
}

/// Why a cluster description could not be loaded; its `Display` says where and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The full, user-facing message (`cluster.toml:3:7: …`).
    pub message: String,
}

impl ConfigError {
    /// An error with this complete message.
    pub(crate) fn new(message: String) -> Self {
        ConfigError { message }
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}
