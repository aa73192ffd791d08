#!/bin/bash
# Log-first measurement under load: 16 clients x 1,000 events to PCR 23 on
# the embedded TPM, half of them in stream-0 and half in stream-1 (names an
# admin may set).  Then, with an independent reader (mlogcheck.py, not the
# daemon's code): the log is whole (every record's digests are the hashes
# of its data, seq 1..N); every acknowledged event is in it with the data
# its client sent; the replay of PCR 23 in log order equals tpm2_pcrread in
# the sha1 and sha256 banks (log order = extend order); each stream's
# virtual register, folded from its clients' own data in record order,
# equals the fold of its records in the log.  Prints events per fsync.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
MCLIENT=$BUILD/tests/integration/mclient
CHECK=$SRC/tests/integration/mlogcheck.py
K=${MEASURE_K:-16}
N=${MEASURE_N:-1000}
cd "$T" || exit 1
start_daemon
LOG=$T/tb.sock.measure.log
mkdir acks
out=$(tpm "$MCLIENT" "$SOCK" -k "$K" -n "$N" -s -a "$T/acks") || fail "mclient: $out"
echo "$out"
read -r _ events _ errors _ _ _ rate _ _ _ _ <<<"$out"
[ "$events" -eq $((K * N)) ] && [ "$errors" -eq 0 ] || fail "events $events, errors $errors"
tpm "$CHECK" "$LOG" check || fail "the log is not whole"
acks=$(tpm "$CHECK" "$LOG" acks pcr 23 sha256 "$T"/acks/ack.*) || fail "acks: $acks"
echo "$acks"
grep -q "^acks $((K * N))$" <<<"$acks" || fail "not every ack was checked"
[ "$(grep -c '^stream stream-[01] ' <<<"$acks")" -eq 2 ] || fail "two streams expected"
for alg in sha1 sha256; do
	want=$(tpm "$CHECK" "$LOG" replay pcr 23 "$alg") || fail "replay $alg"
	tpm tpm2_pcrread "$alg:23" -o "$T/p.bin" >/dev/null || fail "pcrread $alg"
	got=$(xxd -p -c 64 "$T/p.bin")
	[ "$want" = "$got" ] || fail "PCR 23 $alg: TPM $got, log replay $want"
done
st=$(tpm "$CLI" --socket "$SOCK" status --json) || fail "status"
python3 -c '
import json, sys
m = json.loads(sys.argv[1])["measure"]
assert m["state"] == "ok", m
print("fsyncs %d, events per fsync %.2f, largest batch %d" % (m["fsyncs"], m["events_per_fsync"], m["batch_max"]))
' "$st" || fail "status: $st"
stop_daemon
echo "measure-many: ok ($rate events/s)"
