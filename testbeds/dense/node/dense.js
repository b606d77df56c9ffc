#!/usr/bin/env node
// tb-dense, Node.js edition: the dense key-value testbed (see ../README.md).
//
// Usage:
//
//   node dense.js server PORT CONNS [--nagle on|off] [--mode nonblocking]
//   node dense.js client PORT --conns N --rounds R --size MIN-MAX [--pipeline]
//                        [--nagle on|off] [--mode nonblocking] [--seed S]
//
// Node.js 20, CommonJS, standard library only. Both sides use 127.0.0.1:PORT only.
//
// Mode: Node has one event loop (libuv, epoll) and nothing else, so only `--mode nonblocking`
// exists; `--mode blocking` is refused with exit status 2.
//
// * Server: net.createServer; every connection gets a parser that buffers the bytes of its
//   'data' events and handles each complete request as soon as it is there (a SET's value is
//   taken by its announced length, not by looking for a newline). Every reply is ONE
//   socket.write(Buffer) holding the whole reply. (libuv writes it at once if the kernel takes
//   it; what the kernel does not take is finished later on EPOLLOUT, and while a write is
//   pending Node's stream queues later replies and may hand them to the kernel together in
//   one writev: that is the runtime's doing, not ours.) The map is one Map shared by all
//   connections; with one JS thread it needs no lock.
// * Client: N net.Socket connections opened and driven concurrently by N async functions on
//   the one event loop, each doing R rounds. A request is one socket.write(Buffer); with
//   --pipeline, SET and GET go out in ONE socket.write of one Buffer.
// * --nagle off (the default) calls socket.setNoDelay(true) on every connected socket of both
//   sides; --nagle on calls socket.setNoDelay(false). (Node only issues the setsockopt when
//   the value changes, and a new socket starts with Nagle on, so to clear TCP_NODELAY
//   *explicitly* as the README asks, --nagle on first sets it and then clears it.)
//
// Protocol (keys per connection `c<conn>k<round mod 8>`):
//
//   SET <key> <len>\n<value>\n   ->  OK\n
//   GET <key>\n                  ->  VALUE <len>\n<value>\n   or   NONE\n
//
// The client, for connection c (0-based) and round r (0-based), draws the value's length
// uniformly in [MIN, MAX] from a mulberry32 PRNG seeded with (S + c) mod 2^32 (default S = 1);
// the value is `c<c>r<r>.` repeated and cut to that length. Without --pipeline: write SET,
// read OK, write GET, read VALUE; with --pipeline: write SET+GET at once, read both replies.
// Every reply is checked byte for byte.
//
// Exit statuses: 0 on success (the client prints `ok conns=N rounds=R sent=B received=B`; the
// server exits once CONNS connections that sent something have been closed by their client),
// 1 on any error (`tb-dense: error: ...` on stderr; the server also fails after 30 s without
// a new byte or connection, the client if the whole run takes over 60 s), 2 on a usage error.

'use strict';

const net = require('net');

const HOST = '127.0.0.1';
const MAX_LINE = 256; // longest request or reply header line accepted, newline included
const SERVER_IDLE_MS = 30000; // the server fails after this long without a new byte or connection
const CLIENT_DEADLINE_MS = 60000; // the client fails if the whole run takes longer
const CONNECT_TRIES = 50; // attempts at a refused connection ...
const CONNECT_PAUSE_MS = 100; // ... this far apart
const NL = 0x0a;

const USAGE = `usage:
  dense.js server PORT CONNS [--nagle on|off] [--mode nonblocking]
  dense.js client PORT --conns N --rounds R --size MIN-MAX [--pipeline]
                  [--nagle on|off] [--mode nonblocking] [--seed S]`;

class Failure extends Error {}

function die(msg) {
  // stderr is synchronous for files and pipes on Linux, so nothing is lost by exiting now.
  process.stderr.write(`tb-dense: error: ${msg}\n`);
  process.exit(1);
}

function usage(msg) {
  process.stderr.write(`tb-dense: usage error: ${msg}\n${USAGE}\n`);
  process.exit(2);
}

// ---------------------------------------------------------------------------------------
// Command line

function parseInt10(what, text, lo, hi) {
  if (!/^[+-]?[0-9]+$/.test(text)) usage(`${what} must be a whole number, not ${JSON.stringify(text)}`);
  const n = Number(text);
  if (!Number.isSafeInteger(n)) usage(`${what} is too large: ${text}`);
  if (n < lo || (hi !== null && n > hi)) {
    usage(`${what} must be ${hi !== null ? `from ${lo} to ${hi}` : `at least ${lo}`}, not ${n}`);
  }
  return n;
}

function parseArgs(argv) {
  if (argv.length === 0 || argv[0] === '-h' || argv[0] === '--help') usage('give a role: server or client');
  const role = argv[0];
  if (role !== 'server' && role !== 'client') usage(`unknown role ${JSON.stringify(role)}: expected server or client`);
  const opts = { nagle: 'off', mode: 'nonblocking', pipeline: false, seed: 1, conns: null, rounds: null, size: null };
  const valued = new Set(['--nagle', '--mode']);
  if (role === 'client') for (const o of ['--conns', '--rounds', '--size', '--seed']) valued.add(o);
  const positional = [];
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) {
      positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = eq < 0 ? a : a.slice(0, eq);
    if (role === 'client' && a === '--pipeline') {
      opts.pipeline = true;
      continue;
    }
    if (!valued.has(name)) usage(`unknown option ${JSON.stringify(a)} for ${role}`);
    let val;
    if (eq >= 0) {
      val = a.slice(eq + 1);
    } else {
      if (++i >= argv.length) usage(`${name} needs a value`);
      val = argv[i];
    }
    switch (name) {
      case '--nagle':
        if (val !== 'on' && val !== 'off') usage(`--nagle must be on or off, not ${JSON.stringify(val)}`);
        opts.nagle = val;
        break;
      case '--mode':
        if (val !== 'blocking' && val !== 'nonblocking') {
          usage(`--mode must be blocking or nonblocking, not ${JSON.stringify(val)}`);
        }
        opts.mode = val;
        break;
      case '--conns':
        opts.conns = parseInt10('--conns', val, 1, null);
        break;
      case '--rounds':
        opts.rounds = parseInt10('--rounds', val, 1, null);
        break;
      case '--seed':
        opts.seed = parseInt10('--seed', val, Number.MIN_SAFE_INTEGER, null);
        break;
      case '--size': {
        const dash = val.indexOf('-');
        if (dash < 0) usage(`--size must be MIN-MAX, e.g. 1-700, not ${JSON.stringify(val)}`);
        const mn = parseInt10('--size MIN', val.slice(0, dash), 1, 65536);
        const mx = parseInt10('--size MAX', val.slice(dash + 1), 1, 65536);
        if (mn > mx) usage(`--size MIN must not exceed MAX (${mn}-${mx})`);
        opts.size = [mn, mx];
        break;
      }
    }
  }
  if (opts.mode === 'blocking') {
    process.stderr.write('tb-dense: usage error: --mode blocking is not offered by the Node.js edition: ' +
      'Node has one event loop and no blocking sockets; use --mode nonblocking\n');
    process.exit(2);
  }
  if (role === 'server') {
    if (positional.length !== 2) usage('server takes PORT CONNS');
    opts.port = parseInt10('PORT', positional[0], 1, 65535);
    opts.conns = parseInt10('CONNS', positional[1], 1, null);
  } else {
    if (positional.length !== 1) usage('client takes PORT (and --conns, --rounds, --size)');
    opts.port = parseInt10('PORT', positional[0], 1, 65535);
    for (const key of ['conns', 'rounds', 'size']) if (opts[key] === null) usage(`client needs --${key}`);
  }
  return [role, opts];
}

// TCP_NODELAY on (Nagle off) for --nagle off; cleared explicitly for --nagle on (Node skips
// the setsockopt when the value does not change, and it believes a new socket has it off).
function setNagle(sock, nagle) {
  if (nagle === 'off') {
    sock.setNoDelay(true);
  } else {
    sock.setNoDelay(true);
    sock.setNoDelay(false);
  }
}

function show(buf) {
  return JSON.stringify(buf.subarray(0, 80).toString('latin1'));
}

// ---------------------------------------------------------------------------------------
// Byte buffer shared by both sides: the chunks received and not yet consumed.

class Chunks {
  constructor() {
    this.list = [];
    this.len = 0;
  }
  push(chunk) {
    this.list.push(chunk);
    this.len += chunk.length;
  }
  // All buffered bytes as one Buffer (concatenated only when there is more than one chunk).
  flat() {
    if (this.list.length > 1) this.list = [Buffer.concat(this.list, this.len)];
    return this.list.length ? this.list[0] : Buffer.alloc(0);
  }
  // Removes and returns the first n bytes (n <= len).
  take(n) {
    const all = this.flat();
    const head = all.subarray(0, n);
    const rest = all.subarray(n);
    this.list = rest.length ? [rest] : [];
    this.len = rest.length;
    return head;
  }
  // Index of the first newline among the first `limit` bytes, or -1.
  newline(limit) {
    let base = 0;
    for (const c of this.list) {
      if (base >= limit) break;
      const at = c.indexOf(NL);
      if (at >= 0 && base + at < limit) return base + at;
      if (at >= 0) return -1;
      base += c.length;
    }
    return -1;
  }
}

// ---------------------------------------------------------------------------------------
// Server

function serve(opts) {
  const want = opts.conns;
  const store = new Map(); // key (latin1 string) -> value (Buffer); shared by all connections
  let served = 0;
  let last = Date.now();

  const OK = Buffer.from('OK\n');
  const NONE = Buffer.from('NONE\n');

  function valueReply(value) {
    if (value === undefined) return NONE;
    const head = `VALUE ${value.length}\n`;
    const reply = Buffer.allocUnsafe(head.length + value.length + 1);
    reply.write(head, 0, 'latin1');
    value.copy(reply, head.length);
    reply[reply.length - 1] = NL;
    return reply;
  }

  function handle(sock) {
    last = Date.now();
    setNagle(sock, opts.nagle);
    const buf = new Chunks();
    let need = 1; // do not parse again until this many bytes are buffered
    let got = false;
    let failed = false;

    // Handles every complete request in buf, writing one reply per request.
    function parse() {
      while (buf.len >= need) {
        const nl = buf.newline(MAX_LINE);
        if (nl < 0) {
          if (buf.len >= MAX_LINE) throw new Failure(`request line too long: ${show(buf.flat())}`);
          need = buf.len + 1;
          return;
        }
        const head = buf.flat();
        const line = head.toString('latin1', 0, nl);
        const words = line.split(' ');
        let reply;
        if (words.length === 3 && words[0] === 'SET') {
          if (!/^[0-9]+$/.test(words[2])) throw new Failure(`bad SET length in ${JSON.stringify(line)}`);
          const n = Number(words[2]);
          if (n > 1 << 20) throw new Failure(`SET length out of range in ${JSON.stringify(line)}`);
          const total = nl + 1 + n + 1;
          if (buf.len < total) {
            need = total; // wait for the whole value, by its length
            return;
          }
          const req = buf.take(total);
          if (req[total - 1] !== NL) throw new Failure(`SET value of ${words[1]} not followed by a newline`);
          store.set(words[1], Buffer.from(req.subarray(nl + 1, total - 1))); // a copy
          reply = OK;
        } else if (words.length === 2 && words[0] === 'GET') {
          buf.take(nl + 1);
          reply = valueReply(store.get(words[1]));
        } else {
          throw new Failure(`bad request ${JSON.stringify(line.slice(0, 80))}`);
        }
        need = 1;
        sock.write(reply); // the whole reply in ONE socket.write
      }
    }

    sock.on('data', (chunk) => {
      last = Date.now();
      got = true;
      buf.push(chunk);
      try {
        parse();
      } catch (e) {
        if (e instanceof Failure) die(e.message);
        throw e;
      }
    });
    sock.on('end', () => {
      // The client closed its side (allowHalfOpen is false, so Node ends ours after the
      // pending replies). A request cut short is an error.
      if (buf.len > 0) die(`connection closed inside a request: ${show(buf.flat())}`);
    });
    sock.on('error', (e) => {
      // The client went away mid-reply: it closed the connection, so it still counts.
      if (e.code === 'ECONNRESET' || e.code === 'EPIPE') return;
      failed = true;
      die(`connection: ${e.message}`);
    });
    sock.on('close', () => {
      last = Date.now();
      if (!got || failed) return; // a probe that sent nothing does not count
      served += 1;
      if (served >= want) {
        server.close();
        process.exit(0);
      }
    });
  }

  const server = net.createServer(handle);
  server.on('error', (e) => die(`cannot listen on ${HOST}:${opts.port}: ${e.message}`));
  server.listen({ host: HOST, port: opts.port, backlog: 256 });

  setInterval(() => {
    if (Date.now() - last > SERVER_IDLE_MS) {
      die(`no new byte or connection for ${SERVER_IDLE_MS / 1000} s (${served} of ${want} connections served)`);
    }
  }, 500);
}

// ---------------------------------------------------------------------------------------
// Client

// mulberry32: a small 32-bit PRNG, deterministic for a given seed.
function mulberry32(seed) {
  let a = seed >>> 0;
  return function next() {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296; // in [0, 1)
  };
}

function makeValue(conn, round, length) {
  return Buffer.alloc(length, `c${conn}r${round}.`, 'latin1'); // the unit repeated, cut to length
}

// Reads lines and exact byte counts from a connected socket, as promises.
class Reader {
  constructor(sock, conn) {
    this.conn = conn;
    this.buf = new Chunks();
    this.ended = false;
    this.error = null;
    this.wake = null;
    sock.on('data', (c) => {
      this.buf.push(c);
      this.notify();
    });
    sock.on('end', () => {
      this.ended = true;
      this.notify();
    });
    sock.on('error', (e) => {
      this.error = e;
      this.notify();
    });
  }
  notify() {
    const w = this.wake;
    this.wake = null;
    if (w) w();
  }
  wait() {
    if (this.error) throw new Failure(`conn ${this.conn}: ${this.error.message}`);
    if (this.ended) throw new Failure(`conn ${this.conn}: the server closed the connection mid-reply`);
    return new Promise((resolve) => {
      this.wake = resolve;
    });
  }
  async line() {
    for (;;) {
      const nl = this.buf.newline(MAX_LINE);
      if (nl >= 0) return this.buf.take(nl + 1);
      if (this.buf.len >= MAX_LINE) throw new Failure(`conn ${this.conn}: reply line too long: ${show(this.buf.flat())}`);
      await this.wait();
    }
  }
  async exactly(n) {
    while (this.buf.len < n) await this.wait();
    return this.buf.take(n);
  }
}

function connectOnce(port) {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection({ host: HOST, port });
    const onError = (e) => {
      sock.destroy();
      reject(e);
    };
    sock.once('error', onError);
    sock.once('connect', () => {
      sock.removeListener('error', onError);
      resolve(sock);
    });
  });
}

async function connect(conn, port) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await connectOnce(port);
    } catch (e) {
      if (e.code !== 'ECONNREFUSED') throw new Failure(`conn ${conn}: cannot connect to ${HOST}:${port}: ${e.message}`);
      if (attempt >= CONNECT_TRIES) {
        throw new Failure(`conn ${conn}: connection to ${HOST}:${port} refused ${CONNECT_TRIES} times`);
      }
      await new Promise((r) => setTimeout(r, CONNECT_PAUSE_MS));
    }
  }
}

function checkValue(conn, round, key, want, got) {
  if (got.equals(want)) return;
  if (got.length !== want.length) {
    throw new Failure(`conn ${conn} round ${round}: GET ${key} returned ${got.length} bytes, expected ${want.length}`);
  }
  let at = 0;
  while (got[at] === want[at]) at++;
  throw new Failure(`conn ${conn} round ${round}: GET ${key} returned a wrong value: first difference at byte ${at}: ` +
    `got ${show(got.subarray(at, at + 24))}, expected ${show(want.subarray(at, at + 24))}`);
}

async function runConn(conn, opts) {
  const sock = await connect(conn, opts.port);
  setNagle(sock, opts.nagle);
  const reader = new Reader(sock, conn);
  const rng = mulberry32((((opts.seed + conn) % 4294967296) + 4294967296) % 4294967296);
  const [mn, mx] = opts.size;
  let sent = 0;
  let received = 0;
  for (let r = 0; r < opts.rounds; r++) {
    const length = mn + Math.floor(rng() * (mx - mn + 1));
    const key = `c${conn}k${r % 8}`;
    const value = makeValue(conn, r, length);
    const setHead = Buffer.from(`SET ${key} ${length}\n`, 'latin1');
    const getReq = Buffer.from(`GET ${key}\n`, 'latin1');
    const setLen = setHead.length + length + 1;
    if (opts.pipeline) {
      const req = Buffer.allocUnsafe(setLen + getReq.length);
      setHead.copy(req, 0);
      value.copy(req, setHead.length);
      req[setLen - 1] = NL;
      getReq.copy(req, setLen);
      sock.write(req); // SET and GET in ONE socket.write
      sent += req.length;
    } else {
      const req = Buffer.allocUnsafe(setLen);
      setHead.copy(req, 0);
      value.copy(req, setHead.length);
      req[setLen - 1] = NL;
      sock.write(req);
      sent += req.length;
    }
    let line = await reader.line();
    received += line.length;
    if (!(line.length === 3 && line.toString('latin1') === 'OK\n')) {
      throw new Failure(`conn ${conn} round ${r}: expected OK to SET, got ${show(line)}`);
    }
    if (!opts.pipeline) {
      sock.write(getReq);
      sent += getReq.length;
    }
    line = await reader.line();
    received += line.length;
    const text = line.toString('latin1');
    if (text === 'NONE\n') throw new Failure(`conn ${conn} round ${r}: GET returned NONE for a key just set`);
    const m = /^VALUE ([0-9]+)\n$/.exec(text);
    if (!m) throw new Failure(`conn ${conn} round ${r}: expected VALUE, got ${show(line)}`);
    const n = Number(m[1]);
    const body = await reader.exactly(n + 1);
    received += body.length;
    if (body[n] !== NL) throw new Failure(`conn ${conn} round ${r}: VALUE not followed by a newline`);
    checkValue(conn, r, key, value, body.subarray(0, n));
  }
  // Close our side and wait for the server to close its own.
  await new Promise((resolve) => {
    sock.once('close', resolve);
    sock.end();
  });
  return [sent, received];
}

async function client(opts) {
  const deadline = setTimeout(() => die(`the run took longer than ${CLIENT_DEADLINE_MS / 1000} s`), CLIENT_DEADLINE_MS);
  const runs = [];
  for (let c = 0; c < opts.conns; c++) {
    runs.push(runConn(c, opts).catch((e) => die(e instanceof Failure ? e.message : `conn ${c}: ${e.stack || e}`)));
  }
  const results = await Promise.all(runs);
  clearTimeout(deadline);
  let sent = 0;
  let received = 0;
  for (const [s, r] of results) {
    sent += s;
    received += r;
  }
  process.stdout.write(`ok conns=${opts.conns} rounds=${opts.rounds} sent=${sent} received=${received}\n`);
  process.exitCode = 0;
}

// ---------------------------------------------------------------------------------------

function main() {
  const [role, opts] = parseArgs(process.argv.slice(2));
  if (role === 'server') serve(opts);
  else client(opts);
}

main();
