#!/bin/bash
# The mssim backend against a real server of the protocol: a second
# tpmbrokerd on libtpms serving its mssim frontend (the one tpm2-tss's own
# mssim TCTI talks to in tools-mssim).  tpm2-tools go through the daemon on
# the mssim backend: GetRandom, PCR extend (value checked), a primary key.
# Then the "simulator" dies and comes back: the backend reconnects, powers
# it on, starts it, and clients go on.  (Debian has no MS/IBM simulator.)
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
SIM_PID=
trap 'rc=$?; set +e; [ -n "$SIM_PID" ] && kill -KILL "$SIM_PID" 2>/dev/null; (exit $rc); cleanup' EXIT
cd "$T" || exit 1

start_sim() {
	"$TPMBROKERD" --backend "libtpms:state=$T/sim" --socket none \
		--listen "mssim:127.0.0.1:$SIM_PORT" >>"$T/sim.log" 2>&1 &
	SIM_PID=$!
	for _ in $(seq 100); do
		ss -ltnH "( sport = :$((SIM_PORT + 1)) )" | grep -q . && return 0
		kill -0 "$SIM_PID" 2>/dev/null || fail "simulator daemon exited"
		sleep 0.1
	done
	fail "simulator daemon not listening"
}

stop_sim() {
	kill -TERM "$SIM_PID"
	wait "$SIM_PID" || fail "simulator daemon exit status"
	SIM_PID=
}

SIM_PORT=$(free_port)
start_sim
start_daemon --backend "mssim:host=127.0.0.1,port=$SIM_PORT"
a=$(tpm tpm2_getrandom --hex 16) || fail "getrandom"
b=$(tpm tpm2_getrandom --hex 16) || fail "getrandom 2"
[ ${#a} -eq 32 ] && [ "$a" != "$b" ] || fail "getrandom returned '$a', '$b'"
d=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
old=$(pcr_value 16)
tpm tpm2_pcrextend "16:sha256=$d" || fail "pcrextend"
[ "$(pcr_value 16)" = "$(pcr_expect "$old" "$d")" ] || fail "PCR 16 after extend"
tpm tpm2_createprimary -Q -C o -G ecc -c prim.ctx || fail "createprimary"
tpm tpm2_flushcontext -t || fail "flushcontext"

# the simulator goes away and comes back
stop_sim
start_sim
for i in 1 2 3; do
	tpm tpm2_getrandom --hex 8 >/dev/null || fail "getrandom $i after the simulator restart"
done
st=$(tpm "$CLI" --socket "$SOCK" status --json)
grep -q '"reconnects": [1-9]' <<<"$st" || fail "no reconnect counted: $st"
stop_daemon
stop_sim
echo "ok: mssim backend"
