#!/bin/sh
# server.sh N: ZooKeeper server N (1-3) of the ensemble, the node "zkN" of cluster.toml.
# Writes its zoo.cfg and myid into $BOP_RUN_DIR/zkN (fresh every run) and execs the JVM.
#
# Ports, all on 127.0.0.1: client 7640+N, quorum (follower -> leader) 7643+N, leader election
# 7646+N. Only the leader listens on its quorum port, which is what cluster.toml's `ready` of
# zk2 waits for.
set -eu
n=$1
: "${BOP_RUN_DIR:?BOP_RUN_DIR is not set (run me under bop, or set it to a scratch directory)}"
dir="$BOP_RUN_DIR/zk$n"
mkdir -p "$dir/data"
echo "$n" >"$dir/data/myid"
cat >"$dir/zoo.cfg" <<CFG
# Ticks of 200 ms: client sessions of 0.4-4 s (2-20 ticks). A new leader gives up unless a
# quorum of followers has synced with it within initLimit (50 ticks, 10 s), and a follower
# must answer the leader within syncLimit (25 ticks, 5 s): generous, for JVMs under ptrace on a
# loaded machine. They do not slow the scenario down: the survivors see the crashed leader's
# connections close at once, and the election itself takes about 0.2 s.
tickTime=200
initLimit=50
syncLimit=25
dataDir=$dir/data
clientPort=$((7640 + n))
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=*
# no fsync: the data directory is scratch
forceSync=no
server.1=127.0.0.1:7644:7647
server.2=127.0.0.1:7645:7648
server.3=127.0.0.1:7646:7649
CFG
# A small JVM (the machine may be small and shared): 128 MB of heap, the serial collector (one
# GC thread), the C1 compiler only (quicker start-up), no /tmp/hsperfdata_$USER/PID file (a
# JVM deletes the files of dead JVMs it finds there, probing each with kill(PID, 0): after a
# crash, the client's next JVM would probe the dead server).
# IPv4 sockets only (java.net.preferIPv4Stack): by default Java opens AF_INET6 sockets even for
# 127.0.0.1 (bound to ::ffff:127.0.0.1), and bop does not match those with the AF_INET sockets
# of the client's /dev/tcp connections (see README.md, "bop issues").
# slf4j-simple (a dependency of Debian's libzookeeper-java) logs INFO and above to stderr, with
# the thread names; bop saves it as TRACE.zkN.stderr.
exec java -Xmx128m -Xss512k -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:-UsePerfData \
	-Djava.net.preferIPv4Stack=true \
	-Dorg.slf4j.simpleLogger.showDateTime=true \
	-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS \
	-Dzookeeper.jmx.log4j.disable=true \
	-cp /usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar \
	org.apache.zookeeper.server.quorum.QuorumPeerMain "$dir/zoo.cfg"
