#!/bin/bash
# The simulator under the daemon dies and comes back un-started (as after a
# power cycle): the daemon reconnects, runs TPM2_Startup itself, and the
# next clients work; the event is counted in `tpmbroker status`.
. "$(dirname "$0")/lib.sh"
start_swtpm
start_daemon --backend "swtpm:host=127.0.0.1,port=$SWTPM_PORT"
tpm tpm2_getrandom --hex 8 >/dev/null || fail "getrandom before the reset"
stop_swtpm
# back on the same ports, state kept, but not started (no startup-clear)
swtpm socket --tpm2 \
	--server type=tcp,port="$SWTPM_PORT",bindaddr=127.0.0.1 \
	--ctrl type=tcp,port=$((SWTPM_PORT + 1)),bindaddr=127.0.0.1 \
	--tpmstate dir="$T/swtpm" --flags not-need-init \
	--pid file="$T/swtpm.pid" --daemon
SWTPM_PID=$(cat "$T/swtpm.pid")
for _ in $(seq 50); do ss -ltnH "( sport = :$SWTPM_PORT )" | grep -q . && break; sleep 0.1; done
for i in 1 2 3; do
	tpm tpm2_getrandom --hex 8 >/dev/null || fail "getrandom $i after the reset"
done
tpm tpm2_pcrread sha256:0 >/dev/null || fail "pcrread after the reset"
st=$(tpm "$CLI" --socket "$SOCK" status --json)
grep -q '"tpm_resets": 1' <<<"$st" || fail "reset not counted: $st"
grep -q '"reconnects": 1' <<<"$st" || fail "reconnect not counted: $st"
stop_daemon
echo "ok: TPM reset handled"
