#!/bin/bash
# A managed PCR extended behind the broker's back: on swtpm, directly (not
# through the broker), while the daemon is stopped.  At its next start the
# recovery finds PCR 23 INCONSISTENT (an error in the log, status names it),
# measurements to it are refused with 0x000B0128 and do not touch it; PCR 16,
# untouched, is consistent and measures.  Stopped and started again, it is
# still inconsistent (never silently fixed).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
CHECK=$SRC/tests/integration/mlogcheck.py
cd "$T" || exit 1
start_swtpm
LOG=$T/measure.log
start_daemon --backend "swtpm:host=127.0.0.1,port=$SWTPM_PORT" --measure-log "$LOG"
M() { tpm "$CLI" --socket "$SOCK" measure "$@"; }
for i in 1 2 3; do
	M --pcr 23 --string "event $i" >/dev/null || fail "measure $i"
	M --pcr 16 --string "event $i" >/dev/null || fail "measure 16 $i"
done
stop_daemon
# behind the broker's back, straight to the simulator
tpm tpm2_pcrextend -T "swtpm:host=127.0.0.1,port=$SWTPM_PORT" \
	"23:sha256=$(printf '%064d' 9)" || fail "extend on swtpm directly"
for start in 1 2; do
	start_daemon --backend "swtpm:host=127.0.0.1,port=$SWTPM_PORT" --measure-log "$LOG"
	grep -q "error: measure: PCR 23 is INCONSISTENT" "$T/daemon.log" || fail "not logged"
	st=$(tpm "$CLI" --socket "$SOCK" status --json) || fail "status"
	grep -q '"state": "inconsistent", "why": "", "inconsistent": \["PCR 23"\]' <<<"$st" ||
		fail "start $start: status does not name PCR 23 alone: $st"
	v=$(pcr_value 23)
	out=$(M --pcr 23 --string "refused" 2>&1) && fail "measured into a tampered PCR"
	grep -q 0x000B0128 <<<"$out" || fail "refusal code: $out"
	[ "$(pcr_value 23)" = "$v" ] || fail "a refused measurement changed PCR 23"
	M --pcr 16 --string "fine" >/dev/null || fail "PCR 16 refused"
	want=$(tpm "$CHECK" "$LOG" replay pcr 16 sha256) || fail "replay"
	[ "$want" = "$(pcr_value 16)" ] || fail "PCR 16 is not its replay"
	grep -q '"refused_inconsistent": 1' <<<"$(tpm "$CLI" --socket "$SOCK" status --json)" ||
		fail "refusal not counted"
	stop_daemon
done
echo "measure-tamper: ok"
