#!/bin/bash
# A private instance's state on a full disk (--instance-dir on a 200 KiB
# tmpfs the test mounts).  swtpm, like libtpms in the daemon, enters
# failure mode when a state write fails and then answers TPM_RC_FAILURE to
# every command, even once space is freed; and libtpms prints the failing
# command's bytes (NV data, password authorizations) to its output.
#   - the command that failed gets the TPM's answer; the worker is replaced
#     by one started from its state on disk (a crash to the tenant);
#   - while the disk stays full every command is answered in TPM format
#     and at once (a worker that cannot start its TPM: 0x000B0101), none hangs;
#   - once space is freed the instance serves again, without a daemon
#     restart, and the NV index written before holds its data;
#   - no command bytes reach swtpm.log or the daemon's log.
# Root only.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || fail "mounting a small tmpfs needs root"
command -v swtpm >/dev/null || { echo "swtpm missing"; exit 77; }
cd "$T" || exit 1
chmod 755 "$T" # the daemon runs as tss and reaches its instance dir
mkdir -p "$T/small"
mount -t tmpfs -o size=200k,mode=0755 tmpfs "$T/small" || fail "cannot mount a tmpfs"
trap 'rc=$?; set +e; [ -n "$DAEMON_PID" ] && kill -KILL "$DAEMON_PID" 2>/dev/null;
	wait 2>/dev/null; umount -l "$T/small"; (exit $rc); cleanup' EXIT
cat >"$T/tb.conf" <<CONF
[profile admin]
match-uid = 0
instance = private
CONF
start_daemon --config "$T/tb.conf" --instance-dir "$T/small/inst"
WLOG=$T/small/inst/uid-0/swtpm.log
# every command below must be answered, in time: a hang fails the test
t() { timeout 30 "$@"; }
t tpm2_nvdefine 0x1500030 -C o -s 64 -a "ownerread|ownerwrite" >/dev/null || fail "nvdefine"
printf 'secret-nv-payload-%s' "$(printf '%040d' 7)" >nv.in
t tpm2_nvwrite 0x1500030 -C o -i nv.in || fail "nvwrite with space"
# fill the disk; a command that must write the state, its data recognisable
free=$(df -k "$T/small" | awk 'NR == 2 {print $4}')
dd if=/dev/zero of="$T/small/filler" bs=1k count=$((free > 1 ? free - 1 : 1)) 2>/dev/null || true
printf 'another-secret-%s' "$(printf '%049d' 9)" >nv2.in
rc=0
out=$(t tpm2_nvwrite 0x1500030 -C o -i nv2.in 2>&1) || rc=$?
[ "$rc" -ne 124 ] || fail "nvwrite on a full disk hung"
[ "$rc" -ne 0 ] || fail "nvwrite on a full disk succeeded"
grep -qiE "ErrorCode \(0x(000b)?0*[0-9a-f]{3,4}\)" <<<"$out" || fail "not a TPM answer: $out"
grep -q "failure mode" "$T/daemon.log" || fail "the worker's failure mode is not logged"
# while the disk is full: answered at once, in TPM format
for i in 1 2 3; do
	rc=0
	out=$(t tpm2_getrandom 4 2>&1) || rc=$?
	[ "$rc" -ne 124 ] || fail "getrandom $i on a full disk hung"
	[ "$rc" -ne 0 ] && { grep -qi "ErrorCode (0x000b0" <<<"$out" ||
		fail "getrandom $i on a full disk: not a broker answer: $out"; }
done
rm -f "$T/small/filler"
ok=
for _ in $(seq 20); do
	t tpm2_getrandom 4 >/dev/null 2>&1 && { ok=1; break; }
	sleep 0.2
done
[ -n "$ok" ] || fail "the instance did not serve again once space was freed"
t tpm2_nvread 0x1500030 -C o -s "$(stat -c %s nv.in)" -o nv.out || fail "nvread after"
cmp -s nv.in nv.out || fail "NV contents changed"
t tpm2_nvwrite 0x1500030 -C o -i nv2.in || fail "nvwrite after space was freed"
# libtpms' dump happened, and its bytes stayed out of every log
grep -q "Entered failure mode through command" "$WLOG" || fail "no failure dump: the test saw nothing"
grep -q "lines of command bytes not logged" "$WLOG" || fail "the dump's bytes not replaced"
for f in "$WLOG" "$T/daemon.log"; do
	grep -qiE '^ *([0-9a-f]{2} ){8}' "$f" && fail "command bytes in $(basename "$f")"
	grep -qi "another-secret\|616e6f74686572\|61 6e 6f 74 68 65 72" "$f" && fail "NV data in $(basename "$f")"
done
stop_daemon
echo "instance-disk-full: ok ($(grep -c "failure mode" "$T/daemon.log") failure-mode lines," \
	"$(grep -c "not logged" "$WLOG") dumps filtered)"
