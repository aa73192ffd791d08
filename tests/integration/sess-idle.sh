#!/bin/bash
# No leases: sessions left idle for 5 minutes of the daemon's clock still
# work.  The daemon runs under libfaketime at 100 times the real speed
# (its clock_gettime, epoll_wait timeouts and timers alike), so 5 virtual
# minutes take about 3 real seconds; the test first checks through status
# (uptime_s) that the speed-up really took effect in the daemon, so it
# cannot pass on a normal clock.  Idle meanwhile: a fresh policy session
# and one that has run PolicyAuthValue, both saved by tpm2-tools in files
# (-S), and a live connection holding 4 HMAC sessions (some swapped out by
# the broker: the TPM has 3 session slots).  Afterwards the files' sessions
# unseal a secret whose policy is PolicyAuthValue, and the live
# connection's sessions authorize PCR_Extend (its value checked).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=sess-lib.sh
. "$(dirname "$0")/sess-lib.sh"
command -v jq >/dev/null || { echo "jq not installed"; exit 77; }
FT_LIB=
for f in /usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1 \
	/usr/lib/*/faketime/libfaketimeMT.so.1 /usr/lib/faketime/libfaketimeMT.so.1; do
	[ -e "$f" ] && { FT_LIB=$f; break; }
done
[ -n "$FT_LIB" ] || { echo "libfaketime not installed (Debian package faketime)"; exit 77; }
SPEED=100
IDLE_S=300
cd "$T" || exit 1

# The daemon alone runs under libfaketime (the clients and our CLI keep the
# real clock): start_daemon runs $TPMBROKERD, here a wrapper that execs the
# real one (same pid).  Under ASan the preloaded library comes before the
# ASan runtime, which ASan refuses unless told not to check the order.
REAL_DAEMON=$TPMBROKERD
TPMBROKERD=$T/tpmbrokerd-faketime
asan_opts=
[ "$SANITIZED" != 1 ] || asan_opts="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
cat >"$TPMBROKERD" <<EOT
#!/bin/sh
export LD_PRELOAD="$FT_LIB" FAKETIME="+0 x$SPEED"
[ -z "$asan_opts" ] || export ASAN_OPTIONS="$asan_opts"
exec "$REAL_DAEMON" "\$@"
EOT
chmod +x "$TPMBROKERD"
start_daemon
uptime() { status | jq '.uptime_s'; }

seal_setup
tpm tpm2_startauthsession --policy-session -S fresh.ctx || fail "startauthsession fresh"
tpm tpm2_startauthsession --policy-session -S used.ctx || fail "startauthsession used"
tpm tpm2_policyauthvalue -S used.ctx >/dev/null || fail "policyauthvalue used"
coproc HOLD { "$SESSCLIENT" "$TPM2TOOLS_TCTI" hold 4 2>"$T/hold.err"; }
hold_pid=$HOLD_PID # bash unsets HOLD_PID once it has exited
read -t 60 -r line <&"${HOLD[0]}" || line="(nothing)"
[ "$line" = held ] || { cat "$T/hold.err" >&2; fail "holder: '$line'"; }

# idle until the daemon's clock says IDLE_S more seconds have passed; with
# the real clock that would take IDLE_S seconds: a limit of a fifth of it
# proves the speed-up (at least 5 times; we asked for $SPEED)
u0=$(uptime)
r0=$SECONDS
while :; do
	u=$(uptime)
	[ "$u" -ge $((u0 + IDLE_S)) ] && break
	[ $((SECONDS - r0)) -lt $((IDLE_S / 5)) ] ||
		fail "the daemon's clock advanced $((u - u0)) s in $((SECONDS - r0)) real s: libfaketime did not take effect"
	sleep 0.2
done
echo "idle: the daemon's clock advanced $((u - u0)) s in $((SECONDS - r0)) real s"

# nothing expired
tpm tpm2_policyauthvalue -S fresh.ctx >/dev/null || fail "policyauthvalue -S fresh.ctx after the idle time"
unseal_with fresh.ctx
unseal_with used.ctx
echo go >&"${HOLD[1]}"
read -t 60 -r line <&"${HOLD[0]}" || line="(nothing)"
[ "$line" = ok ] || { cat "$T/hold.err" >&2; fail "holder after the idle time: '$line'"; }
wait "$hold_pid" || fail "holder exit"
st=$(status)
[ "$(jq '.handles.sessions' <<<"$st")" = 0 ] || fail "sessions left: $st"
stop_daemon
echo "ok: sessions idle for $IDLE_S s of the daemon's clock still work"
