#!/bin/bash
# Fair shares of the TPM between users (issue 9): user A with 32
# connections looping RSA-2048 CreatePrimary, user B with one connection
# looping GetRandom.  Turns go over users by the TPM time they used, so B's
# throughput under A's load is at least a third of what B gets alone
# (round robin over connections gave B one turn per 32 key generations).
# Ratios only, never absolute times.  Root only: it makes two users.
# shellcheck source=policy-lib.sh
. "$(dirname "$0")/policy-lib.sh"
SCHEDCLIENT=$BUILD/tests/integration/schedclient
SECS=${SCHED_SECS:-8}

UB=tbsch$$
useradd --system --no-create-home --shell /usr/sbin/nologin --user-group "$UB" ||
	fail "useradd $UB"
trap 'rc=$?; set +e; userdel "$TUSER" 2>/dev/null; userdel "$UB" 2>/dev/null; (exit $rc); cleanup' EXIT
as_b() {
	(cd "$T" && setpriv --reuid="$UB" --regid="$UB" --init-groups "$@")
}
count() { awk '{print $2}' <<<"$1"; }

start_daemon
alone=$(as_b "$SCHEDCLIENT" "$SOCK" 1 "$SECS" getrandom) || fail "B alone: $alone"
as_user "$SCHEDCLIENT" "$SOCK" 32 $((SECS + 4)) rsa2048 >"$T/a.out" 2>&1 &
APID=$!
sleep 2 # A's 32 connections are at work
loaded=$(as_b "$SCHEDCLIENT" "$SOCK" 1 "$SECS" getrandom) || fail "B under load: $loaded"
wait "$APID" || fail "A's CreatePrimary loops: $(cat "$T/a.out")"
a=$(count "$(cat "$T/a.out")")
b0=$(count "$alone")
b1=$(count "$loaded")
echo "B alone: $b0 GetRandom in ${SECS}s; with A's 32 connections: $b1" \
	"(ratio $(awk -v x="$b1" -v y="$b0" 'BEGIN{printf "%.2f", x/y}'));" \
	"A: $a CreatePrimary RSA-2048 in $((SECS + 4))s"
tpm "$CLI" --socket "$SOCK" status --json | grep -oE "\"(aged|held)\": [0-9]+" | tr "\n" " " || true
[ "$a" -ge 32 ] || fail "A's load did not run: $a CreatePrimary"
[ "$b0" -gt 0 ] || fail "B alone got nothing done"
[ $((b1 * 3)) -ge "$b0" ] || fail "B under load: $b1, less than a third of $b0 alone"
stop_daemon
