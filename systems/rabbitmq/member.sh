#!/bin/sh
# member.sh NAME: runs RabbitMQ node NAME (r1, r2 or r3) of the three-node cluster in the
# foreground (exec: the node's processes are the broker's own: a shell script that execs the
# Erlang VM, beam.smp, and its helpers). Everything it writes (Mnesia and quorum-queue data,
# logs, the Erlang cookie) goes to $BOP_RUN_DIR/NAME, a fresh directory per run, so every run
# forms a new cluster.
#
# Ports (127.0.0.1 only):       AMQP  Erlang distribution
#                         r1    7671  7674
#                         r2    7672  7675
#                         r3    7673  7676
# and epmd, the Erlang port mapper the nodes find each other through, on 7670 (its own node in
# cluster.toml). The nodes are r1@localhost, r2@localhost, r3@localhost; they form one cluster
# at boot by classic peer discovery (each lists the three), no rabbitmqctl needed.
set -eu
name=$1
case $name in
	r1) amqp=7671 dist=7674 ;;
	r2) amqp=7672 dist=7675 ;;
	r3) amqp=7673 dist=7676 ;;
	*) echo "member.sh: unknown node '$name' (r1, r2 or r3)" >&2; exit 2 ;;
esac
: "${BOP_RUN_DIR:?member.sh runs under bop, which sets BOP_RUN_DIR}"
server=/usr/lib/rabbitmq/bin/rabbitmq-server # the broker itself, not Debian's su wrapper
[ -x "$server" ] || { echo "member.sh: no $server (Debian: apt-get install rabbitmq-server)" >&2; exit 2; }

dir=$BOP_RUN_DIR/$name
mkdir -p "$dir"
# The Erlang cookie: nodes of one cluster share it. The VM reads it from $HOME/.erlang.cookie,
# which must not be readable by others.
printf bop-rabbitmq-cookie > "$dir/.erlang.cookie"
chmod 400 "$dir/.erlang.cookie"
cat > "$dir/rabbitmq.conf" <<CONF
listeners.tcp.1 = 127.0.0.1:$amqp
# the guest user may log in over 127.0.0.1 (it may anyway; said for clarity)
loopback_users.guest = true
cluster_formation.peer_discovery_backend = classic_config
cluster_formation.classic_config.nodes.1 = r1@localhost
cluster_formation.classic_config.nodes.2 = r2@localhost
cluster_formation.classic_config.nodes.3 = r3@localhost
# r1, first, finds no peer: it forms the cluster after two quick retries (the default waits 5 s)
cluster_formation.discovery_retry_limit = 2
cluster_formation.discovery_retry_interval = 250
# what the node does when it loses its peers: nothing special (the quorum queues' Raft decides)
cluster_partition_handling = ignore
# the full log goes to $BOP_RUN_DIR/NAME/log/NAME@localhost.log; the console (the node output
# bop echoes) only shows critical errors: a node stopped with SIGTERM logs harmless errors
log.file.level = info
log.console = true
log.console.level = critical
CONF
echo '[].' > "$dir/enabled_plugins" # no management plugin: fewer processes, a faster boot

export HOME="$dir" \
	RABBITMQ_NODENAME="$name@localhost" \
	RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
	RABBITMQ_DIST_PORT=$dist \
	ERL_EPMD_ADDRESS=127.0.0.1 \
	ERL_EPMD_PORT=7670 \
	RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf" \
	RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" \
	RABBITMQ_MNESIA_BASE="$dir/mnesia" \
	RABBITMQ_LOG_BASE="$dir/log" \
	RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
exec "$server"
