#!/bin/bash
# The device backend on a real kernel TPM driver, in a throw-away VM
# (shared/vm/run-in-vm.sh: QEMU, Debian's kernel, a TPM 2.0 from swtpm).
# On the host this script boots the VM and runs itself in it (--guest),
# as root, with the host's / read-only:
#  1. be_smoke: TPM2_Startup + GetRandom + a long command through
#     device:/dev/tpm0 and device:/dev/tpmrm0, locality 3 refused
#  2. a second open of /dev/tpm0 while one holds it fails with EBUSY, and a
#     second tpmbrokerd on it exits at start saying so
#  3. tpmbrokerd on /dev/tpm0 serves tpm2-tools (-T tpmbroker): getrandom;
#     createprimary, create, load, sign, verifysignature; a sign in an
#     HMAC session; a command at locality 3 gets the RM-layer
#     TPM_RC_LOCALITY; SIGTERM stops it with status 0
#  4. then the TPM holds no transient object and no session, loaded or
#     saved: the broker flushed what each client left
# Skipped (77) when QEMU or the VM images (shared/vm/build.sh) are missing.
set -euo pipefail
: "${BUILD:?BUILD must point at the build tree}"
: "${SRC:?SRC must point at the source tree}"
SANITIZED=${SANITIZED:-0}

fail() {
	echo "FAIL: $*"
	local f
	for f in "${W:-/nonexistent}"/*.log; do
		[ -s "$f" ] || continue
		echo "--- $(basename "$f") (tail)"
		tail -n 40 "$f"
	done
	exit 1
}

# run a step with a bound, so that a hang fails here and not at the VM's limit
step() {
	timeout -k 5 "$STEP_S" "$@"
}

# wait_ready SOCK PID: the daemon answers `status` on SOCK
wait_ready() {
	for _ in $(seq $((STEP_S * 10))); do
		step "$CLI" --socket "$1" status >/dev/null 2>&1 && return 0
		kill -0 "$2" 2>/dev/null || fail "tpmbrokerd exited at start"
		sleep 0.1
	done
	fail "tpmbrokerd not ready after ${STEP_S}s"
}

guest() {
	SMOKE=$BUILD/tests/integration/be_smoke
	TBD=$BUILD/src/daemon/tpmbrokerd
	CLI=$BUILD/src/cli/tpmbroker
	# guest programs run 20-40x slower than on the host (no KVM: TCG)
	if [ "$SANITIZED" = 1 ]; then STEP_S=180; else STEP_S=60; fi
	# the plugin from this build tree, never an installed one
	export LD_LIBRARY_PATH=$BUILD/src/tcti
	unset TPM2TOOLS_TCTI TPMBROKER_SOCKET TSS2_LOG
	W=$(mktemp -d /tmp/devvm.XXXXXX)
	cd "$W"
	{ [ -c /dev/tpm0 ] && [ -c /dev/tpmrm0 ]; } || fail "no /dev/tpm0 and /dev/tpmrm0 in the VM"

	# 1. the backend alone, on the raw device and on the kernel's RM
	step "$SMOKE" device:/dev/tpm0 || fail "be_smoke device:/dev/tpm0"
	step "$SMOKE" device:/dev/tpmrm0 || fail "be_smoke device:/dev/tpmrm0"

	# 2. /dev/tpm0 is exclusive: one holder, then a second open
	mkfifo hold.in
	"$SMOKE" --hold device:/dev/tpm0 <hold.in >hold.out 2>holder.log &
	local holder=$!
	exec 3>hold.in
	for _ in $(seq $((STEP_S * 10))); do
		grep -q held hold.out && break
		kill -0 "$holder" 2>/dev/null || break
		sleep 0.1
	done
	grep -q held hold.out || fail "the holder did not open /dev/tpm0"
	step "$SMOKE" --busy device:/dev/tpm0 2>busy.log || fail "second open of /dev/tpm0 was not EBUSY"
	exec 3>&-
	wait "$holder" || fail "the holder exited with status $?"

	# 3. tpmbrokerd on /dev/tpm0
	local sock=$W/tb.sock daemon rc=0 out
	"$TBD" --backend device:/dev/tpm0 --socket "$sock" >daemon.log 2>&1 &
	daemon=$!
	wait_ready "$sock" "$daemon"
	step "$TBD" --backend device:/dev/tpm0 --socket "$W/tb2.sock" >second.out 2>&1 || rc=$?
	[ "$rc" -ne 0 ] || fail "a second tpmbrokerd on /dev/tpm0 ran"
	[ "$rc" -ne 124 ] || fail "a second tpmbrokerd on /dev/tpm0 did not exit"
	grep -q 'held by another process' second.out ||
		{ cat second.out; fail "a second tpmbrokerd: no word of the busy device"; }
	echo "second tpmbrokerd on /dev/tpm0: exit $rc, $(grep -o 'held by another process' second.out)"

	export TPM2TOOLS_TCTI="tpmbroker:path=$sock"
	out=$(step tpm2_getrandom --hex 16) || fail "tpm2_getrandom through tpmbrokerd"
	[[ $out =~ ^[0-9a-f]{32}$ ]] || fail "tpm2_getrandom printed '$out'"
	echo "tpm2_getrandom via tpmbrokerd on /dev/tpm0: $out"

	# GetRandom(16) at locality 3: the kernel cannot set it, the broker says so
	rc=0
	out=$(step "$CLI" --socket "$sock" send --locality 3 80010000000c0000017b0010 2>send.err) || rc=$?
	{ [ "$rc" -eq 1 ] && [ "$out" = 80010000000a000b0907 ]; } ||
		{ cat send.err; fail "locality 3: exit $rc, response '$out' (want 80010000000a000b0907)"; }
	echo "locality 3 via tpmbrokerd: $out"

	step tpm2_createprimary -Q -C o -G ecc -c p.ctx || fail "createprimary"
	step tpm2_create -Q -C p.ctx -G ecc -u k.pub -r k.priv || fail "create"
	step tpm2_load -Q -C p.ctx -u k.pub -r k.priv -c k.ctx || fail "load"
	echo "tpmbroker on a real kernel driver" >msg
	step tpm2_sign -c k.ctx -g sha256 -o sig msg || fail "sign"
	step tpm2_verifysignature -c k.ctx -g sha256 -m msg -s sig || fail "verifysignature"
	step tpm2_startauthsession -Q --hmac-session -S h.ctx || fail "startauthsession"
	step tpm2_sign -c k.ctx -g sha256 -o sig2 -p session:h.ctx msg || fail "sign in a session"
	step tpm2_flushcontext h.ctx || fail "flushcontext of the session"
	step tpm2_verifysignature -c k.ctx -g sha256 -m msg -s sig2 || fail "verifysignature 2"
	echo "createprimary, create, load, sign, verifysignature, session sign: ok"
	unset TPM2TOOLS_TCTI

	kill -TERM "$daemon"
	rc=0
	step tail --pid="$daemon" -f /dev/null || fail "tpmbrokerd did not stop within ${STEP_S}s"
	wait "$daemon" || rc=$?
	[ "$rc" -eq 0 ] || fail "tpmbrokerd exited with status $rc after SIGTERM"

	# 4. what the clients left was flushed (the daemon flushes only at start)
	local h
	for h in handles-transient handles-loaded-session handles-saved-session; do
		out=$(step tpm2_getcap -T device:/dev/tpm0 "$h") || fail "tpm2_getcap $h"
		[ -z "$out" ] || fail "left in the TPM ($h): $out"
	done
	echo "ok: device backend on the kernel driver"
}

if [ "${1:-}" = --guest ]; then
	guest
	exit 0
fi

VM=${TPMVM_SCRIPTS:-$SRC/../shared/vm}
TPMVM=${TPMVM:-/var/tmp/tpmvm}
if ! command -v qemu-system-x86_64 >/dev/null || [ ! -x "$VM/run-in-vm.sh" ] ||
	{ [ ! -f "$TPMVM/vmlinux" ] && [ ! -f "$TPMVM/vmlinuz" ]; } || [ ! -f "$TPMVM/initramfs.cpio.gz" ]; then
	# in CI the images are built first (.ci/run): missing there is a failure
	[ "${CI:-}" != true ] || fail "CI: no QEMU or no VM images; .ci/run builds them"
	echo "SKIP: no QEMU or no VM images (run shared/vm/build.sh once)"
	exit 77
fi
export TPMVM
self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
# the guest has its own /tmp and /run: trees there must be shared in
share=()
for d in "$BUILD" "$(dirname "$self")"; do
	case $d in /tmp/* | /run/*) share+=(-w "$d") ;; esac
done
# the guest gets only what -e passes: the sanitizers' settings of the test setup too
envs=(-e "BUILD=$BUILD" -e "SRC=$SRC" -e "SANITIZED=$SANITIZED")
for v in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS; do
	[ -z "${!v:-}" ] || envs+=(-e "$v=${!v}")
done
rc=0
"$VM/run-in-vm.sh" --syspath -t 570 "${share[@]}" "${envs[@]}" \
	"bash $(printf '%q' "$self") --guest" || rc=$?
[ "$rc" -ne 125 ] || { echo "FAIL: the VM did not run the test"; exit 1; }
exit "$rc"
