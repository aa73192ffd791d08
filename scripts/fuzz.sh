#!/bin/bash
# make fuzz: build the libFuzzer targets with clang (ASan+UBSan) in
# build-fuzz/ and run each for FUZZ_SECONDS (default 60), starting from the
# committed corpus.  New inputs go to build-fuzz/corpus/TARGET (copy the
# interesting ones into tests/fuzz/corpus/ by hand); a crash leaves
# build-fuzz/crash-* and fails the run.  Prints the executions of each target.
# FUZZ_TARGETS="frames rm config mlog" picks targets; FUZZ_FLAGS adds
# libFuzzer options.
#
# -entropic=0: libFuzzer's default entropic schedule spent 80% of fuzz_rm's
# time in InputCorpus::UpdateFeatureFrequency (25,000 features), 84 programs
# a second; without it 736.  fuzz_rm's programs are capped at 512 bytes
# (-max_len), up to a few hundred commands each: 1,765 a second.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${FUZZ_SECONDS:-60}
B=build-fuzz

if ! command -v clang >/dev/null || ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "fuzz: needs clang and libclang-rt-14-dev (run as root, or apt-get install them)" >&2
		exit 1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		clang libclang-rt-14-dev >/dev/null
fi
if [ ! -f "$B/build.ninja" ]; then
	CC=clang meson setup "$B" -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false \
		-Dc_args=-fsanitize=fuzzer-no-link \
		-Dbuildtype=debugoptimized >/dev/null
fi
ninja -C "$B" tests/fuzz/fuzz_frames tests/fuzz/fuzz_rm tests/fuzz/fuzz_config tests/fuzz/fuzz_mlog >/dev/null
status=0
for t in ${FUZZ_TARGETS:-frames rm config mlog}; do
	mkdir -p "$B/corpus/$t"
	log=$B/fuzz-$t.log
	opts=(-entropic=0)
	[ "$t" = rm ] && opts+=(-max_len=512)
	echo "fuzz_$t: ${SECS} s ${opts[*]} ${FUZZ_FLAGS:-}" >&2
	if ! (cd "$B" && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		"./tests/fuzz/fuzz_$t" -max_total_time="$SECS" -print_final_stats=1 "${opts[@]}" ${FUZZ_FLAGS:-} \
		"corpus/$t" "../tests/fuzz/corpus/$t") >"$log" 2>&1; then
		echo "fuzz_$t: FAILED, see $log" >&2
		status=1
	fi
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	echo "fuzz_$t: ${runs:-?} executions, $(grep -c '^==.*ERROR' "$log" || true) findings"
done
exit $status
