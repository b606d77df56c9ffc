//! `bop explore`: fault campaigns. Runs the system fault-free, then under chosen sets of
//! faults, until its verdict fails (a bug) or no candidate is left within the fault bound (the
//! system is certified for it) or the budget is spent.
//!
//! Strategies:
//! - `ldfi`: lineage-driven fault injection (Alvaro et al., SIGMOD '15). The messages in the
//!   causal past of a passing run's outcome (and crash points of crashable nodes) are its
//!   *support*; the next candidate is a smallest set of faults that contains one fault of every
//!   support seen so far. A candidate run that still passes adds its own support (redundancy
//!   the system has) and the search goes on.
//! - `edges`: every single fault of the fault-free run's graph, then every pair, and so on.
//! - `random`: random sets of faults from that graph (the baseline).
//!
//! Every run is a `bop run` of the cluster file with `--fault` rules: what the campaign reports
//! is what a user gets by running the repro command.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bop_cluster::Cluster;
use bop_ptrace::{OnSignal, Waited};
use serde::{Deserialize, Serialize};

use crate::fingerprint::{abstract_run, first_difference, Level};
use crate::hitting::{candidates_left, next_hitting_set};
use crate::lineage::{Fault, Policy, Run};

/// Counting the candidates a spent budget left stops here.
const CANDIDATES_CAP: usize = 100_000;

/// How a campaign picks its fault sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Lineage-driven: cut every known support of the outcome (the default).
    Ldfi,
    /// Every fault of the graph alone, then pairs, …
    Edges,
    /// Random sets of faults (the baseline).
    Random,
}

/// What `bop explore` was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// The cluster file.
    pub cluster_path: PathBuf,
    /// At most this many runs (the fault-free one included; repro re-runs not).
    pub budget: u32,
    /// The strategy.
    pub strategy: Strategy,
    /// At most this many faults in one run.
    pub max_faults: usize,
    /// Where to write the JSON report.
    pub report: PathBuf,
    /// Where runs keep their traces and logs.
    pub out: PathBuf,
    /// Run only share `.0` of `.1` of the candidates.
    pub shard: Option<(u32, u32)>,
    /// The random strategy's seed.
    pub seed: u64,
    /// How often to re-run a bug to state its reproduction rate.
    pub repro: u32,
    /// Go on after the first bug.
    pub keep_going: bool,
}

/// One run of a campaign.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tried {
    /// The fault rules.
    pub faults: Vec<String>,
    /// `pass`, `fail`, `hang`.
    pub verdict: String,
    /// Why, when not `pass`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The run's trace.
    pub trace: String,
}

/// A bug: a fault set under which the verdict fails.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bug {
    /// The fault rules, as `bop run --fault` takes them.
    pub faults: Vec<String>,
    /// The verdict: `fail` or `hang`.
    pub verdict: String,
    /// Why (from the run's footer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Where the faulty run parted from the fault-free one, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parted: Option<String>,
    /// The last lines each node wrote (stdout and stderr).
    pub output: std::collections::BTreeMap<String, Vec<String>>,
    /// A shell command that runs it again.
    pub repro: String,
    /// Re-runs that failed again, of `repro_runs`.
    pub reproduced: u32,
    /// Re-runs made.
    pub repro_runs: u32,
    /// The faulty run's trace.
    pub trace: String,
}

/// The campaign's report (`--report FILE`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// The bop that ran it.
    pub bop_version: String,
    /// The cluster file.
    pub cluster: String,
    /// The strategy.
    pub strategy: Strategy,
    /// The fault bound.
    pub max_faults: usize,
    /// The run budget.
    pub budget: u32,
    /// `I/N` when this is one shard of a campaign.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// Runs made (the fault-free one included, repro re-runs not).
    pub runs: u32,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// The bugs found.
    pub bugs: Vec<Bug>,
    /// The fault bound the system is certified for (no candidate within it breaks the
    /// verdict), or null: a bug was found, or the budget ran out first.
    pub certified: Option<usize>,
    /// Why the campaign stopped, in words.
    pub stopped: String,
    /// The campaign was interrupted (SIGINT, SIGTERM, SIGHUP) before its end: the report holds
    /// the runs made until then.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
    /// Every run and its verdict.
    pub tried: Vec<Tried>,
}

/// What the oracle nodes saw in a run: per thread (`node.index`), its symbols.
type OracleView = Vec<(String, Vec<String>)>;

/// A campaign that could not start or go on.
#[derive(Debug)]
pub struct ExploreError(pub String);

struct Campaign<'c> {
    opts: &'c Options,
    cluster: &'c Cluster,
    policy: Policy,
    max_crashes: usize,
    oracle: BTreeSet<String>,
    runs: u32,
    tried: Vec<Tried>,
    bugs: Vec<Bug>,
    started: Instant,
    /// the fault-free run's trace, for "where it parted"
    baseline: Option<PathBuf>,
    /// Set when a run was interrupted: the campaign stops (the signal, when bop received it).
    interrupted: Option<Option<i32>>,
}

/// The result of one `bop run`.
pub struct Outcome {
    /// `pass`, `fail`, `hang`.
    pub verdict: String,
    /// Why, when not `pass`.
    pub reason: Option<String>,
    /// Its trace.
    pub trace: PathBuf,
}

/// How one `bop run` of a census or a campaign ended.
pub enum Ran {
    /// It reached its verdict.
    Done(Outcome),
    /// It was stopped before its verdict, its nodes with it: bop received this signal (SIGINT,
    /// SIGTERM, SIGHUP) and passed it on, or (`None`) someone else interrupted the `bop run`.
    Interrupted(Option<i32>),
}

/// "interrupted (SIGINT)", or "interrupted" when the signal is not known.
pub fn interruption(sig: Option<i32>) -> String {
    match sig {
        Some(s) => format!("interrupted ({})", bop_syscalls::signal_name(s)),
        None => "interrupted".into(),
    }
}

/// A SIGINT, SIGTERM or SIGHUP that bop received and has not acted on yet (between runs).
pub fn pending_stop() -> Option<i32> {
    bop_ptrace::take_interrupt(Duration::ZERO)
}

/// Runs `bop run CLUSTER --quiet --trace OUT/NAME.jsonl --fault …` as a child process (its
/// output goes to OUT/NAME.out) and reads the verdict from the trace's footer.
///
/// The child runs in a process group of its own, so that a terminal's Ctrl-C reaches only
/// this bop, which passes it on (and SIGTERM, SIGHUP): the child then stops its nodes and
/// the run is [`Ran::Interrupted`]. If this bop dies, the child gets SIGTERM and stops its
/// nodes too. A signal received between two runs is seen here, before the next one starts.
/// A run that could not start is an error with its output.
pub fn run_bop(
    cluster: &Path,
    faults: &[String],
    out: &Path,
    name: &str,
) -> Result<Ran, ExploreError> {
    if let Some(sig) = pending_stop() {
        return Ok(Ran::Interrupted(Some(sig)));
    }
    let trace = out.join(format!("{name}.jsonl"));
    // /proc/self/exe, not the path: the very binary that runs the campaign, even if a rebuild
    // has replaced (or deleted) the file meanwhile
    let exe = if Path::new("/proc/self/exe").exists() {
        PathBuf::from("/proc/self/exe")
    } else {
        std::env::current_exe()
            .map_err(|e| ExploreError(format!("cannot find bop's own executable: {e}")))?
    };
    let mut cmd = Command::new(exe);
    cmd.arg("run")
        .arg(cluster)
        .arg("--quiet")
        .arg("--trace")
        .arg(&trace);
    for f in faults {
        cmd.arg("--fault").arg(f);
    }
    let log_path = out.join(format!("{name}.out"));
    let log = bop_trace::files::create_private(&log_path)
        .map_err(|e| ExploreError(format!("cannot write in {}: {e}", out.display())))?;
    let log2 = log
        .try_clone()
        .map_err(|e| ExploreError(format!("cannot write the run's log: {e}")))?;
    cmd.stdin(Stdio::null()).stdout(log).stderr(log2);
    bop_ptrace::clean_signals(&mut cmd);
    let parent = std::process::id();
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setpgid(0, 0) != 0 || libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // the parent died before the death signal was armed: nobody waits for this run
            if libc::getppid() as u32 != parent {
                return Err(std::io::Error::other("bop exited"));
            }
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| ExploreError(format!("cannot start bop run: {e}")))?;
    // a signal to this bop is passed on: the run stops its nodes, as on Ctrl-C
    let waited = bop_ptrace::wait_child(&mut child, OnSignal::Forward, None)
        .map_err(|e| ExploreError(format!("cannot wait for bop run: {e}")))?;
    let status = match waited {
        Waited::Exited(status) => status,
        Waited::Interrupted(sig) => return Ok(Ran::Interrupted(Some(sig))),
        Waited::TimedOut => return Err(ExploreError("bop run did not end".into())),
    };
    match status.code() {
        Some(0) | Some(1) => {}
        Some(130) => return Ok(Ran::Interrupted(None)),
        other => {
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            let how = match (other, status.signal()) {
                (Some(c), _) => format!("exit {c}"),
                (None, Some(s)) => format!("killed by {}", bop_syscalls::signal_name(s)),
                (None, None) => status.to_string(),
            };
            return Err(ExploreError(format!(
                "bop run could not run the system ({how}):\n{}",
                text.trim_end()
            )));
        }
    }
    let t = bop_trace::read_file(&trace)
        .map_err(|e| ExploreError(format!("cannot read the run's trace: {e}")))?;
    let footer = t.footer.ok_or_else(|| {
        ExploreError(format!("the run's trace {} has no footer", trace.display()))
    })?;
    Ok(Ran::Done(Outcome {
        verdict: footer.verdict,
        reason: footer.reason,
        trace,
    }))
}

/// Quotes a word for a POSIX shell.
fn sh_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The `bop run` command line for `faults` (what a user types to reproduce).
pub fn repro_command(cluster: &Path, faults: &[String]) -> String {
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("bop"));
    let cluster = std::fs::canonicalize(cluster).unwrap_or_else(|_| cluster.to_path_buf());
    let mut words = vec![
        sh_quote(&exe.display().to_string()),
        "run".to_string(),
        sh_quote(&cluster.display().to_string()),
    ];
    for f in faults {
        words.push("--fault".into());
        words.push(sh_quote(f));
    }
    words.join(" ")
}

impl Campaign<'_> {
    fn progress(&self, msg: &str) {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{msg}");
    }

    /// One `bop run` with these faults; its trace goes to `out/NAME.jsonl`. An interrupted
    /// run is an error that stops the campaign, with [`Campaign::interrupted`] set.
    fn run(&mut self, faults: &[String], name: &str) -> Result<Outcome, ExploreError> {
        match run_bop(&self.opts.cluster_path, faults, &self.opts.out, name)? {
            Ran::Done(o) => {
                self.runs += 1;
                Ok(o)
            }
            Ran::Interrupted(sig) => {
                self.interrupted = Some(sig);
                Err(ExploreError(interruption(sig)))
            }
        }
    }

    /// A run's trace, read.
    fn read(&self, trace: &Path) -> Result<bop_trace::Trace, ExploreError> {
        bop_trace::read_file(trace)
            .map_err(|e| ExploreError(format!("cannot read {}: {e}", trace.display())))
    }

    /// The run's universe of faults (every fault of its graph), from its trace.
    fn universe_of(&self, trace: &Path) -> Result<BTreeSet<Fault>, ExploreError> {
        let t = self.read(trace)?;
        let run = Run::new(&t.events, self.oracle.clone(), self.cluster.check.is_some());
        Ok(run.universe(&self.policy))
    }

    /// The run's support, and what the oracle nodes saw in it: each of their threads' symbols
    /// at the `messages` level, without the positions of the sends they consumed (which
    /// faults shift). One reading of the trace for both.
    fn support_and_view(
        &self,
        trace: &Path,
    ) -> Result<(BTreeSet<Fault>, OracleView), ExploreError> {
        let t = self.read(trace)?;
        let run = Run::new(&t.events, self.oracle.clone(), self.cluster.check.is_some());
        let view = abstract_run(&run, Level::Messages)
            .threads
            .into_iter()
            .filter(|th| self.oracle.contains(&th.node))
            .map(|th| {
                let symbols = th
                    .symbols
                    .into_iter()
                    .map(|s| s.text.split('@').next().unwrap_or_default().to_string())
                    .collect();
                (format!("{}.{}", th.node, th.index), symbols)
            })
            .collect();
        Ok((run.support(&self.policy), view))
    }

    /// Runs a candidate; records it, and a bug if it is one. Returns whether it passed.
    fn try_faults(&mut self, set: &BTreeSet<Fault>) -> Result<Option<Outcome>, ExploreError> {
        let faults: Vec<String> = set.iter().map(|f| f.to_string()).collect();
        // named by its number in the campaign, as the progress line counts it
        let name = format!("run-{:03}", self.runs + 1);
        let o = self.run(&faults, &name)?;
        self.progress(&format!(
            "bop explore: run {}/{}: {} → {}{}",
            self.runs,
            self.opts.budget,
            faults.join("; "),
            o.verdict,
            o.reason
                .as_ref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ));
        self.tried.push(Tried {
            faults: faults.clone(),
            verdict: o.verdict.clone(),
            reason: o.reason.clone(),
            trace: o.trace.display().to_string(),
        });
        if o.verdict == "pass" {
            return Ok(Some(o));
        }
        let bug = self.bug(faults, &o)?;
        self.bugs.push(bug);
        match self.interrupted {
            Some(sig) => Err(ExploreError(interruption(sig))),
            None => Ok(None),
        }
    }

    fn bug(&mut self, faults: Vec<String>, o: &Outcome) -> Result<Bug, ExploreError> {
        let parted = self
            .baseline
            .as_ref()
            .and_then(|b| parted(b, &o.trace, &self.oracle));
        let (mut reproduced, mut repro_runs) = (0, 0);
        for i in 0..self.opts.repro {
            let name = format!("repro-{:03}-{i}", self.bugs.len());
            // interrupted while re-running: the bug is kept with the re-runs made so far
            let r = match self.run(&faults, &name) {
                Ok(r) => r,
                Err(_) if self.interrupted.is_some() => break,
                Err(e) => return Err(e),
            };
            self.runs -= 1; // re-runs are not part of the budget
            repro_runs += 1;
            if r.verdict != "pass" {
                reproduced += 1;
            }
        }
        self.progress(&format!(
            "bop explore: BUG: {} → {} (reproduced {reproduced}/{repro_runs})",
            faults.join("; "),
            o.verdict,
        ));
        Ok(Bug {
            repro: repro_command(&self.opts.cluster_path, &faults),
            faults,
            verdict: o.verdict.clone(),
            reason: o.reason.clone(),
            parted,
            output: last_output(&o.trace, self.cluster),
            reproduced,
            repro_runs,
            trace: o.trace.display().to_string(),
        })
    }

    fn mine(&self, k: u64) -> bool {
        match self.opts.shard {
            Some((i, n)) => k % n as u64 == i as u64,
            None => true,
        }
    }

    fn done(&self) -> bool {
        self.runs >= self.opts.budget || (!self.bugs.is_empty() && !self.opts.keep_going)
    }
}

/// The last lines of each node's output logs, beside the trace ([`bop_trace::files::last_lines`]).
fn last_output(trace: &Path, cluster: &Cluster) -> std::collections::BTreeMap<String, Vec<String>> {
    let stem = trace.with_extension("");
    let mut out = std::collections::BTreeMap::new();
    for n in &cluster.nodes {
        let mut lines = Vec::new();
        for stream in ["stdout", "stderr"] {
            let p = PathBuf::from(format!("{}.{}.{stream}", stem.display(), n.name));
            let tail = bop_trace::files::last_lines(&p, 5);
            lines.extend(tail.iter().map(|l| format!("{stream}: {l}")));
        }
        if !lines.is_empty() {
            out.insert(n.name.clone(), lines);
        }
    }
    out
}

/// Where `faulty` parted from `good`, in words.
fn parted(good: &Path, faulty: &Path, oracle: &BTreeSet<String>) -> Option<String> {
    let a = bop_trace::read_file(good).ok()?;
    let b = bop_trace::read_file(faulty).ok()?;
    let ra = Run::new(&a.events, oracle.clone(), false);
    let rb = Run::new(&b.events, oracle.clone(), false);
    let (xa, xb) = (
        abstract_run(&ra, Level::Messages),
        abstract_run(&rb, Level::Messages),
    );
    first_difference(&xa, &ra, &xb, &rb)
}

/// Whether `name` is `prefix` and a number, then one of `then` and more (`run-007.jsonl`,
/// `run-001-fault-free.out` with `.` or `-`; `class-3.jsonl` with `.`).
pub fn numbered(name: &str, prefix: &str, then: &[char]) -> bool {
    name.strip_prefix(prefix).is_some_and(|rest| {
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        digits > 0 && rest[digits..].starts_with(then)
    })
}

/// The lock file `bop explore` and `bop census` hold in their `--out` directory while they
/// run ([`prepare_out`]). It stays there afterwards (removing it would let two runs lock two
/// different files).
pub const OUT_LOCK: &str = ".bop.lock";

/// An `--out` directory this bop uses: no other `bop explore` or `bop census` may use it
/// until this is dropped.
pub struct OutLock(#[allow(dead_code)] nix::fcntl::Flock<std::fs::File>);

/// Takes the lock on `dir` for `bop COMMAND` (an exclusive `flock` on [`OUT_LOCK`]), and
/// writes who holds it there; refuses a directory another bop holds, naming it.
fn lock_out(dir: &Path, command: &str) -> Result<OutLock, ExploreError> {
    use nix::fcntl::{Flock, FlockArg};
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(OUT_LOCK);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&path)
        .map_err(|e| {
            ExploreError(format!(
                "--out {}: cannot open its lock file {}: {}",
                dir.display(),
                path.display(),
                bop_trace::files::refuse_symlink(e)
            ))
        })?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(mut lock) => {
            // who holds it, for the message of one refused (best effort: the lock is what counts)
            let _ = lock
                .set_len(0)
                .and_then(|()| writeln!(*lock, "bop {command} (pid {})", std::process::id()));
            Ok(OutLock(lock))
        }
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            let holder = match holder.trim() {
                "" => "another bop".to_string(),
                h => bop_trace::files::printable(h),
            };
            Err(ExploreError(format!(
                "--out {} is in use by {holder}, still running: its files there would be \
                 replaced under it. Give each campaign or census its own --out directory \
                 (with GNU parallel: --out o{{}})",
                dir.display()
            )))
        }
        Err((_, e)) => Err(ExploreError(format!(
            "--out {}: cannot lock {}: {e}",
            dir.display(),
            path.display()
        ))),
    }
}

/// Makes `dir` ready for the files of a new census or campaign (`what`, made by `bop
/// COMMAND`) and holds it for this bop ([`OutLock`]: one that another running bop holds is
/// refused): creates it, or removes from it what a previous one left there, the entries
/// `ours` recognises by name (a directory whole). A directory that holds anything else is
/// refused and left untouched: that is not ours to delete, and new files mixed with other
/// files would mislead.
pub fn prepare_out(
    dir: &Path,
    command: &str,
    what: &str,
    ours: impl Fn(&str) -> bool,
) -> Result<OutLock, ExploreError> {
    std::fs::create_dir_all(dir).map_err(|e| {
        ExploreError(format!(
            "cannot create the directory {}: {e}",
            dir.display()
        ))
    })?;
    let lock = lock_out(dir, command)?;
    let cannot = |e: std::io::Error| ExploreError(format!("--out {}: {e}", dir.display()));
    let entries: Vec<std::fs::DirEntry> = std::fs::read_dir(dir)
        .and_then(|rd| rd.collect::<Result<Vec<_>, _>>())
        .map_err(cannot)?
        .into_iter()
        .filter(|e| e.file_name() != OUT_LOCK)
        .collect();
    let mut foreign: Vec<String> = entries
        .iter()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !ours(n))
        .collect();
    if !foreign.is_empty() {
        foreign.sort();
        let more = foreign.len().saturating_sub(3);
        foreign.truncate(3);
        return Err(ExploreError(format!(
            "--out {} holds files that are not a previous {what}'s ({}{}): give a new or empty \
             directory (bop {command} replaces only its own previous files there)",
            dir.display(),
            foreign.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        )));
    }
    if entries.is_empty() {
        return Ok(lock);
    }
    eprintln!(
        "bop {command}: replacing the previous {what} in {} ({})",
        dir.display(),
        bop_trace::count(entries.len(), "file")
    );
    for e in entries {
        let p = e.path();
        let removed = match e.file_type() {
            Ok(t) if t.is_dir() => std::fs::remove_dir_all(&p),
            _ => std::fs::remove_file(&p),
        };
        removed.map_err(|e| ExploreError(format!("cannot remove {}: {e}", p.display())))?;
    }
    Ok(lock)
}

/// Runs a campaign and writes its report.
pub fn explore(cluster: &Cluster, opts: &Options) -> Result<Report, ExploreError> {
    // the report may be kept among the runs: it is replaced as well
    let report_dir = opts
        .report
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let report_name = match (
        std::fs::canonicalize(report_dir),
        std::fs::canonicalize(&opts.out),
    ) {
        (Ok(a), Ok(b)) if a == b => opts.report.file_name(),
        _ => None,
    };
    let _held = prepare_out(&opts.out, "explore", "campaign", |n| {
        numbered(n, "run-", &['.', '-'])
            || numbered(n, "repro-", &['.', '-'])
            || report_name.is_some_and(|r| r == n)
    })?;
    let policy = Policy {
        crashable: cluster
            .nodes
            .iter()
            .filter(|n| n.crashable)
            .map(|n| n.name.clone())
            .collect(),
        omissions: cluster.explore.omissions,
    };
    let mut c = Campaign {
        opts,
        cluster,
        policy,
        max_crashes: cluster.explore.max_crashes as usize,
        oracle: cluster
            .nodes
            .iter()
            .filter(|n| !n.daemon)
            .map(|n| n.name.clone())
            .collect(),
        runs: 0,
        tried: Vec::new(),
        bugs: Vec::new(),
        started: Instant::now(),
        baseline: None,
        interrupted: None,
    };
    let (certified, stopped) = match (campaign(&mut c), c.interrupted) {
        (Ok(r), _) => r,
        (Err(_), Some(sig)) => (None, interruption(sig)),
        (Err(e), None) => return Err(e),
    };
    let report = Report {
        bop_version: env!("CARGO_PKG_VERSION").into(),
        cluster: opts.cluster_path.display().to_string(),
        strategy: opts.strategy,
        max_faults: opts.max_faults,
        budget: opts.budget,
        shard: opts.shard.map(|(i, n)| format!("{i}/{n}")),
        runs: c.runs,
        seconds: c.started.elapsed().as_secs_f64(),
        bugs: c.bugs,
        certified,
        stopped,
        interrupted: c.interrupted.is_some(),
        tried: c.tried,
    };
    write_report(&opts.report, &report)?;
    Ok(report)
}

/// Writes a report as JSON.
pub fn write_report(path: &Path, report: &Report) -> Result<(), ExploreError> {
    let text = serde_json::to_string_pretty(report)
        .map_err(|e| ExploreError(format!("cannot encode the report: {e}")))?;
    bop_trace::files::write_private(path, (text + "\n").as_bytes())
        .map_err(|e| ExploreError(format!("cannot write the report {}: {e}", path.display())))
}

/// The campaign proper: (certified bound, why it stopped).
fn campaign(c: &mut Campaign) -> Result<(Option<usize>, String), ExploreError> {
    let k = c.opts.max_faults;
    let base = c.run(&[], "run-001-fault-free")?;
    c.progress(&format!(
        "bop explore: run 1/{}: no faults → {}",
        c.opts.budget, base.verdict
    ));
    c.tried.push(Tried {
        faults: vec![],
        verdict: base.verdict.clone(),
        reason: base.reason.clone(),
        trace: base.trace.display().to_string(),
    });
    if base.verdict != "pass" {
        return Err(ExploreError(format!(
            "the system does not pass without faults ({}{}): a campaign needs a passing run to \
             start from; see {} and run it with `bop run {}`",
            base.verdict,
            base.reason
                .as_ref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default(),
            base.trace.display(),
            c.opts.cluster_path.display()
        )));
    }
    c.baseline = Some(base.trace.clone());
    match c.opts.strategy {
        Strategy::Ldfi => ldfi(c, &base.trace, k),
        Strategy::Edges => {
            let universe = c.universe_of(&base.trace)?;
            edges(c, universe, k)
        }
        Strategy::Random => {
            let universe = c.universe_of(&base.trace)?;
            random(c, universe, k)
        }
    }
}

fn stop_reason(c: &Campaign) -> String {
    if !c.bugs.is_empty() {
        "found a bug".into()
    } else {
        format!("the budget of {} runs is spent", c.opts.budget)
    }
}

fn ldfi(c: &mut Campaign, base: &Path, k: usize) -> Result<(Option<usize>, String), ExploreError> {
    let (base_support, base_view) = c.support_and_view(base)?;
    let mut supports = vec![base_support];
    let mut tried: BTreeSet<BTreeSet<Fault>> = BTreeSet::new();
    let mut n: u64 = 0;
    loop {
        if c.done() {
            let mut why = stop_reason(c);
            if c.bugs.is_empty() && c.opts.shard.is_none() {
                // what certifying the bound would still take
                let (left, capped) =
                    candidates_left(&supports, k, c.max_crashes, &tried, CANDIDATES_CAP);
                let _ = write!(
                    why,
                    "; {}{} of at most {} left to try, for the supports seen so far",
                    if capped { "more than " } else { "" },
                    bop_trace::count(left, "candidate fault set"),
                    bop_trace::count(k, "fault"),
                );
            }
            return Ok((None, why));
        }
        let Some(cand) = next_hitting_set(&supports, k, c.max_crashes, &tried) else {
            let certified = c.bugs.is_empty() && c.opts.shard.is_none();
            return Ok((
                (c.bugs.is_empty()).then_some(k),
                if certified {
                    format!("no set of at most {k} faults is left that could cut every support of the outcome")
                } else {
                    "no candidate left".into()
                },
            ));
        };
        tried.insert(cand.clone());
        n += 1;
        if !c.mine(n) {
            continue;
        }
        if let Some(o) = c.try_faults(&cand)? {
            // A passing run is another way the outcome comes about only if the oracle saw
            // what it saw without faults (the same exchanges with the same nodes, in the same
            // order). Otherwise it passed for another reason: a client whose write was never
            // acknowledged, so that it promised nothing; a replica that died before it could
            // disagree. Such a run's lineage is not a support of the outcome, and cutting it
            // is no requirement: taking it as one would steer the search away from the bug
            // and end it with a false certificate.
            let (s, view) = c.support_and_view(&o.trace)?;
            if view != base_view {
                continue;
            }
            // an outcome that came about without any message between the system's nodes
            // gives nothing to cut: it is not a support
            if !s.is_empty() && !supports.contains(&s) {
                supports.push(s);
            }
        }
    }
}

/// The subsets of `universe` of size `size` within the crash bound, in order.
fn subsets(universe: &[Fault], size: usize, max_crashes: usize) -> Vec<BTreeSet<Fault>> {
    fn go(
        u: &[Fault],
        size: usize,
        max_crashes: usize,
        start: usize,
        cur: &mut Vec<Fault>,
        out: &mut Vec<BTreeSet<Fault>>,
    ) {
        if out.len() > 100_000 {
            return;
        }
        if cur.len() == size {
            out.push(cur.iter().cloned().collect());
            return;
        }
        for i in start..u.len() {
            if u[i].is_crash() && cur.iter().filter(|f| f.is_crash()).count() >= max_crashes {
                continue;
            }
            cur.push(u[i].clone());
            go(u, size, max_crashes, i + 1, cur, out);
            cur.pop();
        }
    }
    let mut out = Vec::new();
    go(universe, size, max_crashes, 0, &mut Vec::new(), &mut out);
    out
}

fn edges(
    c: &mut Campaign,
    universe: BTreeSet<Fault>,
    k: usize,
) -> Result<(Option<usize>, String), ExploreError> {
    let u: Vec<Fault> = universe.into_iter().collect();
    let mut n: u64 = 0;
    for size in 1..=k {
        for set in subsets(&u, size, c.max_crashes) {
            if c.done() {
                return Ok((None, stop_reason(c)));
            }
            n += 1;
            if c.mine(n) {
                c.try_faults(&set)?;
            }
        }
    }
    if c.bugs.is_empty() {
        Ok((
            Some(k),
            format!("every set of at most {k} faults of the graph was tried"),
        ))
    } else {
        Ok((None, "found a bug; every candidate was tried".into()))
    }
}

/// splitmix64: a small, seedable generator (reproducible campaigns).
fn next_rand(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn random(
    c: &mut Campaign,
    universe: BTreeSet<Fault>,
    k: usize,
) -> Result<(Option<usize>, String), ExploreError> {
    let u: Vec<Fault> = universe.into_iter().collect();
    if u.is_empty() {
        return Ok((
            Some(k),
            "the run has no message to lose and no node to crash".into(),
        ));
    }
    let mut state = c.opts.seed;
    let mut seen: BTreeSet<BTreeSet<Fault>> = BTreeSet::new();
    let mut n: u64 = 0;
    let mut misses = 0;
    while !c.done() && misses < 1000 {
        let size = 1 + (next_rand(&mut state) % k.max(1) as u64) as usize;
        let mut set = BTreeSet::new();
        while set.len() < size.min(u.len()) {
            let f = &u[(next_rand(&mut state) % u.len() as u64) as usize];
            if f.is_crash() && set.iter().filter(|x: &&Fault| x.is_crash()).count() >= c.max_crashes
            {
                if u.iter().all(|x| x.is_crash()) {
                    break;
                }
                continue;
            }
            set.insert(f.clone());
        }
        if set.is_empty() || !seen.insert(set.clone()) {
            misses += 1;
            continue;
        }
        n += 1;
        if c.mine(n) {
            c.try_faults(&set)?;
        }
    }
    Ok((None, stop_reason(c)))
}

/// The readable summary of a report.
pub fn summary(r: &Report) -> String {
    let mut s = String::new();
    use std::fmt::Write as _;
    let _ = writeln!(
        s,
        "bop explore: {} in {:.1} s ({} strategy, at most {} per run{})",
        bop_trace::count(r.runs, "run"),
        r.seconds,
        match r.strategy {
            Strategy::Ldfi => "ldfi",
            Strategy::Edges => "edges",
            Strategy::Random => "random",
        },
        bop_trace::count(r.max_faults, "fault"),
        r.shard
            .as_ref()
            .map(|s| format!(", shard {s}"))
            .unwrap_or_default()
    );
    if r.bugs.is_empty() {
        match r.certified {
            Some(k) => {
                let _ = writeln!(
                    s,
                    "No bug: the verdict held under every candidate. Certified for up to {} ({}).",
                    bop_trace::count(k, "fault"),
                    r.stopped
                );
            }
            None => {
                let _ = writeln!(s, "No bug found; not certified: {}.", r.stopped);
            }
        }
    }
    for (i, b) in r.bugs.iter().enumerate() {
        let _ = writeln!(
            s,
            "\nBug {}: verdict {}{}",
            i + 1,
            b.verdict,
            b.reason
                .as_ref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        );
        let _ = writeln!(s, "  faults:");
        for f in &b.faults {
            let _ = writeln!(s, "    {f}");
        }
        if let Some(p) = &b.parted {
            let _ = writeln!(s, "  parted from the fault-free run at: {p}");
        }
        for (node, lines) in &b.output {
            let _ = writeln!(s, "  {node} wrote last:");
            for l in lines {
                let _ = writeln!(s, "    {l}");
            }
        }
        let _ = writeln!(
            s,
            "  reproduced {}/{} times; to run it again:\n    {}",
            b.reproduced, b.repro_runs, b.repro
        );
        let _ = writeln!(s, "  trace: {}", b.trace);
    }
    s
}

/// Joins shard reports into one (`bop merge`).
pub fn merge(reports: Vec<Report>) -> Result<Report, ExploreError> {
    let mut it = reports.into_iter();
    let Some(mut out) = it.next() else {
        return Err(ExploreError(
            "nothing to merge: give the shards' report files".into(),
        ));
    };
    let mut all_certified = out.certified;
    let mut interrupted = u64::from(out.interrupted);
    for r in it {
        if r.cluster != out.cluster || r.strategy != out.strategy || r.max_faults != out.max_faults
        {
            return Err(ExploreError(format!(
                "the reports are of different campaigns ({} {:?} k={} and {} {:?} k={}): merge \
                 only the shards of one campaign",
                out.cluster, out.strategy, out.max_faults, r.cluster, r.strategy, r.max_faults
            )));
        }
        out.runs += r.runs;
        out.seconds = out.seconds.max(r.seconds);
        for b in r.bugs {
            if !out.bugs.iter().any(|x| x.faults == b.faults) {
                out.bugs.push(b);
            }
        }
        out.tried.extend(r.tried);
        interrupted += u64::from(r.interrupted);
        all_certified = match (all_certified, r.certified) {
            (Some(a), Some(b)) => Some(a.min(b)),
            _ => None,
        };
    }
    out.shard = None;
    out.certified = if out.bugs.is_empty() {
        all_certified
    } else {
        None
    };
    out.stopped = match (out.bugs.is_empty(), interrupted) {
        (true, 0) => "merged shards".into(),
        (false, 0) => "merged shards: found a bug".into(),
        (true, n) => format!(
            "merged shards, {} interrupted",
            bop_trace::count(n, "shard")
        ),
        (false, n) => format!(
            "merged shards, {} interrupted: found a bug",
            bop_trace::count(n, "shard")
        ),
    };
    out.interrupted = interrupted > 0;
    Ok(out)
}
