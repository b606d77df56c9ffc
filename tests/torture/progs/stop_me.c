/* stop_me: writes its pid to $BOP_RUN_DIR/stop_me.pid, then exchanges datagrams with itself
 * for 1.5 s and reports the longest gap between two rounds. Another node stops and continues
 * it (SIGSTOP, SIGCONT); exits 0 when it saw a gap of at least 300 ms: it was really stopped,
 * and it ran on after. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

int main(void) {
	const char *dir = getenv("BOP_RUN_DIR");
	char path[4096];
	snprintf(path, sizeof path, "%s/stop_me.pid", dir ? dir : ".");
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t l = sizeof a;
	if (bind(s, (struct sockaddr *)&a, sizeof a) || getsockname(s, (struct sockaddr *)&a, &l))
		return 2;
	FILE *f = fopen(path, "w");
	if (!f)
		return 2;
	fprintf(f, "%d\n", getpid());
	fclose(f);
	double start = now(), last = start, gap = 0;
	long rounds = 0;
	while (now() - start < 1.5 || (gap < 0.3 && now() - start < 10)) {
		char b;
		if (sendto(s, "x", 1, 0, (struct sockaddr *)&a, sizeof a) != 1 || recv(s, &b, 1, 0) != 1)
			return 3;
		rounds++;
		double t = now();
		if (t - last > gap)
			gap = t - last;
		last = t;
		usleep(10000);
	}
	printf("stop_me: %ld rounds, longest gap %.0f ms\n", rounds, gap * 1000);
	return gap >= 0.3 ? 0 : 1;
}
