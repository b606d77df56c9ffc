/* bad_buffers: passes NULL, unmapped and too-short buffers and addresses to every socket call
 * bop decodes. The kernel answers EFAULT or EINVAL; nothing here may crash the program or bop.
 * Then it checks a normal exchange still works, and exits 0. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define TRY(call) do { errno = 0; long r_ = (long)(call); if (r_ < 0) faults++; calls++; } while (0)

int main(void) {
	int calls = 0, faults = 0;
	/* an unmapped page, and a page whose second half is unmapped */
	char *page = mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(page + 4096, 4096);
	void *gone = page + 4096;
	void *edge = page + 4096 - 2; /* 2 bytes mapped, the rest not */

	int u = socket(AF_INET, SOCK_DGRAM, 0), v = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	bind(u, (struct sockaddr *)&a, sizeof a);
	getsockname(u, (struct sockaddr *)&a, &al);
	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in la = a;
	la.sin_port = 0;
	socklen_t lal = sizeof la;
	bind(l, (struct sockaddr *)&la, sizeof la);
	listen(l, 8);
	getsockname(l, (struct sockaddr *)&la, &lal);
	int t = socket(AF_INET, SOCK_STREAM, 0);

	TRY(connect(t, 0, sizeof a));
	TRY(connect(t, gone, sizeof a));
	TRY(connect(t, edge, sizeof a));
	TRY(connect(t, (struct sockaddr *)&la, 2)); /* too short */
	TRY(bind(v, gone, sizeof a));
	TRY(sendto(v, 0, 10, 0, (struct sockaddr *)&a, sizeof a));
	TRY(sendto(v, gone, 10, 0, (struct sockaddr *)&a, sizeof a));
	TRY(sendto(v, "x", 1, 0, gone, sizeof a));
	TRY(sendto(v, "x", 1, 0, (struct sockaddr *)&a, 3));
	TRY(sendto(v, "x", 1, 0, (struct sockaddr *)&a, 1 << 30));
	TRY(sendmsg(v, 0, 0));
	TRY(sendmsg(v, gone, 0));
	struct msghdr m;
	memset(&m, 0, sizeof m);
	m.msg_name = &a;
	m.msg_namelen = sizeof a;
	m.msg_iov = gone;
	m.msg_iovlen = 4;
	TRY(sendmsg(v, &m, 0));
	struct iovec iv = {gone, 10};
	m.msg_iov = &iv;
	m.msg_iovlen = 1;
	TRY(sendmsg(v, &m, 0));
	m.msg_iovlen = 1 << 20; /* more iovecs than the kernel takes */
	TRY(sendmsg(v, &m, 0));
	TRY(sendmmsg(v, gone, 4, 0));
	/* a real datagram, then receives into bad buffers (the data is there: the copy faults) */
	sendto(v, "datagram", 8, 0, (struct sockaddr *)&a, sizeof a);
	TRY(recvfrom(u, gone, 8, MSG_DONTWAIT | MSG_PEEK, 0, 0));
	TRY(recvfrom(u, edge, 8, MSG_DONTWAIT | MSG_PEEK, 0, 0));
	socklen_t *badlen = gone;
	char sink[16];
	TRY(recvfrom(u, sink, 8, MSG_DONTWAIT | MSG_PEEK, gone, badlen));
	TRY(recvmsg(u, 0, MSG_DONTWAIT | MSG_PEEK));
	TRY(recvmsg(u, gone, MSG_DONTWAIT | MSG_PEEK));
	m.msg_iovlen = 1;
	TRY(recvmsg(u, &m, MSG_DONTWAIT | MSG_PEEK));
	TRY(recvmmsg(u, gone, 4, MSG_DONTWAIT, 0));
	TRY(read(u, gone, 8));
	TRY(readv(u, gone, 2));
	TRY(write(v, gone, 8));
	TRY(writev(v, gone, 2));
	/* accept with bad address buffers while a connection waits (the kernel may take it and
	 * drop it when the copy faults), on a listener that never blocks */
	fcntl(l, F_SETFL, O_NONBLOCK);
	int c1 = socket(AF_INET, SOCK_STREAM, 0);
	connect(c1, (struct sockaddr *)&la, sizeof la);
	TRY(accept(l, gone, badlen));
	struct sockaddr_in peer;
	TRY(accept4(l, (struct sockaddr *)&peer, badlen, SOCK_NONBLOCK));
	int c = socket(AF_INET, SOCK_STREAM, 0);
	connect(c, (struct sockaddr *)&la, sizeof la);
	socklen_t shortlen = 1;
	int s = accept(l, (struct sockaddr *)&peer, &shortlen); /* too short: truncated, fine */
	calls++;
	if (s < 0)
		return 4;
	fcntl(s, F_SETFL, 0);
	TRY(getsockname(u, gone, badlen));
	TRY(getpeername(c, (struct sockaddr *)&peer, badlen));
	TRY(send(c, gone, 8, 0));
	TRY(recv(s, gone, 8, MSG_DONTWAIT));
	/* and a normal exchange still works */
	char b[8] = {0};
	int ok = send(c, "ok", 2, 0) == 2 && recv(s, b, sizeof b, 0) == 2 && !memcmp(b, "ok", 2);
	printf("bad_buffers: %d calls, %d failed, exchange after them %s\n", calls, faults, ok ? "works" : "FAILED");
	return ok && faults >= calls - 6 ? 0 : 1;
}
