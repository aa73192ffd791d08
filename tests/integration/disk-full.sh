#!/bin/bash
# The embedded TPM's state on a full disk (a 36 KiB tmpfs the test mounts):
# a command that cannot write the state gets TPM_RC_NV_UNAVAILABLE (0x923),
# never TPM_RC_FAILURE, and is undone: the TPM is as it was before it.
# Other clients lose nothing: two of them (one holding two keys and an HMAC
# session, one looping policy sessions) run across the failures and see no
# error; commands that write nothing are served while the disk is full.
# libtpms' own output (which printed the command's bytes, NV data included)
# reaches no log; once space is freed the writes go through again without
# a daemon restart (the NV index written before is intact).  Root only.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || fail "mounting a small tmpfs needs root"
cd "$T" || exit 1
mkdir -p "$T/small"
mount -t tmpfs -o size=36k,mode=0755 tmpfs "$T/small" || fail "cannot mount a tmpfs"
FC=$BUILD/tests/integration/faultclient
FCPIDS=()
trap 'rc=$?; set +e; [ ${#FCPIDS[@]} -gt 0 ] && kill "${FCPIDS[@]}" 2>/dev/null;
	[ -n "$DAEMON_PID" ] && kill -KILL "$DAEMON_PID" 2>/dev/null;
	wait 2>/dev/null; umount "$T/small"; (exit $rc); cleanup' EXIT
start_daemon --backend "libtpms:state=$T/small/s" --retry-time 200
tpm tpm2_nvdefine 0x1500030 -C o -s 64 -a "ownerread|ownerwrite" >/dev/null || fail "nvdefine"
printf 'secret-nv-payload-%s' "$(printf '%040d' 7)" >nv.in
tpm tpm2_nvwrite 0x1500030 -C o -i nv.in || fail "nvwrite with space"
# the other clients: every failure of theirs is an error
for kind in holder policy; do
	"$FC" mix "$TPM2TOOLS_TCTI" "$kind" 0 >"$kind.out" 2>"$kind.err" &
	FCPIDS+=($!)
done
sleep 1
# fill the disk, then a command that must write the state
free=$(df -k "$T/small" | awk 'NR == 2 {print $4}')
dd if=/dev/zero of="$T/small/filler" bs=1k count=$((free > 1 ? free - 1 : 1)) 2>/dev/null || true
head -c 1500 /dev/urandom | od -An -tx1 | tr -d ' \n' | head -c 2000 >big.hex
out=$(tpm tpm2_nvdefine 0x1500031 -C o -s 1500 -a "ownerread|ownerwrite" 2>&1) &&
	fail "nvdefine on a full disk succeeded"
grep -qiE "ErrorCode \(0x(000b)?0*[0-9a-f]{3,4}\)" <<<"$out" || fail "not a TPM answer: $out"
grep -qi "0x101)" <<<"$out" && fail "TPM_RC_FAILURE: libtpms left in failure mode: $out"
grep -qi "(0x923)" <<<"$out" || fail "nvdefine on a full disk: not TPM_RC_NV_UNAVAILABLE: $out"
# and again: each failure is undone alike
out=$(tpm tpm2_nvwrite 0x1500030 -C o -i nv.in 2>&1) && true
grep -qi "0x101)" <<<"$out" && fail "TPM_RC_FAILURE on the second write: $out"
# what writes nothing is served meanwhile, and the NV index is as it was
tpm tpm2_getrandom 4 >/dev/null || fail "getrandom on a full disk"
tpm tpm2_nvread 0x1500030 -C o -s "$(stat -c %s nv.in)" -o nv.full ||
	fail "nvread on a full disk"
cmp -s nv.in nv.full || fail "NV contents changed on a full disk"
grep -q "could not be written" "$T/daemon.log" || fail "the full disk is not logged"
[ "$(grep -c "could not be written" "$T/daemon.log")" -eq 1 ] || fail "logged more than once"
# nothing of libtpms' dumps, and nothing of the NV data, in the log
grep -qi "secret-nv-payload\|736563726574" "$T/daemon.log" && fail "NV data in the log"
[ "$(grep -cvE '^(tpmbrokerd: |--- start)' "$T/daemon.log")" -eq 0 ] ||
	fail "foreign output in the log: $(grep -vE '^(tpmbrokerd: |--- start)' "$T/daemon.log" | head -3)"
sleep 1
rm -f "$T/small/filler"
tpm tpm2_nvread 0x1500030 -C o -s "$(stat -c %s nv.in)" -o nv.out || fail "nvread after the disk was full"
cmp -s nv.in nv.out || fail "NV contents changed"
tpm tpm2_nvdefine 0x1500031 -C o -s 1500 -a "ownerread|ownerwrite" >/dev/null ||
	fail "nvdefine after space was freed"
grep -q "can be written again" "$T/daemon.log" || fail "the recovery is not logged"
grep -q "reset underneath\|TPM restarts" "$T/daemon.log" && fail "the TPM was restarted"
# the other clients ran across it all without an error
kill -TERM "${FCPIDS[@]}"
for p in "${FCPIDS[@]}"; do
	wait "$p" || fail "a client saw an error: $(cat holder.out policy.out holder.err policy.err)"
done
FCPIDS=()
echo "disk-full: $(cat holder.out), $(cat policy.out)"
stop_daemon
echo "disk-full: ok"
