// tb-dense, Java 17 edition: the dense key-value testbed (see ../README.md).
//
// Build and run (standard library only, one source file, default package):
//
//   javac -d target/tb-dense-java testbeds/dense/java/Dense.java
//   java -cp target/tb-dense-java Dense server PORT CONNS [--nagle on|off] [--mode blocking|nonblocking]
//   java -cp target/tb-dense-java Dense client PORT --conns N --rounds R --size MIN-MAX [--pipeline]
//                                [--nagle on|off] [--mode blocking|nonblocking] [--seed S]
//
// Both sides use 127.0.0.1:PORT only.
//
// Modes:
//
// * --mode nonblocking (the default): java.nio.
//   - Server: ONE selector thread (a java.nio.channels.Selector, epoll on Linux) accepts the
//     connections and reads every non-blocking SocketChannel into its own buffer. It cuts the
//     bytes into complete requests (a SET's value is taken by its announced length) and
//     appends them to the connection's request queue. A fixed pool of 4 worker threads
//     executes them: a connection has at most one task in the pool at a time, and a task
//     handles ONE request (updates or reads the shared map, then writes the reply) and
//     re-submits the connection if more requests are queued, so the requests of one
//     connection, in their order, are spread over the 4 threads. Every reply is written by
//     the worker as ONE ByteBuffer holding the whole reply, passed to SocketChannel.write
//     until it has no bytes left: one write(2) when the kernel takes it all, more (with a
//     short pause between them) only if the socket's send buffer is full.
//   - Client: ONE thread and one Selector drive all N non-blocking SocketChannels (connect,
//     write, read) as N state machines. A request is one ByteBuffer written until empty; with
//     --pipeline SET and GET are in ONE ByteBuffer.
// * --mode blocking: java.net.
//   - Server: a java.net.ServerSocket; an accepting thread starts one thread per connection.
//     Requests are read through a BufferedInputStream; every reply is ONE
//     OutputStream.write(byte[]) of the whole reply, then flush().
//   - Client: one thread per connection, each with a java.net.Socket. Every request is ONE
//     OutputStream.write(byte[]) (SET+GET in one byte[] with --pipeline), then flush().
//   The map is a ConcurrentHashMap in both modes (workers and threads share it).
//
// Protocol (one map shared by all connections, keys per connection `c<conn>k<round mod 8>`):
//
//   SET <key> <len>\n<value>\n   ->  OK\n
//   GET <key>\n                  ->  VALUE <len>\n<value>\n   or   NONE\n
//
// The client, for connection c (0-based) and round r (0-based), draws the value's length
// uniformly in [MIN, MAX] from new java.util.Random(S + c) (default S = 1); the value is
// `c<c>r<r>.` repeated and cut to that length. Without --pipeline: write SET, read OK, write
// GET, read VALUE; with --pipeline: write SET+GET at once, then read both replies. Every reply
// is checked byte for byte.
//
// What the JVM does underneath (OpenJDK 17 on Linux, seen with strace -f): in both modes the
// socket bytes move with plain read(2) and write(2) (no send/recv/readv/writev); the sockets
// are AF_INET6 dual-stack ones connected to ::ffff:127.0.0.1 (unless the JVM is run with
// -Djava.net.preferIPv4Stack=true); java.nio waits in epoll_wait, java.net blocks in read(2)
// on blocking file descriptors; each reply and request is one write(2) call.
//
// --nagle off (the default) sets TCP_NODELAY to true on every socket of both sides (accepted
// and connecting); --nagle on sets it to false explicitly.
//
// Exit statuses: 0 on success (the client prints `ok conns=N rounds=R sent=B received=B`; the
// server exits once CONNS connections that sent something have been closed by their client),
// 1 on any error (`tb-dense: error: ...` on stderr; the server also fails after 30 s without a
// new byte or connection, the client if the whole run takes over 60 s), 2 on a usage error.

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

public class Dense {
    static final String HOST = "127.0.0.1";
    static final int MAX_LINE = 256; // longest request or reply header line, newline included
    static final long SERVER_IDLE_NS = 30_000_000_000L; // server: fail after 30 s without activity
    static final long CLIENT_DEADLINE_NS = 60_000_000_000L; // client: fail past 60 s
    static final int CONNECT_TRIES = 50; // attempts at a refused connection ...
    static final long CONNECT_PAUSE_MS = 100; // ... this far apart
    static final int WORKERS = 4; // nonblocking server: worker pool size
    static final int MAX_VALUE = 1 << 20; // server: largest SET length accepted
    static final byte[] OK = "OK\n".getBytes(StandardCharsets.US_ASCII);
    static final byte[] NONE = "NONE\n".getBytes(StandardCharsets.US_ASCII);

    static final String USAGE = "usage:\n"
            + "  Dense server PORT CONNS [--nagle on|off] [--mode blocking|nonblocking]\n"
            + "  Dense client PORT --conns N --rounds R --size MIN-MAX [--pipeline]\n"
            + "               [--nagle on|off] [--mode blocking|nonblocking] [--seed S]";

    /** A run-time error: reported as `tb-dense: error: ...`, exit status 1. */
    static final class Failure extends Exception {
        private static final long serialVersionUID = 1L;

        Failure(String msg) {
            super(msg);
        }
    }

    /** Reports a run-time error and exits 1; the first caller wins (halt never returns). */
    static synchronized void die(String msg) {
        System.out.flush();
        System.err.println("tb-dense: error: " + msg);
        System.err.flush();
        Runtime.getRuntime().halt(1);
    }

    static void usage(String msg) {
        System.err.println("tb-dense: usage error: " + msg + "\n" + USAGE);
        System.err.flush();
        Runtime.getRuntime().halt(2);
    }

    // -----------------------------------------------------------------------------------
    // Command line

    static final class Opts {
        String role;
        int port;
        int conns = -1;
        int rounds = -1;
        int sizeMin = -1, sizeMax = -1;
        long seed = 1;
        boolean pipeline;
        boolean nagle; // true: Nagle on (TCP_NODELAY false)
        boolean blocking;
    }

    static long parseNum(String what, String text, long lo, long hi) {
        long n = 0;
        try {
            n = Long.parseLong(text);
        } catch (NumberFormatException e) {
            usage(what + " must be a whole number, not '" + text + "'");
        }
        if (n < lo || n > hi) {
            usage(what + " must be " + (hi == Long.MAX_VALUE ? "at least " + lo : "from " + lo + " to " + hi)
                    + ", not " + n);
        }
        return n;
    }

    static Opts parseArgs(String[] argv) {
        if (argv.length == 0 || argv[0].equals("-h") || argv[0].equals("--help")) {
            usage("give a role: server or client");
        }
        Opts o = new Opts();
        o.role = argv[0];
        boolean client = o.role.equals("client");
        if (!client && !o.role.equals("server")) {
            usage("unknown role '" + o.role + "': expected server or client");
        }
        List<String> positional = new ArrayList<>();
        for (int i = 1; i < argv.length; i++) {
            String a = argv[i];
            if (!a.startsWith("--")) {
                positional.add(a);
                continue;
            }
            int eq = a.indexOf('=');
            String name = eq < 0 ? a : a.substring(0, eq);
            if (client && name.equals("--pipeline") && eq < 0) {
                o.pipeline = true;
                continue;
            }
            boolean valued = name.equals("--nagle") || name.equals("--mode") || (client
                    && (name.equals("--conns") || name.equals("--rounds") || name.equals("--size")
                            || name.equals("--seed")));
            if (!valued) {
                usage("unknown option '" + a + "' for " + o.role);
            }
            String val;
            if (eq >= 0) {
                val = a.substring(eq + 1);
            } else {
                if (++i >= argv.length) {
                    usage(name + " needs a value");
                }
                val = argv[i];
            }
            switch (name) {
                case "--nagle":
                    if (!val.equals("on") && !val.equals("off")) {
                        usage("--nagle must be on or off, not '" + val + "'");
                    }
                    o.nagle = val.equals("on");
                    break;
                case "--mode":
                    if (!val.equals("blocking") && !val.equals("nonblocking")) {
                        usage("--mode must be blocking or nonblocking, not '" + val + "'");
                    }
                    o.blocking = val.equals("blocking");
                    break;
                case "--conns":
                    o.conns = (int) parseNum("--conns", val, 1, 100_000);
                    break;
                case "--rounds":
                    o.rounds = (int) parseNum("--rounds", val, 1, Integer.MAX_VALUE);
                    break;
                case "--seed":
                    o.seed = parseNum("--seed", val, Long.MIN_VALUE, Long.MAX_VALUE);
                    break;
                default: { // --size
                    int dash = val.indexOf('-');
                    if (dash < 0) {
                        usage("--size must be MIN-MAX, e.g. 1-700, not '" + val + "'");
                    }
                    o.sizeMin = (int) parseNum("--size MIN", val.substring(0, dash), 1, 65536);
                    o.sizeMax = (int) parseNum("--size MAX", val.substring(dash + 1), 1, 65536);
                    if (o.sizeMin > o.sizeMax) {
                        usage("--size MIN must not exceed MAX (" + val + ")");
                    }
                }
            }
        }
        if (!client) {
            if (positional.size() != 2) {
                usage("server takes PORT CONNS");
            }
            o.port = (int) parseNum("PORT", positional.get(0), 1, 65535);
            o.conns = (int) parseNum("CONNS", positional.get(1), 1, Integer.MAX_VALUE);
        } else {
            if (positional.size() != 1) {
                usage("client takes PORT (and --conns, --rounds, --size)");
            }
            o.port = (int) parseNum("PORT", positional.get(0), 1, 65535);
            if (o.conns < 0) usage("client needs --conns");
            if (o.rounds < 0) usage("client needs --rounds");
            if (o.sizeMin < 0) usage("client needs --size");
        }
        return o;
    }

    static String show(byte[] b, int off, int len) {
        StringBuilder sb = new StringBuilder("\"");
        for (int i = off; i < off + Math.min(len, 80); i++) {
            int c = b[i] & 0xff;
            if (c == '\n') sb.append("\\n");
            else if (c == '"' || c == '\\') sb.append('\\').append((char) c);
            else if (c >= 0x20 && c < 0x7f) sb.append((char) c);
            else sb.append(String.format("\\x%02x", c));
        }
        return sb.append(len > 80 ? "\"..." : "\"").toString();
    }

    static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.US_ASCII);
    }

    // -----------------------------------------------------------------------------------
    // Server: the map and the request handling shared by both modes

    /** One complete request: a SET (value != null) or a GET. */
    static final class Request {
        final String key;
        final byte[] value;

        Request(String key, byte[] value) {
            this.key = key;
            this.value = value;
        }
    }

    static final ConcurrentHashMap<String, byte[]> STORE = new ConcurrentHashMap<>();

    /** Executes a request against the shared map and returns its whole reply. */
    static byte[] execute(Request r) {
        if (r.value != null) {
            STORE.put(r.key, r.value);
            return OK;
        }
        byte[] v = STORE.get(r.key);
        if (v == null) {
            return NONE;
        }
        byte[] head = ascii("VALUE " + v.length + "\n");
        byte[] reply = Arrays.copyOf(head, head.length + v.length + 1);
        System.arraycopy(v, 0, reply, head.length, v.length);
        reply[reply.length - 1] = '\n';
        return reply;
    }

    /**
     * Parses a request line (without its newline). Returns the key and, for a SET, the value's
     * length; for a GET, -1.
     */
    static Object[] parseRequestLine(byte[] buf, int off, int len) throws Failure {
        String line = new String(buf, off, len, StandardCharsets.ISO_8859_1);
        String[] w = line.split(" ", -1);
        if (w.length == 3 && w[0].equals("SET") && !w[1].isEmpty()) {
            int n;
            try {
                n = Integer.parseInt(w[2]);
            } catch (NumberFormatException e) {
                throw new Failure("bad SET length in " + show(buf, off, len));
            }
            if (n < 0 || n > MAX_VALUE) {
                throw new Failure("SET length out of range in " + show(buf, off, len));
            }
            return new Object[] {w[1], n};
        }
        if (w.length == 2 && w[0].equals("GET") && !w[1].isEmpty()) {
            return new Object[] {w[1], -1};
        }
        throw new Failure("bad request " + show(buf, off, len));
    }

    static final Object SERVED_LOCK = new Object();
    static int served;
    static volatile long lastActivity = System.nanoTime();

    // -----------------------------------------------------------------------------------
    // Server, nonblocking: one selector thread, a pool of 4 workers that write the replies

    static final class NbConn {
        final SocketChannel ch;
        ByteBuffer in = ByteBuffer.allocate(16384); // bytes read, not yet parsed: [0, position)
        final ArrayDeque<Request> queue = new ArrayDeque<>(); // guarded by this
        boolean scheduled; // a task for this connection is in the pool; guarded by this
        boolean eof; // the client closed its side; guarded by this
        boolean finished; // guarded by this
        boolean got; // sent at least one byte (selector thread only, then read under lock)

        NbConn(SocketChannel ch) {
            this.ch = ch;
        }
    }

    static final class NbServer {
        final int want;
        final Selector selector;
        final ExecutorService pool;
        volatile boolean done;

        NbServer(int want) throws IOException {
            this.want = want;
            this.selector = Selector.open();
            this.pool = Executors.newFixedThreadPool(WORKERS, r -> {
                Thread t = new Thread(r, "worker");
                t.setDaemon(true);
                return t;
            });
        }

        void run(int port, boolean nagle) throws Failure, IOException {
            ServerSocketChannel listener = ServerSocketChannel.open();
            listener.setOption(StandardSocketOptions.SO_REUSEADDR, true);
            try {
                listener.bind(new InetSocketAddress(HOST, port), 256);
            } catch (IOException e) {
                throw new Failure("cannot listen on " + HOST + ":" + port + ": " + e.getMessage());
            }
            listener.configureBlocking(false);
            listener.register(selector, SelectionKey.OP_ACCEPT);
            while (!done) {
                selector.select(500);
                Iterator<SelectionKey> it = selector.selectedKeys().iterator();
                while (it.hasNext()) {
                    SelectionKey k = it.next();
                    it.remove();
                    if (!k.isValid()) {
                        continue;
                    }
                    if (k.isAcceptable()) {
                        SocketChannel ch;
                        while ((ch = listener.accept()) != null) {
                            lastActivity = System.nanoTime();
                            ch.setOption(StandardSocketOptions.TCP_NODELAY, !nagle);
                            ch.configureBlocking(false);
                            ch.register(selector, SelectionKey.OP_READ, new NbConn(ch));
                        }
                    } else if (k.isReadable()) {
                        readable(k, (NbConn) k.attachment());
                    }
                }
                if (!done && System.nanoTime() - lastActivity > SERVER_IDLE_NS) {
                    int s;
                    synchronized (SERVED_LOCK) {
                        s = served;
                    }
                    throw new Failure("no new byte or connection for 30 s (" + s + " of " + want
                            + " connections served)");
                }
            }
        }

        /** Reads what the connection has, queues every complete request, handles EOF. */
        void readable(SelectionKey k, NbConn c) throws Failure {
            int n;
            try {
                n = c.ch.read(c.in);
            } catch (IOException e) {
                n = -2; // reset by the client: it closed the connection, count it
            }
            if (n == 0) {
                return;
            }
            if (n < 0) {
                if (n == -1 && c.in.position() > 0) {
                    throw new Failure("connection closed inside a request");
                }
                k.cancel();
                synchronized (c) {
                    c.eof = true;
                    if (!c.scheduled) {
                        finish(c);
                    }
                }
                return;
            }
            lastActivity = System.nanoTime();
            c.got = true;
            byte[] b = c.in.array();
            int end = c.in.position();
            int at = 0; // start of the first unparsed request
            int need = 0; // bytes the incomplete request at `at` needs, if known
            while (at < end) {
                int nl = -1;
                for (int i = at; i < end && i - at < MAX_LINE; i++) {
                    if (b[i] == '\n') {
                        nl = i;
                        break;
                    }
                }
                if (nl < 0) {
                    if (end - at >= MAX_LINE) {
                        throw new Failure("request line too long: " + show(b, at, end - at));
                    }
                    break;
                }
                Object[] p = parseRequestLine(b, at, nl - at);
                String key = (String) p[0];
                int len = (Integer) p[1];
                if (len < 0) {
                    enqueue(c, new Request(key, null));
                    at = nl + 1;
                    continue;
                }
                int total = nl + 1 - at + len + 1;
                if (end - at < total) {
                    need = total;
                    break;
                }
                if (b[nl + 1 + len] != '\n') {
                    throw new Failure("SET value of " + key + " not followed by a newline");
                }
                enqueue(c, new Request(key, Arrays.copyOfRange(b, nl + 1, nl + 1 + len)));
                at += total;
            }
            // Keep the unparsed bytes at the start of the buffer, in a buffer big enough for
            // the whole of the pending request.
            int rest = end - at;
            if (need > c.in.capacity()) {
                ByteBuffer bigger = ByteBuffer.allocate(Math.max(need, 2 * c.in.capacity()));
                bigger.put(b, at, rest);
                c.in = bigger;
            } else {
                System.arraycopy(b, at, b, 0, rest);
                c.in.position(rest);
            }
        }

        void enqueue(NbConn c, Request r) {
            synchronized (c) {
                c.queue.add(r);
                if (!c.scheduled) {
                    c.scheduled = true;
                    pool.execute(() -> step(c));
                }
            }
        }

        /** A worker task: handles one request of the connection, writes its reply. */
        void step(NbConn c) {
            try {
                Request r;
                synchronized (c) {
                    r = c.queue.poll();
                }
                byte[] reply = execute(r);
                ByteBuffer buf = ByteBuffer.wrap(reply); // the whole reply, one buffer
                try {
                    while (buf.hasRemaining()) {
                        if (c.ch.write(buf) == 0) {
                            LockSupport.parkNanos(200_000); // send buffer full: wait a little
                        }
                    }
                } catch (IOException e) {
                    // The client went away mid-reply; the selector sees it close.
                }
                synchronized (c) {
                    if (!c.queue.isEmpty()) {
                        pool.execute(() -> step(c)); // the next request, on whichever worker
                    } else {
                        c.scheduled = false;
                        if (c.eof) {
                            finish(c);
                        }
                    }
                }
            } catch (Throwable t) {
                die("worker: " + t);
            }
        }

        /** Closes a connection the client closed; called once, holding c's lock. */
        void finish(NbConn c) {
            if (c.finished) {
                return;
            }
            c.finished = true;
            try {
                c.ch.close();
            } catch (IOException e) {
                // nothing to do
            }
            if (!c.got) {
                return; // e.g. a readiness probe: not counted
            }
            synchronized (SERVED_LOCK) {
                served++;
                if (served >= want) {
                    done = true;
                    selector.wakeup();
                }
            }
        }
    }

    // -----------------------------------------------------------------------------------
    // Server, blocking: java.net.ServerSocket, a thread per connection

    /** Reads one line (with its newline, at most max bytes); null at a clean EOF. */
    static byte[] readLine(InputStream in, int max, String what) throws IOException, Failure {
        ByteArrayOutputStream line = new ByteArrayOutputStream(64);
        while (true) {
            int c = in.read();
            if (c < 0) {
                if (line.size() == 0) {
                    return null;
                }
                throw new Failure("connection closed inside " + what);
            }
            line.write(c);
            if (c == '\n') {
                return line.toByteArray();
            }
            if (line.size() >= max) {
                byte[] b = line.toByteArray();
                throw new Failure(what + " too long: " + show(b, 0, b.length));
            }
        }
    }

    static void serverBlocking(int port, int want, boolean nagle) throws Failure {
        ServerSocket listener;
        try {
            listener = new ServerSocket();
            listener.setReuseAddress(true);
            listener.bind(new InetSocketAddress(HOST, port), 256);
        } catch (IOException e) {
            throw new Failure("cannot listen on " + HOST + ":" + port + ": " + e.getMessage());
        }
        CountDownLatch ended = new CountDownLatch(1);
        Thread acceptor = new Thread(() -> {
            try {
                while (true) {
                    Socket s = listener.accept();
                    lastActivity = System.nanoTime();
                    Thread t = new Thread(() -> handleBlocking(s, want, nagle, ended), "conn");
                    t.setDaemon(true);
                    t.start();
                }
            } catch (Throwable t) {
                die("accept: " + t);
            }
        }, "acceptor");
        acceptor.setDaemon(true);
        acceptor.start();
        try {
            while (!ended.await(500, TimeUnit.MILLISECONDS)) {
                if (System.nanoTime() - lastActivity > SERVER_IDLE_NS) {
                    int s;
                    synchronized (SERVED_LOCK) {
                        s = served;
                    }
                    throw new Failure("no new byte or connection for 30 s (" + s + " of " + want
                            + " connections served)");
                }
            }
        } catch (InterruptedException e) {
            throw new Failure("interrupted");
        }
    }

    static void handleBlocking(Socket s, int want, boolean nagle, CountDownLatch ended) {
        boolean got = false;
        try {
            s.setTcpNoDelay(!nagle);
            InputStream in = new BufferedInputStream(s.getInputStream(), 65536);
            OutputStream out = s.getOutputStream();
            while (true) {
                byte[] line = readLine(in, MAX_LINE, "a request line");
                if (line == null) {
                    break; // clean EOF
                }
                lastActivity = System.nanoTime();
                got = true;
                Object[] p = parseRequestLine(line, 0, line.length - 1);
                String key = (String) p[0];
                int len = (Integer) p[1];
                Request r;
                if (len < 0) {
                    r = new Request(key, null);
                } else {
                    byte[] body = in.readNBytes(len + 1);
                    lastActivity = System.nanoTime();
                    if (body.length != len + 1) {
                        throw new Failure("connection closed inside a SET value");
                    }
                    if (body[len] != '\n') {
                        throw new Failure("SET value of " + key + " not followed by a newline");
                    }
                    r = new Request(key, Arrays.copyOf(body, len));
                }
                out.write(execute(r)); // the whole reply in one write
                out.flush();
            }
        } catch (Failure f) {
            die(f.getMessage());
        } catch (IOException e) {
            // reset or broken pipe: the client went away, count the connection as closed
        } finally {
            try {
                s.close();
            } catch (IOException e) {
                // nothing to do
            }
        }
        if (got) {
            synchronized (SERVED_LOCK) {
                served++;
                if (served >= want) {
                    ended.countDown();
                }
            }
        }
    }

    // -----------------------------------------------------------------------------------
    // Client: the workload shared by both modes

    static byte[] makeValue(int conn, int round, int length) {
        byte[] unit = ascii("c" + conn + "r" + round + ".");
        byte[] v = new byte[length];
        for (int i = 0; i < length; i++) {
            v[i] = unit[i % unit.length];
        }
        return v;
    }

    /** One round of one connection: its key, value, and the requests that carry them. */
    static final class Round {
        final String key;
        final byte[] value;
        final byte[] set;
        final byte[] get;

        Round(Opts o, int conn, int round, Random rng) {
            int length = o.sizeMin + rng.nextInt(o.sizeMax - o.sizeMin + 1);
            key = "c" + conn + "k" + (round % 8);
            value = makeValue(conn, round, length);
            byte[] head = ascii("SET " + key + " " + length + "\n");
            set = Arrays.copyOf(head, head.length + length + 1);
            System.arraycopy(value, 0, set, head.length, length);
            set[set.length - 1] = '\n';
            get = ascii("GET " + key + "\n");
        }

        byte[] both() {
            byte[] b = Arrays.copyOf(set, set.length + get.length);
            System.arraycopy(get, 0, b, set.length, get.length);
            return b;
        }
    }

    static void expectOk(int conn, int round, byte[] b, int off, int len) throws Failure {
        if (len != 3 || b[off] != 'O' || b[off + 1] != 'K' || b[off + 2] != '\n') {
            throw new Failure("conn " + conn + " round " + round + ": expected OK to SET, got "
                    + show(b, off, len));
        }
    }

    /** Parses a VALUE header line (with its newline); returns the announced length. */
    static int valueHeader(int conn, int round, byte[] b, int off, int len) throws Failure {
        String line = new String(b, off, len, StandardCharsets.ISO_8859_1);
        if (line.equals("NONE\n")) {
            throw new Failure("conn " + conn + " round " + round + ": GET returned NONE for a key just set");
        }
        if (!line.startsWith("VALUE ") || !line.endsWith("\n")) {
            throw new Failure("conn " + conn + " round " + round + ": expected VALUE, got " + show(b, off, len));
        }
        try {
            int n = Integer.parseInt(line.substring(6, line.length() - 1));
            if (n < 0 || n > 65536) {
                throw new NumberFormatException();
            }
            return n;
        } catch (NumberFormatException e) {
            throw new Failure("conn " + conn + " round " + round + ": bad VALUE header " + show(b, off, len));
        }
    }

    /** Checks a VALUE body (value and newline) against the value set. */
    static void checkValue(int conn, int round, Round r, byte[] b, int off, int len) throws Failure {
        if (b[off + len] != '\n') {
            throw new Failure("conn " + conn + " round " + round + ": VALUE not followed by a newline");
        }
        byte[] want = r.value;
        if (len != want.length) {
            throw new Failure("conn " + conn + " round " + round + ": GET " + r.key + " returned " + len
                    + " bytes, expected " + want.length);
        }
        for (int i = 0; i < len; i++) {
            if (b[off + i] != want[i]) {
                throw new Failure("conn " + conn + " round " + round + ": GET " + r.key
                        + " returned a wrong value: first difference at byte " + i + ": got "
                        + show(b, off + i, Math.min(24, len - i)) + ", expected "
                        + show(want, i, Math.min(24, len - i)));
            }
        }
    }

    // -----------------------------------------------------------------------------------
    // Client, nonblocking: one thread, one Selector, N non-blocking SocketChannels

    static final int W_REQ = 0; // writing a request (SET, GET, or SET+GET)
    static final int R_OK = 1; // waiting for OK
    static final int R_VALUE = 2; // waiting for VALUE
    static final int DONE = 3;

    static final class CConn {
        final int idx;
        final Random rng;
        SocketChannel ch;
        SelectionKey key;
        int attempts;
        long retryAt;
        int round;
        Round cur;
        int phase;
        boolean getSent; // the GET of this round is written (or in the buffer being written)
        ByteBuffer out;
        final ByteBuffer in = ByteBuffer.allocate(70_000); // [0, position): read, not parsed
        long sent, received;

        CConn(int idx, long seed) {
            this.idx = idx;
            this.rng = new Random(seed + idx);
        }
    }

    static final class NbClient {
        final Opts o;
        final Selector selector;
        final InetSocketAddress addr;
        final List<CConn> retries = new ArrayList<>();
        int left;
        long sent, received;

        NbClient(Opts o) throws IOException {
            this.o = o;
            this.selector = Selector.open();
            this.addr = new InetSocketAddress(HOST, o.port);
            this.left = o.conns;
        }

        void run() throws Failure, IOException {
            long deadline = System.nanoTime() + CLIENT_DEADLINE_NS;
            for (int i = 0; i < o.conns; i++) {
                connect(new CConn(i, o.seed));
            }
            while (left > 0) {
                long now = System.nanoTime();
                if (now > deadline) {
                    throw new Failure("the run took longer than 60 s");
                }
                long wait = 500;
                for (CConn c : retries) {
                    wait = Math.min(wait, Math.max(1, (c.retryAt - now) / 1_000_000));
                }
                selector.select(wait);
                Iterator<SelectionKey> it = selector.selectedKeys().iterator();
                while (it.hasNext()) {
                    SelectionKey k = it.next();
                    it.remove();
                    if (!k.isValid()) {
                        continue;
                    }
                    CConn c = (CConn) k.attachment();
                    try {
                        if (k.isConnectable()) {
                            try {
                                c.ch.finishConnect();
                            } catch (ConnectException e) {
                                refused(c);
                                continue;
                            }
                            startRound(c);
                        } else {
                            if (k.isReadable()) {
                                int n = c.ch.read(c.in);
                                if (n < 0) {
                                    throw new Failure("conn " + c.idx + ": the server closed the connection");
                                }
                                c.received += n;
                            }
                            advance(c);
                        }
                    } catch (IOException e) {
                        throw new Failure("conn " + c.idx + ": " + e);
                    }
                }
                now = System.nanoTime();
                for (Iterator<CConn> r = retries.iterator(); r.hasNext();) {
                    CConn c = r.next();
                    if (c.retryAt <= now) {
                        r.remove();
                        connect(c);
                    }
                }
            }
        }

        void connect(CConn c) throws IOException, Failure {
            c.ch = SocketChannel.open();
            c.ch.configureBlocking(false);
            c.ch.setOption(StandardSocketOptions.TCP_NODELAY, !o.nagle);
            boolean now;
            try {
                now = c.ch.connect(addr);
            } catch (ConnectException e) {
                refused(c);
                return;
            }
            c.key = c.ch.register(selector, now ? 0 : SelectionKey.OP_CONNECT, c);
            if (now) {
                startRound(c);
            }
        }

        void refused(CConn c) throws IOException, Failure {
            c.ch.close(); // also cancels its key
            if (++c.attempts >= CONNECT_TRIES) {
                throw new Failure("conn " + c.idx + ": connection to " + HOST + ":" + o.port + " refused "
                        + CONNECT_TRIES + " times");
            }
            c.retryAt = System.nanoTime() + CONNECT_PAUSE_MS * 1_000_000;
            retries.add(c);
        }

        void startRound(CConn c) throws IOException, Failure {
            c.cur = new Round(o, c.idx, c.round, c.rng);
            c.out = ByteBuffer.wrap(o.pipeline ? c.cur.both() : c.cur.set); // one buffer per request
            c.getSent = o.pipeline;
            c.phase = W_REQ;
            advance(c);
        }

        /** Runs c's state machine as far as it goes without waiting, then sets its interest. */
        void advance(CConn c) throws IOException, Failure {
            while (true) {
                if (c.phase == W_REQ) {
                    c.sent += c.ch.write(c.out);
                    if (c.out.hasRemaining()) {
                        c.key.interestOps(SelectionKey.OP_WRITE);
                        return;
                    }
                    c.phase = c.getSent && !o.pipeline ? R_VALUE : R_OK;
                    continue;
                }
                byte[] b = c.in.array();
                int end = c.in.position();
                int nl = -1;
                for (int i = 0; i < end && i < MAX_LINE; i++) {
                    if (b[i] == '\n') {
                        nl = i;
                        break;
                    }
                }
                if (nl < 0) {
                    if (end >= MAX_LINE) {
                        throw new Failure("conn " + c.idx + ": reply line too long: " + show(b, 0, end));
                    }
                    c.key.interestOps(SelectionKey.OP_READ);
                    return;
                }
                int used;
                if (c.phase == R_OK) {
                    expectOk(c.idx, c.round, b, 0, nl + 1);
                    used = nl + 1;
                    if (o.pipeline) {
                        c.phase = R_VALUE;
                    } else {
                        c.out = ByteBuffer.wrap(c.cur.get);
                        c.getSent = true;
                        c.phase = W_REQ;
                    }
                } else {
                    int n = valueHeader(c.idx, c.round, b, 0, nl + 1);
                    if (end < nl + 1 + n + 1) {
                        c.key.interestOps(SelectionKey.OP_READ);
                        return;
                    }
                    checkValue(c.idx, c.round, c.cur, b, nl + 1, n);
                    used = nl + 1 + n + 1;
                    c.phase = DONE;
                }
                System.arraycopy(b, used, b, 0, end - used);
                c.in.position(end - used);
                if (c.phase == DONE) {
                    if (end - used > 0) {
                        throw new Failure("conn " + c.idx + ": unexpected bytes after a reply: "
                                + show(b, 0, end - used));
                    }
                    if (++c.round == o.rounds) {
                        c.ch.close();
                        sent += c.sent;
                        received += c.received;
                        left--;
                        return;
                    }
                    startRound(c);
                    return;
                }
            }
        }
    }

    // -----------------------------------------------------------------------------------
    // Client, blocking: java.net.Socket, a thread per connection

    static long[] clientBlocking(Opts o) throws Failure {
        AtomicLong sent = new AtomicLong(), received = new AtomicLong();
        CountDownLatch left = new CountDownLatch(o.conns);
        for (int i = 0; i < o.conns; i++) {
            final int conn = i;
            Thread t = new Thread(() -> {
                try {
                    long[] sr = runBlockingConn(o, conn);
                    sent.addAndGet(sr[0]);
                    received.addAndGet(sr[1]);
                    left.countDown();
                } catch (Failure f) {
                    die(f.getMessage());
                } catch (IOException e) {
                    die("conn " + conn + ": " + e);
                } catch (Throwable e) {
                    die("conn " + conn + ": " + e);
                }
            }, "conn" + i);
            t.setDaemon(true);
            t.start();
        }
        try {
            if (!left.await(CLIENT_DEADLINE_NS, TimeUnit.NANOSECONDS)) {
                throw new Failure("the run took longer than 60 s");
            }
        } catch (InterruptedException e) {
            throw new Failure("interrupted");
        }
        return new long[] {sent.get(), received.get()};
    }

    static long[] runBlockingConn(Opts o, int conn) throws Failure, IOException {
        Socket s = null;
        for (int attempt = 1; s == null; attempt++) {
            Socket t = new Socket();
            try {
                t.connect(new InetSocketAddress(HOST, o.port));
                s = t;
            } catch (ConnectException e) {
                t.close();
                if (attempt >= CONNECT_TRIES) {
                    throw new Failure("conn " + conn + ": connection to " + HOST + ":" + o.port + " refused "
                            + CONNECT_TRIES + " times");
                }
                try {
                    Thread.sleep(CONNECT_PAUSE_MS);
                } catch (InterruptedException ie) {
                    throw new Failure("interrupted");
                }
            }
        }
        long sent = 0, received = 0;
        try (Socket sock = s) {
            sock.setTcpNoDelay(!o.nagle);
            InputStream in = new BufferedInputStream(sock.getInputStream(), 65536);
            OutputStream out = sock.getOutputStream();
            Random rng = new Random(o.seed + conn);
            for (int round = 0; round < o.rounds; round++) {
                Round r = new Round(o, conn, round, rng);
                byte[] req = o.pipeline ? r.both() : r.set;
                out.write(req); // the whole request (SET, or SET+GET) in one write
                out.flush();
                sent += req.length;
                byte[] line = readReplyLine(in, conn);
                received += line.length;
                expectOk(conn, round, line, 0, line.length);
                if (!o.pipeline) {
                    out.write(r.get);
                    out.flush();
                    sent += r.get.length;
                }
                line = readReplyLine(in, conn);
                received += line.length;
                int n = valueHeader(conn, round, line, 0, line.length);
                byte[] body = in.readNBytes(n + 1);
                received += body.length;
                if (body.length != n + 1) {
                    throw new Failure("conn " + conn + ": the server closed the connection mid-reply");
                }
                checkValue(conn, round, r, body, 0, n);
            }
        }
        return new long[] {sent, received};
    }

    static byte[] readReplyLine(InputStream in, int conn) throws IOException, Failure {
        byte[] line = readLine(in, MAX_LINE, "a reply line");
        if (line == null) {
            throw new Failure("conn " + conn + ": the server closed the connection");
        }
        return line;
    }

    // -----------------------------------------------------------------------------------

    public static void main(String[] argv) {
        Opts o = parseArgs(argv);
        try {
            if (o.role.equals("server")) {
                if (o.blocking) {
                    serverBlocking(o.port, o.conns, o.nagle);
                } else {
                    new NbServer(o.conns).run(o.port, o.nagle);
                }
                System.out.flush();
                Runtime.getRuntime().halt(0);
            }
            long[] sr;
            if (o.blocking) {
                sr = clientBlocking(o);
            } else {
                NbClient c = new NbClient(o);
                c.run();
                sr = new long[] {c.sent, c.received};
            }
            System.out.println("ok conns=" + o.conns + " rounds=" + o.rounds + " sent=" + sr[0]
                    + " received=" + sr[1]);
            System.out.flush();
            Runtime.getRuntime().halt(0);
        } catch (Failure f) {
            die(f.getMessage());
        } catch (Throwable t) {
            die(t.toString());
        }
    }
}
