#!/usr/bin/env python3
"""tb-dense, Python 3 edition: the dense key-value testbed (see ../README.md).

Usage:

    dense.py server PORT CONNS [--nagle on|off] [--mode blocking|nonblocking]
    dense.py client PORT --conns N --rounds R --size MIN-MAX [--pipeline]
                    [--nagle on|off] [--mode blocking|nonblocking] [--seed S]

Standard library only (Python 3.8 or later). Both sides use 127.0.0.1:PORT only.

Modes:

* ``--mode nonblocking`` (the default): asyncio. The server is ``asyncio.start_server`` with
  one task per connection; the client runs its N connections as N concurrent tasks of one
  event loop. Every request and every reply is one ``writer.write(whole_message)`` followed
  by ``await writer.drain()``. (The transport tries ``send`` at once and only buffers and
  waits for EPOLLOUT what the kernel did not take, so one write call may become several
  ``send`` syscalls for a large message.) Note that asyncio sets ``TCP_NODELAY`` on every
  TCP transport by itself; ``--nagle on`` clears it explicitly.
* ``--mode blocking``: blocking sockets and one OS thread per connection. The server accepts
  on one thread and starts a thread per connection; the client starts a thread per
  connection. Reads go through ``sock.makefile("rb")`` (``recv_into``), every request and
  reply is one ``sock.sendall(whole_message)``. The server's map is behind a
  ``threading.Lock``.

Protocol (one map shared by all connections, keys per connection ``c<conn>k<round mod 8>``):

    SET <key> <len>\\n<value>\\n   ->  OK\\n
    GET <key>\\n                   ->  VALUE <len>\\n<value>\\n   or   NONE\\n

The client, for each connection c (0-based) and round r (0-based): draws the value's length
uniformly in [MIN, MAX] from ``random.Random(S + c)``; the value is ``c<c>r<r>.`` repeated
and cut to that length. Without ``--pipeline`` it writes SET, reads OK, writes GET, reads
VALUE; with ``--pipeline`` it writes SET and GET in one write, then reads both replies. It
checks every reply byte for byte.

``--nagle off`` (the default) sets TCP_NODELAY to 1 on every connected socket of both
sides; ``--nagle on`` sets it to 0 explicitly.

Exit statuses: 0 on success (the client prints ``ok conns=N rounds=R sent=B received=B``;
the server exits once CONNS connections that sent something have been closed by their
client), 1 on any error (``tb-dense: error: ...`` on stderr; the server also fails after
30 s without a new byte or connection, the client if the whole run takes over 60 s), 2 on
a usage error.
"""

import asyncio
import os
import random
import socket
import sys
import threading
import time

HOST = "127.0.0.1"
MAX_LINE = 256  # longest request or reply header line accepted, newline included
SERVER_IDLE = 30.0  # the server fails after this long without a new byte or connection
CLIENT_DEADLINE = 60.0  # the client fails if the whole run takes longer
CONNECT_TRIES = 50  # attempts at a refused connection ...
CONNECT_PAUSE = 0.1  # ... this far apart

USAGE = """usage:
  dense.py server PORT CONNS [--nagle on|off] [--mode blocking|nonblocking]
  dense.py client PORT --conns N --rounds R --size MIN-MAX [--pipeline]
                  [--nagle on|off] [--mode blocking|nonblocking] [--seed S]"""


class Failure(Exception):
    """A run-time error: reported as `tb-dense: error: ...`, exit status 1."""


def die(msg, status=1):
    sys.stdout.flush()
    sys.stderr.write("tb-dense: error: %s\n" % msg)
    sys.stderr.flush()
    os._exit(status)


def usage(msg):
    sys.stderr.write("tb-dense: usage error: %s\n%s\n" % (msg, USAGE))
    sys.stderr.flush()
    sys.exit(2)


# ---------------------------------------------------------------------------------------
# Command line


def parse_int(what, text, lo, hi):
    try:
        n = int(text, 10)
    except ValueError:
        usage("%s must be a whole number, not %r" % (what, text))
    if n < lo or (hi is not None and n > hi):
        usage("%s must be %s, not %d" % (what, "from %d to %d" % (lo, hi) if hi is not None
                                          else "at least %d" % lo, n))
    return n


def parse_args(argv):
    if not argv or argv[0] in ("-h", "--help"):
        usage("give a role: server or client")
    role = argv[0]
    if role not in ("server", "client"):
        usage("unknown role %r: expected server or client" % role)
    opts = {"nagle": "off", "mode": "nonblocking", "pipeline": False, "seed": 1,
            "conns": None, "rounds": None, "size": None}
    valued = {"--nagle", "--mode"}
    if role == "client":
        valued |= {"--conns", "--rounds", "--size", "--seed"}
    positional = []
    i = 1
    while i < len(argv):
        a = argv[i]
        if a.startswith("--"):
            name, eq, val = a.partition("=")
            if role == "client" and name == "--pipeline" and not eq:
                opts["pipeline"] = True
                i += 1
                continue
            if name not in valued:
                usage("unknown option %r for %s" % (a, role))
            if not eq:
                i += 1
                if i >= len(argv):
                    usage("%s needs a value" % name)
                val = argv[i]
            key = name[2:]
            if key == "nagle":
                if val not in ("on", "off"):
                    usage("--nagle must be on or off, not %r" % val)
                opts["nagle"] = val
            elif key == "mode":
                if val not in ("blocking", "nonblocking"):
                    usage("--mode must be blocking or nonblocking, not %r" % val)
                opts["mode"] = val
            elif key == "conns":
                opts["conns"] = parse_int("--conns", val, 1, None)
            elif key == "rounds":
                opts["rounds"] = parse_int("--rounds", val, 1, None)
            elif key == "seed":
                opts["seed"] = parse_int("--seed", val, -(1 << 63), None)
            elif key == "size":
                lo, dash, hi = val.partition("-")
                if not dash:
                    usage("--size must be MIN-MAX, e.g. 1-700, not %r" % val)
                mn = parse_int("--size MIN", lo, 1, 65536)
                mx = parse_int("--size MAX", hi, 1, 65536)
                if mn > mx:
                    usage("--size MIN must not exceed MAX (%d-%d)" % (mn, mx))
                opts["size"] = (mn, mx)
        else:
            positional.append(a)
        i += 1
    if role == "server":
        if len(positional) != 2:
            usage("server takes PORT CONNS")
        opts["port"] = parse_int("PORT", positional[0], 1, 65535)
        opts["conns"] = parse_int("CONNS", positional[1], 1, None)
    else:
        if len(positional) != 1:
            usage("client takes PORT (and --conns, --rounds, --size)")
        opts["port"] = parse_int("PORT", positional[0], 1, 65535)
        for key in ("conns", "rounds", "size"):
            if opts[key] is None:
                usage("client needs --%s" % key)
    return role, opts


def set_nagle(sock, nagle):
    # TCP_NODELAY=1 turns Nagle's algorithm off; 0 turns it on.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0 if nagle == "on" else 1)


# ---------------------------------------------------------------------------------------
# Server: the request parser shared by both modes


def parse_request_line(line):
    """Returns ("SET", key, length) or ("GET", key, None); raises Failure."""
    if not line.endswith(b"\n"):
        raise Failure("request line too long or cut: %r" % line[:80])
    words = line[:-1].split(b" ")
    if len(words) == 3 and words[0] == b"SET":
        try:
            n = int(words[2])
        except ValueError:
            raise Failure("bad SET length in %r" % line[:80])
        if n < 0 or n > 1 << 20:
            raise Failure("SET length out of range in %r" % line[:80])
        return "SET", words[1], n
    if len(words) == 2 and words[0] == b"GET":
        return "GET", words[1], None
    raise Failure("bad request %r" % line[:80])


def value_reply(value):
    if value is None:
        return b"NONE\n"
    return b"VALUE %d\n" % len(value) + value + b"\n"


class ServerState:
    def __init__(self, want):
        self.want = want
        self.served = 0
        self.last = time.monotonic()
        self.store = {}


# ---------------------------------------------------------------------------------------
# Server, nonblocking: asyncio


async def server_async(port, want, nagle):
    st = ServerState(want)
    loop = asyncio.get_running_loop()
    done = loop.create_future()  # result: exit status; exception: Failure

    def finish(exc=None):
        if not done.done():
            if exc is None:
                done.set_result(0)
            else:
                done.set_exception(exc)

    async def handle(reader, writer):
        st.last = time.monotonic()
        set_nagle(writer.get_extra_info("socket"), nagle)
        got = False
        try:
            while True:
                try:
                    line = await reader.readuntil(b"\n")
                except asyncio.IncompleteReadError as e:
                    if e.partial:
                        raise Failure("connection closed inside a request line")
                    break  # clean EOF
                except asyncio.LimitOverrunError:
                    raise Failure("request line too long")
                except (ConnectionResetError, BrokenPipeError):
                    break
                st.last = time.monotonic()
                got = True
                if len(line) > MAX_LINE:
                    raise Failure("request line too long")
                op, key, n = parse_request_line(line)
                if op == "SET":
                    try:
                        body = await reader.readexactly(n + 1)
                    except asyncio.IncompleteReadError:
                        raise Failure("connection closed inside a SET value")
                    st.last = time.monotonic()
                    if body[-1:] != b"\n":
                        raise Failure("SET value of %r not followed by a newline" % key)
                    st.store[key] = body[:-1]
                    reply = b"OK\n"
                else:
                    reply = value_reply(st.store.get(key))
                writer.write(reply)  # the whole reply in one transport write
                await writer.drain()
        except Failure as e:
            finish(e)
            return
        except (ConnectionResetError, BrokenPipeError):
            pass  # the client went away mid-reply: it closed the connection, count it
        except Exception as e:  # noqa: BLE001 - any other error fails the server
            finish(Failure("connection handler: %r" % e))
            return
        finally:
            writer.close()
        if got:
            st.served += 1
            if st.served >= st.want:
                finish()

    server = await asyncio.start_server(handle, HOST, port, backlog=256)

    async def watchdog():
        while not done.done():
            await asyncio.sleep(0.5)
            idle = time.monotonic() - st.last
            if idle > SERVER_IDLE:
                finish(Failure("no new byte or connection for %.0f s (%d of %d connections "
                               "served)" % (SERVER_IDLE, st.served, st.want)))

    dog = asyncio.ensure_future(watchdog())
    try:
        return await done
    finally:
        dog.cancel()
        server.close()


# ---------------------------------------------------------------------------------------
# Server, blocking: a thread per connection


def server_threads(port, want, nagle):
    st = ServerState(want)
    lock = threading.Lock()
    ended = threading.Event()
    result = []  # the first Failure, if any

    def fail(exc):
        with lock:
            result.append(exc)
        ended.set()

    def handle(sock):
        set_nagle(sock, nagle)
        f = sock.makefile("rb")
        got = False
        try:
            while True:
                try:
                    line = f.readline(MAX_LINE + 1)
                except (ConnectionResetError, BrokenPipeError):
                    break
                if not line:
                    break  # clean EOF
                st.last = time.monotonic()
                got = True
                op, key, n = parse_request_line(line)
                if op == "SET":
                    body = f.read(n + 1)
                    st.last = time.monotonic()
                    if len(body) != n + 1:
                        raise Failure("connection closed inside a SET value")
                    if body[-1:] != b"\n":
                        raise Failure("SET value of %r not followed by a newline" % key)
                    with lock:
                        st.store[key] = body[:-1]
                    reply = b"OK\n"
                else:
                    with lock:
                        value = st.store.get(key)
                    reply = value_reply(value)
                sock.sendall(reply)  # the whole reply in one sendall
        except Failure as e:
            fail(e)
            return
        except (ConnectionResetError, BrokenPipeError):
            pass  # the client went away: it closed the connection, count it
        except Exception as e:  # noqa: BLE001 - any other error fails the server
            fail(Failure("connection handler: %r" % e))
            return
        finally:
            f.close()
            sock.close()
        if got:
            with lock:
                st.served += 1
                if st.served >= st.want:
                    ended.set()

    def acceptor(listener):
        try:
            while True:
                sock, _ = listener.accept()
                st.last = time.monotonic()
                threading.Thread(target=handle, args=(sock,), daemon=True).start()
        except Exception as e:  # noqa: BLE001
            fail(Failure("accept: %r" % e))

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((HOST, port))
    except OSError as e:
        raise Failure("cannot listen on %s:%d: %s" % (HOST, port, e))
    listener.listen(256)
    threading.Thread(target=acceptor, args=(listener,), daemon=True).start()
    while not ended.wait(0.5):
        if time.monotonic() - st.last > SERVER_IDLE:
            with lock:
                served = st.served
            raise Failure("no new byte or connection for %.0f s (%d of %d connections served)"
                          % (SERVER_IDLE, served, want))
    with lock:
        if result:
            raise result[0]
    return 0


# ---------------------------------------------------------------------------------------
# Client: the workload shared by both modes


def make_value(conn, rnd, length):
    unit = b"c%dr%d." % (conn, rnd)
    return (unit * (length // len(unit) + 1))[:length]


def rounds_of(conn, opts):
    """Yields (key, value, set_request, get_request) for each round of connection conn."""
    rng = random.Random(opts["seed"] + conn)
    mn, mx = opts["size"]
    for r in range(opts["rounds"]):
        length = rng.randint(mn, mx)
        key = b"c%dk%d" % (conn, r % 8)
        value = make_value(conn, r, length)
        yield (key, value, b"SET %s %d\n" % (key, length) + value + b"\n",
               b"GET %s\n" % key)


def check_value(conn, rnd, key, want, got):
    if got == want:
        return
    if len(got) != len(want):
        raise Failure("conn %d round %d: GET %s returned %d bytes, expected %d"
                      % (conn, rnd, key.decode(), len(got), len(want)))
    at = next(i for i in range(len(want)) if got[i] != want[i])
    raise Failure("conn %d round %d: GET %s returned a wrong value: first difference at "
                  "byte %d: got %r, expected %r" % (conn, rnd, key.decode(), at,
                                                   got[at:at + 24], want[at:at + 24]))


def parse_value_header(conn, rnd, line):
    if line == b"NONE\n":
        raise Failure("conn %d round %d: GET returned NONE for a key just set" % (conn, rnd))
    if not line.startswith(b"VALUE ") or not line.endswith(b"\n"):
        raise Failure("conn %d round %d: expected VALUE, got %r" % (conn, rnd, line[:80]))
    try:
        return int(line[6:-1])
    except ValueError:
        raise Failure("conn %d round %d: bad VALUE header %r" % (conn, rnd, line[:80]))


def expect_ok(conn, rnd, line):
    if line != b"OK\n":
        raise Failure("conn %d round %d: expected OK to SET, got %r" % (conn, rnd, line[:80]))


# ---------------------------------------------------------------------------------------
# Client, nonblocking: asyncio, one task per connection


async def client_async(opts):
    port, nagle, pipeline = opts["port"], opts["nagle"], opts["pipeline"]
    totals = [0, 0]  # sent, received

    async def connect(conn):
        for attempt in range(CONNECT_TRIES):
            try:
                return await asyncio.open_connection(HOST, port)
            except ConnectionRefusedError:
                if attempt + 1 == CONNECT_TRIES:
                    raise Failure("conn %d: connection to %s:%d refused %d times"
                                  % (conn, HOST, port, CONNECT_TRIES))
                await asyncio.sleep(CONNECT_PAUSE)

    async def run_conn(conn):
        reader, writer = await connect(conn)
        set_nagle(writer.get_extra_info("socket"), nagle)
        sent = received = 0
        try:
            for r, (key, value, set_req, get_req) in enumerate(rounds_of(conn, opts)):
                if pipeline:
                    writer.write(set_req + get_req)  # SET and GET in one write
                    await writer.drain()
                    sent += len(set_req) + len(get_req)
                else:
                    writer.write(set_req)
                    await writer.drain()
                    sent += len(set_req)
                line = await reader.readuntil(b"\n")
                received += len(line)
                expect_ok(conn, r, line)
                if not pipeline:
                    writer.write(get_req)
                    await writer.drain()
                    sent += len(get_req)
                line = await reader.readuntil(b"\n")
                received += len(line)
                n = parse_value_header(conn, r, line)
                body = await reader.readexactly(n + 1)
                received += len(body)
                if body[-1:] != b"\n":
                    raise Failure("conn %d round %d: VALUE not followed by a newline"
                                  % (conn, r))
                check_value(conn, r, key, value, body[:-1])
        except asyncio.IncompleteReadError:
            raise Failure("conn %d: the server closed the connection mid-reply" % conn)
        except asyncio.LimitOverrunError:
            raise Failure("conn %d: reply line too long" % conn)
        except (ConnectionError, OSError) as e:
            raise Failure("conn %d: %s" % (conn, e))
        writer.close()
        await writer.wait_closed()
        totals[0] += sent
        totals[1] += received

    await asyncio.gather(*(run_conn(c) for c in range(opts["conns"])))
    return totals


async def client_async_deadline(opts):
    try:
        return await asyncio.wait_for(client_async(opts), CLIENT_DEADLINE)
    except asyncio.TimeoutError:
        raise Failure("the run took longer than %.0f s" % CLIENT_DEADLINE)


# ---------------------------------------------------------------------------------------
# Client, blocking: a thread per connection


def client_threads(opts):
    port, nagle, pipeline = opts["port"], opts["nagle"], opts["pipeline"]
    lock = threading.Lock()
    totals = [0, 0]
    errors = []
    left = [opts["conns"]]
    ended = threading.Event()

    def connect(conn):
        for attempt in range(CONNECT_TRIES):
            try:
                return socket.create_connection((HOST, port))
            except ConnectionRefusedError:
                if attempt + 1 == CONNECT_TRIES:
                    raise Failure("conn %d: connection to %s:%d refused %d times"
                                  % (conn, HOST, port, CONNECT_TRIES))
                time.sleep(CONNECT_PAUSE)

    def run_conn(conn):
        sent = received = 0
        try:
            sock = connect(conn)
            set_nagle(sock, nagle)
            f = sock.makefile("rb")
            try:
                for r, (key, value, set_req, get_req) in enumerate(rounds_of(conn, opts)):
                    if pipeline:
                        sock.sendall(set_req + get_req)  # SET and GET in one sendall
                        sent += len(set_req) + len(get_req)
                    else:
                        sock.sendall(set_req)
                        sent += len(set_req)
                    line = f.readline(MAX_LINE)
                    received += len(line)
                    if not line:
                        raise Failure("conn %d: the server closed the connection" % conn)
                    expect_ok(conn, r, line)
                    if not pipeline:
                        sock.sendall(get_req)
                        sent += len(get_req)
                    line = f.readline(MAX_LINE)
                    received += len(line)
                    if not line:
                        raise Failure("conn %d: the server closed the connection" % conn)
                    n = parse_value_header(conn, r, line)
                    body = f.read(n + 1)
                    received += len(body)
                    if len(body) != n + 1:
                        raise Failure("conn %d: the server closed the connection mid-reply"
                                      % conn)
                    if body[-1:] != b"\n":
                        raise Failure("conn %d round %d: VALUE not followed by a newline"
                                      % (conn, r))
                    check_value(conn, r, key, value, body[:-1])
            finally:
                f.close()
                sock.close()
        except Failure as e:
            with lock:
                errors.append(e)
            ended.set()
            return
        except OSError as e:
            with lock:
                errors.append(Failure("conn %d: %s" % (conn, e)))
            ended.set()
            return
        with lock:
            totals[0] += sent
            totals[1] += received
            left[0] -= 1
            if left[0] == 0:
                ended.set()

    for c in range(opts["conns"]):
        threading.Thread(target=run_conn, args=(c,), daemon=True).start()
    if not ended.wait(CLIENT_DEADLINE):
        raise Failure("the run took longer than %.0f s" % CLIENT_DEADLINE)
    with lock:
        if errors:
            raise errors[0]
        return totals


# ---------------------------------------------------------------------------------------


def main(argv):
    role, opts = parse_args(argv)
    try:
        if role == "server":
            if opts["mode"] == "nonblocking":
                try:
                    status = asyncio.run(server_async(opts["port"], opts["conns"],
                                                      opts["nagle"]))
                except OSError as e:
                    raise Failure("cannot listen on %s:%d: %s" % (HOST, opts["port"], e))
            else:
                status = server_threads(opts["port"], opts["conns"], opts["nagle"])
            sys.stdout.flush()
            return status
        if opts["mode"] == "nonblocking":
            sent, received = asyncio.run(client_async_deadline(opts))
        else:
            sent, received = client_threads(opts)
        print("ok conns=%d rounds=%d sent=%d received=%d"
              % (opts["conns"], opts["rounds"], sent, received))
        sys.stdout.flush()
        return 0
    except Failure as e:
        die(str(e))
    except Exception as e:  # noqa: BLE001 - anything unexpected is an error too
        die("%s: %s" % (type(e).__name__, e))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
