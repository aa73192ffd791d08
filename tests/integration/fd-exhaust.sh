#!/bin/bash
# File-descriptor exhaustion (issue 13): the daemon runs under `ulimit -n 64`
# (soft and hard: it cannot raise it).  With two steady clients at work,
# 100 more connections are opened and held: those the daemon has room for
# are served; every other one, and `tpmbroker status`, tpm2-tools meanwhile,
# is answered RETRY (0x000B0922) at once, none left hanging in the backlog.
# While full, with new clients knocking, the daemon's CPU stays low (no
# accept loop on EMFILE).  The held connections and the steady clients keep
# being served, with no error; once the held ones leave, new clients are
# served again.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || { echo "jq not installed"; exit 77; }
cd "$T" || exit 1
FC=$BUILD/tests/integration/faultclient
LIMIT=64
# only the daemon gets the low limit (the clients need more)
cat >daemon-wrap <<EOF
#!/bin/bash
ulimit -n $LIMIT || exit 1
exec "$TPMBROKERD" "\$@"
EOF
chmod +x daemon-wrap
TPMBROKERD=$T/daemon-wrap
start_daemon
grep -q "^Max open files *$LIMIT *$LIMIT" "/proc/$DAEMON_PID/limits" ||
	fail "the daemon's limit: $(grep 'open files' "/proc/$DAEMON_PID/limits")"
json() { timeout 20 "$CLI" --socket "$SOCK" status --json; }
ticks() { awk '{print $14 + $15}' "/proc/$DAEMON_PID/stat"; }

steady=()
for kind in holder getrandom; do
	"$FC" mix "$TPM2TOOLS_TCTI" "$kind" 0 >>steady.out 2>>steady.err &
	steady+=($!)
done
sleep 1

mkfifo hold
"$FC" open "$SOCK" 100 <hold >open.out 2>open.err &
open_pid=$!
exec 3>hold
for _ in $(seq 600); do
	grep -q '^served' open.out && break
	kill -0 "$open_pid" 2>/dev/null || break
	sleep 0.1
done
read -r _ served _ refused _ hung <open.out ||
	fail "100 connections not answered in 60 s (left waiting in the backlog?): $(cat open.err)"
echo "limit $LIMIT: served $served, refused $refused, hung $hung"
[ "$hung" = 0 ] || fail "$hung clients left hanging (not accepted, not refused)"
[ "$served" -ge 20 ] && [ "$refused" -ge 1 ] || fail "served $served refused $refused"
grep -q '0x000b0922' open.err || fail "not refused with RETRY: $(cat open.err)"

# full: new clients are refused at once, status and tpm2-tools included
out=$(timeout 10 "$CLI" --socket "$SOCK" status 2>&1) && fail "status served with no descriptor left"
grep -q 0x000B0922 <<<"$out" || fail "status not refused with RETRY: $out"
out=$(timeout 10 tpm2_getrandom 8 2>&1) && fail "tpm2_getrandom served with no descriptor left"
grep -q 0xB0922 <<<"$out" || fail "tpm2_getrandom not refused with RETRY: $out"

# the daemon's CPU while full, steady clients paused, a client knocking
# every 50 ms (each must be refused at once)
kill -STOP "${steady[@]}"
t0=$(ticks)
for _ in $(seq 40); do
	r=$(timeout 10 "$FC" open "$SOCK" 1 </dev/null 2>/dev/null | head -1)
	[ "$r" = "served 0 refused 1 hung 0" ] || { kill -CONT "${steady[@]}"; fail "a knocking client: $r"; }
	sleep 0.05
done
t1=$(ticks)
kill -CONT "${steady[@]}"
hz=$(getconf CLK_TCK)
echo "daemon CPU while full: $((t1 - t0)) ticks of $hz/s over 40 refused clients"
# a loop on accept() would take a whole core: ~hz per second
[ $((t1 - t0)) -lt "$hz" ] || fail "the daemon spins while out of descriptors: $((t1 - t0)) ticks"
grep -q "pausing 1 s" "$T/daemon.log" && fail "the listener paused instead of refusing"
grep -q "refusing new connections" "$T/daemon.log" || fail "the refusals are not logged"
sleep 1

# the held connections are still served; then they leave
exec 3>&-
wait "$open_pid" || fail "faultclient open"
again=$(sed -n 's/^again //p' open.out)
[ "$again" = "$served" ] || fail "held connections served again: $again of $served"
for _ in $(seq 50); do
	st=$(json) && break
	sleep 0.1
done
[ "$(jq '.counters.connections_now' <<<"$st")" = 3 ] ||
	fail "connections after the held ones left: $(jq '.counters.connections_now' <<<"$st")"
tpm tpm2_getrandom 8 >/dev/null || fail "a new client not served after the others left"
rc=0
for p in "${steady[@]}"; do
	kill -TERM "$p"
	wait "$p" || rc=1
done
cat steady.out
[ "$rc" = 0 ] || fail "the steady clients saw errors: $(grep -v esys steady.err | head)"
stop_daemon
echo "fd-exhaust: ok"
