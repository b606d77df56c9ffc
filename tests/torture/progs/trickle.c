/* trickle: "N MARKER" passes N one-byte datagrams between the two ends of a Unix socket pair,
 * 20 ms apart, then creates the file MARKER and exits 0. A run stopped before its end leaves
 * no MARKER behind. */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
	if (argc != 3)
		return 2;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv))
		return 1;
	for (int i = 0, n = atoi(argv[1]); i < n; i++) {
		char b;
		if (send(sv[0], "x", 1, 0) != 1 || recv(sv[1], &b, 1, 0) != 1)
			return 1;
		usleep(20 * 1000);
	}
	int fd = open(argv[2], O_CREAT | O_WRONLY, 0600);
	return fd < 0 ? 1 : 0;
}
