#!/bin/sh
# client.sh: the workload. Waits for the replicas to sync, then writes a key to the primary.
# That write is the client's FIRST message to the primary (the fault scenario's trigger,
# client.send(primary)#1): nothing else here talks to the primary before it.
#
# Without faults ($BOP_FAULTS empty): reads the key back from the primary and from both
# replicas, and exits 0.
# With faults: the primary may die at that write. Asks the sentinels for the primary's address
# until it is no longer 7311 (a failover), writes a new key to the new primary, reads it back,
# and waits for the other replica to copy it (the sentinels reconfigured it). Exits 0 only if
# all of that worked.
set -u
PRIMARY=7311
REPLICAS="7312 7313"
SENTINELS="7315 7316 7317"

say() { printf 'client: %s\n' "$*"; }
die() { printf 'client: FAILED: %s\n' "$*" >&2; exit 1; }
cli() { port=$1; shift; redis-cli -h 127.0.0.1 -p "$port" "$@" 2>&1; }

# wait_for TRIES DESCRIPTION COMMAND...: runs COMMAND every 0.2 s until it succeeds, at most
# TRIES times.
wait_for() {
	tries=$1 what=$2; shift 2
	i=0
	while ! "$@"; do
		i=$((i + 1))
		[ "$i" -lt "$tries" ] || return 1
		sleep 0.2
	done
	say "$what"
}

replica_synced() { cli "$1" INFO replication | grep -q '^master_link_status:up'; }
both_synced() { for r in $REPLICAS; do replica_synced "$r" || return 1; done; }
has_value() { [ "$(cli "$1" GET "$2")" = "$3" ]; }

# 1. the replicas have synced with the primary (asked of the replicas, not the primary)
wait_for 150 "both replicas are in sync with the primary" both_synced ||
	die "the replicas did not sync with the primary within 30 s"

# 2. the trigger: the first write to the primary
out=$(cli $PRIMARY SET before-failover v1)
say "SET before-failover v1 on the primary ($PRIMARY): $out"

if [ -z "${BOP_FAULTS-}" ]; then
	[ "$out" = OK ] || die "the primary answered '$out' to SET"
	got=$(cli $PRIMARY GET before-failover)
	[ "$got" = v1 ] || die "the primary returned '$got' for before-failover, expected v1"
	say "GET before-failover on the primary: $got"
	for r in $REPLICAS; do
		wait_for 50 "replica $r has before-failover = v1" has_value "$r" before-failover v1 ||
			die "replica $r did not get before-failover within 10 s"
	done
	say "done (no faults)"
	exit 0
fi

say "faults in force:"
printf '%s\n' "$BOP_FAULTS" | sed 's/^/client:   /'

# 3. a failover: some sentinel names another primary
new=
master_port() {
	for s in $SENTINELS; do
		p=$(cli "$s" SENTINEL get-master-addr-by-name mymaster | sed -n 2p)
		case $p in
		'' | $PRIMARY) ;;
		*) new=$p; return 0 ;;
		esac
	done
	return 1
}
wait_for 150 "the sentinels moved the primary" master_port ||
	die "no sentinel reported a new primary within 30 s"
case " $REPLICAS " in
*" $new "*) ;;
*) die "the sentinels named $new as the primary, which is not a replica" ;;
esac
say "new primary: 127.0.0.1:$new"

# 4. write to the new primary (it may still be finishing its promotion: retry for 10 s)
set_new() { out=$(cli "$new" SET after-failover v2); [ "$out" = OK ]; }
wait_for 50 "SET after-failover v2 on the new primary ($new): OK" set_new ||
	die "the new primary $new answered '$out' to SET"
got=$(cli "$new" GET after-failover)
[ "$got" = v2 ] || die "the new primary returned '$got' for after-failover, expected v2"
say "GET after-failover on the new primary: $got"

# 5. the other replica follows the new primary
for r in $REPLICAS; do
	[ "$r" = "$new" ] && continue
	wait_for 100 "replica $r follows the new primary: after-failover = v2" has_value "$r" after-failover v2 ||
		die "replica $r did not get after-failover from the new primary within 20 s"
done
say "done (failover)"
exit 0
