#!/bin/bash
# bench/run.sh: `make bench`.  tpmbroker against the systems a user would
# otherwise pick, in ONE run on ONE swtpm: swtpm used directly, tpmbrokerd
# (swtpm backend) and tpm2-abrmd; then tpmbrokerd on its embedded libtpms.
#
#   bench/run.sh [BUILD_DIR]      (default: build)
#
# Environment:
#   BENCH_SECONDS=N   measured seconds per run (default 5: about 8 minutes in all)
#   BENCH_REPEAT=N    runs of each pass-through cell, the median is shown (default 3):
#                     with 3 processes on few CPUs, where the scheduler puts them
#                     moves these figures by up to 2x from one run to the next
#   BENCH_QUICK=1     1 s per cell, one run each: a smoke run
#   BENCH_KEEP=1      keep the temporary directory (logs, raw tbbench output)
#   BENCH_REV=TEXT    the version to print, for a tree outside git
#
# Prints a Markdown report on stdout (progress goes to stderr) and saves it
# as bench/out/results-DATE.md; ends by writing bench/results/bench-DATE.csv
# (one row per path, mode and K: cmd/s, p50/p99 latency, CPU µs per command)
# and, where gnuplot is installed (`scripts/deps.sh bench`), the chart
# bench/results/bench-DATE.png (bench/chart.sh); latest.csv and latest.png
# link to the newest.  The floor under the daemon's CPU (bench/pingpong: a
# Unix and a TCP round trip between two processes, and a bare relay between
# a client and a TCP echo, three processes as in a pass-through command) is
# measured first.  CPU per command: tbbench reads utime+stime
# of the daemon (all threads) and of swtpm in /proc/PID/stat when the
# clients start and when the last one ends its timed loop, and divides by the
# commands completed in that window.  Context saves/loads per command come
# from `tpmbroker status --json` around each holder cell (daemon counters,
# setup included); "n/a" when the daemon does not count them.
# Measures and prints; asserts nothing.
set -uo pipefail

BUILD=${1:-build}
OUT_NAME=results
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
ABRMD_TCTI=tabrmd:bus_type=session

# ---- tpm2-abrmd ----
ABRMD_PID=
DBUS_PID=
have_abrmd() { command -v tpm2-abrmd >/dev/null && command -v dbus-daemon >/dev/null; }

start_abrmd() { # tpm2-abrmd options...
	local wd=$TMP/abrmd
	mkdir -p "$wd"
	if [ -x "$PEERS/start-abrmd.sh" ]; then
		# a fresh bus the first time; the script reuses it while dbus.pid exists
		[ -n "$DBUS_PID" ] || unset DBUS_SESSION_BUS_ADDRESS
		"$PEERS/start-abrmd.sh" "$SW_TCTI" "$wd" "$@" >/dev/null 2>>"$TMP/abrmd.err"
		# shellcheck disable=SC1091
		. "$wd/env"
	else # the same as the peers' script
		if [ -z "$DBUS_PID" ]; then
			dbus-daemon --session --fork --print-address=1 --print-pid=3 \
				>"$wd/dbus.addr" 3>"$wd/dbus.pid"
			DBUS_SESSION_BUS_ADDRESS=$(head -1 "$wd/dbus.addr")
			export DBUS_SESSION_BUS_ADDRESS
			DBUS_PID=$(cat "$wd/dbus.pid")
		fi
		tpm2-abrmd --session --allow-root --flush-all --tcti="$SW_TCTI" "$@" \
			>"$wd/abrmd.log" 2>&1 &
		ABRMD_PID=$!
		for _ in $(seq 100); do
			dbus-send --session --print-reply --dest=org.freedesktop.DBus \
				/org/freedesktop/DBus org.freedesktop.DBus.NameHasOwner \
				string:com.intel.tss2.Tabrmd 2>/dev/null | grep -q true && break
			sleep 0.1
		done
	fi
	OWN_PIDS+=("$DBUS_PID" "$ABRMD_PID")
	kill -0 "$ABRMD_PID" 2>/dev/null || { msg "tpm2-abrmd did not start"; ABRMD_PID=; return 1; }
}

stop_abrmd() { # keeps the bus for the next start
	stop_pid "$ABRMD_PID"
	ABRMD_PID=
}

# ---- report rows ----
row_pass() { # PATH MODE K -> a row of the pass-through table
	local key="$1|$2|$3" r1="" r2=""
	if [ "$1" = tpmbroker ]; then
		r1=$(ratio "$(fld "$key" 7)" "$(fld "direct|$2|$3" 7)")
		r2=$(ratio "$(fld "$key" 7)" "$(fld "tpm2-abrmd|$2|$3" 7)")
	fi
	if [ -z "${R[$key]:-}" ]; then
		echo "| $2 | $3 | $1 | not run | | | | | | | | |"
		return
	fi
	echo "| $2 | $3 | $1 | $(rate "$key") | $(num "$(fld "$key" 8)" %.3f) |" \
		"$(num "$(fld "$key" 9)" %.3f) | $(errs "$key") | $(num "$(fld "$key" 15)" %.1f) |" \
		"$(num "$(fld "$key" 16)" %.1f) | $(num "$(fld "$key" 14)" %.1f) | ${r1} | ${r2} |"
}

row_holder() { # PATH K
	local key="$1|holder|$2" r=
	[ "$1" = tpmbroker ] && r=$(ratio "$(fld "$key" 7)" "$(fld "tpm2-abrmd|holder|$2" 7)")
	if [ -z "${R[$key]:-}" ]; then
		echo "| $2 | $1 | not run | | | | | | | | |"
		return
	fi
	local sv=n/a ld=n/a
	if [ "$1" = tpmbroker ]; then
		sv=$(per_cmd "$key" 1)
		ld=$(per_cmd "$key" 2)
	else
		sv="–"
		ld="–"
	fi
	echo "| $2 | $1 | $(num "$(fld "$key" 7)" %.0f) | $(num "$(fld "$key" 8)" %.2f) |" \
		"$(num "$(fld "$key" 9)" %.2f) | $(errs "$key") | $(num "$(fld "$key" 15)" %.1f) |" \
		"$(num "$(fld "$key" 16)" %.1f) | $sv | $ld | ${r} |"
}

row_scale() { # PATH K
	local key="$1|holder|$2" e
	if [ -z "${R[$key]:-}" ]; then
		echo "| $2 | $1 | not run | | | |"
		return
	fi
	e=$(fld "$key" 19)
	echo "| $2 | $((2 * $2)) | $1 | $(($2 - $(fld "$key" 12) - $(fld "$key" 13))) / $2 |" \
		"$(num "$(fld "$key" 7)" %.0f) | $(errs "$key") | ${e:-none} |"
}

# ---- the run ----
start=$(date +%s)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
# the floor: CPU per round trip of the side that waits in epoll_wait (the daemon's place)
FLOOR_UNIX=
FLOOR_TCP=
floor() { # pingpong options -> µs per round trip of the side in epoll_wait, or nothing
	[ -x "$PINGPONG" ] || return 0
	"$PINGPONG" -n $((QUICK == 1 ? 20000 : 100000)) "$@" 2>/dev/null |
		sed -n 's/^\(server\|relay\)(epoll) \([0-9.]*\) us.*/\2/p'
}
FLOOR_UNIX=$(floor -e)
FLOOR_TCP=$(floor -e -t)
FLOOR_RELAY=$(floor -r)
# the holder's client computes about 2 ms per command (ESYS, HMAC sessions, ECC): the
# others sleep that long and wake up cold; half its commands (ReadPublic) the broker answers
FLOOR_UNIX_COLD=$(floor -e -w 2000 -n 2000)
FLOOR_RELAY_COLD=$(floor -r -w 2000 -n 2000)
msg "floor: ${FLOOR_UNIX:-?} µs per Unix round trip, ${FLOOR_TCP:-?} µs per TCP round trip," \
	"${FLOOR_RELAY:-?} µs per relayed round trip (client -> relay -> TCP echo);" \
	"with 2 ms between round trips: ${FLOOR_UNIX_COLD:-?} and ${FLOOR_RELAY_COLD:-?} µs"

start_swtpm
msg "swtpm pid $SWTPM_PID on 127.0.0.1:$SW_PORT; $SECS s per cell; temp $TMP"

for m in getrandom pcr; do
	for k in $PASS_K; do
		REPS=$PASS_REPS cell direct "$SW_TCTI" "$m" "$k" "" "$SWTPM_PID"
	done
done
# holder without an RM: one client's 3 objects and 2 sessions fit the TPM's slots, more do not
cell direct "$SW_TCTI" holder 1 "" "$SWTPM_PID"

if have_broker && start_broker "$SW_TCTI"; then
	for m in getrandom pcr; do
		for k in $PASS_K; do
			broker_alive || start_broker "$SW_TCTI"
			REPS=$PASS_REPS cell tpmbroker "tpmbroker:path=$TB_SOCK" "$m" "$k" "$TB_PID" \
				"$SWTPM_PID"
		done
	done
	for k in $HOLD_K $SCALE_K; do
		broker_alive || start_broker "$SW_TCTI"
		cell tpmbroker "tpmbroker:path=$TB_SOCK" holder "$k" "$TB_PID" "$SWTPM_PID"
	done
	stop_pid "$TB_PID"
else
	NOTES+=("tpmbroker rows missing: $TBD or $TCTIDIR/libtss2-tcti-tpmbroker.so.0 not built, or the daemon did not start")
fi

if have_abrmd && start_abrmd; then
	for m in getrandom pcr; do
		for k in $PASS_K; do
			REPS=$PASS_REPS cell tpm2-abrmd "$ABRMD_TCTI" "$m" "$k" "$ABRMD_PID" \
				"$SWTPM_PID"
		done
	done
	stop_abrmd
	# holder: past abrmd's default of 27 connections (100 is its maximum)
	if start_abrmd --max-connections=100; then
		for k in $HOLD_K $SCALE_K; do
			cell tpm2-abrmd "$ABRMD_TCTI" holder "$k" "$ABRMD_PID" "$SWTPM_PID"
		done
		stop_abrmd
	fi
else
	NOTES+=("tpm2-abrmd rows missing: tpm2-abrmd or dbus-daemon not installed, or it did not start")
fi

if have_broker && start_broker "libtpms:state=$TMP/libtpms"; then
	for m in getrandom pcr; do
		for k in $PASS_K; do
			broker_alive || start_broker "libtpms:state=$TMP/libtpms"
			REPS=$PASS_REPS cell libtpms "tpmbroker:path=$TB_SOCK" "$m" "$k" "$TB_PID"
		done
	done
	for k in $HOLD_K; do
		broker_alive || start_broker "libtpms:state=$TMP/libtpms"
		cell libtpms "tpmbroker:path=$TB_SOCK" holder "$k" "$TB_PID"
	done
	# how long the loop stood still for a command it ran itself (a daemon restarted
	# midway reports from then on)
	INLINE=$(broker_counter inline_commands)
	INLINE_MAX=$(broker_counter inline_max_us)
	stop_pid "$TB_PID"
fi
elapsed=$(($(date +%s) - start))

# ---- the report ----
report() {
	local m k p
	echo "# tpmbroker bench, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "- machine: $(machine), load average at start $LOAD0"
	echo "- tpmbroker $(tree_rev); swtpm $(swtpm_version)," \
		"tpm2-abrmd $(tpm2-abrmd --version 2>/dev/null | sed -n 's/.*version \([0-9.]*\).*/\1/p')," \
		"tpm2-tss $(pkg-config --modversion tss2-esys 2>/dev/null)"
	echo "- $SECS s per run, pass-through cells run $PASS_REPS times (median shown, range in" \
		"parentheses; the other columns are from the median run), $elapsed s in all; every" \
		"client is a forked ESYS process with its own connection (bench/tbbench); all share" \
		"one swtpm"
	echo
	echo "## Pass-through: GetRandom and PCR_Extend"
	echo
	echo "CPU columns are µs per completed command. Ratios are cmd/s of tpmbroker over direct" \
		"swtpm and over tpm2-abrmd at the same K. tpm2-tss's swtpm TCTI opens a TCP connection" \
		"per command, so direct clients pay a connect each time (client CPU column) and" \
		"direct K>1 interleaves through swtpm's accept queue."
	echo
	echo "| mode | K | path | cmd/s | p50 ms | p99 ms | errors | daemon CPU | swtpm CPU | client CPU | broker/direct | broker/abrmd |"
	echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	for m in getrandom pcr; do
		for k in $PASS_K; do
			for p in direct tpmbroker tpm2-abrmd; do
				row_pass "$p" "$m" "$k"
			done
		done
	done
	echo
	echo "The floor (bench/pingpong: processes bouncing 10 bytes; CPU per round trip of the" \
		"side that waits in epoll_wait, as the daemon does): ${FLOOR_UNIX:-?} µs over a Unix" \
		"socket, ${FLOOR_TCP:-?} µs over TCP on loopback; ${FLOOR_RELAY:-?} µs for a relay" \
		"between a client (Unix) and a TCP echo, three processes as in a pass-through" \
		"command: a broker that did nothing but its system calls would cost that."
	echo
	echo "The holder's floor: its client computes about 2 ms per command, so the others" \
		"sleep and wake up cold; with 2 ms between round trips a Unix round trip costs" \
		"${FLOOR_UNIX_COLD:-?} µs and the relay ${FLOOR_RELAY_COLD:-?} µs. Half the holder's" \
		"commands (ReadPublic) the broker answers from its cache, half (Sign) go to swtpm:" \
		"$(awk -v a="$FLOOR_UNIX_COLD" -v b="$FLOOR_RELAY_COLD" \
			'BEGIN { if (a == "" || b == "") print "?"; else printf "%.1f", (a + b) / 2 }') µs" \
		"per holder command at K=1, before any context swap."
	echo
	echo "## Embedded backend: tpmbrokerd --backend libtpms"
	echo
	echo "The TPM runs inside the daemon, so daemon CPU includes the TPM's own work." \
		"Cheap commands (GetRandom, PCRs, contexts, salt-less sessions...) run on the" \
		"loop itself: ${INLINE:-?} of them in these cells, the longest ${INLINE_MAX:-?} µs" \
		"(tpmbroker status: inline_commands, inline_max_us); the others on libtpms' worker."
	echo
	echo "| mode | K | cmd/s | p50 ms | p99 ms | errors | daemon CPU µs/cmd | vs tpmbroker on swtpm |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|"
	for m in getrandom pcr holder; do
		local ks=$PASS_K
		[ "$m" = holder ] && ks=$HOLD_K
		for k in $ks; do
			local key="libtpms|$m|$k"
			if [ -z "${R[$key]:-}" ]; then
				echo "| $m | $k | not run | | | | | |"
				continue
			fi
			echo "| $m | $k | $(rate "$key") | $(num "$(fld "$key" 8)" %.3f) |" \
				"$(num "$(fld "$key" 9)" %.3f) | $(errs "$key") | $(num "$(fld "$key" 15)" %.1f) |" \
				"$(ratio "$(fld "$key" 7)" "$(fld "tpmbroker|$m|$k" 7)") |"
		done
	done
	echo
	echo "## Holder: 3 transient objects + 2 HMAC sessions per client"
	echo
	echo "Per iteration ReadPublic + Sign with an HMAC session (2 commands); latency is per" \
		"iteration. The TPM has 3 object and 3 session slots. Saves/loads per command: the" \
		"daemon's counters over the whole cell (setup included) over the commands it received." \
		"tpm2-abrmd runs with --max-connections=100; its saves/loads are not observable here" \
		"(it saves and reloads around every command); the swtpm CPU column shows that work."
	echo
	echo "| K | path | cmd/s | p50 ms | p99 ms | errors | daemon CPU µs/cmd | swtpm CPU µs/cmd | saves/cmd | loads/cmd | broker/abrmd |"
	echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	row_holder direct 1
	for k in $HOLD_K; do
		for p in tpmbroker tpm2-abrmd; do
			row_holder "$p" "$k"
		done
	done
	echo
	echo "direct: no RM, so only K=1 (one client's objects and sessions fit the TPM's slots)."
	echo "tpmbroker on its embedded libtpms: in the table above."
	echo
	echo "## Sessions at scale: holder with K clients × 2 sessions (the TPM has 64 active sessions)"
	echo
	echo "tpm2-abrmd runs with --max-connections=100, its maximum: at K=128 28 clients are refused."
	echo
	echo "| K | sessions | path | clients set up | cmd/s | errors | errors seen (count, where, code) |"
	echo "|---:|---:|---|---:|---:|---:|---|"
	for k in $SCALE_K; do
		for p in tpmbroker tpm2-abrmd; do
			row_scale "$p" "$k"
		done
	done
	echo
	echo "## Errors seen, every cell"
	echo
	local any=0 key
	for key in $(printf '%s\n' "${!A[@]}" | sort); do
		local e
		e=$(printf '%s' "${A[$key]}" | cut -d, -f19- | grep . | sort -u | paste -sd'|' | sed 's/|/ \/ /g')
		[ -n "$e" ] || continue
		any=1
		echo "- $key: $e"
	done
	[ $any = 1 ] || echo "none"
	echo
	echo "## Interference"
	echo
	echo "CPU used by processes other than the clients, the daemon and swtpm during each" \
		"cell, in % of all CPUs (from /proc/stat), and hypervisor steal; cells over 10% are" \
		"suspect, run again on a quiet machine."
	echo
	any=0
	for key in $(printf '%s\n' "${!A[@]}" | sort); do
		local o
		o=$(printf '%s' "${A[$key]}" | awk -F, '$17 > 10 || $18 > 10 {
			printf "%s%.0f%%/%.0f%%", n++ ? ", " : "", $17, $18 }')
		if [ -n "$o" ]; then
			echo "- $key: other/steal $o"
			any=1
		fi
	done
	[ $any = 1 ] || echo "no run over 10% (largest: $(printf '%s' "${A[@]}" | cut -d, -f17 | sort -g | tail -1)%)"
	if [ ${#NOTES[@]} -gt 0 ]; then
		echo
		echo "## Notes"
		echo
		printf -- '- %s\n' "${NOTES[@]}"
	fi
}
# ---- the results as a table and a picture ----
csv_path() { # our path name -> the CSV's path,backend
	case $1 in
	libtpms) echo embedded,libtpms ;;
	*) echo "$1,swtpm" ;;
	esac
}

write_csv() {
	local key path mode k
	echo "path,backend,mode,k,runs,cmd_s,cmd_s_min,cmd_s_max,p50_ms,p99_ms,errors," \
		"daemon_cpu_us,tpm_cpu_us,client_cpu_us,other_load_pct" | tr -d ' '
	for key in $(printf '%s\n' "${!A[@]}" | sort -t'|' -k1,1 -k2,2 -k3,3n); do
		IFS='|' read -r path mode k <<<"$key"
		printf '%s' "${A[$key]}" | awk -F, -v pre="$(csv_path "$path"),$mode,$k" \
			-v med="${R[$key]}" '
			NR == 1 || $7 < lo { lo = $7 } NR == 1 || $7 > hi { hi = $7 }
			{ n++; errs += $11 + $12 + $13 }
			function v(x, f) { return x == "" || x < 0 ? "" : sprintf(f, x) }
			END {
				split(med, m, ",")
				printf "%s,%d,%s,%s,%s,%s,%s,%d,%s,%s,%s,%s\n", pre, n,
					v(m[7], "%.1f"), v(lo, "%.1f"), v(hi, "%.1f"), v(m[8], "%.3f"),
					v(m[9], "%.3f"), errs, v(m[15], "%.1f"), v(m[16], "%.1f"),
					v(m[14], "%.1f"), v(m[17], "%.1f")
			}'
	done
	# the floor: µs per round trip of the side that waits in epoll_wait
	[ -n "$FLOOR_UNIX" ] && echo "floor,none,unix-roundtrip,1,1,,,,,,0,$FLOOR_UNIX,,,"
	[ -n "$FLOOR_TCP" ] && echo "floor,none,tcp-roundtrip,1,1,,,,,,0,$FLOOR_TCP,,,"
	[ -n "$FLOOR_RELAY" ] && echo "floor,none,relay-roundtrip,1,1,,,,,,0,$FLOOR_RELAY,,,"
	[ -n "$FLOOR_UNIX_COLD" ] && echo "floor,none,unix-roundtrip-2ms,1,1,,,,,,0,$FLOOR_UNIX_COLD,,,"
	[ -n "$FLOOR_RELAY_COLD" ] && echo "floor,none,relay-roundtrip-2ms,1,1,,,,,,0,$FLOOR_RELAY_COLD,,,"
	return 0
}

report | tee "$OUT"
msg "saved $OUT"
RESULTS=$HERE/results
STAMP=$(date -u +%Y%m%d-%H%M%S)
mkdir -p "$RESULTS"
write_csv >"$RESULTS/bench-$STAMP.csv"
ln -sf "bench-$STAMP.csv" "$RESULTS/latest.csv"
msg "saved $RESULTS/bench-$STAMP.csv"
if command -v gnuplot >/dev/null; then
	if "$HERE/chart.sh" "$RESULTS/bench-$STAMP.csv" "$RESULTS/bench-$STAMP.png" \
		"$(date -u '+%Y-%m-%d'), tpmbroker $(tree_rev), $(machine | sed 's/,.*kernel/, kernel/'); $SECS s per run"; then
		ln -sf "bench-$STAMP.png" "$RESULTS/latest.png"
		msg "saved $RESULTS/bench-$STAMP.png"
	else
		msg "the chart failed (bench/chart.sh)"
	fi
else
	msg "no chart: gnuplot is not installed (scripts/deps.sh bench installs it)"
fi
