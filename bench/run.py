#!/usr/bin/env python3
"""bop's cost benchmarks. Run by hand (not in CI): python3 bench/run.py [--quick] [--only NAME]

Measures side by side, in one run, as ratios against the untraced system, medians over
interleaved rounds:
  pingpong  8-byte TCP ping-pong, every syscall traced (the worst case): untraced, bop,
            strace -f, strace -f --seccomp-bpf; pinned to one CPU and unpinned
  redis     redis-benchmark against redis-server, untraced, under bop and under strace -f
            (throughput, p99)
  etcd      put throughput of a three-member etcd cluster, untraced and under bop
  memory    bop's resident memory over a long ping-pong run (a million events and more), and
            the trace size per event
Each measurement writes its own section, bench/results/NAME.md (machine, date, command,
numbers); bench/RESULTS.md is then assembled from every section file there, re-measured or
kept from an earlier run, and bench/NOTES.md (commentary, by hand). See bench/README.md."""
import argparse
import base64
import http.client
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BOP = os.path.join(ROOT, "target", "release", "bop")
WORK = None  # a scratch directory, made by main()
RESULTS = os.path.join(ROOT, "bench", "results")
SECTIONS = ["pingpong", "redis", "etcd", "memory"]  # the order in RESULTS.md


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=isinstance(cmd, str), check=True, **kw)


def timed(argv):
    t = time.monotonic()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - t


def build():
    sh(["cargo", "build", "--release", "--quiet"], cwd=ROOT)
    sh(["gcc", "-O2", "-o", os.path.join(WORK, "pingpong"), os.path.join(ROOT, "bench", "pingpong.c")])


def pingpong(rounds, reps, pin, baseline=None):
    pp = [os.path.join(WORK, "pingpong"), str(rounds)]
    trace = os.path.join(WORK, "pp.jsonl")
    configs = {
        "untraced": pp,
        "bop": [BOP, "run", "-q", "--trace", trace, "--"] + pp,
        "strace -f": ["strace", "-f", "-o", "/dev/null"] + pp,
        # bop writes its trace to a file; so does this strace (the fair comparison)
        "strace -f -o FILE": ["strace", "-f", "-o", os.path.join(WORK, "pp.strace")] + pp,
        "strace -f --seccomp-bpf": ["strace", "-f", "--seccomp-bpf", "-e", "trace=read,write",
                                     "-o", "/dev/null"] + pp,
    }
    if baseline:
        # another bop build beside this one (e.g. the commit before a change), interleaved
        configs["bop (baseline)"] = [baseline, "run", "-q", "--trace", trace, "--"] + pp
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
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, limit=30):
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
    modes = ["untraced", "bop", "strace -f"]
    for mode in modes * reps:
        port = free_port()
        server = ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no",
                  "--bind", "127.0.0.1"]
        if mode == "bop":
            server = [BOP, "run", "-q", "--trace", os.path.join(WORK, "redis.jsonl"), "--"] + server
        elif mode == "strace -f":
            # strace's trace to a file too, as bop's: every syscall redis makes stops under
            # strace (epoll_wait, the clock, its timers), only communication under bop
            server = ["strace", "-f", "-o", os.path.join(WORK, "redis.strace")] + server
        p = subprocess.Popen(server, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(0.3)
            out = subprocess.run(["redis-benchmark", "-p", str(port), "-n", str(n), "-t", "set,get",
                                  "--csv"], check=True, capture_output=True, text=True).stdout
        finally:
            if mode == "strace -f":
                # strace would only detach on a signal: shut the server down, strace follows
                subprocess.run(["redis-cli", "-p", str(port), "shutdown", "nosave"],
                               capture_output=True)
            else:
                p.send_signal(signal.SIGTERM if mode == "untraced" else signal.SIGINT)
            p.wait()
        for line in out.splitlines():
            f = [x.strip('"') for x in line.split(",")]
            if f and f[0] in ("SET", "GET"):
                # "test","rps","avg_latency_ms","min","p50","p95","p99","max"
                rows.append((mode, f[0], float(f[1]), float(f[6])))
    summary = []
    for test in ("SET", "GET"):
        for mode in modes:
            rps = statistics.median([r[2] for r in rows if r[0] == mode and r[1] == test])
            p99 = statistics.median([r[3] for r in rows if r[0] == mode and r[1] == test])
            summary.append((test, mode, rps, p99))
    return summary


# etcd: the three members of systems/etcd (member.sh: client ports 7421-7423, peer ports
# 7424-7426 on 127.0.0.1), a fresh cluster per round, untraced or under bop; the load comes
# from untraced Python threads through etcd's v3 JSON gateway (grpc-gateway, on the client port).
ETCD_MEMBER = os.path.join(ROOT, "systems", "etcd", "member.sh")
ETCD_MEMBERS = [("e1", 7421), ("e2", 7422), ("e3", 7423)]
ETCD_PORTS = [7421, 7422, 7423, 7424, 7425, 7426]
ETCD_VALUE = base64.b64encode(b"v" * 100).decode()  # 100-byte values
ETCD_KEYS = 1000  # each client cycles over its own 1000 keys


class EtcdError(Exception):
    def __init__(self, msg, status=None):
        super().__init__(msg)
        self.status = status


def etcd_put(conn, key):
    """One put through the JSON gateway on a persistent connection; raises EtcdError unless
    etcd answered HTTP 200 with a response header (cluster id, revision): a committed put."""
    body = json.dumps({"key": base64.b64encode(key.encode()).decode(), "value": ETCD_VALUE})
    conn.request("POST", "/v3/kv/put", body=body, headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    if r.status != 200:
        raise EtcdError(f"HTTP {r.status}: {data[:300]!r}", r.status)
    try:
        reply = json.loads(data)
    except ValueError:
        raise EtcdError(f"HTTP 200 but not JSON: {data[:300]!r}")
    if not isinstance(reply, dict) or "revision" not in reply.get("header", {}):
        raise EtcdError(f"HTTP 200 but no response header: {data[:300]!r}")


def etcd_post(port, path, body):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        data = r.read()
        if r.status != 200:
            raise EtcdError(f"{path} on {port}: HTTP {r.status}: {data[:300]!r}")
        return json.loads(data)
    finally:
        conn.close()


def etcd_pgrep():
    out = subprocess.run(["pgrep", "-f", "etcd --name"], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def etcd_ours():
    """The etcd members this script started and that still run (their data is under WORK)."""
    pids = []
    for pid in etcd_pgrep():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if WORK.encode() in f.read():
                    pids.append(pid)
        except OSError:
            pass
    return pids


def gone(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def etcd_kill_leftovers():
    """SIGKILLs any member of ours still running; returns their pids (none after a clean stop)."""
    left = etcd_ours()
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    end = time.time() + 10
    while any(not gone(p) for p in left) and time.time() < end:
        time.sleep(0.05)
    return left


def port_busy(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as etcd's listeners: TIME_WAIT is fine
    try:
        s.bind(("127.0.0.1", port))
        return False
    except OSError:
        return True
    finally:
        s.close()


def etcd_wait_free(limit=15):
    """Before a round: no etcd member running (ours or anyone's) and the six ports free."""
    end = time.time() + limit
    while True:
        pids, busy = etcd_pgrep(), [p for p in ETCD_PORTS if port_busy(p)]
        if not pids and not busy:
            return
        if time.time() > end:
            raise RuntimeError(f"etcd: processes {pids} (pgrep -f 'etcd --name') still run, ports "
                               f"{busy} still in use; stop them and run again")
        time.sleep(0.1)


def etcd_cluster_file(d):
    path = os.path.join(d, "etcd.toml")
    lines = ["# written by bench/run.py: systems/etcd's three members, and a node that only keeps",
             "# the run going until the benchmark interrupts bop (SIGINT)", ""]
    for name, port in ETCD_MEMBERS:
        cmd = f"{shlex.quote(ETCD_MEMBER)} {name}"
        lines += ["[[node]]", f'name   = "{name}"', f"cmd    = {json.dumps(cmd)}", "daemon = true",
                  f'ready  = "tcp:127.0.0.1:{port}"', ""]
    lines += ["[[node]]", 'name = "hold"', 'cmd  = "sleep 7200"', "",
              "[run]", 'timeout = "3h"', 'grace   = "1s"      # as systems/etcd: the leader stalls on SIGTERM', ""]
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path


def etcd_ready(procs, log, limit=60):
    """Waits until every client port accepts and a put through every member commits (a leader
    and a quorum); returns the leader's name. Fails if a started process exits meanwhile."""
    end = time.time() + limit

    def alive():
        for p in procs:
            if p.poll() is not None:
                raise RuntimeError(f"etcd: {p.args} exited ({p.returncode}) while starting; "
                                   f"its output: {log}\n{tail(log)}")
        if time.time() > end:
            raise RuntimeError(f"etcd: the cluster was not ready within {limit} s; output: {log}\n{tail(log)}")

    for name, port in ETCD_MEMBERS:
        while True:
            alive()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            try:
                etcd_put(conn, f"ready/{name}")
                break
            except EtcdError as e:
                if e.status is not None and e.status < 500:  # our request is wrong: no use retrying
                    raise RuntimeError(f"etcd: a put through {name} failed: {e}")
                time.sleep(0.1)
            except (OSError, http.client.HTTPException):  # not listening yet, no leader yet
                time.sleep(0.1)
            finally:
                conn.close()
    ids = {}
    for name, port in ETCD_MEMBERS:
        st = etcd_post(port, "/v3/maintenance/status", {})
        ids[st["header"]["member_id"]] = name
        leader = st["leader"]
    return ids.get(leader, "?")


def tail(path, n=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def etcd_load(clients, seconds, tag):
    """`clients` threads, each with one persistent HTTP connection, put for `seconds`; client i
    talks to member i mod 3 (a single client: e1). Returns (puts done in the window, puts/s,
    p99 latency in ms, every put done including those still in flight at the end)."""
    ports = [ETCD_MEMBERS[i % len(ETCD_MEMBERS)][1] for i in range(clients)]
    done = [[] for _ in range(clients)]  # per client: (completion time, latency)
    errors = []
    stop = threading.Event()

    def client(i):
        conn = http.client.HTTPConnection("127.0.0.1", ports[i], timeout=30)
        n = 0
        try:
            while not stop.is_set():
                t = time.perf_counter()
                etcd_put(conn, f"bench/{tag}/{i}/{n % ETCD_KEYS}")
                e = time.perf_counter()
                done[i].append((e, e - t))
                n += 1
        except Exception as e:  # noqa: BLE001 - any failure fails the benchmark
            errors.append(f"client {i} (port {ports[i]}), put {n}: {type(e).__name__}: {e}")
            stop.set()
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    stop.wait(seconds)
    stop.set()
    for t in threads:
        t.join(60)
    if errors:
        raise RuntimeError("etcd: a put failed: " + "; ".join(errors))
    if any(t.is_alive() for t in threads):
        raise RuntimeError("etcd: a client's put did not return within 60 s")
    inside = sorted(lat for d in done for e, lat in d if e <= t0 + seconds)
    if not inside:
        raise RuntimeError("etcd: no put completed")
    p99 = inside[min(len(inside) - 1, int(len(inside) * 0.99))]
    return len(inside), len(inside) / seconds, p99 * 1e3, sum(len(d) for d in done)


def etcd_stop(mode, procs, log):
    """Stops a round's cluster; returns a problem to report, or None. Untraced: SIGTERM to the
    members, SIGKILL after 1 s (the leader otherwise spends up to 7 s trying to hand over its
    leadership, see systems/etcd/README.md; bop's grace in the cluster file is 1 s too). Traced:
    SIGINT to bop, which stops its nodes the same way. Then no member of ours may be left."""
    problem = None
    if mode == "untraced":
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        end = time.time() + 1
        for p in procs:
            try:
                p.wait(max(0.0, end - time.time()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    else:
        bop = procs[0]
        if bop.poll() is not None:
            problem = f"bop exited ({bop.returncode}) before the benchmark interrupted it"
        else:
            bop.send_signal(signal.SIGINT)
            try:
                bop.wait(30)
                if bop.returncode != 130:
                    problem = f"bop exited {bop.returncode} on SIGINT, not 130 (interrupted)"
            except subprocess.TimeoutExpired:
                problem = "bop did not exit within 30 s of SIGINT"
                bop.kill()
                bop.wait()
        if problem:
            problem += f"; its output: {log}\n{tail(log)}"
    left = etcd_kill_leftovers()
    if left and not problem:
        problem = f"etcd members {left} were still running after the {mode} round (SIGKILLed)"
    return problem


def etcd(reps, seconds, levels=(1, 8)):
    if not shutil.which("etcd"):
        return None
    warmup = min(1.0, seconds / 3)
    rows = []  # (mode, clients, puts/s, p99 ms)
    leaders = {"untraced": [], "bop": []}
    per_put = []  # bop's events per put served, traced rounds
    for r in range(reps):  # interleaved: each round runs an untraced cluster, then a traced one
        for mode in ("untraced", "bop"):
            etcd_wait_free()
            d = os.path.join(WORK, f"etcd-{r}-{mode}")
            os.makedirs(d)
            log = os.path.join(d, "output.log")
            trace = os.path.join(d, "etcd.jsonl")
            procs, failed = [], True
            with open(log, "w") as out:
                try:
                    if mode == "untraced":
                        env = dict(os.environ, BOP_RUN_DIR=os.path.join(d, "run"))
                        os.makedirs(env["BOP_RUN_DIR"])
                        procs = [subprocess.Popen([ETCD_MEMBER, name], env=env, stdout=out,
                                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
                                 for name, _ in ETCD_MEMBERS]
                    else:
                        procs = [subprocess.Popen([BOP, "run", "-q", "--trace", trace, etcd_cluster_file(d)],
                                                  stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)]
                    leader = etcd_ready(procs, log)
                    leaders[mode].append(leader)
                    total = len(ETCD_MEMBERS)
                    total += etcd_load(8, warmup, f"{r}-warm")[3]
                    for c in levels:
                        n, rate, p99, all_puts = etcd_load(c, seconds, f"{r}-{c}")
                        total += all_puts
                        rows.append((mode, c, rate, p99))
                        print(f"etcd round {r + 1}/{reps} {mode:8} leader {leader}: {c} client(s) "
                              f"{rate:.0f} puts/s, p99 {p99:.2f} ms", file=sys.stderr)
                    failed = False
                finally:
                    problem = etcd_stop(mode, procs, log) if procs else None
                    if problem and not failed:
                        raise RuntimeError("etcd: " + problem)
                    elif problem:
                        print("etcd: also: " + problem, file=sys.stderr)
            if mode == "bop":
                events = trace_events(trace)
                if events:
                    per_put.append(events / total)
            shutil.rmtree(d, ignore_errors=True)
    etcd_wait_free()
    summary = []
    for c in levels:
        med = {m: (statistics.median([x[2] for x in rows if x[0] == m and x[1] == c]),
                   statistics.median([x[3] for x in rows if x[0] == m and x[1] == c]))
               for m in ("untraced", "bop")}
        for m in ("untraced", "bop"):
            summary.append((c, m, med[m][0], med[m][1], med["untraced"][0] / med[m][0]))
    return summary, leaders, (statistics.median(per_put) if per_put else None)


def trace_events(trace):
    """The event count in a trace's footer (bop writes it on exit), else None."""
    try:
        with open(trace, "rb") as f:
            f.seek(max(0, os.path.getsize(trace) - 65536))
            last = f.read().splitlines()[-1]
        footer = json.loads(last)
        return footer.get("events") if footer.get("type") == "footer" else None
    except (OSError, IndexError, ValueError):
        return None


def memory(seconds, rounds):
    pp = [os.path.join(WORK, "pingpong"), str(rounds)]
    trace = os.path.join(WORK, "mem.jsonl")
    # bop's default run limit is 60 s: give it the whole measurement and a margin, and stop it
    # with SIGINT at the end (it flushes the trace and exits)
    p = subprocess.Popen([BOP, "run", "-q", "--timeout", f"{seconds + 120}s", "--trace", trace, "--"] + pp,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started = time.time()
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
    ran = time.time() - started
    if p.poll() is None:
        p.send_signal(signal.SIGINT)
    elif ran < seconds:
        raise RuntimeError(f"memory: bop exited after {ran:.0f} s of the {seconds} s (status {p.returncode})")
    p.wait()
    events = sum(1 for line in open(trace) if '"type":"event"' in line)
    size = os.path.getsize(trace)
    return samples, events, size, ran


HEADER = """# bop benchmark results

Assembled by `bench/run.py`, do not edit: each section below is `bench/results/NAME.md`, written
by the run that measured it and saying when, on which machine and with which command (a run
with `--only` re-measures some sections and keeps the others, so they may come from different
runs); the commentary at the end is `bench/NOTES.md`, written by hand.
"""


def provenance(cmd):
    return (f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.node()}, "
            f"{os.cpu_count()} CPUs, {platform.platform()}, with `{cmd}`.")


def save(name, lines):
    text = "\n".join(lines).rstrip("\n") + "\n"
    with open(os.path.join(RESULTS, name + ".md"), "w") as f:
        f.write(text)
    print(text, flush=True)


def assemble():
    """RESULTS.md: the header, every section file (in SECTIONS order, then any other), NOTES.md."""
    present = [n[:-3] for n in os.listdir(RESULTS) if n.endswith(".md")] if os.path.isdir(RESULTS) else []
    names = [n for n in SECTIONS if n in present] + sorted(n for n in present if n not in SECTIONS)
    parts = [HEADER]
    for n in names:
        with open(os.path.join(RESULTS, n + ".md")) as f:
            parts.append(f.read())
    notes = os.path.join(ROOT, "bench", "NOTES.md")
    if os.path.exists(notes):
        with open(notes) as f:
            parts.append(f.read())
    with open(os.path.join(ROOT, "bench", "RESULTS.md"), "w") as f:
        f.write("\n".join(p.strip("\n") + "\n" for p in parts))
    return names


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer rounds (a smoke test)")
    ap.add_argument("--only", action="append", choices=SECTIONS,
                    help="measure only this (repeatable); the other sections of RESULTS.md are kept")
    ap.add_argument("--baseline", metavar="BOP",
                    help="another bop binary (the build before a change) to measure beside this one "
                    "in the ping-pong")
    a = ap.parse_args()
    global WORK
    WORK = tempfile.mkdtemp(prefix="bop-bench.")
    only = set(a.only or SECTIONS)
    cmd = shlex.join(["python3", "bench/run.py"] + sys.argv[1:])
    reps = 3 if a.quick else 7
    os.makedirs(RESULTS, exist_ok=True)
    try:
        build()
        if "pingpong" in only:
            rounds = 5000 if a.quick else 20000
            out = [f"## Ping-pong, {rounds} round trips of 8 bytes", "", provenance(cmd), ""]
            for pin in (True, False):
                res = pingpong(rounds, reps, pin, a.baseline)
                out += [f"### {'Pinned (taskset -c 0)' if pin else 'Unpinned'}, median of {reps}", "",
                        "| mechanism | seconds | slowdown | µs per traced call |", "|---|---|---|---|"]
                for k, sec, ratio, per in res:
                    out.append(f"| {k} | {sec:.3f} | {ratio:.2f}× | {per:.1f} |")
                out.append("")
            save("pingpong", out)
        if "redis" in only:
            r = redis(reps, 5000 if a.quick else 20000)
            if r:
                out = ["## redis-benchmark against redis-server (one connection set, -n per test)", "",
                       provenance(cmd), "", "| test | mode | requests/s | p99 ms |", "|---|---|---|---|"]
                out += [f"| {t} | {m} | {rps:.0f} | {p99:.3f} |" for t, m, rps, p99 in r]
                save("redis", out)
            else:
                print("redis-server or redis-benchmark not installed: redis not measured "
                      "(bench/results/redis.md kept)", file=sys.stderr)
        if "etcd" in only:
            secs = 3 if a.quick else 10
            r = etcd(reps, secs)
            if r:
                rows, leaders, per_put = r
                version = subprocess.run(["etcd", "--version"], capture_output=True,
                                         text=True).stdout.split("\n")[0].replace("etcd Version: ", "")
                out = ["## etcd: put throughput of a three-member cluster", "", provenance(cmd), "",
                       textwrap.fill(f"etcd {version}, the members of `systems/etcd` (`member.sh`: 127.0.0.1, heartbeat "
                       "100 ms, election timeout 1 s), a new cluster in a fresh data directory for every "
                       "round; untraced, or all three under one `bop run` (the load generator is never "
                       "traced). Load: Python threads putting 100-byte values (each client over its own "
                       f"{ETCD_KEYS} keys) through etcd's v3 JSON gateway (`POST /v3/kv/put`), one "
                       "persistent HTTP/1.1 connection per client, the next put once the last has "
                       "committed; client i talks to member i mod 3 (8 clients: 3 on e1, 3 on e2, 2 on "
                       f"e3; 1 client: e1 only). {secs:g} s per client count, after a {min(1.0, secs / 3):.1f} s "
                       f"warm-up; median of {reps} interleaved rounds (each round: an untraced cluster, "
                       "then a traced one; both client counts on the same cluster). Slowdown: untraced "
                       "puts/s over traced.", 96, break_on_hyphens=False), "",
                       "| clients | mode | puts/s | p99 ms | slowdown |", "|---|---|---|---|---|"]
                out += [f"| {c} | {m} | {rate:.0f} | {p99:.2f} | {ratio:.2f}× |" for c, m, rate, p99, ratio in rows]
                out += ["", f"The leader (a single client's put through a follower takes one more hop) was "
                        f"untraced {', '.join(leaders['untraced'])}; traced {', '.join(leaders['bop'])}."]
                if per_put:
                    out[-1] += (f" Under bop, about {per_put:.0f} events per put (every event of the traced "
                                "run, start-up and heartbeats included, over every put it served).")
                out[-1] = textwrap.fill(out[-1], 96, break_on_hyphens=False)
                save("etcd", out)
            else:
                print("etcd not installed: etcd not measured (bench/results/etcd.md kept)",
                      file=sys.stderr)
        if "memory" in only:
            secs = 60 if a.quick else 600
            samples, events, size, ran = memory(secs, 100_000_000)
            rss = [s[1] for s in samples]
            # the first sample can come before bop has even mapped its heap: say so, and
            # judge flatness from the samples after the first minute
            settled = [r for (t, r) in samples if t - samples[0][0] >= 60] if samples else []
            lines = [f"## bop's memory over a {secs} s ping-pong run", "", provenance(cmd), "",
                     f"{events} events in {ran:.0f} s ({events / max(ran, 1):.0f} a second), trace "
                     f"{size / 1e6:.1f} MB = {size / max(events, 1):.0f} bytes per event; bop's RSS, "
                     f"sampled every 5 s: first {rss[0] if rss else 0} kB, max {max(rss) if rss else 0} kB, "
                     f"last {rss[-1] if rss else 0} kB over {len(rss)} samples"]
            if settled:
                lines[-1] += (f"; after the first minute between {min(settled)} and {max(settled)} kB "
                              f"({len(settled)} samples).")
            else:
                lines[-1] += "."
            save("memory", lines)
    finally:
        names = assemble()
        shutil.rmtree(WORK, ignore_errors=True)
    print(f"bench/RESULTS.md: {', '.join(names)} (from bench/results/) and bench/NOTES.md")


if __name__ == "__main__":
    main()
