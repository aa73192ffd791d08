#!/bin/bash
# log-tcg.sh written|measured: the readers of the measurement log
# (tpmbroker log show|export|verify) against the embedded TPM, with a log
#   written:  by mlogwrite (mlog_rec_encode, as the daemon writes it), the
#             same digests extended with tpm2_pcrextend through the daemon;
#   measured: by the daemon itself, events sent with `tpmbroker measure`
#             (exit 77 while the CLI has no measure command);
# then:
#   - export --format tcg: tpm2_eventlog parses it and its replayed PCRs
#     equal tpm2_pcrread's, sha1 and sha256 (and sha384, sha512)
#   - export --format cel-json: every record is JSON (RS-separated), and a
#     replay of its digests equals tpm2_pcrread's sha256
#   - verify passes; a stream's virtual register equals an openssl fold
#   - verify fails on: a torn tail, a gap in seq, an unknown bank, an
#     extend the log does not have yet, a PCR extended behind the log's
#     back; and then tpm2_eventlog's replay no longer equals the TPM
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
MLOGWRITE=$BUILD/tests/integration/mlogwrite
mode=${1:-written}
if [ "$mode" = measured ] && ! "$CLI" --help | grep -q '^  measure '; then
	echo "tpmbroker has no measure command in this tree (the daemon side is not merged)"
	exit 77
fi
LOG=$T/measure.log

# measured: an RTMR stand-in file takes rtmr0's events
if [ "$mode" = measured ]; then
	start_daemon --measure-rtmr "0:$T/rtmr0"
	LOG=$SOCK.measure.log # the daemon's default beside its socket
else
	start_daemon
fi

# the active banks; sha1 and sha256 must be, as the issue's test wants
banks=$(tpm tpm2_getcap pcrs | sed -n 's/^ *- \(sha[0-9]*\): \[ *0,.*/\1/p' | paste -sd, -)
case ",$banks," in
*,sha1,*sha256,*) ;;
*)
	# allocate both on the embedded TPM (takes effect at the next TPM reset)
	tpm tpm2_pcrallocate sha1:all+sha256:all >/dev/null || fail "pcrallocate"
	stop_daemon
	if [ "$mode" = measured ]; then start_daemon --measure-rtmr "0:$T/rtmr0"; else start_daemon; fi
	banks=$(tpm tpm2_getcap pcrs | sed -n 's/^ *- \(sha[0-9]*\): \[ *0,.*/\1/p' | paste -sd, -)
	;;
esac
echo "active banks: $banks"

cat >"$T/spec" <<SPEC
epoch 0 0
section pcr16 $banks
section pcr23 $banks
event pcr16 $banks 0x0d /system.slice/a.service kernel payload-one
event pcr23 $banks 0x06 /system.slice/b.service tag payload-two
event pcr16 $banks 0x05 /system.slice/b.service action payload-three
event pcr23 $banks 0x0d /system.slice/a.service another payload-four
section rtmr0 sha384
event rtmr0 sha384 0x0d /system.slice/a.service rtmr not-a-pcr
SPEC
# the epoch of the log must be the TPM's (resetCount/restartCount)
clock=$(tpm tpm2_readclock)
reset=$(sed -n 's/^ *reset_count: *//p' <<<"$clock")
restart=$(sed -n 's/^ *restart_count: *//p' <<<"$clock")
sed -i "s/^epoch 0 0$/epoch $reset $restart/" "$T/spec"
if [ "$mode" = written ]; then
	"$MLOGWRITE" "$LOG" <"$T/spec" >"$T/extends" || fail "mlogwrite"
	while read -r e; do
		case $e in
		0:sha384=*) ;; # the RTMR's event: no PCR
		*) tpm tpm2_pcrextend "$e" || fail "pcrextend $e" ;;
		esac
	done <"$T/extends"
else
	# the same events through the daemon
	while read -r kind reg _ type stream desc data; do
		[ "$kind" = event ] || continue
		case $reg in
		pcr*) flag=(--pcr "${reg#pcr}") ;;
		rtmr*) flag=(--rtmr "${reg#rtmr}") ;;
		esac
		tpm "$CLI" --socket "$SOCK" measure "${flag[@]}" --type "$type" --stream "$stream" \
			--description "$desc" --string "$data" >/dev/null || fail "measure $reg $data"
	done <"$T/spec"
fi

# --- show (the daemon writes its own description into a section)
tpm "$CLI" log show --log "$LOG" >"$T/show" || fail "log show"
[ "$(grep -c ' event ' "$T/show")" -eq 5 ] || fail "log show: $(cat "$T/show")"
[ "$(grep -c ' section ' "$T/show")" -eq 3 ] || fail "log show: $(cat "$T/show")"
grep -q ' event   pcr23  EV_EVENT_TAG   /system.slice/b.service "tag" sha1:' "$T/show" ||
	fail "log show line: $(cat "$T/show")"
tpm "$CLI" log show --log "$LOG" --json | python3 -m json.tool >/dev/null || fail "show --json"
tpm "$CLI" log show --log "$LOG" --pcr 23 | grep -c ' pcr23 ' | grep -qx 3 || fail "show --pcr"

# --- verify (measured: the log found where the daemon keeps it, beside its socket)
if [ "$mode" = measured ]; then
	tpm "$CLI" --socket "$SOCK" log verify >"$T/verify" 2>&1 ||
		fail "log verify of the daemon's log: $(cat "$T/verify")"
fi
tpm "$CLI" --socket "$SOCK" log verify --log "$LOG" >"$T/verify" 2>&1 ||
	fail "log verify of a consistent log: $(cat "$T/verify")"
grep -q '^pcr16 sha256 ok  2 events' "$T/verify" || fail "verify output: $(cat "$T/verify")"

# --- a stream's virtual register: sha256(0^32 || sha256(data)), folded by openssl
fold=0000000000000000000000000000000000000000000000000000000000000000
for d in payload-two; do
	fold=$(pcr_expect "$fold" "$(printf %s "$d" | openssl dgst -sha256 -r | cut -d' ' -f1)")
done
tpm "$CLI" log verify --socket "$SOCK" --log "$LOG" --stream /system.slice/b.service \
	--expect "pcr23:sha256=$fold" >"$T/stream" 2>&1 || fail "stream expect: $(cat "$T/stream")"
if tpm "$CLI" log verify --socket "$SOCK" --log "$LOG" --stream /system.slice/b.service \
	--expect "pcr16:sha256=$fold" >"$T/stream2" 2>&1; then
	fail "a wrong --expect passed: $(cat "$T/stream2")"
fi
grep -q 'pcr16:sha256 MISMATCH' "$T/stream2" || fail "wrong expect: $(cat "$T/stream2")"

# --- tpm2_eventlog replays the TCG export to what tpm2_pcrread shows
# normalize "ALG N VALUE" lines from tpm2_eventlog's and tpm2_pcrread's YAML
pcrs_of() {
	awk '/^pcrs:/ { p = 1; next } !p && FILENAME ~ /eventlog/ { next }
	     /^ *(sha1|sha256|sha384|sha512):$/ { gsub(/[ :]/, ""); alg = $0; next }
	     alg != "" && /^ *[0-9]+ *: *0x/ { gsub(/[ :]/, " "); v = tolower($NF); sub(/^0x/, "", v);
	                                      print alg, $1, v }' "$1" | sort
}
compare_eventlog() {
	tpm "$CLI" log export --format tcg --log "$LOG" -o "$T/tcg.bin" 2>"$T/export.err" ||
		fail "export tcg: $(cat "$T/export.err")"
	grep -q '1 RTMR events left out' "$T/export.err" || fail "no RTMR note: $(cat "$T/export.err")"
	tpm2_eventlog "$T/tcg.bin" >"$T/eventlog.yaml" 2>"$T/eventlog.err" ||
		fail "tpm2_eventlog: $(cat "$T/eventlog.err")"
	grep -q 'Spec ID Event03' "$T/eventlog.yaml" || fail "no Spec ID event"
	[ "$(grep -c '^- EventNum' "$T/eventlog.yaml")" -eq 5 ] || fail "not 4 events + spec id"
	tpm tpm2_pcrread "sha1:16,23+sha256:16,23" >"$T/pcrread.yaml" || fail "pcrread"
	pcrs_of "$T/eventlog.yaml" | grep -E '^(sha1|sha256) ' >"$T/replayed"
	pcrs_of "$T/pcrread.yaml" >"$T/read"
	[ "$(wc -l <"$T/read")" -eq 4 ] || fail "pcrread parse: $(cat "$T/pcrread.yaml")"
	diff -u "$T/read" "$T/replayed"
}
compare_eventlog >"$T/diff" || fail "tpm2_eventlog's replay differs from tpm2_pcrread: $(cat "$T/diff")"
echo "tpm2_eventlog replays to tpm2_pcrread (sha1, sha256): $(paste -sd' ' "$T/read")"

# --- CEL-JSON: RS-separated JSON records; their digests replay to the PCRs
tpm "$CLI" log export --format cel-json --log "$LOG" -o "$T/cel.json" 2>/dev/null ||
	fail "export cel-json"
python3 - "$T/cel.json" "$T/read" <<'PY' || fail "CEL-JSON check"
import hashlib, json, sys
raw = open(sys.argv[1], "rb").read()
assert raw.startswith(b"\x1e") and raw.endswith(b"\n"), "not RFC 7464 JSON-SEQ"
recs = [json.loads(r) for r in raw.split(b"\x1e")[1:]]
assert len(recs) == 4, len(recs)
pcr = {16: bytes(32), 23: bytes(32)}
for r in recs:
    assert set(r) == {"recnum", "pcr", "digests", "content_type", "content"}, r
    assert r["content_type"] == "systemd" and "stream" in r["content"], r
    d = [x["digest"] for x in r["digests"] if x["hashAlg"] == "sha256"][0]
    assert d == hashlib.sha256(bytes.fromhex(r["content"]["data"])).hexdigest()
    pcr[r["pcr"]] = hashlib.sha256(pcr[r["pcr"]] + bytes.fromhex(d)).digest()
want = {int(l.split()[1]): l.split()[2] for l in open(sys.argv[2]) if l.startswith("sha256 ")}
assert {k: v.hex() for k, v in pcr.items()} == want, (pcr, want)
print("CEL-JSON: %d records, sha256 replay equals the TPM" % len(recs))
PY

# --- verify must fail: each damage on a copy of the log
expect_fail() { # NAME PATTERN LOGFILE
	if tpm "$CLI" log verify --socket "$SOCK" --log "$3" >"$T/out" 2>&1; then
		fail "verify passed with $1: $(cat "$T/out")"
	fi
	grep -q -- "$2" "$T/out" || fail "verify with $1 did not say '$2': $(cat "$T/out")"
	echo "verify fails with $1"
}
cp "$LOG" "$T/torn.log"
printf 'TBMR\0\0\0' >>"$T/torn.log"
expect_fail "a torn tail" "torn tail: 7 bytes" "$T/torn.log"
if [ "$mode" = written ]; then

sed "s/^event pcr23 $banks 0x06/seq 9\nevent pcr23 $banks 0x06/" "$T/spec" >"$T/spec.gap"
"$MLOGWRITE" "$T/gap.log" <"$T/spec.gap" >/dev/null || fail "mlogwrite gap"
expect_fail "a seq gap" "out of sequence" "$T/gap.log"

printf 'epoch %s %s\nsection pcr16 sha256\nevent pcr16 sha1,sha256 0x0d - x y\n' "$reset" "$restart" |
	"$MLOGWRITE" "$T/bank.log" >/dev/null || fail "mlogwrite bank"
expect_fail "an unknown bank" "unknown bank" "$T/bank.log"

cp "$T/spec" "$T/spec.ahead"
echo "event pcr16 $banks 0x0d - pending not-extended-yet" >>"$T/spec.ahead"
"$MLOGWRITE" "$T/ahead.log" <"$T/spec.ahead" >/dev/null || fail "mlogwrite ahead"
expect_fail "an event not extended" "lacks the last 1 event" "$T/ahead.log"
fi

# a PCR extended behind the log's back
tpm tpm2_pcrextend "16:sha256=$(printf tamper | openssl dgst -sha256 -r | cut -d' ' -f1)" ||
	fail "pcrextend tamper"
expect_fail "a tampered PCR" "pcr16 sha256 MISMATCH" "$LOG"
if compare_eventlog >"$T/diff"; then
	fail "tpm2_eventlog's replay still equals tpm2_pcrread after a tamper"
fi
echo "tpm2_eventlog's replay differs from tpm2_pcrread after a tamper"
stop_daemon
echo "log-tcg $mode: ok"
