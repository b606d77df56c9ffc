/* thread_churn: creates and joins threads in a loop, eight at a time, until it is killed.
 * Used to crash a node while it is creating threads: a new thread can then die before it runs
 * an instruction, with its creator's clone event never reported. */
#include <pthread.h>

static void *nothing(void *arg) { return arg; }

int main(void) {
	for (;;) {
		pthread_t t[8];
		for (int i = 0; i < 8; i++)
			if (pthread_create(&t[i], 0, nothing, 0) != 0)
				return 1;
		for (int i = 0; i < 8; i++)
			pthread_join(t[i], 0);
	}
}
