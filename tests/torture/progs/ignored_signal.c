/* ignored_signal: blocking calls that a signal the process ignores (SIGCHLD, default action)
 * must not interrupt. Untraced, such a signal is discarded when it is sent; under ptrace the
 * kernel queues it for the tracer, and a recv on a socket with SO_RCVTIMEO, or an epoll_wait,
 * returns EINTR unless the tracer runs the call again. A child exits (SIGCHLD) while the parent
 * waits; another child sends the datagram 300 ms later. Exits 0 when both waits returned the
 * datagram, 1 when one failed with EINTR. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static struct sockaddr_in a;

static void children(void) {
	if (fork() == 0)
		_exit(0); /* its SIGCHLD comes while the parent waits */
	if (fork() == 0) {
		usleep(300000);
		int s = socket(AF_INET, SOCK_DGRAM, 0);
		sendto(s, "d", 1, 0, (struct sockaddr *)&a, sizeof a);
		_exit(0);
	}
}

int main(void) {
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t l = sizeof a;
	if (bind(s, (struct sockaddr *)&a, sizeof a) || getsockname(s, (struct sockaddr *)&a, &l))
		return 2;
	struct timeval tv = {5, 0};
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	char b;
	/* 1: recv with a timeout */
	children();
	ssize_t n = recv(s, &b, 1, 0);
	int recv_ok = n == 1;
	if (!recv_ok)
		printf("ignored_signal: recv failed: %s\n", strerror(errno));
	while (wait(0) > 0)
		;
	/* 2: epoll_wait */
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN};
	epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
	children();
	int r = epoll_wait(ep, &ev, 1, 5000);
	int epoll_ok = r == 1 && recv(s, &b, 1, MSG_DONTWAIT) == 1;
	if (!epoll_ok)
		printf("ignored_signal: epoll_wait returned %d: %s\n", r, strerror(errno));
	while (wait(0) > 0)
		;
	printf("ignored_signal: recv %s, epoll_wait %s\n", recv_ok ? "ok" : "FAILED", epoll_ok ? "ok" : "FAILED");
	return recv_ok && epoll_ok ? 0 : 1;
}
