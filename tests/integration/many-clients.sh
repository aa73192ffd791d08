#!/bin/bash
# Thousands of clients: N connections at once (default 2000, over a
# process's default limit of 1024 open files: the daemon raises its own up
# to --max-connections), each with a GetRandom in flight at the same time;
# every one is answered right, status counts them all, and when they leave
# the daemon is back to no client handles and still serves tpm2-tools.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
N=${MANY_CLIENTS:-2000}
# the soft limit most daemons start with (systemd's default); the hard one stays
ulimit -Sn 1024
start_daemon --max-connections $((N + 100))

json() { tpm "$CLI" --socket "$SOCK" status --json; }
mkfifo go
"$RAWCLIENT" --many "$N" "$SOCK" <go >many.out 2>many.err &
client=$!
exec 3>go
for _ in $(seq $((WAIT_S * 10))); do
	grep -q '^held' many.out && break
	kill -0 "$client" 2>/dev/null || break
	sleep 0.1
done
grep -q "^held $N, $N answered" many.out || { cat many.err >&2; fail "not every client answered: $(cat many.out)"; }
now=$(json | jq '.counters.connections_now')
# our own status connection is one of them
[ "$now" -eq $((N + 1)) ] || fail "status shows $now connections, expected $((N + 1))"
kill -0 "$DAEMON_PID" || fail "daemon died"
rss=$(awk '/^VmRSS/ {print $2}' "/proc/$DAEMON_PID/status")
echo "daemon VmRSS with $N clients: ${rss} kB"
echo >&3
exec 3>&-
wait "$client" || fail "rawclient --many"
for _ in $(seq 50); do
	[ "$(json | jq '.counters.connections_now')" -eq 1 ] && break
	sleep 0.1
done
[ "$(json | jq '.counters.connections_now')" -eq 1 ] || fail "connections left after the clients closed"
tpm tpm2_getrandom --hex 8 >/dev/null || fail "tpm2-tools afterwards"
stop_daemon
echo "ok: $N clients at once"
