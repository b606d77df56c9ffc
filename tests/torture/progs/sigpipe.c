/* sigpipe: connects to a listener of its own that accepts and resets the connection
 * (SO_LINGER 0), then writes until the kernel answers with EPIPE and SIGPIPE, which kills it
 * (the default action). With argument "ignore" it ignores SIGPIPE, sees EPIPE, and exits 0. */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
	int ignore = argc > 1 && !strcmp(argv[1], "ignore");
	if (ignore)
		signal(SIGPIPE, SIG_IGN);
	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&a, &al))
		return 2;
	int c = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(c, (struct sockaddr *)&a, sizeof a))
		return 2;
	int s = accept(l, 0, 0);
	struct linger lg = {1, 0};
	setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	close(s); /* RST */
	usleep(50000);
	for (int i = 0; i < 100; i++) {
		/* the first write after the reset fails with ECONNRESET, the next with EPIPE and
		 * SIGPIPE */
		if (write(c, "hello", 5) < 0 && errno != ECONNRESET) {
			printf("sigpipe: write failed with errno %d (%s)\n", errno, strerror(errno));
			return ignore && errno == EPIPE ? 0 : 1;
		}
		usleep(10000);
	}
	return 1;
}
