#!/bin/bash
# tpm2-tools through tpmbrokerd, one invocation per step, as a user would:
# getrandom, PCR extend/read (value checked), createprimary -> create ->
# load -> sign -> verifysignature, NV define/write/read.
# usage: tools-basic.sh tpmbroker|mssim|swtpm
#   tpmbroker: -T tpmbroker on the embedded TPM
#   mssim:     -T mssim through the daemon's mssim frontend (unmodified TCTI)
#   swtpm:     -T tpmbroker, daemon on a real swtpm backend
. "$(dirname "$0")/lib.sh"
mode=${1:?mode}

case $mode in
tpmbroker)
	start_daemon ;;
mssim)
	port=$(free_port)
	start_daemon --listen "mssim:127.0.0.1:$port"
	export TPM2TOOLS_TCTI="mssim:host=127.0.0.1,port=$port" ;;
swtpm)
	start_swtpm
	start_daemon --backend "swtpm:host=127.0.0.1,port=$SWTPM_PORT" ;;
*)
	fail "unknown mode $mode" ;;
esac
cd "$T"

# GetRandom: 16 bytes, and two calls differ
a=$(tpm tpm2_getrandom --hex 16) || fail "getrandom"
b=$(tpm tpm2_getrandom --hex 16) || fail "getrandom 2"
[ ${#a} -eq 32 ] || fail "getrandom returned '${a}'"
[ "$a" != "$b" ] || fail "getrandom returned the same bytes twice"

# PCR 16: extend with a known digest, the new value is sha256(old || digest)
d=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
old=$(pcr_value 16)
tpm tpm2_pcrextend "16:sha256=$d" || fail "pcrextend"
new=$(pcr_value 16)
[ "$new" = "$(pcr_expect "$old" "$d")" ] || fail "PCR 16 is $new after extending $old"

# Keys: each step its own process; flush transients in between (pass-through
# until the resource manager virtualizes them)
tpm tpm2_createprimary -Q -C o -g sha256 -G ecc -c prim.ctx || fail "createprimary"
tpm tpm2_flushcontext -t || fail "flush 1"
tpm tpm2_create -Q -C prim.ctx -G ecc -u key.pub -r key.priv || fail "create"
tpm tpm2_flushcontext -t || fail "flush 2"
tpm tpm2_load -Q -C prim.ctx -u key.pub -r key.priv -c key.ctx || fail "load"
tpm tpm2_flushcontext -t || fail "flush 3"
echo "message to sign" >msg
tpm tpm2_sign -c key.ctx -g sha256 -o sig msg || fail "sign"
tpm tpm2_flushcontext -t || fail "flush 4"
tpm tpm2_verifysignature -c key.ctx -g sha256 -m msg -s sig || fail "verifysignature"
tpm tpm2_flushcontext -t || fail "flush 5"
echo "another message" >msg2
if tpm tpm2_verifysignature -c key.ctx -g sha256 -m msg2 -s sig 2>/dev/null; then
	fail "a signature verified for the wrong message"
fi
tpm tpm2_flushcontext -t || true

# NV: define, write, read back
idx=0x1500016
tpm tpm2_nvdefine "$idx" -C o -s 32 -a "ownerread|ownerwrite|authread|authwrite" ||
	fail "nvdefine"
head -c 32 /dev/urandom >nv.in
tpm tpm2_nvwrite "$idx" -C o -i nv.in || fail "nvwrite"
tpm tpm2_nvread "$idx" -C o -s 32 -o nv.out || fail "nvread"
cmp -s nv.in nv.out || fail "NV read back differs"
tpm tpm2_nvundefine "$idx" -C o || fail "nvundefine"

stop_daemon
echo "ok: $mode"
