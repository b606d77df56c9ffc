#!/bin/sh
# The etcd workload, run by bop as the node "client" of cluster.toml. POSIX sh and etcdctl
# (API v3); each etcdctl command is one process with one gRPC (HTTP/2) connection per endpoint.
#
#   1. wait (at most 30 s) until e1 reports the cluster healthy: a leader, and a quorum that
#      commits a proposal. Only e1 is asked, so that the client does not talk to e3 before 3.;
#   2. put k1=v1 through e1;
#   3. talk to e3 once (`endpoint status`, answered by e3 alone): the client's first receive
#      from e3 is the trigger of systems/etcd/faults, which cuts e3 off from e1 and e2;
#   4. put k2=v2 through e1: must succeed, retried (at most 8 tries of 3 s) while e1 and e2
#      elect a new leader, if e3 was the leader;
#   5. read k2 through e2, linearizable: must return v2 (the majority reads its write);
#   6. read k2 through e3, linearizable (--consistency=l --command-timeout=3s):
#        without faults ($BOP_FAULTS empty) it must succeed and return v2;
#        with faults it must FAIL: e3 is alone, and cannot confirm with a quorum that it is
#        up to date; and e3's serializable (local) read must not see k2, which it never got.
#
# Exits 0 only if every expectation held; otherwise says which one did not, and exits 1.
set -u

E1=127.0.0.1:7421
E2=127.0.0.1:7422
E3=127.0.0.1:7423
export ETCDCTL_API=3

say() { echo "client: $*"; }
die() { echo "client: FAIL: $*" >&2; exit 1; }
now_ms() { date +%s%3N; }
ctl() { ep=$1; shift; etcdctl --endpoints="$ep" --dial-timeout=2s "$@"; }
# last TEXT: its last line (etcdctl's "Error: ..."; log lines may come before it)
last() { printf '%s\n' "$1" | tail -n 1; }

faults=${BOP_FAULTS:-}
if [ -n "$faults" ]; then
	say "faults in force: $(printf '%s\n' "$faults" | tr '\n' ';' | sed 's/;$//')"
else
	say "no faults"
fi
start=$(now_ms)

# 1. healthy
until out=$(ctl $E1 --command-timeout=2s endpoint health 2>&1); do
	[ $(($(now_ms) - start)) -gt 30000 ] && die "the cluster did not become healthy through e1 within 30 s: $(last "$out")"
	sleep 0.25
done
say "healthy after $(($(now_ms) - start)) ms: $(last "$out")"

# put KEY VALUE ENDPOINT MAX_TRIES: a write, retried while it fails (no leader yet, leader
# lost, request timed out). Sets put_ms and put_tries.
put() {
	t0=$(now_ms)
	put_tries=0
	while :; do
		put_tries=$((put_tries + 1))
		if out=$(ctl "$3" --command-timeout=3s put "$1" "$2" 2>&1); then
			put_ms=$(($(now_ms) - t0))
			return 0
		fi
		say "put $1 through $3, try $put_tries: $(last "$out")"
		[ $put_tries -ge "$4" ] && return 1
		sleep 0.2
	done
}

# 2. k1 through e1
put k1 v1 $E1 5 || die "put k1 through e1 failed $put_tries times"
say "put k1=v1 through e1: OK in $put_ms ms"

# 3. once to e3. Its columns: endpoint, id, version, db size, is leader, is learner, raft term,
# raft index, raft applied index, errors.
out=$(ctl $E3 --command-timeout=3s endpoint status 2>&1) || die "endpoint status of e3 failed: $(last "$out")"
say "e3's status: $(printf '%s\n' "$out" | awk -F', ' '{ printf "leader=%s, raft term %s, raft index %s", $5, $7, $8 }')"

# 4. k2 through e1: must succeed, e1 and e2 are a majority
put k2 v2 $E1 8 || die "put k2 through e1 (majority side) failed $put_tries times"
say "put k2=v2 through e1 (majority side): OK in $put_ms ms, $put_tries try(s)"

# 5. the majority reads its write
out=$(ctl $E2 --command-timeout=3s get k2 --consistency=l --print-value-only 2>&1) \
	|| die "linearizable get k2 through e2 failed: $(last "$out")"
[ "$out" = v2 ] || die "linearizable get k2 through e2 returned '$out', expected v2"
say "linearizable get k2 through e2: v2"

# 6. e3
t0=$(now_ms)
if out=$(ctl $E3 --command-timeout=3s get k2 --consistency=l --print-value-only 2>&1); then
	ok=1
else
	ok=0
fi
took=$(($(now_ms) - t0))
if [ -z "$faults" ]; then
	[ $ok = 1 ] || die "without faults, linearizable get k2 through e3 failed after $took ms: $(last "$out")"
	[ "$out" = v2 ] || die "without faults, linearizable get k2 through e3 returned '$out', expected v2"
	say "linearizable get k2 through e3: v2 in $took ms"
else
	[ $ok = 0 ] || die "with e3 partitioned, a linearizable get k2 through e3 succeeded (it returned '$out'): on the minority side it must fail"
	say "linearizable get k2 through e3 (minority side): failed as it must, after $took ms: $(last "$out")"
	out=$(ctl $E3 --command-timeout=3s get k2 --consistency=s --print-value-only 2>&1) \
		|| die "serializable get k2 through e3 failed: $(last "$out")"
	[ -z "$out" ] || die "e3 was cut off before k2 was written, yet its serializable (local) read returned '$out'"
	say "serializable get k2 through e3: nothing (e3 never got k2)"
fi
say "all expectations held, in $(($(now_ms) - start)) ms"
