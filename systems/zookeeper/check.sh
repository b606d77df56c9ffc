#!/bin/sh
# check.sh: the run's oracle, run by bop after the system stopped (the [check] of cluster.toml).
# The client already checked the data; this checks the servers' roles, from their logs (saved
# by bop beside the trace as TRACE.zkN.stderr, where TRACE.run/ is $BOP_RUN_DIR). ZooKeeper
# logs each change of a server's state as "QuorumPeer - LOOKING" (electing), "- FOLLOWING" or
# "- LEADING".
#   always:         zk2 was the first leader (zk2's log: LOOKING, then LEADING);
#   with faults:    zk1 or zk3 became the leader after it (a second election);
#   without faults: there was one election only: zk1 and zk3 went LOOKING, FOLLOWING and never
#                   back to LOOKING (a re-election nobody asked for, e.g. because tracing made
#                   a follower miss the leader's pings for syncLimit, would fail the run).
set -u
: "${BOP_RUN_DIR:?BOP_RUN_DIR is not set (bop sets it for the check)}"
# (not from $BOP_TRACE: bop passes it as given on its command line, so a relative --trace
# would not resolve from here, the cluster file's directory; BOP_RUN_DIR is absolute)
dir=$(dirname "$BOP_RUN_DIR")
stem=$(basename "$BOP_RUN_DIR" .run)
log() { printf '%s/%s.zk%s.stderr' "$dir" "$stem" "$1"; }
# states N: server N's states in order, on one line ("LOOKING LEADING")
states() {
	sed -E -n 's/.*[.]QuorumPeer - (LOOKING|FOLLOWING|LEADING)$/\1/p' "$(log "$1")" | tr '\n' ' ' | sed 's/ $//'
}
fail() { echo "check: FAILED: $*" >&2; exit 1; }
for n in 1 2 3; do
	[ -f "$(log $n)" ] || fail "no log of zk$n at $(log $n)"
	eval "s$n=\$(states $n)"
done
echo "check: states of zk1: $s1; zk2: $s2; zk3: $s3"
[ "$s2" = "LOOKING LEADING" ] || fail "zk2 should have been elected leader once, and nothing else (states: $s2)"
if [ -n "${BOP_FAULTS-}" ]; then
	case "$s1 $s3" in
	*LEADING*) echo "check: zk2 led, then a new leader was elected among zk1 and zk3" ;;
	*) fail "neither zk1 nor zk3 logged LEADING after zk2's crash" ;;
	esac
else
	[ "$s1" = "LOOKING FOLLOWING" ] && [ "$s3" = "LOOKING FOLLOWING" ] ||
		fail "without faults zk1 and zk3 should have followed zk2 throughout (one election only)"
	echo "check: one election, zk2 led throughout (none other expected)"
fi
exit 0
