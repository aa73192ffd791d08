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
# shellcheck source=fault-lib.sh
. "$(dirname "$0")/fault-lib.sh"
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
cat statpoll.out
[ "$(wc -l <steady.out)" = 5 ] || fail "a steady client did not report: $(cat steady.out)"
[ "$rc" = 0 ] || fail "the steady clients saw errors: $(grep -v esys steady.err | head -10)"
grep -q "victims $N .* errors 0$" victims.out || fail "victims: $(cat victims.out)"
grep -q 'fail 0$' statpoll.out || fail "status went unanswered: $(cat statpoll.out)"

# one holder stays; everything else is gone: the TPM holds its 3 objects
# and 2 sessions and nothing more
no_leak fault-kill 3 2
echo "fault-kill: ok"
