#!/bin/bash
# tpm2-tools through tpmbrokerd, one invocation per step, as a user would:
# getrandom, PCR extend/read (value checked), createprimary -> create ->
# load -> sign -> verifysignature, NV define/write/read.
# usage: tools-basic.sh MODE
#   tpmbroker:     -T tpmbroker on the embedded TPM
#   mssim:         -T mssim through the daemon's mssim frontend (the
#                  unmodified tpm2-tss TCTI), embedded TPM
#   swtpm:         -T tpmbroker, the daemon on a real swtpm
#   mssim-backend: -T tpmbroker, the daemon's mssim backend talking to the
#                  mssim frontend of a second daemon (embedded TPM)
# shellcheck source=lib.sh
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
mssim-backend)
	start_upstream
	start_daemon --backend "mssim:host=127.0.0.1,port=$UPSTREAM_PORT" ;;
*)
	fail "unknown mode $mode" ;;
esac
cd "$T" || exit 1

# GetRandom: 16 bytes, and two calls differ; every way of naming the TCTI
a=$(tpm tpm2_getrandom --hex 16) || fail "getrandom"
b=$(tpm tpm2_getrandom --hex 16) || fail "getrandom 2"
[[ $a =~ ^[0-9a-f]{32}$ ]] || fail "getrandom returned '${a}'"
[ "$a" != "$b" ] || fail "getrandom returned the same bytes twice"
if [ "$mode" != mssim ]; then
	c=$(TPM2TOOLS_TCTI="" tpm tpm2_getrandom -T "tpmbroker:path=$SOCK" --hex 16) ||
		fail "getrandom -T tpmbroker:path="
	[[ $c =~ ^[0-9a-f]{32}$ ]] || fail "getrandom -T returned '$c'"
	c=$(TPMBROKER_SOCKET=$SOCK TPM2TOOLS_TCTI=tpmbroker tpm tpm2_getrandom --hex 16) ||
		fail "getrandom with TPMBROKER_SOCKET"
	[[ $c =~ ^[0-9a-f]{32}$ ]] || fail "getrandom (TPMBROKER_SOCKET) returned '$c'"
fi

# PCR 16: extend with a known digest, the new value is sha256(old || digest);
# twice, so a lost or repeated extend shows
d=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
old=$(pcr_value 16)
[[ $old =~ ^[0-9a-f]{64}$ ]] || fail "PCR 16 reads '$old'"
tpm tpm2_pcrextend "16:sha256=$d" || fail "pcrextend"
new=$(pcr_value 16)
[ "$new" = "$(pcr_expect "$old" "$d")" ] || fail "PCR 16 is $new after extending $old"
tpm tpm2_pcrextend "16:sha256=$d" || fail "pcrextend 2"
new2=$(pcr_value 16)
[ "$new2" = "$(pcr_expect "$new" "$d")" ] || fail "PCR 16 is $new2 after extending $new"
# two banks, two PCRs in one read
tpm tpm2_pcrread sha1:0,16+sha256:0,16 >/dev/null || fail "pcrread of two banks"

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
tpm tpm2_flushcontext -t || fail "flush 6"
# the signature checks out outside the TPM too
tpm tpm2_readpublic -c key.ctx -f pem -o key.pem >/dev/null || fail "readpublic"
tpm tpm2_flushcontext -t || fail "flush 7"
tpm tpm2_sign -c key.ctx -g sha256 -f plain -o sig.der msg || fail "sign (plain)"
tpm tpm2_flushcontext -t || fail "flush 8"
openssl dgst -sha256 -verify key.pem -signature sig.der msg >/dev/null ||
	fail "openssl rejects the TPM's signature"
# nothing of ours is left loaded
h=$(tpm tpm2_getcap handles-transient) || fail "getcap handles-transient"
[ -z "$h" ] || fail "transient objects left: $h"

# NV: define, write, read back, undefine
idx=0x1500016
tpm tpm2_nvdefine "$idx" -C o -s 32 -a "ownerread|ownerwrite|authread|authwrite" >/dev/null ||
	fail "nvdefine"
head -c 32 /dev/urandom >nv.in
tpm tpm2_nvwrite "$idx" -C o -i nv.in || fail "nvwrite"
tpm tpm2_nvread "$idx" -C o -s 32 -o nv.out || fail "nvread"
cmp -s nv.in nv.out || fail "NV read back differs"
p=$(tpm tpm2_nvreadpublic "$idx") || fail "nvreadpublic"
grep -q "size: 32" <<<"$p" || fail "nvreadpublic says: $p"
tpm tpm2_nvundefine "$idx" -C o || fail "nvundefine"
if tpm tpm2_nvread "$idx" -C o -s 32 -o nv.out 2>/dev/null; then
	fail "an undefined NV index was read"
fi

stop_daemon
stop_upstream
echo "ok: $mode"
