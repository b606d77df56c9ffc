#!/bin/sh
# check.sh: the run's oracle, run by bop after the system stopped (the [check] of cluster.toml).
# The client already checked the data; this checks the sentinels' side, from their logs (saved
# by bop beside the trace as TRACE.sentinelN.stdout, where TRACE.run/ is $BOP_RUN_DIR):
#   with faults:    some sentinel announced the failover away from the primary (+switch-master);
#   without faults: no sentinel did (a failover nobody asked for, e.g. because tracing made
#                   the primary miss the sentinels' pings for down-after-milliseconds).
set -u
: "${BOP_RUN_DIR:?BOP_RUN_DIR is not set (bop sets it for the check)}"
# (not from $BOP_TRACE: bop passes it as given on its command line, so a relative --trace
# would not resolve from here, the cluster file's directory; BOP_RUN_DIR is absolute)
dir=$(dirname "$BOP_RUN_DIR")
stem=$(basename "$BOP_RUN_DIR" .run)
log() { printf '%s/%s.sentinel%s.stdout' "$dir" "$stem" "$1"; }
for n in 1 2 3; do
	[ -f "$(log $n)" ] || { echo "check: no log of sentinel$n at $(log $n)" >&2; exit 1; }
done
switched() {
	for n in 1 2 3; do
		grep -q '+switch-master mymaster 127.0.0.1 7311 ' "$(log $n)" && return 0
	done
	return 1
}
if [ -n "${BOP_FAULTS-}" ]; then
	if switched; then echo "check: the sentinels failed the primary over"; exit 0; fi
	echo "check: FAILED: no sentinel logged +switch-master away from 127.0.0.1:7311" >&2
	exit 1
fi
if switched; then
	echo "check: FAILED: a sentinel failed the primary over in a run without faults" >&2
	exit 1
fi
echo "check: no failover (none expected)"
exit 0
