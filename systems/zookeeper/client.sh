#!/bin/sh
# client.sh: the ZooKeeper workload, run by bop as the node "client" of cluster.toml. POSIX sh;
# it talks to the servers with zkCli (ZooKeeperMain: one JVM, one session, one command per
# call) and with ZooKeeper's four-letter word `srvr` (over bash's /dev/tcp: no nc needed).
#
#   1. waits (at most 90 s) until zk1 and zk3 serve and report "Mode: follower": the ensemble
#      has a leader, which must then be zk2 (the fault rule names it). Only zk1 and zk3 are
#      asked, so that the client sends nothing to zk2 before 3.;
#   2. creates /bop and /bop/a = v1 through zk1 (zk1 forwards them to the leader, zk2);
#   3. asks zk2 `srvr`: the client's FIRST message to zk2, the trigger of systems/zookeeper/faults
#      (crash zk2 after client.send(zk2)#1). Without faults zk2 must answer "Mode: leader";
#      with faults the answer does not matter (zk2 is killed at once);
#   4. with faults ($BOP_FAULTS non-empty): waits (at most 60 s) until zk1 or zk3 reports
#      "Mode: leader": a new leader was elected among the survivors;
#   5. creates /bop/b = v2 through a surviving server (zk3 first, then zk1; retried for at most
#      60 s while the ensemble settles), and reads it back through the other one (polled for at
#      most 20 s: a follower may apply the write a moment later);
#   6. reads /bop/a through both survivors: the write committed before the crash survived it.
#      Without faults, also reads /bop/b through zk2.
#
# Exits 0 only if every expectation held; otherwise says which one did not, and exits 1.
set -u
ZK1=7641
ZK2=7642
ZK3=7643

say() { printf 'client: %s\n' "$*"; }
die() { printf 'client: FAILED: %s\n' "$*" >&2; exit 1; }
now_ms() { date +%s%3N; }
# zk PORT CMD ARGS...: one zkCli command against 127.0.0.1:PORT. Its answer (stdout and stderr,
# without the connection chatter) is in $out; the status is zkCli's (0 when the command worked).
# -timeout 4000: the session timeout asked for (the servers cap it at 20 ticks, 4 s); a
# server that is down or not serving yet makes the command fail with ConnectionLoss after it.
# The JVM flags are the servers' (server.sh): small, quick to start, IPv4 sockets only.
# ZooKeeperMain exits after the command without closing its session: the servers expire it
# 4 s later ("Expiring session" in their logs).
zk() {
	port=$1; shift
	out=$(java -Xmx64m -Xss512k -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:-UsePerfData \
		-Djava.net.preferIPv4Stack=true \
		-cp /usr/share/java/zookeeper.jar:/usr/share/java/slf4j-nop.jar \
		org.apache.zookeeper.ZooKeeperMain -timeout 4000 -server "127.0.0.1:$port" "$@" 2>&1 </dev/null)
	rc=$?
	out=$(printf '%s\n' "$out" | grep -v -e '^Connecting to ' -e '^WATCHER::' -e '^WatchedEvent ' -e '^$')
	return $rc
}
# four PORT WORD: a four-letter word to 127.0.0.1:PORT; its answer is in $out (empty if none
# came within 5 s).
four() {
	out=$(timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf %s "$2" >&3 && cat <&3' \
		four "$1" "$2" 2>/dev/null)
}
mode() { four "$1" srvr; printf '%s\n' "$out" | sed -n 's/^Mode: //p'; }
# wait_for SECONDS DESCRIPTION COMMAND...: runs COMMAND every 0.2 s until it succeeds, for at
# most SECONDS.
wait_for() {
	limit=$(($1 * 1000)) what=$2; shift 2
	t0=$(now_ms)
	until "$@"; do
		[ $(($(now_ms) - t0)) -lt "$limit" ] || return 1
		sleep 0.2
	done
	say "$what (after $(($(now_ms) - t0)) ms)"
}

faults=${BOP_FAULTS-}
if [ -n "$faults" ]; then
	say "faults in force:"
	printf '%s\n' "$faults" | sed 's/^/client:   /'
else
	say "no faults"
fi
start=$(now_ms)

# 1. zk1 and zk3 serve, as followers
followers() {
	m1=$(mode $ZK1) m3=$(mode $ZK3)
	[ "$m1" = follower ] && [ "$m3" = follower ] && return 0
	case "$m1 $m3" in
	*leader*) die "zk1 is '$m1' and zk3 '$m3': the leader must be zk2 (the fault rule names it)" ;;
	esac
	return 1
}
wait_for 90 "zk1 and zk3 serve as followers: zk2 leads" followers ||
	die "zk1 and zk3 did not both serve as followers within 90 s (zk1: '${m1-}', zk3: '${m3-}')"

# 2. the first znodes, through zk1
zk $ZK1 create /bop || die "create /bop through zk1: $out"
zk $ZK1 create /bop/a v1 || die "create /bop/a through zk1: $out"
say "created /bop/a = v1 through zk1: $out"

# 3. the trigger: the client's first message to zk2
m2=$(mode $ZK2)
if [ -z "$faults" ]; then
	[ "$m2" = leader ] || die "zk2 reports mode '$m2', expected leader"
	say "zk2 reports Mode: leader"
else
	say "asked zk2 for its mode: '$m2' (it may have crashed before answering)"
	# 4. a new leader among the survivors
	new=
	new_leader() {
		for p in $ZK1 $ZK3; do
			[ "$(mode $p)" = leader ] && { new=$p; return 0; }
		done
		return 1
	}
	wait_for 60 "zk1 or zk3 reports Mode: leader" new_leader ||
		die "neither zk1 nor zk3 became the leader within 60 s"
	case $new in $ZK1) say "the new leader is zk1" ;; *) say "the new leader is zk3" ;; esac
fi

# 5. /bop/b through a survivor, read back through the other
via=
create_b() {
	for p in $ZK3 $ZK1; do
		if zk $p create /bop/b v2; then via=$p; return 0; fi
		say "create /bop/b through 127.0.0.1:$p: $out"
		# a create whose answer was lost may have been applied: then /bop/b is there, = v2
		case $out in *'already exists'*)
			zk $p get /bop/b && [ "$out" = v2 ] && { via=$p; return 0; } ;;
		esac
	done
	return 1
}
wait_for 60 "created /bop/b = v2" create_b || die "create /bop/b failed through zk3 and zk1 for 60 s: $out"
if [ "$via" = $ZK3 ]; then other=$ZK1; else other=$ZK3; fi
say "... through 127.0.0.1:$via"
has() { zk "$1" get "$2" && [ "$out" = "$3" ]; }
wait_for 20 "read /bop/b = v2 through 127.0.0.1:$other" has $other /bop/b v2 ||
	die "get /bop/b through 127.0.0.1:$other: '$out', expected v2"

# 6. /bop/a survived (and without faults zk2 has /bop/b too)
for p in $ZK1 $ZK3; do
	has $p /bop/a v1 || die "get /bop/a through 127.0.0.1:$p: '$out', expected v1"
done
say "read /bop/a = v1 through zk1 and zk3"
if [ -z "$faults" ]; then
	wait_for 20 "read /bop/b = v2 through zk2" has $ZK2 /bop/b v2 ||
		die "get /bop/b through zk2: '$out', expected v2"
fi
say "all expectations held, in $(($(now_ms) - start)) ms"
exit 0
