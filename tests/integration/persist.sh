#!/bin/bash
# A persistent object and an NV index made through the daemon on the
# embedded TPM survive a daemon restart (same state directory).
. "$(dirname "$0")/lib.sh"
cd "$T"
start_daemon
tpm tpm2_createprimary -Q -C o -G ecc -c prim.ctx || fail "createprimary"
tpm tpm2_evictcontrol -Q -C o -c prim.ctx 0x81000042 || fail "evictcontrol"
tpm tpm2_flushcontext -t || true
tpm tpm2_readpublic -c 0x81000042 -o before.pub >/dev/null || fail "readpublic before"
tpm tpm2_nvdefine 0x1500020 -C o -s 8 -a "ownerread|ownerwrite" || fail "nvdefine"
printf 'persists' >nv.in
tpm tpm2_nvwrite 0x1500020 -C o -i nv.in || fail "nvwrite"
stop_daemon

start_daemon
tpm tpm2_getcap handles-persistent | grep -q 0x81000042 || fail "persistent handle gone"
tpm tpm2_readpublic -c 0x81000042 -o after.pub >/dev/null || fail "readpublic after"
cmp -s before.pub after.pub || fail "persistent key changed"
tpm tpm2_nvread 0x1500020 -C o -s 8 -o nv.out || fail "nvread after restart"
cmp -s nv.in nv.out || fail "NV contents changed across restart"
tpm tpm2_evictcontrol -Q -C o -c 0x81000042 || fail "evict"
stop_daemon
echo "ok: persistence"
