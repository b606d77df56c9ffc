// tb-dense-go: the dense key-value testbed (testbeds/dense/README.md) in Go.
//
// The server runs a goroutine per connection: a bufio.Reader reads the requests, and each
// reply is written with one conn.Write. The client runs one goroutine per connection, all at
// once, each doing its rounds. Goroutines move between OS threads as the Go scheduler likes,
// which is what makes this testbed worth tracing: one connection's reads and writes come
// from many threads.
//
// Only --mode nonblocking exists: Go's net package always uses non-blocking sockets and its
// poller.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "tb-dense: error: "+format+"\n", args...)
	os.Exit(1)
}

func usage(msg string) {
	fmt.Fprintf(os.Stderr, "tb-dense: %s\nusage: tb-dense-go server PORT CONNS [--nagle on|off] [--mode nonblocking]\n"+
		"       tb-dense-go client PORT --conns N --rounds R --size MIN-MAX [--pipeline] [--nagle on|off] [--mode nonblocking] [--seed S]\n", msg)
	os.Exit(2)
}

type options struct {
	conns, rounds   int
	min, max        int
	pipeline, nagle bool
	seed            uint64
}

// parse reads the options after PORT (after PORT CONNS for the server, which takes only
// --nagle and --mode); the client needs --conns, --rounds and --size.
func parse(args []string, client bool) options {
	o := options{seed: 1}
	given := map[string]bool{}
	for i := 0; i < len(args); i++ {
		if !client && args[i] != "--nagle" && args[i] != "--mode" {
			usage(fmt.Sprintf("the server takes no %q", args[i]))
		}
		given[args[i]] = true
		next := func() string {
			if i+1 >= len(args) {
				usage(args[i] + " needs a value")
			}
			i++
			return args[i]
		}
		num := func(s string) int {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				usage(fmt.Sprintf("%q is not a count", s))
			}
			return n
		}
		switch args[i] {
		case "--conns":
			o.conns = num(next())
		case "--rounds":
			o.rounds = num(next())
		case "--size":
			lo, hi, ok := strings.Cut(next(), "-")
			if !ok {
				usage("--size is MIN-MAX")
			}
			o.min, o.max = num(lo), num(hi)
			if o.min < 1 || o.min > o.max || o.max > 65536 {
				usage("--size needs 1 <= MIN <= MAX <= 65536")
			}
		case "--pipeline":
			o.pipeline = true
		case "--nagle":
			switch next() {
			case "on":
				o.nagle = true
			case "off":
				o.nagle = false
			default:
				usage("--nagle is on or off")
			}
		case "--mode":
			if m := next(); m != "nonblocking" {
				usage("Go offers only --mode nonblocking (its net package never blocks a thread on a socket)")
			}
		case "--seed":
			n, err := strconv.ParseUint(next(), 10, 64)
			if err != nil {
				usage("--seed is a number")
			}
			o.seed = n
		default:
			usage(fmt.Sprintf("unknown argument %q", args[i]))
		}
	}
	if client {
		for _, f := range []string{"--conns", "--rounds", "--size"} {
			if !given[f] {
				usage("the client needs " + f)
			}
		}
		if o.conns < 1 {
			usage("--conns is at least 1")
		}
	}
	return o
}

// setNagle sets TCP_NODELAY explicitly either way (Go's default is on).
func setNagle(c net.Conn, nagle bool) {
	if t, ok := c.(*net.TCPConn); ok {
		if err := t.SetNoDelay(!nagle); err != nil {
			fail("TCP_NODELAY: %v", err)
		}
	}
}

// ---------------------------------------------------------------------------------------------
// server

type store struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (s *store) set(k string, v []byte) {
	s.mu.Lock()
	s.m[k] = v
	s.mu.Unlock()
}

func (s *store) get(k string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[k]
	return v, ok
}

// serve answers one connection; it returns whether the client sent anything.
func serve(c net.Conn, st *store, activity chan<- struct{}) (bool, error) {
	defer c.Close()
	r := bufio.NewReader(c)
	talked := false
	for {
		line, err := r.ReadString('\n')
		if line == "" && (err == io.EOF || errors.Is(err, syscall.ECONNRESET)) {
			return talked, nil // closed (or reset) between requests: the client is done
		}
		if err == io.EOF {
			return talked, fmt.Errorf("connection closed inside a request line %q", line)
		}
		if err != nil {
			return talked, err
		}
		talked = true
		activity <- struct{}{}
		f := strings.Fields(line)
		var reply []byte
		switch {
		case len(f) == 3 && f[0] == "SET":
			n, err := strconv.Atoi(f[2])
			if err != nil || n < 0 || n > 65536 {
				return talked, fmt.Errorf("bad SET length %q", f[2])
			}
			v := make([]byte, n+1)
			if _, err := io.ReadFull(r, v); err != nil {
				return talked, fmt.Errorf("SET %s: %v", f[1], err)
			}
			if v[n] != '\n' {
				return talked, fmt.Errorf("SET %s: the value is not followed by a newline", f[1])
			}
			st.set(f[1], v[:n])
			reply = []byte("OK\n")
		case len(f) == 2 && f[0] == "GET":
			if v, ok := st.get(f[1]); ok {
				reply = make([]byte, 0, len(v)+16)
				reply = append(reply, "VALUE "+strconv.Itoa(len(v))+"\n"...)
				reply = append(reply, v...)
				reply = append(reply, '\n')
			} else {
				reply = []byte("NONE\n")
			}
		default:
			return talked, fmt.Errorf("bad request %q", line)
		}
		// one write call per reply
		if _, err := c.Write(reply); err != nil {
			return talked, err
		}
	}
}

func server(port string, want int, o options) {
	l, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		fail("listen on 127.0.0.1:%s: %v", port, err)
	}
	st := &store{m: map[string][]byte{}}
	done := make(chan bool)
	errs := make(chan error, 1)
	activity := make(chan struct{}, 1024)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				errs <- err
				return
			}
			activity <- struct{}{}
			setNagle(c, o.nagle)
			go func() {
				talked, err := serve(c, st, activity)
				if err != nil {
					errs <- err
					return
				}
				done <- talked
			}()
		}
	}()
	served := 0
	idle := time.NewTimer(30 * time.Second)
	for served < want {
		select {
		case talked := <-done:
			if talked {
				served++
			}
		case <-activity:
			if !idle.Stop() {
				<-idle.C
			}
			idle.Reset(30 * time.Second)
		case err := <-errs:
			fail("server: %v", err)
		case <-idle.C:
			fail("server: nothing arrived for 30 s (%d of %d connections served)", served, want)
		}
	}
	fmt.Printf("ok served=%d\n", served)
}

// ---------------------------------------------------------------------------------------------
// client

// xorshift64*, its state seeded from S + connection index through splitmix64 (so that nearby
// seeds give unrelated streams, and the state is never 0)
type rng struct{ s uint64 }

func newRng(seed uint64) rng {
	z := seed + 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	if z == 0 {
		z = 1
	}
	return rng{s: z}
}

func (r *rng) next() uint64 {
	r.s ^= r.s >> 12
	r.s ^= r.s << 25
	r.s ^= r.s >> 27
	return r.s * 2685821657736338717
}

func value(conn, round, n int) []byte {
	unit := fmt.Sprintf("c%dr%d.", conn, round)
	return bytes.Repeat([]byte(unit), n/len(unit)+1)[:n]
}

func dial(port string) (net.Conn, error) {
	var err error
	for i := 0; i < 50; i++ {
		var c net.Conn
		c, err = net.Dial("tcp", "127.0.0.1:"+port)
		if err == nil {
			return c, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil, err
}

func readLine(r *bufio.Reader) (string, error) {
	s, err := r.ReadString('\n')
	if err != nil {
		if errors.Is(err, io.EOF) {
			return "", errors.New("the server closed the connection")
		}
		return "", err
	}
	return s, nil
}

func expectOK(r *bufio.Reader, what string) error {
	l, err := readLine(r)
	if err != nil {
		return err
	}
	if l != "OK\n" {
		return fmt.Errorf("%s: got %q, expected OK", what, l)
	}
	return nil
}

func expectValue(r *bufio.Reader, what string, want []byte) error {
	l, err := readLine(r)
	if err != nil {
		return err
	}
	f := strings.Fields(l)
	if len(f) != 2 || f[0] != "VALUE" {
		return fmt.Errorf("%s: got %q, expected VALUE", what, l)
	}
	n, err := strconv.Atoi(f[1])
	if err != nil || n != len(want) {
		return fmt.Errorf("%s: the value has %s bytes, expected %d", what, f[1], len(want))
	}
	got := make([]byte, n+1)
	if _, err := io.ReadFull(r, got); err != nil {
		return fmt.Errorf("%s: %v", what, err)
	}
	if !bytes.Equal(got[:n], want) || got[n] != '\n' {
		i := 0
		for i < n && got[i] == want[i] {
			i++
		}
		return fmt.Errorf("%s returned a wrong value: first difference at byte %d", what, i)
	}
	return nil
}

func session(port string, conn int, o options) (int, int, error) {
	c, err := dial(port)
	if err != nil {
		return 0, 0, fmt.Errorf("connect: %v", err)
	}
	defer c.Close()
	setNagle(c, o.nagle)
	r := bufio.NewReader(c)
	g := newRng(o.seed + uint64(conn))
	sent, received := 0, 0
	for round := 0; round < o.rounds; round++ {
		n := o.min + int(g.next()%uint64(o.max-o.min+1))
		key := fmt.Sprintf("c%dk%d", conn, round%8)
		v := value(conn, round, n)
		set := append([]byte(fmt.Sprintf("SET %s %d\n", key, n)), v...)
		set = append(set, '\n')
		get := []byte("GET " + key + "\n")
		what := fmt.Sprintf("conn %d round %d: GET %s", conn, round, key)
		if o.pipeline {
			if _, err := c.Write(append(set, get...)); err != nil {
				return sent, received, err
			}
			if err := expectOK(r, what); err != nil {
				return sent, received, err
			}
		} else {
			if _, err := c.Write(set); err != nil {
				return sent, received, err
			}
			if err := expectOK(r, what); err != nil {
				return sent, received, err
			}
			if _, err := c.Write(get); err != nil {
				return sent, received, err
			}
		}
		if err := expectValue(r, what, v); err != nil {
			return sent, received, err
		}
		sent += len(set) + len(get)
		received += 3 + len(fmt.Sprintf("VALUE %d\n", n)) + n + 1
	}
	return sent, received, nil
}

func client(port string, o options) {
	type result struct {
		sent, received int
		err            error
		conn           int
	}
	results := make(chan result, o.conns)
	for i := 0; i < o.conns; i++ {
		go func(i int) {
			s, r, err := session(port, i, o)
			results <- result{s, r, err, i}
		}(i)
	}
	deadline := time.After(60 * time.Second)
	sent, received := 0, 0
	for i := 0; i < o.conns; i++ {
		select {
		case r := <-results:
			if r.err != nil {
				fail("connection %d: %v", r.conn, r.err)
			}
			sent += r.sent
			received += r.received
		case <-deadline:
			fail("the run took more than 60 s")
		}
	}
	fmt.Printf("ok conns=%d rounds=%d sent=%d received=%d\n", o.conns, o.rounds, sent, received)
}

func main() {
	a := os.Args[1:]
	if len(a) < 2 {
		usage("missing arguments")
	}
	if _, err := strconv.Atoi(a[1]); err != nil {
		usage(fmt.Sprintf("%q is not a port", a[1]))
	}
	switch a[0] {
	case "server":
		if len(a) < 3 {
			usage("server needs PORT CONNS")
		}
		want, err := strconv.Atoi(a[2])
		if err != nil || want < 1 {
			usage("CONNS is a count of at least 1")
		}
		server(a[1], want, parse(a[3:], false))
	case "client":
		client(a[1], parse(a[2:], true))
	default:
		usage(fmt.Sprintf("unknown mode %q", a[0]))
	}
}
