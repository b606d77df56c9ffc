#!/bin/sh
# server.sh PORT [PRIMARY_PORT]: one redis-server on 127.0.0.1:PORT, a replica of PRIMARY_PORT
# when that is given. No persistence; the replicas' sync files go to $BOP_RUN_DIR.
set -eu
port=$1
primary=${2-}
: "${BOP_RUN_DIR:?BOP_RUN_DIR is not set (run me under bop, or set it to a scratch directory)}"
set -- --port "$port" --bind 127.0.0.1 --protected-mode no \
	--save '' --appendonly no \
	--dir "$BOP_RUN_DIR" --dbfilename "dump-$port.rdb" --logfile '' \
	--repl-diskless-sync yes --repl-diskless-sync-delay 0 \
	--shutdown-timeout 0
if [ -n "$primary" ]; then
	set -- "$@" --replicaof 127.0.0.1 "$primary"
fi
exec redis-server "$@"
