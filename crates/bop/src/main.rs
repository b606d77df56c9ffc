//! bop: run an unmodified distributed system under ptrace + seccomp-BPF, record its
//! communication, and judge the run.
//!
//! Exit codes: 0 the run passed, 1 it failed (or hung), 2 a usage, configuration or start-up
//! error, 130 interrupted.

use bop_campaign::{census, explore, fingerprint, lineage};
mod graphviz;
mod inject;
mod output;
mod pairs;
mod probe;
mod ready;
mod record;
mod run;
mod rundir;
mod serial;
mod summary;
mod verify;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

/// Trace and fault-inject unmodified distributed systems.
#[derive(Parser)]
#[command(name = "bop", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a system under bop: from a cluster file, from --node options, or one command after --.
    #[command(
        after_help = "Exit status: 0 the run passed; 1 it failed or hung (the summary \
        says which node, exit or check); 2 a usage error, an error in the cluster file or a \
        fault rule, or the system could not be started (a node that did not start, a ready \
        address that never came up); 130 interrupted by SIGINT, SIGTERM or SIGHUP (the nodes \
        were stopped and the trace is complete)."
    )]
    Run(RunArgs),
    /// Trace an already running process and all its descendants until it exits or Ctrl-C
    /// (then bop detaches and the process runs on).
    Attach(AttachArgs),
    /// Fault rules: `bop faults check FILE [--cluster CLUSTER]` validates a file of rules.
    Faults {
        #[command(subcommand)]
        cmd: FaultsCmd,
    },
    /// Print the per-node summary of a trace.
    Stats {
        /// The trace file (JSON Lines, from `bop run --trace`).
        trace: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Check a trace's graph against ground truth: every receive's bytes against the sends it
    /// is attributed to (needs `bop run --capture-payload`), the clocks against every edge.
    /// Exits 0 when verified, 1 at a wrong attribution or an unsure graph, 2 when nothing
    /// could be compared.
    Verify {
        /// The trace file.
        trace: PathBuf,
    },
    /// Run a bundled system (our TCP echo testbed) under bop and show what to do next.
    Demo,
    /// Export a trace's happens-before graph: for ShiViz, Graphviz (dot), Perfetto, as an SVG
    /// image, a self-contained HTML viewer, or as JSON.
    Export(ExportArgs),
    /// Run a system many times without faults and count its distinct executions (classes of
    /// communication graphs), with the Good–Turing estimate of an unseen class. Exits 0 when
    /// every run ended by itself, 1 when some hung, 2 on bad input, 130 when interrupted.
    Census(CensusArgs),
    /// Where two runs part: the first event at which their communication differs, in words.
    Diff(DiffArgs),
    /// Find bugs: run fault campaigns (lineage-driven by default) until the verdict fails or
    /// the system is certified for the fault bound. Exits 1 when a bug was found, 0 when not,
    /// 2 on bad input, 130 when interrupted.
    Explore(ExploreArgs),
    /// Join the reports of a campaign's shards (`bop explore --shard I/N`) into one.
    Merge(MergeArgs),
}

#[derive(clap::Args)]
struct CensusArgs {
    /// The cluster file.
    cluster: PathBuf,
    /// How many runs.
    #[arg(long, default_value_t = 20)]
    runs: u32,
    /// Keep the representatives, the plot and census.json here (a previous census there is
    /// replaced; a directory holding other files is refused).
    #[arg(long, default_value = "bop-census")]
    out: PathBuf,
    /// What tells runs apart: messages (default), events (finer), pairs (coarser).
    #[arg(long, value_enum, default_value_t = fingerprint::Level::Messages)]
    level: fingerprint::Level,
}

#[derive(clap::Args)]
struct DiffArgs {
    /// The first run's trace.
    a: PathBuf,
    /// The second run's trace.
    b: PathBuf,
    /// The abstraction to compare at.
    #[arg(long, value_enum, default_value_t = fingerprint::Level::Messages)]
    level: fingerprint::Level,
}

#[derive(clap::Args)]
struct ExploreArgs {
    /// The cluster file.
    cluster: PathBuf,
    /// At most this many runs (the fault-free one included). Default: the cluster file's
    /// [explore] runs, or 100.
    #[arg(long)]
    budget: Option<u32>,
    /// How to choose fault sets.
    #[arg(long, value_enum, default_value_t = explore::Strategy::Ldfi)]
    strategy: explore::Strategy,
    /// At most this many faults in one run. Default: the cluster file's [explore] max_faults.
    #[arg(long)]
    max_faults: Option<usize>,
    /// Write the JSON report here.
    #[arg(long, default_value = "bop-explore.json")]
    report: PathBuf,
    /// Keep every run's trace and logs here (a previous campaign's runs there are replaced; a
    /// directory holding other files is refused).
    #[arg(long, default_value = "bop-explore")]
    out: PathBuf,
    /// Run one share of the campaign, I of N (0-based): for spreading it over machines.
    #[arg(long, value_name = "I/N")]
    shard: Option<String>,
    /// Seed of the random strategy.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Re-run each bug this many times to state how reliably it reproduces.
    #[arg(long, default_value_t = 3)]
    repro: u32,
    /// Go on after the first bug until the budget is spent.
    #[arg(long)]
    keep_going: bool,
}

#[derive(clap::Args)]
struct MergeArgs {
    /// The shards' report files.
    #[arg(required = true)]
    reports: Vec<PathBuf>,
    /// Write the merged report here.
    #[arg(long, default_value = "bop-explore.json")]
    report: PathBuf,
}

#[derive(clap::Args)]
struct ExportArgs {
    /// The trace file (JSON Lines, from `bop run --trace`).
    trace: PathBuf,
    /// The output format.
    #[arg(short, long, value_enum)]
    format: ExportFormat,
    /// Write here ("-" for stdout). Default: stdout for shiviz, dot, perfetto and json; for svg
    /// and html a file next to the trace, TRACE-STEM.svg / TRACE-STEM.html.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// How the SVG is laid out (--format svg only).
    #[arg(long, value_enum, value_name = "LAYOUT")]
    layout: Option<SvgLayout>,
}

/// `bop export --format svg --layout`.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum SvgLayout {
    /// bop draws it, a row per event in trace order (the default; fast at any size).
    Id,
    /// bop draws it, rows by causal depth: much shorter for concurrent systems.
    Compact,
    /// Graphviz's `dot` lays out boxes with labels: needs Graphviz, and minutes for thousands
    /// of events.
    Graphviz,
}

/// `bop export --format`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum ExportFormat {
    /// A ShiViz log (paste or load it at https://bestchai.bitbucket.io/shiviz/).
    Shiviz,
    /// Graphviz source: a column per thread, edges across.
    Dot,
    /// The space-time diagram as SVG, drawn by bop (see --layout).
    Svg,
    /// Chrome Trace Event JSON for https://ui.perfetto.dev (threads as tracks, flow arrows).
    Perfetto,
    /// One self-contained HTML page: the space-time diagram, click an event for details.
    Html,
    /// The graph as JSON (nodes, hosts, events, edges) for other tools.
    Json,
}

impl From<ExportFormat> for bop_export::Format {
    fn from(f: ExportFormat) -> Self {
        match f {
            ExportFormat::Shiviz => bop_export::Format::Shiviz,
            ExportFormat::Dot => bop_export::Format::Dot,
            ExportFormat::Svg => bop_export::Format::Svg,
            ExportFormat::Perfetto => bop_export::Format::Perfetto,
            ExportFormat::Html => bop_export::Format::Html,
            ExportFormat::Json => bop_export::Format::Json,
        }
    }
}

#[derive(clap::Args)]
struct RunArgs {
    /// The cluster file (TOML; see docs/cluster-file.md).
    cluster: Option<PathBuf>,
    /// Write the trace here (default: a fresh directory under ./bop-out/). Node logs go beside it.
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// A node as NAME='COMMAND' (repeatable), instead of a cluster file.
    #[arg(long = "node", value_name = "NAME=CMD")]
    nodes: Vec<String>,
    /// Mark a --node as a daemon (stopped once the other nodes have exited).
    #[arg(long = "daemon", value_name = "NAME")]
    daemons: Vec<String>,
    /// Start the --node after NAME only once NAME listens at ADDRESS: tcp:HOST:PORT or
    /// unix:PATH, as a cluster file's `ready` (e.g. --ready server=tcp:127.0.0.1:7000).
    #[arg(long = "ready", value_name = "NAME=ADDRESS")]
    readies: Vec<String>,
    /// Wait DURATION before starting the --node NAME, as a cluster file's `delay` (e.g.
    /// --delay client=500ms).
    #[arg(long = "delay", value_name = "NAME=DURATION")]
    delays: Vec<String>,
    /// Limit for the whole run (e.g. 30s, 2m); overrides the cluster file's [run] timeout.
    #[arg(long, value_parser = humantime::parse_duration)]
    timeout: Option<Duration>,
    /// How long to wait for a node's ready address (e.g. 2m); overrides the cluster file's
    /// [run] ready_timeout (default 30s).
    #[arg(long, value_name = "DURATION", value_parser = positive_duration)]
    ready_timeout: Option<Duration>,
    /// Do not echo the nodes' output (it is still saved beside the trace).
    #[arg(short, long)]
    quiet: bool,
    /// Make io_uring_setup fail with ENOSYS (bop cannot see io_uring's I/O).
    #[arg(long)]
    refuse_io_uring: bool,
    /// A fault rule to inject (repeatable), e.g. 'drop client -> server #2' (docs/faults.md).
    #[arg(long = "fault", value_name = "RULE")]
    fault: Vec<String>,
    /// A file of fault rules, one per line, # comments.
    #[arg(long = "faults", value_name = "FILE")]
    faults_file: Option<PathBuf>,
    /// Compare the run, event by event, with the runs recorded in DIR (a `bop census --out`
    /// directory, or any directory of traces) and say at once when it falls off all of them.
    #[arg(long, value_name = "DIR")]
    follow: Option<PathBuf>,
    /// Put the payload in the trace: the first BYTES bytes (default 256) each send and receive
    /// moved, as `data` (off by default: the trace then holds no payload; docs/security.md).
    #[arg(long, value_name = "BYTES", num_args = 0..=1, require_equals = true, default_missing_value = "256")]
    capture_payload: Option<usize>,
    /// One command to run as a single node, strace-style: bop run -- ./server 7000
    #[arg(last = true, value_name = "CMD")]
    command: Vec<String>,
}

#[derive(Subcommand)]
enum FaultsCmd {
    /// Parse a faults file and, with --cluster, check that every node it names exists.
    Check {
        /// The file of rules (one per line, # comments).
        file: PathBuf,
        /// The cluster file whose node names the rules must use.
        #[arg(long)]
        cluster: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
struct AttachArgs {
    /// The process to trace (with its threads and child processes).
    #[arg(long)]
    pid: i32,
    /// Write the trace here (default: a fresh directory under ./bop-out/).
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// The node name for the process in the trace (default: its program's name).
    #[arg(long)]
    name: Option<String>,
    /// Detach after this long (e.g. 30s); default: trace until the process exits or Ctrl-C.
    #[arg(long, value_parser = humantime::parse_duration)]
    timeout: Option<Duration>,
}

fn main() -> ExitCode {
    // Before any thread starts: the tracer receives these signals synchronously.
    bop_ptrace::block_signals();
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(msg) = misplaced_option_value(&argv) {
        return ExitCode::from(usage_error(msg) as u8);
    }
    let cli = Cli::parse_from(argv);
    // commands that only read files and print start no tracer and no child, and write no file:
    // Ctrl-C (SIGINT, SIGTERM, SIGHUP) ends them at once, as it ends any program, rather than
    // wait (blocked) until a long read of a large trace is over
    if matches!(
        cli.cmd,
        Cmd::Stats { .. } | Cmd::Verify { .. } | Cmd::Diff(_) | Cmd::Faults { .. }
    ) {
        bop_ptrace::unblock_signals();
    }
    // commands that only read files and print end quietly when their reader goes away
    // (`bop stats t.jsonl | head`), as Unix tools do; the others manage processes and a trace,
    // and take the default only once their work is done (export writes to Graphviz's stdin,
    // and handles a closed stdout itself)
    if matches!(
        cli.cmd,
        Cmd::Stats { .. } | Cmd::Verify { .. } | Cmd::Diff(_) | Cmd::Faults { .. } | Cmd::Merge(_)
    ) {
        default_sigpipe();
    }
    let code = match cli.cmd {
        Cmd::Run(args) => cmd_run(args),
        Cmd::Attach(args) => cmd_attach(args),
        Cmd::Faults {
            cmd: FaultsCmd::Check { file, cluster },
        } => cmd_faults_check(&file, cluster.as_deref()),
        Cmd::Stats { trace, json } => cmd_stats(&trace, json),
        Cmd::Verify { trace } => cmd_verify(&trace),
        Cmd::Demo => cmd_demo(),
        Cmd::Export(args) => cmd_export(args),
        Cmd::Census(args) => cmd_census(args),
        Cmd::Diff(args) => cmd_diff(args),
        Cmd::Explore(args) => cmd_explore(args),
        Cmd::Merge(args) => cmd_merge(args),
    };
    ExitCode::from(code as u8)
}

/// SIGPIPE back to its default action (Rust starts programs with it ignored, and a print to
/// a closed pipe then panics): a write to a reader that went away ends bop at once, quietly.
fn default_sigpipe() {
    // SAFETY: setting a signal's disposition to its default; no handler is involved.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// An option whose value must be joined with `=` (its value is optional), given its value as
/// the next word: clap would take the option alone and the value as the next argument (a
/// cluster file, a command), which misleads. Returns the message that says how to write it.
fn misplaced_option_value(argv: &[std::ffi::OsString]) -> Option<String> {
    const JOINED: &[&str] = &["--capture-payload"];
    let words: Vec<&str> = argv
        .iter()
        .skip(1)
        .map(|a| a.to_str().unwrap_or(""))
        .take_while(|a| *a != "--")
        .collect();
    words.windows(2).find_map(|w| {
        (JOINED.contains(&w[0]) && !w[1].is_empty() && w[1].bytes().all(|b| b.is_ascii_digit()))
            .then(|| {
                format!(
                    "write `{0}={1}`, not `{0} {1}`: the value of {0} is optional and must be \
                     joined to it with `=` (alone, {0} means its default)",
                    w[0], w[1]
                )
            })
    })
}

fn cmd_census(args: CensusArgs) -> i32 {
    if args.runs == 0 {
        return usage_error("--runs must be at least 1");
    }
    let cluster = match bop_cluster::load(&args.cluster) {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    let opts = census::Options {
        cluster_path: args.cluster.clone(),
        runs: args.runs,
        out: args.out,
        level: args.level,
    };
    let c = match census::census(&cluster, &opts) {
        Ok(census::Ended::Census(c)) => c,
        Ok(census::Ended::Nothing(sig)) => {
            eprintln!(
                "bop: census {} before its first run finished: nothing to count",
                explore::interruption(sig)
            );
            return 130;
        }
        Err(e) => return usage_error(e.0),
    };
    default_sigpipe();
    print!("{}", census::summary(&c));
    if let Some(w) = census::hang_warning(&c, cluster.run.timeout) {
        eprintln!("bop: warning: {w}");
    }
    if let Some(i) = &c.interrupted {
        eprintln!(
            "bop: census {i} after {} of {}: the census of those is above and in {}",
            c.runs,
            bop_trace::count(c.asked, "run"),
            opts.out.join("census.json").display()
        );
        130
    } else if c.hung > 0 {
        1
    } else {
        0
    }
}

fn cmd_diff(args: DiffArgs) -> i32 {
    let read =
        |p: &Path| bop_trace::read_file(p).map_err(|e| format!("cannot read {}: {e}", p.display()));
    let (a, b) = match (read(&args.a), read(&args.b)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return usage_error(e),
    };
    let oracle = |t: &bop_trace::Trace| -> std::collections::BTreeSet<String> {
        t.header
            .as_ref()
            .map(|h| {
                h.nodes
                    .iter()
                    .filter(|n| !n.daemon)
                    .map(|n| n.name.clone())
                    .collect()
            })
            .unwrap_or_default()
    };
    let ra = lineage::Run::new(&a.events, oracle(&a), false);
    let rb = lineage::Run::new(&b.events, oracle(&b), false);
    let xa = fingerprint::abstract_run(&ra, args.level);
    let xb = fingerprint::abstract_run(&rb, args.level);
    match fingerprint::first_difference(&xa, &ra, &xb, &rb) {
        None => {
            println!(
                "the runs are the same at level {} (fingerprint {})",
                args.level.name(),
                xa.fingerprint()
            );
            0
        }
        Some(d) => {
            println!(
                "the runs part at level {}: {d}\n  first:  {}\n  second: {}",
                args.level.name(),
                args.a.display(),
                args.b.display()
            );
            1
        }
    }
}

fn parse_shard(s: &str) -> Result<(u32, u32), String> {
    let bad = || format!("--shard {s:?}: expected I/N with 0 <= I < N, e.g. --shard 0/4");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n): (u32, u32) = (
        i.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

fn cmd_explore(args: ExploreArgs) -> i32 {
    let cluster = match bop_cluster::load(&args.cluster) {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    let shard = match args.shard.as_deref().map(parse_shard).transpose() {
        Ok(s) => s,
        Err(e) => return usage_error(e),
    };
    let budget = args.budget.or(cluster.explore.runs).unwrap_or(100);
    if budget < 2 {
        return usage_error("--budget must be at least 2: one fault-free run and one with faults");
    }
    let max_faults = args
        .max_faults
        .unwrap_or(cluster.explore.max_faults as usize);
    if max_faults == 0 {
        return usage_error("--max-faults must be at least 1");
    }
    let opts = explore::Options {
        cluster_path: args.cluster.clone(),
        budget,
        strategy: args.strategy,
        max_faults,
        report: args.report,
        out: args.out,
        shard,
        seed: args.seed,
        repro: args.repro,
        keep_going: args.keep_going,
    };
    match explore::explore(&cluster, &opts) {
        Ok(r) => {
            default_sigpipe();
            print!("{}", explore::summary(&r));
            println!("report: {}", opts.report.display());
            if r.interrupted {
                eprintln!(
                    "bop: explore {} after {} of {}: what they found is above and in {} (their \
                     traces in {})",
                    r.stopped,
                    r.runs,
                    bop_trace::count(r.budget, "run"),
                    opts.report.display(),
                    opts.out.display()
                );
                130
            } else if r.bugs.is_empty() {
                0
            } else {
                1
            }
        }
        Err(e) => usage_error(e.0),
    }
}

fn cmd_merge(args: MergeArgs) -> i32 {
    let mut reports = Vec::new();
    for p in &args.reports {
        let text = match std::fs::read_to_string(p) {
            Ok(t) => t,
            Err(e) => return usage_error(format!("cannot read {}: {e}", p.display())),
        };
        match serde_json::from_str::<explore::Report>(&text) {
            Ok(r) => reports.push(r),
            Err(e) => {
                return usage_error(format!(
                    "{}:{}:{}: not a bop explore report: {e}",
                    p.display(),
                    e.line(),
                    e.column()
                ))
            }
        }
    }
    let merged = match explore::merge(reports) {
        Ok(m) => m,
        Err(e) => return usage_error(e.0),
    };
    if let Err(e) = explore::write_report(&args.report, &merged) {
        return usage_error(e.0);
    }
    print!("{}", explore::summary(&merged));
    println!("report: {}", args.report.display());
    if merged.bugs.is_empty() {
        0
    } else {
        1
    }
}

/// A duration longer than zero, for `--ready-timeout`.
fn positive_duration(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(d) if d.is_zero() => Err("it must be longer than zero, e.g. 2m".into()),
        Ok(d) => Ok(d),
        Err(e) => Err(format!("{e}; write a number and a unit, e.g. 90s or 2m")),
    }
}

fn usage_error(msg: impl std::fmt::Display) -> i32 {
    let msg = msg.to_string();
    // messages that already say they are errors (the fault parser's) get one prefix
    let msg = msg.strip_prefix("error: ").unwrap_or(&msg);
    eprintln!("bop: error: {msg}");
    2
}

fn load_cluster(args: &RunArgs) -> Result<bop_cluster::Cluster, String> {
    let cwd = std::env::current_dir().map_err(|e| format!("no current directory: {e}"))?;
    let sources = [
        args.cluster.is_some(),
        !args.nodes.is_empty(),
        !args.command.is_empty(),
    ];
    match sources.iter().filter(|&&s| s).count() {
        0 => {
            return Err(
                "nothing to run: give a cluster file (bop run cluster.toml), --node NAME=CMD \
                 options, or a command after -- (bop run -- ./server 7000)"
                    .into(),
            )
        }
        1 => {}
        _ => {
            return Err(
                "give only one of: a cluster file, --node options, or a command after --".into(),
            )
        }
    }
    if !args.daemons.is_empty() && args.nodes.is_empty() {
        return Err("--daemon NAME only applies to --node options".into());
    }
    if args.nodes.is_empty() {
        if let Some(r) = args.readies.first() {
            return Err(format!(
                "--ready {r}: --ready only applies to --node options; in a cluster file, give \
                 the node a ready address (ready = \"tcp:127.0.0.1:7000\")"
            ));
        }
        if let Some(d) = args.delays.first() {
            return Err(format!(
                "--delay {d}: --delay only applies to --node options; in a cluster file, give \
                 the node a delay (delay = \"500ms\")"
            ));
        }
    }
    let mut cluster = if let Some(path) = &args.cluster {
        bop_cluster::load(path).map_err(|e| e.to_string())?
    } else if !args.nodes.is_empty() {
        let mut pairs = Vec::new();
        for n in &args.nodes {
            let Some((name, cmd)) = n.split_once('=') else {
                return Err(format!(
                    "--node {n:?}: expected NAME=COMMAND, e.g. --node server='./server 7000'"
                ));
            };
            pairs.push((name.to_string(), cmd.to_string()));
        }
        let mut cluster = bop_cluster::Cluster::from_commands(&pairs, &args.daemons, &cwd)
            .map_err(|e| e.to_string())?;
        for r in &args.readies {
            cluster.set_ready(r).map_err(|e| e.to_string())?;
        }
        for d in &args.delays {
            cluster.set_delay(d).map_err(|e| e.to_string())?;
        }
        cluster
    } else {
        bop_cluster::Cluster::from_argv(&args.command, &cwd).map_err(|e| e.to_string())?
    };
    if let Some(t) = args.timeout {
        cluster.run.timeout = t;
    }
    if let Some(t) = args.ready_timeout {
        cluster.run.ready_timeout = t;
    }
    Ok(cluster)
}

/// Reads the fault rules of `--fault` and `--faults`, checked against the cluster's nodes.
fn load_faults(
    args: &RunArgs,
    cluster: &bop_cluster::Cluster,
) -> Result<Vec<(String, bop_faults::Rule)>, String> {
    let nodes: Vec<String> = cluster.nodes.iter().map(|n| n.name.clone()).collect();
    let mut rules = Vec::new();
    for text in &args.fault {
        let rule = bop_faults::parse_rule(text).map_err(|e| e.to_string())?;
        rule.check_nodes(&nodes)
            .map_err(|e| format!("--fault '{text}': {e}"))?;
        rules.push(rule);
    }
    if let Some(path) = &args.faults_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the faults file {}: {e}", path.display()))?;
        for (line, rule) in
            bop_faults::parse_file(&text, &path.display().to_string()).map_err(|e| e.to_string())?
        {
            rule.check_nodes(&nodes)
                .map_err(|e| format!("{}:{line}: {e}", path.display()))?;
            rules.push(rule);
        }
    }
    Ok(rules.into_iter().map(|r| (r.to_string(), r)).collect())
}

fn cmd_faults_check(file: &Path, cluster: Option<&Path>) -> i32 {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => return usage_error(format!("cannot read {}: {e}", file.display())),
    };
    let rules = match bop_faults::parse_file(&text, &file.display().to_string()) {
        Ok(r) => r,
        Err(e) => return usage_error(e),
    };
    if let Some(c) = cluster {
        let cluster = match bop_cluster::load(c) {
            Ok(c) => c,
            Err(e) => return usage_error(e),
        };
        let nodes: Vec<String> = cluster.nodes.iter().map(|n| n.name.clone()).collect();
        for (line, rule) in &rules {
            if let Err(e) = rule.check_nodes(&nodes) {
                return usage_error(format!("{}:{line}: {e}", file.display()));
            }
        }
    }
    for (line, rule) in &rules {
        println!("{line:>4}  {rule}");
    }
    println!(
        "{}: {}, all valid",
        file.display(),
        bop_trace::count(rules.len(), "rule")
    );
    0
}

fn trace_path(args: &RunArgs, cluster: &bop_cluster::Cluster) -> Result<PathBuf, String> {
    if let Some(t) = &args.trace {
        if let Some(dir) = t.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        return Ok(t.clone());
    }
    let label = cluster
        .path
        .as_ref()
        .and_then(|p| p.file_stem())
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| {
            cluster
                .nodes
                .first()
                .map(|n| n.name.clone())
                .unwrap_or_default()
        });
    let dir = run::fresh_out_dir(&label).map_err(|e| format!("cannot create ./bop-out: {e}"))?;
    Ok(dir.join("trace.jsonl"))
}

fn cmd_run(args: RunArgs) -> i32 {
    let cluster = match load_cluster(&args) {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    let faults = match load_faults(&args, &cluster) {
        Ok(f) => f,
        Err(e) => return usage_error(e),
    };
    let trace = match trace_path(&args, &cluster) {
        Ok(t) => t,
        Err(e) => return usage_error(e),
    };
    let opts = run::Options {
        trace,
        echo: !args.quiet,
        refuse_io_uring: args.refuse_io_uring,
        attach: None,
        faults,
        follow: args.follow.clone(),
        capture_payload: args.capture_payload,
    };
    let outcome = match run::run(&cluster, &opts) {
        Ok(o) => o,
        Err(e) => return usage_error(e.0),
    };
    default_sigpipe();
    print_outcome(&outcome);
    outcome.exit_code
}

fn cmd_attach(args: AttachArgs) -> i32 {
    let pid = args.pid;
    let Some(argv) = run::cmdline(pid).filter(|a| !a.is_empty()) else {
        return usage_error(format!(
            "no process {pid} to attach to (nothing in /proc/{pid}): check the pid with ps"
        ));
    };
    let program = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    let name = args.name.clone().unwrap_or_else(|| {
        let n: String = comm
            .trim()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if n.is_empty() {
            "node".into()
        } else {
            n
        }
    });
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap_or_default();
    // by default trace until the process exits (or Ctrl-C): a very long limit
    let run_spec = bop_cluster::RunSpec {
        timeout: args
            .timeout
            .unwrap_or(Duration::from_secs(100 * 365 * 24 * 3600)),
        ..bop_cluster::RunSpec::default()
    };
    let cluster = bop_cluster::Cluster {
        path: None,
        base_dir: cwd.clone(),
        nodes: vec![bop_cluster::Node {
            name,
            cmd: shell_words::join(&argv),
            argv,
            program,
            daemon: false,
            crashable: false,
            ready: None,
            env: Default::default(),
            cwd,
            delay: Duration::ZERO,
            user: None,
        }],
        run: run_spec,
        check: None,
        explore: Default::default(),
    };
    let fake = RunArgs {
        cluster: None,
        trace: args.trace,
        nodes: vec![],
        daemons: vec![],
        readies: vec![],
        delays: vec![],
        timeout: None,
        ready_timeout: None,
        quiet: true,
        refuse_io_uring: false,
        fault: vec![],
        faults_file: None,
        follow: None,
        capture_payload: None,
        command: vec![],
    };
    let trace = match trace_path(&fake, &cluster) {
        Ok(t) => t,
        Err(e) => return usage_error(e),
    };
    let opts = run::Options {
        trace,
        echo: false,
        refuse_io_uring: false,
        attach: Some(pid),
        faults: Vec::new(),
        follow: None,
        capture_payload: None,
    };
    let outcome = match run::run(&cluster, &opts) {
        Ok(o) => o,
        Err(e) => return usage_error(e.0),
    };
    default_sigpipe();
    print_outcome(&outcome);
    outcome.exit_code
}

fn print_outcome(o: &run::Outcome) {
    let f = &o.footer;
    println!();
    match &f.reason {
        None => println!(
            "bop: {} ({} in {} ms)",
            f.verdict.to_uppercase(),
            bop_trace::count(f.events, "event"),
            f.duration_ms
        ),
        // a start-up error is said once, where errors go (below)
        Some(_) if o.startup_failed => println!(
            "bop: {}: start-up failed (the error is below)",
            f.verdict.to_uppercase()
        ),
        Some(r) => println!("bop: {}: {r}", f.verdict.to_uppercase()),
    }
    if let Some((node, line)) = &o.last_words {
        println!("  {node}'s last line on stderr: {line}");
    }
    print!("{}", summary::table(&summary::from_footer(f)));
    println!("  trace: {}", o.trace.display());
    if let Some(first) = o.logs.first() {
        let dir = first
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        println!(
            "  logs:  {} beside it ({}/…{{stdout,stderr}})",
            bop_trace::count(o.logs.len(), "file"),
            dir.display()
        );
    }
    if let Some(f) = &o.follow {
        println!("  follow: {f}");
    }
    for r in &f.faults {
        println!("  fault: {}  — {}", r.rule, summary::fault_outcome(r));
    }
    if let Some(d) = summary::graph_doubts(f) {
        println!("  graph: unsure: {d} (docs/architecture.md, \"How received bytes are attributed to sends\")");
    }
    if let Some(e) = &o.trace_error {
        eprintln!("bop: error: {e}");
    }
    if let (true, Some(r)) = (o.startup_failed, &f.reason) {
        eprintln!("bop: error: {r}");
    }
}

fn cmd_stats(path: &Path, json: bool) -> i32 {
    let trace = match bop_trace::read_file(path) {
        Ok(t) => t,
        Err(e) => return usage_error(e),
    };
    if let Some(w) = trace.warning() {
        eprintln!("bop: warning: {}: {w}", path.display());
    }
    let rows = summary::from_trace(&trace);
    let comm = pairs::comm(&trace);
    if json {
        let v = serde_json::json!({
            "trace": path.display().to_string(),
            "truncated": trace.truncated,
            "complete": trace.footer.is_some(),
            "verdict": trace.footer.as_ref().map(|f| f.verdict.clone()),
            "reason": trace.footer.as_ref().and_then(|f| f.reason.clone()),
            "events": trace.events.len(),
            "unmatched_bytes": comm.unmatched_bytes,
            "unmatched_datagrams": comm.unmatched_datagrams,
            "external_bytes": comm.external_bytes,
            "external_connections": comm.external_connections,
            "hold_limit_releases": trace.footer.as_ref().and_then(|f| f.hold_limit_releases),
            "order_guesses": trace.footer.as_ref().and_then(|f| f.order_guesses),
            "nodes": rows,
            "pairs": comm.pairs,
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return 0;
    }
    match &trace.footer {
        Some(f) => println!(
            "{}: {}, verdict {}{}",
            path.display(),
            bop_trace::count(trace.events.len(), "event"),
            f.verdict,
            f.reason
                .as_ref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ),
        None => println!(
            "{}: {}, no verdict (incomplete)",
            path.display(),
            bop_trace::count(trace.events.len(), "event")
        ),
    }
    print!("{}", summary::table(&rows));
    println!();
    let names: Vec<String> = rows.iter().map(|r| r.name.clone()).collect();
    print!("{}", pairs::render(&comm, &names));
    if let Some(d) = trace.footer.as_ref().and_then(summary::graph_doubts) {
        println!("  graph: unsure: {d}");
    }
    0
}

fn cmd_verify(path: &Path) -> i32 {
    let trace = match bop_trace::read_file(path) {
        Ok(t) => t,
        Err(e) => return usage_error(e),
    };
    if let Some(w) = trace.warning() {
        eprintln!("bop: warning: {}: {w}", path.display());
    }
    match verify::verify(&trace) {
        Ok(report) => {
            println!("{}:\n{report}", path.display());
            report.exit_code()
        }
        Err(e) => usage_error(format!("{}: {e}", path.display())),
    }
}

fn cmd_demo() -> i32 {
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => return usage_error(format!("cannot find bop's own binary: {e}")),
    };
    let exe_dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if !exe_dir.join("tb-echo").exists() {
        return usage_error(format!(
            "the testbed programs are not next to bop in {}: build them with `cargo build --release` \
             (it builds bop and the testbeds together)",
            exe_dir.display()
        ));
    }
    // the testbeds are found through PATH, like any program named in a cluster file
    let path = std::env::var("PATH").unwrap_or_default();
    let on_path = std::env::split_paths(&path).any(|d| same_dir(&d, &exe_dir));
    if !on_path {
        std::env::set_var("PATH", format!("{}:{path}", exe_dir.display()));
    }
    let dir = match run::fresh_out_dir("demo") {
        Ok(d) => d,
        Err(e) => return usage_error(format!("cannot create ./bop-out: {e}")),
    };
    // the echo server's port: the bundled one, or a free one when something else holds it
    let mut text = include_str!("../../../testbeds/echo.toml").to_string();
    let port = demo_port();
    if port != DEMO_PORT {
        println!("(port {DEMO_PORT} is in use by another program: the demo uses port {port})");
        text = text.replace(&DEMO_PORT.to_string(), &port.to_string());
    }
    let cluster_file = dir.join("echo.toml");
    if let Err(e) = std::fs::write(&cluster_file, text) {
        return usage_error(format!("cannot write {}: {e}", cluster_file.display()));
    }
    println!("bop demo: a TCP echo server and two clients (testbeds/echo.toml), traced.\n");
    let trace = dir.join("trace.jsonl");
    let args = RunArgs {
        cluster: Some(cluster_file.clone()),
        trace: Some(trace.clone()),
        nodes: vec![],
        daemons: vec![],
        readies: vec![],
        delays: vec![],
        timeout: None,
        ready_timeout: None,
        quiet: false,
        refuse_io_uring: false,
        fault: vec![],
        faults_file: None,
        follow: None,
        capture_payload: None,
        command: vec![],
    };
    let code = cmd_run(args);
    if !trace.exists() {
        eprintln!(
            "\nbop demo: the demo did not run (the error above says why), so there is no trace to look at."
        );
        return code;
    }
    // the commands as this user can type them: bop by the path it was called by when that is
    // not on PATH, and the testbeds' directory on PATH for the run
    let bop = if on_path {
        "bop".to_string()
    } else {
        shell_word(&exe.display().to_string())
    };
    let env = if on_path {
        String::new()
    } else {
        format!("PATH={}:$PATH ", shell_word(&exe_dir.display().to_string()))
    };
    let t = shell_word(&trace.display().to_string());
    println!("\nWhat next:");
    println!("  {bop} stats {t}          # the per-node summary again");
    println!("  head -5 {t}            # the trace: JSON Lines, one event per line (docs/trace-format.md)");
    println!("  {bop} export {t} --format html   # the space-time diagram, to open in a browser (docs/export.md)");
    println!(
        "  {env}{bop} run {} --trace my.jsonl   # run it yourself",
        shell_word(&cluster_file.display().to_string())
    );
    code
}

/// The port testbeds/echo.toml names.
const DEMO_PORT: u16 = 7101;

/// [`DEMO_PORT`] when nothing listens on it, else a port the kernel says is free.
fn demo_port() -> u16 {
    let free = |p: u16| std::net::TcpListener::bind(("127.0.0.1", p)).ok();
    if free(DEMO_PORT).is_some() {
        return DEMO_PORT;
    }
    free(0)
        .and_then(|l| l.local_addr().ok())
        .map(|a| a.port())
        .unwrap_or(DEMO_PORT)
}

/// Whether two paths name the same directory.
fn same_dir(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// `s` as one shell word.
fn shell_word(s: &str) -> String {
    shell_words::quote(s).into_owned()
}

/// `bop export` stopped by a signal (`what` it stopped): nothing written, exit 130.
fn export_interrupted(sig: i32, what: &str) -> i32 {
    eprintln!(
        "bop: interrupted by {}: {what}, nothing written",
        bop_syscalls::signal_name(sig)
    );
    130
}

fn cmd_export(args: ExportArgs) -> i32 {
    let format = bop_export::Format::from(args.format);
    if args.layout.is_some() && format != bop_export::Format::Svg {
        return usage_error(format!(
            "--layout is for --format svg, not {format} (the html page has its own layout menu)"
        ));
    }
    let trace = match bop_trace::read_file(&args.trace) {
        Ok(t) => t,
        Err(e) => return usage_error(e),
    };
    if let Some(w) = trace.warning() {
        eprintln!("bop: warning: {}: {w}", args.trace.display());
    }
    if trace.events.is_empty() {
        eprintln!(
            "bop: warning: {}: the trace has no events",
            args.trace.display()
        );
    }
    let model = bop_export::Model::new(&trace);
    for w in &model.warnings {
        eprintln!("bop: warning: {}: {w}", args.trace.display());
    }
    let title = args
        .trace
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| args.trace.display().to_string());
    let bytes = match (format, args.layout) {
        (bop_export::Format::Svg, Some(SvgLayout::Graphviz)) => {
            let n = model.events.len();
            if n >= graphviz::SLOW_EVENTS {
                eprintln!(
                    "bop: warning: Graphviz lays out {n} events slowly: this may take many \
                     minutes (Ctrl-C stops it). Without --layout graphviz bop draws the SVG \
                     itself in seconds; --format html is interactive."
                );
            }
            match graphviz::svg(bop_export::dot(&model, &title)) {
                Ok(b) => b,
                Err(graphviz::Error::Interrupted(sig)) => {
                    return export_interrupted(sig, "Graphviz stopped")
                }
                Err(e) => return usage_error(e),
            }
        }
        (bop_export::Format::Svg, Some(SvgLayout::Compact)) => {
            bop_export::svg(&model, &title, bop_export::Rows::Compact).into_bytes()
        }
        _ => bop_export::render(&model, format, &title),
    };
    // a Ctrl-C while the trace was read or drawn: stop before writing anything
    if let Some(sig) = bop_ptrace::take_interrupt(Duration::ZERO) {
        return export_interrupted(sig, "the export stopped");
    }
    // where to: -o, else stdout for text formats, else next to the trace
    let (dest, announce) = match &args.output {
        Some(p) if p.as_os_str() == "-" => (None, false),
        Some(p) => (Some(p.clone()), false),
        None if format.is_document() => {
            let stem = args
                .trace
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "trace".into());
            let p = args
                .trace
                .with_file_name(format!("{stem}.{}", format.extension()));
            (Some(p), true)
        }
        None => (None, false),
    };
    match dest {
        None => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            if let Err(e) = out.write_all(&bytes).and_then(|_| out.flush()) {
                if e.kind() != std::io::ErrorKind::BrokenPipe {
                    return usage_error(format!("cannot write to stdout: {e}"));
                }
            }
        }
        Some(p) => {
            if let Err(e) = bop_trace::files::replace_private(&p, &bytes) {
                return usage_error(format!("cannot write {}: {e}", p.display()));
            }
            if announce {
                // export keeps SIGPIPE ignored (see `main`): a closed stdout is no error, the file
                // is written
                use std::io::Write;
                if let Err(e) = writeln!(std::io::stdout(), "{}", p.display()) {
                    if e.kind() != std::io::ErrorKind::BrokenPipe {
                        return usage_error(format!("cannot write to stdout: {e}"));
                    }
                }
            } else {
                eprintln!(
                    "bop: wrote {} ({format}, {})",
                    p.display(),
                    bop_trace::count(model.events.len(), "event")
                );
            }
        }
    }
    0
}
