#!/bin/bash
# The config file: errors name their line and start nothing; SIGHUP reads
# it again and a changed deny list applies to the next command of clients
# already connected; a bad file on SIGHUP keeps the running configuration
# and the daemon serves on.  A profile's per-user connection cap refuses the
# excess at once with RETRY while root is still served.
# shellcheck source=policy-lib.sh
. "$(dirname "$0")/policy-lib.sh"
POLCLIENT=$BUILD/tests/integration/polclient
cd "$T" || exit 1

echo "a bad file is refused with its line"
cat >bad.conf <<CONF
[daemon]
max-connections = 100
[profile admin]
match-uid = 0
deny = TPM2_NoSuchCommand
CONF
if out=$("$TPMBROKERD" --config bad.conf --check-config 2>&1); then
	fail "--check-config accepted a bad file: $out"
fi
grep -q "bad.conf:5: .*NoSuchCommand" <<<"$out" || fail "no line number in: $out"
printf '[daemon]\nmax-connections = many\n' >bad2.conf
out=$("$TPMBROKERD" --config bad2.conf --check-config 2>&1) && fail "accepted max-connections = many"
grep -q "bad2.conf:2:" <<<"$out" || fail "no line number in: $out"
printf '[profile x]\nmatch-uid = 0\n[nonsense]\nkey = 1\n' >bad3.conf
out=$("$TPMBROKERD" --config bad3.conf --check-config 2>&1) && fail "accepted [nonsense]"
grep -q "bad3.conf:4: unknown section" <<<"$out" || fail "unknown section: $out"

write_conf() { # $1: what the user profile denies beyond the defaults
	cat >"$T/tb.conf" <<CONF
# written by policy-config.sh
[daemon]
max-connections = 200

[profile admin]
match-uid = 0

[profile user]
match = *
deny = Clear ClearControl HierarchyChangeAuth EvictControl PCR_Reset $1
hierarchies = owner endorsement null
max-connections-per-user = 4
CONF
}
write_conf ""
out=$("$TPMBROKERD" --config "$T/tb.conf" --check-config) || fail "--check-config: $out"
grep -q "profile user" <<<"$out" || fail "--check-config summary lacks the profile: $out"
start_daemon --config "$T/tb.conf"

echo "per-user connection cap"
coproc OPEN { as_user "$POLCLIENT" --open 6 "$SOCK"; }
open_pid=$OPEN_PID # bash unsets OPEN_PID once it has exited
read -r -t 20 line <&"${OPEN[0]}" || fail "polclient --open gave no answer"
[ "$line" = "served 4 refused 2" ] || fail "per-user cap: $line"
tpm tpm2_getrandom 8 >/dev/null || fail "root not served while the user is at its cap"
n=$("$CLI" --socket "$SOCK" status --json | jq '.counters.connections_refused')
[ "$n" -ge 2 ] || fail "connections_refused $n"
echo >&"${OPEN[1]}"
wait "$open_pid" 2>/dev/null || true

echo "SIGHUP: a changed deny list applies to a connected client's next command"
coproc CL { as_user "$POLCLIENT" "$SOCK"; }
cl_pid=$CL_PID # bash unsets CL_PID once it has exited
ask() { echo "$1" >&"${CL[1]}"; read -r -t 20 ans <&"${CL[0]}" || fail "no answer to $1"; echo "$ans"; }
[ "$(ask getrandom)" = 0x00000000 ] || fail "getrandom before the reload"
write_conf GetRandom
kill -HUP "$DAEMON_PID"
for _ in $(seq 50); do
	grep -q "configuration read again" "$T/daemon.log" && break
	sleep 0.1
done
grep -q "configuration read again" "$T/daemon.log" || fail "no reload logged"
[ "$(ask getrandom)" = 0x000b0120 ] || fail "getrandom after the reload was not refused"

echo "SIGHUP with a bad file keeps the running configuration"
printf '[profile user]\nmatch = *\nlocalities = 9\n' >"$T/tb.conf"
kill -HUP "$DAEMON_PID"
for _ in $(seq 50); do
	grep -q "running configuration stays" "$T/daemon.log" && break
	sleep 0.1
done
grep -q "running configuration stays" "$T/daemon.log" || fail "bad file on SIGHUP not reported"
grep -q "tb.conf:3:" "$T/daemon.log" || fail "bad file on SIGHUP: no line number"
[ "$(ask getrandom)" = 0x000b0120 ] || fail "the old deny list was not kept"
kill -0 "$DAEMON_PID" || fail "the daemon died on a bad SIGHUP"
tpm tpm2_getrandom 8 >/dev/null || fail "root not served after a bad SIGHUP"
exec {CL[1]}>&-
wait "$cl_pid" 2>/dev/null || true
stop_daemon
echo "policy-config: ok"
