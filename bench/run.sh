#!/bin/bash
# make bench: tpmbroker against direct swtpm and tpm2-abrmd, in one run, on
# one swtpm; then the embedded libtpms backend on its own.  Prints a
# Markdown table (also saved to bench/out/results-DATE.md).
#
#   bench/run.sh [BUILD]       BENCH_SECONDS=5 per cell, BENCH_QUICK=1 for 1 s
#
# CPU per command: the daemon's on-CPU time (all threads, from
# /proc/PID/task/*/schedstat) over the run, divided by the commands done.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
D=${BENCH_SECONDS:-5}
[ "${BENCH_QUICK:-0}" = 1 ] && D=1
B=$BUILD/bench/tbbench
TB=$BUILD/src/daemon/tpmbrokerd
W=$(mktemp -d /tmp/tbbench-run.XXXXXX)
OUT=$HERE/out/results-$(date -u +%Y%m%d-%H%M).md
mkdir -p "$HERE/out"
export LD_LIBRARY_PATH=$BUILD/src/tcti
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	[ -f "$W/swtpm.pid" ] && kill "$(cat "$W/swtpm.pid")" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT

free_port() {
	local p
	while :; do
		p=$((10000 + RANDOM % 22000)) # below the ephemeral range
		ss -tanH "( sport = :$p or sport = :$((p + 1)) )" | grep -q . || { echo "$p"; return; }
	done
}

cpu_ns() { # all threads of a process
	local t s=0
	for t in /proc/"$1"/task/*/schedstat; do
		s=$((s + $(cut -d' ' -f1 "$t")))
	done
	echo "$s"
}

# run TCTI MODE K [PID] -> "cmd/s p50 p99 errs cpu_us_per_cmd"
run() {
	local tcti=$1 mode=$2 k=$3 pid=${4:-} c0=0 c1=0 line
	[ -n "$pid" ] && c0=$(cpu_ns "$pid")
	line=$("$B" -T "$tcti" -k "$k" -d "$D" -m "$mode" 2>>"$W/bench.err")
	[ -n "$pid" ] && c1=$(cpu_ns "$pid")
	echo "$line" >>"$W/raw.txt"
	local cmds cps p50 p99 errs setup
	cmds=$(sed -n 's/.* cmds=\([0-9]*\) .*/\1/p' <<<"$line" | head -1)
	cps=$(sed -n 's/.*cmd\/s=\([0-9.]*\).*/\1/p' <<<"$line" | head -1)
	p50=$(sed -n 's/.*p50=\([0-9.]*\)ms.*/\1/p' <<<"$line" | head -1)
	p99=$(sed -n 's/.*p99=\([0-9.]*\)ms.*/\1/p' <<<"$line" | head -1)
	errs=$(sed -n 's/.*errs=\([0-9]*\).*/\1/p' <<<"$line" | head -1)
	setup=$(sed -n 's/.*setup_fail=\([0-9]*\).*/\1/p' <<<"$line" | head -1)
	local cpu="-"
	if [ -n "$pid" ] && [ "${cmds:-0}" -gt 0 ]; then
		cpu=$(awk -v a="$c0" -v b="$c1" -v n="$cmds" 'BEGIN { printf "%.1f", (b - a) / 1000 / n }')
	fi
	echo "${cps:-0} ${p50:-0} ${p99:-0} $(( ${errs:-0} + ${setup:-0} )) $cpu"
}

start_broker() { # BACKEND -> sets BROKER_PID, BROKER_TCTI
	"$TB" --backend "$1" --socket "$W/tb.sock" -q >>"$W/tb.log" 2>&1 &
	BROKER_PID=$!
	PIDS+=("$BROKER_PID")
	for _ in $(seq 100); do
		[ -S "$W/tb.sock" ] && "$BUILD/src/cli/tpmbroker" -s "$W/tb.sock" status >/dev/null 2>&1 && break
		sleep 0.1
	done
	BROKER_TCTI="tpmbroker:path=$W/tb.sock"
}

stop_pid() { kill "$1" 2>/dev/null; wait "$1" 2>/dev/null; }

abrmd_start() { # extra options...
	ABRMD_DIR=$W/abrmd
	mkdir -p "$ABRMD_DIR"
	if [ -z "${DBUS_SESSION_BUS_ADDRESS:-}" ]; then
		dbus-daemon --session --fork --print-address=1 --print-pid=3 \
			>"$W/dbus.addr" 3>"$W/dbus.pid"
		export DBUS_SESSION_BUS_ADDRESS=$(head -1 "$W/dbus.addr")
		PIDS+=("$(cat "$W/dbus.pid")")
	fi
	tpm2-abrmd --session --allow-root --flush-all --tcti="$SW" "$@" >"$W/abrmd.log" 2>&1 &
	ABRMD_PID=$!
	PIDS+=("$ABRMD_PID")
	for _ in $(seq 100); do
		dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
			org.freedesktop.DBus.NameHasOwner string:com.intel.tss2.Tabrmd 2>/dev/null |
			grep -q true && break
		sleep 0.1
	done
}

# ---- swtpm ----
PORT=$(free_port)
mkdir -p "$W/swtpm"
swtpm socket --tpm2 --server type=tcp,port="$PORT",bindaddr=127.0.0.1 \
	--ctrl type=tcp,port=$((PORT + 1)),bindaddr=127.0.0.1 --tpmstate dir="$W/swtpm" \
	--flags not-need-init,startup-clear --pid file="$W/swtpm.pid" --daemon
for _ in $(seq 50); do ss -ltnH "( sport = :$PORT )" | grep -q . && break; sleep 0.1; done
SW="swtpm:host=127.0.0.1,port=$PORT"

{
echo "# tpmbroker bench, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
echo "Machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), $(free -g | awk '/Mem:/ {print $2}') GiB, kernel $(uname -r); swtpm $(swtpm --version 2>&1 | sed -n 's/.*version \([0-9.]*\).*/\1/p'), tpm2-abrmd $(tpm2-abrmd --version 2>/dev/null | sed -n 's/.*version \([0-9.]*\).*/\1/p'). ${D} s per cell; clients are forked ESYS processes (bench/tbbench)."
echo
} | tee "$OUT"

declare -A R
# direct
for m in getrandom pcr; do for k in 1 4 16; do
	R[direct,$m,$k]=$(run "$SW" "$m" "$k")
done; done
# tpmbroker on the same swtpm
start_broker "$SW"
for m in getrandom pcr; do for k in 1 4 16; do
	R[tb,$m,$k]=$(run "$BROKER_TCTI" "$m" "$k" "$BROKER_PID")
done; done
for k in 1 4 16 32; do
	R[tb,holder,$k]=$(run "$BROKER_TCTI" holder "$k" "$BROKER_PID")
done
stop_pid "$BROKER_PID"
# tpm2-abrmd on the same swtpm
abrmd_start --max-connections=100
for m in getrandom pcr; do for k in 1 4 16; do
	R[ab,$m,$k]=$(run "tabrmd:bus_type=session" "$m" "$k" "$ABRMD_PID")
done; done
for k in 1 4 16 32; do
	R[ab,holder,$k]=$(run "tabrmd:bus_type=session" holder "$k" "$ABRMD_PID")
done
stop_pid "$ABRMD_PID"
# the embedded backend
start_broker "libtpms:state=$W/libtpms"
for m in getrandom pcr; do for k in 1 4 16; do
	R[lt,$m,$k]=$(run "$BROKER_TCTI" "$m" "$k" "$BROKER_PID")
done; done
stop_pid "$BROKER_PID"

f() { awk '{ printf "%s", $'"$2"' }' <<<"$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }'; }

{
echo "### Pass-through on one swtpm: direct, tpmbroker, tpm2-abrmd"
echo
echo "| mode | K | direct cmd/s | tpmbroker cmd/s | p50 / p99 ms | broker CPU µs/cmd | abrmd cmd/s | p50 / p99 ms | abrmd CPU µs/cmd | broker/direct | broker/abrmd | errors (direct/broker/abrmd) |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
for m in getrandom pcr; do for k in 1 4 16; do
	d=${R[direct,$m,$k]}; t=${R[tb,$m,$k]}; a=${R[ab,$m,$k]}
	echo "| $m | $k | $(f "$d" 1) | $(f "$t" 1) | $(f "$t" 2) / $(f "$t" 3) | $(f "$t" 5) | $(f "$a" 1) | $(f "$a" 2) / $(f "$a" 3) | $(f "$a" 5) | $(ratio "$(f "$t" 1)" "$(f "$d" 1)") | $(ratio "$(f "$t" 1)" "$(f "$a" 1)") | $(f "$d" 4)/$(f "$t" 4)/$(f "$a" 4) |"
done; done
echo
echo "### Holder mode (3 objects + 2 HMAC sessions per client), same swtpm"
echo
echo "| K | tpmbroker cmd/s | p50 / p99 ms | broker CPU µs/cmd | errors | abrmd cmd/s | p50 / p99 ms | abrmd CPU µs/cmd | errors |"
echo "|---|---|---|---|---|---|---|---|---|"
for k in 1 4 16 32; do
	t=${R[tb,holder,$k]}; a=${R[ab,holder,$k]}
	echo "| $k | $(f "$t" 1) | $(f "$t" 2) / $(f "$t" 3) | $(f "$t" 5) | $(f "$t" 4) | $(f "$a" 1) | $(f "$a" 2) / $(f "$a" 3) | $(f "$a" 5) | $(f "$a" 4) |"
done
echo
echo "### Embedded libtpms backend (in-process TPM)"
echo
echo "| mode | K | cmd/s | p50 / p99 ms | daemon CPU µs/cmd (TPM included) | errors |"
echo "|---|---|---|---|---|---|"
for m in getrandom pcr; do for k in 1 4 16; do
	t=${R[lt,$m,$k]}
	echo "| $m | $k | $(f "$t" 1) | $(f "$t" 2) / $(f "$t" 3) | $(f "$t" 5) | $(f "$t" 4) |"
done; done
echo
echo "Errors seen (first lines of each run's report):"
echo
echo '```'
grep -h "error x" "$W/raw.txt" | sort | uniq -c | head -20
echo '```'
} | tee -a "$OUT"
echo "saved: $OUT" >&2
