#!/bin/bash
# A second unmodified TSS on the mssim frontend: IBM's TSS tools (Debian
# tss2) with their socsim interface.  GetRandom, PCR_Read agreeing with
# tpm2-tools, CreatePrimary; their power-up (platform port) does not reset
# the shared TPM: a PCR extended before keeps its value and Startup is
# answered TPM_RC_INITIALIZE as by a started TPM.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
command -v tssgetrandom >/dev/null || { echo "SKIP: IBM TSS tools (tss2) absent"; exit 77; }
port=$(free_port)
start_daemon --listen "mssim:127.0.0.1:$port"
export TPM_INTERFACE_TYPE=socsim TPM_SERVER_TYPE=mssim TPM_SERVER_NAME=127.0.0.1 \
	TPM_COMMAND_PORT=$port TPM_PLATFORM_PORT=$((port + 1)) TPM_DATA_DIR=$T

d=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff
tpm tpm2_pcrextend "16:sha256=$d" || fail "pcrextend"
before=$(pcr_value 16)

out=$(tssgetrandom -by 16) || fail "tssgetrandom: $out"
grep -q "randomBytes length 16" <<<"$out" || fail "tssgetrandom said: $out"
tsspowerup >/dev/null || fail "tsspowerup (platform port)"
out=$(tssstartup 2>&1) && fail "tssstartup succeeded on a started TPM: $out"
grep -q "rc 00000100" <<<"$out" || fail "tssstartup: expected TPM_RC_INITIALIZE, got: $out"
[ "$(pcr_value 16)" = "$before" ] || fail "PCR 16 changed: IBM's power-up reached the TPM"
# PCR_Read through IBM's stack agrees with tpm2-tools'
ibm=$(tsspcrread -ha 16 -halg sha256 | sed -n '/digest length 32/,$p' | tail -n +2 | tr -d ' \n')
[ "$ibm" = "$before" ] || fail "tsspcrread: '$ibm', tpm2-tools: '$before'"
out=$(tsscreateprimary -hi o -ecc nistp256) || fail "tsscreateprimary: $out"
grep -q "Handle 80000000" <<<"$out" || fail "tsscreateprimary said: $out"
stop_daemon
echo "ok: IBM TSS over mssim"
