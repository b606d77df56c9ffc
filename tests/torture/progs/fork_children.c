/* fork_children: forks 200 short-lived children, at most 20 alive at a time; each connects
 * back to the parent's listener on loopback, sends its number and exits. The parent accepts
 * and reads all 200 and reaps every child; exits 0 when all 200 numbers arrived and every
 * child exited 0. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHILDREN 200
#define WIDTH 20

int main(void) {
	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 64) ||
	    getsockname(l, (struct sockaddr *)&a, &al))
		return 2;
	/* never more than WIDTH connections in flight (forked, not yet accepted): the accept
	 * queue (64) never fills, so no child waits in connect while the parent waits for it */
	struct timeval tv = {10, 0};
	setsockopt(l, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	char seen[CHILDREN] = {0};
	int got = 0, next = 0, bad = 0, reaped = 0, st;
	while (got < CHILDREN) {
		while (next < CHILDREN && next - got < WIDTH) {
			pid_t p = fork();
			if (p < 0)
				return 3;
			if (p == 0) {
				int s = socket(AF_INET, SOCK_STREAM, 0);
				if (connect(s, (struct sockaddr *)&a, sizeof a))
					_exit(1);
				int n = next;
				_exit(write(s, &n, sizeof n) == sizeof n ? 0 : 1);
			}
			next++;
		}
		/* EINTR is retried, as robust programs do */
		int c;
		while ((c = accept(l, 0, 0)) < 0 && errno == EINTR)
			;
		if (c < 0) {
			perror("fork_children: accept");
			return 4;
		}
		int n = -1;
		ssize_t r;
		while ((r = read(c, &n, sizeof n)) < 0 && errno == EINTR)
			;
		if (r == sizeof n && n >= 0 && n < CHILDREN && !seen[n]) {
			seen[n] = 1;
			got++;
		} else
			bad++;
		close(c);
		while (waitpid(-1, &st, WNOHANG) > 0) {
			reaped++;
			bad += !WIFEXITED(st) || WEXITSTATUS(st) != 0;
		}
	}
	while (reaped < CHILDREN && wait(&st) > 0) {
		reaped++;
		bad += !WIFEXITED(st) || WEXITSTATUS(st) != 0;
	}
	printf("fork_children: %d children connected back, %d bad\n", got, bad);
	return bad ? 1 : 0;
}
