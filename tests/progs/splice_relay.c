/* A relay that moves the first bytes of a connection with splice(2), then the rest with
 * read/write: for the test that bop places the bytes a splice takes out of a socket or pipe.
 *
 *   splice_relay relay LISTEN_PORT SERVER_PORT SPLICED
 *       accept one client, connect to the server, move the client's first SPLICED bytes
 *       client -> pipe -> server with splice, then the rest with read and write; at the
 *       client's EOF shut down writing to the server and exit 0
 *   splice_relay client PORT BYTES      send BYTES bytes of numbered 9-byte lines, then EOF
 *   splice_relay sink PORT BYTES        accept one connection, read until EOF, exit 0 when
 *                                       it got BYTES bytes in order
 * Loopback only; SO_RCVTIMEO of 10 s bounds every read.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void die(const char *what) {
    fprintf(stderr, "splice_relay: error: %s: %s\n", what, strerror(errno));
    exit(1);
}

static struct sockaddr_in loopback(int port) {
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static void timeouts(int s) {
    struct timeval tv = {10, 0};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

static int listen_on(int port) {
    int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = loopback(port);
    if (bind(l, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
    if (listen(l, 4) < 0) die("listen");
    int c = accept(l, NULL, NULL);
    if (c < 0) die("accept");
    timeouts(c);
    close(l);
    return c;
}

static int dial(int port) {
    struct sockaddr_in a = loopback(port);
    for (int i = 0; i < 100; i++) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(s, (struct sockaddr *)&a, sizeof a) == 0) {
            timeouts(s);
            return s;
        }
        close(s);
        usleep(50000);
    }
    die("connect");
    return -1;
}

static void write_all(int s, const char *p, size_t n) {
    while (n > 0) {
        ssize_t k = write(s, p, n);
        if (k < 0) die("write");
        p += k;
        n -= (size_t)k;
    }
}

static char line(long i) { return (char)('0' + (i / 9) % 10); }

int main(int argc, char **argv) {
    if (argc >= 5 && strcmp(argv[1], "relay") == 0) {
        int c = listen_on(atoi(argv[2]));
        int s = dial(atoi(argv[3]));
        long spliced = atol(argv[4]);
        int p[2];
        if (pipe(p) < 0) die("pipe");
        while (spliced > 0) {
            ssize_t n = splice(c, NULL, p[1], NULL, spliced < 100 ? (size_t)spliced : 100, 0);
            if (n < 0) die("splice in");
            if (n == 0) break;
            spliced -= n;
            while (n > 0) {
                ssize_t k = splice(p[0], NULL, s, NULL, (size_t)n, 0);
                if (k <= 0) die("splice out");
                n -= k;
            }
        }
        char buf[37];
        for (;;) {
            ssize_t n = read(c, buf, sizeof buf);
            if (n < 0) die("read");
            if (n == 0) break;
            write_all(s, buf, (size_t)n);
        }
        shutdown(s, SHUT_WR);
        printf("relayed\n");
        return 0;
    }
    if (argc >= 4 && strcmp(argv[1], "client") == 0) {
        int s = dial(atoi(argv[2]));
        long total = atol(argv[3]);
        char buf[64];
        for (long i = 0; i < total;) {
            int n = 0;
            for (int k = 0; k < 3 && i < total; k++, i++) buf[n++] = line(i);
            write_all(s, buf, (size_t)n);
        }
        shutdown(s, SHUT_WR);
        while (read(s, buf, sizeof buf) > 0) {
        }
        return 0;
    }
    if (argc >= 4 && strcmp(argv[1], "sink") == 0) {
        int c = listen_on(atoi(argv[2]));
        long total = atol(argv[3]), got = 0;
        char buf[53];
        for (;;) {
            ssize_t n = read(c, buf, sizeof buf);
            if (n < 0) die("read");
            if (n == 0) break;
            for (ssize_t k = 0; k < n; k++, got++)
                if (buf[k] != line(got)) {
                    fprintf(stderr, "splice_relay: error: byte %ld is wrong\n", got);
                    return 1;
                }
        }
        if (got != total) {
            fprintf(stderr, "splice_relay: error: got %ld of %ld bytes\n", got, total);
            return 1;
        }
        printf("got %ld bytes\n", got);
        return 0;
    }
    fprintf(stderr, "usage: splice_relay relay LISTEN SERVER SPLICED | client PORT BYTES | sink PORT BYTES\n");
    return 2;
}
