#!/bin/bash
# bench/measure.sh BUILD: log-first measurement (issue 11), part of `make
# bench`.  On the embedded TPM (libtpms) and on swtpm, at 1 and 16 clients
# (BENCH_MEASURE_K), for BENCH_SECONDS (default 5) each:
#   log-first  `mclient`: MEASURE requests to PCR 23, each answered once the
#              event is in the log, fdatasync'ed, and extended (group commit)
#   naive      the same clients the naive way, through the same broker:
#              TPM2_PCR_Event (extend first), then the event appended to a
#              file and fdatasync'ed, one sync per event
#   pcrevent   one shell loop of `tpm2_pcrevent` + an append and `sync FILE`
#              per event: the naive way as scripts do it (1 client)
# durable events/s, p50 and p99 latency, and the log's events per fsync.
# The logs live in TMPDIR (default /var/tmp: a disk, not a tmpfs; the
# fdatasync latency of that disk is measured too).  Prints a Markdown report
# and keeps it in bench/out/measure-DATE.md.
set -euo pipefail
BUILD=${1:?usage: bench/measure.sh BUILD}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
SECS=${BENCH_SECONDS:-5}
[ "${BENCH_QUICK:-0}" = 1 ] && SECS=1
KS=${BENCH_MEASURE_K:-1 16}
TBD=$BUILD/src/daemon/tpmbrokerd
CLI=$BUILD/src/cli/tpmbroker
MCLIENT=$BUILD/tests/integration/mclient
export LD_LIBRARY_PATH=$BUILD/src/tcti
TMP=$(mktemp -d "${TMPDIR:-/var/tmp}/tbmeasure.XXXXXX")
DPID= SWPID=
cleanup() {
	set +e
	[ -n "$DPID" ] && kill -KILL "$DPID" 2>/dev/null
	[ -n "$SWPID" ] && kill "$SWPID" 2>/dev/null
	wait 2>/dev/null
	[ "${BENCH_KEEP:-0}" = 1 ] || rm -rf "$TMP"
}
trap cleanup EXIT
msg() { echo "bench/measure: $*" >&2; }
[ -x "$MCLIENT" ] || { msg "no $MCLIENT (build with -Dtests=true)"; exit 1; }

free_port() {
	local p
	for _ in $(seq 100); do
		p=$((20000 + RANDOM % 10000))
		[ -z "$(ss -tanH "( sport = :$p or sport = :$((p + 1)) )")" ] && { echo "$p"; return; }
	done
	return 1
}

start_daemon() { # BACKEND
	rm -f "$TMP/m.log" "$TMP/m.log.lock"
	"$TBD" --socket "$TMP/tb.sock" --backend "$1" --measure-log "$TMP/m.log" \
		--measure-pcrs 23 --state-file none >>"$TMP/daemon.log" 2>&1 &
	DPID=$!
	for _ in $(seq 200); do
		"$CLI" --socket "$TMP/tb.sock" status >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	msg "tpmbrokerd did not start: $(tail -3 "$TMP/daemon.log")"
	exit 1
}

stop_daemon() {
	kill -TERM "$DPID"
	wait "$DPID" || true
	DPID=
}

# cell NAME K ARGS...: one mclient run; prints "rate p50 p99"
cell() {
	local out
	out=$("$MCLIENT" "$TMP/tb.sock" -k "$2" -n 0 -t "$SECS" "${@:3}") ||
		{ msg "$1 K=$2 failed: $out"; exit 1; }
	awk '{print $8, $10, $12}' <<<"$out"
}

per_fsync() {
	"$CLI" --socket "$TMP/tb.sock" status --json |
		sed -n 's/.*"events_per_fsync": \([0-9.]*\).*/\1/p'
}

# the shell way: tpm2_pcrevent then an append and a sync of the file
pcrevent_loop() {
	local n=0 t_end=$((SECONDS + SECS)) t0
	echo data >"$TMP/ev"
	t0=$(date +%s%N)
	while [ $SECONDS -lt $t_end ]; do
		tpm2_pcrevent -T "tpmbroker:path=$TMP/tb.sock" "$TMP/ev" 16 >/dev/null
		echo "event $n" >>"$TMP/naive-shell.log"
		sync "$TMP/naive-shell.log"
		n=$((n + 1))
	done
	echo "$n $(( ($(date +%s%N) - t0) / 1000000 ))" | awk '{printf "%.0f", $1 / ($2 / 1000)}'
}

# the disk's fdatasync latency (O_DSYNC appends of 512 bytes)
dsync_ms() {
	local t0 t1
	t0=$(date +%s%N)
	dd if=/dev/zero of="$TMP/dsync" bs=512 count=200 oflag=dsync 2>/dev/null
	t1=$(date +%s%N)
	rm -f "$TMP/dsync"
	awk -v d=$((t1 - t0)) 'BEGIN {printf "%.2f", d / 200 / 1e6}'
}

REPORT=$TMP/report.md
{
	echo "## Log-first measurement ($(date -u +%Y-%m-%d), $(nproc) CPUs, ${SECS} s per cell)"
	echo
	echo "Log on $(df -T "$TMP" | awk 'NR == 2 {print $2}') ($TMP); one 512-byte O_DSYNC append: $(dsync_ms) ms; load average $(cut -d' ' -f1-3 /proc/loadavg)."
	echo
	echo "| backend | K | log-first events/s | p50 µs | p99 µs | events per fsync | naive events/s | naive p50 µs | naive p99 µs | log-first / naive |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
} >"$REPORT"

run_backend() { # NAME SPEC
	local k lf nv ratio pf shell
	start_daemon "$2"
	for k in $KS; do
		# a fresh log per cell would cost a restart; events per fsync is cumulative
		# over the cell's own daemon run below
		stop_daemon
		start_daemon "$2"
		read -r lf_rate lf_p50 lf_p99 <<<"$(cell log-first "$k" -p 23)"
		pf=$(per_fsync)
		rm -f "$TMP/naive.log"
		read -r nv_rate nv_p50 nv_p99 <<<"$(cell naive "$k" -p 16 -N "$TMP/naive.log")"
		ratio=$(awk -v a="$lf_rate" -v b="$nv_rate" 'BEGIN {printf "%.1f", (b > 0 ? a / b : 0)}')
		msg "$1 K=$k: log-first $lf_rate/s (p50 $lf_p50 µs, p99 $lf_p99 µs, $pf per fsync), naive $nv_rate/s"
		echo "| $1 | $k | $lf_rate | $lf_p50 | $lf_p99 | $pf | $nv_rate | $nv_p50 | $nv_p99 | $ratio |" >>"$REPORT"
	done
	if command -v tpm2_pcrevent >/dev/null; then
		shell=$(pcrevent_loop)
		msg "$1: tpm2_pcrevent + append + sync loop: $shell/s"
		echo "$1 tpm2_pcrevent loop (1 client, a process per event): $shell events/s" >>"$TMP/shell.txt"
	fi
	stop_daemon
}

run_backend libtpms "libtpms:state=$TMP/libtpms"
if command -v swtpm >/dev/null; then
	PORT=$(free_port)
	mkdir -p "$TMP/swtpm"
	swtpm socket --tpm2 --server type=tcp,port="$PORT",bindaddr=127.0.0.1 \
		--ctrl type=tcp,port=$((PORT + 1)),bindaddr=127.0.0.1 \
		--tpmstate dir="$TMP/swtpm" --flags not-need-init,startup-clear \
		--pid file="$TMP/swtpm.pid" --daemon
	SWPID=$(cat "$TMP/swtpm.pid")
	run_backend swtpm "swtpm:host=127.0.0.1,port=$PORT"
else
	msg "no swtpm: its cells are left out"
fi
{
	echo
	[ -f "$TMP/shell.txt" ] && sed 's/^/- /' "$TMP/shell.txt"
	echo
	echo "naive: TPM2_PCR_Event through the same broker, then an append and fdatasync per event (extend first, log second); log-first: MEASURE, one fdatasync per batch, extend after."
} >>"$REPORT"
mkdir -p "$ROOT/bench/out"
cp "$REPORT" "$ROOT/bench/out/measure-$(date -u +%Y%m%d-%H%M%S).md"
cat "$REPORT"
