/* many_conns: "server PORT N" accepts N connections on 127.0.0.1:PORT, reads one byte from
 * each and closes it; "client PORT N" opens N connections one after another, sends a byte on
 * each and closes it. Both exit 0 when all N went through. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
	if (argc != 4)
		return 2;
	int n = atoi(argv[3]);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				.sin_port = htons(atoi(argv[2]))};
	int done = 0;
	if (!strcmp(argv[1], "server")) {
		int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
		setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 512))
			return 2;
		while (done < n) {
			int c = accept(l, 0, 0);
			if (c < 0)
				return 3;
			char b;
			done += read(c, &b, 1) == 1; /* a readiness probe sends nothing: not counted */
			close(c);
		}
	} else {
		for (int i = 0; i < n; i++) {
			int c = socket(AF_INET, SOCK_STREAM, 0);
			struct linger lg = {1, 0}; /* no TIME_WAIT: 10,000 ports would run out */
			setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
			if (connect(c, (struct sockaddr *)&a, sizeof a) || write(c, "x", 1) != 1)
				return 3;
			char b;
			read(c, &b, 1); /* the server's close */
			close(c);
			done++;
		}
	}
	printf("many_conns %s: %d connections\n", argv[1], done);
	return 0;
}
