#!/bin/sh
# plain-run.sh [--crash]: the same system WITHOUT bop, for comparing run times
# (systems/zookeeper/README.md). Starts the three servers in the cluster file's order, each
# once its `ready` port listens (checked with ss, without connecting), runs the client, then
# stops the servers (SIGTERM).
# --crash approximates the fault scenario: zk2 is SIGKILLed as soon as the client says it has
# created /bop/a (just before it asks zk2 `srvr`), and the client runs with BOP_FAULTS set, so
# it expects and checks a new leader.
set -u
cd "$(dirname "$0")"
BOP_RUN_DIR=$(mktemp -d -t zookeeper-plain.XXXXXX)
export BOP_RUN_DIR
pids=
listening() { [ -n "$(ss -Hltn "sport = :$1")" ]; }
start() { # start NAME READY_PORT COMMAND...
	name=$1 port=$2; shift 2
	"$@" >"$BOP_RUN_DIR/$name.log" 2>&1 &
	pids="$pids $!"
	eval "pid_$name=$!"
	i=0
	until listening "$port"; do
		i=$((i + 1)); [ "$i" -lt 1200 ] || { echo "$name did not listen on $port within 60 s" >&2; kill $pids; exit 2; }
		sleep 0.05
	done
}
t0=$(date +%s%N)
start zk1 7647 sh server.sh 1
start zk2 7645 sh server.sh 2
start zk3 7643 sh server.sh 3
if [ "${1-}" = --crash ]; then
	BOP_FAULTS='crash zk2 (SIGKILL by plain-run.sh once the client has created /bop/a)' \
		sh client.sh >"$BOP_RUN_DIR/client.log" 2>&1 &
	client=$!
	until grep -q '^client: created /bop/a' "$BOP_RUN_DIR/client.log" 2>/dev/null; do sleep 0.01; done
	kill -9 "$pid_zk2"
	wait "$client"
	rc=$?
	cat "$BOP_RUN_DIR/client.log"
else
	BOP_FAULTS= sh client.sh
	rc=$?
fi
kill $pids 2>/dev/null
wait
t1=$(date +%s%N)
echo "plain run: client exit $rc, $(( (t1 - t0) / 1000000 )) ms (logs in $BOP_RUN_DIR)"
exit $rc
