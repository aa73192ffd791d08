#!/bin/bash
# Log-first measurement through `tpmbroker measure` on the embedded TPM:
# record numbers in order (also through the TCTI's Tss2_Tcti_Tpmbroker_Measure); the log's replay of PCR 23 equals tpm2_pcrread
# (sha1, sha256); the default stream is the caller's cgroup; a register the
# daemon does not manage is refused (0x000B0084), so is an EV_NO_ACTION event
# (0x000B0095); the RTMR stand-in's file receives exactly the sha384 digests
# of the log's RTMR records, in order.  Tamper: an admin's raw tpm2_pcrextend
# of PCR 23 makes it inconsistent (status names it), measurements to it are
# refused with 0x000B0128 and leave it alone, PCR 16 still measures; after
# `measure --reset-section` it measures again and replays from the new
# section.  A restart of the embedded TPM (a new epoch) starts new sections.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
CHECK=$SRC/tests/integration/mlogcheck.py
cd "$T" || exit 1
start_daemon --measure-rtmr "2:$T/rtmr2"
LOG=$T/tb.sock.measure.log
M() { tpm "$CLI" --socket "$SOCK" measure "$@"; }

replay_is_pcr() { # IDX: the log's replay equals the PCR in sha1 and sha256
	local alg want
	for alg in sha1 sha256; do
		want=$(tpm "$CHECK" "$LOG" replay pcr "$1" "$alg") || fail "replay $1 $alg"
		tpm tpm2_pcrread "$alg:$1" -o "$T/p.bin" >/dev/null || fail "pcrread"
		[ "$want" = "$(xxd -p -c 64 "$T/p.bin")" ] || fail "PCR $1 $alg is not the log's replay"
	done
}

a=$(M --pcr 23 --string "first event" --description "a test") || fail "measure 1"
b=$(M --pcr 23 --type EV_EVENT_TAG --data "$0") || fail "measure 2"
c=$(echo from-stdin | M --pcr 16 --data -) || fail "measure 3"
[ "$b" -eq $((a + 1)) ] && [ "$c" -eq $((b + 1)) ] || fail "record numbers $a $b $c"
replay_is_pcr 23
replay_is_pcr 16
tpm "$CHECK" "$LOG" check >/dev/null || fail "log not whole"
# the stream: this shell's cgroup
cg=$(sed -n 's/^0:://p' /proc/self/cgroup)
grep -qF "$cg" "$LOG" || fail "the default stream ($cg) is not in the log"

echo "the C call of the TCTI plugin"
d=$(tpm "$BUILD/tests/integration/mcall" "path=$SOCK" pcr 23 "from C") || fail "mcall: $d"
[ "$d" -eq $((c + 1)) ] || fail "mcall's record number $d"
replay_is_pcr 23
out=$(tpm "$BUILD/tests/integration/mcall" "path=$SOCK" pcr 9 "x") && fail "mcall PCR 9 measured"
[ "$out" = 0x000b0084 ] || fail "mcall PCR 9: $out"

echo "refusals"
out=$(M --pcr 10 --string x 2>&1) && fail "PCR 10 measured"
grep -q 0x000B0084 <<<"$out" || fail "PCR 10: $out"
out=$(M --pcr 23 --type 3 --string x 2>&1) && fail "EV_NO_ACTION measured"
grep -q 0x000B0095 <<<"$out" || fail "EV_NO_ACTION: $out"
out=$(M --pcr 23 2>&1) && fail "no data accepted"
[ "$(M --pcr 23 2>/dev/null; echo $?)" = 2 ] || fail "no data: not exit 2"

echo "the RTMR stand-in"
for i in 1 2 3; do M --rtmr 2 --string "rtmr event $i" >/dev/null || fail "rtmr $i"; done
M --pcr 23 --string between >/dev/null || fail "measure between"
M --rtmr 2 --data "$0" >/dev/null || fail "rtmr 4"
want=$(tpm "$CHECK" "$LOG" rtmr 2) || fail "rtmr digests"
[ "$(xxd -p -c 1000000 "$T/rtmr2")" = "$want" ] || fail "the RTMR file is not the log's digests"
[ "$(stat -c %s "$T/rtmr2")" -eq $((4 * 48)) ] || fail "RTMR file size"

echo "tamper: an admin's raw extend of PCR 23"
before=$(pcr_value 23)
tpm tpm2_pcrextend "23:sha256=$(printf '%064d' 5)" || fail "raw extend as root"
st=$(tpm "$CLI" --socket "$SOCK" status --json) || fail "status"
grep -q '"state": "inconsistent", "why": "", "inconsistent": \["PCR 23"\]' <<<"$st" ||
	fail "status does not name PCR 23: $st"
st=$(tpm "$CLI" --socket "$SOCK" status) || fail "status"
grep -q "PCR 23: INCONSISTENT" <<<"$st" || fail "status text: $st"
grep -q "error: measure: PCR 23 is INCONSISTENT" "$T/daemon.log" || fail "not logged as an error"
tampered=$(pcr_value 23)
[ "$tampered" != "$before" ] || fail "the raw extend did nothing"
out=$(M --pcr 23 --string refused 2>&1) && fail "measured into an inconsistent PCR"
grep -q 0x000B0128 <<<"$out" || fail "inconsistent: $out"
[ "$(pcr_value 23)" = "$tampered" ] || fail "a refused measurement changed PCR 23"
M --pcr 16 --string "still fine" >/dev/null || fail "PCR 16 refused"
replay_is_pcr 16
s=$(M --pcr 23 --reset-section) || fail "reset-section"
M --pcr 23 --string "after the reset" >/dev/null || fail "measure after reset-section"
replay_is_pcr 23
grep -q '"state": "ok"' <<<"$(tpm "$CLI" --socket "$SOCK" status --json)" || fail "still inconsistent"

echo "a restart: the embedded TPM starts a new epoch, new sections"
stop_daemon
start_daemon --measure-rtmr "2:$T/rtmr2"
M --pcr 23 --string "new boot" >/dev/null || fail "measure after restart"
replay_is_pcr 23
M --rtmr 2 --string "rtmr after restart" >/dev/null || fail "rtmr after restart"
[ "$(xxd -p -c 1000000 "$T/rtmr2")" = "$(tpm "$CHECK" "$LOG" rtmr 2)" ] || fail "RTMR file after restart"
tpm "$CHECK" "$LOG" check >/dev/null || fail "log not whole at the end"
stop_daemon
echo "measure-basic: ok"
