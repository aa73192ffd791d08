#!/bin/bash
# Malformed input over the raw Unix socket and the mssim ports: TPM-format
# answers with the RM layer, the daemon stays up, others are unaffected,
# platform signals never reach the TPM, and the daemon still stops cleanly
# with clients parked mid-exchange.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
port=$(free_port)
start_daemon --listen "mssim:127.0.0.1:$port" --write-timeout 1000

# PCR 16 before: the platform port's POWER_OFF/POWER_ON/RESET (sent by
# rawclient) would clear it if they reached the TPM
d=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff
tpm tpm2_pcrextend "16:sha256=$d" || fail "pcrextend"
before=$(pcr_value 16)

"$RAWCLIENT" -w 1000 "$SOCK" "$port" || fail "rawclient"

[ "$(pcr_value 16)" = "$before" ] || fail "PCR 16 changed: a platform signal reached the TPM"
tpm tpm2_getrandom --hex 8 >/dev/null || fail "tpm2-tools after malformed input"
TPM2TOOLS_TCTI="mssim:host=127.0.0.1,port=$port" tpm tpm2_getrandom --hex 8 >/dev/null ||
	fail "tpm2-tools over mssim after malformed input"
# tpm2-tss's mssim TCTI power-cycles nothing either: it sent POWER_ON/NV_ON
[ "$(pcr_value 16)" = "$before" ] || fail "PCR 16 changed after an mssim client"

# clients parked mid-exchange do not keep the daemon from stopping cleanly
"$RAWCLIENT" --hold "$SOCK" >hold.out &
holder=$!
for _ in $(seq 100); do
	grep -q held hold.out && break
	kill -0 "$holder" 2>/dev/null || fail "rawclient --hold died"
	sleep 0.1
done
grep -q held hold.out || fail "rawclient --hold not ready"
tpm tpm2_getrandom --hex 8 >/dev/null || fail "getrandom next to parked clients"
stop_daemon
kill "$holder" 2>/dev/null || true
wait "$holder" 2>/dev/null || true
echo "ok: malformed input"
