#!/bin/bash
# 64 clients at once, each its own process and connection, issuing
# GetRandom and PCR_Extend: all complete, no errors, and PCR 23 shows
# exactly the number of extends (all use the same digest, so the value
# does not depend on their order).
# usage: concurrent.sh tools|esys|esys-mssim
#   tools:      64 shell loops of tpm2_getrandom + tpm2_pcrextend, -T tpmbroker
#   esys:       concur: 64 forked ESYS clients released together, -T tpmbroker
#   esys-mssim: the same through the mssim frontend (tpm2-tss mssim TCTI)
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
mode=${1:?mode}
N=64
cd "$T" || exit 1

# the daemon's command counter (status --json)
served() {
	tpm "$CLI" --socket "$SOCK" status --json |
		sed -n 's/.*"counters": {[^}]*"commands": \([0-9]*\).*/\1/p'
}

case $mode in
tools)
	ROUNDS=3
	start_daemon
	tpm tpm2_pcrreset 23 || fail "pcrreset 23"
	d=$(printf '%064x' 23)
	pids=()
	for i in $(seq $N); do
		(
			for _ in $(seq $ROUNDS); do
				r=$(tpm tpm2_getrandom --hex 8) || exit 1
				[[ $r =~ ^[0-9a-f]{16}$ ]] || { echo "getrandom: '$r'"; exit 1; }
				tpm tpm2_pcrextend "23:sha256=$d" || exit 1
			done
		) >"c$i.out" 2>&1 &
		pids+=($!)
	done
	errors=0
	for pid in "${pids[@]}"; do
		wait "$pid" || errors=$((errors + 1))
	done
	[ "$errors" -eq 0 ] || { cat c*.out >&2; fail "$errors of $N clients failed"; }
	want=0000000000000000000000000000000000000000000000000000000000000000
	for _ in $(seq $((N * ROUNDS))); do
		want=$(pcr_expect "$want" "$d")
	done
	[ "$(pcr_value 23)" = "$want" ] || fail "PCR 23 does not show exactly $((N * ROUNDS)) extends"
	cmds=$(served)
	echo "daemon served $cmds commands"
	[ "${cmds:-0}" -ge $((N * ROUNDS * 2)) ] ||
		fail "daemon counted ${cmds:-0} commands, expected >= $((N * ROUNDS * 2))"
	;;
esys)
	start_daemon
	"$CONCUR" "tpmbroker:path=$SOCK" $N 20 || fail "concur via tpmbroker"
	cmds=$(served)
	echo "daemon served $cmds commands"
	[ "${cmds:-0}" -ge $((N * 41)) ] || fail "daemon counted ${cmds:-0} commands"
	;;
esys-mssim)
	port=$(free_port)
	start_daemon --listen "mssim:127.0.0.1:$port"
	"$CONCUR" "mssim:host=127.0.0.1,port=$port" $N 5 || fail "concur via mssim"
	;;
*)
	fail "unknown mode $mode" ;;
esac
# the daemon is still fine afterwards and stops cleanly
tpm tpm2_getrandom --hex 8 >/dev/null || fail "getrandom after the storm"
stop_daemon
echo "ok: $N concurrent clients ($mode)"
