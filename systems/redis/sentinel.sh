#!/bin/sh
# sentinel.sh N: Redis Sentinel number N (1-3) on 127.0.0.1:731(4+N), watching the primary on
# 7311. Sentinel rewrites its configuration file, so it gets a fresh one in $BOP_RUN_DIR.
#
# The configuration names the replicas and the other sentinels up front (known-replica,
# known-sentinel with fixed ids): the sentinels would find them by themselves, but only after
# an INFO refresh (every 10 s) and hello messages (every 2 s). Starting with them known, a
# failover can start as soon as the primary is down.
set -eu
n=$1
: "${BOP_RUN_DIR:?BOP_RUN_DIR is not set (run me under bop, or set it to a scratch directory)}"
id() { printf '%040d' "$1"; }   # sentinel N's run id: forty digits
conf="$BOP_RUN_DIR/sentinel$n.conf"
{
	echo "port $((7314 + n))"
	echo "bind 127.0.0.1"
	echo "protected-mode no"
	echo "dir \"$BOP_RUN_DIR\""
	echo 'logfile ""'
	echo "sentinel myid $(id "$n")"
	echo "sentinel monitor mymaster 127.0.0.1 7311 2"
	echo "sentinel down-after-milliseconds mymaster 1000"
	echo "sentinel failover-timeout mymaster 3000"
	echo "sentinel parallel-syncs mymaster 2"
	echo "sentinel known-replica mymaster 127.0.0.1 7312"
	echo "sentinel known-replica mymaster 127.0.0.1 7313"
	for m in 1 2 3; do
		[ "$m" = "$n" ] || echo "sentinel known-sentinel mymaster 127.0.0.1 $((7314 + m)) $(id "$m")"
	done
} >"$conf"
exec redis-server "$conf" --sentinel
