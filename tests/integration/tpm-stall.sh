#!/bin/bash
# A slow TPM is not a reset.  swtpm is stopped (SIGSTOP) while a client's
# command is at it: after --backend-timeout the client gets 0x000B0909
# (cancelled) and the daemon keeps serving `status`; when swtpm goes on,
# its late answer is taken in, new commands work, and an object context
# saved before the stall still loads (after a reset it would not): no reset.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
start_swtpm
start_daemon --backend "swtpm:host=127.0.0.1,port=$SWTPM_PORT" --backend-timeout 1500
json() { timeout 10 "$CLI" --socket "$SOCK" status --json; }
tpm tpm2_createprimary -Q -C o -G ecc -c prim.ctx || fail "createprimary"
# the tool's connection is closed; its close job (a flush) may still be at the
# TPM: stop swtpm under the getrandom below, not under that flush
for _ in $(seq 50); do
	st=$(json) && [ "$(jq '.counters.busy' <<<"$st")" = false ] &&
		[ "$(jq '.counters.queued' <<<"$st")" -eq 0 ] && break
	sleep 0.1
done

kill -STOP "$SWTPM_PID"
out=$(timeout 30 tpm2_getrandom 8 2>&1) && fail "getrandom answered by a stopped TPM"
grep -qi "0xb0909" <<<"$out" || { kill -CONT "$SWTPM_PID"; fail "not answered 0x000B0909: $out"; }
st=$(json) || { kill -CONT "$SWTPM_PID"; fail "status does not answer while the TPM is stopped"; }
[ "$(jq '.counters.tpm_timeouts' <<<"$st")" -eq 1 ] || { kill -CONT "$SWTPM_PID"; fail "tpm_timeouts: $st"; }
[ "$(jq '.counters.busy' <<<"$st")" = true ] || { kill -CONT "$SWTPM_PID"; fail "the TPM should still be busy: $st"; }
kill -CONT "$SWTPM_PID"

for _ in $(seq 50); do
	[ "$(json | jq '.counters.busy')" = false ] && break
	sleep 0.1
done
tpm tpm2_getrandom 8 >/dev/null || fail "getrandom after the stall"
tpm tpm2_readpublic -c prim.ctx >/dev/null || fail "the context saved before the stall no longer loads"
st=$(json)
[ "$(jq '.counters.tpm_resets' <<<"$st")" -eq 0 ] || fail "the stall was taken for a reset: $st"
[ "$(jq '.counters.backend_errors' <<<"$st")" -eq 0 ] || fail "backend errors: $st"
grep -q "no answer in 1500 ms; cancelling" "$T/daemon.log" || fail "the timeout is not logged"
stop_daemon
echo "tpm-stall: ok"
