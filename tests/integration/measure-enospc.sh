#!/bin/bash
# The measurement log on a full disk (a 64 KiB tmpfs the test mounts): a
# measurement that cannot be logged is refused with 0x000B014B
# (TPM_RC_NV_SPACE, resource-manager layer), its PCR is not extended, the
# log stays whole (nothing of the refused batch in it, an independent
# reader checks), and once space is freed measurements go on without a
# restart, the replay still equal to the PCR.  Root only.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
CHECK=$SRC/tests/integration/mlogcheck.py
[ "$(id -u)" = 0 ] || fail "mounting a small tmpfs needs root"
cd "$T" || exit 1
mkdir -p "$T/small"
mount -t tmpfs -o size=64k,mode=0755 tmpfs "$T/small" || fail "cannot mount a tmpfs"
trap 'rc=$?; set +e; [ -n "$DAEMON_PID" ] && kill -KILL "$DAEMON_PID" 2>/dev/null;
	wait 2>/dev/null; umount "$T/small"; (exit $rc); cleanup' EXIT
LOG=$T/small/measure.log
start_daemon --measure-log "$LOG"
M() { tpm "$CLI" --socket "$SOCK" measure "$@"; }
M --pcr 23 --string "with space" >/dev/null || fail "measure with space"
head -c 20000 /dev/urandom >big.bin # more than the page the log has left
# fill the disk
dd if=/dev/zero of="$T/small/filler" bs=1k count=64 2>/dev/null || true
size=$(stat -c %s "$LOG")
v=$(pcr_value 23)
for i in 1 2 3; do
	out=$(M --pcr 23 --data big.bin 2>&1) && fail "measured on a full disk"
	grep -q 0x000B014B <<<"$out" || fail "full disk: $out"
done
[ "$(pcr_value 23)" = "$v" ] || fail "PCR 23 extended for a refused measurement"
[ "$(stat -c %s "$LOG")" -eq "$size" ] || fail "the log changed: $size -> $(stat -c %s "$LOG")"
tpm "$CHECK" "$LOG" check >/dev/null || fail "the log is not whole"
grep -q '"refused_disk": 3' <<<"$(tpm "$CLI" --socket "$SOCK" status --json)" || fail "not counted"
rm -f "$T/small/filler"
M --pcr 23 --data big.bin >/dev/null || fail "measure after space was freed"
tpm "$CHECK" "$LOG" check >/dev/null || fail "the log is not whole after"
[ "$(tpm "$CHECK" "$LOG" replay pcr 23 sha256)" = "$(pcr_value 23)" ] || fail "replay != PCR"
stop_daemon
echo "measure-enospc: ok"
