#!/bin/bash
# Private TPM instances (issue 12): two test users on a profile with
# instance = private, each bound to its own swtpm worker, root on the
# shared TPM.  Modes:
#   users    each sees only its own PCRs, NV index and owner auth; one's
#            tpm2_clear leaves the other's instance and the shared TPM alone
#   crash    a worker killed with SIGKILL: its tenant's next command gets
#            0x000B0922, the worker comes back from its state on disk and the
#            tenant's persistent key still signs; the other tenant notices nothing
#   limits   --max-instances-per-user (0x000B0904); an idle worker is stopped
#            and started again on the next command, transparently
#   migrate  export (state encrypted with --instance-key), import into a
#            second daemon with the same key: the persistent key still signs;
#            exports taken while the tenant writes NV each import (opens);
#            an import under another key gets 0x000B009F and leaves nothing
# shellcheck source=policy-lib.sh
. "$(dirname "$0")/policy-lib.sh"
mode=${1:?users, crash, limits or migrate}
command -v swtpm >/dev/null || { echo "swtpm missing"; exit 77; }
cd "$T" || exit 1
# a second test user (policy-lib made the first)
TUSER2=tbpolb$$
useradd --system --no-create-home --shell /usr/sbin/nologin --user-group "$TUSER2" ||
	fail "useradd $TUSER2"
TUID2=$(id -u "$TUSER2")
trap 'rc=$?; set +e; userdel "$TUSER" 2>/dev/null; userdel "$TUSER2" 2>/dev/null; (exit $rc); cleanup' EXIT
mkdir -p "$T/u2" && chown "$TUSER2" "$T/u2"
as_user2() {
	(cd "$T/u2" && setpriv --reuid="$TUSER2" --regid="$TUSER2" --init-groups \
		env HOME="$T/u2" LD_LIBRARY_PATH="$T/lib" TPM2TOOLS_TCTI="$TPM2TOOLS_TCTI" "$@")
}
cat >"$T/tb.conf" <<EOF
[profile admin]
match-uid = 0
measure-admin = yes
[profile tenant]
match-uid = $TUID $TUID2
instance = private
EOF
EXTRA=(--instance-idle 300)
[ "$mode" = limits ] && EXTRA=(--instance-idle 1)
if [ "$mode" = migrate ]; then
	# a binary key whose last byte is a newline (one random key in 256:
	# it was trimmed to 31 bytes and refused); the other key below is random
	{ head -c 31 /dev/urandom; printf '\n'; } >"$T/key" && chmod 600 "$T/key"
	EXTRA=(--instance-key "$T/key")
fi
start_daemon --config "$T/tb.conf" --instance-dir "$T/inst" --max-instances-per-user 1 "${EXTRA[@]}"
ICLI=("$CLI" --socket "$SOCK")
worker() { "${ICLI[@]}" instance list | awk -v n="uid-$1" '$1 == n {print $4}'; }
wstate() { "${ICLI[@]}" instance list | awk -v n="uid-$1" '$1 == n {print $3}'; }
ext() { printf '%064d' "$1"; }

# a persistent signing key of a user's own, in its own instance
persist_key() { # as_user|as_user2
	"$1" tpm2_createprimary -Q -C o -G ecc -c prim.ctx || fail "$1: createprimary"
	"$1" tpm2_create -Q -C prim.ctx -G ecc -u k.pub -r k.priv || fail "$1: create"
	"$1" tpm2_load -Q -C prim.ctx -u k.pub -r k.priv -c k.ctx || fail "$1: load"
	"$1" tpm2_evictcontrol -Q -C o -c k.ctx 0x81000020 || fail "$1: evictcontrol"
	"$1" sh -c 'echo data >msg'
	"$1" tpm2_sign -c 0x81000020 -g sha256 -o sig msg || fail "$1: sign"
}
signs() { # as_user|as_user2 WHAT
	"$1" tpm2_sign -c 0x81000020 -g sha256 -o sig msg || fail "$2: the persistent key does not sign"
	"$1" tpm2_verifysignature -c 0x81000020 -g sha256 -m msg -s sig || fail "$2: verify"
}

# root's things on the shared TPM
tpm tpm2_pcrextend "16:sha256=$(ext 5)" || fail "pcrextend as root"
root16=$(pcr_value 16)
tpm tpm2_nvdefine -Q 0x1500016 -C o -s 8 -a "ownerread|ownerwrite|authread|authwrite" ||
	fail "nvdefine as root"

case $mode in
users)
	echo "each user extends PCR 16 in its own instance"
	as_user tpm2_pcrextend "16:sha256=$(ext 1)" || fail "pcrextend as $TUSER"
	as_user2 tpm2_pcrextend "16:sha256=$(ext 2)" || fail "pcrextend as $TUSER2"
	a16=$(as_user tpm2_pcrread sha256:16) || fail "pcrread as $TUSER"
	b16=$(as_user2 tpm2_pcrread sha256:16) || fail "pcrread as $TUSER2"
	[ "$a16" != "$b16" ] || fail "the users see the same PCR 16: $a16"
	grep -qi "$(pcr_expect "$(printf '%064d' 0)" "$(ext 1)")" <<<"$a16" ||
		fail "$TUSER's PCR 16 is not its own extend: $a16"
	[ "$(pcr_value 16)" = "$root16" ] || fail "the shared PCR 16 changed"
	echo "NV: an index of one user is not the other's"
	as_user tpm2_nvdefine -Q 0x1500020 -C o -s 8 -a "ownerread|ownerwrite|authread|authwrite" ||
		fail "nvdefine as $TUSER"
	as_user tpm2_nvreadpublic 0x1500020 >/dev/null || fail "$TUSER does not see its index"
	if as_user2 tpm2_nvreadpublic 0x1500020 >/dev/null 2>&1; then
		fail "$TUSER2 sees $TUSER's NV index"
	fi
	if as_user tpm2_nvreadpublic 0x1500016 >/dev/null 2>&1; then
		fail "$TUSER sees root's NV index on the shared TPM"
	fi
	echo "owner auth and tpm2_clear stay in one instance"
	as_user2 tpm2_changeauth -c owner secretb || fail "changeauth as $TUSER2"
	as_user tpm2_changeauth -c owner secreta || fail "changeauth as $TUSER"
	as_user tpm2_clear -c p 2>/dev/null || as_user tpm2_clear || fail "tpm2_clear as $TUSER"
	if as_user tpm2_nvreadpublic 0x1500020 >/dev/null 2>&1; then
		fail "$TUSER's NV index survived its tpm2_clear"
	fi
	as_user tpm2_createprimary -Q -C o -c p.ctx || fail "owner auth not cleared by the clear"
	as_user2 tpm2_createprimary -Q -C o -P secretb -c p.ctx ||
		fail "$TUSER2's owner auth changed"
	as_user2 tpm2_createprimary -Q -C o -c p2.ctx 2>/dev/null &&
		fail "$TUSER2's owner auth is empty again"
	tpm tpm2_createprimary -Q -C o -c r.ctx || fail "the shared owner auth changed"
	tpm tpm2_nvreadpublic 0x1500016 >/dev/null || fail "root's NV index is gone"
	[ "$(pcr_value 16)" = "$root16" ] || fail "the shared PCR 16 changed"
	tpm tpm2_clear 2>/dev/null && true # root's own clear on the shared TPM would be allowed
	st=$("${ICLI[@]}" status) || fail "status failed"
	grep -q "uid-$TUID: backend private" <<<"$st" || fail "status lists no instance: $st"
	;;
crash)
	persist_key as_user
	as_user2 tpm2_pcrextend "16:sha256=$(ext 2)" || fail "pcrextend as $TUSER2"
	b16=$(as_user2 tpm2_pcrread sha256:16)
	pid=$(worker "$TUID")
	[ -n "$pid" ] && [ "$pid" != 0 ] || fail "no worker for $TUSER"
	pid2=$(worker "$TUID2")
	kill -KILL "$pid"
	sleep 0.3
	out=$(as_user "$CLI" --socket "$SOCK" send 80010000000c0000017b0008 2>&1) && fail "no error after the crash: $out"
	grep -q "^80010000000a000b0922" <<<"$out" || fail "not 0x000B0922 after the crash: $out"
	signs as_user "after the crash"
	npid=$(worker "$TUID")
	[ -n "$npid" ] && [ "$npid" != "$pid" ] && [ "$npid" != 0 ] || fail "worker not restarted"
	[ "$(worker "$TUID2")" = "$pid2" ] || fail "the other tenant's worker changed"
	[ "$(as_user2 tpm2_pcrread sha256:16)" = "$b16" ] || fail "the other tenant's PCR 16 changed"
	as_user2 tpm2_getrandom 8 >/dev/null || fail "the other tenant's getrandom"
	grep -q "0x000b0922\|0x000B0922" "$T/daemon.log" || fail "the crash is not logged"
	;;
limits)
	as_user tpm2_getrandom 8 >/dev/null || fail "getrandom as $TUSER"
	out=$("${ICLI[@]}" instance create extra --owner "$TUID" 2>&1) &&
		fail "a second instance for $TUSER was made"
	grep -q "0x000B0904" <<<"$out" || fail "over the per-user limit without 0x000B0904: $out"
	"${ICLI[@]}" instance create spare || fail "an instance without owner"
	echo "idle: stopped, and started again on the next command"
	persist_key as_user
	pid=$(worker "$TUID")
	for _ in $(seq 50); do
		[ "$(wstate "$TUID")" = stopped ] && break
		sleep 0.1
	done
	[ "$(wstate "$TUID")" = stopped ] || fail "the idle worker was not stopped"
	kill -0 "$pid" 2>/dev/null && fail "the idle worker $pid still runs"
	signs as_user "after the idle stop"
	[ "$(wstate "$TUID")" = running ] || fail "not running after the command"
	# the broker stopped it: not a reset to warn of
	! grep "reset underneath" "$T/daemon.log" || fail "the idle stop was taken for a reset"
	echo "idle stops are orderly: the key (no noda) signs after each, no lockout counted"
	for round in 1 2 3 4; do
		for _ in $(seq 50); do
			[ "$(wstate "$TUID")" = stopped ] && break
			sleep 0.1
		done
		[ "$(wstate "$TUID")" = stopped ] || fail "round $round: the idle worker was not stopped"
		signs as_user "after idle stop $round"
	done
	lc=$(as_user tpm2_getcap properties-variable | awk '/TPM2_PT_LOCKOUT_COUNTER/ {print $2}')
	[ "$lc" = 0x0 ] || fail "lockout counter $lc after idle stops (a stop without TPM2_Shutdown)"
	if as_user "$CLI" --socket "$SOCK" instance list >/dev/null 2>&1; then
		fail "instance list as $TUSER"
	fi
	echo "instance list --json"
	for js in "$("${ICLI[@]}" instance list --json)" "$("$CLI" --socket "$SOCK" --json instance list)"; do
		python3 -c '
import json, sys
d = {i["name"]: i for i in json.loads(sys.argv[1])["instances"]}
u = d["uid-" + sys.argv[2]]
assert set(d) == {"uid-" + sys.argv[2], "spare"}, d
# --instance-idle 1: the worker may be stopped again by now; started 6 times
# (the first command, after the first idle stop, after four more)
assert u["owner"] == int(sys.argv[2]) and u["worker"] in ("running", "stopping", "stopped"), u
assert (u["pid"] > 0) == (u["worker"] != "stopped"), u
assert u["starts"] == 6 and u["crashes"] == 0 and u["connections"] == 0, u
assert d["spare"]["owner"] is None and d["spare"]["worker"] == "stopped", d
' "$js" "$TUID" || fail "instance list --json: $js"
	done
	"${ICLI[@]}" instance show spare --json 2>/dev/null && fail "--json with show"
	;;
migrate)
	persist_key as_user
	st=$("${ICLI[@]}" instance show "uid-$TUID") || fail "instance show failed"
	grep -q "encrypted" <<<"$st" || fail "state not encrypted: $st"
	"${ICLI[@]}" instance export "uid-$TUID" "$T/exp.bin" || fail "export"
	echo "exports while the tenant writes NV: each one a whole state"
	as_user tpm2_nvdefine -Q 0x1500030 -C o -s 8 -a "nt=counter|ownerread|ownerwrite" ||
		fail "nvdefine (counter)"
	as_user sh -c 'while [ ! -e "$1" ]; do tpm2_nvincrement -C o 0x1500030 || exit 1; done' \
		sh "$T/stop-writer" &
	writer=$!
	for i in 1 2 3 4 5; do
		"${ICLI[@]}" instance export "uid-$TUID" "$T/busy$i.bin" || fail "export $i under writes"
		sleep 0.2
	done
	touch "$T/stop-writer"
	wait "$writer" || fail "the NV writer failed"
	stop_daemon
	mv "$T/inst" "$T/inst-old"
	start_daemon --config "$T/tb.conf" --instance-dir "$T/inst2" --max-instances-per-user 9 \
		"${EXTRA[@]}"
	ICLI=("$CLI" --socket "$SOCK")
	"${ICLI[@]}" instance import "uid-$TUID" "$T/exp.bin" || fail "import"
	signs as_user "after the migration"
	"${ICLI[@]}" instance import again "$T/exp.bin" --owner "$TUID2" || fail "import again"
	out=$("${ICLI[@]}" instance import "uid-$TUID" "$T/exp.bin" 2>&1) && fail "import over an instance"
	grep -q 0x000B014C <<<"$out" || fail "import over an instance: $out"
	# an import is answered once a worker has opened the state: each opens
	for i in 1 2 3 4 5; do
		"${ICLI[@]}" instance import "busy$i" "$T/busy$i.bin" >/dev/null ||
			fail "the export $i taken under writes does not import"
	done
	echo "import under another key: refused at once, nothing left"
	stop_daemon
	head -c 32 /dev/urandom >"$T/key2"
	start_daemon --config "$T/tb.conf" --instance-dir "$T/inst3" --instance-key "$T/key2"
	ICLI=("$CLI" --socket "$SOCK")
	out=$("${ICLI[@]}" instance import "uid-$TUID" "$T/exp.bin" 2>&1) &&
		fail "an import under another key: $out"
	echo "$out"
	grep -q 0x000B009F <<<"$out" || fail "an import under another key: not 0x000B009F: $out"
	grep -q "does not open with this daemon's --instance-key" <<<"$out" ||
		fail "an import under another key: no word of the key: $out"
	out=$("${ICLI[@]}" instance show "uid-$TUID" 2>&1) && fail "the failed import left an instance"
	grep -q 0x000B008B <<<"$out" || fail "show after the failed import: $out"
	[ ! -e "$T/inst3/uid-$TUID" ] || fail "the failed import left its directory"
	;;
esac
stop_daemon
echo "PASS: instance $mode"
