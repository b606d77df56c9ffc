/* Threads sharing one TCP socket, for the tests of how bop orders calls on a shared stream.
 *
 *   shared_socket server PORT MESSAGES   accept one connection, write MESSAGES numbered
 *                                        9-byte messages ("m0000001\n" …) 1 to 3 per write,
 *                                        shut down writing, read until EOF (or answer
 *                                        "ping\n" with "pong\n"), exit 0
 *   shared_socket readers PORT MESSAGES THREADS
 *                                        connect, wait until all MESSAGES are queued in the
 *                                        socket, then THREADS threads recv() on the one
 *                                        blocking socket at once, 1 to 40 bytes a call, until
 *                                        EOF; exit 0 when they got every byte between them
 *   shared_socket poller PORT            connect; thread A blocks in recv() for the reply;
 *                                        thread B polls the same socket with MSG_DONTWAIT
 *                                        (EAGAIN) and only then sends "ping\n"; exit 0 when
 *                                        A got "pong\n" (a tracer that held B's poll until
 *                                        A's recv returned would hang this program)
 *
 * Loopback only. Every blocking call is bounded by SO_RCVTIMEO (10 s).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static int fd;
static long total;
static long got;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void die(const char *what) {
    fprintf(stderr, "shared_socket: error: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void timeouts(int s) {
    struct timeval tv = {10, 0};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

static struct sockaddr_in loopback(int port) {
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static int dial(int port) {
    struct sockaddr_in a = loopback(port);
    for (int i = 0; i < 100; i++) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        if (s < 0) die("socket");
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
        ssize_t k = send(s, p, n, MSG_NOSIGNAL);
        if (k < 0) die("send");
        p += k;
        n -= (size_t)k;
    }
}

static int server(int port, long messages) {
    int l = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = loopback(port);
    if (bind(l, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
    if (listen(l, 4) < 0) die("listen");
    int c = accept(l, NULL, NULL);
    if (c < 0) die("accept");
    timeouts(c);
    char buf[64];
    unsigned seed = 7;
    for (long i = 1; i <= messages;) {
        int k = 1 + (int)(rand_r(&seed) % 3);
        int n = 0;
        for (; k > 0 && i <= messages; k--, i++) n += snprintf(buf + n, sizeof buf - (size_t)n, "m%07ld\n", i);
        write_all(c, buf, (size_t)n);
    }
    for (;;) {
        ssize_t n = recv(c, buf, sizeof buf, 0);
        if (n < 0) die("recv");
        if (n == 0) break;
        if (n >= 5 && memcmp(buf, "ping\n", 5) == 0) write_all(c, "pong\n", 5);
    }
    close(c);
    return 0;
}

static void *reader(void *arg) {
    unsigned seed = (unsigned)(long)arg;
    char buf[64];
    for (;;) {
        ssize_t n = recv(fd, buf, 1 + rand_r(&seed) % 40, 0);
        if (n < 0) die("recv");
        if (n == 0) return NULL;
        pthread_mutex_lock(&lock);
        got += n;
        pthread_mutex_unlock(&lock);
    }
}

static int readers(int port, long messages, int threads) {
    fd = dial(port);
    total = messages * 9;
    /* every byte is queued before the readers start, so no recv has to wait for data */
    for (int i = 0;; i++) {
        int queued = 0;
        if (ioctl(fd, FIONREAD, &queued) < 0) die("FIONREAD");
        if (queued >= total) break;
        if (i > 1000) {
            fprintf(stderr, "shared_socket: error: only %d of %ld bytes arrived\n", queued, total);
            return 1;
        }
        usleep(10000);
    }
    shutdown(fd, SHUT_WR);
    pthread_t t[64];
    if (threads > 64) threads = 64;
    for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, reader, (void *)(long)(i + 1));
    for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
    if (got != total) {
        fprintf(stderr, "shared_socket: error: read %ld of %ld bytes\n", got, total);
        return 1;
    }
    printf("read %ld bytes with %d threads\n", got, threads);
    return 0;
}

static volatile int a_waiting;

static void *blocking_reader(void *arg) {
    (void)arg;
    char buf[16];
    a_waiting = 1;
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n != 5 || memcmp(buf, "pong\n", 5) != 0) {
        fprintf(stderr, "shared_socket: error: thread A got %zd bytes, not pong\n", n);
        exit(1);
    }
    return NULL;
}

static int poller(int port) {
    fd = dial(port);
    pthread_t a;
    pthread_create(&a, NULL, blocking_reader, NULL);
    while (!a_waiting) usleep(1000);
    usleep(100000); /* A is inside its recv by now */
    char buf[16];
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
        fprintf(stderr, "shared_socket: error: the poll returned %zd\n", n);
        return 1;
    }
    write_all(fd, "ping\n", 5);
    pthread_join(a, NULL);
    shutdown(fd, SHUT_WR);
    printf("pong\n");
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 4 && strcmp(argv[1], "server") == 0) return server(atoi(argv[2]), atol(argv[3]));
    if (argc >= 5 && strcmp(argv[1], "readers") == 0)
        return readers(atoi(argv[2]), atol(argv[3]), atoi(argv[4]));
    if (argc >= 3 && strcmp(argv[1], "poller") == 0) return poller(atoi(argv[2]));
    fprintf(stderr, "usage: shared_socket server PORT MESSAGES | readers PORT MESSAGES THREADS | poller PORT\n");
    return 2;
}
