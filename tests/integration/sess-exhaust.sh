#!/bin/bash
# Exhaustion of the TPM's 64 active sessions, with quotas.
# usage: sess-exhaust.sh exhaust|user|wait
#   exhaust: a greedy client opens HMAC sessions until refused: exactly at
#            its quota (--max-sessions, 16 by default) with 0x000B0905.
#            Then 64 other clients at once each start a session and use it
#            (PCR_Extend, checked in the PCR's value): every one succeeds,
#            the broker having evicted the greedy client's oldest sessions
#            (0x000B09A3 when it uses them, while its newest still work);
#            status counts exactly those evictions.
#   user:    --max-sessions-per-user 4: two connections of uid 65534 get 4
#            sessions in all; a 5th on either is refused 0x000B0905 without
#            the TPM being asked (tpm_commands does not move,
#            quota_refusals does); after a flush one more fits.  The same
#            for objects with --max-objects-per-user 3 (0x000B0906).  Root
#            is not bound by either: one root connection gets its 16
#            sessions.
#   wait:    an abandoned session (tpm2-tools -S file) and then 64
#            connections with a session each: the 64th start flushes the
#            abandoned one (gone for good), evicting nobody.  With every
#            slot taken and nobody above its fair share (one), a new start
#            waits: meanwhile other clients' commands are served (the start
#            is still waiting after they finished); after --session-wait it
#            is refused 0x000B0905.  A waiting start whose client is killed
#            leaves nothing behind; the next waiting start gets the slot
#            that a flush frees, and its session works.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=sess-lib.sh
. "$(dirname "$0")/sess-lib.sh"
command -v jq >/dev/null || { echo "jq not installed"; exit 77; }
cd "$T" || exit 1

case ${1:?mode} in
exhaust)
	# The 64th client waits for a slot while the greedy client checks its
	# sessions: a generous --session-wait keeps a slow (ASan) run honest.
	start_daemon --session-wait 60000
	"$SESSCLIENT" "$TPM2TOOLS_TCTI" exhaust 64 16 >"$T/exhaust.out" 2>&1 ||
		{ cat "$T/exhaust.out" >&2; fail "exhaust"; }
	cat "$T/exhaust.out"
	n=$(sed -n 's/^evicted \([0-9]*\)$/\1/p' "$T/exhaust.out")
	st=$(status)
	ev=$(counter sessions_evicted "$st")
	if [ "$ev" = 0 ] || [ "$ev" != "$n" ]; then
		fail "status counts $ev evicted sessions, the greedy client lost $n: $st"
	fi
	[ "$(jq '.handles.sessions' <<<"$st")" = 0 ] || fail "sessions left: $st"
	;;
user)
	chmod 711 "$T" # uid 65534 must reach the socket
	# the user's sessions authorize extends of PCR 16, which log-first measurement would own
	start_daemon --max-sessions-per-user 4 --max-objects-per-user 3 --socket-mode 0666 \
		--measure-log none
	coproc SC { "$SESSCLIENT" "$TPM2TOOLS_TCTI" peruser 65534 2>"$T/peruser.err"; }
	say() {
		local line
		[ -z "${1:-}" ] || echo "$1" >&"${SC[1]}"
		read -t 60 -r line <&"${SC[0]}" || line="(nothing)"
		[ "$line" = "$2" ] || { cat "$T/peruser.err" >&2; fail "${1:-start}: '$line', want '$2'"; }
	}
	say "" "have 4"
	st1=$(status)
	[ "$(jq '[.connections[] | select(.uid == 65534) | .sessions | length] | add' <<<"$st1")" = 4 ] ||
		fail "uid 65534 does not hold 4 sessions on its connections: $st1"
	say try refused
	st2=$(status)
	t1=$(counter tpm_commands "$st1")
	t2=$(counter tpm_commands "$st2")
	[ "$t1" = "$t2" ] || fail "refused starts reached the TPM: tpm_commands $t1 -> $t2"
	q1=$(counter quota_refusals "$st1")
	q2=$(counter quota_refusals "$st2")
	[ "$q2" = $((q1 + 2)) ] || fail "quota_refusals $q1 -> $q2, want +2"
	say flush ok
	say objects "have 3"
	st1=$(status)
	say try refused
	st2=$(status)
	[ "$(counter tpm_commands "$st1")" = "$(counter tpm_commands "$st2")" ] ||
		fail "refused objects reached the TPM: $st1 -> $st2"
	[ "$(counter quota_refusals "$st2")" = $(($(counter quota_refusals "$st1") + 2)) ] ||
		fail "refused objects not counted in quota_refusals"
	echo end >&"${SC[1]}"
	wait "$SC_PID" || { cat "$T/peruser.err" >&2; fail "peruser client"; }
	out=$("$SESSCLIENT" "$TPM2TOOLS_TCTI" count) || fail "count"
	[ "$out" = "count 16 rc 0x000b0905" ] || fail "root got '$out', want its 16 sessions"
	;;
wait)
	start_daemon --session-wait 5000
	tpm tpm2_startauthsession --policy-session -S a.ctx || fail "startauthsession a.ctx"
	af0=$(counter abandoned_flushed)
	coproc FILL { "$SESSCLIENT" "$TPM2TOOLS_TCTI" fill 64 1 2>"$T/fill.err"; }
	say() {
		local line
		[ -z "${1:-}" ] || echo "$1" >&"${FILL[1]}"
		read -t 60 -r line <&"${FILL[0]}" || line="(nothing)"
		[ "$line" = "$2" ] || { cat "$T/fill.err" >&2; fail "${1:-fill}: '$line', want '$2'"; }
	}
	say "" full
	st=$(status)
	[ "$(counter abandoned_flushed "$st")" = $((af0 + 1)) ] ||
		fail "the abandoned session was not flushed for the 64th: $st"
	[ "$(counter sessions_evicted "$st")" = 0 ] || fail "evictions while filling: $st"
	tpm tpm2_policyauthvalue -S a.ctx >/dev/null 2>&1 && fail "the flushed abandoned session still loads"
	# waits, without holding up others, then is refused
	w0=$(counter session_waits)
	t0=$(counter session_wait_timeouts)
	"$SESSCLIENT" "$TPM2TOOLS_TCTI" start >"$T/w1.out" 2>&1 &
	W1=$!
	for _ in $(seq 200); do
		[ "$(counter session_waits)" -gt "$w0" ] && break
		kill -0 "$W1" 2>/dev/null || break
		sleep 0.1
	done
	[ "$(counter session_waits)" = $((w0 + 1)) ] || fail "the start did not wait: $(cat "$T/w1.out")"
	r=$(tpm tpm2_getrandom --hex 8) || fail "getrandom while a start waits"
	[[ $r =~ ^[0-9a-f]{16}$ ]] || fail "getrandom: '$r'"
	pcr_value 16 >/dev/null
	kill -0 "$W1" 2>/dev/null || fail "the waiting start ended before other clients were served: $(cat "$T/w1.out")"
	wait "$W1" || fail "start: $(cat "$T/w1.out")"
	[ "$(cat "$T/w1.out")" = "rc 0x000b0905" ] || fail "after the wait: '$(cat "$T/w1.out")', want rc 0x000b0905"
	[ "$(counter session_wait_timeouts)" = $((t0 + 1)) ] || fail "session_wait_timeouts not counted"
	# a waiting start whose client is killed leaves nothing behind
	"$SESSCLIENT" "$TPM2TOOLS_TCTI" start >"$T/w3.out" 2>&1 &
	W3=$!
	for _ in $(seq 200); do
		[ "$(counter session_waits)" -gt $((w0 + 1)) ] && break
		kill -0 "$W3" 2>/dev/null || break
		sleep 0.1
	done
	[ "$(counter session_waits)" = $((w0 + 2)) ] || fail "the third start did not wait: $(cat "$T/w3.out")"
	kill -KILL "$W3"
	wait "$W3" 2>/dev/null || true
	# a slot freed during the wait goes to the waiting start (not to the
	# killed one)
	"$SESSCLIENT" "$TPM2TOOLS_TCTI" start >"$T/w2.out" 2>&1 &
	W2=$!
	for _ in $(seq 200); do
		[ "$(counter session_waits)" -gt $((w0 + 2)) ] && break
		kill -0 "$W2" 2>/dev/null || break
		sleep 0.1
	done
	[ "$(counter session_waits)" = $((w0 + 3)) ] || fail "the second start did not wait: $(cat "$T/w2.out")"
	say flush flushed
	wait "$W2" || fail "start: $(cat "$T/w2.out")"
	[ "$(tr '\n' ' ' <"$T/w2.out")" = "rc 0x00000000 used 0x00000000 " ] ||
		fail "the waiting start after a flush: '$(cat "$T/w2.out")'"
	say end ok
	wait "$FILL_PID" || { cat "$T/fill.err" >&2; fail "fill"; }
	st=$(status)
	[ "$(counter sessions_evicted "$st")" = 0 ] || fail "evictions: $st"
	[ "$(jq '.handles.sessions' <<<"$st")" = 0 ] || fail "sessions left: $st"
	;;
*) fail "unknown mode $1" ;;
esac
stop_daemon
echo "ok: session exhaustion ($1)"
