#!/bin/bash
# Coexistence with the TPM's other users (issue 9).  One swtpm is shared
# through tpmshare the way /dev/tpm0 is shared by the broker and the
# kernel: direct users (tpm2-tools -T swtpm, raw commands) load objects and
# sessions into the same slots the broker uses, with no RM in between.
#  1. A transient object, a loaded and a saved session put into the TPM
#     before the daemon starts are still there after it served 16 holders
#     for 10 s and stopped, and after a daemon killed with -9 while clients
#     held objects and sessions was started again: that start flushes what
#     the killed one held (its record: --sweep=own) and nothing else.
#  2. With --reserve-slots=1,1 another direct user loads an object and
#     starts a session while 16 holders run (with 0,0 the broker keeps
#     every slot filled and the TPM answers OBJECT_MEMORY).
# usage: coexist.sh [RESERVE]   (RESERVE default 1,1; 0,0 shows part 2 fail)
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
RESERVE=${1:-1,1}
command -v jq >/dev/null || { echo "jq not installed"; exit 77; }
command -v xxd >/dev/null || { echo "xxd not installed"; exit 77; }
start_swtpm
SHARE=$(free_port)
"$BUILD/tests/integration/tpmshare" "$SWTPM_PORT" "$SHARE" >"$T/share.out" 2>&1 &
SHARE_PID=$!
for _ in $(seq 50); do grep -q ready "$T/share.out" && break; sleep 0.1; done
grep -q ready "$T/share.out" || fail "tpmshare not ready: $(cat "$T/share.out")"
DIRECT=(-T "swtpm:host=127.0.0.1,port=$SHARE")
BACKEND="swtpm:host=127.0.0.1,port=$SHARE"

# handles KIND: what the TPM lists, asked directly (not through the broker)
handles() { tpm2_getcap "${DIRECT[@]}" "$1" | sed -n 's/^- //p' | sort; }
# raw CMD...: one command (printf escapes) straight to the TPM; prints the
# handle it returns (fails on an error)
raw() {
	local rsp
	exec 3<>"/dev/tcp/127.0.0.1/$SHARE"
	printf "$@" >&3
	rsp=$(timeout 10 head -c 10 <&3 | xxd -p)
	[ "${rsp:12:8}" = 00000000 ] || { exec 3>&-; echo "TPM answer: ${rsp:-none}" >&2; return 1; }
	rsp=$rsp$(timeout 10 head -c 4 <&3 | xxd -p)
	exec 3>&-
	printf '0x%x\n' "0x${rsp:20:8}"
}
# an HMAC session, unbound, unsalted: it stays loaded
raw_session() {
	raw '\x80\x01\x00\x00\x00\x2b\x00\x00\x01\x76\x40\x00\x00\x07\x40\x00\x00\x07\x00\x10AAAAAAAAAAAAAAAA\x00\x00\x00\x00\x10\x00\x0b'
}
# a primary keyed-hash (HMAC) key in the owner hierarchy: it stays loaded
raw_primary() {
	raw '\x80\x02\x00\x00\x00\x39\x00\x00\x01\x31\x40\x00\x00\x01\x00\x00\x00\x09\x40\x00\x00\x09\x00\x00\x00\x00\x00\x00\x04\x00\x00\x00\x00\x00\x10\x00\x08\x00\x0b\x00\x04\x00\x72\x00\x00\x00\x05\x00\x0b\x00\x00\x00\x00\x00\x00\x00\x00'
}
has() { grep -qx "$2" <<<"$1" || fail "$3: $2 is gone ($(tr '\n' ' ' <<<"$1"))"; }

# --- 1: what others hold before the daemon starts stays theirs ---
tpm2_createprimary "${DIRECT[@]}" -C o -G ecc -c "$T/f.ctx" >/dev/null || fail "direct createprimary"
tpm2_startauthsession "${DIRECT[@]}" -S "$T/fs.ctx" || fail "direct startauthsession"
fl=$(raw_session) || fail "direct raw StartAuthSession"
fo=$(handles handles-transient)
fsv=$(handles handles-saved-session)
[ "$(wc -l <<<"$fo")" = 1 ] && [ "$(wc -l <<<"$fsv")" = 1 ] ||
	fail "set-up: transient '$fo', saved sessions '$fsv'"
echo "others hold: object $fo, loaded session $fl, saved session $fsv"

start_daemon --backend "$BACKEND"
grep -q "3 transient objects and sessions of the TPM's other users left alone" "$T/daemon.log" ||
	fail "the start did not leave the three alone: $(tail -n 5 "$T/daemon.log")"
"$BUILD/tests/integration/rmclient" "$TPM2TOOLS_TCTI" holder 16 10 >"$T/holder.out" ||
	{ tail -n 20 "$T/holder.out"; fail "holder clients failed"; }
stop_daemon
has "$(handles handles-transient)" "$fo" "after 16 holders"
has "$(handles handles-loaded-session)" "$fl" "after 16 holders"
has "$(handles handles-saved-session)" "$fsv" "after 16 holders"
[ "$(handles handles-transient)" = "$fo" ] || fail "the daemon left objects: $(handles handles-transient)"

# killed with -9 while a client holds 3 objects and 2 sessions: the next
# start flushes those (the record) and leaves the others'
start_daemon --backend "$BACKEND"
"$BUILD/tests/integration/rmclient" "$TPM2TOOLS_TCTI" hold >"$T/hold.out" 2>&1 &
HPID=$!
for _ in $(seq 100); do grep -q held "$T/hold.out" && break; sleep 0.1; done
grep -q held "$T/hold.out" || fail "holder not ready: $(cat "$T/hold.out")"
sleep 0.5 # the record is written within 100 ms of a change
rec=$(grep -c '^0x' "$T/tb.sock.held-shared") || true
[ "$rec" -ge 3 ] || fail "the record names $rec handles: $(cat "$T/tb.sock.held-shared")"
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
DAEMON_PID=
kill "$HPID" 2>/dev/null || true
wait "$HPID" 2>/dev/null || true
left=$(($(handles handles-transient | wc -l) + $(handles handles-loaded-session | wc -l) +
	$(handles handles-saved-session | wc -l)))
[ "$left" -gt 3 ] || fail "the killed daemon left nothing to sweep ($left handles)"
start_daemon --backend "$BACKEND"
grep -q "flushed $rec transient objects and sessions left over" "$T/daemon.log" ||
	fail "the restart did not flush the $rec recorded: $(tail -n 5 "$T/daemon.log")"
[ "$(handles handles-transient)" = "$fo" ] || fail "after the sweep: objects $(handles handles-transient)"
[ "$(handles handles-loaded-session)" = "$fl" ] || fail "after the sweep: $(handles handles-loaded-session)"
[ "$(handles handles-saved-session)" = "$fsv" ] || fail "after the sweep: $(handles handles-saved-session)"
stop_daemon
echo "ok: the other users' object and sessions survived 16 holders and a kill -9"

# --- 2: slots kept free for others while 16 holders run ---
for h in $fo $fl $fsv; do tpm2_flushcontext "${DIRECT[@]}" "$h" || fail "flush $h"; done
start_daemon --backend "$BACKEND" --reserve-slots="$RESERVE"
"$BUILD/tests/integration/rmclient" "$TPM2TOOLS_TCTI" holder 16 10 >"$T/holder2.out" &
HOLDER=$!
sleep 4 # every holder set up: 48 objects and 32 sessions swapping through the slots
for i in 1 2 3; do
	# its own handles only: the broker's are in the same lists
	o=$(raw_primary) || fail "direct CreatePrimary $i while the holders run"
	s=$(raw_session) || fail "direct StartAuthSession $i while the holders run"
	tpm2_flushcontext "${DIRECT[@]}" "$o" || fail "flush $o"
	tpm2_flushcontext "${DIRECT[@]}" "$s" || fail "flush $s"
	sleep 1
done
wait "$HOLDER" || { tail -n 20 "$T/holder2.out"; fail "holder clients failed beside the direct user"; }
st=$(tpm "$CLI" --socket "$SOCK" status --json)
[ "$(jq -r .counters.rm_errors <<<"$st")" = 0 ] || fail "RM errors: $st"
stop_daemon
echo "ok: with --reserve-slots=$RESERVE another user loaded an object and started a session 3 times beside 16 holders"
