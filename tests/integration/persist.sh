#!/bin/bash
# A persistent object and an NV index made through the daemon on the
# embedded TPM survive a daemon restart (same state directory), and the
# persistent key still signs.  Stops once by SIGINT, once by SIGTERM.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
start_daemon
tpm tpm2_createprimary -Q -C o -G ecc -c prim.ctx || fail "createprimary"
tpm tpm2_create -Q -C prim.ctx -G ecc -u key.pub -r key.priv || fail "create"
tpm tpm2_flushcontext -t || fail "flush"
tpm tpm2_load -Q -C prim.ctx -u key.pub -r key.priv -c key.ctx || fail "load"
tpm tpm2_flushcontext -t || fail "flush"
tpm tpm2_evictcontrol -Q -C o -c key.ctx 0x81000042 || fail "evictcontrol"
tpm tpm2_flushcontext -t || fail "flush"
tpm tpm2_readpublic -c 0x81000042 -o before.pub >/dev/null || fail "readpublic before"
tpm tpm2_nvdefine 0x1500020 -C o -s 8 -a "ownerread|ownerwrite" >/dev/null || fail "nvdefine"
printf 'persists' >nv.in
tpm tpm2_nvwrite 0x1500020 -C o -i nv.in || fail "nvwrite"
stop_daemon INT
[ -n "$(ls -A "$T/state")" ] || fail "no state written to $T/state"

start_daemon
h=$(tpm tpm2_getcap handles-persistent) || fail "getcap handles-persistent"
grep -qi 0x81000042 <<<"$h" || fail "persistent handle gone: $h"
tpm tpm2_readpublic -c 0x81000042 -o after.pub >/dev/null || fail "readpublic after"
cmp -s before.pub after.pub || fail "persistent key changed"
echo "signed after a restart" >msg
tpm tpm2_sign -c 0x81000042 -g sha256 -o sig msg || fail "sign with the persistent key"
tpm tpm2_verifysignature -c 0x81000042 -g sha256 -m msg -s sig || fail "verifysignature"
tpm tpm2_nvread 0x1500020 -C o -s 8 -o nv.out || fail "nvread after restart"
# the stops were orderly (TPM2_Shutdown): the key's auths (no noda) counted no failure
lc=$(tpm tpm2_getcap properties-variable | awk '/TPM2_PT_LOCKOUT_COUNTER/ {print $2}')
[ "$lc" = 0x0 ] || fail "lockout counter $lc after a restart (a stop without TPM2_Shutdown)"
cmp -s nv.in nv.out || fail "NV contents changed across restart"
# remove both; that too must persist
tpm tpm2_evictcontrol -Q -C o -c 0x81000042 || fail "evict"
tpm tpm2_nvundefine 0x1500020 -C o || fail "nvundefine"
stop_daemon TERM

start_daemon
h=$(tpm tpm2_getcap handles-persistent) || fail "getcap handles-persistent"
if grep -qi 0x81000042 <<<"$h"; then
	fail "evicted persistent handle is back after a restart"
fi
h=$(tpm tpm2_getcap handles-nv-index) || fail "getcap handles-nv-index"
if grep -qi 0x1500020 <<<"$h"; then
	fail "undefined NV index is back after a restart"
fi
stop_daemon
echo "ok: persistence"
