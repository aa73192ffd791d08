#!/bin/bash
# bench/ab.sh: `make bench-ab BASE=<git rev>`.  An A/B of two tpmbrokerd
# binaries in one run: A = the daemon of BASE (the previous release), built
# here in a temporary git worktree under /tmp that is removed afterwards;
# B = the daemon of this tree's build.  Only the daemon differs: both serve
# this tree's clients (bench/tbbench) through this tree's TCTI plugin, on
# ONE swtpm, one daemon at a time (swtpm serves one connection); then each
# on its own embedded libtpms.
#
#   bench/ab.sh BUILD_DIR BASE
#
# Cells: GetRandom at run.sh's pass-through K and holder at its holder K on
# swtpm, GetRandom at the pass-through K on libtpms.  Each cell runs as N
# pairs, interleaved cell by cell with the order flipped every pair (A B,
# B A, A B, ...), each run on a freshly started daemon, so the machine's
# drift and any first-or-second advantage hit both alike; medians shown.
#
# Environment (see lib.sh): BENCH_SECONDS (default 5), BENCH_REPEAT = N
# (default 5; 3 with BENCH_QUICK=1, which also runs 1 s per run and about
# 2 minutes in all), BENCH_KEEP.
#
# Prints a Markdown report on stdout (progress goes to stderr) and saves it
# as bench/out/ab-DATE.md.  Measures and prints; asserts nothing.
set -uo pipefail

if [ $# -ne 2 ] || [ -z "$2" ]; then
	echo "usage: bench/ab.sh BUILD_DIR BASE   (BASE: a git revision, the previous release)" >&2
	exit 2
fi
BUILD=$1
BASE=$2
if ! A_REV=$(git -C "$(dirname "$0")" rev-parse --verify --quiet "$BASE^{commit}"); then
	echo "bench: BASE=$BASE is not a commit of this repository" >&2
	exit 2
fi
OUT_NAME=ab
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
if [ "$QUICK" = 1 ]; then
	PAIRS=${BENCH_REPEAT:-3}
else
	PAIRS=${BENCH_REPEAT:-5}
fi

# ---- A: tpmbrokerd of BASE ----
A_SRC=$TMP/base-src     # the worktree, removed as soon as A is built
A_BUILD=$TMP/base-build # outside the worktree: the binaries outlive it
A_TBD=$A_BUILD/src/daemon/tpmbrokerd
A_CLI=$A_BUILD/src/cli/tpmbroker
B_TBD=$TBD
B_CLI=$CLI
WORKTREE=

bench_cleanup_hook() {
	[ -n "$WORKTREE" ] || return 0
	git -C "$ROOT" worktree remove --force "$WORKTREE" ||
		msg "left the worktree $WORKTREE: git worktree remove --force $WORKTREE"
	WORKTREE=
}

# this build's optimization, so that A and B differ in their code only
build_options() {
	meson introspect "$BUILD" --buildoptions 2>/dev/null | python3 -c '
import json, sys
o = {x["name"]: x["value"] for x in json.load(sys.stdin)}
print("-Doptimization=%s -Ddebug=%s -Db_ndebug=%s"
      % (o["optimization"], str(o["debug"]).lower(), o["b_ndebug"]))' 2>/dev/null
}

base_failed() { # STEP
	tail -15 "$TMP/base.log" >&2
	die "$1 of BASE=$BASE failed"
}

build_base() {
	local opts
	msg "building tpmbrokerd of $BASE ($A_DESC) in $A_BUILD"
	git -C "$ROOT" worktree add --detach --quiet "$A_SRC" "$A_REV" >"$TMP/base.log" 2>&1 ||
		base_failed "git worktree add"
	WORKTREE=$A_SRC
	opts=$(build_options)
	# shellcheck disable=SC2086 # opts: words
	meson setup $opts "$A_BUILD" "$A_SRC" >>"$TMP/base.log" 2>&1 || base_failed "meson setup"
	# others may be compiling: two jobs, niced
	nice -n 10 ninja -C "$A_BUILD" -j 2 src/daemon/tpmbrokerd >>"$TMP/base.log" 2>&1 ||
		base_failed ninja
	if ! nice -n 10 ninja -C "$A_BUILD" -j 2 src/cli/tpmbroker >>"$TMP/base.log" 2>&1; then
		msg "no tpmbroker CLI at $BASE: its daemon is taken as ready when its socket exists"
	fi
	bench_cleanup_hook
}

# ---- the A/B runs ----
use_side() { # A|B: the daemon start_broker starts
	if [ "$1" = A ]; then
		TBD=$A_TBD
		CLI=$A_CLI
	else
		TBD=$B_TBD
		CLI=$B_CLI
	fi
}

# One run of one side on a fresh daemon; results under path A, B,
# A-libtpms or B-libtpms.
ab_run() { # SIDE BACKEND MODE K
	local side=$1 be=$2 mode=$3 k=$4 spec path tpid=
	if [ "$be" = swtpm ]; then
		spec=$SW_TCTI
		path=$side
		tpid=$SWTPM_PID
	else
		spec="libtpms:state=$TMP/libtpms-$side"
		path=$side-libtpms
	fi
	use_side "$side"
	if ! start_broker "$spec"; then
		A["$path|$mode|$k"]+=$(failed_line "$mode" "$k" "daemon did not start")$'\n'
		median_run "$path|$mode|$k"
		NOTES+=("$side's daemon did not start for $be $mode K=$k")
		return
	fi
	cell "$path" "tpmbroker:path=$TB_SOCK" "$mode" "$k" "$TB_PID" "$tpid"
	stop_pid "$TB_PID"
	TB_PID=
}

ab_cell() { # BACKEND MODE K
	local r side order
	for r in $(seq "$PAIRS"); do
		msg "$1 $2 K=$3: pair $r of $PAIRS"
		if [ $((r % 2)) = 1 ]; then
			order="A B"
		else
			order="B A"
		fi
		for side in $order; do
			ab_run "$side" "$@"
		done
	done
}

# ---- the report ----
pair_ratios() { # KEY-A KEY-B: the lowest and highest B/A over the pairs
	paste -d' ' <(printf '%s' "${A[$1]:-}" | cut -d, -f7) <(printf '%s' "${A[$2]:-}" | cut -d, -f7) |
		awk '$1 > 0 && $2 != "" {
			r = $2 / $1
			if (n++ == 0 || r < lo) lo = r
			if (n == 1 || r > hi) hi = r
		}
		END { if (n) printf "%.2f–%.2f", lo, hi; else print "–" }'
}

ab_row() { # LABEL PATH-A PATH-B MODE K
	local ka="$2|$4|$5" kb="$3|$4|$5"
	echo "| $1 | $(rate "$ka") | $(rate "$kb") | $(ratio "$(fld "$kb" 7)" "$(fld "$ka" 7)") |" \
		"$(pair_ratios "$ka" "$kb") | $(num "$(fld "$ka" 15)" %.1f) |" \
		"$(num "$(fld "$kb" 15)" %.1f) | $(errs "$ka") / $(errs "$kb") |"
}

report() {
	local k key
	echo "# tpmbroker A/B bench, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "- machine: $(machine), load average at start $LOAD0"
	echo "- A = $BASE: $A_DESC; B = this tree: $(tree_rev) (build $BUILD)." \
		"Only tpmbrokerd differs: clients (bench/tbbench) and TCTI plugin are B's;" \
		"same build options; swtpm $(swtpm_version), tpm2-tss" \
		"$(pkg-config --modversion tss2-esys 2>/dev/null)"
	echo "- $SECS s per run, $PAIRS pairs per cell, interleaved cell by cell (A B, B A, ...)," \
		"each run on a freshly started daemon; medians shown, range over the runs in" \
		"parentheses; CPU from the median run; A's build $BUILD_SECS s, the runs $RUN_SECS s"
	echo
	echo "CPU: the daemon's µs per completed command (on libtpms it includes the TPM's work)." \
		"B/A per pair: the lowest and highest ratio of the runs made side by side; while" \
		"that range holds 1.00, this run does not tell A and B apart."
	echo
	echo "| cell | A cmd/s | B cmd/s | B/A | B/A per pair | A CPU µs/cmd | B CPU µs/cmd | errors A / B |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|"
	for k in $PASS_K; do
		ab_row "swtpm GetRandom K=$k" A B getrandom "$k"
	done
	for k in $HOLD_K; do
		ab_row "swtpm holder K=$k" A B holder "$k"
	done
	for k in $PASS_K; do
		ab_row "libtpms GetRandom K=$k" A-libtpms B-libtpms getrandom "$k"
	done
	echo
	# other processes' CPU during the runs (tbbench field 17): the noise floor
	echo "Other processes' CPU during the runs, % of all CPUs: median" \
		"$(printf '%s' "${A[@]}" | cut -d, -f17 | awk '$1 >= 0' | sort -g |
			awk '{ v[NR] = $1 } END { if (NR) printf "%.0f, max %.0f", v[int((NR + 1) / 2)], v[NR]; else print "–" }')."
	for key in $(printf '%s\n' "${!A[@]}" | sort); do
		local e
		e=$(printf '%s' "${A[$key]}" | cut -d, -f19- | grep . | sort -u | paste -sd'|' | sed 's/|/ \/ /g')
		[ -n "$e" ] && NOTES+=("errors in $key: $e")
	done
	if [ ${#NOTES[@]} -gt 0 ]; then
		echo
		echo "## Notes"
		echo
		printf -- '- %s\n' "${NOTES[@]}"
	fi
}

# ---- the run ----
A_DESC="$(git -C "$ROOT" log -1 --format='%h "%s"' "$A_REV")"
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
start=$(date +%s)
have_broker || die "$TBD or $TCTIDIR/libtss2-tcti-tpmbroker.so.0 missing: build first (make build)"
build_base
BUILD_SECS=$(($(date +%s) - start))
start=$(date +%s)
start_swtpm
msg "swtpm pid $SWTPM_PID on 127.0.0.1:$SW_PORT; $SECS s per run, $PAIRS pairs per cell; temp $TMP"
for k in $PASS_K; do
	ab_cell swtpm getrandom "$k"
done
for k in $HOLD_K; do
	ab_cell swtpm holder "$k"
done
for k in $PASS_K; do
	ab_cell libtpms getrandom "$k"
done
RUN_SECS=$(($(date +%s) - start))
report | tee "$OUT"
msg "saved $OUT"
