#!/bin/bash
# Run every test suite in the plain and the sanitizer build and end with
# one line "N passed, N failed".  Exit status 1 if anything failed.
set -uo pipefail
passed=0; failed=0; skipped=0
for b in "$@"; do
	echo "== meson test -C $b"
	log=$(mktemp)
	meson test -C "$b" --print-errorlogs --num-processes 2 2>&1 | tee "$log"
	ok=$(sed -n 's/^Ok: *\([0-9]*\).*/\1/p' "$log" | tail -1)
	fail=$(sed -n 's/^Fail: *\([0-9]*\).*/\1/p' "$log" | tail -1)
	upass=$(sed -n 's/^Unexpected Pass: *\([0-9]*\).*/\1/p' "$log" | tail -1)
	tout=$(sed -n 's/^Timeout: *\([0-9]*\).*/\1/p' "$log" | tail -1)
	xfail=$(sed -n 's/^Expected Fail: *\([0-9]*\).*/\1/p' "$log" | tail -1)
	skip=$(sed -n 's/^Skipped: *\([0-9]*\).*/\1/p' "$log" | tail -1)
	if [ -z "$ok" ]; then
		echo "check: no test summary from meson in $b" >&2
		fail=$((${fail:-0} + 1))
	fi
	passed=$((passed + ${ok:-0} + ${xfail:-0}))
	failed=$((failed + ${fail:-0} + ${upass:-0} + ${tout:-0}))
	skipped=$((skipped + ${skip:-0}))
	rm -f "$log"
done
if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
