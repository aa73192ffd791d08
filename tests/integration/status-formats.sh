#!/bin/bash
# tpmbroker status in its three formats from one counter table: the
# Prometheus text exposition parses (every line a comment or a valid
# sample, HELP/TYPE before the samples of a metric), and each of the daemon's
# counters has the value the JSON gives; per-instance samples are labelled.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
start_daemon
tpm tpm2_getrandom 8 >/dev/null || fail "getrandom"
tpm tpm2_createprimary -Q -C o -G ecc -c p.ctx || fail "createprimary"
# a quiet moment: the two snapshots must agree
"$CLI" --socket "$SOCK" status --format=json >s.json || fail "status --format=json"
"$CLI" --socket "$SOCK" status --format=prometheus >s.prom || fail "status --format=prometheus"
txt=$("$CLI" --socket "$SOCK" status --format=text) || fail "status --format=text"
grep -q "^commands: " <<<"$txt" || fail "status --format=text: $txt"
"$CLI" --socket "$SOCK" status --format=xml 2>/dev/null && fail "--format=xml accepted"
python3 - s.prom s.json <<'PY' || fail "prometheus output does not check out"
import json, re, sys
prom, js = open(sys.argv[1]).read().splitlines(), json.load(open(sys.argv[2]))
name = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
sample = re.compile(r"^(%s)(\{(%s)=\"([^\"\\]*)\"\})? (-?[0-9]+(\.[0-9]+)?)$" % (name, name))
typed, seen, plain = {}, set(), {}
for n, line in enumerate(prom, 1):
    if line.startswith("# HELP ") or line.startswith("# TYPE "):
        parts = line.split(" ", 3)
        if len(parts) < 4 or not re.fullmatch(name, parts[2]):
            sys.exit("line %d: bad comment: %s" % (n, line))
        if parts[1] == "TYPE":
            if parts[3] not in ("counter", "gauge"):
                sys.exit("line %d: bad type %s" % (n, parts[3]))
            if parts[2] in typed:
                sys.exit("line %d: %s typed twice" % (n, parts[2]))
            typed[parts[2]] = parts[3]
        continue
    m = sample.match(line)
    if not m:
        sys.exit("line %d: not a sample: %r" % (n, line))
    metric = m.group(1)
    if metric not in typed:
        sys.exit("line %d: %s has no TYPE before it" % (n, metric))
    if typed[metric] == "counter" and not metric.endswith("_total"):
        sys.exit("line %d: counter %s without _total" % (n, metric))
    if m.group(2) is None:
        plain[metric] = int(m.group(5))
    elif m.group(3) != "instance":
        sys.exit("line %d: unknown label %s" % (n, m.group(3)))
want = dict(js["counters"], **js["handles"])
for key, value in want.items():
    value = int(value)
    cands = ["tpmbroker_" + key, "tpmbroker_" + key + "_total"]
    got = [plain[c] for c in cands if c in plain]
    if len(got) != 1:
        sys.exit("counter %s: %d metrics for it" % (key, len(got)))
    # the second status request is a connection of its own
    if key == "connections_total":
        value += 1
    if got[0] != value:
        sys.exit("counter %s: prometheus %d, json %d" % (key, got[0], value))
if want["commands"] < 2:
    sys.exit("the commands run are not counted")
print("ok: %d metrics, %d counters checked" % (len(typed), len(want)))
PY
stop_daemon
echo "status-formats: ok"
