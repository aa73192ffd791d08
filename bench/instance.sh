#!/bin/bash
# bench/instance.sh BUILD: private instances (issue 12) against the shared
# embedded TPM, one daemon each, as root: GetRandom and holder at K=1 and
# K=16 (bench/tbbench, 3 s per cell), then the instance's cold start: the
# worker stopped by --instance-idle=1, then one tpm2_getrandom; N=${COLD_N:-15}
# samples of the command's wall time and of the worker's start (spawn to
# listening sockets, from the daemon's log); p50 and p99 (the max at this N).
set -euo pipefail
B=$(cd "${1:-build}" && pwd)
D=$(mktemp -d /tmp/tbinstbench.XXXXXX)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$D"' EXIT
export LD_LIBRARY_PATH=$B/src/tcti
SECS=${BENCH_SECONDS:-3}
cat >"$D/priv.conf" <<'C'
[profile bench]
match = *
instance = private
C
start() { # NAME ARGS...
	local n=$1; shift
	"$B/src/daemon/tpmbrokerd" --user root --socket "$D/$n.sock" \
		--backend "libtpms:state=$D/$n-state" "$@" >"$D/$n.log" 2>&1 &
	PIDS+=($!)
	for _ in $(seq 100); do
		"$B/src/cli/tpmbroker" --socket "$D/$n.sock" status >/dev/null 2>&1 && return
		sleep 0.1
	done
	echo "daemon $n did not start" >&2
	exit 1
}
start shared
start priv --config "$D/priv.conf" --instance-dir "$D/inst" --instance-idle 1 -v
cell() { # SOCK MODE K -> "cmd/s (p50 / p99 ms)" from tbbench's CSV line
	"$B/bench/tbbench" -T "tpmbroker:path=$1" -m "$2" -k "$3" -d "$SECS" --csv 2>/dev/null |
		awk -F, '/^csv,/ {printf "%s cmd/s (%s / %s ms)", $7, $8, $9}'
}
echo "## Private instance vs the shared embedded TPM ($(date -u +%F), ${SECS} s per cell)"
echo
echo "| cell | shared (libtpms in the daemon) | private (swtpm worker) |"
echo "|---|---|---|"
for m in getrandom holder; do
	for k in 1 16; do
		echo "| $m K=$k | $(cell "$D/shared.sock" "$m" "$k") | $(cell "$D/priv.sock" "$m" "$k") |"
	done
done
echo
N=${COLD_N:-15}
: >"$D/cold"
for _ in $(seq "$N"); do
	for _ in $(seq 60); do # stopped after 1-2 s idle
		"$B/src/cli/tpmbroker" --socket "$D/priv.sock" instance list 2>/dev/null |
			grep -q " stopped " && break
		sleep 0.1
	done
	s=$(date +%s%N)
	tpm2_getrandom -T "tpmbroker:path=$D/priv.sock" 8 >/dev/null
	echo $((($(date +%s%N) - s) / 1000)) >>"$D/cold"
done
: >"$D/warm"
for _ in $(seq "$N"); do
	s=$(date +%s%N)
	tpm2_getrandom -T "tpmbroker:path=$D/priv.sock" 8 >/dev/null
	echo $((($(date +%s%N) - s) / 1000)) >>"$D/warm"
done
grep -o "up in [0-9]* us" "$D/priv.log" | awk '{print $3}' >"$D/up"
pct() { sort -n "$1" | awk -v p="$2" '{a[NR]=$1} END {i=int((NR*p+99)/100); if (i<1) i=1; print a[i]}'; }
echo "Cold start (N=$N; tpm2_getrandom's whole process, us):"
echo
echo "| | p50 | p99 |"
echo "|---|---:|---:|"
echo "| first command after an idle stop | $(pct "$D/cold" 50) | $(pct "$D/cold" 99) |"
echo "| the same command, worker running | $(pct "$D/warm" 50) | $(pct "$D/warm" 99) |"
echo "| worker spawn to listening sockets (daemon log) | $(pct "$D/up" 50) | $(pct "$D/up" 99) |"
