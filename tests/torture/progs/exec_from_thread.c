/* exec_from_thread: two threads block (one in read on a pipe nobody writes, one in recv on a
 * socket nobody sends to) while a third, not the leader, execs argv[1]. The kernel ends the
 * blocked threads and the exec'ing thread becomes the process. With argv[1] missing on disk,
 * the exec fails with ENOENT and the process exits 7. */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

static int pipefd[2], sock;
static char **args;

static void *reader(void *x) {
	char b;
	read(pipefd[0], &b, 1);
	return x;
}

static void *receiver(void *x) {
	char b;
	recv(sock, &b, 1, 0);
	return x;
}

static void *execer(void *x) {
	usleep(100000); /* let the others block */
	execv(args[1], args + 1);
	fprintf(stderr, "exec_from_thread: exec %s: errno %d\n", args[1], errno);
	_exit(7);
	return x;
}

int main(int argc, char **argv) {
	if (argc < 2)
		return 2;
	args = argv;
	if (pipe(pipefd))
		return 2;
	sock = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	bind(sock, (struct sockaddr *)&a, sizeof a);
	pthread_t t[3];
	pthread_create(&t[0], 0, reader, 0);
	pthread_create(&t[1], 0, receiver, 0);
	pthread_create(&t[2], 0, execer, 0);
	for (;;)
		pause(); /* the leader waits too, until the exec replaces it */
}
