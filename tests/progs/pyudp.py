#!/usr/bin/env python3
"""pyudp: a UDP and Unix-datagram request/reply test program (Python 3, stdlib only).

Usage:
    pyudp.py server PORT UNIXPATH    answer 3 UDP datagrams on 127.0.0.1:PORT and
                                     3 Unix datagrams at UNIXPATH, then exit
    pyudp.py client PORT UNIXPATH    send 3 requests to each and check the answers

Protocol: the answer to a request is b"re: " + request.
Server: binds the UDP socket first, then the Unix datagram socket at UNIXPATH (removing a
    stale file), then waits on both with select() and answers each datagram with sendto() to
    its sender (recvfrom()), until it has answered 3 on each socket.
Client: waits until UNIXPATH exists (the server is then bound), then for UDP sends one request
    with sendto()/recvfrom() on an unconnected socket, then connect()s it and sends two more
    with send()/recv(); for Unix datagrams it binds its own socket at UNIXPATH + ".c" and sends
    3 requests with sendto(), reading each answer with recvfrom().
Every socket has a 3 s timeout (the server waits at most 10 s for the next datagram); any error
ends the process with exit status 1 and a message on stderr. Both sides remove the socket files
they created when they exit.
"""

import os
import select
import socket
import sys
import time

TIMEOUT = 3.0
SERVER_WAIT = 10.0
REQUESTS = 3


def fail(message):
    sys.stderr.write("pyudp: error: %s\n" % message)
    sys.exit(1)


def remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def server(port, unix_path):
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.settimeout(TIMEOUT)
    udp.bind(("127.0.0.1", port))
    remove(unix_path)
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    unix.settimeout(TIMEOUT)
    try:
        unix.bind(unix_path)
        answered = {udp: 0, unix: 0}
        while answered[udp] < REQUESTS or answered[unix] < REQUESTS:
            waiting = [s for s in (udp, unix) if answered[s] < REQUESTS]
            ready, _, _ = select.select(waiting, [], [], SERVER_WAIT)
            if not ready:
                fail("server: no datagram within %d s (answered %d UDP, %d Unix)"
                     % (SERVER_WAIT, answered[udp], answered[unix]))
            for sock in ready:
                request, sender = sock.recvfrom(2048)
                if not sender:
                    fail("server: a Unix datagram came from an unbound socket")
                sock.sendto(b"re: " + request, sender)
                answered[sock] += 1
    finally:
        unix.close()
        udp.close()
        remove(unix_path)
    print("pyudp server: answered %d UDP datagrams on 127.0.0.1:%d and %d Unix datagrams at %s"
          % (REQUESTS, port, REQUESTS, unix_path))


def check(answer, request, what):
    if answer != b"re: " + request:
        fail("client: %s: answer %r to %r" % (what, answer, request))


def client(port, unix_path):
    deadline = time.monotonic() + 5.0
    while not os.path.exists(unix_path):
        if time.monotonic() > deadline:
            fail("client: %s did not appear within 5 s" % unix_path)
        time.sleep(0.1)

    server_addr = ("127.0.0.1", port)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.settimeout(TIMEOUT)
    request = b"udp request 1"
    udp.sendto(request, server_addr)
    answer, sender = udp.recvfrom(2048)
    if sender != server_addr:
        fail("client: UDP answer came from %r, not %r" % (sender, server_addr))
    check(answer, request, "UDP (sendto/recvfrom)")
    udp.connect(server_addr)
    for k in (2, 3):
        request = b"udp request %d" % k
        udp.send(request)
        check(udp.recv(2048), request, "UDP (connected send/recv)")
    udp.close()

    own_path = unix_path + ".c"
    remove(own_path)
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    unix.settimeout(TIMEOUT)
    try:
        unix.bind(own_path)
        for k in range(1, REQUESTS + 1):
            request = b"unix request %d" % k
            unix.sendto(request, unix_path)
            answer, _ = unix.recvfrom(2048)
            check(answer, request, "Unix datagram")
    finally:
        unix.close()
        remove(own_path)
    print("pyudp client: %d UDP and %d Unix datagram requests answered"
          % (REQUESTS, REQUESTS))


def main(argv):
    if len(argv) != 4 or argv[1] not in ("server", "client"):
        sys.stderr.write("usage: pyudp.py server|client PORT UNIXPATH\n")
        return 2
    try:
        port = int(argv[2])
        if not 0 < port < 65536:
            raise ValueError
    except ValueError:
        sys.stderr.write("pyudp: PORT must be a number in 1..65535, not %r\n" % argv[2])
        return 2
    try:
        if argv[1] == "server":
            server(port, argv[3])
        else:
            client(port, argv[3])
    except socket.timeout:
        fail("%s: timed out after %g s" % (argv[1], TIMEOUT))
    except OSError as e:
        fail("%s: %s" % (argv[1], e))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
