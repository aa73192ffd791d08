#!/bin/bash
# Context gap: two policy sessions saved by tpm2-tools (-S file) wait idle,
# one fresh and one that has already run PolicyAuthValue, while other
# clients run more than 70,000 ContextSave + ContextLoad cycles of their
# own sessions (each save advances the TPM's context counter; libtpms
# allows a gap of 65535 to the oldest saved session).  A connection that
# holds 4 HMAC sessions (some saved by the broker: the TPM has 3 session
# slots; two of them it has ContextSaved itself and keeps the blobs of)
# waits idle too.  Afterwards every cycle succeeded, the idle
# connection's sessions authorize commands, the fresh file session runs
# PolicyAuthValue and both unseal the secret with their original files,
# and status counts gap refreshes.  Without them the cycles fail with
# TPM_RC_CONTEXT_GAP (0x901) at about the 65536th save.  The counter runs
# twice past the gap (140,001 cycles), so the idle sessions are refreshed
# twice and the original blobs must still load.
# usage: sess-gap.sh libtpms|swtpm   (CYCLES from the environment overrides)
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=sess-lib.sh
. "$(dirname "$0")/sess-lib.sh"
command -v jq >/dev/null || { echo "jq not installed"; exit 77; }
CYCLES=${CYCLES:-140001}
case ${1:?mode} in
libtpms) start_daemon ;;
swtpm)
	start_swtpm
	start_daemon --backend "swtpm:host=127.0.0.1,port=$SWTPM_PORT" ;;
*) fail "unknown mode $1" ;;
esac
cd "$T" || exit 1

gapmax=$(status | jq '.tpm.context_gap_max')
[ "$gapmax" -gt 0 ] || fail "status shows no context_gap_max"
[ "$CYCLES" -gt "$gapmax" ] || fail "$CYCLES cycles do not exceed the gap of $gapmax"

seal_setup
tpm tpm2_startauthsession --policy-session -S fresh.ctx || fail "startauthsession fresh"
tpm tpm2_startauthsession --policy-session -S used.ctx || fail "startauthsession used"
tpm tpm2_policyauthvalue -S used.ctx >/dev/null || fail "policyauthvalue used"
refreshes0=$(counter gap_refreshes)

t0=$(date +%s.%N)
"$SESSCLIENT" "$TPM2TOOLS_TCTI" gap "$CYCLES" 2 >"$T/gap.out" 2>&1 ||
	{ tail -n 20 "$T/gap.out" >&2; fail "the cycling clients failed"; }
cat "$T/gap.out"

# the files' sessions, idle all along, still work
tpm tpm2_policyauthvalue -S fresh.ctx >/dev/null || fail "policyauthvalue -S fresh.ctx after the cycles"
unseal_with fresh.ctx
unseal_with used.ctx
st=$(status)
refreshes=$(counter gap_refreshes "$st")
[ "$refreshes" -gt "$refreshes0" ] || fail "gap_refreshes is $refreshes: $st"
[ "$(jq '.handles.sessions' <<<"$st")" = 0 ] || fail "sessions left: $st"
echo "$1: $CYCLES cycles, $refreshes gap refreshes, $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
stop_daemon
echo "ok: saved sessions outlive the context gap ($1)"
