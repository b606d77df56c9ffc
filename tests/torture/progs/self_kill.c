/* self_kill: one thread blocks in recv on a socket nobody sends to; the leader then kills
 * the whole process with SIGKILL. */
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

static int s;
static void *receiver(void *x) {
	char b;
	recv(s, &b, 1, 0);
	return x;
}

int main(void) {
	s = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	bind(s, (struct sockaddr *)&a, sizeof a);
	pthread_t t;
	pthread_create(&t, 0, receiver, 0);
	usleep(200000);
	kill(getpid(), SIGKILL);
	return 0;
}
