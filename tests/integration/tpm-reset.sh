#!/bin/bash
# The simulator under the daemon dies and comes back un-started (as after a
# power cycle): the daemon reconnects, runs TPM2_Startup itself, and the
# next clients work; the event is counted in `tpmbroker status`.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
start_swtpm
start_daemon --backend "swtpm:host=127.0.0.1,port=$SWTPM_PORT"
tpm tpm2_getrandom --hex 8 >/dev/null || fail "getrandom before the reset"
stop_swtpm
# back on the same ports, state kept, but not started (no startup-clear)
SWTPM_PORT_FIXED=$SWTPM_PORT start_swtpm not-need-init
for i in 1 2 3; do
	tpm tpm2_getrandom --hex 8 >/dev/null || fail "getrandom $i after the reset"
done
tpm tpm2_pcrread sha256:0 >/dev/null || fail "pcrread after the reset"
# counted (at least once: when the daemon notices the dead link depends on
# timing, and a reconnect that races the simulator's restart counts again)
st=$(tpm "$CLI" --socket "$SOCK" status --json)
n=$(sed -n 's/.*"tpm_resets": \([0-9]*\).*/\1/p' <<<"$st")
[ "${n:-0}" -ge 1 ] || fail "reset not counted: $st"
n=$(sed -n 's/.*"reconnects": \([0-9]*\).*/\1/p' <<<"$st")
[ "${n:-0}" -ge 1 ] || fail "reconnect not counted: $st"
stop_daemon
echo "ok: TPM reset handled"
