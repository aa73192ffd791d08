#!/bin/bash
# Resource manager under load: K clients (default 16), each holding 3
# objects and 2 HMAC sessions on a TPM with 3 + 3 slots, ReadPublic + Sign
# in turn (the bench's holder mode; signatures verified now and then) for
# SECS seconds (default 10): 0 errors, and the broker swaps at most half of
# what save-everything would (3 per command: ReadPublic loads and saves the
# primary, Sign a key and a session).
# usage: rm-holder.sh [K [SECS [libtpms|swtpm]]]
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
K=${1:-16}
SECS=${2:-10}
case ${3:-libtpms} in
libtpms) start_daemon ;;
swtpm)
	start_swtpm
	start_daemon --backend "swtpm:host=127.0.0.1,port=$SWTPM_PORT" ;;
esac
command -v jq >/dev/null || { echo "jq not installed"; exit 77; }
"$BUILD/tests/integration/rmclient" "$TPM2TOOLS_TCTI" holder "$K" "$SECS" >"$T/holder.out" ||
	{ tail -n 20 "$T/holder.out"; fail "holder clients failed"; }
st=$(tpm "$CLI" --socket "$SOCK" status --json)
read -r cmds saves loads errs < <(jq -r '.counters | "\(.commands) \(.context_saves) \(.context_loads) \(.rm_errors)"' <<<"$st")
[ "$errs" = 0 ] || fail "$errs RM errors"
[ "$cmds" -gt $((K * 10)) ] || fail "only $cmds commands"
ratio=$(awk -v s="$saves" -v l="$loads" -v c="$cmds" 'BEGIN { printf "%.2f", (s + l) / c }')
echo "holder K=$K ${SECS}s: $cmds commands, $saves saves, $loads loads: $ratio per command"
awk -v r="$ratio" 'BEGIN { exit !(r <= 1.5) }' || fail "$ratio saves+loads per command"
stop_daemon
echo "ok: $K holders, 0 errors"
