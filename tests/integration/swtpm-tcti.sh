#!/bin/bash
# tpm2-tss's swtpm TCTI against the daemon's mssim port: it sends bare TPM
# commands (and its control requests to port+1), which tctildr's default
# list tries on 2321 before the mssim TCTI.  The port tells a TPM tag from a
# simulator signal and serves the connection unframed, as swtpm would.
# That TCTI opens a connection per command, so through any resource manager
# only commands that need no state across commands work with it (sessions
# and transient objects end with their connection); these are tried here.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
PORT=$(free_port)
start_daemon --listen "mssim:127.0.0.1:$PORT"
SW="swtpm:host=127.0.0.1,port=$PORT"
out=$(tpm tpm2_getrandom -T "$SW" --hex 16) || fail "getrandom through the swtpm TCTI"
[ ${#out} -eq 32 ] || fail "getrandom: '$out'"
old=$(tpm tpm2_pcrread -T "$SW" sha256:16 -o p.bin >/dev/null && xxd -p -c 64 p.bin) || fail "pcrread"
d=$(printf '%064d' 3)
tpm tpm2_pcrextend -T "$SW" "16:sha256=$d" || fail "pcrextend"
new=$(tpm tpm2_pcrread -T "$SW" sha256:16 -o p.bin >/dev/null && xxd -p -c 64 p.bin) || fail "pcrread"
[ "$new" = "$(pcr_expect "$old" "$d")" ] || fail "PCR 16: $new"
caps=$(tpm tpm2_getcap -T "$SW" properties-fixed) || fail "getcap"
grep -q TPM2_PT_FAMILY_INDICATOR <<<"$caps" || fail "getcap: $caps"
# the mssim TCTI on the same port still speaks the simulator protocol
tpm tpm2_getrandom -T "mssim:host=127.0.0.1,port=$PORT" 8 >/dev/null || fail "mssim after swtpm"
st=$("$CLI" --socket "$SOCK" status --json)
[ "$(jq '.handles.objects' <<<"$st")" -eq 0 ] || fail "objects left: $st"
stop_daemon
echo "swtpm-tcti: ok"
