//! `bop census`: how many distinct executions does a system really have? Runs it N times
//! without faults, classes each run by the fingerprint of its abstracted communication graph
//! ([`crate::fingerprint`]), and reports the classes by frequency with the Good–Turing
//! estimate of the chance that the next run is of a class not seen yet.

use std::collections::BTreeSet;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use bop_cluster::Cluster;
use serde::{Deserialize, Serialize};

use crate::explore::{interruption, numbered, prepare_out, run_bop, ExploreError, Ran};
use crate::fingerprint::{abstract_run, Level};
use crate::lineage::Run;

/// What `bop census` was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// The cluster file.
    pub cluster_path: PathBuf,
    /// How many runs.
    pub runs: u32,
    /// Where the representatives, the plot and census.json go.
    pub out: PathBuf,
    /// The abstraction that tells runs apart.
    pub level: Level,
}

/// One class of runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Class {
    /// Its rank by frequency, from 1.
    pub rank: usize,
    /// The fingerprint.
    pub fingerprint: String,
    /// The runs (numbered from 1) that fell in it.
    pub runs: Vec<u32>,
    /// Their verdicts: `pass`, `fail`, `hang`, one per run.
    pub verdicts: Vec<String>,
    /// The kept trace of its first run.
    pub representative: String,
}

/// The census (`OUT/census.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Census {
    /// The cluster file.
    pub cluster: String,
    /// The abstraction level.
    pub level: Level,
    /// Runs made (and counted here).
    pub runs: u32,
    /// Runs asked for (`--runs`); more than `runs` when the census was interrupted.
    #[serde(default)]
    pub asked: u32,
    /// Set when the census was interrupted: how ("interrupted (SIGINT)").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<String>,
    /// Runs that hung (the `[run] timeout` stopped them): their classes are where the timeout
    /// cut them, not executions of the system.
    #[serde(default)]
    pub hung: u32,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Classes, most frequent first.
    pub classes: Vec<Class>,
    /// The class (rank) of each run, in order.
    pub sequence: Vec<usize>,
    /// Classes seen exactly once.
    pub singletons: usize,
    /// Good–Turing: singletons / runs, the chance the next run is a new class.
    pub unseen_probability: f64,
    /// The plot.
    pub plot: String,
}

/// Whether `name` is a file or directory that `bop census` writes in its `--out` directory.
fn census_file(name: &str) -> bool {
    matches!(name, "census.json" | "census.svg" | "runs") || numbered(name, "class-", &['.'])
}

/// What came of `bop census`.
pub enum Ended {
    /// The census of the runs made: all of them, or those before an interruption.
    Census(Census),
    /// Interrupted before the first run finished, so nothing to count (the signal, when bop
    /// received it).
    Nothing(Option<i32>),
}

/// Runs the census.
pub fn census(cluster: &Cluster, opts: &Options) -> Result<Ended, ExploreError> {
    let _held = prepare_out(&opts.out, "census", "census", census_file)?;
    let runs_dir = opts.out.join("runs");
    std::fs::create_dir_all(&runs_dir)
        .map_err(|e| ExploreError(format!("cannot create {}: {e}", runs_dir.display())))?;
    let oracle: BTreeSet<String> = cluster
        .nodes
        .iter()
        .filter(|n| !n.daemon)
        .map(|n| n.name.clone())
        .collect();
    let started = Instant::now();
    // on a terminal, a progress bar (and the runs that did not pass above it); elsewhere (a
    // log, CI) a line per run, so that a slow or hanging system is never silent
    let live = std::io::stderr().is_terminal();
    let bar = if live {
        indicatif::ProgressBar::new(opts.runs as u64)
    } else {
        eprintln!(
            "bop census: {} of {} into {} (a run that has not ended after {} is stopped as hung)",
            bop_trace::count(opts.runs, "run"),
            opts.cluster_path.display(),
            opts.out.display(),
            humantime::format_duration(cluster.run.timeout)
        );
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "bop census {bar:30} {pos}/{len} runs, {msg}, ETA {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    // fingerprint → (first run, runs, verdicts, kept trace)
    let mut classes: Vec<(String, Vec<u32>, Vec<String>, PathBuf)> = Vec::new();
    let mut seq_fp: Vec<String> = Vec::new();
    let mut interrupted = None;
    for i in 1..=opts.runs {
        let name = format!("run-{i:04}");
        let o = match run_bop(&opts.cluster_path, &[], &runs_dir, &name)? {
            Ran::Done(o) => o,
            Ran::Interrupted(sig) => {
                // the run cut short is no execution: it is not counted, nor kept
                remove_run(&runs_dir, &name);
                interrupted = Some(sig);
                break;
            }
        };
        let t = bop_trace::read_file(&o.trace)
            .map_err(|e| ExploreError(format!("cannot read {}: {e}", o.trace.display())))?;
        let run = Run::new(&t.events, oracle.clone(), cluster.check.is_some());
        let fp = abstract_run(&run, opts.level).fingerprint();
        let class = match classes.iter_mut().find(|c| c.0 == fp) {
            Some(c) => {
                c.1.push(i);
                c.2.push(o.verdict.clone());
                remove_run(&runs_dir, &name);
                format!("same class as run {}", c.1[0])
            }
            None => {
                classes.push((
                    fp.clone(),
                    vec![i],
                    vec![o.verdict.clone()],
                    o.trace.clone(),
                ));
                "a new class".to_string()
            }
        };
        seq_fp.push(fp);
        let line = format!(
            "bop census: run {i}/{}: {}{}; {class} ({} so far)",
            opts.runs,
            o.verdict,
            o.reason.map(|r| format!(": {r}")).unwrap_or_default(),
            bop_trace::count(classes.len(), "class")
        );
        if !live {
            eprintln!("{line}");
        } else if o.verdict != "pass" {
            bar.println(line);
        }
        bar.set_message(bop_trace::count(classes.len(), "class"));
        bar.inc(1);
    }
    bar.finish_and_clear();
    let runs = seq_fp.len() as u32;
    if runs == 0 {
        let _ = std::fs::remove_dir_all(&runs_dir);
        return Ok(Ended::Nothing(interrupted.flatten()));
    }
    // rank by frequency (ties: first seen first)
    let mut order: Vec<usize> = (0..classes.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(classes[i].1.len()), classes[i].1[0]));
    let mut out_classes = Vec::new();
    for (rank0, &i) in order.iter().enumerate() {
        let (fp, rs, vs, trace) = &classes[i];
        let rep = opts.out.join(format!("class-{}.jsonl", rank0 + 1));
        move_run(trace, &rep);
        out_classes.push(Class {
            rank: rank0 + 1,
            fingerprint: fp.clone(),
            runs: rs.clone(),
            verdicts: vs.clone(),
            representative: rep.display().to_string(),
        });
    }
    let _ = std::fs::remove_dir_all(&runs_dir);
    let rank_of = |fp: &str| {
        out_classes
            .iter()
            .find(|c| c.fingerprint == fp)
            .map(|c| c.rank)
            .unwrap_or(0)
    };
    let sequence: Vec<usize> = seq_fp.iter().map(|fp| rank_of(fp)).collect();
    let singletons = out_classes.iter().filter(|c| c.runs.len() == 1).count();
    let hung = out_classes
        .iter()
        .flat_map(|c| &c.verdicts)
        .filter(|v| *v == "hang")
        .count() as u32;
    let plot = opts.out.join("census.svg");
    draw(&out_classes, &sequence, &plot)?;
    let c = Census {
        cluster: opts.cluster_path.display().to_string(),
        level: opts.level,
        runs,
        asked: opts.runs,
        interrupted: interrupted.map(interruption),
        hung,
        seconds: started.elapsed().as_secs_f64(),
        classes: out_classes,
        sequence,
        singletons,
        unseen_probability: singletons as f64 / runs as f64,
        plot: plot.display().to_string(),
    };
    let json = serde_json::to_string_pretty(&c)
        .map_err(|e| ExploreError(format!("cannot encode the census: {e}")))?;
    let path = opts.out.join("census.json");
    bop_trace::files::write_private(&path, (json + "\n").as_bytes())
        .map_err(|e| ExploreError(format!("cannot write {}: {e}", path.display())))?;
    Ok(Ended::Census(c))
}

/// The files of one run: its trace, its bop output, its node logs.
fn run_files(dir: &Path, name: &str) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    rd.filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|f| f.to_str())
                .is_some_and(|f| f == format!("{name}.jsonl") || f.starts_with(&format!("{name}.")))
        })
        .collect()
}

/// Removes a run's files (and its scratch directory, `NAME.run/`).
fn remove_run(dir: &Path, name: &str) {
    for p in run_files(dir, name) {
        let _ = if p.is_dir() {
            std::fs::remove_dir_all(p)
        } else {
            std::fs::remove_file(p)
        };
    }
}

/// Moves a run's trace to `to` and its logs beside it (`class-1.jsonl`, `class-1.NODE.stderr`).
fn move_run(trace: &Path, to: &Path) {
    let (Some(dir), Some(stem)) = (trace.parent(), trace.file_stem().and_then(|s| s.to_str()))
    else {
        return;
    };
    let new_stem = to
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("class")
        .to_string();
    let out_dir = to.parent().unwrap_or(Path::new("."));
    for p in run_files(dir, stem) {
        let Some(f) = p.file_name().and_then(|f| f.to_str()) else {
            continue;
        };
        let rest = &f[stem.len()..];
        let _ = std::fs::rename(&p, out_dir.join(format!("{new_stem}{rest}")));
    }
}

fn plot_error(e: impl std::fmt::Display) -> ExploreError {
    ExploreError(format!("cannot draw the census plot: {e}"))
}

/// Two panels: runs per class by rank, and distinct classes against runs.
fn draw(classes: &[Class], sequence: &[usize], path: &Path) -> Result<(), ExploreError> {
    use plotters::prelude::*;
    // drawn in memory, then written as bop writes every file (0600, not through a symlink)
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (960, 400)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let (left, right) = root.split_horizontally(480);
        let max_count = classes.iter().map(|c| c.runs.len()).max().unwrap_or(1) as u32;
        let n = classes.len().max(1) as u32;
        let mut chart = ChartBuilder::on(&left)
            .caption("runs per class, by rank", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(44)
            .build_cartesian_2d((1u32..n).into_segmented(), 0u32..max_count + 1)
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc("class rank")
            .y_desc("runs")
            .draw()
            .map_err(plot_error)?;
        chart
            .draw_series(
                Histogram::vertical(&chart)
                    .style(BLUE.mix(0.6).filled())
                    .data(classes.iter().map(|c| (c.rank as u32, c.runs.len() as u32))),
            )
            .map_err(plot_error)?;
        let runs = sequence.len().max(1) as u32;
        let mut seen = BTreeSet::new();
        let mut points = vec![(0u32, 0u32)];
        for (i, c) in sequence.iter().enumerate() {
            seen.insert(*c);
            points.push((i as u32 + 1, seen.len() as u32));
        }
        let mut chart = ChartBuilder::on(&right)
            .caption("distinct classes after each run", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(44)
            .build_cartesian_2d(0u32..runs, 0u32..n + 1)
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .x_desc("runs")
            .y_desc("classes")
            .draw()
            .map_err(plot_error)?;
        chart
            .draw_series(LineSeries::new(points, RED.stroke_width(2)))
            .map_err(plot_error)?;
        root.present().map_err(plot_error)?;
    }
    bop_trace::files::write_private(path, svg.as_bytes())
        .map_err(|e| ExploreError(format!("cannot write the plot {}: {e}", path.display())))?;
    Ok(())
}

/// The census in words.
pub fn summary(c: &Census) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "bop census: {} of {} in {:.1} s{}: {} (level {})",
        bop_trace::count(c.runs, "run"),
        c.cluster,
        c.seconds,
        c.interrupted
            .as_ref()
            .map(|i| format!(", {i} after {} of the {} asked", c.runs, c.asked))
            .unwrap_or_default(),
        bop_trace::count(c.classes.len(), "class"),
        c.level.name()
    );
    let _ = writeln!(s, "  class  runs  share  verdicts          representative");
    for cl in &c.classes {
        let mut verdicts: std::collections::BTreeMap<&str, usize> = Default::default();
        for v in &cl.verdicts {
            *verdicts.entry(v.as_str()).or_insert(0) += 1;
        }
        let v: Vec<String> = verdicts.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let _ = writeln!(
            s,
            "  {:<5}  {:<4}  {:>4.0}%  {:<16}  {}",
            cl.rank,
            cl.runs.len(),
            100.0 * cl.runs.len() as f64 / c.runs as f64,
            v.join(", "),
            cl.representative
        );
    }
    let _ = writeln!(
        s,
        "Good–Turing: {} seen exactly once in {}: the chance that the next run is of a class \
         not seen yet is about {:.0}% ({}/{}).",
        bop_trace::count(c.singletons, "class"),
        bop_trace::count(c.runs, "run"),
        100.0 * c.unseen_probability,
        c.singletons,
        c.runs
    );
    let _ = writeln!(s, "Plot: {}", c.plot);
    if c.classes.len() > 1 {
        let _ = writeln!(
            s,
            "Where two classes part: bop diff {} {}",
            c.classes[0].representative, c.classes[1].representative
        );
    }
    s
}

/// When runs hung, what that means for the census, in words (`timeout`: the cluster's
/// `[run] timeout`).
pub fn hang_warning(c: &Census, timeout: std::time::Duration) -> Option<String> {
    if c.hung == 0 {
        return None;
    }
    // a class whose representative (its first run) is a hung run
    let first = c
        .classes
        .iter()
        .find(|k| k.verdicts.first().is_some_and(|v| v == "hang"));
    Some(format!(
        "{} of {} hung: {} still ran when the run timeout ({}) passed, and bop stopped {}. A hung \
         run's class is where the timeout cut it, not an execution of the system, yet the \
         classes and the Good–Turing estimate above count it. If the system needs longer, raise \
         [run] timeout in the cluster file; if it should have ended, see what it did{}",
        c.hung,
        bop_trace::count(c.runs, "run"),
        if c.hung == 1 { "it" } else { "they" },
        humantime::format_duration(timeout),
        if c.hung == 1 { "it" } else { "them" },
        first
            .map(|k| format!(": bop stats {}", k.representative))
            .unwrap_or_default()
    ))
}
