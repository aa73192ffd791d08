#!/bin/bash
# Helpers of the sess-* tests, sourced after lib.sh: a sealed secret whose
# policy is PolicyAuthValue, built with tpm2-tools in $T (the current
# directory), and its unseal through a policy session kept in a file.
# shellcheck disable=SC2034 # SESSCLIENT is used by the test scripts
SESSCLIENT=$BUILD/tests/integration/sessclient
SECRET="the sealed secret"

# the daemon's status, as JSON
status() { tpm "$CLI" --socket "$SOCK" status --json; }
# counter NAME [JSON]: .counters.NAME of the status given (or a fresh one)
counter() {
	local v
	v=$(jq -r --arg n "$1" '.counters[$n] // "missing"' <<<"${2:-$(status)}")
	[ "$v" != missing ] || fail "status has no counter $1"
	echo "$v"
}

# primary prim.ctx; sealed object key.ctx (password "pass", policy
# PolicyAuthValue, built in a trial session)
seal_setup() {
	tpm tpm2_createprimary -C o -g sha256 -G ecc -c prim.ctx >/dev/null || fail "createprimary"
	tpm tpm2_startauthsession -S trial.ctx || fail "trial session"
	tpm tpm2_policyauthvalue -S trial.ctx -L pol >/dev/null || fail "trial policyauthvalue"
	tpm tpm2_flushcontext trial.ctx || fail "flushcontext trial"
	printf '%s' "$SECRET" >secret
	tpm tpm2_create -C prim.ctx -L pol -p pass -i secret -u key.pub -r key.priv >/dev/null ||
		fail "create sealed"
	tpm tpm2_load -C prim.ctx -u key.pub -r key.priv -c key.ctx >/dev/null || fail "load sealed"
	# without PolicyAuthValue the session does not satisfy the policy
	tpm tpm2_startauthsession --policy-session -S none.ctx || fail "startauthsession none"
	tpm tpm2_unseal -c key.ctx -p session:none.ctx+pass >/dev/null 2>&1 &&
		fail "unsealed without the policy"
	tpm tpm2_flushcontext none.ctx || fail "flushcontext none"
}

# unseal_with FILE: unseal through the policy session in FILE (which has
# run PolicyAuthValue), then flush it
unseal_with() {
	local out
	out=$(tpm tpm2_unseal -c key.ctx -p "session:$1+pass") || fail "unseal with $1"
	[ "$out" = "$SECRET" ] || fail "unseal with $1 gave '$out'"
	tpm tpm2_flushcontext "$1" || fail "flushcontext $1"
}
