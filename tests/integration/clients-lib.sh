#!/bin/bash
# What the client tests (tpm2-openssl, tpm2-pkcs11, FAPI) share, on top of
# lib.sh: a daemon on the embedded TPM or on a real swtpm, and the check that
# ends each of them: the clients left no handle behind, in the broker and,
# on swtpm, in the TPM itself.
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# need CMD...: skip (77) when a client's tool is not installed
need() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null || { echo "$c not installed"; exit 77; }
	done
}

# clients_start MODE: libtpms (the embedded TPM) or swtpm (a real swtpm
# under the daemon); the daemon logs at -vv into $T/daemon.log
clients_start() {
	MODE=$1
	case $MODE in
	libtpms)
		start_daemon -vv ;;
	swtpm)
		start_swtpm
		start_daemon -vv --backend "swtpm:host=127.0.0.1,port=$SWTPM_PORT" ;;
	*)
		fail "unknown mode $MODE" ;;
	esac
}

status_json() {
	tpm "$CLI" --socket "$SOCK" status --json || fail "status"
}

# counter NAME: one of the daemon's counters (status --json)
counter() {
	status_json | jq ".counters.$1"
}

# no_leaks WHAT: every client of WHAT has gone; no connection holds an object
# or a session, and the broker keeps none (nor an abandoned session).  On
# swtpm the daemon is then killed (SIGKILL: it cleans nothing up on the way
# out) and the TPM itself is asked: no transient object, no session.
no_leaks() {
	local what=$1 st kind n
	# a client's close reaches the daemon a moment after the client exits;
	# the status request is a connection itself, with no command
	for _ in $(seq 50); do
		st=$(status_json)
		jq -e '[.connections[] | select(.commands > 0)] | length == 0' <<<"$st" >/dev/null && break
		sleep 0.1
	done
	jq -e '[.connections[] | select(.commands > 0)] | length == 0' <<<"$st" >/dev/null ||
		fail "$what: connections still open: $(jq -c .connections <<<"$st")"
	jq -e '([.connections[] | (.objects | length) + (.sessions | length)] | add // 0) == 0' \
		<<<"$st" >/dev/null || fail "$what: a connection holds handles: $(jq -c .connections <<<"$st")"
	jq -e '.handles.objects == 0 and .handles.sessions == 0 and .handles.abandoned == 0' \
		<<<"$st" >/dev/null || fail "$what: handles left in the broker: $(jq -c .handles <<<"$st")"
	[ "$MODE" = swtpm ] || return 0
	kill -KILL "$DAEMON_PID"
	wait "$DAEMON_PID" 2>/dev/null || true
	DAEMON_PID=
	for kind in transient loaded-session saved-session; do
		n=$(TPM2TOOLS_TCTI="swtpm:host=127.0.0.1,port=$SWTPM_PORT" tpm2_getcap "handles-$kind") ||
			fail "getcap handles-$kind on swtpm"
		[ -z "$n" ] || fail "$what: swtpm holds $kind handles: $n"
	done
}

# wait_signers ERRPREFIX: every background signer in pids[] exited 0; else
# fail with the failing one's ERRPREFIX$i.err
# shellcheck disable=SC2154 # pids[] is the calling test's
wait_signers() {
	local i=0 p rc
	for p in "${pids[@]}"; do
		i=$((i + 1))
		rc=0
		wait "$p" || rc=$?
		[ "$rc" = 0 ] || fail "signer $i failed ($rc): $(cat "$1$i.err")"
	done
}
