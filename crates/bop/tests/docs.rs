//! The docs' examples run as they are written. Every fenced code block marked runnable in a
//! Markdown file of the repository (README.md, docs/*.md, testbeds/**/README.md,
//! systems/*/README.md, …) is run, and must exit as it says.
//!
//! The marks go in the fence's info string, after the language, so GitHub still highlights
//! the block (it reads the first word only):
//!
//! * ```` ```sh run ````: run the block with `bash -e -o pipefail`; it must exit 0.
//! * ```` ```sh run exit=1 ````: it must exit 1 (`exit=0,1`: either), and the command that
//!   fails must be its last one (`bash -e` stops at the first failure, so an earlier failure
//!   would leave the rest of the block untried).
//! * `timeout=SECS` after `run`: the block's limit (default [`TIMEOUT`]); past it, it is killed
//!   and fails.
//! * ```` ```python file=NAME ```` (any language): not run; the block's text is written to
//!   NAME, for a later block of the same file to use (`python3 NAME …`).
//!
//! The blocks of one Markdown file run in order, in one fresh temporary directory, so a block
//! may use what an earlier one made. That directory holds the symbolic links `testbeds` and
//! `systems` to the repository's, so examples say `bop run testbeds/echo.toml`, and bop and the
//! testbed binaries (`tb-echo`, `tb-proto`, …) come first in PATH (the directory of bop, where
//! a workspace build also puts `tb-dense-rs`, which testbeds/dense/README.md runs). A block that fails stops
//! its file; the message names the block (FILE:LINE), the failing command and its line, the
//! exit code and the end of the output. Blocks without a mark are never run: placeholders
//! (`cluster.toml`), commands that need a pid or a real system's packages, output.
//!
//! `BOP_DOCS=TEXT` runs only the files whose path contains TEXT
//! (`BOP_DOCS=explore cargo nextest run --release -p bop --test docs`).
//!
//! The same convention is described for contributors in docs/architecture.md ("Docs whose
//! examples run").

mod common;

use std::collections::BTreeSet;
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A block's limit unless its info string says `timeout=SECS`.
const TIMEOUT: Duration = Duration::from_secs(120);

/// What the output tail of a failure shows.
const TAIL_LINES: usize = 40;

/// The first line of every script: names the failing command and its line on stderr.
const TRAP: &str = "trap 'echo \"bop-docs-test: line $LINENO: exit $?: $BASH_COMMAND\" >&2' ERR\n";

/// What a fenced block's info string asks for.
#[derive(Debug, PartialEq)]
enum Mark {
    /// Not ours: shown, never run.
    Shown,
    /// Run it; it must exit with one of these codes within the limit.
    Run { exit: Vec<i32>, timeout: Duration },
    /// Write its text to this file of the working directory.
    File(String),
}

/// One fenced block of a Markdown file.
#[derive(Debug)]
struct Block {
    /// The 1-based line of its opening fence.
    fence_line: usize,
    mark: Mark,
    /// Its lines, without the fence's indentation.
    body: Vec<String>,
}

impl Block {
    /// The 1-based line in the Markdown file of the body's line `k` (1-based).
    fn doc_line(&self, k: usize) -> usize {
        self.fence_line + k
    }

    /// The 1-based body line where the block's last command starts: the last line that is
    /// neither blank nor a comment, nor the continuation of a line ending in `\`.
    fn last_command(&self) -> usize {
        let mut last = 0;
        for (k, line) in self.body.iter().enumerate() {
            let t = line.trim();
            let continued = k > 0 && self.body[k - 1].trim_end().ends_with('\\');
            if !t.is_empty() && !t.starts_with('#') && !continued {
                last = k + 1;
            }
        }
        last
    }
}

/// Reads an info string: the language, then the marks.
fn parse_info(info: &str) -> Result<Mark, String> {
    let words: Vec<&str> = info.split_whitespace().collect();
    if words.len() < 2 {
        return Ok(Mark::Shown);
    }
    let lang = words[0];
    let mut run = false;
    let mut exit = None;
    let mut timeout = None;
    let mut file = None;
    for w in &words[1..] {
        if *w == "run" {
            run = true;
        } else if let Some(v) = w.strip_prefix("exit=") {
            let codes: Result<Vec<i32>, _> = v.split(',').map(str::parse).collect();
            match codes {
                Ok(c) if c.iter().all(|c| (0..=255).contains(c)) => exit = Some(c),
                _ => {
                    return Err(format!(
                        "exit={v}: expected exit codes 0-255, like exit=1 or exit=0,1"
                    ))
                }
            }
        } else if let Some(v) = w.strip_prefix("timeout=") {
            match v.parse::<u64>() {
                Ok(s) if s > 0 => timeout = Some(Duration::from_secs(s)),
                _ => {
                    return Err(format!(
                        "timeout={v}: expected whole seconds, like timeout=300"
                    ))
                }
            }
        } else if let Some(v) = w.strip_prefix("file=") {
            let ok = !v.is_empty()
                && !v.starts_with('/')
                && Path::new(v)
                    .components()
                    .all(|c| matches!(c, std::path::Component::Normal(_)));
            if !ok {
                return Err(format!(
                    "file={v}: expected a relative file name, like file=reader.py"
                ));
            }
            file = Some(v.to_string());
        } else {
            return Err(format!(
                "unknown mark {w:?}: the marks after the language are run, exit=N[,M], \
                 timeout=SECS and file=NAME"
            ));
        }
    }
    match (run, file) {
        (true, Some(_)) => Err("a block is either run or written to a file, not both".into()),
        (true, None) if !matches!(lang, "sh" | "bash") => Err(format!(
            "only sh and bash blocks run, not {lang}: write it to a file (```{lang} file=NAME) \
             and run that from a ```sh run block"
        )),
        (true, None) => Ok(Mark::Run {
            exit: exit.unwrap_or_else(|| vec![0]),
            timeout: timeout.unwrap_or(TIMEOUT),
        }),
        (false, _) if exit.is_some() || timeout.is_some() => {
            Err("exit= and timeout= go with run: ```sh run exit=1".into())
        }
        (false, Some(f)) => Ok(Mark::File(f)),
        (false, None) => Ok(Mark::Shown),
    }
}

/// The fenced blocks of a Markdown text (``` fences, indented or not), with their marks.
fn parse_blocks(text: &str) -> Result<Vec<Block>, String> {
    let mut out = Vec::new();
    // (fence line, backticks, indentation, mark, body)
    let mut open: Option<(usize, usize, usize, Mark, Vec<String>)> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let ticks = trimmed.chars().take_while(|&c| c == '`').count();
        match &mut open {
            // (CommonMark: an info string with a backtick makes no fence; it is inline code)
            None if ticks >= 3 && !trimmed[ticks..].contains('`') => {
                let mark = parse_info(&trimmed[ticks..]).map_err(|e| format!("{}: {e}", i + 1))?;
                open = Some((i + 1, ticks, indent, mark, Vec::new()));
            }
            None => {}
            Some((_, n, _, _, _)) if ticks >= *n && trimmed.trim_end().len() == ticks => {
                if let Some((fence_line, _, _, mark, body)) = open.take() {
                    out.push(Block {
                        fence_line,
                        mark,
                        body,
                    });
                }
            }
            Some((_, _, ind, _, body)) => {
                let cut = line.len() - line.trim_start().len();
                body.push(line[cut.min(*ind)..].to_string());
            }
        }
    }
    match open {
        Some((line, ..)) => Err(format!("{line}: this code block is never closed")),
        None => Ok(out),
    }
}

/// The repository's root.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository's root")
}

/// Every Markdown file of the repository (not under hidden directories, `target` or
/// `node_modules`), sorted, relative to the root.
fn doc_files() -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let path = e.path();
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                if !name.starts_with('.') && name != "target" && name != "node_modules" {
                    walk(root, &path, out);
                }
            } else if ft.is_file() && name.ends_with(".md") {
                out.push(path.strip_prefix(root).unwrap_or(&path).to_path_buf());
            }
        }
    }
    let root = repo();
    let mut out = Vec::new();
    walk(&root, &root, &mut out);
    out.sort();
    out
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Runs the blocks of one Markdown file (named `doc` in messages) in `work`, in order; stops at
/// the first failure and returns its message. `path` is the PATH the blocks get.
fn run_blocks(
    doc: &str,
    blocks: &[Block],
    work: &Path,
    path: &std::ffi::OsStr,
) -> Result<usize, String> {
    let scripts = tempfile::Builder::new()
        .prefix("bop-docs-scripts-")
        .tempdir()
        .expect("tempdir");
    let mut ran = 0;
    for (n, b) in blocks.iter().enumerate() {
        let (exit, timeout) = match &b.mark {
            Mark::Shown => continue,
            Mark::File(name) => {
                let p = work.join(name);
                if let Some(dir) = p.parent() {
                    std::fs::create_dir_all(dir).expect("create the file's directory");
                }
                std::fs::write(&p, b.body.join("\n") + "\n").expect("write the block's file");
                continue;
            }
            Mark::Run { exit, timeout } => (exit, *timeout),
        };
        let at = format!("{doc}:{}", b.fence_line);
        let script = scripts.path().join(format!("block-{n}.sh"));
        std::fs::write(&script, format!("{TRAP}{}\n", b.body.join("\n"))).expect("write script");
        let out_path = scripts.path().join(format!("block-{n}.out"));
        let out = File::create(&out_path).expect("create output file");
        // the bundled cluster files' ports (and unix.toml's socket path) are fixed, and other
        // tests run them too (crates/bop/tests/protocols.rs, the demo in newcomer.rs): a block
        // may run any of them, or `bop demo`, so it holds them all
        let _ports = fixed_ports(true);
        let started = Instant::now();
        let mut child = Command::new("bash")
            .arg("-e")
            .arg("-o")
            .arg("pipefail")
            .arg(&script)
            .current_dir(work)
            .env("PATH", path)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("clone output file"))
            .stderr(out)
            .process_group(0)
            .spawn()
            .expect("start bash");
        let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
        let status = loop {
            if let Some(st) = child.try_wait().expect("wait for bash") {
                break Some(st);
            }
            if started.elapsed() > timeout {
                let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // whatever the block left running in the background goes with it
        let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
        let took = started.elapsed();
        let output = std::fs::read_to_string(&out_path).unwrap_or_default();
        eprintln!("{at}: {:.1} s", took.as_secs_f64());
        // where it failed, from the ERR trap: (line in the body, exit code, command)
        let failed: Option<(usize, String)> = output.lines().rev().find_map(|l| {
            let rest = l.strip_prefix("bop-docs-test: line ")?;
            let (line, rest) = rest.split_once(": exit ")?;
            let (_, cmd) = rest.split_once(": ")?;
            Some((line.parse::<usize>().ok()?.checked_sub(1)?, cmd.to_string()))
        });
        let command = match &failed {
            Some((k, cmd)) => format!("\n  failing command, {doc}:{}: {cmd}", b.doc_line(*k)),
            None => String::new(),
        };
        let shown = tail(&output, TAIL_LINES);
        let Some(status) = status else {
            return Err(format!(
                "{at}: the example did not finish within {} s (timeout=SECS after run gives it \
                 longer){command}\n  output (last {TAIL_LINES} lines):\n{shown}",
                timeout.as_secs()
            ));
        };
        let code = status.code().unwrap_or(-1);
        if !exit.contains(&code) {
            return Err(format!(
                "{at}: the example exited {code} ({status}), the doc says it exits {}{command}\n  \
                 output (last {TAIL_LINES} lines):\n{shown}",
                exit.iter()
                    .map(i32::to_string)
                    .collect::<Vec<_>>()
                    .join(" or ")
            ));
        }
        if code != 0 {
            let last = b.last_command();
            if let Some((k, _)) = &failed {
                if *k < last {
                    return Err(format!(
                        "{at}: the example exited {code} as expected, but before its last \
                         command (line {}) ran{command}\n  output (last {TAIL_LINES} lines):\n{shown}",
                        b.doc_line(last)
                    ));
                }
            }
        }
        ran += 1;
    }
    Ok(ran)
}

/// A fresh working directory for one Markdown file's blocks, with `testbeds` and `systems`.
fn workdir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("bop-docs-")
        .tempdir()
        .expect("tempdir");
    for name in ["testbeds", "systems"] {
        std::os::unix::fs::symlink(repo().join(name), dir.path().join(name)).expect("symlink");
    }
    dir
}

#[test]
fn every_runnable_example_in_the_docs_runs() {
    let path = path_with_dir_of(bop_exe());
    let root = repo();
    let mut failures = Vec::new();
    let mut ran = 0;
    let mut files = 0;
    let started = Instant::now();
    let only = std::env::var("BOP_DOCS").unwrap_or_default();
    for rel in doc_files() {
        let doc = rel.display().to_string();
        if !doc.contains(&only) {
            continue;
        }
        let text = std::fs::read_to_string(root.join(&rel)).expect("read a Markdown file");
        let blocks = match parse_blocks(&text) {
            Ok(b) => b,
            Err(e) => {
                failures.push(format!("{doc}:{e}"));
                continue;
            }
        };
        if !blocks.iter().any(|b| matches!(b.mark, Mark::Run { .. })) {
            continue;
        }
        files += 1;
        let work = workdir();
        match run_blocks(&doc, &blocks, work.path(), &path) {
            Ok(n) => ran += n,
            Err(e) => failures.push(e),
        }
    }
    eprintln!(
        "ran {ran} examples from {files} files in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} of the docs' examples failed (a failure stops the rest of its file):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    if !only.is_empty() {
        return;
    }
    // the files whose first commands a newcomer copies have examples that run
    assert!(ran >= 15, "only {ran} examples ran");
    for must in [
        "README.md",
        "docs/explore.md",
        "docs/faults.md",
        "docs/export.md",
    ] {
        let text = std::fs::read_to_string(root.join(must)).expect("read");
        let blocks = parse_blocks(&text).expect("parse");
        assert!(
            blocks.iter().any(|b| matches!(b.mark, Mark::Run { .. })),
            "{must} has no runnable example"
        );
    }
}

#[test]
fn marks_are_read_from_the_info_string() {
    assert_eq!(parse_info(""), Ok(Mark::Shown));
    assert_eq!(parse_info("sh"), Ok(Mark::Shown));
    assert_eq!(parse_info("json"), Ok(Mark::Shown));
    assert_eq!(
        parse_info("sh run"),
        Ok(Mark::Run {
            exit: vec![0],
            timeout: TIMEOUT
        })
    );
    assert_eq!(
        parse_info("bash run exit=0,1 timeout=300"),
        Ok(Mark::Run {
            exit: vec![0, 1],
            timeout: Duration::from_secs(300)
        })
    );
    assert_eq!(
        parse_info("python file=reader.py"),
        Ok(Mark::File("reader.py".into()))
    );
    // a typo in a mark is an error, never a block silently left out
    for (info, says) in [
        ("sh rnu", "unknown mark \"rnu\""),
        ("sh run exit=one", "exit=one"),
        ("sh run exit=256", "exit=256"),
        ("sh run timeout=0", "timeout=0"),
        ("sh exit=1", "go with run"),
        ("python run", "only sh and bash blocks run"),
        ("python file=../x.py", "relative file name"),
        ("python file=/tmp/x.py", "relative file name"),
        ("sh run file=x.sh", "not both"),
    ] {
        let e = parse_info(info).expect_err(info);
        assert!(e.contains(says), "{info}: {e}");
    }
}

#[test]
fn blocks_are_found_with_their_lines() {
    let text = "# T\n\n```sh run\nbop run testbeds/echo.toml\n```\n\n* a list item:\n\n  ```sh run exit=1\n  false \\\n    x\n  # a comment\n  ```\n\n````text\n```sh run\n````\n";
    let blocks = parse_blocks(text).expect("parse");
    assert_eq!(blocks.len(), 3, "{blocks:?}");
    assert_eq!(blocks[0].fence_line, 3);
    assert_eq!(blocks[0].body, vec!["bop run testbeds/echo.toml"]);
    assert_eq!(blocks[0].doc_line(1), 4);
    assert_eq!(blocks[1].fence_line, 9);
    assert_eq!(blocks[1].body, vec!["false \\", "  x", "# a comment"]);
    assert_eq!(blocks[1].last_command(), 1);
    // a fence inside a longer fence is text
    assert_eq!(blocks[2].mark, Mark::Shown);
    assert_eq!(blocks[2].body, vec!["```sh run"]);
    // inline code at the start of a line is no fence
    let b = parse_blocks("```` ```sh run ```` marks a block\n").expect("inline code");
    assert!(b.is_empty(), "{b:?}");
    let e = parse_blocks("```sh run\necho\n").expect_err("unclosed");
    assert!(e.starts_with("1: "), "{e}");
    let e = parse_blocks("text\n```sh run exit=x\n```\n").expect_err("bad mark");
    assert!(e.starts_with("2: exit=x"), "{e}");
}

#[test]
fn a_failing_example_is_reported_with_its_place_command_code_and_output() {
    let path = path_with_dir_of(bop_exe());
    let doc = "intro\n\n```sh run\necho one\necho some output\nbop stats no-such-trace.jsonl\necho never\n```\n";
    let blocks = parse_blocks(doc).expect("parse");
    let work = workdir();
    let e = run_blocks("x.md", &blocks, work.path(), &path).expect_err("must fail");
    for want in [
        "x.md:3: the example exited 2",
        "says it exits 0",
        "failing command, x.md:6: bop stats no-such-trace.jsonl",
        "some output",
        "no-such-trace.jsonl",
    ] {
        assert!(e.contains(want), "{want:?} not in:\n{e}");
    }
    assert!(
        !e.contains("\nnever"),
        "the block stops at the failure:\n{e}"
    );

    // exit=1 that came from an earlier command than the last is no pass
    let doc = "```sh run exit=1\nfalse\ntrue\nfalse\n```\n";
    let blocks = parse_blocks(doc).expect("parse");
    let e = run_blocks("y.md", &blocks, work.path(), &path).expect_err("must fail");
    assert!(e.contains("before its last command (line 4)"), "{e}");
    assert!(e.contains("failing command, y.md:2: false"), "{e}");

    // the expected failure of the last command passes; files written by a block are there
    let doc = "```text file=data/a.txt\nhello\n```\n```sh run exit=3\ngrep -q hello data/a.txt\ntest -L testbeds\nexit 3\n```\n";
    let blocks = parse_blocks(doc).expect("parse");
    assert_eq!(run_blocks("z.md", &blocks, work.path(), &path), Ok(1));

    // a block past its limit is killed, with what it printed
    let doc = "```sh run timeout=1\necho started\nsleep 30\n```\n";
    let blocks = parse_blocks(doc).expect("parse");
    let t = Instant::now();
    let e = run_blocks("w.md", &blocks, work.path(), &path).expect_err("must time out");
    assert!(t.elapsed() < Duration::from_secs(20), "not killed in time");
    assert!(
        e.contains("did not finish within 1 s") && e.contains("started"),
        "{e}"
    );
}

#[test]
fn every_markdown_file_parses() {
    let root = repo();
    let mut seen = BTreeSet::new();
    for rel in doc_files() {
        let text = std::fs::read_to_string(root.join(&rel)).expect("read");
        if let Err(e) = parse_blocks(&text) {
            panic!("{}:{e}", rel.display());
        }
        seen.insert(rel);
    }
    assert!(seen.contains(Path::new("README.md")), "{seen:?}");
    assert!(seen.contains(Path::new("docs/explore.md")), "{seen:?}");
}
