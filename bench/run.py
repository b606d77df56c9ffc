#!/usr/bin/env python3
"""bop's cost benchmarks. Run by hand (not in CI): python3 bench/run.py [--quick] [--only NAME]

Measures side by side, in one run, as ratios against the untraced system, medians over
interleaved rounds:
  pingpong  8-byte TCP ping-pong, every syscall traced (the worst case): untraced, bop,
            strace -f, strace -f --seccomp-bpf; pinned to one CPU and unpinned
  redis     redis-benchmark against redis-server, untraced and under bop (throughput, p99)
  etcd      put throughput of a three-member etcd cluster, untraced and under bop
  memory    bop's resident memory over a long ping-pong run (a million events and more), and
            the trace size per event
and writes bench/RESULTS.md (machine, date, commands, numbers). See bench/README.md."""
import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BOP = os.path.join(ROOT, "target", "release", "bop")
WORK = tempfile.mkdtemp(prefix="bop-bench.")


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=isinstance(cmd, str), check=True, **kw)


def timed(argv):
    t = time.monotonic()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - t


def build():
    sh(["cargo", "build", "--release", "--quiet"], cwd=ROOT)
    sh(["gcc", "-O2", "-o", os.path.join(WORK, "pingpong"), os.path.join(ROOT, "bench", "pingpong.c")])


def pingpong(rounds, reps, pin):
    pp = [os.path.join(WORK, "pingpong"), str(rounds)]
    trace = os.path.join(WORK, "pp.jsonl")
    configs = {
        "untraced": pp,
        "bop": [BOP, "run", "-q", "--trace", trace, "--"] + pp,
        "strace -f": ["strace", "-f", "-o", "/dev/null"] + pp,
        "strace -f --seccomp-bpf": ["strace", "-f", "--seccomp-bpf", "-e", "trace=read,write",
                                     "-o", "/dev/null"] + pp,
    }
    if pin:
        configs = {k: ["taskset", "-c", "0"] + v for k, v in configs.items()}
    times = {k: [] for k in configs}
    for _ in range(reps):  # interleaved: each round runs every configuration once
        for k, argv in configs.items():
            times[k].append(timed(argv))
    med = {k: statistics.median(v) for k, v in times.items()}
    base = med["untraced"]
    return [(k, med[k], med[k] / base, med[k] / rounds / 4 * 1e6) for k in configs]


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, limit=30):
    import socket
    end = time.time() + limit
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} never opened")


def redis(reps, n):
    if not shutil.which("redis-server") or not shutil.which("redis-benchmark"):
        return None
    rows = []
    for mode in ["untraced", "bop"] * reps:
        port = free_port()
        server = ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no",
                  "--bind", "127.0.0.1"]
        if mode == "bop":
            server = [BOP, "run", "-q", "--trace", os.path.join(WORK, "redis.jsonl"), "--"] + server
        p = subprocess.Popen(server, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(0.3)
            out = subprocess.run(["redis-benchmark", "-p", str(port), "-n", str(n), "-t", "set,get",
                                  "--csv"], check=True, capture_output=True, text=True).stdout
        finally:
            p.send_signal(signal.SIGINT if mode == "bop" else signal.SIGTERM)
            p.wait()
        for line in out.splitlines():
            f = [x.strip('"') for x in line.split(",")]
            if f and f[0] in ("SET", "GET"):
                # "test","rps","avg_latency_ms","min","p50","p95","p99","max"
                rows.append((mode, f[0], float(f[1]), float(f[6])))
    summary = []
    for test in ("SET", "GET"):
        for mode in ("untraced", "bop"):
            rps = statistics.median([r[2] for r in rows if r[0] == mode and r[1] == test])
            p99 = statistics.median([r[3] for r in rows if r[0] == mode and r[1] == test])
            summary.append((test, mode, rps, p99))
    return summary


def memory(seconds, rounds):
    pp = [os.path.join(WORK, "pingpong"), str(rounds)]
    trace = os.path.join(WORK, "mem.jsonl")
    p = subprocess.Popen([BOP, "run", "-q", "--trace", trace, "--"] + pp,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    samples = []
    end = time.time() + seconds
    while p.poll() is None and time.time() < end:
        try:
            with open(f"/proc/{p.pid}/status") as f:
                rss = int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
            samples.append((time.time(), rss))
        except (OSError, AttributeError):
            pass
        time.sleep(5)
    if p.poll() is None:
        p.send_signal(signal.SIGINT)
    p.wait()
    events = sum(1 for line in open(trace) if '"type":"event"' in line)
    size = os.path.getsize(trace)
    return samples, events, size


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer rounds (a smoke test)")
    ap.add_argument("--only", action="append", help="pingpong, redis, etcd, memory")
    a = ap.parse_args()
    only = set(a.only or ["pingpong", "redis", "memory"])
    build()
    reps = 3 if a.quick else 7
    out = ["# bop benchmark results", "",
           f"Machine: {platform.node()}, {os.cpu_count()} CPUs, {platform.platform()}; "
           f"date {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
           f"command `python3 bench/run.py{' --quick' if a.quick else ''}`.", ""]
    if "pingpong" in only:
        rounds = 5000 if a.quick else 20000
        for pin in (True, False):
            res = pingpong(rounds, reps, pin)
            out += [f"## Ping-pong, {rounds} round trips of 8 bytes, {'pinned (taskset -c 0)' if pin else 'unpinned'}, median of {reps}", "",
                    "| mechanism | seconds | slowdown | µs per traced call |", "|---|---|---|---|"]
            for k, sec, ratio, per in res:
                out.append(f"| {k} | {sec:.3f} | {ratio:.2f}× | {per:.1f} |")
            out.append("")
    if "redis" in only:
        r = redis(reps, 5000 if a.quick else 20000)
        if r:
            out += ["## redis-benchmark against redis-server (one connection set, -n per test)", "",
                    "| test | mode | requests/s | p99 ms |", "|---|---|---|---|"]
            out += [f"| {t} | {m} | {rps:.0f} | {p99:.3f} |" for t, m, rps, p99 in r]
            out.append("")
    if "memory" in only:
        secs = 60 if a.quick else 600
        samples, events, size = memory(secs, 10_000_000)
        rss = [s[1] for s in samples]
        out += [f"## bop's memory over a {secs} s ping-pong run", "",
                f"{events} events, trace {size / 1e6:.1f} MB = {size / max(events, 1):.0f} bytes per event; "
                f"bop's RSS: first {rss[0] if rss else 0} kB, max {max(rss) if rss else 0} kB, "
                f"last {rss[-1] if rss else 0} kB over {len(rss)} samples.", ""]
    text = "\n".join(out) + "\n"
    path = os.path.join(ROOT, "bench", "RESULTS.md")
    with open(path, "w") as f:
        f.write(text)
    print(text)
    shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
