#!/bin/bash
# Private instances handed to VMs (issue 12): tpmbroker instance attach
# starts the instance's swtpm for QEMU, and a guest (shared/vm/run-in-vm.sh:
# QEMU, Debian's kernel, -tpmdev emulator on the socket attach printed) runs
# tpm2-tools on /dev/tpmrm0 against the broker-managed instance.
#  1. host: a tenant's NV index in instance vmA; attach vmA and vmB; while a
#     VM holds vmA its host client gets 0x000B012D, a second attach and a
#     delete are refused
#  2. two VMs at once, on vmA and vmB: getrandom, PCR 16 extend,
#     tpm2_clear (vmA: the host's NV index goes), createprimary, a
#     persistent key, NV indices (one an extend index); each sees only its
#     own PCR 16 and indices, also after the other wrote its own
#  3. detach vmB while its VM runs: the guest's next command fails, the
#     host takes the instance back
#  4. after vmA's VM exits: the host's tenant reads what the guest wrote;
#     a second VM on vmA finds the persistent key (it signs), the NV index
#     and the NV extend index as the first left them
# PCRs are volatile: a boot resets them, on a real TPM as here (the guest
# kernel sends TPM2_Startup(CLEAR)), so across VMs what persists is the
# TPM's non-volatile state; the test checks that PCR 16 starts at zero in
# the second VM, and persistence with NV (an extend index is the NV
# counterpart of a PCR) and a persistent key.
# Skipped (77) when QEMU or the VM images are missing; under CI=true that
# is a failure (.ci/run builds them).
set -euo pipefail

ext() { printf '%064d' "$1"; }

# ---- in the guest: bash instance-vm.sh --guest ROLE SHARE
guest() {
	local role=$1 sh=$2 out
	export TPM2TOOLS_TCTI=device:/dev/tpmrm0
	# one tpm2-tools call is 0.3-0.5 s under TCG, more on a loaded host
	gstep() { timeout -k 5 120 "$@"; }
	gfail() {
		echo "FAIL (guest $role): $*"
		exit 1
	}
	# wait_for FILE: the other side's mark in the shared directory
	wait_for() {
		for _ in $(seq 6000); do
			[ -e "$sh/$1" ] && return 0
			[ -e "$sh/abort" ] && gfail "the host gave up (waiting for $1)"
			sleep 0.1
		done
		gfail "no $1 after 600 s"
	}
	cd "$(mktemp -d /tmp/ivm.XXXXXX)"
	{ [ -c /dev/tpm0 ] && [ -c /dev/tpmrm0 ]; } || gfail "no /dev/tpm0 and /dev/tpmrm0"
	out=$(gstep tpm2_getrandom --hex 16) || gfail "getrandom"
	[[ $out =~ ^[0-9a-f]{32}$ ]] || gfail "getrandom printed '$out'"
	case $role in
	A1)
		gstep tpm2_nvreadpublic 0x1500016 >/dev/null || gfail "the host's NV index is not there"
		gstep tpm2_pcrextend "16:sha256=$(ext 1)" || gfail "pcrextend"
		gstep tpm2_pcrread sha256:16 >"$sh/A1.pcr16" || gfail "pcrread"
		gstep tpm2_clear || gfail "tpm2_clear"
		gstep tpm2_nvreadpublic 0x1500016 >/dev/null 2>&1 &&
			gfail "the host's NV index survived tpm2_clear"
		gstep tpm2_createprimary -Q -C o -G ecc -c p.ctx || gfail "createprimary"
		gstep tpm2_create -Q -C p.ctx -G ecc -u k.pub -r k.priv || gfail "create"
		gstep tpm2_load -Q -C p.ctx -u k.pub -r k.priv -c k.ctx || gfail "load"
		gstep tpm2_evictcontrol -Q -C o -c k.ctx 0x81000020 || gfail "evictcontrol"
		gstep tpm2_readpublic -c 0x81000020 -n "$sh/A1.name" >/dev/null || gfail "readpublic"
		gstep tpm2_nvdefine -Q 0x1500020 -C o -s 8 -a "ownerread|ownerwrite" || gfail "nvdefine"
		echo -n persist1 | gstep tpm2_nvwrite -Q -C o -i- 0x1500020 || gfail "nvwrite"
		gstep tpm2_nvdefine -Q 0x1500021 -C o -s 32 -a "nt=extend|ownerread|ownerwrite" ||
			gfail "nvdefine (extend index)"
		echo -n one | gstep tpm2_nvextend -C o -i- 0x1500021 || gfail "nvextend"
		echo -n two | gstep tpm2_nvextend -C o -i- 0x1500021 || gfail "nvextend"
		gstep tpm2_nvread -Q -C o 0x1500021 -o "$sh/A1.nvext" || gfail "nvread (extend index)"
		touch "$sh/A1.wrote"
		wait_for B.wrote
		# B's things are not here; ours are
		gstep tpm2_nvreadpublic 0x1500030 >/dev/null 2>&1 && gfail "B's NV index is in vmA"
		gstep tpm2_pcrread sha256:16 | cmp -s - "$sh/A1.pcr16" || gfail "PCR 16 changed"
		;;
	B)
		gstep tpm2_nvreadpublic 0x1500016 >/dev/null 2>&1 && gfail "vmA's NV index is in vmB"
		gstep tpm2_pcrextend "16:sha256=$(ext 2)" || gfail "pcrextend"
		gstep tpm2_pcrread sha256:16 >"$sh/B.pcr16" || gfail "pcrread"
		gstep tpm2_nvdefine -Q 0x1500030 -C o -s 8 -a "ownerread|ownerwrite" || gfail "nvdefine"
		touch "$sh/B.wrote"
		wait_for A1.wrote
		gstep tpm2_nvreadpublic 0x1500020 >/dev/null 2>&1 && gfail "A's NV index is in vmB"
		gstep tpm2_readpublic -c 0x81000020 >/dev/null 2>&1 && gfail "A's key is in vmB"
		gstep tpm2_pcrread sha256:16 | cmp -s - "$sh/B.pcr16" || gfail "PCR 16 changed"
		# the host takes the instance back while we run
		touch "$sh/B.ready"
		wait_for B.detached
		if out=$(gstep tpm2_getrandom --hex 8 2>&1); then
			gfail "getrandom after the detach: $out"
		fi
		echo "guest B: getrandom after the detach failed, as it must"
		;;
	A2)
		out=$(gstep tpm2_pcrread sha256:16) || gfail "pcrread"
		grep -qi "0x$(ext 0)" <<<"$out" || gfail "PCR 16 is not reset at boot: $out"
		gstep tpm2_readpublic -c 0x81000020 -n name >/dev/null || gfail "the persistent key is gone"
		cmp -s name "$sh/A1.name" || gfail "0x81000020 is another key"
		echo "signed in the second VM" >msg
		gstep tpm2_sign -c 0x81000020 -g sha256 -o sig msg || gfail "sign"
		gstep tpm2_verifysignature -c 0x81000020 -g sha256 -m msg -s sig || gfail "verify"
		[ "$(gstep tpm2_nvread -C o 0x1500020)" = persist1 ] || gfail "NV 0x1500020"
		gstep tpm2_nvread -Q -C o 0x1500021 -o nvext || gfail "nvread (extend index)"
		cmp -s nvext "$sh/A1.nvext" || gfail "the NV extend index differs"
		;;
	esac
	echo "guest $role: ok"
}

if [ "${1:-}" = --guest ]; then
	guest "$2" "$3"
	exit 0
fi

# ---- on the host
VM=${TPMVM_SCRIPTS:-${SRC:?}/../shared/vm}
TPMVM=${TPMVM:-/var/tmp/tpmvm}
if ! command -v qemu-system-x86_64 >/dev/null || [ ! -x "$VM/run-in-vm.sh" ] ||
	{ [ ! -f "$TPMVM/vmlinux" ] && [ ! -f "$TPMVM/vmlinuz" ]; } || [ ! -f "$TPMVM/initramfs.cpio.gz" ]; then
	# in CI the images are built first (.ci/run): missing there is a failure
	if [ "${CI:-}" = true ]; then
		echo "FAIL: CI: no QEMU or no VM images; .ci/run builds them"
		exit 1
	fi
	echo "SKIP: no QEMU or no VM images (run shared/vm/build.sh once)"
	exit 77
fi
command -v swtpm >/dev/null || { echo "swtpm missing"; exit 77; }
export TPMVM
self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
# shellcheck source=policy-lib.sh
. "$(dirname "$0")/policy-lib.sh"
cd "$T" || exit 1
SH=$T/share
mkdir -p "$SH"
VMPIDS=()
trap 'rc=$?; set +e; touch "$SH/abort"; for p in "${VMPIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done;
	userdel "$TUSER" 2>/dev/null; (exit $rc); cleanup' EXIT
cat >"$T/tb.conf" <<EOF
[profile admin]
match-uid = 0
[profile vmtenant]
match-uid = $TUID
instance = vmA
EOF
start_daemon --config "$T/tb.conf" --instance-dir "$T/inst" -v
ICLI=("$CLI" --socket "$SOCK")
wstate() { "${ICLI[@]}" instance list | awk -v n="$1" '$1 == n {print $3}'; }
# vm ROLE SOCK LOG: boot a VM on the control socket SOCK, in the background
vm() {
	"$VM/run-in-vm.sh" --syspath -t 900 -w "$SH" --swtpm-sock "$2" \
		"bash $(printf '%q' "$self") --guest $1 $(printf '%q' "$SH")" >"$T/$3" 2>&1 &
	VMPIDS+=($!)
}
# vm_wait PID LOG ROLE: the VM ran its guest, which passed
vm_wait() {
	local rc=0
	wait "$1" || rc=$?
	cat "$T/$2"
	[ "$rc" -ne 125 ] || fail "VM $3: the VM did not run the test"
	[ "$rc" -eq 0 ] || fail "VM $3: exit $rc"
}

"${ICLI[@]}" instance create vmA >/dev/null || fail "create vmA"
"${ICLI[@]}" instance create vmB >/dev/null || fail "create vmB"
as_user tpm2_nvdefine -Q 0x1500016 -C o -s 8 -a "ownerread|ownerwrite" || fail "nvdefine in vmA"

root16=$(pcr_value 16)

echo "1. attach: the socket and QEMU's options"
out=$("${ICLI[@]}" instance attach vmA) || fail "attach vmA: $out"
echo "$out"
sockA=$(head -n 1 <<<"$out")
[ "$sockA" = "$T/inst/vmA/vm.sock" ] || fail "attach vmA printed '$sockA' first"
grep -q -- "-chardev socket,id=chrtpm,path=$sockA -tpmdev emulator,id=tpm0,chardev=chrtpm" <<<"$out" ||
	fail "attach vmA: no QEMU options"
[ -S "$sockA" ] || fail "no socket $sockA"
[ "$(wstate vmA)" = vm ] || fail "vmA is $(wstate vmA), not vm"
sockB=$("${ICLI[@]}" instance attach vmB | head -n 1) || fail "attach vmB"
out=$("${ICLI[@]}" instance attach vmA 2>&1) && fail "a second attach of vmA: $out"
grep -q 0x000B0922 <<<"$out" || fail "a second attach of vmA: $out"
out=$("${ICLI[@]}" instance delete vmA 2>&1) && fail "delete of an attached instance: $out"
grep -q 0x000B0922 <<<"$out" || fail "delete of an attached instance: $out"
out=$(as_user "$CLI" --socket "$SOCK" send 80010000000c0000017b0008 2>&1) &&
	fail "the host tenant's command while a VM holds vmA: $out"
grep -q "^80010000000a000b012d" <<<"$out" ||
	fail "the host tenant's command while a VM holds vmA: not 0x000B012D: $out"
echo "host tenant of vmA while a VM holds it: $(head -c 20 <<<"$out")"

echo "2. two VMs at once, on vmA and vmB"
vm A1 "$sockA" vmA1.log
pidA=${VMPIDS[-1]}
vm B "$sockB" vmB.log
pidB=${VMPIDS[-1]}
# the host's side of the detach in VM B; the VMs run meanwhile
for _ in $(seq 9000); do
	[ -e "$SH/B.ready" ] && break
	kill -0 "$pidB" 2>/dev/null || break
	sleep 0.1
done
[ -e "$SH/B.ready" ] || { vm_wait "$pidB" vmB.log B; fail "VM B did not get to the detach"; }
[ "$(wstate vmB)" = vm ] || fail "vmB is $(wstate vmB) while its VM runs"
"${ICLI[@]}" instance detach vmB || fail "detach vmB"
for _ in $(seq 100); do
	[ "$(wstate vmB)" = stopped ] && break
	sleep 0.1
done
[ "$(wstate vmB)" = stopped ] || fail "vmB is $(wstate vmB) after the detach"
[ ! -e "$sockB" ] || fail "$sockB is still there after the detach"
touch "$SH/B.detached"
vm_wait "$pidB" vmB.log B
vm_wait "$pidA" vmA1.log A1
cmp -s "$SH/A1.pcr16" "$SH/B.pcr16" && fail "the two VMs saw the same PCR 16"
grep -qi "$(pcr_expect "$(ext 0)" "$(ext 1)")" "$SH/A1.pcr16" || fail "A's PCR 16: $(cat "$SH/A1.pcr16")"
grep -qi "$(pcr_expect "$(ext 0)" "$(ext 2)")" "$SH/B.pcr16" || fail "B's PCR 16: $(cat "$SH/B.pcr16")"
[ "$(pcr_value 16)" = "$root16" ] || fail "the shared TPM's PCR 16 changed"

echo "3. the VM has left: the host's tenant has vmA back, as the guest left it"
for _ in $(seq 100); do
	[ "$(wstate vmA)" = stopped ] && break
	sleep 0.1
done
[ "$(wstate vmA)" = stopped ] || fail "vmA is $(wstate vmA) after its VM exited"
[ "$(as_user tpm2_nvread -C o 0x1500020)" = persist1 ] || fail "the host does not read the guest's NV"
as_user tpm2_nvreadpublic 0x1500016 >/dev/null 2>&1 && fail "the guest's tpm2_clear did not reach vmA"
as_user tpm2_readpublic -c 0x81000020 >/dev/null || fail "the guest's persistent key is not in vmA"

echo "4. a second VM on vmA"
sockA=$("${ICLI[@]}" instance attach vmA | head -n 1) || fail "attach vmA again"
vm A2 "$sockA" vmA2.log
vm_wait "${VMPIDS[-1]}" vmA2.log A2
for _ in $(seq 100); do
	[ "$(wstate vmA)" = stopped ] && break
	sleep 0.1
done
[ "$(wstate vmA)" = stopped ] || fail "vmA is $(wstate vmA) after the second VM exited"
as_user tpm2_getrandom 8 >/dev/null || fail "the host tenant's getrandom after the VMs"
grep -q "the VM's worker .* ended" "$T/daemon.log" || fail "no word of the VM's end in the log"
"${ICLI[@]}" instance list
VMPIDS=()
stop_daemon
echo "PASS: instance vm"
