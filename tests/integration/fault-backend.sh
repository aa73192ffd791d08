#!/bin/bash
# The backend stopped and continued at every locality, then killed and
# restarted, under load (issue 13; tpm-stall is the single-command case).
# tpmbrokerd on swtpm with --backend-timeout 1000 (ASan: 2000); load throughout: a
# GetRandom loop at each locality 0..4 (the broker switches swtpm's locality
# on its control channel between them), holders at 0 and 2, session churn
# at 3, policy sessions at 1; `status` asked every 20 ms on a new connection.
#
#  stall: for each locality L, twice, swtpm is SIGSTOPped for 1.5 s (ASan:
#    3 s; more than one timeout, less than two) with commands at L and the others in
#    flight, then SIGCONTed.  The client whose command timed out gets
#    0x000B0909 (documented), nobody else any error; no reset is assumed.
#    Then the daemon is SIGKILLed (the TPM stays as it is) with a holder
#    connected, and swtpm, read directly, holds exactly what the broker's
#    last status named.
#  kill: a new daemon on the same swtpm; swtpm is SIGKILLed under the load
#    and restarted 1 s later (a real reset: startup-clear).  Clients may get
#    the documented 0x000B0101 (TPM unreachable) and, for what they held
#    before, 0x000B018B / 0x000B098B (stale handle after a reset); they make
#    their keys and sessions again and go on.  Again nothing leaks.
#  Throughout: every status request answered, the slowest under 1 s (ASan:
#  2.5 s), shorter than a stall: the loop never waits on the backend
#  (figures printed; speed is not asserted).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || { echo "jq not installed"; exit 77; }
cd "$T" || exit 1
FC=$BUILD/tests/integration/faultclient
start_swtpm
SWTPM_PORT_FIXED=$SWTPM_PORT
# a stall is longer than one timeout, shorter than two; the bound on status
# is below a stall: a loop that waited on the stopped TPM would exceed it.
# ASan on 2 shared cores is slower, not blocked: everything twice as long.
if [ "$SANITIZED" = 1 ]; then TO=2000 STALL=3 BOUND=2500; else TO=1000 STALL=1.5 BOUND=1000; fi
# shellcheck source=fault-lib.sh
. "$(dirname "$0")/fault-lib.sh"
counter() { json | jq ".counters.$1"; }

load() { # load PHASE: the clients, their codes allowed in $FAULT_OK
	steady=()
	local spec kind loc
	for spec in getrandom:0 getrandom:1 getrandom:2 getrandom:3 getrandom:4 \
		holder:0 holder:2 churn:3 policy:1; do
		kind=${spec%:*} loc=${spec#*:}
		"$FC" mix "$TPM2TOOLS_TCTI" "$kind" 0 "$loc" >>"$1.out" 2>>"$1.err" &
		steady+=($!)
	done
	"$FC" statpoll "$SOCK" 20 >"$1.status" 2>&1 &
	poll_pid=$!
}
unload() { # unload PHASE: stop the clients; every one must report no error
	local p rc=0
	for p in "${steady[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
		wait "$p" || rc=1
	done
	kill -TERM "$poll_pid"
	wait "$poll_pid" || true
	echo "$1: $(tr '\n' ';' <"$1.out")"
	echo "$1: $(cat "$1.status")"
	[ "$(wc -l <"$1.out")" = 9 ] || fail "$1: a client did not report"
	[ "$rc" = 0 ] || fail "$1: clients saw errors: $(grep -v 'esys' "$1.err" | head -10)"
	read -r _ _ n _ max _ p99 _ _ _ fails <"$1.status"
	[ "$fails" = 0 ] || fail "$1: $fails status requests went unanswered"
	[ "${max%.*}" -lt "$BOUND" ] || fail "$1: status took ${max} ms (the loop blocked)"
	echo "$1: status answered $n times, max $max ms, p99 $p99 ms"
}

# --- stall at every locality
start_daemon --backend "swtpm:host=127.0.0.1,port=$SWTPM_PORT" --backend-timeout "$TO"
export FAULT_OK=0x000b0909
load stall
sleep 1
for loc in 0 1 2 3 4; do
	for _ in 1 2; do
		before=$(counter tpm_timeouts)
		kill -STOP "$SWTPM_PID"
		sleep "$STALL"
		kill -CONT "$SWTPM_PID"
		sleep 1
		after=$(counter tpm_timeouts)
		[ "$after" -gt "$before" ] || fail "locality $loc: no command timed out in a $STALL s stall"
	done
	echo "stall round $loc: tpm_timeouts $after"
done
unload stall
st=$(json)
[ "$(jq '.counters.tpm_resets' <<<"$st")" = 0 ] || fail "a stall was taken for a reset"
[ "$(jq '.counters.backend_errors' <<<"$st")" = 0 ] || fail "backend errors: $(jq -c .counters <<<"$st")"
expected=$(awk '{s += $7} END {print s}' stall.out)
echo "stall: 10 stops, $(jq '.counters.tpm_timeouts' <<<"$st") timeouts, $expected clients answered 0x000B0909"
[ "$expected" -ge 10 ] || fail "only $expected clients were answered 0x000B0909 for 10 timeouts"
no_leak stall

# --- swtpm killed and restarted under load
start_daemon --backend "swtpm:host=127.0.0.1,port=$SWTPM_PORT" --backend-timeout "$TO"
export FAULT_OK=0x000b0101,0x000b018b,0x000b098b,0x000b0909
load kill
sleep 2
for round in 1 2; do
	kill -KILL "$SWTPM_PID"
	wait "$SWTPM_PID" 2>/dev/null || true
	SWTPM_PID=
	sleep 1
	start_swtpm
	sleep 3
	echo "kill round $round: tpm_resets $(counter tpm_resets), reconnects $(counter reconnects)"
done
unload kill
[ "$(counter tpm_resets)" -ge 1 ] || fail "the restarts were not seen as resets"
tpm tpm2_getrandom 8 >/dev/null || fail "getrandom after the restarts"
no_leak kill
echo "fault-backend: ok"
