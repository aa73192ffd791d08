#!/bin/bash
# The device backend on a real kernel TPM driver, in a throw-away VM
# (shared/vm/run-in-vm.sh: QEMU, Debian's kernel, a TPM 2.0 from swtpm):
# be_smoke does TPM2_Startup + GetRandom through device:/dev/tpm0 and
# device:/dev/tpmrm0 and finds locality 3 refused; a second open of
# /dev/tpm0 while one holds it fails with EBUSY; then tpmbrokerd serves
# tpm2_getrandom from /dev/tpm0.  Skipped (77) when QEMU or the VM images
# (shared/vm/build.sh) are missing.
set -euo pipefail
: "${BUILD:?BUILD must point at the build tree}"
: "${SRC:?SRC must point at the source tree}"
VM=${TPMVM_SCRIPTS:-$SRC/../shared/vm}
TPMVM=${TPMVM:-/var/tmp/tpmvm}
if ! command -v qemu-system-x86_64 >/dev/null || [ ! -x "$VM/run-in-vm.sh" ] ||
	{ [ ! -f "$TPMVM/vmlinux" ] && [ ! -f "$TPMVM/vmlinuz" ]; } || [ ! -f "$TPMVM/initramfs.cpio.gz" ]; then
	echo "SKIP: no QEMU or no VM images (run shared/vm/build.sh once)"
	exit 77
fi
SMOKE=$BUILD/tests/integration/be_smoke

# runs in the guest, as root; the host's / is there read-only
guest=$(cat <<GUEST
set -eu
fail() { echo "FAIL: \$*"; exit 1; }
$SMOKE device:/dev/tpm0 || fail "be_smoke device:/dev/tpm0"
$SMOKE device:/dev/tpmrm0 || fail "be_smoke device:/dev/tpmrm0"
mkfifo /tmp/hold.in
$SMOKE --hold device:/dev/tpm0 </tmp/hold.in >/tmp/hold.out &
holder=\$!
exec 3>/tmp/hold.in
for i in \$(seq 100); do grep -q held /tmp/hold.out && break; sleep 0.1; done
grep -q held /tmp/hold.out || fail "holder did not open /dev/tpm0"
$SMOKE --busy device:/dev/tpm0 || fail "second open of /dev/tpm0 was not EBUSY"
exec 3>&-
wait \$holder || fail "holder"
$BUILD/src/daemon/tpmbrokerd --backend device:/dev/tpm0 --socket /tmp/tb.sock >/tmp/d.log 2>&1 &
daemon=\$!
for i in \$(seq 100); do [ -S /tmp/tb.sock ] && break; sleep 0.1; done
out=\$(LD_LIBRARY_PATH=$BUILD/src/tcti tpm2_getrandom -T tpmbroker:path=/tmp/tb.sock --hex 16) ||
	{ cat /tmp/d.log; fail "tpm2_getrandom through tpmbrokerd"; }
[ \${#out} -eq 32 ] || fail "tpm2_getrandom printed '\$out'"
echo "tpm2_getrandom via tpmbrokerd on /dev/tpm0: \$out"
kill -TERM \$daemon
wait \$daemon || { cat /tmp/d.log; fail "tpmbrokerd exit status"; }
echo "ok: device backend on the kernel driver"
GUEST
)
# the guest has its own /tmp and /run: a build tree there must be shared in
share=()
case $BUILD in /tmp/* | /run/*) share=(-w "$BUILD") ;; esac
rc=0
"$VM/run-in-vm.sh" --syspath -t 600 "${share[@]}" "$guest" || rc=$?
[ "$rc" -ne 125 ] || { echo "FAIL: the VM did not run the test"; exit 1; }
exit "$rc"
