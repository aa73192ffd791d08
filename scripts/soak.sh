#!/bin/bash
# make soak: SOAK_MINUTES (default 30) of mixed load on one tpmbrokerd with
# the daemon's RSS sampled every 10 s.  Load (faultclient, one ESYS
# connection each): 2 GetRandom loops, 4 holders (2 keys + an HMAC session,
# Sign + ReadPublic), 2 session churners (StartAuthSession -> Sign ->
# FlushContext), 2 policy-session loops (PolicyPCR, PolicyCommandCode,
# PolicyGetDigest); and every 10 s a batch of 20 clients that hold keys and
# sessions and are SIGKILLed at random points.
#
# Passes with 0 client errors and no growth trend of the RSS after the
# warm-up (the first 10 % of the run): the mean of the
# last third at most SOAK_GROWTH_KB (1024) above the mean of the first
# third.  The samples (rss.csv) and the summary go to SOAK_OUT (default
# BUILD/soak/).
#
# usage: scripts/soak.sh BUILD [MINUTES]      SOAK_BACKEND=libtpms|swtpm
set -euo pipefail
BUILD=$(cd "${1:?usage: soak.sh BUILD [MINUTES]}" && pwd)
MINUTES=${2:-${SOAK_MINUTES:-30}}
SRC=$(cd "$(dirname "$0")/.." && pwd)
OUT=${SOAK_OUT:-$BUILD/soak}
BACKEND_KIND=${SOAK_BACKEND:-libtpms}
GROWTH_KB=${SOAK_GROWTH_KB:-1024}
export BUILD SRC
ninja -C "$BUILD" src/daemon/tpmbrokerd src/cli/tpmbroker tests/integration/faultclient \
	>/dev/null
# shellcheck source=../tests/integration/lib.sh
. "$SRC/tests/integration/lib.sh"
FC=$BUILD/tests/integration/faultclient
mkdir -p "$OUT"
cd "$T" || exit 1
SECS=$((MINUTES * 60))
case $BACKEND_KIND in
libtpms) start_daemon ;;
swtpm)
	start_swtpm
	start_daemon --backend "swtpm:host=127.0.0.1,port=$SWTPM_PORT" ;;
*) fail "SOAK_BACKEND: libtpms or swtpm" ;;
esac
echo "soak: $MINUTES min on $BACKEND_KIND, daemon pid $DAEMON_PID, samples in $OUT/rss.csv"

pids=()
for kind in getrandom getrandom holder holder holder holder churn churn policy policy; do
	"$FC" mix "$TPM2TOOLS_TCTI" "$kind" "$SECS" >>mix.out 2>>mix.err &
	pids+=($!)
done
"$FC" statpoll "$SOCK" 1000 >statpoll.out 2>&1 &
poll_pid=$!

rss() { awk '/^VmRSS/ {print $2}' "/proc/$DAEMON_PID/status"; }
echo "t_s,rss_kb" >"$OUT/rss.csv"
start=$(date +%s)
seed=1
victims_ok=0
victims_err=0
while :; do
	now=$(($(date +%s) - start))
	[ "$now" -le "$SECS" ] || break
	kill -0 "$DAEMON_PID" 2>/dev/null || fail "the daemon died at ${now}s"
	echo "$now,$(rss)" >>"$OUT/rss.csv"
	if "$FC" victims "$SOCK" 20 4 "$seed" >>victims.out 2>>victims.err; then
		victims_ok=$((victims_ok + 1))
	else
		victims_err=$((victims_err + 1))
	fi
	seed=$((seed + 1))
	sleep $((10 - ($(date +%s) - start - now) % 10))
done

rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
kill -TERM "$poll_pid"
wait "$poll_pid" || true
ops=$(awk '{s += $3} END {print s + 0}' mix.out)
errors=$(awk '{s += $5} END {print s + 0}' mix.out)
killed=$(awk '{s += $2} END {print s + 0}' victims.out)
st=$("$CLI" --socket "$SOCK" status --json)
stop_daemon

summary=$(python3 - "$OUT/rss.csv" "$SECS" <<'PY'
import sys
rows = [tuple(map(int, l.split(","))) for l in open(sys.argv[1]).read().split()[1:]]
secs = int(sys.argv[2])
warm = secs // 10
s = [(t, r) for t, r in rows if t >= warm]
n = len(s)
third = max(1, n // 3)
first = sum(r for _, r in s[:third]) / third
last = sum(r for _, r in s[-third:]) / third
mt = sum(t for t, _ in s) / n
mr = sum(r for _, r in s) / n
var = sum((t - mt) ** 2 for t, _ in s) or 1
slope = sum((t - mt) * (r - mr) for t, r in s) / var * 60
print(f"samples {len(rows)} after_warmup {n} rss_start_kb {rows[0][1]} "
      f"rss_min_kb {min(r for _, r in s)} rss_max_kb {max(r for _, r in s)} "
      f"first_third_kb {first:.0f} last_third_kb {last:.0f} growth_kb {last - first:.0f} "
      f"slope_kb_per_min {slope:.2f}")
PY
)
{
	echo "soak: $MINUTES min, backend $BACKEND_KIND, $(date -u +%Y-%m-%dT%H:%MZ)"
	echo "clients: $(tr '\n' ';' <mix.out)"
	echo "client ops $ops, errors $errors; killed clients $killed in $((victims_ok + victims_err)) batches, $victims_err failed"
	echo "status: $(cat statpoll.out)"
	echo "daemon: $(jq -c '{commands: .counters.commands, handles: .handles}' <<<"$st" 2>/dev/null || echo "$st" | head -c 300)"
	echo "rss: $summary"
} | tee "$OUT/summary.txt"
if [ -s mix.err ]; then
	echo "--- client errors (head)"
	grep -v '^WARNING:esys\|^ERROR:esys' mix.err | head -20
fi
[ "$rc" = 0 ] && [ "$errors" = 0 ] || fail "client errors: $errors"
[ "$victims_err" = 0 ] || fail "$victims_err batches of killed clients failed: $(tail -5 victims.err)"
growth=$(sed -n 's/.*growth_kb \(-\{0,1\}[0-9]*\).*/\1/p' <<<"$summary")
[ "$growth" -le "$GROWTH_KB" ] || fail "RSS grew by $growth kB (at most $GROWTH_KB)"
echo "soak: ok"
