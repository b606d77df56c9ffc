#!/bin/sh
# plain-run.sh [--crash]: the same system WITHOUT bop, for comparing run times
# (systems/redis/README.md). Starts the six servers in the cluster file's order, waiting for
# each port, runs the client, then stops the servers (SIGTERM).
# --crash approximates the fault scenario: the primary is SIGKILLed as soon as the client's
# first write has reached it, and the client runs with BOP_FAULTS set, so it expects and
# checks a failover.
set -u
cd "$(dirname "$0")"
BOP_RUN_DIR=$(mktemp -d -t redis-plain.XXXXXX)
export BOP_RUN_DIR
pids=
start() { # start NAME PORT COMMAND...
	name=$1 port=$2; shift 2
	"$@" >"$BOP_RUN_DIR/$name.log" 2>&1 &
	pids="$pids $!"
	eval "pid_$name=$!"
	i=0
	until redis-cli -p "$port" PING >/dev/null 2>&1; do
		i=$((i + 1)); [ "$i" -lt 300 ] || { echo "$name did not start" >&2; exit 2; }
		sleep 0.05
	done
}
t0=$(date +%s%N)
start primary 7311 sh server.sh 7311
start replica1 7312 sh server.sh 7312 7311
start replica2 7313 sh server.sh 7313 7311
start sentinel1 7315 sh sentinel.sh 1
start sentinel2 7316 sh sentinel.sh 2
start sentinel3 7317 sh sentinel.sh 3
if [ "${1-}" = --crash ]; then
	BOP_FAULTS='crash primary (SIGKILL by plain-run.sh once the client has written to it)' sh client.sh &
	client=$!
	until [ "$(redis-cli -p 7311 EXISTS before-failover 2>/dev/null)" = 1 ]; do sleep 0.01; done
	kill -9 "$pid_primary"
	wait "$client"
else
	BOP_FAULTS= sh client.sh
fi
rc=$?
kill $pids 2>/dev/null
wait
t1=$(date +%s%N)
echo "plain run: client exit $rc, $(( (t1 - t0) / 1000000 )) ms (logs in $BOP_RUN_DIR)"
exit $rc
