#!/bin/sh
# member.sh NAME: runs etcd member NAME (e1, e2 or e3) of the three-member cluster, in the
# foreground (exec, so the node's process is etcd itself). Its data goes to $BOP_RUN_DIR/NAME,
# a fresh directory per run, so every run bootstraps a new cluster.
#
# Ports (127.0.0.1 only):  client  peer
#                     e1   7421    7424
#                     e2   7422    7425
#                     e3   7423    7426
set -eu
name=$1
case $name in
	e1) client=7421 peer=7424 ;;
	e2) client=7422 peer=7425 ;;
	e3) client=7423 peer=7426 ;;
	*) echo "member.sh: unknown member '$name' (e1, e2 or e3)" >&2; exit 2 ;;
esac
: "${BOP_RUN_DIR:?member.sh runs under bop, which sets BOP_RUN_DIR}"

# heartbeat 100 ms, election timeout 1 s: a new leader within a couple of seconds of losing
# the old one, while ptrace's overhead does not make the fault-free cluster change leaders.
exec etcd \
	--name "$name" \
	--data-dir "$BOP_RUN_DIR/$name" \
	--listen-client-urls "http://127.0.0.1:$client" \
	--advertise-client-urls "http://127.0.0.1:$client" \
	--listen-peer-urls "http://127.0.0.1:$peer" \
	--initial-advertise-peer-urls "http://127.0.0.1:$peer" \
	--initial-cluster "e1=http://127.0.0.1:7424,e2=http://127.0.0.1:7425,e3=http://127.0.0.1:7426" \
	--initial-cluster-state new \
	--initial-cluster-token bop-etcd \
	--heartbeat-interval 100 \
	--election-timeout 1000 \
	--logger zap \
	--log-level warn
