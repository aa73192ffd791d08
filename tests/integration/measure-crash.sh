#!/bin/bash
# Log-first measurement survives crashes.  swtpm outlives the daemon, as a
# hardware TPM does.  4 clients measure into PCR 23 without pause while the
# daemon dies, ROUNDS times (MEASURE_ROUNDS; default below): SIGKILLed at a
# random moment, or killing itself at an injected point (a test build's
# TPMBROKERD_CRASH_AT): after the append before the fdatasync, after the
# fdatasync before the extend, after the extend before the answer; every
# 10th round a torn record is appended to the log while it is down.  After
# each restart: recovery found the log consistent (status: state ok, no
# register inconsistent; roll-forwards counted), the log is whole (an
# independent reader, mlogcheck.py).  At the end: every acknowledged event
# is in the log with its client's data, and the replay equals the PCR.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
MCLIENT=$BUILD/tests/integration/mclient
CHECK=$SRC/tests/integration/mlogcheck.py
# make check: 160 rounds in the plain build and 40 under ASan, 200 in all; make soak: 500
if [ "$SANITIZED" = 1 ]; then ROUNDS=${MEASURE_ROUNDS:-40}; else ROUNDS=${MEASURE_ROUNDS:-160}; fi
cd "$T" || exit 1
start_swtpm
LOG=$T/measure.log
ARGS=(--backend "swtpm:host=127.0.0.1,port=$SWTPM_PORT" --measure-log "$LOG")

# boot [POINT]: the daemon with ARGS; with a crash point in its environment
# it may die before it is seen ready: that is its purpose
boot() {
	SOCK=$T/tb.sock
	echo "--- start (round $round${1:+, $1})" >>"$T/daemon.log"
	TPMBROKERD_CRASH_AT=${1:-} "$TPMBROKERD" --socket "$SOCK" "${ARGS[@]}" \
		>>"$T/daemon.log" 2>&1 &
	DAEMON_PID=$!
	[ -n "${1:-}" ] || wait_ready "$SOCK" "$DAEMON_PID" daemon.log
}

# after a restart: recovery left a consistent log and nothing torn
check_recovered() {
	local st
	st=$(tpm "$CLI" --socket "$SOCK" status --json) || fail "status after round $round"
	grep -q '"measure": {[^}]*"state": "ok", "why": "", "inconsistent": \[\]' <<<"$st" ||
		fail "round $round: recovery did not find the log consistent: $(grep -o '"measure": {[^]]*]' <<<"$st")"
	echo "$(sed -n 's/.*"rolled_forward": \([0-9]*\).*/\1/p' <<<"$st")" \
		"$(sed -n 's/.*"torn_bytes": \([0-9]*\).*/\1/p' <<<"$st")" >>"$T/recovery"
}

round=0
boot
export TPM2TOOLS_TCTI="tpmbroker:path=$SOCK"
mkdir acks
"$MCLIENT" "$SOCK" -k 4 -n 0 -R -a "$T/acks" >"$T/mclient.out" 2>&1 &
MC_PID=$!
points=(append sync extend)
killed=0 injected=0 torn=0
declare -A at
for round in $(seq 1 "$ROUNDS"); do
	if ((round % 4 == 0)); then
		# the daemon kills itself at a point, within its next few events
		pt=${points[$((RANDOM % 3))]}:$((1 + RANDOM % 20))
		kill -KILL "$DAEMON_PID" 2>/dev/null || true
		wait "$DAEMON_PID" 2>/dev/null || true
		boot "$pt"
		for _ in $(seq 100); do
			kill -0 "$DAEMON_PID" 2>/dev/null || break
			sleep 0.05
		done
		if kill -0 "$DAEMON_PID" 2>/dev/null; then
			kill -KILL "$DAEMON_PID" # the clients were too slow to reach it
		else
			injected=$((injected + 1))
			at[${pt%%:*}]=$((${at[${pt%%:*}]:-0} + 1))
		fi
	else
		sleep "0.$((RANDOM % 3))$((RANDOM % 10))"
		kill -KILL "$DAEMON_PID"
		killed=$((killed + 1))
	fi
	wait "$DAEMON_PID" 2>/dev/null || true
	if ((round % 10 == 0)); then
		# a torn append: the first bytes of a record, as a crash mid-write leaves them
		printf 'TBMR\x00\x00\x01\x00\x00\x00\x00\x00\x00' >>"$LOG"
		torn=$((torn + 1))
	fi
	boot
	check_recovered
done
kill -TERM "$MC_PID" 2>/dev/null || true
wait "$MC_PID" 2>/dev/null || true
stop_daemon
DAEMON_PID=
# the last start must find it whole too
boot
check_recovered
tpm "$CHECK" "$LOG" check >"$T/check.out" || fail "the log is not whole: $(cat "$T/check.out")"
acks=$(tpm "$CHECK" "$LOG" acks pcr 23 sha256 "$T"/acks/ack.*) || fail "$acks"
for alg in sha1 sha256; do
	want=$(tpm "$CHECK" "$LOG" replay pcr 23 "$alg") || fail "replay $alg"
	tpm tpm2_pcrread "$alg:23" -o "$T/p.bin" >/dev/null || fail "pcrread $alg"
	[ "$want" = "$(xxd -p -c 64 "$T/p.bin")" ] || fail "PCR 23 $alg is not the log's replay"
done
stop_daemon
rolled=$(awk '{s += $1} END {print s + 0}' "$T/recovery")
cut=$(awk '$2 > 0 {n++} END {print n + 0}' "$T/recovery")
[ "$cut" -ge "$torn" ] || fail "$torn torn appends, $cut cut at start"
echo "measure-crash: ok: $ROUNDS rounds ($killed SIGKILL at random, $injected at injected points," \
	"$torn torn appends cut; append ${at[append]:-0}, sync ${at[sync]:-0}, extend ${at[extend]:-0}), $(grep '^acks' <<<"$acks" | cut -d' ' -f2) acknowledged events all" \
	"in the log, $(cut -d' ' -f2 "$T/check.out") records, $rolled events rolled forward"
