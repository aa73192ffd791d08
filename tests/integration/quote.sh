#!/bin/bash
# Batched quotes (issue 11): tpmbroker quote / verify-quote against the real
# daemon on the embedded TPM, a restricted RSA signing key made by
# tpm2-tools.
# usage: quote.sh MODE
#   batch      32 clients released at once are served by fewer than 32
#              TPM2_Quote (status); every quote verifies with
#              verify-quote and its nonce, PCR values included; a tampered
#              path, another client's path or nonce, a flipped quote or
#              signature do not
#   unbatched  the same with --quote-batch=1: exactly 32 TPM2_Quote, each
#              with an empty path
#   checkquote a single request (and one --alone) is an ordinary quote:
#              tpm2_checkquote verifies it unchanged
#   leave      clients killed while their batch waits: the others of the
#              batch are answered and verify, the daemon goes on
#   malformed  bad QUOTE payloads get RM-layer TPM errors on a connection
#              that stays open; a session context and a foreign user's key
#              are refused
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
mode=${1:?mode}
N=32
PCRS=sha256:0,1,16

make_key() {
	tpm tpm2_createprimary -Q -C o -G rsa2048:rsassa-sha256:null \
		-a 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign|restricted' \
		-c "$T/key.ctx" || fail "createprimary"
	tpm tpm2_readpublic -Q -c "$T/key.ctx" -f pem -o "$T/key.pem" || fail "readpublic pem"
	tpm tpm2_readpublic -Q -c "$T/key.ctx" -o "$T/key.pub" || fail "readpublic"
}

# status_quotes KEY: the daemon's "quotes" counter KEY
status_quotes() {
	tpm "$CLI" --socket "$SOCK" status --json |
		python3 -c "import json,sys; print(json.load(sys.stdin)['quotes']['$1'])"
}

nonce_of() {
	printf '%064x' "$((1000 + $1))"
}

# run_clients N: N quote requests released at once (a FIFO as the start
# line), each writing $T/qI.{msg,sig,path,json,rc}
run_clients() {
	local n=$1 i pids=()
	mkfifo "$T/start"
	for i in $(seq "$n"); do
		(
			read -r _ <"$T/start"
			rc=0
			tpm "$CLI" --socket "$SOCK" quote --key "$T/key.ctx" --pcrs "$PCRS" \
				--nonce "$(nonce_of "$i")" -m "$T/q$i.msg" -s "$T/q$i.sig" \
				-p "$T/q$i.path" >"$T/q$i.out" 2>&1 || rc=$?
			echo "$rc" >"$T/q$i.rc"
		) &
		pids+=($!)
	done
	for i in $(seq "$n"); do echo go; done >"$T/start"
	wait "${pids[@]}"
	rm -f "$T/start"
	for i in $(seq "$n"); do
		[ "$(cat "$T/q$i.rc")" = 0 ] || fail "client $i: $(cat "$T/q$i.out")"
	done
}

# verify I [extra args]: client I's quote with its nonce and path
verify() {
	local i=$1
	shift
	tpm "$CLI" verify-quote --pubkey "$T/key.pem" -m "$T/q$i.msg" -s "$T/q$i.sig" \
		-n "$(nonce_of "$i")" -p "$T/q$i.path" "$@"
}

# must_fail WHAT CMD...: CMD exits 1 (a check failed, not bad usage)
must_fail() {
	local what=$1 rc=0
	shift
	"$@" >"$T/mf.out" 2>&1 || rc=$?
	[ "$rc" = 1 ] || fail "$what: verify-quote exited $rc, not 1: $(cat "$T/mf.out")"
}

case $mode in
batch)
	start_daemon
	cd "$T" || exit 1
	make_key
	run_clients $N
	quotes=$(status_quotes tpm_quotes)
	requests=$(status_quotes requests)
	largest=$(status_quotes largest_batch)
	echo "$N clients: $quotes TPM2_Quote, largest batch $largest"
	[ "$requests" = $N ] || fail "status counts $requests quote requests, not $N"
	[ "$quotes" -lt $N ] || fail "$N requests took $quotes TPM2_Quote: not batched"
	[ "$quotes" -ge 1 ] || fail "no TPM2_Quote counted"
	[ "$largest" -ge 2 ] || fail "largest batch $largest"
	tpm tpm2_pcrread -Q "$PCRS" -o "$T/pcrs.bin" || fail "pcrread"
	batched=
	for i in $(seq $N); do
		verify "$i" --pcrs "$PCRS" --pcr-values "$T/pcrs.bin" >/dev/null ||
			fail "client $i's quote does not verify"
		verify "$i" >/dev/null || fail "client $i's quote does not verify without PCRs"
		tpm "$CLI" verify-quote --key-pub "$T/key.pub" -m "$T/q$i.msg" -s "$T/q$i.sig" \
			-n "$(nonce_of "$i")" -p "$T/q$i.path" >/dev/null ||
			fail "client $i's quote does not verify with the TPM2B_PUBLIC"
		[ "$(head -c1 "$T/q$i.path" | xxd -p)" != 00 ] && batched=$i
	done
	[ -n "$batched" ] || fail "no client got a non-empty path"
	i=$batched
	# the same quote, each part tampered with
	cp "$T/q$i.path" "$T/bad.path"
	printf '\x55' | dd of="$T/bad.path" bs=1 seek=10 conv=notrunc status=none
	must_fail "a tampered path" verify "$i" -p "$T/bad.path"
	cp "$T/q$i.path" "$T/bad.path"
	printf "\\x$(printf '%02x' $((1 - $(xxd -s 1 -l 1 -p "$T/q$i.path"))))" |
		dd of="$T/bad.path" bs=1 seek=1 conv=notrunc status=none
	must_fail "a path with a side flipped" verify "$i" -p "$T/bad.path"
	must_fail "no path for a batched quote" tpm "$CLI" verify-quote --pubkey "$T/key.pem" \
		-m "$T/q$i.msg" -s "$T/q$i.sig" -n "$(nonce_of "$i")"
	must_fail "a tampered nonce" tpm "$CLI" verify-quote --pubkey "$T/key.pem" \
		-m "$T/q$i.msg" -s "$T/q$i.sig" -n "$(nonce_of $((i + 100)))" -p "$T/q$i.path"
	for j in $(seq $N); do
		[ "$j" != "$i" ] || continue
		cmp -s "$T/q$j.msg" "$T/q$i.msg" || continue
		must_fail "client $j's nonce with client $i's path" tpm "$CLI" verify-quote \
			--pubkey "$T/key.pem" -m "$T/q$i.msg" -s "$T/q$i.sig" \
			-n "$(nonce_of "$j")" -p "$T/q$i.path"
		break
	done
	cp "$T/q$i.msg" "$T/bad.msg"
	printf '\x01' | dd of="$T/bad.msg" bs=1 seek=40 conv=notrunc status=none
	must_fail "a tampered quote" verify "$i" -m "$T/bad.msg"
	cp "$T/q$i.sig" "$T/bad.sig"
	printf '\x01' | dd of="$T/bad.sig" bs=1 seek=20 conv=notrunc status=none
	must_fail "a tampered signature" verify "$i" -s "$T/bad.sig"
	tpm tpm2_pcrextend "16:sha256=$(nonce_of 7)" || fail "pcrextend"
	tpm tpm2_pcrread -Q "$PCRS" -o "$T/pcrs2.bin" || fail "pcrread"
	must_fail "PCR values of later" verify "$i" --pcrs "$PCRS" --pcr-values "$T/pcrs2.bin"
	must_fail "other PCRs" verify "$i" --pcrs sha256:0,1
	;;
unbatched)
	start_daemon --quote-batch=1
	cd "$T" || exit 1
	make_key
	run_clients $N
	quotes=$(status_quotes tpm_quotes)
	[ "$quotes" = $N ] || fail "--quote-batch=1: $quotes TPM2_Quote for $N requests"
	for i in $(seq $N); do
		[ "$(xxd -p "$T/q$i.path")" = 00 ] || fail "client $i got a path without batching"
		verify "$i" >/dev/null || fail "client $i's quote does not verify"
	done
	;;
checkquote)
	command -v tpm2_checkquote >/dev/null || { echo "no tpm2_checkquote" >&2; exit 77; }
	start_daemon
	cd "$T" || exit 1
	make_key
	n=0123456789abcdef0123456789abcdef
	tpm "$CLI" --socket "$SOCK" quote -c key.ctx -l "$PCRS" -n $n -m q.msg -s q.sig -p q.path ||
		fail "quote"
	[ "$(xxd -p q.path)" = 00 ] || fail "a single request got a path"
	tpm2_checkquote -Q -u key.pem -m q.msg -s q.sig -q $n -g sha256 ||
		fail "tpm2_checkquote refuses a single request's quote"
	if tpm2_checkquote -Q -u key.pem -m q.msg -s q.sig -q "${n%?}0" -g sha256 2>/dev/null; then
		fail "tpm2_checkquote takes another nonce"
	fi
	tpm "$CLI" --socket "$SOCK" quote --alone -c key.ctx -l "$PCRS" -n "$n" -m a.msg -s a.sig \
		-p a.path || fail "quote --alone"
	tpm2_checkquote -Q -u key.pem -m a.msg -s a.sig -q $n -g sha256 ||
		fail "tpm2_checkquote refuses an --alone quote"
	# and tpm2_quote's own output verifies with verify-quote
	tpm tpm2_quote -Q -c key.ctx -l "$PCRS" -q $n -m t.msg -s t.sig -g sha256 || fail "tpm2_quote"
	tpm "$CLI" verify-quote -u key.pem -m t.msg -s t.sig -n $n >/dev/null ||
		fail "verify-quote refuses tpm2_quote's quote"
	;;
leave)
	# a long window, so that the batch is still open when clients die
	start_daemon --quote-window=1500
	cd "$T" || exit 1
	make_key
	pids=()
	for i in 1 2 3 4 5 6; do
		# not through tpm(): a function in the background is a subshell, and
		# killing it would leave the client running
		"$CLI" --socket "$SOCK" quote --key key.ctx --pcrs "$PCRS" \
			--nonce "$(nonce_of "$i")" -m "q$i.msg" -s "q$i.sig" -p "q$i.path" \
			>"q$i.out" 2>&1 &
		pids+=($!)
	done
	sleep 0.5
	kill -KILL "${pids[1]}" "${pids[3]}" "${pids[4]}"
	for k in 0 2 5; do
		wait "${pids[$k]}" || fail "client $((k + 1)): $(cat "q$((k + 1)).out")"
	done
	wait "${pids[1]}" "${pids[3]}" "${pids[4]}" 2>/dev/null || true
	for i in 1 3 6; do
		verify "$i" >/dev/null || fail "client $i's quote does not verify"
	done
	[ "$(status_quotes tpm_quotes)" = 1 ] || fail "not one TPM2_Quote for the batch"
	[ "$(status_quotes largest_batch)" = 3 ] ||
		fail "the batch was of $(status_quotes largest_batch), not the 3 still there"
	# everyone gone before the batch starts: no TPM work at all
	"$CLI" --socket "$SOCK" quote --key key.ctx --pcrs "$PCRS" --nonce 01 >/dev/null 2>&1 &
	p=$!
	sleep 0.3
	kill -KILL $p
	wait $p 2>/dev/null || true
	sleep 2
	[ "$(status_quotes tpm_quotes)" = 1 ] || fail "a batch of nobody was quoted"
	tpm "$CLI" --socket "$SOCK" quote --alone --key key.ctx --pcrs "$PCRS" --nonce 02 \
		>/dev/null || fail "a quote after the others left"
	# the daemon stops while a batch waits in its window: a clean exit (no leak
	# under ASan), the client told the daemon went away
	"$CLI" --socket "$SOCK" quote --key key.ctx --pcrs "$PCRS" --nonce 03 >/dev/null 2>&1 &
	p=$!
	sleep 0.3
	stop_daemon
	rc=0
	wait $p || rc=$?
	[ "$rc" = 3 ] || fail "a client whose daemon stopped exited $rc"
	;;
malformed)
	start_daemon
	cd "$T" || exit 1
	make_key
	# QUOTE frames by hand on one connection; after each the connection still answers
	python3 - "$SOCK" "$T/key.ctx" <<'EOF' || fail "malformed requests (above)"
import socket, struct, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
def frame(t, payload, flags=0):
    s.sendall(struct.pack(">BBBBI", 1, t, 0, flags, len(payload)) + payload)
    h = b""
    while len(h) < 8:
        h += s.recv(8 - len(h))
    v, typ, _, _, n = struct.unpack(">BBBBI", h)
    body = b""
    while len(body) < n:
        body += s.recv(n - len(body))
    return typ, body
def expect(what, payload, rc):
    typ, body = frame(6, payload)
    got = struct.unpack(">I", body[:4])[0]
    if typ != 6 or got != rc:
        sys.exit("%s: type %d rc 0x%08x, want 0x%08x" % (what, typ, got, rc))
    # the connection is still in step: a TPM command
    typ, rsp = frame(1, bytes.fromhex("80010000000c0000017b0008"))
    if typ != 2 or struct.unpack(">I", rsp[6:10])[0] != 0:
        sys.exit("%s: the connection is broken" % what)
f = open(sys.argv[2], "rb").read()[8:]
hier, saved, seq = struct.unpack(">IIQ", f[:16])
ctx = struct.pack(">QII", seq, saved, hier) + f[16:]  # what the CLI sends (ESYS-wrapped blob)
pcrs = bytes.fromhex("00000001000b03030001")
scheme = struct.pack(">H", 0x0010)
nonce = struct.pack(">H", 4) + b"abcd"
expect("empty", b"", 0x000B0095)
expect("garbage", b"\xff" * 40, 0x000B0095)
expect("a byte too many", ctx + pcrs + scheme + nonce + b"\x00", 0x000B0095)
expect("truncated", (ctx + pcrs + scheme + nonce)[:-1], 0x000B0095)
expect("nonce of 0 bytes", ctx + pcrs + scheme + struct.pack(">H", 0), 0x000B0084)
expect("a session's context", struct.pack(">QII", 1, 0x02000000, 0x40000001) + f[16:] +
       pcrs + scheme + nonce, 0x000B008B)
EOF
	# a blob another user saved does not load for this one (the RM's binding)
	if id nobody >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
		chmod 755 "$T"
		chmod 644 key.ctx
		rc=0
		out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$CLI" --socket "$SOCK" \
			quote -c key.ctx -l "$PCRS" -n 01 2>&1) || rc=$?
		[ "$rc" = 1 ] || fail "another user's key: exit $rc: $out"
		grep -q 0x000B01CB <<<"$out" || fail "another user's key: $out"
	fi
	[ "$(status_quotes refused)" -ge 6 ] || fail "refusals not counted"
	;;
*)
	fail "unknown mode $mode"
	;;
esac
# a clean stop: exit 0, and under ASan no leak (what the service held at the end)
stop_daemon
echo "quote $mode: ok"
