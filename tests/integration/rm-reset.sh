#!/bin/bash
# Resource manager and a TPM reset: swtpm restarts (state kept, not
# started) under the daemon while a client holds a key.  The next commands
# work, the client's stale handle gets a TPM-format error (0x000B018B),
# a new key works.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
start_swtpm
start_daemon --backend "swtpm:host=127.0.0.1,port=$SWTPM_PORT"
mkfifo "$T/go"
"$BUILD/tests/integration/rmclient" "$TPM2TOOLS_TCTI" stale <"$T/go" >"$T/stale.out" 2>&1 &
CPID=$!
exec 3>"$T/go"
for _ in $(seq 100); do grep -q ready "$T/stale.out" && break; sleep 0.1; done
grep -q ready "$T/stale.out" || fail "client not ready: $(cat "$T/stale.out")"
SWTPM_PORT_FIXED=$SWTPM_PORT
stop_swtpm
start_swtpm not-need-init
tpm tpm2_getrandom --hex 8 >/dev/null || fail "getrandom after the reset"
echo go >&3
exec 3>&-
wait "$CPID" || fail "stale-handle client: $(cat "$T/stale.out")"
cat "$T/stale.out"
stop_daemon
