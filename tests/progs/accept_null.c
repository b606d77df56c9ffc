/*
 * accept_null: a TCP test program that accepts with NULL address arguments and serves one
 * connection from a thread (readv/writev) and one from a forked child (read/write).
 *
 * Usage:
 *   accept_null PORT           server on 127.0.0.1:PORT
 *   accept_null client PORT    client of that server
 *
 * Build: gcc -O2 -pthread -o accept_null accept_null.c
 *
 * Server: listens on 127.0.0.1:PORT and calls accept(l, NULL, NULL) twice.
 *   - The first connection is served by a pthread: it reads one 16-byte message with readv
 *     into two 8-byte iovecs and answers with the message reversed, sent with writev of two
 *     8-byte iovecs.
 *   - The second connection is served by a forked child on the inherited descriptor: it
 *     reads 16 bytes with read, writes them reversed with write and exits 0. The parent
 *     closes its copy of the descriptor right after the fork, then waitpid()s the child.
 *   The server joins the thread and exits 0 only if the thread and the child succeeded.
 * Client: makes two connections one after another (retrying a refused connect up to 50
 *   times, 100 ms apart); on each it sends 16 bytes, reads 16 and checks they are the
 *   message reversed; exits 0 on success.
 * Both modes (and the forked child) call alarm(5) first so they never hang; errors go to
 * stderr with exit status 1.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MSG_LEN 16
#define HALF (MSG_LEN / 2)

static const char *const messages[2] = {"0123456789abcdef", "ABCDEFGHIJKLMNOP"};

static void on_alarm(int sig)
{
	static const char msg[] = "accept_null: error: timed out (5 s alarm)\n";
	(void)sig;
	(void)!write(2, msg, sizeof msg - 1);
	_exit(1);
}

static void die(const char *what)
{
	fprintf(stderr, "accept_null: error: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void fail(const char *what)
{
	fprintf(stderr, "accept_null: error: %s\n", what);
	exit(1);
}

static int parse_port(const char *text)
{
	char *end;
	long port = strtol(text, &end, 10);
	if (*text == '\0' || *end != '\0' || port < 1 || port > 65535) {
		fprintf(stderr, "accept_null: PORT must be a number in 1..65535, not \"%s\"\n", text);
		exit(2);
	}
	return (int)port;
}

static struct sockaddr_in loopback(int port)
{
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return sa;
}

static void reverse(const char *in, char *out)
{
	for (int i = 0; i < MSG_LEN; i++)
		out[i] = in[MSG_LEN - 1 - i];
}

/* Reads exactly len bytes with read(); returns 0 on success, -1 on error or early EOF. */
static int read_full(int fd, char *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

/* Writes exactly len bytes with write(); returns 0 on success, -1 on error. */
static int write_full(int fd, const char *buf, size_t len)
{
	size_t put = 0;
	while (put < len) {
		ssize_t n = write(fd, buf + put, len - put);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		put += (size_t)n;
	}
	return 0;
}

/* Moves an iovec array forward by n transferred bytes; returns the new first index. */
static int advance(struct iovec *iov, int count, int first, size_t n)
{
	while (first < count && n >= iov[first].iov_len) {
		n -= iov[first].iov_len;
		first++;
	}
	if (first < count) {
		iov[first].iov_base = (char *)iov[first].iov_base + n;
		iov[first].iov_len -= n;
	}
	return first;
}

/* The thread serving the first connection: readv into two halves, writev the reverse. */
static void *serve_vectored(void *arg)
{
	int fd = *(int *)arg;
	char a[HALF], b[HALF], msg[MSG_LEN], rev[MSG_LEN];
	struct iovec in[2] = {{a, HALF}, {b, HALF}};
	int first = 0;
	size_t total = 0;
	while (total < MSG_LEN) {
		ssize_t n = readv(fd, in + first, 2 - first);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "accept_null: error: thread: readv: %s\n",
				n == 0 ? "connection closed early" : strerror(errno));
			return (void *)1;
		}
		total += (size_t)n;
		first = advance(in, 2, first, (size_t)n);
	}
	memcpy(msg, a, HALF);
	memcpy(msg + HALF, b, HALF);
	reverse(msg, rev);
	struct iovec out[2] = {{rev, HALF}, {rev + HALF, HALF}};
	first = 0;
	total = 0;
	while (total < MSG_LEN) {
		ssize_t n = writev(fd, out + first, 2 - first);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "accept_null: error: thread: writev: %s\n", strerror(errno));
			return (void *)1;
		}
		total += (size_t)n;
		first = advance(out, 2, first, (size_t)n);
	}
	close(fd);
	return NULL;
}

static int server(int port)
{
	int l = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0)
		die("socket");
	int one = 1;
	if (setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
		die("setsockopt(SO_REUSEADDR)");
	struct sockaddr_in sa = loopback(port);
	if (bind(l, (struct sockaddr *)&sa, sizeof sa) < 0)
		die("bind");
	if (listen(l, 8) < 0)
		die("listen");

	int first_fd = accept(l, NULL, NULL);
	if (first_fd < 0)
		die("accept (first connection)");
	pthread_t thread;
	int rc = pthread_create(&thread, NULL, serve_vectored, &first_fd);
	if (rc != 0) {
		errno = rc;
		die("pthread_create");
	}

	int second = accept(l, NULL, NULL);
	if (second < 0)
		die("accept (second connection)");
	pid_t child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		char msg[MSG_LEN], rev[MSG_LEN];
		alarm(5); /* a pending alarm is not inherited across fork */
		close(l);
		if (read_full(second, msg, MSG_LEN) < 0) {
			fprintf(stderr, "accept_null: error: child: read failed or connection closed early\n");
			_exit(1);
		}
		reverse(msg, rev);
		if (write_full(second, rev, MSG_LEN) < 0) {
			fprintf(stderr, "accept_null: error: child: write: %s\n", strerror(errno));
			_exit(1);
		}
		close(second);
		_exit(0);
	}
	close(second);

	int ok = 1;
	int status;
	while (waitpid(child, &status, 0) < 0) {
		if (errno != EINTR)
			die("waitpid");
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "accept_null: error: child %d ended with wait status %#x\n", (int)child,
			status);
		ok = 0;
	}
	void *result;
	rc = pthread_join(thread, &result);
	if (rc != 0) {
		errno = rc;
		die("pthread_join");
	}
	if (result != NULL)
		ok = 0;
	close(l);
	if (!ok)
		fail("a connection failed");
	printf("accept_null server: served 2 connections (thread with readv/writev, child with read/write) on 127.0.0.1:%d\n",
	       port);
	return 0;
}

static int client(int port)
{
	struct sockaddr_in sa = loopback(port);
	for (int c = 0; c < 2; c++) {
		int fd = -1;
		for (int tries = 1;; tries++) {
			fd = socket(AF_INET, SOCK_STREAM, 0);
			if (fd < 0)
				die("socket");
			if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
				break;
			if (errno != ECONNREFUSED || tries >= 50)
				die("connect");
			close(fd);
			struct timespec pause = {0, 100 * 1000 * 1000};
			nanosleep(&pause, NULL);
		}
		char rev[MSG_LEN], want[MSG_LEN];
		if (write_full(fd, messages[c], MSG_LEN) < 0)
			die("write");
		if (read_full(fd, rev, MSG_LEN) < 0)
			fail("read failed or the server closed the connection early");
		reverse(messages[c], want);
		if (memcmp(rev, want, MSG_LEN) != 0) {
			fprintf(stderr, "accept_null: error: connection %d: got \"%.16s\", expected \"%.16s\"\n",
				c + 1, rev, want);
			exit(1);
		}
		close(fd);
	}
	printf("accept_null client: 2 connections answered by 127.0.0.1:%d\n", port);
	return 0;
}

int main(int argc, char **argv)
{
	signal(SIGALRM, on_alarm);
	alarm(5);
	if (argc == 2)
		return server(parse_port(argv[1]));
	if (argc == 3 && strcmp(argv[1], "client") == 0)
		return client(parse_port(argv[2]));
	fprintf(stderr, "usage: accept_null PORT\n       accept_null client PORT\n");
	return 2;
}
