#!/bin/bash
# Malformed input over the raw Unix socket and the mssim port: TPM-format
# answers with the RM layer, the daemon stays up, others unaffected.
. "$(dirname "$0")/lib.sh"
port=$(free_port)
start_daemon --listen "mssim:127.0.0.1:$port"
"$BUILD/tests/integration/rawclient" "$SOCK" "$port" || fail "rawclient"
tpm tpm2_getrandom --hex 8 >/dev/null || fail "tpm2-tools after malformed input"
stop_daemon
echo "ok: malformed input"
