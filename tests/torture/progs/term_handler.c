/* term_handler: "PORT" is a daemon that echoes datagrams on 127.0.0.1:PORT until SIGTERM,
 * whose handler makes it print how many it served and exit 0. "PORT N" is its client: sends
 * N datagrams, waits for each echo, and lingers 300 ms so that the daemon is blocked in its
 * receive when bop, seeing the last client gone, sends it SIGTERM. */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static volatile sig_atomic_t term;
static void on_term(int sig) { (void)sig; term = 1; }

static int client(struct sockaddr_in *a, int n) {
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct timeval tv = {1, 0};
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	for (int i = 0; i < n; i++) {
		char b[8];
		int ok = 0;
		for (int try = 0; try < 10 && !ok; try++) /* the daemon may not be up yet */
			ok = sendto(s, "ping", 4, 0, (struct sockaddr *)a, sizeof *a) == 4 && recv(s, b, sizeof b, 0) == 4;
		if (!ok)
			return 1;
	}
	printf("term_handler client: %d echoes\n", n);
	usleep(300 * 1000);
	return 0;
}

int main(int argc, char **argv) {
	if (argc != 2 && argc != 3)
		return 2;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_term; /* no SA_RESTART: the recv returns EINTR */
	sigaction(SIGTERM, &sa, 0);
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				.sin_port = htons(atoi(argv[1]))};
	if (argc == 3)
		return client(&a, atoi(argv[2]));
	if (bind(s, (struct sockaddr *)&a, sizeof a))
		return 2;
	long served = 0;
	while (!term) {
		char b[64];
		struct sockaddr_in from;
		socklen_t fl = sizeof from;
		ssize_t n = recvfrom(s, b, sizeof b, 0, (struct sockaddr *)&from, &fl);
		if (n < 0 && errno == EINTR)
			continue;
		if (n > 0 && sendto(s, b, n, 0, (struct sockaddr *)&from, fl) == n)
			served++;
	}
	printf("term_handler: SIGTERM after %ld datagrams\n", served);
	return 0;
}
