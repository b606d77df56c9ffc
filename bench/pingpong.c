/* Ping-pong of 8-byte messages over one loopback TCP connection: the worst case for a
 * syscall tracer (every call is a traced read or write).
 *   pingpong ROUNDS   forks a child; parent writes 8 bytes, child reads and writes them back. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static void full(int fd, char *b, int n, int wr) {
	for (int got = 0; got < n;) {
		int r = wr ? write(fd, b + got, n - got) : read(fd, b + got, n - got);
		if (r <= 0) { perror(wr ? "write" : "read"); exit(1); }
		got += r;
	}
}

int main(int argc, char **argv) {
	int rounds = argc > 1 ? atoi(argv[1]) : 20000, one = 1;
	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	if (bind(l, (void *)&a, sizeof a) || listen(l, 1) || getsockname(l, (void *)&a, &al)) { perror("listen"); return 1; }
	pid_t pid = fork();
	if (pid == 0) {
		int s = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(s, (void *)&a, sizeof a)) { perror("connect"); return 1; }
		setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		char b[8];
		for (int i = 0; i < rounds; i++) { full(s, b, 8, 0); full(s, b, 8, 1); }
		return 0;
	}
	int c = accept(l, NULL, NULL);
	setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	char b[8] = "pingpong";
	for (int i = 0; i < rounds; i++) { full(c, b, 8, 1); full(c, b, 8, 0); }
	int st; waitpid(pid, &st, 0);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}
