#!/bin/bash
# check.sh BUILDDIR...: every test suite (unit, integration, fuzz replay) of
# each build dir, then one last line "N passed, N failed" (", N skipped"
# when something was skipped) summed over all of them.  Exit status 1 if
# anything failed, timed out or passed unexpectedly, or if meson gave no
# summary at all (a build failure, a crash of the runner).
set -uo pipefail
passed=0; failed=0; skipped=0
t0=$SECONDS

# count NAME LOG: the number meson's summary gives for NAME ("Ok:  14")
count() {
	sed -n "s/^$1: *\([0-9]*\).*/\1/p" "$2" | tail -1
}

for b in "$@"; do
	echo "== meson test -C $b"
	log=$(mktemp)
	t1=$SECONDS
	meson test -C "$b" --print-errorlogs --num-processes 2 2>&1 | tee "$log"
	ok=$(count Ok "$log")
	xfail=$(count "Expected Fail" "$log")
	fail=$(count Fail "$log")
	upass=$(count "Unexpected Pass" "$log")
	tout=$(count Timeout "$log")
	skip=$(count Skipped "$log")
	if [ -z "$ok" ]; then
		echo "check: no test summary from meson in $b" >&2
		fail=$((${fail:-0} + 1))
	fi
	p=$((${ok:-0} + ${xfail:-0}))
	f=$((${fail:-0} + ${upass:-0} + ${tout:-0}))
	echo "== $b: $p passed, $f failed, ${skip:-0} skipped in $((SECONDS - t1))s"
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + ${skip:-0}))
	rm -f "$log"
done
echo "== all test runs: $((SECONDS - t0))s"
if [ "$skipped" -gt 0 ]; then
	echo "== $skipped skipped (a test exits 77 when what it needs is absent: see its log)"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
