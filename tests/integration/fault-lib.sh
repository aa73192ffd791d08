#!/bin/bash
# Shared by the fault tests on swtpm (fault-kill, fault-backend), sourced
# after lib.sh: does the TPM itself hold exactly what the broker tracks?
# Needs jq, SOCK, SWTPM_PORT, DAEMON_PID.

json() { timeout 20 "$CLI" --socket "$SOCK" status --json; }

# handles as 8 hex digits; sessions by their TPM slot alone (0x02... loaded
# and 0x03... saved name the same session)
norm() { while read -r h; do printf '0x%08x\n' "$((h))"; done | sort; }
snorm() { while read -r h; do printf 'session 0x%06x\n' "$((h & 0xffffff))"; done | sort; }
direct() {
	TPM2TOOLS_TCTI="swtpm:host=127.0.0.1,port=$SWTPM_PORT" tpm2_getcap "handles-$1" |
		sed -n 's/^- //p' || fail "getcap handles-$1 on swtpm"
}
# no_leak NAME [OBJECTS SESSIONS]: with one holder connected (rmclient
# hold: 3 objects, 2 sessions) and nobody else, SIGKILL the daemon and
# compare the TPM's handles, read directly from swtpm, with the broker's
# last status; with OBJECTS and SESSIONS, the broker must track that many
no_leak() {
	local st hold_pid
	"$BUILD/tests/integration/rmclient" "$TPM2TOOLS_TCTI" hold >hold.out 2>&1 &
	hold_pid=$!
	for _ in $(seq 100); do grep -q held hold.out && break; sleep 0.1; done
	grep -q held hold.out || fail "$1: holder not ready: $(cat hold.out)"
	for _ in $(seq 100); do
		st=$(json)
		[ "$(jq '.counters.connections_now' <<<"$st")" = 2 ] &&
			[ "$(jq '.counters.busy' <<<"$st")" = false ] && break
		sleep 0.1
	done
	[ "$(jq '.counters.connections_now' <<<"$st")" = 2 ] || fail "$1: connections left: $st"
	if [ $# -ge 3 ]; then
		if [ "$(jq '.handles.objects' <<<"$st")" != "$2" ] ||
			[ "$(jq '.handles.sessions' <<<"$st")" != "$3" ]; then
			fail "$1: the holder's handles: $(jq -c .handles <<<"$st")"
		fi
	fi
	jq -r '.connections[].objects[] | select(.state == "loaded") | .tpm_handle' <<<"$st" |
		norm >broker-objects
	jq -r '(.connections[].sessions[], .abandoned[]) | .handle' <<<"$st" | snorm >broker-sessions
	kill -KILL "$DAEMON_PID"
	wait "$DAEMON_PID" 2>/dev/null || true
	DAEMON_PID=
	kill -KILL "$hold_pid"
	wait "$hold_pid" 2>/dev/null || true
	direct transient | norm >tpm-objects
	{ direct loaded-session; direct saved-session; } | snorm >tpm-sessions
	echo "$1: broker: $(tr '\n' ' ' <broker-objects)$(tr '\n' ' ' <broker-sessions)"
	echo "$1: TPM:    $(tr '\n' ' ' <tpm-objects)$(tr '\n' ' ' <tpm-sessions)"
	cmp -s broker-objects tpm-objects || fail "$1: objects: $(diff broker-objects tpm-objects)"
	cmp -s broker-sessions tpm-sessions || fail "$1: sessions: $(diff broker-sessions tpm-sessions)"
	[ -s tpm-sessions ] || fail "$1: the holder's sessions are not in the TPM"
}

