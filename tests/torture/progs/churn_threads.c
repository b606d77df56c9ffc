/* churn_threads: 2,000 threads, 50 alive at a time, each sending one datagram to a receiver
 * thread of the same process, on a Unix datagram socket (a full queue makes the sender wait
 * rather than lose the datagram, however slowly the receiver runs). Exits 0 when every
 * datagram arrived. */
#include <pthread.h>
#include <stdio.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define WAVES 40
#define WIDTH 50
static struct sockaddr_un to;
static socklen_t tolen;

static void *sender(void *arg) {
	int s = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (s < 0 || sendto(s, "x", 1, 0, (struct sockaddr *)&to, tolen) != 1)
		return (void *)1;
	close(s);
	return arg;
}

static int r;
static void *receiver(void *arg) {
	long *got = arg;
	char b[4];
	struct timeval tv = {5, 0};
	setsockopt(r, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	while (*got < WAVES * WIDTH && recv(r, b, sizeof b, 0) == 1)
		(*got)++;
	return 0;
}

int main(void) {
	r = socket(AF_UNIX, SOCK_DGRAM, 0);
	to.sun_family = AF_UNIX;
	/* an abstract name of its own: "\0churn_threads.PID" */
	int n = snprintf(to.sun_path + 1, sizeof to.sun_path - 1, "churn_threads.%d", getpid());
	tolen = offsetof(struct sockaddr_un, sun_path) + 1 + n;
	if (bind(r, (struct sockaddr *)&to, tolen))
		return 2;
	long got = 0;
	pthread_t rt;
	pthread_create(&rt, 0, receiver, &got);
	int failed = 0;
	for (int i = 0; i < WAVES; i++) {
		pthread_t t[WIDTH];
		for (int j = 0; j < WIDTH; j++)
			if (pthread_create(&t[j], 0, sender, 0))
				return 3;
		for (int j = 0; j < WIDTH; j++) {
			void *ret;
			pthread_join(t[j], &ret);
			failed += ret != 0;
		}
	}
	pthread_join(rt, 0);
	printf("churn_threads: %d threads, %ld datagrams received, %d sends failed\n", WAVES * WIDTH, got, failed);
	return got == WAVES * WIDTH && !failed ? 0 : 1;
}
