#!/bin/bash
# Shared helpers of the integration tests: a private daemon (and swtpm) per
# test, in its own temporary directory, on free ports; everything is
# stopped on exit, so tests run in parallel.  Meson passes BUILD (the build
# tree), SRC (the source tree) and SANITIZED (1 under ASan/UBSan).
set -euo pipefail

: "${BUILD:?BUILD must point at the build tree}"
SANITIZED=${SANITIZED:-0}
T=$(mktemp -d /tmp/tbtest.XXXXXX)
DAEMON_PID=
UPSTREAM_PID=
SWTPM_PID=
TPMBROKERD=$BUILD/src/daemon/tpmbrokerd
# shellcheck disable=SC2034 # used by the test scripts
{
	CLI=$BUILD/src/cli/tpmbroker
	RAWCLIENT=$BUILD/tests/integration/rawclient
	CONCUR=$BUILD/tests/integration/concur
}
# the plugin from this build tree, never an installed one
export LD_LIBRARY_PATH=$BUILD/src/tcti
unset TPM2TOOLS_TCTI TPMBROKER_SOCKET TSS2_LOG
# the sanitized daemon is slower to start and to stop
if [ "$SANITIZED" = 1 ]; then WAIT_S=60; else WAIT_S=20; fi

fail() {
	echo "FAIL: $*" >&2
	local f
	for f in "$T/daemon.log" "$T/upstream.log"; do
		if [ -s "$f" ]; then
			echo "--- $(basename "$f") (tail)" >&2
			tail -n 40 "$f" >&2
		fi
	done
	exit 1
}

# run a client program (tpm2-tools, our CLI).  The plugin is never
# instrumented (src/tcti/meson.build), so no sanitizer runtime is needed.
tpm() {
	"$@"
}

# a TCP port P with P and P+1 free, below the ephemeral range (32768-)
free_port() {
	local p
	for _ in $(seq 200); do
		p=$((10000 + RANDOM % 22000))
		if [ -z "$(ss -tanH "( sport = :$p or sport = :$((p + 1)) )")" ]; then
			echo "$p"
			return 0
		fi
	done
	fail "no free port"
}

# wait_ready SOCK PID LOG: the daemon answers `status` on SOCK
wait_ready() {
	for _ in $(seq $((WAIT_S * 10))); do
		if tpm "$CLI" --socket "$1" status >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$2" 2>/dev/null || fail "tpmbrokerd ($3) exited at start"
		sleep 0.1
	done
	fail "tpmbrokerd ($3) not ready after ${WAIT_S}s"
}

# start_daemon [args...]: tpmbrokerd on $T/tb.sock, on the embedded TPM
# with state in $T/state unless a --backend is given; sets SOCK, DAEMON_PID
# and TPM2TOOLS_TCTI.  Its output goes to $T/daemon.log.
start_daemon() {
	SOCK=$T/tb.sock
	local args=("$@")
	if ! grep -qE -- '^(--backend(=.*)?|-b.*)$' <<<"$(printf '%s\n' "${args[@]}")"; then
		args+=(--backend "libtpms:state=$T/state")
	fi
	echo "--- start: tpmbrokerd --socket $SOCK ${args[*]}" >>"$T/daemon.log"
	"$TPMBROKERD" --socket "$SOCK" "${args[@]}" >>"$T/daemon.log" 2>&1 &
	DAEMON_PID=$!
	wait_ready "$SOCK" "$DAEMON_PID" daemon.log
	export TPM2TOOLS_TCTI="tpmbroker:path=$SOCK"
}

# stop_pid PID NAME [SIGNAL]: stop a daemon, which must exit 0 within the
# limit (a clean stop; under ASan also: no leak, no error report)
stop_pid() {
	local pid=$1 name=$2 sig=${3:-TERM} rc=0
	kill "-$sig" "$pid" 2>/dev/null || fail "$name is not running"
	for _ in $(seq $((WAIT_S * 10))); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		fail "$name did not stop within ${WAIT_S}s of SIG$sig"
	fi
	wait "$pid" || rc=$?
	[ "$rc" -eq 0 ] || fail "$name exited with status $rc after SIG$sig"
}

# stop_daemon [SIGNAL]: SIGTERM (default) or SIGINT
stop_daemon() {
	[ -n "$DAEMON_PID" ] || return 0
	local pid=$DAEMON_PID
	DAEMON_PID=
	stop_pid "$pid" tpmbrokerd "${1:-TERM}"
}

# start_upstream: a second tpmbrokerd on the embedded TPM ($T/upstate)
# serving the mssim protocol on UPSTREAM_PORT (platform port +1), the TPM
# for a daemon under test that uses the mssim backend
start_upstream() {
	UPSTREAM_PORT=$(free_port)
	"$TPMBROKERD" --socket "$T/up.sock" --backend "libtpms:state=$T/upstate" \
		--listen "mssim:127.0.0.1:$UPSTREAM_PORT" >>"$T/upstream.log" 2>&1 &
	UPSTREAM_PID=$!
	wait_ready "$T/up.sock" "$UPSTREAM_PID" upstream.log
}

stop_upstream() {
	[ -n "$UPSTREAM_PID" ] || return 0
	local pid=$UPSTREAM_PID
	UPSTREAM_PID=
	stop_pid "$pid" "upstream tpmbrokerd"
}

# start_swtpm [flags]: a real swtpm on free ports, state in $T/swtpm; sets
# SWTPM_PORT (data; control is +1).  flags default: not-need-init,startup-clear
start_swtpm() {
	local flags=${1:-not-need-init,startup-clear} try
	mkdir -p "$T/swtpm"
	for try in 1 2 3; do
		SWTPM_PORT=${SWTPM_PORT_FIXED:-$(free_port)}
		rm -f "$T/swtpm.pid"
		if swtpm socket --tpm2 \
			--server type=tcp,port="$SWTPM_PORT",bindaddr=127.0.0.1 \
			--ctrl type=tcp,port=$((SWTPM_PORT + 1)),bindaddr=127.0.0.1 \
			--tpmstate dir="$T/swtpm" --flags "$flags" \
			--pid file="$T/swtpm.pid" --daemon 2>>"$T/swtpm.log"; then
			SWTPM_PID=$(cat "$T/swtpm.pid")
			for _ in $(seq 100); do
				listening "$SWTPM_PORT" && return 0
				sleep 0.1
			done
			fail "swtpm not listening on $SWTPM_PORT"
		fi
		[ -z "${SWTPM_PORT_FIXED:-}" ] || break
		echo "swtpm did not start on $SWTPM_PORT (try $try)" >&2
	done
	cat "$T/swtpm.log" >&2
	fail "swtpm did not start"
}

stop_swtpm() {
	[ -n "$SWTPM_PID" ] || return 0
	kill "$SWTPM_PID" 2>/dev/null || true
	for _ in $(seq 50); do
		kill -0 "$SWTPM_PID" 2>/dev/null || break
		sleep 0.1
	done
	SWTPM_PID=
}

# Runs on every exit.  No set -e here: a process that is already gone
# (kill fails) must not cut the cleanup short and leak swtpm or $T.
cleanup() {
	local rc=$? p
	set +e
	for p in "$DAEMON_PID" "$UPSTREAM_PID" "$SWTPM_PID" $(jobs -p); do
		[ -n "$p" ] && kill -KILL "$p" 2>/dev/null
	done
	wait 2>/dev/null
	rm -rf "$T"
	exit "$rc"
}
trap cleanup EXIT

# the value PCR_Extend must produce: sha256(old || digest)
pcr_expect() {
	printf '%s%s' "$1" "$2" | xxd -r -p | openssl dgst -sha256 -r | cut -d' ' -f1
}

# listening TCP_PORT: something listens on it
listening() {
	[ -n "$(ss -ltnH "( sport = :$1 )")" ]
}

# pcr_value IDX: the sha256 bank's value, lower-case hex
pcr_value() {
	tpm tpm2_pcrread "sha256:$1" -o "$T/pcr.bin" >/dev/null || fail "pcrread $1"
	xxd -p -c 64 "$T/pcr.bin"
}
