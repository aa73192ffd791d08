#!/bin/bash
# Resource manager: tpm2-tools flows in separate processes, as users run
# them: every invocation is a new connection, objects and sessions travel
# in context files.  Keys (createprimary/create/load/sign/verifysignature),
# a policy session (startauthsession -S, policypcr, policycommandcode, then
# unseal with -p session:s.ctx), an HMAC session (-S, sign with
# -p session:), and afterwards nothing is left behind in the broker.
# usage: rm-tools.sh libtpms|swtpm
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
case ${1:?mode} in
libtpms) start_daemon ;;
swtpm)
	start_swtpm
	start_daemon --backend "swtpm:host=127.0.0.1,port=$SWTPM_PORT" ;;
*) fail "unknown mode $1" ;;
esac
command -v jq >/dev/null || { echo "jq not installed"; exit 77; }
cd "$T" || exit 1

status() { tpm "$CLI" --socket "$SOCK" status --json; }

# keys, one process per step
tpm tpm2_createprimary -C o -G ecc -c p.ctx >/dev/null || fail "createprimary"
tpm tpm2_create -C p.ctx -G ecc -u k.pub -r k.priv >/dev/null || fail "create"
tpm tpm2_load -C p.ctx -u k.pub -r k.priv -c k.ctx >/dev/null || fail "load"
echo "message" >msg
tpm tpm2_sign -c k.ctx -g sha256 -o sig msg || fail "sign"
tpm tpm2_verifysignature -c k.ctx -g sha256 -m msg -s sig || fail "verifysignature"
echo "other" >msg2
tpm tpm2_verifysignature -c k.ctx -g sha256 -m msg2 -s sig 2>/dev/null &&
	fail "a wrong signature verified"

# a sealed secret under a PCR + command-code policy (built in a trial session)
tpm tpm2_startauthsession -S trial.ctx || fail "trial session"
tpm tpm2_policypcr -S trial.ctx -l sha256:0,1 >/dev/null || fail "trial policypcr"
tpm tpm2_policycommandcode -S trial.ctx -L pol TPM2_CC_Unseal >/dev/null ||
	fail "trial policycommandcode"
tpm tpm2_flushcontext trial.ctx || fail "flushcontext trial"
echo "the secret" >secret
tpm tpm2_create -C p.ctx -L pol -i secret -u s.pub -r s.priv >/dev/null || fail "create sealed"
tpm tpm2_load -C p.ctx -u s.pub -r s.priv -c seal.ctx >/dev/null || fail "load sealed"

# the policy session lives across four processes
tpm tpm2_startauthsession -S s.ctx --policy-session || fail "startauthsession --policy-session"
[ "$(status | jq '[.connections[] | .sessions | length] | add // 0')" = 0 ] ||
	fail "a connection still shows a session: $(status)"
tpm tpm2_policypcr -S s.ctx -l sha256:0,1 >/dev/null || fail "policypcr -S"
tpm tpm2_policycommandcode -S s.ctx TPM2_CC_Unseal >/dev/null || fail "policycommandcode -S"
out=$(tpm tpm2_unseal -c seal.ctx -p session:s.ctx) || fail "unseal -p session:s.ctx"
[ "$out" = "the secret" ] || fail "unsealed '$out'"
tpm tpm2_flushcontext s.ctx || fail "flushcontext s.ctx"
# a used-up session context does not load again
tpm tpm2_policypcr -S s.ctx -l sha256:0,1 >/dev/null 2>&1 && fail "a flushed session loaded"

# without the policy: refused
tpm tpm2_startauthsession -S s2.ctx --policy-session || fail "second policy session"
tpm tpm2_policycommandcode -S s2.ctx TPM2_CC_Unseal >/dev/null || fail "policycommandcode 2"
tpm tpm2_unseal -c seal.ctx -p session:s2.ctx >/dev/null 2>&1 && fail "unsealed without the PCR policy"
tpm tpm2_flushcontext s2.ctx || fail "flushcontext s2.ctx"

# an HMAC session across processes
tpm tpm2_startauthsession -S h.ctx --hmac-session || fail "startauthsession --hmac-session"
tpm tpm2_sign -c k.ctx -g sha256 -o sig2 -p session:h.ctx msg || fail "sign -p session:h.ctx"
tpm tpm2_verifysignature -c k.ctx -g sha256 -m msg -s sig2 || fail "verify the HMAC-session signature"
tpm tpm2_sign -c k.ctx -g sha256 -o sig3 -p session:h.ctx msg2 || fail "sign again with h.ctx"
tpm tpm2_flushcontext h.ctx || fail "flushcontext h.ctx"

# nothing is left: no connection holds anything, no session is abandoned
st=$(status)
[ "$(jq '[.connections[] | (.objects | length) + (.sessions | length)] | add // 0' <<<"$st")" = 0 ] ||
	fail "handles left: $st"
for kind in transient loaded-session saved-session; do
	n=$(tpm tpm2_getcap "handles-$kind" | grep -c 0x) || true
	[ "$n" = 0 ] || fail "getcap handles-$kind shows $n handles"
done
# one RM error: the reload of the flushed session context
[ "$(jq '.counters.rm_errors' <<<"$st")" = 1 ] || fail "RM errors: $st"
stop_daemon
echo "ok: tpm2-tools multi-process flows ($1)"
