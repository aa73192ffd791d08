#!/bin/bash
# 64 clients at once, each its own process and connection, issuing
# GetRandom and PCR_Extend: all complete, no errors.
. "$(dirname "$0")/lib.sh"
start_daemon
cd "$T"
N=64
pids=()
for i in $(seq $N); do
	(
		for _ in 1 2 3; do
			tpm tpm2_getrandom --hex 8 >/dev/null || exit 1
			tpm tpm2_pcrextend "23:sha256=$(printf '%064x' "$i")" || exit 1
		done
	) >"c$i.out" 2>&1 &
	pids+=($!)
done
errors=0
for pid in "${pids[@]}"; do
	wait "$pid" || errors=$((errors + 1))
done
[ "$errors" -eq 0 ] || { cat c*.out >&2; fail "$errors of $N clients failed"; }
cmds=$(tpm "$CLI" --socket "$SOCK" status --json | sed -n 's/.*"counters": {[^}]*"commands": \([0-9]*\).*/\1/p')
echo "daemon served $cmds commands"
[ "${cmds:-0}" -ge $((N * 6)) ] || fail "daemon counted ${cmds:-0} commands, expected >= $((N * 6))"
stop_daemon
echo "ok: $N concurrent clients"
