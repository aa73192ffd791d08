#!/bin/bash
# Shared helpers of the integration tests: a private daemon (and swtpm) per
# test, in a temporary directory, on free ports; everything is stopped on
# exit.  Meson passes BUILD (the build tree) and SANITIZED (1 under ASan).
set -euo pipefail

: "${BUILD:?BUILD must point at the build tree}"
T=$(mktemp -d /tmp/tbtest.XXXXXX)
DAEMON_PID=
SWTPM_PID=
TPMBROKERD=$BUILD/src/daemon/tpmbrokerd
CLI=$BUILD/src/cli/tpmbroker
export LD_LIBRARY_PATH=$BUILD/src/tcti
unset TPM2TOOLS_TCTI TPMBROKER_SOCKET


fail() {
	echo "FAIL: $*" >&2
	if [ -f "$T/daemon.log" ]; then
		echo "--- daemon log (tail)" >&2
		tail -n 30 "$T/daemon.log" >&2
	fi
	exit 1
}

# run a client program (tpm2-tools, our CLI); the plugin is never
# instrumented (src/tcti/meson.build), so no sanitizer runtime is needed
tpm() {
	"$@"
}

free_port() {
	local p
	for _ in $(seq 200); do
		p=$((10000 + RANDOM % 22000)) # below the ephemeral range
		if ! ss -tanH "( sport = :$p or sport = :$((p + 1)) )" | grep -q .; then
			echo "$p"
			return 0
		fi
	done
	fail "no free port"
}

# start_daemon [extra args...]: libtpms in $T/state unless --backend is given
start_daemon() {
	SOCK=$T/tb.sock
	local args=("$@")
	if ! printf '%s\n' "${args[@]}" | grep -q -- '--backend'; then
		args+=(--backend "libtpms:state=$T/state")
	fi
	"$TPMBROKERD" --socket "$SOCK" "${args[@]}" >>"$T/daemon.log" 2>&1 &
	DAEMON_PID=$!
	for _ in $(seq 100); do
		if tpm "$CLI" --socket "$SOCK" status >/dev/null 2>&1; then
			export TPM2TOOLS_TCTI="tpmbroker:path=$SOCK"
			return 0
		fi
		kill -0 "$DAEMON_PID" 2>/dev/null || fail "tpmbrokerd exited at start"
		sleep 0.1
	done
	fail "tpmbrokerd not ready"
}

# stop_daemon: SIGTERM, and the daemon must exit 0 (ASan: no leak, no error)
stop_daemon() {
	[ -n "$DAEMON_PID" ] || return 0
	kill -TERM "$DAEMON_PID" 2>/dev/null || true
	local rc=0
	wait "$DAEMON_PID" || rc=$?
	DAEMON_PID=
	[ "$rc" -eq 0 ] || fail "tpmbrokerd exited with status $rc"
}

# start_swtpm: a real swtpm on a free port; sets SWTPM_PORT
start_swtpm() {
	SWTPM_PORT=$(free_port)
	mkdir -p "$T/swtpm"
	swtpm socket --tpm2 \
		--server type=tcp,port="$SWTPM_PORT",bindaddr=127.0.0.1 \
		--ctrl type=tcp,port=$((SWTPM_PORT + 1)),bindaddr=127.0.0.1 \
		--tpmstate dir="$T/swtpm" --flags not-need-init,startup-clear \
		--pid file="$T/swtpm.pid" --daemon
	for _ in $(seq 50); do
		ss -ltnH "( sport = :$SWTPM_PORT )" | grep -q . && break
		sleep 0.1
	done
	SWTPM_PID=$(cat "$T/swtpm.pid")
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

cleanup() {
	local rc=$?
	[ -n "$DAEMON_PID" ] && kill -KILL "$DAEMON_PID" 2>/dev/null
	[ -n "$SWTPM_PID" ] && kill "$SWTPM_PID" 2>/dev/null
	rm -rf "$T"
	exit $rc
}
trap cleanup EXIT

# The value PCR_Extend must produce: sha256(old || digest)
pcr_expect() {
	printf '%s%s' "$1" "$2" | xxd -r -p | openssl dgst -sha256 -r | cut -d' ' -f1
}

# pcr_value IDX: the sha256 bank's value, lower-case hex
pcr_value() {
	tpm tpm2_pcrread "sha256:$1" -o "$T/pcr.bin" >/dev/null
	xxd -p -c 64 "$T/pcr.bin"
}
