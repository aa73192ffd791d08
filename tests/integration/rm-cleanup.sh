#!/bin/bash
# Resource manager cleanup: a client holding 3 objects and 2 sessions is
# killed with SIGKILL; afterwards the broker shows nothing for it, and the
# TPM underneath holds nothing of it either.  The daemon under test runs on
# the mssim backend against a second daemon (upstream), whose status is
# the physical view: what the daemon under test has loaded in "its" TPM.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || { echo "jq not installed"; exit 77; }
start_upstream
start_daemon --backend "mssim:host=127.0.0.1,port=$UPSTREAM_PORT"
down() { tpm "$CLI" --socket "$SOCK" status --json; }
up() { tpm "$CLI" --socket "$T/up.sock" status --json; }
held() { jq '[.connections[] | (.objects | length) + (.sessions | length)] | add // 0'; }

"$BUILD/tests/integration/rmclient" "$TPM2TOOLS_TCTI" hold >"$T/hold.out" 2>&1 &
HPID=$!
for _ in $(seq 100); do grep -q held "$T/hold.out" && break; sleep 0.1; done
grep -q held "$T/hold.out" || fail "holder not ready: $(cat "$T/hold.out")"
n=$(down | jq --argjson p "$HPID" '[.connections[] | select(.pid == $p) | (.objects | length) + (.sessions | length)] | add // 0')
[ "$n" = 5 ] || fail "the holder shows $n handles, want 5: $(down)"
[ "$(up | held)" -gt 0 ] || fail "nothing loaded upstream: $(up)"

kill -KILL "$HPID"
wait "$HPID" 2>/dev/null || true
for _ in $(seq 100); do
	down | jq -e --argjson p "$HPID" '[.connections[] | select(.pid == $p)] | length == 0' >/dev/null && break
	sleep 0.1
done
st=$(down)
jq -e --argjson p "$HPID" '[.connections[] | select(.pid == $p)] | length == 0' <<<"$st" >/dev/null ||
	fail "the killed client's connection is still there: $st"
[ "$(held <<<"$st")" = 0 ] || fail "handles left in the broker: $st"
# the physical view: the TPM under the daemon holds nothing
for _ in $(seq 50); do [ "$(up | held)" = 0 ] && break; sleep 0.1; done
[ "$(up | held)" = 0 ] || fail "handles left in the TPM underneath: $(up)"
stop_daemon
stop_upstream
echo "ok: a killed client leaves nothing behind"
