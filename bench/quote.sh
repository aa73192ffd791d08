#!/bin/bash
# bench/quote.sh: batched quotes (issue 11), part of `make bench`.  Quote
# requests per second through tpmbrokerd with 1 and 32 clients, batched
# (the defaults: --quote-window=5 --quote-batch=64; and --quote-window=0)
# and unbatched (--quote-batch=1), each client one connection sending
# requests back to back (bench/quotebench.c), on the embedded TPM and, if
# swtpm is installed, on swtpm.  A restricted RSA-2048 signing key
# (RSASSA-SHA256), PCRs sha256:0,1,2,3.
#
#   bench/quote.sh [BUILD_DIR]     (default: build)
#
# Environment: BENCH_SECONDS=N seconds per cell (default 5), BENCH_QUICK=1
# (1 s), BENCH_KEEP=1 keep the temporary directory.
# Prints a Markdown table on stdout and saves it as bench/out/quote-DATE.md.
# Measures and prints; asserts nothing.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
SECS=${BENCH_SECONDS:-5}
[ "${BENCH_QUICK:-0}" = 1 ] && SECS=1
TBD=$BUILD/src/daemon/tpmbrokerd
CLI=$BUILD/src/cli/tpmbroker
QB=$BUILD/bench/quotebench
PCRS=sha256:0,1,2,3
TMP=$(mktemp -d /tmp/tbquote.XXXXXX)
DPID=
SWPID=
export LD_LIBRARY_PATH=$BUILD/src/tcti

msg() { echo "bench quote: $*" >&2; }

cleanup() {
	[ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	[ -n "$SWPID" ] && kill "$SWPID" 2>/dev/null
	if [ "${BENCH_KEEP:-0}" = 1 ]; then msg "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

for f in "$TBD" "$CLI" "$QB"; do
	[ -x "$f" ] || { msg "$f is missing: build first"; exit 1; }
done

start_daemon() { # backend, daemon options...
	local be=$1
	shift
	rm -f "$TMP/tb.sock"
	"$TBD" --socket "$TMP/tb.sock" --backend "$be" "$@" >>"$TMP/daemon.log" 2>&1 &
	DPID=$!
	for _ in $(seq 100); do
		"$CLI" --socket "$TMP/tb.sock" status >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	msg "tpmbrokerd did not start ($TMP/daemon.log)"
	exit 1
}

stop_daemon() {
	kill "$DPID" && wait "$DPID"
	DPID=
}

start_swtpm() {
	local port
	command -v swtpm >/dev/null || return 1
	port=$((20000 + RANDOM % 10000))
	mkdir -p "$TMP/swtpm"
	swtpm socket --tpm2 --server type=tcp,port=$port,bindaddr=127.0.0.1 \
		--ctrl type=tcp,port=$((port + 1)),bindaddr=127.0.0.1 --tpmstate dir="$TMP/swtpm" \
		--flags not-need-init,startup-clear --pid file="$TMP/swtpm.pid" --daemon \
		2>>"$TMP/swtpm.log" || return 1
	SWPID=$(cat "$TMP/swtpm.pid")
	SW_BE="swtpm:host=127.0.0.1,port=$port"
}

make_key() {
	TPM2TOOLS_TCTI="tpmbroker:path=$TMP/tb.sock" tpm2_createprimary -Q -C o \
		-G rsa2048:rsassa-sha256:null \
		-a 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign|restricted|noda' \
		-c "$TMP/key.ctx" || { msg "tpm2_createprimary failed"; exit 1; }
}

# cell BACKEND_LABEL MODE_LABEL CLIENTS [alone]: one quotebench run, one table row
cell() {
	local be=$1 mode=$2 k=$3 out
	out=$("$QB" "$TMP/tb.sock" "$TMP/key.ctx" "$PCRS" "$k" "$SECS" ${4:+"$4"} 2>>"$TMP/qb.err")
	# clients N quotes Q seconds S qps X p50_ms A p99_ms B mean_batch M errors E
	set -- $out
	[ "${8:-}" ] || { msg "quotebench failed ($TMP/qb.err)"; return; }
	printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$be" "$mode" "$k" "$8" "${10}" "${12}" "${14}"
	msg "$be $mode $k clients: $8 quotes/s"
	eval "QPS_${be//[^a-z]/}_${mode//[^a-z0-9]/}_$k=$8"
}

# run BACKEND_LABEL BACKEND_SPEC
run() {
	local label=$1 be=$2
	start_daemon "$be"
	make_key
	cell "$label" "batched (window 5 ms)" 1
	cell "$label" "batched (window 5 ms)" 32
	stop_daemon
	start_daemon "$be" --quote-window=0
	make_key
	cell "$label" "batched (window 0)" 1
	cell "$label" "batched (window 0)" 32
	stop_daemon
	start_daemon "$be" --quote-batch=1
	make_key
	cell "$label" "unbatched" 1
	cell "$label" "unbatched" 32
	stop_daemon
}

ratio() { # label: batched-32 / unbatched-32
	local b u
	b=$(eval echo "\${QPS_${1}_batchedwindow5ms_32:-}")
	u=$(eval echo "\${QPS_${1}_unbatched_32:-}")
	[ -n "$b" ] && [ -n "$u" ] && [ "$u" != 0 ] &&
		echo "- $1: 32 clients, batched (window 5 ms) / unbatched: $(awk "BEGIN { printf \"%.1f\", $b / $u }")x"
}

{
	echo "## Batched quotes: quotes/s ($(date -u +%Y-%m-%dT%H:%MZ), $SECS s per cell, $(nproc) CPUs, $(git -C "$ROOT" describe --always --dirty 2>/dev/null))"
	echo
	echo "| backend | mode | clients | quotes/s | p50 ms | p99 ms | requests per TPM2_Quote |"
	echo "|---|---|---|---|---|---|---|"
	run libtpms "libtpms:state=$TMP/state"
	if start_swtpm; then
		run swtpm "$SW_BE"
	else
		msg "no swtpm: the swtpm rows are left out"
	fi
	echo
	ratio libtpms
	ratio swtpm
} | tee "$TMP/report.md"
mkdir -p "$HERE/out"
cp "$TMP/report.md" "$HERE/out/quote-$(date -u +%Y%m%d-%H%M%S).md"
