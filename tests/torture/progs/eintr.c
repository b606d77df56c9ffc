/* eintr: a recv interrupted by a signal whose handler was installed without SA_RESTART
 * returns EINTR; with SA_RESTART the kernel restarts it and it returns the datagram a thread
 * sends later. Exits 0 when both happened. */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static int s;
static struct sockaddr_in a;
static volatile sig_atomic_t alarms;
static void on_alarm(int sig) { (void)sig; alarms++; }

static void *late_sender(void *x) {
	usleep(400000);
	int o = socket(AF_INET, SOCK_DGRAM, 0);
	sendto(o, "y", 1, 0, (struct sockaddr *)&a, sizeof a);
	return x;
}

static void arm(int flags) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sa.sa_flags = flags;
	sigaction(SIGALRM, &sa, 0);
	struct itimerval it = {{0, 0}, {0, 100000}};
	setitimer(ITIMER_REAL, &it, 0);
}

int main(void) {
	s = socket(AF_INET, SOCK_DGRAM, 0);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t l = sizeof a;
	if (bind(s, (struct sockaddr *)&a, sizeof a) || getsockname(s, (struct sockaddr *)&a, &l))
		return 2;
	char b;
	/* 1: no SA_RESTART: the alarm interrupts the recv */
	arm(0);
	ssize_t n = recv(s, &b, 1, 0);
	int first = n < 0 && errno == EINTR;
	/* 2: SA_RESTART: the alarm comes, the recv goes on until the datagram */
	pthread_t t;
	pthread_create(&t, 0, late_sender, 0);
	arm(SA_RESTART);
	n = recv(s, &b, 1, 0);
	int second = n == 1 && b == 'y';
	pthread_join(t, 0);
	printf("eintr: interrupted %d, restarted %d, alarms %d\n", first, second, (int)alarms);
	return first && second && alarms == 2 ? 0 : 1;
}
