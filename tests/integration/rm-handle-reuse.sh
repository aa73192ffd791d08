#!/bin/bash
# Issue 14: transient-object handles as a TPM hands them out.  In one
# connection (IBM's tss tools, one process after the other, carried over a
# single mssim link by mssim-onelink.py) three primaries get 80000000,
# 80000001, 80000002; after FlushContext of the second, the next object
# gets 80000001 back, and all three answer ReadPublic with their own public area.
# Another connection's use of 80000001 is refused in the RM layer: a
# handle only ever names its own connection's objects.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
cd "$T" || exit 1
command -v tsscreateprimary >/dev/null || { echo "SKIP: IBM TSS tools (tss2) absent"; exit 77; }
command -v python3 >/dev/null || { echo "FAIL: python3 absent (scripts/deps.sh installs it)"; exit 1; }
port=$(free_port)
start_daemon --listen "mssim:127.0.0.1:$port"
python3 "$here/mssim-onelink.py" "$port" "$T/onelink.port" 2>"$T/onelink.log" &
for _ in $(seq 100); do [ -s "$T/onelink.port" ] && break; sleep 0.1; done
[ -s "$T/onelink.port" ] || fail "mssim-onelink did not start: $(cat "$T/onelink.log")"
link=$(cat "$T/onelink.port")
export TPM_INTERFACE_TYPE=socsim TPM_SERVER_TYPE=mssim TPM_SERVER_NAME=127.0.0.1 \
	TPM_COMMAND_PORT=$link TPM_PLATFORM_PORT=$((link + 1)) TPM_DATA_DIR=$T

# primary TEMPLATE-ARGS...: a primary in the owner hierarchy, its handle
primary() {
	local out
	out=$(tsscreateprimary -hi o "$@") || fail "tsscreateprimary $*: $out"
	sed -n 's/^Handle \([0-9a-f]*\)$/\1/p' <<<"$out"
}
# what the object at handle $1 is: a digest of its public area
name() {
	tssreadpublic -ho "$1" -opu "$T/pub.bin" >/dev/null || fail "readpublic $1"
	openssl dgst -sha256 -r "$T/pub.bin" | cut -d' ' -f1
}

# different templates: different objects, told apart by their public areas
h1=$(primary -ecc nistp256)
h2=$(primary -kh)
h3=$(primary -ecc nistp256 -si)
[ "$h1 $h2 $h3" = "80000000 80000001 80000002" ] || fail "handles: $h1 $h2 $h3"
n1=$(name "$h1")
n2=$(name "$h2")
n3=$(name "$h3")
[ "$n1" != "$n3" ] || fail "two templates, one public area"

tssflushcontext -ha "$h2" >/dev/null || fail "flushcontext $h2"
# the flushed value is gone until it is handed out again
tssreadpublic -ho "$h2" >/dev/null 2>&1 && fail "readpublic of flushed $h2 succeeded"
h4=$(primary -des)
[ "$h4" = 80000001 ] || fail "the new object got $h4, not the flushed 80000001"
n4=$(name "$h4")
[ "$(name "$h1")" = "$n1" ] && [ "$(name "$h3")" = "$n3" ] || fail "the others changed"
[ "$n4" != "$n1" ] && [ "$n4" != "$n2" ] && [ "$n4" != "$n3" ] || fail "80000001 names an old object"
# another connection (tpm2-tools) cannot reach them: its own handle space
out=$(tpm tpm2_readpublic -c 0x80000001 2>&1) && fail "another connection read 0x80000001: $out"
grep -qi "0xb018b\|0x000b018b\|handle" <<<"$out" || fail "tpm2_readpublic said: $out"
stop_daemon
echo "ok: handle values reused as a TPM does, within one connection"
