#!/bin/bash
# 1,000 clients SIGKILLed at random points while others work (issue 13).
# tpmbrokerd on a real swtpm; steady clients (GetRandom, two holders,
# session churn, policy sessions) loop throughout; victims (faultclient
# victims, 8 at a time) each create up to 3 primaries and 2 sessions and are
# killed mid-send, mid-command, mid-response or at any time.  Then:
#  - the steady clients saw no error;
#  - with one holder left (3 objects, 2 sessions) the daemon is SIGKILLed,
#    which leaves the TPM as it is (SIGTERM would flush), and the TPM itself
#    (tpm2_getcap straight on swtpm) holds exactly what the broker's last
#    status showed: its loaded objects' TPM handles, its sessions (loaded
#    or saved in the TPM) and abandoned ones; nothing of the victims.
# FAULT_KILL_N victims (default 1000), FAULT_KILL_SEED (default random).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || { echo "jq not installed"; exit 77; }
cd "$T" || exit 1
FC=$BUILD/tests/integration/faultclient
N=${FAULT_KILL_N:-1000}
SEED=${FAULT_KILL_SEED:-$RANDOM}
start_swtpm
start_daemon --backend "swtpm:host=127.0.0.1,port=$SWTPM_PORT"
json() { timeout 20 "$CLI" --socket "$SOCK" status --json; }
echo "fault-kill: $N victims, seed $SEED"

steady=()
for kind in getrandom holder holder churn policy; do
	"$FC" mix "$TPM2TOOLS_TCTI" "$kind" 0 >>steady.out 2>>steady.err &
	steady+=($!)
done
"$FC" statpoll "$SOCK" 50 >statpoll.out 2>&1 &
poll_pid=$!
sleep 1
t0=$(date +%s)
"$FC" victims "$SOCK" "$N" 8 "$SEED" >victims.out 2>victims.err ||
	fail "victims: $(cat victims.out) $(grep -v esys victims.err | head -5)"
t1=$(date +%s)
rc=0
for p in "${steady[@]}"; do
	kill -TERM "$p"
	wait "$p" || rc=1
done
kill -TERM "$poll_pid"
wait "$poll_pid" || true
echo "$(cat victims.out) in $((t1 - t0)) s"
cat steady.out
echo "$(cat statpoll.out)"
[ "$(wc -l <steady.out)" = 5 ] || fail "a steady client did not report: $(cat steady.out)"
[ "$rc" = 0 ] || fail "the steady clients saw errors: $(grep -v esys steady.err | head -10)"
grep -q "victims $N .* errors 0$" victims.out || fail "victims: $(cat victims.out)"
grep -q 'fail 0$' statpoll.out || fail "status went unanswered: $(cat statpoll.out)"

# one holder stays; everything else is gone
"$BUILD/tests/integration/rmclient" "$TPM2TOOLS_TCTI" hold >hold.out 2>&1 &
hold_pid=$!
for _ in $(seq 100); do grep -q held hold.out && break; sleep 0.1; done
grep -q held hold.out || fail "holder not ready: $(cat hold.out)"
for _ in $(seq 100); do
	st=$(json)
	[ "$(jq '.counters.connections_now' <<<"$st")" = 2 ] &&
		[ "$(jq '.counters.busy' <<<"$st")" = false ] && break
	sleep 0.1
done
[ "$(jq '.counters.connections_now' <<<"$st")" = 2 ] || fail "connections left: $st"
[ "$(jq '.handles.objects' <<<"$st")" = 3 ] && [ "$(jq '.handles.sessions' <<<"$st")" = 2 ] ||
	fail "the holder's handles: $(jq -c .handles <<<"$st")"
# handles as 8 hex digits; sessions by their TPM slot alone (0x02... loaded
# and 0x03... saved name the same session)
norm() { while read -r h; do printf '0x%08x\n' "$((h))"; done | sort; }
snorm() { while read -r h; do printf 'session 0x%06x\n' "$((h & 0xffffff))"; done | sort; }
# the broker's view: TPM handles of its loaded objects; its sessions (a
# session's handle is the TPM's, loaded or saved)
jq -r '.connections[].objects[] | select(.state == "loaded") | .tpm_handle' <<<"$st" |
	norm >broker-objects
jq -r '(.connections[].sessions[], .abandoned[]) | .handle' <<<"$st" | snorm >broker-sessions
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
DAEMON_PID=
kill -KILL "$hold_pid"
wait "$hold_pid" 2>/dev/null || true
direct() {
	TPM2TOOLS_TCTI="swtpm:host=127.0.0.1,port=$SWTPM_PORT" tpm2_getcap "handles-$1" |
		sed -n 's/^- //p' || fail "getcap handles-$1 on swtpm"
}
direct transient | norm >tpm-objects
{ direct loaded-session; direct saved-session; } | snorm >tpm-sessions
echo "broker: objects $(tr '\n' ' ' <broker-objects) $(tr '\n' ' ' <broker-sessions)"
echo "TPM:    objects $(tr '\n' ' ' <tpm-objects) $(tr '\n' ' ' <tpm-sessions)"
cmp -s broker-objects tpm-objects || fail "objects in the TPM the broker does not track: $(diff broker-objects tpm-objects)"
cmp -s broker-sessions tpm-sessions || fail "sessions in the TPM the broker does not track: $(diff broker-sessions tpm-sessions)"
[ -s tpm-sessions ] || fail "the holder's sessions are not in the TPM: the check sees nothing"
echo "fault-kill: ok"
