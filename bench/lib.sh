# shellcheck shell=bash
# bench/lib.sh: what bench/run.sh (`make bench`) and bench/ab.sh (`make
# bench-ab`) share, sourced by both: settings, our processes and their
# cleanup, swtpm and tpmbrokerd start-up, one benchmark cell and the
# accessors of its results.  Not run on its own.
#
# The sourcing script sets BUILD (the build directory) and OUT_NAME (the
# report's file name in bench/out/, without .md) first; lib.sh sets the
# rest, creates TMP and installs the EXIT trap (cleanup; a script that has
# more to undo defines bench_cleanup_hook, run first).
#
# Environment (both scripts):
#   BENCH_SECONDS=N   measured seconds per run (default 5)
#   BENCH_REPEAT=N    runs per cell (default 3 for run.sh's pass-through cells)
#   BENCH_QUICK=1     1 s per run, fewer runs: a smoke run
#   BENCH_KEEP=1      keep the temporary directory (logs, raw tbbench output)

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
SECS=${BENCH_SECONDS:-5}
PASS_REPS=${BENCH_REPEAT:-3}
QUICK=${BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then
	SECS=1
	PASS_REPS=1
fi
PEERS=$ROOT/../shared/peers
TBBENCH=$BUILD/bench/tbbench
PINGPONG=$BUILD/bench/pingpong
TBD=$BUILD/src/daemon/tpmbrokerd
CLI=$BUILD/src/cli/tpmbroker
TCTIDIR=$BUILD/src/tcti

# the client counts of the cells
PASS_K="1 4 16"
HOLD_K="1 4 16 32"
SCALE_K="64 128"

msg() { echo "bench: $*" >&2; }
die() { msg "$*"; exit 1; }

[ -x "$TBBENCH" ] || die "$TBBENCH missing: build first (make build)"
command -v swtpm >/dev/null || die "swtpm not installed"

TMP=$(mktemp -d /tmp/tbbench.XXXXXX) || die "mktemp failed"
mkdir -p "$HERE/out"
OUT=$HERE/out/$OUT_NAME-$(date -u +%Y%m%d-%H%M%S).md

# ---- processes: every one we start is listed, and only those are stopped ----
OWN_PIDS=()

stop_pid() { # PID: TERM, up to 10 s, then KILL; works for non-children too
	local pid=$1
	[ -n "$pid" ] || return 0
	if kill -TERM "$pid" 2>/dev/null; then
		for _ in $(seq 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	forget_pid "$pid"
	return 0
}

# A stopped process leaves OWN_PIDS: its number may be reused by someone
# else's process before cleanup runs (bench/ab.sh starts dozens of daemons).
forget_pid() { # PID
	local p keep=()
	for p in "${OWN_PIDS[@]}"; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	OWN_PIDS=("${keep[@]}")
}

cleanup() {
	local pid
	if declare -F bench_cleanup_hook >/dev/null; then
		bench_cleanup_hook
	fi
	for pid in "${OWN_PIDS[@]}"; do
		stop_pid "$pid"
	done
	if [ "${BENCH_KEEP:-0}" = 1 ]; then
		msg "kept $TMP"
	else
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

port_free() { ! ss -Hltn "( sport = :$1 )" | grep -q .; }

# ---- what ran where ----
tree_rev() { # this tree: its commit, +dirty when src/ or include/ differ from it
	local rev
	if [ -n "${BENCH_REV:-}" ]; then # a copy outside git says what it is
		echo "$BENCH_REV"
		return
	fi
	rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
	git -C "$ROOT" diff --quiet HEAD -- src include 2>/dev/null || rev="$rev+dirty"
	echo "$rev"
}
machine() {
	echo "$(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)," \
		"kernel $(uname -r)"
}
swtpm_version() { swtpm --version 2>&1 | sed -n 's/.*version \([0-9.]*\).*/\1/p' | head -1; }

# ---- swtpm: the shared backend ----
start_swtpm() {
	local port
	for _ in 1 2 3 4 5; do
		port=$((20000 + RANDOM % 40000))
		if ! port_free "$port" || ! port_free $((port + 1)); then
			continue
		fi
		if [ -x "$PEERS/start-swtpm.sh" ]; then
			"$PEERS/start-swtpm.sh" "$TMP/swtpm" "$port" >/dev/null 2>>"$TMP/swtpm.err"
		else # the same flags as the peers' script
			mkdir -p "$TMP/swtpm"
			swtpm socket --tpm2 \
				--server type=tcp,port=$port,bindaddr=127.0.0.1 \
				--ctrl type=tcp,port=$((port + 1)),bindaddr=127.0.0.1 \
				--tpmstate dir="$TMP/swtpm" \
				--flags not-need-init,startup-clear \
				--pid file="$TMP/swtpm/swtpm.pid" \
				--log file="$TMP/swtpm/swtpm.log",level=1 --daemon 2>>"$TMP/swtpm.err"
			for _ in $(seq 50); do
				port_free "$port" || break
				sleep 0.1
			done
		fi
		SWTPM_PID=$(cat "$TMP/swtpm/swtpm.pid" 2>/dev/null)
		if [ -n "$SWTPM_PID" ] && kill -0 "$SWTPM_PID" 2>/dev/null && ! port_free "$port"; then
			OWN_PIDS+=("$SWTPM_PID")
			SW_PORT=$port
			SW_TCTI="swtpm:host=127.0.0.1,port=$port"
			return 0
		fi
		rm -rf "$TMP/swtpm"
	done
	die "could not start swtpm (see $TMP/swtpm.err)"
}

# ---- tpmbrokerd ----
TB_PID=
TB_SOCK=$TMP/tb.sock
have_broker() { [ -x "$TBD" ] && [ -e "$TCTIDIR/libtss2-tcti-tpmbroker.so.0" ]; }

start_broker() { # BACKEND-SPEC
	rm -f "$TB_SOCK"
	"$TBD" --backend "$1" --socket "$TB_SOCK" -q >>"$TMP/tpmbrokerd.log" 2>&1 &
	TB_PID=$!
	OWN_PIDS+=("$TB_PID")
	for _ in $(seq 100); do # ready when the socket accepts; 10 s (libtpms manufactures)
		kill -0 "$TB_PID" 2>/dev/null || break
		if [ -S "$TB_SOCK" ]; then
			if [ ! -x "$CLI" ] || "$CLI" --socket "$TB_SOCK" status >/dev/null 2>&1; then
				return 0
			fi
		fi
		sleep 0.1
	done
	msg "tpmbrokerd --backend $1 did not come up; log:"
	tail -5 "$TMP/tpmbrokerd.log" >&2
	stop_pid "$TB_PID"
	TB_PID=
	return 1
}

broker_alive() { [ -n "$TB_PID" ] && kill -0 "$TB_PID" 2>/dev/null; }

# "saves loads commands" from the daemon's counters, or nothing
broker_counters() {
	local j
	[ -x "$CLI" ] || return 0
	j=$("$CLI" --socket "$TB_SOCK" status --json 2>/dev/null) || return 0
	awk -v j="$j" 'BEGIN {
		n = split("context_saves context_loads commands", k, " ")
		for (i = 1; i <= n; i++) {
			if (!match(j, "\"" k[i] "\": *[0-9]+"))
				exit
			s = substr(j, RSTART, RLENGTH)
			sub(/.*: */, "", s)
			v[i] = s
		}
		print v[1], v[2], v[3]
	}'
}

# one counter of `tpmbroker status --json` (a number), or nothing
broker_counter() { # KEY
	[ -x "$CLI" ] || return 0
	"$CLI" --socket "$TB_SOCK" status --json 2>/dev/null |
		sed -n "s/.*\"$1\": *\([0-9][0-9]*\).*/\1/p" | head -1
}

# ---- cells ----
# Results: R[path|mode|K] = tbbench's csv line; C[path|mode|K] = "saves loads commands" deltas.
declare -A R A C
NOTES=()

# The result line of a run that gave none: 0 cmd/s, unknown CPU.
failed_line() { # MODE K TEXT
	echo "csv,$1,$2,0,0,0,0,0,0,0,0,0,0,-1,-1,-1,-1,-1,$3"
}

# One cell, run REPS times (default 1).  A[key] gathers the runs (one line
# each) over every call for the same key, R[key] is the run with the median
# cmd/s among them.  C[key]: the broker's counters over the last call, when
# DAEMON_PID is our tpmbrokerd.
cell() { # PATH TCTI MODE K [DAEMON_PID [TPM_PID]]
	local path=$1 tcti=$2 mode=$3 k=$4 dpid=${5:-} tpid=${6:-} key="$1|$3|$4"
	local args=(-T "$tcti" -k "$k" -d "$SECS" -m "$mode" --csv) c0="" c1="" line r all=""
	[ -n "$dpid" ] && args+=(-p "$dpid")
	[ -n "$tpid" ] && args+=(-P "$tpid")
	[ -n "$dpid" ] && [ "$dpid" = "$TB_PID" ] && c0=$(broker_counters)
	for r in $(seq "${REPS:-1}"); do
		msg "$path $mode K=$k${REPS:+ (run $r of $REPS)}"
		LD_LIBRARY_PATH=$TCTIDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} \
			"$TBBENCH" "${args[@]}" >"$TMP/cell.out" 2>"$TMP/cell.err"
		{ echo "== $key run $r"; cat "$TMP/cell.out" "$TMP/cell.err"; } >>"$TMP/raw.txt"
		line=$(grep '^csv,' "$TMP/cell.out" | tail -1)
		if [ -z "$line" ]; then
			msg "  no result; stderr:"
			tail -3 "$TMP/cell.err" >&2
			line=$(failed_line "$mode" "$k" "tbbench failed")
		fi
		grep '^tbbench:' "$TMP/cell.out" | sed 's/^/  /' >&2
		all+=$line$'\n'
	done
	A[$key]+=$all
	median_run "$key"
	if [ -n "$c0" ]; then
		c1=$(broker_counters)
		[ -n "$c1" ] && C[$key]=$(awk -v a="$c0" -v b="$c1" 'BEGIN {
			split(a, x, " "); split(b, y, " ")
			print y[1] - x[1], y[2] - x[2], y[3] - x[3] }')
	fi
	if [ -n "$dpid" ] && ! kill -0 "$dpid" 2>/dev/null; then
		NOTES+=("the daemon (pid $dpid) exited during $path $mode K=$k")
		msg "  daemon $dpid exited"
	fi
}

median_run() { # KEY: R[KEY] = the run of A[KEY] with the median cmd/s (the lower one of two)
	local n
	n=$(printf '%s' "${A[$1]:-}" | grep -c .)
	R[$1]=$(printf '%s' "${A[$1]:-}" | sort -t, -k7,7g | sed -n "$(((n + 1) / 2))p")
}

# field N of a result, 1-based: 7 cmd/s, 8 p50, 9 p99, 11 errors, 12 setup failures,
# 13 killed, 14-16 client/daemon/TPM CPU µs/cmd, 17 other load %, 18 steal %,
# 19 the error text (commas and all)
fld() {
	local line=${R[$1]:-}
	[ -n "$line" ] || { echo ""; return; }
	if [ "$2" = 19 ]; then
		cut -d, -f19- <<<"$line"
	else
		cut -d, -f"$2" <<<"$line"
	fi
}
num() { awk -v v="$1" -v f="$2" 'BEGIN { if (v == "" || v < 0) print "–"; else printf f, v }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b <= 0) print "–"; else printf "%.2f", a / b }'; }
errs() { # failed commands + failed setups + killed clients, all runs of the cell
	local key=$1
	[ -n "${A[$key]:-}" ] || { echo "–"; return; }
	printf '%s' "${A[$key]}" | awk -F, '{ n += $11 + $12 + $13 } END { print n }'
}
rate() { # cmd/s of the median run, and the range when the cell ran more than once
	local key=$1
	printf '%s' "${A[$key]:-}" | awk -F, -v m="$(fld "$key" 7)" '
		NR == 1 || $7 < lo { lo = $7 } NR == 1 || $7 > hi { hi = $7 }
		END { if (NR == 0) print "–"; else if (NR == 1) printf "%.0f", m;
		      else printf "%.0f (%.0f–%.0f)", m, lo, hi }'
}
per_cmd() { # key field(1 saves, 2 loads)
	local c=${C[$1]:-}
	[ -n "$c" ] || { echo "n/a"; return; }
	awk -v c="$c" -v f="$2" 'BEGIN { split(c, x, " "); if (x[3] > 0) printf "%.2f", x[f] / x[3]; else print "–" }'
}

