#!/usr/bin/env python3
"""The dense stress matrix: is bop's graph right under every runtime, however hard it is used?

Runs the dense key-value testbed of testbeds/dense/ (Go, tokio, Rust threads, Python asyncio,
Python threads, Java NIO, Java blocking, Node.js) under `bop run --capture-payload`, over a
matrix of connections {1, 8, 64}, value sizes (1-16, 1-700, 1-65536 bytes), pipelined or not,
Nagle on or off; each point RUNS times in a row. A run is clean when:

- bop passes (the client checked every reply),
- `bop verify` compares every receive with the sends it is attributed to and finds nothing wrong
  (which also checks every edge against the vector clocks),
- no byte is unmatched (`bop stats --json`),
- the footer counts no hold-limit release and no order guess.

Every run is appended to a JSON Lines log as it finishes (so a long campaign can be stopped and
resumed with --resume); the summary goes to bench/results/dense.md, which bench/run.py folds
into bench/RESULTS.md.

    python3 bench/dense.py                      # the whole matrix, 20 runs a point
    python3 bench/dense.py --runs 1             # one pass (about 15 minutes)
    python3 bench/dense.py --only go --only tokio --runs 5
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

from run import free_port  # bench/run.py, beside this file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BOP = os.path.join(ROOT, "target", "release", "bop")
RESULTS = os.path.join(ROOT, "bench", "results")
DENSE = os.path.join(ROOT, "testbeds", "dense")

CONNS = [1, 8, 64]
SIZES = ["1-16", "1-700", "1-65536"]


def runtimes(work):
    """name -> (program prefix, server args, client args) of each runtime and mode."""
    rs = os.path.join(ROOT, "target", "release", "tb-dense-rs")
    go = os.path.join(work, "tb-dense-go")
    java = f"java -cp {os.path.join(work, 'java')} Dense"
    py = f"python3 {os.path.join(DENSE, 'python', 'dense.py')}"
    node = f"node {os.path.join(DENSE, 'node', 'dense.js')}"
    return {
        "go": (go, "", ""),
        "tokio": (rs, "", ""),
        "rust-threads": (rs, "--mode blocking", "--mode blocking"),
        "python-asyncio": (py, "", ""),
        "python-threads": (py, "--mode blocking", "--mode blocking"),
        "java-nio": (java, "", ""),
        "java-blocking": (java, "--mode blocking", "--mode blocking"),
        "node": (node, "", ""),
    }


def build(work, wanted):
    subprocess.run(["cargo", "build", "--release", "--quiet", "--workspace"], cwd=ROOT, check=True)
    if "go" in wanted:
        subprocess.run(["go", "build", "-o", os.path.join(work, "tb-dense-go"), "."],
                       cwd=os.path.join(DENSE, "go"), check=True)
    if any(w.startswith("java") for w in wanted):
        subprocess.run(["javac", "-d", os.path.join(work, "java"),
                        os.path.join(DENSE, "java", "Dense.java")], check=True)


def points():
    for conns in CONNS:
        for size in SIZES:
            for pipeline in (True, False):
                for nagle in ("off", "on"):
                    yield {"conns": conns, "size": size, "pipeline": pipeline, "nagle": nagle}


def point_name(p):
    return f"c{p['conns']} s{p['size']} {'pipe' if p['pipeline'] else 'seq'} nagle-{p['nagle']}"


def one_run(work, runtime, prog, p, n):
    program, sargs, cargs = prog
    port = free_port()
    rounds = 40 if p["size"] != "1-65536" else 8
    client = (f"{program} client {port} --conns {p['conns']} --rounds {rounds} --size {p['size']} "
              f"--nagle {p['nagle']} {cargs}" + (" --pipeline" if p["pipeline"] else ""))
    server = f"{program} server {port} {p['conns']} --nagle {p['nagle']} {sargs}"
    d = os.path.join(work, "run")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    cluster = os.path.join(d, "c.toml")
    with open(cluster, "w") as f:
        f.write(f'[[node]]\nname = "server"\ncmd = "{server}"\nready = "tcp:127.0.0.1:{port}"\n\n'
                f'[[node]]\nname = "client"\ncmd = "{client}"\n\n[run]\ntimeout = "120s"\n')
    trace = os.path.join(d, "t.jsonl")
    t0 = time.monotonic()
    run = subprocess.run([BOP, "run", cluster, "--trace", trace, "-q", "--capture-payload=70000"],
                         capture_output=True, text=True)
    secs = time.monotonic() - t0
    rec = {"runtime": runtime, "point": point_name(p), "n": n, "bop_exit": run.returncode,
           "seconds": round(secs, 2)}
    if not os.path.exists(trace):
        rec["error"] = run.stderr[-400:]
        return rec
    v = subprocess.run([BOP, "verify", trace], capture_output=True, text=True)
    rec["verify_exit"] = v.returncode
    rec["verify"] = v.stdout.strip().splitlines()[-1] if v.stdout.strip() else v.stderr.strip()
    if v.returncode != 0:
        rec["verify_detail"] = v.stdout[-1500:]
    st = subprocess.run([BOP, "stats", trace, "--json"], capture_output=True, text=True)
    try:
        s = json.loads(st.stdout)
        rec.update(events=s["events"], unmatched_bytes=s["unmatched_bytes"],
                   hold_limit_releases=s["hold_limit_releases"], order_guesses=s["order_guesses"])
    except (ValueError, KeyError) as e:
        rec["error"] = f"bop stats: {e}"
    if run.returncode != 0:
        rec["error"] = (run.stdout + run.stderr)[-600:]
    return rec


def clean(r):
    return (r.get("bop_exit") == 0 and r.get("verify_exit") == 0 and r.get("unmatched_bytes") == 0
            and r.get("hold_limit_releases") == 0 and r.get("order_guesses") == 0)


def report(log, runs, cmd):
    recs = [json.loads(l) for l in open(log) if l.strip()]
    by = {}
    for r in recs:
        by.setdefault(r["runtime"], {}).setdefault(r["point"], []).append(r)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "## The dense stress matrix: every received byte checked against its send",
        "",
        f"Measured {now} on {platform.node()}, {os.cpu_count()} CPUs, {platform.platform()}, with "
        f"`{cmd}`.",
        "",
        f"Each runtime of `testbeds/dense/` under `bop run --capture-payload`, over connections "
        f"{{{', '.join(map(str, CONNS))}}} × value sizes {{{', '.join(SIZES)}}} bytes × pipelined "
        f"or not × Nagle on or off ({len(list(points()))} points), each point run {runs} times. A run is clean when bop "
        "passes, `bop verify` finds every receive's bytes in the sends it is attributed to (and "
        "every edge in the clocks), no byte is unmatched, and no event was released by the hold "
        "limit or ordered by a guess.",
        "",
        "| runtime | points | runs | clean runs | points with every run clean | unmatched bytes | "
        "hold-limit releases | order guesses | median s/run |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    bad = []
    for rt in sorted(by):
        pts = by[rt]
        rs = [r for v in pts.values() for r in v]
        ok = [r for r in rs if clean(r)]
        full = [k for k, v in pts.items() if all(clean(r) for r in v) and len(v) >= runs]
        secs = sorted(r["seconds"] for r in rs)
        lines.append(
            f"| {rt} | {len(pts)} | {len(rs)} | {len(ok)} | {len(full)} | "
            f"{sum(r.get('unmatched_bytes', 0) or 0 for r in rs)} | "
            f"{sum(r.get('hold_limit_releases', 0) or 0 for r in rs)} | "
            f"{sum(r.get('order_guesses', 0) or 0 for r in rs)} | {secs[len(secs) // 2]:.1f} |")
        bad += [r for r in rs if not clean(r)]
    lines.append("")
    if bad:
        lines.append(f"Runs that were not clean ({len(bad)}), the first 10:")
        lines.append("")
        for r in bad[:10]:
            why = r.get("error") or r.get("verify") or ""
            why = " ".join(why.split())[:300]
            lines.append(f"- {r['runtime']} {r['point']} run {r['n']}: bop exit {r.get('bop_exit')}, "
                         f"verify {r.get('verify_exit')}: {why}")
        lines.append("")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20, help="runs of each point (default 20)")
    ap.add_argument("--only", action="append", help="this runtime only (repeatable)")
    ap.add_argument("--log", default=os.path.join(RESULTS, "dense-runs.jsonl"),
                    help="the JSON Lines log of every run")
    ap.add_argument("--resume", action="store_true", help="keep the log's runs and add to them")
    ap.add_argument("--bop", help="the bop binary to run and verify with (default: "
                    "target/release/bop; pass a copy to keep a long campaign on one build while "
                    "the tree is rebuilt)")
    ap.add_argument("--report", action="store_true",
                    help="only write bench/results/dense.md from the log (e.g. after joining the logs "
                    "of campaigns run side by side)")
    a = ap.parse_args()
    global BOP
    if a.bop:
        BOP = os.path.abspath(a.bop)
    if a.report:
        with open(os.path.join(RESULTS, "dense.md"), "w") as f:
            f.write(report(a.log, a.runs, "python3 bench/dense.py " + " ".join(sys.argv[1:])))
        print(open(os.path.join(RESULTS, "dense.md")).read())
        return
    work = tempfile.mkdtemp(prefix="bop-dense-")
    names = list(runtimes(work))
    wanted = a.only or names
    for w in wanted:
        if w not in names:
            sys.exit(f"dense.py: unknown runtime {w}; the runtimes are {', '.join(names)}")
    build(work, wanted)
    rts = runtimes(work)
    os.makedirs(RESULTS, exist_ok=True)
    done = {}
    if a.resume and os.path.exists(a.log):
        for l in open(a.log):
            if l.strip():
                r = json.loads(l)
                done[(r["runtime"], r["point"])] = done.get((r["runtime"], r["point"]), 0) + 1
    elif os.path.exists(a.log):
        os.remove(a.log)
    cmd = "python3 bench/dense.py " + " ".join(sys.argv[1:])
    with open(a.log, "a") as log:
        for n in range(a.runs):
            for rt in wanted:
                for p in points():
                    if done.get((rt, point_name(p)), 0) > n:
                        continue
                    rec = one_run(work, rt, rts[rt], p, n)
                    log.write(json.dumps(rec) + "\n")
                    log.flush()
                    mark = "ok" if clean(rec) else "NOT CLEAN"
                    print(f"{rt:15} {point_name(p):35} run {n}: {mark} ({rec['seconds']} s)",
                          flush=True)
    with open(os.path.join(RESULTS, "dense.md"), "w") as f:
        f.write(report(a.log, a.runs, cmd))
    shutil.rmtree(work, ignore_errors=True)
    print(open(os.path.join(RESULTS, "dense.md")).read())


if __name__ == "__main__":
    main()
